"""Launchers: how a sweep's cells get run, one at a time here or spread over GPUs.

A launcher takes the cell jobs and two callbacks, both called in the caller's thread:
`on_start(job)` as a cell starts and `on_row(row) -> [follow-up jobs]` as it ends (the OOM
probes of an OOM cell).  The sweep stays the only writer of results.jsonl, so every launcher
produces the same append-only, resumable file and `--resume` may use another launcher.

    sequential.py  one cell after another, in this process or a fresh one each (the default)
    local.py       one worker process per GPU of this host (`--gpus`)

A launcher runs every job once, unless its worker is killed from outside (SIGKILL): then the
job runs again, since the cell has no row yet.  A Ray launcher (num_gpus=1 tasks) fits here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..results import Row
from ..runner import CellJob

OnStart = Callable[[CellJob], None]
OnRow = Callable[[Row], list[CellJob]]


class Launcher(Protocol):
    def run(self, jobs: list[CellJob], on_start: OnStart, on_row: OnRow) -> None: ...
