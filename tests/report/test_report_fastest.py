"""The fastest-against-fastest table: Vim-Ti (fastest and eager) against the fastest DeiT-Ti at every
resolution where both ran."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from report_synthetic import H100_BYTES, row, write_run

from vimbench.report.build import analyse, build_report
from vimbench.report.load import load_run
from vimbench.report.sections import fastest_md

ENV = {"gpu": {"name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": H100_BYTES}}
P = "amp-fp16"


def _analyse(tmp_path, rows):
    return analyse(load_run(write_run(tmp_path / "run", rows, env=ENV), "run"), "allocated")


def _random_sweep(rng, resolutions):
    """Vim-Ti (ours in three exec modes, the official one) and DeiT-Ti (three cells) at each size,
    random speeds and memory; returns the rows and the values by (model, variant, exec mode, px)."""
    cells = [("vim_tiny", "triton-fused", "eager"), ("vim_tiny", "triton-fused", "compile"),
             ("vim_tiny", "triton-fused", "cuda_graph"), ("vim_tiny", "official", "eager"),
             ("deit_tiny", "sdpa", "eager"), ("deit_tiny", "sdpa", "compile"), ("deit_tiny", "sdpa-flash", "eager")]
    values, rows = {}, []
    for px in resolutions:
        for model, variant, mode in cells:
            ips, mem = float(rng.uniform(100, 1000)), float(rng.uniform(1e9, 9e9))
            values[(model, variant, mode, px)] = (ips, int(mem))
            rows.append(row(model, variant, px, 128, P, ips=ips, mem=mem, exec_mode=mode))
    return rows, values


def test_each_resolution_pairs_the_fastest_cells_and_the_eager_vim(tmp_path):
    rng = np.random.default_rng(torch.initial_seed())
    resolutions = sorted(int(r) for r in rng.choice([224, 512, 1024, 1248, 2048], size=3, replace=False))
    rows, values = _random_sweep(rng, resolutions)
    rows.append(row("vim_tiny", "triton-fused", 4096, 128, P, ips=10.0, mem=5e9))  # no DeiT-Ti there: no row
    a = _analyse(tmp_path, rows)
    assert [r.resolution for r in a.fastest] == resolutions
    for r in a.fastest:
        ours = {k: v for k, v in values.items() if k[0] == "vim_tiny" and k[1] != "official" and k[3] == r.resolution}
        deit = {k: v for k, v in values.items() if k[0] == "deit_tiny" and k[3] == r.resolution}
        best_vim = max(ours, key=lambda k: ours[k][0])
        best_deit = max(deit, key=lambda k: deit[k][0])
        assert r.vim_config == f"{best_vim[1]}, {best_vim[2]}"
        assert r.vim_eager_images_per_s == pytest.approx(ours[("vim_tiny", "triton-fused", "eager", r.resolution)][0])
        assert r.deit_config == f"{best_deit[1]}, {best_deit[2]}"
        assert r.speed_ratio == pytest.approx(ours[best_vim][0] / deit[best_deit][0])
        assert r.eager_speed_ratio == pytest.approx(r.vim_eager_images_per_s / deit[best_deit][0])
        # memory: leanest against leanest, whichever cells those are
        lean_vim, lean_deit = min(v[1] for v in ours.values()), min(v[1] for v in deit.values())
        assert (r.vim_mem_bytes, r.deit_mem_bytes) == (lean_vim, lean_deit)
        assert r.memory_saving == pytest.approx(1 - lean_vim / lean_deit)
        assert r.deit_speed_basis == r.deit_mem_basis == "measured"


def test_without_an_eager_vim_the_eager_column_is_empty_not_the_fastest(tmp_path):
    rows = [row("vim_tiny", "triton-fused", 1248, 128, P, ips=800.0, mem=5e9, exec_mode="compile"),
            row("deit_tiny", "sdpa", 1248, 128, P, ips=700.0, mem=6e9)]
    a = _analyse(tmp_path, rows)
    (r,) = a.fastest
    assert r.vim_eager_config == "" and math.isnan(r.eager_speed_ratio)
    assert r.speed_ratio == pytest.approx(800 / 700)
    assert "| 1248 | 800.0 (triton-fused, compile) | - | 700.0 (sdpa, eager) | 1.14x | - |" in fastest_md(a.fastest,
                                                                                                   "allocated")


def test_an_oom_deit_counts_with_its_derived_speed_and_estimated_memory(tmp_path):
    rows = [row("vim_tiny", "triton-fused", 1248, 128, P, ips=500.0, mem=6e9),
            row("deit_tiny", "eager", 1248, 128, P, status="oom")]
    rows += [row("deit_tiny", "eager", 1248, b, P, ips=ips, mem=0.2e9 + 0.7e9 * b, purpose="oom_estimate")
             for b, ips in ((32, 99.0), (64, 100.0))]
    a = _analyse(tmp_path, rows)
    (r,) = a.fastest
    assert r.deit_speed_basis == "derived (probe batch 64)" and r.speed_ratio == pytest.approx(5.0)
    assert r.deit_mem_basis == "estimated"
    assert r.memory_saving == pytest.approx(1 - 6e9 / (0.2e9 + 0.7e9 * 128), rel=1e-6)
    text = fastest_md(a.fastest, "allocated")
    assert "100.0 (eager, eager) (derived (probe batch 64))" in text and "(estimated)" in text


def test_the_report_has_the_section_and_its_csv(tmp_path):
    rng = np.random.default_rng(torch.initial_seed())
    rows, _ = _random_sweep(rng, [224, 1248])
    report = build_report([write_run(tmp_path / "run", rows, env=ENV)], tmp_path / "out")
    text = report.read_text(encoding="utf-8")
    assert "## Vim-Ti against the fastest DeiT-Ti at every resolution" in text
    frame = pd.read_csv(tmp_path / "out" / "fastest_by_resolution.csv")
    assert list(frame["resolution"]) == [224, 1248]
    assert (frame["speed_ratio"] > 0).all()
