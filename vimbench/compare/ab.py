"""A/B: time two revisions of the kernels in one session, interleaved, on one card.

Each side (a git revision, checked out with `git worktree add`, or a source directory
used as it is) gets its own long-lived worker process (`ab_worker.py`) with that tree's
kernel library (`kernels/`, import name mamba_triton) and the tree itself first on
PYTHONPATH.  A revision from before the library existed (its kernels in
vimbench/kernels/) gets a small `mamba_triton` shim package that maps
`mamba_triton.selective_scan` to its `vimbench.kernels.selective_scan`.

After both have compiled and warmed up every case, the rounds run A B, B A, A B, ... (the
order alternates, so a clock or thermal drift during the session lands on both sides
equally); in each turn a side times every case `iters` times.  The samples are written as
two pytest-benchmark JSON files and compared like any others.

The verdict then rests on measurements taken minutes apart on the same GPU, not on a
stored baseline from another day or machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the kernel library's benchmark cases (a file that imports only torch): found, not imported
DEFAULT_CASES_FILE = Path(importlib.util.find_spec("mamba_triton").submodule_search_locations[0]) / "shapes.py"

# A tree from before the kernel library: its scan, under the library's name
LEGACY_SHIM = """\
import importlib
import sys

sys.modules[__name__ + ".selective_scan"] = importlib.import_module("vimbench.kernels.selective_scan")
"""


class ABError(RuntimeError):
    """A side that cannot be checked out or started, or a worker that failed."""


@dataclass
class Side:
    label: str  # "A" | "B"
    spec: str  # what the user passed
    root: Path  # source tree whose kernels the worker imports
    commit: str | None  # resolved commit, None for a plain directory
    worktree: bool = False
    shim: Path | None = None  # the mamba_triton shim of a tree from before the library
    process: subprocess.Popen | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    info: dict[str, dict] = field(default_factory=dict)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ABError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _repo_root() -> Path:
    return Path(_git(HERE, "rev-parse", "--show-toplevel"))


def _checkout(label: str, spec: str, scratch: Path) -> Side:
    path = Path(spec)
    if path.is_dir():
        if not ((path / "kernels" / "mamba_triton").is_dir() or (path / "vimbench" / "__init__.py").exists()):
            raise ABError(f"{label}: directory {spec} holds neither kernels/mamba_triton/ nor an older vimbench/ package")
        return Side(label, spec, path.resolve(), None)
    repo = _repo_root()
    commit = _git(repo, "rev-parse", "--verify", f"{spec}^{{commit}}")
    tree = scratch / f"{label}-{commit[:12]}"
    _git(repo, "worktree", "add", "--detach", str(tree), commit)
    return Side(label, spec, tree, commit, worktree=True)


def _import_paths(side: Side, scratch: Path) -> list[Path]:
    """What goes first on the worker's PYTHONPATH: the tree's kernel library (or, for a tree
    from before it, a shim naming its vimbench kernels mamba_triton), then the tree."""
    library = side.root / "kernels"
    if (library / "mamba_triton").is_dir():
        return [library, side.root]
    if (side.root / "vimbench" / "kernels" / "selective_scan").is_dir():
        side.shim = scratch / f"shim-{side.label}"
        (side.shim / "mamba_triton").mkdir(parents=True, exist_ok=True)
        (side.shim / "mamba_triton" / "__init__.py").write_text(LEGACY_SHIM)
        return [side.shim, side.root]
    return [side.root]


def _start(side: Side, cases_file: Path, device: str, scratch: Path) -> None:
    env = dict(os.environ)
    paths = [str(p) for p in _import_paths(side, scratch)]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (*paths, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    side.process = subprocess.Popen(
        [sys.executable, str(HERE / "ab_worker.py"), "--cases", str(cases_file), "--device", device],
        cwd=side.root,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    hello = _receive(side, "start")
    side.info["card"] = hello["card"]


def _receive(side: Side, what: str) -> dict:
    line = side.process.stdout.readline()
    if not line:
        raise ABError(
            f"side {side.label} ({side.spec}): worker exited during {what} "
            f"(exit code {side.process.poll()}); its stderr is above"
        )
    reply = json.loads(line)
    if not reply.get("ok"):
        raise ABError(
            f"side {side.label} ({side.spec}), {what}: {reply.get('error')}\n{reply.get('traceback', '')}"
        )
    return reply


def _ask(side: Side, what: str, **request) -> dict:
    side.process.stdin.write(json.dumps(request) + "\n")
    side.process.stdin.flush()
    return _receive(side, what)


def _stop(side: Side) -> None:
    if side.process and side.process.poll() is None:
        try:
            _ask(side, "quit", op="quit")
        except (ABError, BrokenPipeError, ValueError):
            pass
        try:
            side.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            side.process.kill()


def _check_imported_from(side: Side, module_files: dict[str, str]) -> None:
    """The whole point is which code ran: refuse a worker that imported another tree."""
    roots = [side.root] + ([side.shim] if side.shim else [])
    for name, file in module_files.items():
        if not any(Path(file).resolve().is_relative_to(root) for root in roots):
            raise ABError(
                f"side {side.label} ({side.spec}) imported {name} from {file}, not from "
                f"{side.root}; is another {name} first on sys.path?"
            )


def _write_pytest_benchmark(side: Side, path: Path, order: list[str]) -> None:
    benchmarks = []
    for case, samples in side.samples.items():
        seconds = sorted(s / 1e3 for s in samples)
        n = len(seconds)
        median = (seconds[(n - 1) // 2] + seconds[n // 2]) / 2
        benchmarks.append(
            {
                "group": "ab",
                "name": case,
                "fullname": f"ab::{case}",
                "params": None,
                "stats": {
                    "data": [s / 1e3 for s in samples],
                    "median": median,
                    "min": seconds[0],
                    "max": seconds[-1],
                    "rounds": n,
                    "iterations": side.info[case]["inner"],
                },
                "extra_info": {
                    "side": side.label,
                    "revision": side.spec,
                    "commit": side.commit,
                    "source": str(side.root),
                    "gpu_name": side.info["card"],
                    "first_call_s": side.info[case]["first_call_s"],
                },
            }
        )
    document = {
        "machine_info": {"gpu_name": side.info["card"], "ab_order": "".join(order)},
        "commit_info": {"id": side.commit, "revision": side.spec},
        "benchmarks": benchmarks,
        "version": "vimbench-ab",
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def run_ab(
    spec_a: str,
    spec_b: str,
    rounds: int = 10,
    iters: int = 10,
    cases: str | None = None,
    save_dir: Path | None = None,
    cases_file: Path = DEFAULT_CASES_FILE,
    device: str = "cuda",
    log=print,
) -> tuple[Path, Path]:
    """Benchmark A (baseline) and B (candidate) interleaved; return their JSON files."""
    if rounds < 2 or iters < 1:
        raise ABError(f"--rounds must be >= 2 and --iters >= 1 (got {rounds}, {iters})")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ABError("A/B timing needs a CUDA device and none is present")
    names = [c.strip() for c in cases.split(",")] if cases else None
    scratch = Path(tempfile.mkdtemp(prefix="vimbench-ab-"))
    out_dir = Path(save_dir) if save_dir else scratch
    out_dir.mkdir(parents=True, exist_ok=True)
    sides: list[Side] = []
    try:
        sides = [_checkout("A", spec_a, scratch), _checkout("B", spec_b, scratch)]
        for side in sides:
            log(
                f"A/B side {side.label}: {side.spec} -> {side.root}"
                + (f" @ {side.commit[:12]}" if side.commit else "")
            )
            _start(side, cases_file, device, scratch)
        if names is None:
            names = list(_load_case_names(cases_file))
        if sides[0].info["card"] != sides[1].info["card"]:
            raise ABError(
                f"the two workers see different cards: {sides[0].info['card']} / {sides[1].info['card']}"
            )
        for name in names:
            for side in sides:
                reply = _ask(side, f"prepare {name}", op="prepare", case=name)
                _check_imported_from(side, reply.get("module_files", {}))
                side.info[name] = reply
                side.samples[name] = []
            log(
                f"  prepared {name}: A {sides[0].info[name]['per_call_ms']:.4g} ms, "
                f"B {sides[1].info[name]['per_call_ms']:.4g} ms per call"
            )
        order: list[str] = []
        for round_index in range(rounds):
            turn = sides if round_index % 2 == 0 else sides[::-1]
            for side in turn:
                order.append(side.label)
                for name in names:
                    reply = _ask(side, f"time {name}", op="time", case=name, samples=iters)
                    side.samples[name].extend(reply["samples_ms"])
        log(f"  {rounds} rounds, order {''.join(order)}, {iters} samples per case per turn")
        paths = (out_dir / "baseline.json", out_dir / "candidate.json")
        for side, path in zip(sides, paths):
            _write_pytest_benchmark(side, path, order)
        return paths
    finally:
        for side in sides:
            _stop(side)
        for side in sides:
            if side.worktree:
                subprocess.run(
                    ["git", "-C", str(_repo_root()), "worktree", "remove", "--force", str(side.root)],
                    capture_output=True,
                )


def _load_case_names(cases_file: Path) -> list[str]:
    spec = importlib.util.spec_from_file_location("_ab_case_names", cases_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules["_ab_case_names"] = module
    spec.loader.exec_module(module)
    return list(module.AB_CASES)
