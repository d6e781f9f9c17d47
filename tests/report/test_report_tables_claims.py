"""Vim/DeiT ratios and the claims verdicts, on synthetic rows with random values."""

import math

import numpy as np
import pytest
import torch
from report_synthetic import H100_BYTES, row, write_run

from vimbench.report import claims
from vimbench.report.build import analyse
from vimbench.report.load import load_run


def _rng():
    return np.random.default_rng(torch.initial_seed())


def _analyse(tmp_path, rows, metric="allocated", env=None):
    run = load_run(write_run(tmp_path / "run", rows, env=env), "run")
    return analyse(run, metric)


def _ratio(a, vim_variant="triton", deit_variant="eager", resolution=1248):
    r = a.ratios
    hit = r[(r["vim_variant"] == vim_variant) & (r["deit_variant"] == deit_variant) & (r["resolution"] == resolution)]
    assert len(hit) == 1
    return hit.iloc[0]


def _claims(a, claim, deit_variant):
    return [c for c in a.claims if c.claim == claim and c.deit_variant == deit_variant]


def test_speed_ratio_and_memory_saving_are_vim_over_deit(tmp_path):
    rng = _rng()
    vim_ips, eager_ips, sdpa_ips = rng.uniform(10, 500, size=3)
    vim_mem, eager_mem, sdpa_mem = rng.uniform(1e9, 70e9, size=3)
    a = _analyse(tmp_path, [row("vim_tiny", "triton", 1024, ips=vim_ips, mem=vim_mem),
                            row("deit_tiny", "eager", 1024, ips=eager_ips, mem=eager_mem),
                            row("deit_tiny", "sdpa", 1024, ips=sdpa_ips, mem=sdpa_mem)])
    assert len(a.ratios) == 2
    eager = _ratio(a, resolution=1024)
    assert eager["speed_ratio"] == pytest.approx(vim_ips / eager_ips)
    assert eager["saving_allocated"] == pytest.approx(1 - int(vim_mem) / int(eager_mem))
    assert eager["saving_reserved"] == pytest.approx(1 - int(vim_mem * 1.1) / int(eager_mem * 1.1))
    assert eager["deit_mem_allocated_source"] == "measured"
    sdpa = _ratio(a, deit_variant="sdpa", resolution=1024)
    assert sdpa["speed_ratio"] == pytest.approx(vim_ips / sdpa_ips)
    assert sdpa["saving_allocated"] == pytest.approx(1 - int(vim_mem) / int(sdpa_mem))


def test_pairs_only_same_size_and_same_conditions(tmp_path):
    a = _analyse(tmp_path, [row("vim_tiny", "triton", 512, ips=100.0, mem=1e9),
                            row("deit_small", "eager", 512, ips=50.0, mem=2e9),        # other size
                            row("deit_tiny", "eager", 512, batch=64, ips=50.0, mem=2e9),  # other batch
                            row("deit_tiny", "eager", 512, precision="bf16", ips=50.0, mem=2e9),
                            row("deit_tiny", "eager", 640, ips=50.0, mem=2e9)])
    assert a.ratios.empty


def test_claims_reproduced_not_reproduced_and_not_measured(tmp_path):
    rng = _rng()
    vim_ips, vim_mem = float(rng.uniform(20, 200)), float(rng.uniform(5e9, 15e9))
    fast = float(rng.uniform(2.6, 4.0))      # above 0.9 x 2.8 = 2.52
    slow = float(rng.uniform(1.0, 2.4))
    a = _analyse(tmp_path, [
        row("vim_tiny", "triton", 1248, ips=vim_ips, mem=vim_mem),
        row("deit_tiny", "eager", 1248, ips=vim_ips / fast, mem=vim_mem / float(rng.uniform(0.02, 0.15))),
        row("deit_tiny", "sdpa", 1248, ips=vim_ips / slow, mem=vim_mem / float(rng.uniform(0.3, 0.7))),
    ])
    (speed_eager,) = _claims(a, "speed", "eager")
    assert speed_eager.verdict == "reproduced"
    assert speed_eager.measured == pytest.approx(fast, rel=1e-6)
    assert (speed_eager.batch, speed_eager.precision, speed_eager.vim_variant) == (128, "fp32", "triton")
    (speed_sdpa,) = _claims(a, "speed", "sdpa")
    assert speed_sdpa.verdict == "not reproduced"
    (mem_eager,) = _claims(a, "memory", "eager")
    assert mem_eager.verdict == "reproduced" and mem_eager.measured > 0.85
    assert "reserved:" in mem_eager.other_metrics and "nvml:" in mem_eager.other_metrics
    (mem_sdpa,) = _claims(a, "memory", "sdpa")
    assert mem_sdpa.verdict == "not reproduced"


