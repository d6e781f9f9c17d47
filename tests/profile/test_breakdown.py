"""Profiler events -> per-kernel and per-category time, on the CPU (real profiles) and on
synthetic device events shaped like the ones torch.profiler gives on a GPU."""

import random

import pytest
import torch
from torch import nn

from vimbench.profile.breakdown import (
    KernelRecord,
    annotate_modules,
    category_table,
    cpu_op_records,
    kernel_table,
)
from vimbench.profile.session import _scan_ranges
from vimbench.profile.trace import trace_kernel_records


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


class ToyMixer(nn.Module):
    """A linear, a hand-written norm and a 'scan' function held in an attribute, as the Vim
    mixer holds its scan backend."""

    def __init__(self, dim):
        super().__init__()
        self.norm = RMSNorm(dim)
        self.proj = nn.Linear(dim, dim)
        self._selective_scan = lambda x: torch.cumsum(torch.exp(-x.abs()), dim=1) * x

    def forward(self, x):
        return self.proj(self._selective_scan(self.norm(x)))


def _cpu_records(model, x, iters=2):
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), annotate_modules(model), _scan_ranges(model):
        model(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(iters):
                model(x)
    return cpu_op_records(prof.events())


def test_cpu_profile_attributes_module_work():
    dim = random.choice([24, 40, 56])
    model = ToyMixer(dim).eval()
    records = _cpu_records(model, torch.randn(3, 17, dim))
    cats = category_table(records, iterations=2).set_index("category")
    assert cats["share"].sum() == pytest.approx(1.0)
    # each part of the toy lands where it belongs: the elementwise ops of the norm module in
    # `norm`, the ops inside the wrapped scan function in `scan`, the linear in `gemm`
    for category in ("norm", "scan", "gemm"):
        assert cats.loc[category, "ms_per_iter"] > 0, category
    assert cats.loc["attention", "ms_per_iter"] == 0
    kernels = kernel_table(records, iterations=2)
    by_name = dict(zip(kernels["kernel"], kernels["category"]))
    assert by_name["aten::cumsum"] == "scan"
    assert by_name["aten::rsqrt"] == "norm"
    assert kernels["share"].sum() == pytest.approx(1.0)
    assert list(kernels["ms_per_iter"]) == sorted(kernels["ms_per_iter"], reverse=True)
    # the hooks and the scan wrapper are gone afterwards
    assert not model._forward_hooks and not model.norm._forward_pre_hooks
    assert model._selective_scan.__name__ == "<lambda>"


def _span(cat, name, ts, dur, tid=1, **args):
    return {"ph": "X", "cat": cat, "name": name, "pid": 1, "tid": tid, "ts": ts, "dur": dur, "args": args}


def test_trace_records_count_each_kernel_once_with_its_launch_context():
    gemm_us, bmm_us, scan_us = (random.uniform(10, 100) for _ in range(3))
    events = [
        _span("user_annotation", "module:Attention", 0, 100),
        _span("cpu_op", "aten::linear", 10, 20),
        _span("cpu_op", "aten::addmm", 12, 10),
        _span("cuda_runtime", "cudaLaunchKernel", 14, 2, correlation=7),
        _span("cpu_op", "aten::bmm", 40, 10),
        _span("cuda_runtime", "cudaLaunchKernel", 42, 2, correlation=8),
        # a Triton kernel launched through the driver inside the scan range, after the module
        _span("user_annotation", "vimbench:selective_scan", 120, 10),
        _span("cuda_driver", "cuLaunchKernelEx", 122, 2, correlation=9),
        # device side: kernels on another "thread", plus a GPU annotation that is not work
        _span("kernel", "nvjet_gemm", 200, gemm_us, tid=7, correlation=7),
        _span("kernel", "nvjet_gemm", 300, bmm_us, tid=7, correlation=8),
        _span("kernel", "_bidirectional_scan_kernel", 400, scan_us, tid=7, correlation=9),
        _span("gpu_user_annotation", "module:Attention", 200, 1e6, tid=7),
    ]
    records = trace_kernel_records(events)
    assert sum(r.total_us for r in records) == pytest.approx(gemm_us + bmm_us + scan_us)
    by_context = {r.context[0]: r for r in records}
    assert by_context["aten::addmm"].context == ("aten::addmm", "aten::linear", "module:Attention")
    assert by_context["aten::bmm"].context == ("aten::bmm", "module:Attention")
    assert by_context["vimbench:selective_scan"].context == ("vimbench:selective_scan",)
    cats = category_table(records, iterations=1).set_index("category")
    assert cats.loc["gemm", "ms_per_iter"] == pytest.approx(gemm_us / 1e3)
    assert cats.loc["attention", "ms_per_iter"] == pytest.approx(bmm_us / 1e3)
    assert cats.loc["scan", "ms_per_iter"] == pytest.approx(scan_us / 1e3)
    table = kernel_table(records, iterations=1)
    gemm_row = table[table["kernel"] == "nvjet_gemm"].iloc[0]
    assert gemm_row["calls_per_iter"] == 2
    assert gemm_row["category"] == ("gemm" if gemm_us >= bmm_us else "attention")


def test_category_table_lists_every_category_per_iteration():
    us = random.uniform(100, 1000)
    records = [KernelRecord("flash_fwd_kernel", (), us, 4)]
    cats = category_table(records, iterations=4).set_index("category")
    assert len(cats) == 8
    assert cats.loc["attention", "ms_per_iter"] == pytest.approx(us / 4 / 1e3)
    assert cats.loc["attention", "calls_per_iter"] == 1
    assert cats["share"].sum() == pytest.approx(1.0)
