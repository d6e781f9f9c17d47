"""Read a cubin with cuobjdump: resource usage, and the SASS instruction stream with its loops.

`cuobjdump -res-usage` prints `REG:n STACK:n SHARED:n LOCAL:n ...` per function;
`cuobjdump -sass` prints one instruction per line as `/*addr*/  [@P] OPCODE operands ;`.
A loop is a branch to a lower address; its body is [target, branch].
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vimbench.staticcheck.toolchain import ToolchainError, cuobjdump_path

_RESOURCE = re.compile(r"REG:(\d+)\s+STACK:(\d+)\s+SHARED:(\d+)\s+LOCAL:(\d+)")
_INSTRUCTION = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
_BRANCH_TARGET = re.compile(r"\bBRA\b.*?(?:0x([0-9a-f]+))")


@dataclass(frozen=True)
class Resources:
    registers: int
    stack_bytes: int
    shared_bytes: int  # static shared memory in the cubin (Triton's dynamic shared memory is in metadata)
    local_bytes: int


@dataclass(frozen=True)
class Instruction:
    address: int
    predicate: str | None
    opcode: str  # with modifiers, e.g. "LDG.E.128", "MUFU.EX2"
    operands: str

    @property
    def base(self) -> str:
        return self.opcode.split(".")[0]


@dataclass(frozen=True)
class Loop:
    start: int  # address of the first instruction of the body (the branch target)
    end: int  # address of the backward branch

    def contains(self, other: Loop) -> bool:
        return self.start <= other.start and other.end <= self.end and self != other


def _cuobjdump(flag: str, cubin: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kernel.cubin"
        path.write_bytes(cubin)
        done = subprocess.run([str(cuobjdump_path()), flag, str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise ToolchainError(f"cuobjdump {flag} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def read_resources(cubin: bytes) -> Resources:
    text = _cuobjdump("-res-usage", cubin)
    match = _RESOURCE.search(text)
    if not match:
        raise ToolchainError(f"cuobjdump -res-usage printed no REG/STACK/SHARED/LOCAL line:\n{text}")
    return Resources(*(int(g) for g in match.groups()))


def read_sass(cubin: bytes) -> list[Instruction]:
    return parse_sass(_cuobjdump("-sass", cubin))


def parse_sass(text: str) -> list[Instruction]:
    out = []
    for line in text.splitlines():
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        address, body = int(match.group(1), 16), match.group(2).strip()
        predicate = None
        if body.startswith("@"):
            predicate, _, body = body.partition(" ")
            body = body.strip()
        opcode, _, operands = body.partition(" ")
        out.append(Instruction(address, predicate, opcode, operands.strip()))
    return out


def find_loops(instructions: list[Instruction]) -> list[Loop]:
    """Every backward branch as a loop, outermost first.  The `BRA` to itself after EXIT
    (the end-of-kernel trap) is not a loop."""
    loops = []
    for ins in instructions:
        if ins.base != "BRA":
            continue
        match = _BRANCH_TARGET.search(f"{ins.opcode} {ins.operands}")
        if not match:
            continue
        target = int(match.group(1), 16)
        if target < ins.address:
            loops.append(Loop(target, ins.address))
    return sorted(set(loops), key=lambda loop: (loop.start, -loop.end))


def innermost(loops: list[Loop]) -> list[Loop]:
    return [loop for loop in loops if not any(loop.contains(other) for other in loops)]


def body(instructions: list[Instruction], loop: Loop) -> list[Instruction]:
    return [ins for ins in instructions if loop.start <= ins.address <= loop.end]