def test_claims_not_measured_without_1248_or_sdpa(tmp_path):
    a = _analyse(tmp_path, [row("vim_tiny", "triton", 1024, ips=50.0, mem=5e9),
                            row("deit_tiny", "eager", 1024, ips=20.0, mem=40e9)])
    assert [c.verdict for c in a.claims] == ["not measured"] * 4
    assert {(c.claim, c.deit_variant) for c in a.claims} == {
        ("speed", "eager"), ("speed", "sdpa"), ("memory", "eager"), ("memory", "sdpa")}
    assert all(math.isnan(c.measured) for c in a.claims)


def _deit_oom_rows(rng, vim_mem, slope, probe_ips):
    rows = [row("vim_tiny", "triton", 1248, ips=50.0, mem=vim_mem),
            row("deit_tiny", "eager", 1248, status="oom")]
    rows += [row("deit_tiny", "eager", 1248, b, purpose="oom_estimate", ips=ips, mem=1e9 + slope * b)
             for b, ips in zip((8, 16, 32), probe_ips)]
    return rows


def test_deit_oom_gives_estimated_memory_and_probe_derived_speed(tmp_path):
    rng = _rng()
    vim_mem = float(rng.uniform(8e9, 12e9))
    slope = float(rng.uniform(0.5e9, 0.8e9))
    a = _analyse(tmp_path, _deit_oom_rows(rng, vim_mem, slope, (9.0, 9.9, 10.0)),
                 env={"gpu": {"memory_total_bytes": H100_BYTES}})
    estimate = 1e9 + slope * 128
    (mem,) = _claims(a, "memory", "eager")
    assert mem.measured == pytest.approx(1 - int(vim_mem) / estimate, rel=1e-6)
    assert mem.verdict in ("reproduced (estimated)", "not reproduced (estimated)")
    assert mem.verdict == claims.verdict("memory", 1 - int(vim_mem) / estimate, estimated=True)
    assert "estimated" in mem.basis
    # batch 32 at 10.0 images/s is flat within 1.0% of batch 16 (9.9): the rule gives 50 / 10 = 5x
    (speed,) = _claims(a, "speed", "eager")
    assert speed.measured == pytest.approx(5.0)
    assert speed.verdict == "reproduced (derived)"
    assert speed.basis == ("derived (probe batch 32): 50.0 / 10.0 images/s; DeiT-Ti (eager) OOM at batch 128; "
                           "throughput from its batch-32 probe (10.0 images/s), flat within 1.0% of batch 16 (9.9)")
    assert _ratio(a)["deit_mem_allocated_source"] == "estimated"
    assert math.isnan(_ratio(a)["speed_ratio"])  # the ratio table keeps measured pairs only


def test_deit_oom_with_probes_not_flat_leaves_speed_not_measured(tmp_path):
    rng = _rng()
    a = _analyse(tmp_path, _deit_oom_rows(rng, 10e9, 0.7e9, (5.0, 8.0, 10.0)))
    (speed,) = _claims(a, "speed", "eager")
    assert speed.verdict == "not measured" and math.isnan(speed.measured)
    assert speed.basis.startswith("DeiT-Ti (eager) OOM, so there is no DeiT-Ti throughput at batch 128; ")
    assert "differ by 25.0%, more than the 3%" in speed.basis and speed.basis.endswith("(not measured)")


def test_deit_oom_without_probes_is_not_measured_with_a_bound(tmp_path):
    a = _analyse(tmp_path, [row("vim_tiny", "triton", 1248, ips=50.0, mem=10e9),
                            row("deit_tiny", "eager", 1248, status="oom")],
                 env={"gpu": {"name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": H100_BYTES}})
    (mem,) = _claims(a, "memory", "eager")
    assert mem.verdict == "not measured"
    bound = 100 * (1 - int(10e9) / H100_BYTES)
    assert f"above about {bound:.1f}%" in mem.basis and "derived bound" in mem.basis
    assert "not estimated (no probe rows; add estimate_oom_batches to the suite)" in mem.basis
    assert _ratio(a)["deit_mem_allocated_source"] == ""


