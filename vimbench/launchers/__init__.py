"""Launchers: how a sweep's cells get run, one at a time here or spread over GPUs.

A launcher takes the cell jobs and two callbacks, both called in the caller's thread:
`on_start(job)` as a cell starts and `on_row(row) -> [follow-up jobs]` as it ends (the OOM
probes of an OOM cell).  The sweep stays the only writer of results.jsonl, so every launcher
produces the same append-only, resumable file and `--resume` may use another launcher.

    sequential.py  one cell after another, in this process or a fresh one each (the default)
    local.py       one worker process per GPU of this host (`--gpus`)
    ray_cluster.py num_gpus=1 Ray tasks on a Ray cluster (`--launcher ray [--address]`)

A launcher runs every job once, unless its worker is killed from outside (SIGKILL): then the
job runs again, since the cell has no row yet (MAX_KILLS times, then it is an error row).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from ..gpus import Gpu
from ..results import STATUS_ERROR, Row
from ..runner import CellJob, new_row

OnStart = Callable[[CellJob], None]
OnRow = Callable[[Row], list[CellJob]]


class Launcher(Protocol):
    def run(self, jobs: list[CellJob], on_start: OnStart, on_row: OnRow) -> None: ...


MAX_KILLS = 3


def pinned(job: CellJob, gpu: Gpu) -> CellJob:
    """The job with the GPU it runs on in its conditions, so its row records index and name."""
    return dataclasses.replace(job, conditions={**job.conditions, "gpu_index": gpu.index, "gpu_name": gpu.name})


def killed_too_often(job: CellJob) -> Row:
    row = new_row(job)
    row.status = STATUS_ERROR
    row.error = f"worker killed (SIGKILL) {MAX_KILLS} times; not run again"
    return row
