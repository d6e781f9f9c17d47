"""`--launcher ray [--address ADDR]`: cells as num_gpus=1 Ray tasks (`pip install vimbench[ray]`).

Ray picks the GPU and sets CUDA_VISIBLE_DEVICES for the task; the task runs the cell in a fresh
spawned process (as everywhere: an OOM or crash stays with the cell) and returns its row to
this process, which stays the single writer of results.jsonl.  At most as many cells are in
flight as the cluster has GPUs, so progress shows cells running, not queued.  A cell whose
worker (or Ray worker) is SIGKILLed runs again, MAX_KILLS times at most.  Without --address a
local Ray instance starts (with VIMBENCH_FAKE_GPUS=N it declares N GPUs, for CPU tests).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import Counter, deque

from ..gpus import FAKE_GPUS_ENV, Gpu
from ..runner import CellJob, WorkerKilled, run_cell_isolated
from ..suite import SuiteError
from . import MAX_KILLS, OnRow, OnStart, killed_too_often, pinned


@dataclasses.dataclass
class RayLauncher:
    address: str | None = None
    timeout_s: float = 900.0

    def run(self, jobs: list[CellJob], on_start: OnStart, on_row: OnRow) -> None:
        ray = _import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            fake = os.environ.get(FAKE_GPUS_ENV, "").strip()
            ray.init(address=self.address, num_gpus=int(fake) if fake and not self.address else None,
                     include_dashboard=False, log_to_driver=False)
        try:
            self._run(ray, jobs, on_start, on_row)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray, jobs: list[CellJob], on_start: OnStart, on_row: OnRow) -> None:
        slots = int(ray.cluster_resources().get("GPU", 0))
        if slots < 1:
            raise SuiteError("(command line)", "--launcher", f"the Ray cluster at {self.address or 'local'} has no GPU",
                             "a cluster with GPUs (or --gpus / no --launcher on this host)")
        task = ray.remote(num_gpus=1, max_retries=MAX_KILLS - 1)(_run_pinned)
        pending, running, kills = deque(jobs), {}, Counter()
        while pending or running:
            while pending and len(running) < slots:
                job = pending.popleft()
                on_start(job)
                running[task.remote(job, self.timeout_s)] = job
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)  # timed: Ctrl-C stays responsive
            for ref in ready:
                job = running.pop(ref)
                try:
                    row = ray.get(ref)
                except (WorkerKilled, ray.exceptions.WorkerCrashedError) as exc:
                    kills[job.cell.cell_id] += 1
                    if kills[job.cell.cell_id] < MAX_KILLS:
                        print(f"vimbench run: {job.cell.cell_id}: {type(exc).__name__}; running the cell again",
                              file=sys.stderr)
                        pending.appendleft(job)
                        continue
                    row = killed_too_often(job)
                pending.extendleft(reversed(on_row(row)))


def _run_pinned(job: CellJob, timeout_s: float):
    """In a Ray task: the cell on the GPU Ray gave this task."""
    import ray

    (index,) = ray.get_gpu_ids()
    gpu = Gpu(int(index), _gpu_name(int(index)))
    return run_cell_isolated(pinned(job, gpu), timeout_s, env={"CUDA_VISIBLE_DEVICES": str(index)},
                             raise_if_killed=True)


def _gpu_name(index: int) -> str:
    if os.environ.get(FAKE_GPUS_ENV, "").strip():
        return f"fake GPU {index}"
    from ..telemetry import device_info

    # NVML, not torch: initialising CUDA here would hold a context in the long-lived Ray worker.
    return device_info(index).get("name") or f"GPU {index}"


def _import_ray():
    try:
        import ray
    except ImportError:
        raise SuiteError("(command line)", "--launcher", "ray is not installed", "pip install 'vimbench[ray]'") from None
    return ray
