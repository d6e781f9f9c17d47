"""From a compiled kernel to the numbers the static check tracks.

Per kernel configuration:
  registers, stack/local bytes, spill instructions (LDL/STL)   -> spills
  shared memory, resident blocks/warps per SM                   -> occupancy cliffs
  global load/store counts by vector width (bits)               -> vectorisation
  the hot loop: the innermost loop with the most MUFU.EX2 (the scan's exponentials; the
  whole kernel when it has no loop), its instruction, MUFU.EX2, LDG and STG counts, and
  the same per element when the config says how many elements one iteration handles:
      per element = count in the body * threads per block / elements per iteration
  (each thread executes the body once per iteration).
"""

from __future__ import annotations

import re
from typing import Any

from vimbench.staticcheck.occupancy import occupancy
from vimbench.staticcheck.sass import Instruction, body, find_loops, innermost, read_resources, read_sass
from vimbench.staticcheck.spec import KernelConfig
from vimbench.staticcheck.toolchain import CompiledKernel, compile_config

_WIDTH = re.compile(r"^[US]?(8|16|32|64|128)$")
_IGNORED = {"NOP"}


def access_width_bits(opcode: str) -> int:
    """LDG.E.128 -> 128, LDG.E.U16 -> 16, LDG.E -> 32 (no size modifier means 32 bits)."""
    for modifier in opcode.split(".")[1:]:
        match = _WIDTH.match(modifier)
        if match:
            return int(match.group(1))
    return 32


def _widths(instructions: list[Instruction], base: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ins in instructions:
        if ins.base == base:
            key = str(access_width_bits(ins.opcode))
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: int(kv[0])))


def _count(instructions: list[Instruction], opcode_prefix: str) -> int:
    return sum(1 for ins in instructions if ins.opcode.startswith(opcode_prefix))


def _hot_region(instructions: list[Instruction]) -> tuple[str, list[Instruction]]:
    """The innermost loop with the most exponentials, or the whole kernel if it has no loop."""
    loops = innermost(find_loops(instructions))
    if not loops:
        return "kernel", instructions
    bodies = [body(instructions, loop) for loop in loops]
    return "loop", max(bodies, key=lambda b: (_count(b, "MUFU.EX2"), len(b)))


def measure_compiled(compiled: CompiledKernel, elements_per_iteration: int | None) -> dict[str, Any]:
    resources = read_resources(compiled.cubin)
    instructions = [ins for ins in read_sass(compiled.cubin) if ins.base not in _IGNORED]
    shared = max(resources.shared_bytes, compiled.shared_bytes)
    occ = occupancy(resources.registers, shared, compiled.num_warps)
    threads = compiled.num_warps * 32
    result: dict[str, Any] = {
        "kernel": compiled.kernel_name,
        "num_warps": compiled.num_warps,
        "num_stages": compiled.num_stages,
        "registers": resources.registers,
        "stack_bytes": resources.stack_bytes,
        "local_bytes": resources.local_bytes,
        "spill_instructions": _count(instructions, "LDL") + _count(instructions, "STL"),
        "shared_bytes": shared,
        "blocks_per_sm": occ.blocks_per_sm,
        "warps_per_sm": occ.warps_per_sm,
        "occupancy_limited_by": occ.limited_by,
        "register_headroom": occ.register_headroom,
        "instructions": len(instructions),
        "mufu_ex2": _count(instructions, "MUFU.EX2"),
        "global_load_widths": _widths(instructions, "LDG"),
        "global_store_widths": _widths(instructions, "STG"),
    }
    region, hot = _hot_region(instructions)
    counts = {
        "instructions": len(hot),
        "mufu_ex2": _count(hot, "MUFU.EX2"),
        "ldg": _count(hot, "LDG"),
        "stg": _count(hot, "STG"),
    }
    per_element = None
    if elements_per_iteration:
        per_element = {k: round(v * threads / elements_per_iteration, 4) for k, v in counts.items()}
    result["hot_loop"] = {
        "region": region,
        **counts,
        "threads": threads,
        "elements_per_iteration": elements_per_iteration,
        "per_element": per_element,
    }
    return result


def measure(config: KernelConfig, arch: int = 90) -> dict[str, Any]:
    """Compile `config` for sm_<arch> and measure it."""
    metrics = measure_compiled(compile_config(config, arch), config.elements_per_iteration)
    metrics["description"] = config.description
    return metrics
