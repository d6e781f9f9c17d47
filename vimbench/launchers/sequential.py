"""One cell after another: in a fresh spawned process each (isolated) or in this process (inline)."""

from __future__ import annotations

from dataclasses import dataclass

from ..runner import CellJob, run_cell, run_cell_isolated
from . import OnRow, OnStart


@dataclass
class SequentialLauncher:
    inline: bool = False
    timeout_s: float = 900.0

    def run(self, jobs: list[CellJob], on_start: OnStart, on_row: OnRow) -> None:
        pending = list(jobs)
        while pending:
            job = pending.pop(0)
            on_start(job)
            row = run_cell(job) if self.inline else run_cell_isolated(job, self.timeout_s)
            pending[0:0] = on_row(row)  # follow-ups (OOM probes) run next, beside their cell
