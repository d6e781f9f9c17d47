"""Writers of the two result-file kinds the gate reads, for tests."""

import json

import pytest
import torch

from vimbench.results import Row, append_row

H100 = "NVIDIA H100 80GB HBM3"


def _draw_ms(n, median_ms=1.0, cv=0.02):
    """Log-normal timing samples around `median_ms` (a GPU kernel's typical spread)."""
    return (median_ms * torch.exp(torch.randn(n, dtype=torch.float64) * cv)).tolist()


@pytest.fixture
def draw_ms():
    return _draw_ms


@pytest.fixture
def write_pytest_benchmark(tmp_path):
    def write(name, samples_by_key, card=H100, include_data=True, card_in="machine_info"):
        benchmarks = []
        for key, samples_ms in samples_by_key.items():
            data = sorted(s / 1e3 for s in samples_ms)
            n = len(data)
            stats = {
                "min": data[0],
                "max": data[-1],
                "median": torch.tensor(data, dtype=torch.float64).median().item(),
                "q1": data[n // 4],
                "q3": data[(3 * n) // 4],
                "rounds": n,
                "iterations": 1,
            }
            if include_data:
                stats["data"] = [s / 1e3 for s in samples_ms]
            extra = {"gpu_name": card} if card_in == "extra_info" else {}
            benchmarks.append(
                {
                    "group": None,
                    "name": key.split("::")[-1],
                    "fullname": key,
                    "params": None,
                    "stats": stats,
                    "extra_info": extra,
                }
            )
        machine_info = {"node": "test", "gpu_name": card} if card_in == "machine_info" else {"node": "test"}
        path = tmp_path / name
        path.write_text(
            json.dumps({"machine_info": machine_info, "benchmarks": benchmarks, "version": "5.1.0"})
        )
        return path

    return write


@pytest.fixture
def write_vimbench_run(tmp_path):
    def write(name, samples_by_cell, card=H100, statuses=None):
        run_dir = tmp_path / name
        run_dir.mkdir()
        for cell_id, samples in samples_by_cell.items():
            status = (statuses or {}).get(cell_id, "ok")
            row = Row(
                cell_id=cell_id,
                suite="test",
                model="vim_tiny",
                variant="triton",
                resolution=224,
                batch=1,
                precision="bf16",
                status=status,
                gpu_name=card,
                samples_ms=samples if status == "ok" else [],
                n_samples=len(samples),
            )
            append_row(run_dir / "results.jsonl", row)
        return run_dir

    return write
