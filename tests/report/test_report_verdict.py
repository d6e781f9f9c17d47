"""The verdict table at the top of the report: which cells it pairs, its values, bases and labels."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from report_synthetic import H100_BYTES, row, write_run

from vimbench.report import claims
from vimbench.report.build import analyse, build_report
from vimbench.report.load import load_run
from vimbench.report.sections import verdict_md
from vimbench.report.verdict import (
    DEIT_EAGER,
    DEIT_FASTEST,
    PAPER_VIM,
    VIMBENCH_VIM,
    verdict_cells,
    verdict_conditions,
    verdict_resolutions,
)

ENV = {"gpu": {"name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": H100_BYTES}}
P = "amp-fp16"


def _rng():
    return np.random.default_rng(torch.initial_seed())


def _analyse(tmp_path, rows, metric="allocated"):
    return analyse(load_run(write_run(tmp_path / "run", rows, env=ENV), "run"), metric)


def _cell(a, vim, deit, resolution=1248, batch=128, precision=P):
    (hit,) = [c for c in a.verdicts if (c.vim, c.deit, c.resolution, c.batch, c.precision)
              == (vim, deit, resolution, batch, precision)]
    return hit


def _oom_eager(resolution, probe_ips, a, b, batch=128):
    rows = [row("deit_tiny", "eager", resolution, batch, P, status="oom")]
    rows += [row("deit_tiny", "eager", resolution, pb, P, ips=ips, mem=a + b * pb, purpose="oom_estimate")
             for pb, ips in probe_ips]
    return rows


def test_deit_eager_oom_with_flat_probes_gives_derived_speed_and_estimated_memory(tmp_path):
    rng = _rng()
    vim_ips, vim_mem = float(rng.uniform(400, 800)), float(rng.uniform(5e9, 7e9))
    a_, b_ = float(rng.uniform(0.1e9, 0.5e9)), float(rng.uniform(0.6e9, 0.8e9))
    rows = [row("vim_tiny", "triton-fused", 1248, 128, P, ips=vim_ips, mem=vim_mem),
            row("vim_tiny", "official", 1248, 128, P, ips=vim_ips / 2, mem=vim_mem * 1.5)]
    rows += _oom_eager(1248, [(8, 66.7), (16, 68.1), (32, 68.4), (64, 68.6)], a_, b_)
    a = _analyse(tmp_path, rows)
    c = _cell(a, VIMBENCH_VIM, DEIT_EAGER)
    assert (c.vim_variant, c.vim_exec_mode, c.deit_variant, c.deit_exec_mode) == ("triton-fused", "eager",
                                                                                  "eager", "eager")
    assert c.speed_ratio == pytest.approx(vim_ips / 68.6)
    assert c.speed_basis == "derived (probe batch 64)" and c.deit_images_per_s == pytest.approx(68.6)
    assert c.speed_verdict == claims.verdict("speed", vim_ips / 68.6, derived=True)
    assert c.speed_verdict.endswith("(derived)")
    assert c.speed_note == ("DeiT-Ti (eager) OOM at batch 128; throughput from its batch-64 probe (68.6 images/s), "
                            "flat within 0.3% of batch 32 (68.4)")
    estimate = a_ + b_ * 128
    assert c.deit_mem_bytes == pytest.approx(estimate, rel=1e-6)
    assert c.memory_saving == pytest.approx(1 - int(vim_mem) / estimate, rel=1e-6)
    assert c.memory_basis == "estimated" and c.memory_verdict.endswith("(estimated)")
    assert "estimated from probes at batches 8, 16, 32, 64" in c.memory_note
    # the paper's Vim gets the same DeiT side
    p = _cell(a, PAPER_VIM, DEIT_EAGER)
    assert p.vim_variant == "official" and p.speed_ratio == pytest.approx(vim_ips / 2 / 68.6)
    # the markdown states the batch used and the flatness, and labels both values
    text = _markdown(a)
    table = text.split("**batch 128, amp-fp16**")[1]
    assert "DeiT-Ti eager, eager: 68.6 images/s (probe batch 64, derived), " in table
    assert c.deit_speed_batch == 64 and _cell(a, VIMBENCH_VIM, DEIT_FASTEST).deit_speed_batch == 64
    assert f"({c.memory_basis})" in table and "flat within 0.3% of batch 32 (68.4)" in table


def test_deit_eager_oom_with_probes_not_flat_leaves_speed_not_measured(tmp_path):
    rows = [row("vim_tiny", "triton", 1248, 128, P, ips=500.0, mem=6e9)]
    rows += _oom_eager(1248, [(16, 40.0), (32, 50.0), (64, 60.0)], 0.2e9, 0.7e9)
    a = _analyse(tmp_path, rows)
    c = _cell(a, VIMBENCH_VIM, DEIT_EAGER)
    assert math.isnan(c.speed_ratio) and c.speed_basis == c.speed_verdict == "not measured"
    assert c.deit_speed_basis == "not measured" and math.isnan(c.deit_images_per_s)
    assert "batch-64 probe (60.0 images/s) and batch-32 probe (50.0) differ by 20.0%" in c.speed_note
    assert c.memory_basis == "estimated"  # memory does not need the flatness
    assert c.memory_saving == pytest.approx(1 - 6e9 / (0.2e9 + 0.7e9 * 128), rel=1e-6)
    # the claims section says the same
    (speed,) = [r for r in a.claims if r.claim == "speed" and r.deit_variant == "eager"]
    assert speed.verdict == "not measured" and "differ by 20.0%" in speed.basis


def test_one_probe_or_none_is_not_measured_with_the_reason(tmp_path):
    rows = [row("vim_tiny", "triton", 1248, 128, P, ips=500.0, mem=6e9),
            row("vim_tiny", "triton", 1024, 128, P, ips=700.0, mem=4e9)]
    rows += _oom_eager(1248, [(32, 50.0)], 0.2e9, 0.7e9)
    rows += [row("deit_tiny", "eager", 1024, 128, P, status="oom")]
    a = _analyse(tmp_path, rows)
    one = _cell(a, VIMBENCH_VIM, DEIT_EAGER)
    assert one.speed_basis == "not measured" and "only one ok probe batch (32: 50.0 images/s)" in one.speed_note
    assert one.memory_basis == "not measured" and "needs ok probes at 2+ batches" in one.memory_note
    none = _cell(a, VIMBENCH_VIM, DEIT_EAGER, resolution=1024)
    assert "no ok OOM probe below that batch" in none.speed_note
    assert "not estimated (no probe rows" in none.memory_note


def test_fastest_deit_across_variants_and_exec_modes_is_chosen_and_named(tmp_path):
    rng = _rng()
    vim_ips = float(rng.uniform(500, 900))
    deits = {("eager", "eager"): (100.0, 40e9), ("sdpa", "eager"): (600.0, 7.0e9),
             ("sdpa-flash", "cuda_graph"): (700.0, 6.5e9), ("sdpa-cudnn", "compile"): (757.0, 5.07e9),
             ("sdpa-math", "eager"): (300.0, 30e9)}
    rows = [row("vim_tiny", "triton-fused", 1248, 128, P, ips=vim_ips, mem=6e9)]
    rows += [row("deit_tiny", v, 1248, 128, P, ips=ips, mem=mem, exec_mode=e) for (v, e), (ips, mem) in deits.items()]
    rows += [row("deit_tiny", "sdpa-efficient", 1248, 128, P, status="error")]
    a = _analyse(tmp_path, rows)
    fastest = _cell(a, VIMBENCH_VIM, DEIT_FASTEST)
    assert (fastest.deit_variant, fastest.deit_exec_mode, fastest.deit_speed_batch) == ("sdpa-cudnn", "compile", 128)
    assert fastest.speed_ratio == pytest.approx(vim_ips / 757.0)
    assert fastest.memory_saving == pytest.approx(1 - 6e9 / int(5.07e9))  # the fastest is also the leanest here
    assert fastest.deit_mem_config == ""
    assert fastest.speed_basis == fastest.memory_basis == "measured"
    assert fastest.speed_verdict == claims.verdict("speed", vim_ips / 757.0)
    eager = _cell(a, VIMBENCH_VIM, DEIT_EAGER)
    assert (eager.deit_variant, eager.deit_exec_mode) == ("eager", "eager")
    assert eager.speed_ratio == pytest.approx(vim_ips / 100.0)
    assert eager.memory_saving == pytest.approx(1 - 6e9 / 40e9)
    text = _markdown(a)
    assert "DeiT-Ti sdpa-cudnn, compile: 757.0 images/s, 5.07 GB" in text


def test_a_derived_deit_can_be_the_fastest_but_an_unmeasured_one_cannot(tmp_path):
    rows = [row("vim_tiny", "triton", 1248, 128, P, ips=500.0, mem=6e9),
            row("deit_tiny", "sdpa", 1248, 128, P, ips=90.0, mem=7e9)]
    rows += _oom_eager(1248, [(32, 99.0), (64, 100.0)], 0.2e9, 0.7e9)
    c = _cell(_analyse(tmp_path / "derived", rows), VIMBENCH_VIM, DEIT_FASTEST)
    assert (c.deit_variant, c.speed_basis) == ("eager", "derived (probe batch 64)")
    assert c.speed_ratio == pytest.approx(5.0)
    # memory from the leanest DeiT-Ti (sdpa, measured), not the fastest one's estimate
    assert (c.memory_basis, c.deit_mem_config) == ("measured", "sdpa, eager")
    assert c.memory_saving == pytest.approx(1 - 6e9 / 7e9)
    rows = rows[:2] + _oom_eager(1248, [(32, 70.0), (64, 100.0)], 0.2e9, 0.7e9)  # not flat
    c = _cell(_analyse(tmp_path / "not_flat", rows), VIMBENCH_VIM, DEIT_FASTEST)
    assert (c.deit_variant, c.speed_basis) == ("sdpa", "measured")


def test_vimbench_vim_is_its_fastest_config_and_excludes_official_torch_and_mamba_ssm(tmp_path):
    vims = {("triton", "eager"): 500.0, ("triton-fused", "eager"): 600.0, ("triton-fused", "cuda_graph"): 650.0,
            ("triton", "compile:max-autotune"): 640.0, ("torch", "eager"): 5000.0, ("official", "eager"): 400.0,
            ("official", "cuda_graph"): 450.0, ("mamba_ssm", "eager"): 4000.0}
    rows = [row("vim_tiny", v, 1248, 128, P, ips=ips, mem=5e9 + ips * 1e6, exec_mode=e) for (v, e), ips in vims.items()]
    rows.append(row("vim_tiny", "triton-fused", 1248, 128, P, status="oom", exec_mode="compile"))
    rows.append(row("deit_tiny", "eager", 1248, 128, P, ips=50.0, mem=60e9))
    a = _analyse(tmp_path, rows)
    ours = _cell(a, VIMBENCH_VIM, DEIT_EAGER)
    assert (ours.vim_variant, ours.vim_exec_mode) == ("triton-fused", "cuda_graph")
    assert ours.speed_ratio == pytest.approx(650.0 / 50.0)
    # memory from the leanest of the same candidates (the OOM cell and other families excluded)
    assert ours.vim_mem_bytes == int(5e9 + 500.0 * 1e6) and ours.vim_mem_config == "triton, eager"
    assert ours.memory_saving == pytest.approx(1 - int(5.5e9) / 60e9)
    paper = _cell(a, PAPER_VIM, DEIT_EAGER)
    assert (paper.vim_variant, paper.vim_exec_mode) == ("official", "cuda_graph")
    assert paper.speed_ratio == pytest.approx(450.0 / 50.0)
    assert (paper.vim_mem_bytes, paper.vim_mem_config) == (int(5.4e9), "official, eager")
    text = _markdown(a)
    assert ("| **vimbench Vim** | 1248 | triton-fused, cuda_graph: 650.0 images/s, 5.50 GB (leanest: triton, eager) |"
            in text)
    assert "| **paper's Vim** | 1248 | official, cuda_graph: 450.0 images/s, 5.40 GB (leanest: official, eager) |" in text


def test_paper_vim_missing_is_not_measured_with_the_reason(tmp_path):
    rows = [row("vim_tiny", "triton", 1248, 128, P, ips=500.0, mem=6e9),
            row("vim_tiny", "mamba_ssm", 1248, 128, P, ips=450.0, mem=6e9),  # an older run's variant
            row("deit_tiny", "eager", 1248, 128, P, ips=100.0, mem=50e9)]
    a = _analyse(tmp_path, rows)
    for deit in (DEIT_EAGER, DEIT_FASTEST):
        c = _cell(a, PAPER_VIM, deit)
        assert c.vim_variant == "" and math.isnan(c.speed_ratio) and math.isnan(c.memory_saving)
        assert c.speed_verdict == c.memory_verdict == c.speed_basis == c.memory_basis == "not measured"
        assert c.vim_note.startswith("no Vim-Ti (official) cell at 1248 px, batch 128, amp-fp16 (this run has the "
                                     "older variant mamba_ssm")
        assert c.speed_note == c.memory_note == c.vim_note
        assert c.deit_variant == "eager"  # the DeiT side is still shown
    paper_1024 = _cell(a, PAPER_VIM, DEIT_EAGER, resolution=1024)
    assert paper_1024.vim_note == "no Vim-Ti (official) cell at 1024 px, batch 128, amp-fp16"
    assert "no DeiT-Ti (eager) cell in exec mode eager at 1024 px" in paper_1024.speed_note
    text = _markdown(a)
    assert "| **paper's Vim** | 1248 | **not measured**: no Vim-Ti (official) cell at 1248 px" in text
    # the old variant still loads and is reported in the claims section
    assert any(c.vim_variant == "mamba_ssm" for c in a.claims)


def test_a_failed_vim_gives_its_status(tmp_path):
    rows = [row("vim_tiny", "official", 1248, 128, P, status="oom"),
            row("vim_tiny", "official", 1248, 128, P, status="error", exec_mode="compile"),
            row("deit_tiny", "sdpa", 1248, 128, P, ips=100.0, mem=7e9)]
    c = _cell(_analyse(tmp_path, rows), PAPER_VIM, DEIT_FASTEST)
    assert c.vim_note == "Vim-Ti (official) under compile error at batch 128; Vim-Ti (official) OOM at batch 128"


def test_conditions_put_the_claim_default_first_and_attention_backend_is_named(tmp_path):
    rows = []
    for batch, precision in ((64, "fp32"), (128, "fp32"), (128, P), (256, P)):
        rows += [row("vim_tiny", "triton", 1248, batch, precision, ips=500.0, mem=6e9),
                 row("deit_tiny", "sdpa", 1248, batch, precision, ips=400.0, mem=7e9)]
    a = _analyse(tmp_path, rows)
    assert verdict_conditions(a.cells) == [(128, P), (256, P), (128, "fp32"), (64, "fp32")]
    assert [(c.batch, c.precision) for c in a.verdicts[::8]] == verdict_conditions(a.cells)
    assert len(a.verdicts) == 4 * 2 * 2 * 2  # conditions x Vim rows x DeiT columns x resolutions
    cells = a.cells.assign(attention_backend=["cudnn" if m == "deit_tiny" else None for m in a.cells["model"]])
    probes = a.run.frame[a.run.frame["purpose"] == "oom_estimate"]
    every = verdict_cells(cells, probes, a.estimates, "allocated")
    (c,) = [c for c in every
            if (c.vim, c.deit, c.resolution, c.batch, c.precision) == (VIMBENCH_VIM, DEIT_FASTEST, 1248, 128, P)]
    assert c.deit_attention_backend == "cudnn"
    assert "DeiT-Ti sdpa, eager (ran cudnn): 400.0 images/s" in verdict_md(every, "GPU", "allocated", _paper())


def test_no_vim_or_deit_cells_give_one_table_of_not_measured(tmp_path):
    a = _analyse(tmp_path, [row("vim_tiny", "triton", 512, 128, P, ips=500.0, mem=6e9)])
    assert verdict_conditions(a.cells) == [(128, P)]
    assert len(a.verdicts) == 8 and all(c.speed_verdict == "not measured" for c in a.verdicts)
    assert all(c.speed_note and c.memory_note for c in a.verdicts)  # never blank


def test_memory_metric_is_the_reports(tmp_path):
    rows = [row("vim_tiny", "triton", 1248, 128, P, ips=500.0, mem=10e9),
            row("deit_tiny", "eager", 1248, 128, P, ips=100.0, mem=100e9)]
    c = _cell(_analyse(tmp_path, rows, metric="nvml"), VIMBENCH_VIM, DEIT_EAGER)
    assert c.metric == "nvml" and c.memory_saving == pytest.approx(1 - (11e9 + 5e8) / (110e9 + 5e8))


def test_verdict_table_is_first_and_written_as_csv(tmp_path):
    rows = [row("vim_tiny", "triton", r, 128, P, ips=500.0, mem=6e9) for r in (1024, 1248)]
    rows += [row("deit_tiny", "eager", r, 128, P, ips=100.0, mem=50e9) for r in (1024, 1248)]
    run = write_run(tmp_path / "run", rows, env=ENV)
    build_report([run], run / "report", command="vimbench report run")
    text = (run / "report" / "report.md").read_text()
    head = text.split("\n\n")
    assert head[0].startswith("# vimbench report") and head[1].startswith("Regenerate with")
    assert head[2] == "## Verdict: Vim-Ti 2.8x faster, 86.8% less memory than DeiT-Ti at 1248 px?"
    assert text.index("## Verdict") < text.index("How to read this report") < text.index("## Claims")
    frame = pd.read_csv(run / "report" / "verdict_table.csv")
    assert len(frame) == 8 and list(frame.columns[:4]) == ["run", "batch", "precision", "resolution"]
    ours = frame[(frame["vim"] == VIMBENCH_VIM) & (frame["deit"] == DEIT_EAGER) & (frame["resolution"] == 1248)]
    assert ours["speed_ratio"].item() == pytest.approx(5.0) and ours["speed_verdict"].item() == "reproduced"
    assert ours["memory_saving"].item() == pytest.approx(1 - 6e9 / 50e9)


def test_combined_runs_of_one_card_give_the_verdict_from_pooled_rows(tmp_path):
    deit = write_run(tmp_path / "deit", [row("deit_tiny", "eager", 1248, 128, P, status="oom"),
                                         row("deit_tiny", "sdpa-cudnn", 1248, 128, P, ips=700.0, mem=5e9,
                                             exec_mode="compile")]
                     + _oom_eager(1248, [(32, 68.1), (64, 68.4)], 0.1e9, 0.7e9)[1:], env=ENV)
    vim = write_run(tmp_path / "vim", [row("vim_tiny", "official", 1248, 128, P, ips=600.0, mem=4e9),
                                       row("vim_tiny", "triton-fused", 1248, 128, P, ips=750.0, mem=4.5e9,
                                           exec_mode="cuda_graph")])
    out = tmp_path / "out"
    build_report([deit, vim], out, combine=True)
    frame = pd.read_csv(out / "verdict_table.csv")
    assert set(frame["run"]) == {"deit+vim"}
    at = frame[frame["resolution"] == 1248].set_index(["vim", "deit"])
    assert at.loc[(PAPER_VIM, DEIT_EAGER), "speed_ratio"] == pytest.approx(600.0 / 68.4)
    assert at.loc[(PAPER_VIM, DEIT_EAGER), "speed_basis"] == "derived (probe batch 64)"
    assert at.loc[(PAPER_VIM, DEIT_EAGER), "memory_basis"] == "estimated"
    assert at.loc[(VIMBENCH_VIM, DEIT_FASTEST), "speed_ratio"] == pytest.approx(750.0 / 700.0)
    assert at.loc[(VIMBENCH_VIM, DEIT_FASTEST), "deit_variant"] == "sdpa-cudnn"
    assert at.loc[(VIMBENCH_VIM, DEIT_FASTEST), "vim_exec_mode"] == "cuda_graph"


def _paper():
    from vimbench.report.paper import load_paper_figure1

    return load_paper_figure1()


def _markdown(a) -> str:
    return verdict_md(a.verdicts, a.run.gpu_name, a.verdicts[0].metric, _paper())


def test_a_run_without_the_claims_sizes_is_compared_at_its_largest_shared_size(tmp_path):
    """The CPU smoke suite: Vim-Ti on the torch reference and DeiT-Ti at small sizes only; the table
    shows that comparison (said to be no test of the claims) instead of 'not measured' everywhere."""
    rows = [row("vim_tiny", "torch", r, 2, "fp32", ips=0.1 * r) for r in (32, 64)]
    rows += [row("deit_tiny", v, r, 2, "fp32", ips=2.0) for v in ("eager", "sdpa") for r in (32, 64, 96)]
    a = _analyse(tmp_path, rows)
    assert verdict_resolutions(a.cells) == (64,) and verdict_conditions(a.cells) == [(2, "fp32")]
    c = _cell(a, VIMBENCH_VIM, DEIT_EAGER, resolution=64, batch=2, precision="fp32")
    assert (c.vim_variant, c.deit_variant, c.speed_basis) == ("torch", "eager", "measured")
    assert c.speed_ratio == pytest.approx(6.4 / 2.0) and c.speed_verdict == "reproduced"
    assert "**Not the claim's resolution.**" in _markdown(a)
    both = rows + [row("vim_tiny", "triton", 1024, 2, "fp32", ips=9.0), row("deit_tiny", "sdpa", 1024, 2, "fp32", ips=3.0)]
    assert verdict_resolutions(_analyse(tmp_path / "b", both).cells) == (1248, 1024)  # the claim's sizes, once present


def test_report_command_prints_the_verdict_lines(tmp_path, capsys):
    from vimbench.cli import main

    rows = [row("vim_tiny", "official", 1248, 128, P, ips=600.0, mem=6e9),
            row("vim_tiny", "triton-fused", 1248, 128, P, ips=750.0, mem=5e9),
            row("deit_tiny", "eager", 1248, 128, P, ips=100.0, mem=50e9),
            row("deit_tiny", "sdpa", 1248, 128, P, ips=700.0, mem=7e9)]
    run = write_run(tmp_path / "run", rows, env=ENV)
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.index("Verdict: Vim-Ti 2.8x faster, 86.8% less memory than DeiT-Ti at 1248 px?") < out.index("wrote ")
    assert ("1248 px  paper's Vim (official, eager) vs DeiT-Ti eager (eager, eager): speed 6.00x reproduced, "
            "memory 88.0% reproduced") in out
    assert ("1248 px  vimbench Vim (triton-fused, eager) vs fastest DeiT-Ti (sdpa, eager): speed 1.07x not "
            "reproduced, memory 28.6% not reproduced") in out
    assert "1024 px  paper's Vim: not measured (no Vim-Ti (official) cell at 1024 px" in out
