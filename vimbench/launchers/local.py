"""`--gpus`: cells spread over this host's GPUs, one worker process per GPU at a time.

Each cell runs in a fresh spawned process pinned to one GPU by CUDA_VISIBLE_DEVICES (so an
OOM, a crash or a leak stays with that cell; the GPU takes the next cell at once).  A small
thread per running cell waits on its process; the caller's thread hands out cells and
receives every row, so the sweep remains the single writer of results.jsonl.  A worker
SIGKILLed from outside leaves its cell without a row: the cell goes back to the queue (up
to MAX_KILLS times, then it is an error row).
"""

from __future__ import annotations

import dataclasses
import queue
import sys
import threading
from collections import Counter, deque

from ..gpus import Gpu
from ..runner import CellJob, WorkerKilled, run_cell_isolated
from . import MAX_KILLS, OnRow, OnStart, killed_too_often, pinned


@dataclasses.dataclass
class LocalGpuLauncher:
    gpus: list[Gpu]
    timeout_s: float = 900.0

    def run(self, jobs: list[CellJob], on_start: OnStart, on_row: OnRow) -> None:
        pending = deque(jobs)
        idle = deque(self.gpus)
        finished: queue.Queue = queue.Queue()
        kills: Counter[str] = Counter()
        running = 0
        while pending or running:
            while pending and idle:
                gpu = idle.popleft()
                job = pinned(pending.popleft(), gpu)
                on_start(job)
                threading.Thread(target=self._work, args=(gpu, job, finished), daemon=True,
                                 name=f"vimbench-gpu{gpu.index}").start()
                running += 1
            gpu, job, outcome = _next(finished)
            running -= 1
            idle.append(gpu)
            if isinstance(outcome, WorkerKilled):
                kills[job.cell.cell_id] += 1
                if kills[job.cell.cell_id] < MAX_KILLS:
                    print(f"vimbench run: {outcome}; running the cell again", file=sys.stderr)
                    pending.appendleft(job)
                    continue
                outcome = killed_too_often(job)
            elif isinstance(outcome, BaseException):
                raise outcome
            pending.extendleft(reversed(on_row(outcome)))

    def _work(self, gpu: Gpu, job: CellJob, finished: queue.Queue) -> None:
        try:
            outcome = run_cell_isolated(job, self.timeout_s, env={"CUDA_VISIBLE_DEVICES": str(gpu.index)},
                                        raise_if_killed=True)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome = exc
        finished.put((gpu, job, outcome))


def _next(finished: queue.Queue):
    # A timed wait keeps Ctrl-C responsive in the caller's thread.
    while True:
        try:
            return finished.get(timeout=0.5)
        except queue.Empty:
            continue
