"""Training rows (mode train) in reports: a section of their own, never in the claims or verdict."""

import argparse
import json

import numpy as np
import pandas as pd
import torch
from report_synthetic import H100_BYTES, highres_rows, row, write_run

from vimbench.report import command
from vimbench.report.build import NO_INFER
from vimbench.report.load import load_run

ENV = {"gpu": {"name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": H100_BYTES}}


def _run_cli(argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.main(parser.parse_args([str(a) for a in argv]))


def _train(model, variant, resolution, batch, status="ok", **kw):
    """A train row; its cell keys may equal an inference row's (same model, size, batch, precision)."""
    return row(model, variant, resolution, batch, status=status, mode="train",
               cell_id=f"{model}-{variant}-{resolution}-{batch}-train-{kw.get('purpose', 'measure')}",
               train_loss=0.25 if status == "ok" else None, **kw)


def _train_rows(rng):
    rows = []
    for resolution, batch in ((512, 128), (1024, 16), (1248, 128)):  # 512 and 1248 at batch 128: as inference
        rows.append(_train("deit_tiny", "sdpa", resolution, batch, ips=float(rng.uniform(10, 100)),
                           mem=float(rng.uniform(1e9, 9e9))))
        # Vim 100x faster in training than anything: must move no claim
        rows.append(_train("vim_tiny", "triton", resolution, batch, ips=1e6, mem=1e6))
    rows.append(_train("vim_tiny", "triton-fused", 1024, 16, status="error", error="train support: no backward pass"))
    rows.append(_train("deit_tiny", "eager", 1024, 16, status="oom"))
    for batch, mem in ((4, 5e9), (8, 9e9)):
        rows.append(_train("deit_tiny", "eager", 1024, batch, ips=20.0, mem=mem, purpose="oom_estimate"))
    return rows


def test_train_rows_get_their_section_and_leave_the_claims_alone(tmp_path):
    rng = np.random.default_rng(torch.initial_seed())
    infer = highres_rows(rng)
    plain = write_run(tmp_path / "plain", infer, env=ENV)
    mixed = write_run(tmp_path / "mixed", infer + _train_rows(rng), env=ENV)
    assert _run_cli([plain]) == 0 and _run_cli([mixed]) == 0
    for name in ("claims.csv", "verdict_table.csv", "ratios.csv", "oom_estimates.csv"):
        without_run = [pd.read_csv(d / "report" / name).drop(columns="run", errors="ignore") for d in (plain, mixed)]
        pd.testing.assert_frame_equal(*without_run)

    text = (mixed / "report" / "report.md").read_text()
    inference, training = text.split("## Training (mode train)")
    assert "1000000" not in inference and "1.00e+06" not in inference
    assert "Training cells (mode train, in their own section): 8 (6 ok, 1 oom, 1 error)" in inference
    assert "| DeiT-Ti (sdpa) |" in training and "(b16)" in training and "(b128)" in training
    assert "OOM; " in training and "estimated" in training  # the eager OOM, from its train probes
    assert "no backward pass" in training
    assert "train_vs_resolution_fp32_eager.png" in training
    assert (mixed / "report" / "train_vs_resolution_fp32_eager.png").exists()

    results = pd.read_csv(mixed / "report" / "results.csv")
    same_keys = results[(results["model"] == "deit_tiny") & (results["variant"] == "sdpa")
                        & (results["resolution"] == 512) & (results["batch"] == 128)]
    assert sorted(same_keys["mode"]) == ["infer", "train"]  # not deduplicated into one another


def test_a_run_of_train_rows_only_reports_training_and_no_verdict(tmp_path, capsys):
    run = write_run(tmp_path / "train", _train_rows(np.random.default_rng(0)), env=ENV)
    assert _run_cli([run]) == 0
    assert NO_INFER in capsys.readouterr().out
    text = (run / "report" / "report.md").read_text()
    assert NO_INFER in text and "## Training (mode train)" in text
    assert "## Claims" not in text and "NVIDIA H100 80GB HBM3" in text


def test_rows_from_before_modes_load_as_inference(tmp_path):
    run = write_run(tmp_path / "old", highres_rows(np.random.default_rng(1)), env=ENV)
    lines = (run / "results.jsonl").read_text().splitlines()
    old = []
    for line in lines:
        data = json.loads(line)
        for key in [k for k in data if k == "mode" or k.startswith("train_")]:
            del data[key]
        old.append(json.dumps(data))
    (run / "results.jsonl").write_text("\n".join(old) + "\n")
    loaded = load_run(run, "old")
    assert set(loaded.frame["mode"]) == {"infer"} and len(loaded.frame) == len(lines)
    assert _run_cli([run]) == 0
    assert "## Training" not in (run / "report" / "report.md").read_text()


def test_comparing_runs_keeps_modes_apart(tmp_path):
    rng = np.random.default_rng(2)
    rows = highres_rows(rng) + _train_rows(rng)
    base = write_run(tmp_path / "a", rows, env=ENV)
    other = write_run(tmp_path / "b", rows, env=ENV)
    assert _run_cli([base, other]) == 0
    matched = pd.read_csv(base / "report-vs-b" / "compare_b_vs_a.csv")
    assert sorted(set(matched["mode"])) == ["infer", "train"]
    assert "| eager, train |" in (base / "report-vs-b" / "report.md").read_text()
