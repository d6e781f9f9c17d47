"""Shared bits of the op benchmarks: CUDA-event timing and the card's copy bandwidth,
so each kernel's GB/s is read beside what the same card copies in the same run."""

from __future__ import annotations

import torch


def time_ms(fn, warmup_ms: int = 25, rep_ms: int = 200) -> dict:
    """Median / p10 / p90 milliseconds of fn() (triton's do_bench: CUDA events, L2 flushed)."""
    from triton.testing import do_bench

    p50, p10, p90 = do_bench(fn, warmup=warmup_ms, rep=rep_ms, quantiles=[0.5, 0.1, 0.9])
    return {"ms": p50, "ms_p10": p10, "ms_p90": p90}


def copy_gbs() -> float:
    """Device-to-device copy rate, bytes read + written per second / 1e9."""
    from .ceilings import copy_bandwidth

    return copy_bandwidth() / 1e9


def card() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def print_table(rows: list[dict], keys: list[str]) -> None:
    widths = [max(len(k), *(len(_fmt(r.get(k))) for r in rows)) for k in keys]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for r in rows:
        print("  ".join(_fmt(r.get(k)).ljust(w) for k, w in zip(keys, widths)))


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def write_csv(rows: list[dict], path: str) -> None:
    import csv

    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
