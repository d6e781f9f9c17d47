"""benchmarks/live_bytes_peak.py: the live-storage tracker on plain CPU tensors (views and
in-place results are no new memory, a storage counts until its last tensor is gone), and
the whole-model measurement on fake CUDA tensors (in a subprocess: the kernels must be
imported without TRITON_INTERPRET), whose peak does not grow with the depth."""

import importlib.util
import random

import torch

from tests.harness.conftest import REPO_ROOT
from tests.profile.benchmark_child import run_benchmark

SCRIPT_PATH = REPO_ROOT / "benchmarks" / "live_bytes_peak.py"


def _script():
    spec = importlib.util.spec_from_file_location("live_bytes_peak", SCRIPT_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tracker_counts_storages_not_tensors():
    n = 2 * random.randint(50, 500)
    held = torch.randn(n)  # 4n bytes, alive throughout
    with _script().LiveBytes([held]) as live:
        view = held[: n // 2]  # no new memory
        a = torch.randn(n, dtype=torch.float64)  # 8n
        a.mul_(2)  # in place: no new memory
        b = a.view(2, -1).t()  # a view of a
        del a  # b still holds a's storage
        c = torch.empty(n, dtype=torch.float16)  # 2n: peak 4n + 8n + 2n
        del b  # a's storage goes
        d = torch.empty(n, dtype=torch.float64)  # 8n: 4n + 2n + 8n, not above the peak
        assert live.current == 4 * n + 2 * n + 8 * n
        del c, d, view
    assert live.peak == 14 * n
    assert live.current == 4 * n


def test_model_peak_does_not_grow_with_depth():
    depth = random.randint(3, 4)  # against 2: from the second block on, every block is alike
    runs = run_benchmark("live_bytes_peak.py", """
        out = {}
        for depth in (2, int(args[0])):
            peak, at_peak, held = script.measure(px=224, batch=4, depth=depth)
            out[depth] = dict(peak=peak, held=held, sites=sorted(at_peak))
    """, depth)
    one, many = runs["2"], runs[str(depth)]
    # eager inference frees each block's tensors: what is added to the weights and images
    # (which grow with the depth) does not grow
    assert one["peak"] - one["held"] == many["peak"] - many["held"] > 0
    assert any(site.startswith("vim_mixer.py") for site in one["sites"])
