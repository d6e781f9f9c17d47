"""Profiler events -> per-kernel and per-category time, on the CPU (real profiles) and on
synthetic device events shaped like the ones torch.profiler gives on a GPU."""

import random
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.autograd import DeviceType

from vimbench.profile.breakdown import (
    KernelRecord,
    annotate_modules,
    category_table,
    cpu_op_records,
    device_kernel_records,
    kernel_table,
)
from vimbench.profile.session import _scan_ranges


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


def _event(name, device, us=0.0, kernels=(), parent=None, annotation=False):
    return SimpleNamespace(
        name=name, device_type=DeviceType.CUDA if device else DeviceType.CPU,
        time_range=SimpleNamespace(elapsed_us=lambda us=us: us), kernels=list(kernels), cpu_parent=parent,
        is_user_annotation=annotation, is_async=False, self_cpu_time_total=0.0)


def _kernel(name, us):
    return SimpleNamespace(name=name, device=0, duration=us)


def test_device_records_attach_context_and_keep_unclaimed_time():
    gemm_us, bmm_us, triton_us = (random.uniform(10, 100) for _ in range(3))
    module = _event("module:Attention", device=False, annotation=True)
    linear = _event("aten::linear", device=False, parent=module)
    addmm = _event("aten::addmm", device=False, parent=linear, kernels=[_kernel("nvjet_gemm", gemm_us)])
    bmm = _event("aten::bmm", device=False, parent=module, kernels=[_kernel("nvjet_gemm", bmm_us)])
    events = [
        module, linear, addmm, bmm,
        _event("nvjet_gemm", device=True, us=gemm_us),
        _event("nvjet_gemm", device=True, us=bmm_us),
        # a Triton kernel launched outside any operator: no context, time kept
        _event("_bidirectional_scan_kernel", device=True, us=triton_us),
        # the device-side copy of a module range is an annotation, not work
        _event("module:Attention", device=True, us=1e6, annotation=True),
    ]
    records = device_kernel_records(events)
    total = sum(r.total_us for r in records)
    assert total == pytest.approx(gemm_us + bmm_us + triton_us)
    cats = category_table(records, iterations=1).set_index("category")
    assert cats.loc["gemm", "ms_per_iter"] == pytest.approx(gemm_us / 1e3)
    assert cats.loc["attention", "ms_per_iter"] == pytest.approx(bmm_us / 1e3)
    assert cats.loc["scan", "ms_per_iter"] == pytest.approx(triton_us / 1e3)
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