def test_memory_metric_choice_changes_the_verdict_basis(tmp_path):
    # allocated: 1 - 10/100 = 90% (reproduced); NVML (context included): 1 - 11.5/110.5 = 89.6%.
    rows = [row("vim_tiny", "triton", 1248, ips=50.0, mem=10e9), row("deit_tiny", "eager", 1248, ips=10, mem=100e9)]
    allocated = _claims(_analyse(tmp_path / "a", rows), "memory", "eager")[0]
    nvml = _claims(_analyse(tmp_path / "n", rows, metric="nvml"), "memory", "eager")[0]
    assert allocated.measured == pytest.approx(0.9)
    assert nvml.measured == pytest.approx(1 - (11e9 + 5e8) / (110e9 + 5e8))
    assert "allocated:" in nvml.other_metrics and "nvml:" in allocated.other_metrics


@pytest.mark.parametrize("claim,value,expected", [
    ("speed", 2.52 + 1e-9, "reproduced"), ("speed", 2.52 - 1e-6, "not reproduced"),
    ("memory", 0.818 + 1e-9, "reproduced"), ("memory", 0.818 - 1e-6, "not reproduced"),
    ("speed", float("nan"), "not measured"), ("memory", 0.9, "reproduced")])
def test_verdict_rule_thresholds(claim, value, expected):
    assert claims.verdict(claim, value) == expected
    if not math.isnan(value):
        assert claims.verdict(claim, value, estimated=True) == f"{expected} (estimated)"


def test_repeats_use_the_median_of_ok_repeats(tmp_path):
    rng = _rng()
    values = rng.uniform(10, 100, size=3)
    rows = [row("vim_tiny", "triton", 512, ips=float(v), mem=1e9, repeat=i) for i, v in enumerate(values)]
    rows.append(row("vim_tiny", "triton", 512, status="error", repeat=3))
    a = _analyse(tmp_path, rows)
    assert len(a.rows) == 4 and len(a.cells) == 1
    cell = a.cells.iloc[0]
    assert cell["images_per_s"] == pytest.approx(float(np.median(values)))
    assert (cell["n_repeats"], cell["n_ok"], cell["status"]) == (4, 3, "ok")


def test_vim_under_cuda_graphs_pairs_with_eager_deit_and_says_so(tmp_path):
    rng = _rng()
    eager_ips, graph_ips, deit_ips = rng.uniform(50, 500, size=3)
    a = _analyse(tmp_path, [row("vim_tiny", "triton", 1248, ips=float(eager_ips), mem=5e9),
                            row("vim_tiny", "triton", 1248, ips=float(graph_ips), mem=5e9, exec_mode="cuda_graph"),
                            row("deit_tiny", "sdpa", 1248, ips=float(deit_ips), mem=7e9)])
    r = a.ratios.set_index("exec_mode")
    assert list(r["deit_exec_mode"]) == ["eager", "eager"]
    assert r.loc["cuda_graph", "speed_ratio"] == pytest.approx(graph_ips / deit_ips)
    assert r.loc["eager", "speed_ratio"] == pytest.approx(eager_ips / deit_ips)
    exec_modes = sorted(c.exec_mode for c in _claims(a, "speed", "sdpa"))
    assert exec_modes == ["cuda_graph (DeiT eager)", "eager"]


def test_same_exec_mode_is_preferred(tmp_path):
    a = _analyse(tmp_path, [row("vim_tiny", "triton", 1248, ips=100.0, mem=5e9, exec_mode="cuda_graph"),
                            row("deit_tiny", "sdpa", 1248, ips=50.0, mem=7e9),
                            row("deit_tiny", "sdpa", 1248, ips=80.0, mem=7e9, exec_mode="cuda_graph")])
    assert len(a.ratios) == 1
    assert a.ratios.iloc[0]["deit_exec_mode"] == "cuda_graph"
    assert a.ratios.iloc[0]["speed_ratio"] == pytest.approx(100.0 / 80.0)


def test_sdpa_backend_variants_get_claim_rows_in_order(tmp_path):
    rows = [row("vim_tiny", "triton", 1248, ips=50.0, mem=5e9)]
    rows += [row("deit_tiny", v, 1248, ips=40.0, mem=6e9) for v in ("sdpa-math", "sdpa-cudnn", "eager", "sdpa-flash")]
    a = _analyse(tmp_path, rows)
    speed = [c.deit_variant for c in a.claims if c.claim == "speed"]
    assert speed == ["eager", "sdpa", "sdpa-flash", "sdpa-cudnn", "sdpa-math"]  # sdpa always, "not measured"
    assert [c.verdict for c in _claims(a, "speed", "sdpa")] == ["not measured"]
    (cudnn,) = _claims(a, "speed", "sdpa-cudnn")
    assert cudnn.measured == pytest.approx(50.0 / 40.0)
