"""pytest-benchmark tests of the Triton selective scan (GPU only; skipped without CUDA):
the regression gate's benchmarks (reports/baselines/<card>/bench.json keys on this path).

    pytest tests/kernels/test_bench_scan.py --benchmark-json=scan.json

Stable ids `test_bench_scan[<model>-<res>-b<batch>-<dtype>-<fwd|bidir|bidirdt>]` for the
regression gate.  Each round runs one scan and synchronises, so the wall-clock time that
pytest-benchmark records is the kernel time plus launch overhead; `extra_info` carries the
CUDA-event median (ms), the effective GB/s (DESIGN.md minimum bytes) and its fraction of
the copy bandwidth measured in the same session.  Each shape is checked against the
float64 reference before it is timed.
"""

from __future__ import annotations

import pytest
import torch
from mamba_triton import bench
from mamba_triton.shapes import make_inputs, parse_case

pytestmark = pytest.mark.gpu

SHAPES = [
    "vim_tiny-1248-b128-bf16-fwd",
    "vim_tiny-1248-b128-bf16-bidir",
    "vim_tiny-1248-b128-bf16-bidirdt",
    "vim_tiny-1248-b1-bf16-fwd",
    "vim_tiny-1248-b1-bf16-bidir",
    "vim_tiny-224-b128-bf16-bidir",
    "vim_small-1248-b8-bf16-bidir",
    "vim_base-224-b8-bf16-fwd",
    "vim_tiny-1248-b128-fp32-fwd",
]


@pytest.fixture(scope="module")
def copy_bandwidth():
    return bench.copy_bandwidth()  # mamba_triton.ceilings, as the benchmark module uses it


@pytest.mark.parametrize("shape_name", SHAPES, ids=SHAPES)
def test_bench_scan(benchmark, shape_name, copy_bandwidth):
    shape = parse_case(shape_name)
    inputs = make_inputs(shape, seed=0)
    scan = bench.scan_callable(shape, inputs)
    out = scan()
    torch.cuda.synchronize()
    err = bench.reference_error(shape, inputs, out)
    assert err < (1e-5 if shape.dtype == "fp32" else 1e-2), f"{shape_name}: relative error {err:.3g}"
    del out

    import triton.testing

    ms = triton.testing.do_bench(scan, warmup=25, rep=100, return_mode="median")
    gbps = shape.min_bytes() / (ms * 1e-3) / 1e9
    benchmark.extra_info.update(
        cuda_event_median_ms=ms, GBps=gbps, copy_fraction=gbps * 1e9 / copy_bandwidth,
        min_bytes=shape.min_bytes(), gpu=torch.cuda.get_device_name(0), ref_rel_err=err)

    def run_synced():
        scan()
        torch.cuda.synchronize()

    benchmark.pedantic(run_synced, rounds=30, iterations=1, warmup_rounds=3)
