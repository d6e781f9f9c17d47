"""Which GPUs `vimbench run --gpus all|0,1,...` spreads cells over.

The host's GPUs come from torch (every device, whatever CUDA_VISIBLE_DEVICES says to this
process is what the workers can be pinned to).  VIMBENCH_FAKE_GPUS=N stands in N fake GPUs
on a machine without any, so the scheduler can be tested with CPU cells; their rows say so in
gpu_name ("fake GPU i").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .suite import SuiteError

FAKE_GPUS_ENV = "VIMBENCH_FAKE_GPUS"


@dataclass(frozen=True)
class Gpu:
    index: int   # the index CUDA_VISIBLE_DEVICES takes to pin a worker to this GPU
    name: str
    fake: bool = False


def visible_gpus() -> list[Gpu]:
    fake = os.environ.get(FAKE_GPUS_ENV, "").strip()
    if fake:
        if not fake.isdigit():
            raise SuiteError("(environment)", FAKE_GPUS_ENV, f"{fake!r} is not a number of fake GPUs",
                             "an integer >= 0")
        return [Gpu(i, f"fake GPU {i}", fake=True) for i in range(int(fake))]
    import torch

    if not torch.cuda.is_available():
        return []
    return [Gpu(i, torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]


def select_gpus(value: str, visible: list[Gpu]) -> list[Gpu]:
    """The GPUs `--gpus value` names; a clear error for anything else."""
    seen = ", ".join(f"{g.index} ({g.name})" for g in visible) or "none"
    allowed = f"'all' or comma-separated indices of the GPUs visible: {seen}"
    if not visible:
        raise SuiteError("(command line)", "--gpus", "no GPU is visible on this host", allowed)
    if value.strip() == "all":
        return list(visible)
    by_index = {g.index: g for g in visible}
    picked: list[Gpu] = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) not in by_index:
            raise SuiteError("(command line)", "--gpus", f"{part!r} in {value!r} is not a visible GPU", allowed)
        if by_index[int(part)] in picked:
            raise SuiteError("(command line)", "--gpus", f"GPU {part} is named twice in {value!r}", allowed)
        picked.append(by_index[int(part)])
    return picked
