"""End to end: report directories from synthetic runs (files, images, determinism, errors)."""

import argparse
import json
import os
import re
import xml.etree.ElementTree as ET

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from report_synthetic import H100_BYTES, highres_rows, row, write_run

from vimbench.report import command
from vimbench.report.build import build_report
from vimbench.report.markdown import fmt_gb, fmt_ips

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ENV = {"gpu": {"name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": H100_BYTES}}


def _rng():
    return np.random.default_rng(torch.initial_seed())


def _run_cli(argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.main(parser.parse_args([str(a) for a in argv]))


def _highres_run(tmp_path, name="run", **kw):
    rng = _rng()
    rows = highres_rows(rng, **kw)
    rows.append(row("vim_tiny", "torch", 1248, status="error"))
    return write_run(tmp_path / name, rows, env=ENV), rows


def _linked_files(report_md: str) -> list[str]:
    return re.findall(r"\]\(([^)]+\.(?:png|svg))\)", report_md)


def test_report_files_plots_and_links(tmp_path):
    run, _ = _highres_run(tmp_path)
    assert _run_cli([run]) == 0
    out = run / "report"
    text = (out / "report.md").read_text()
    for name in ("results.csv", "ratios.csv", "claims.csv", "oom_estimates.csv", "verdict_table.csv"):
        assert (out / name).stat().st_size > 0
    links = _linked_files(text)
    stems = {os.path.splitext(link)[0] for link in links}
    assert {s.split("_b")[0] for s in stems} >= {"throughput_vs_resolution", "memory_vs_resolution",
                                                  "ratios_vs_resolution"}
    assert "throughput_vs_batch_fp32_eager" in stems  # one batch per cell, but the OOM probes add batches
    for link in links:
        path = out / link
        assert path.exists(), link
        if link.endswith(".png"):
            assert path.read_bytes()[:8] == PNG_MAGIC
            with Image.open(path) as image:
                image.verify()
            pixels = matplotlib.image.imread(path)
            assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 500
            assert pixels.std() > 0.05  # something was drawn
        else:
            root = ET.parse(path).getroot()
            assert root.tag.endswith("svg")
    # every PNG has its SVG twin and vice versa
    assert {f for f in links if f.endswith(".png")} == {f[:-4] + ".png" for f in links if f.endswith(".svg")}


def test_tables_show_the_measured_values(tmp_path):
    run, rows = _highres_run(tmp_path)
    _run_cli([run])
    text = (run / "report" / "report.md").read_text()
    assert "The out-of-memory errors as recorded:\n\n- DeiT-Ti (eager) 1248 px, batch 128, fp32: no message" in text
    throughput = text.split("## Throughput")[1].split("## Peak memory")[0]
    memory = text.split("## Peak memory")[1].split("## Vim / DeiT")[0]
    for r in rows:
        if r.purpose != "measure":
            continue
        label = {"deit_tiny": "DeiT-Ti", "vim_tiny": "Vim-Ti"}[r.model] + f" ({r.variant})"
        line = next(ln for ln in throughput.splitlines() if ln.startswith(f"| {label} |"))
        if r.status == "ok":
            assert f"| {fmt_ips(r.images_per_s)} |" in line + " |"
            mem_line = next(ln for ln in memory.splitlines() if ln.startswith(f"| {label} |"))
            assert f" {fmt_gb(r.mem_max_allocated_bytes)} " in mem_line
        else:
            assert ("| OOM |" if r.status == "oom" else "| error |") in line + " |"
    # the derived ratios in ratios.csv are Vim / DeiT of the measured values
    ratios = pd.read_csv(run / "report" / "ratios.csv")
    results = pd.read_csv(run / "report" / "results.csv")
    ok = results[(results["purpose"] == "measure") & (results["status"] == "ok")]
    ips = {(r.model, r.variant, r.resolution): r.images_per_s for r in ok.itertuples()}
    checked = 0
    for r in ratios.itertuples():
        if r.vim_status == "ok" and r.deit_status == "ok":
            expected = ips[(r.vim_model, r.vim_variant, r.resolution)] / ips[(r.deit_model, r.deit_variant, r.resolution)]
            assert r.speed_ratio == pytest.approx(expected)
            assert f"{expected:.2f}x" in text
            checked += 1
    assert checked >= 8


def test_estimated_values_are_always_labelled(tmp_path):
    run, _ = _highres_run(tmp_path)
    _run_cli([run])
    out = run / "report"
    text = (out / "report.md").read_text()
    estimates = pd.read_csv(out / "oom_estimates.csv")
    values = estimates.loc[estimates["status"] == "estimated", "estimated_bytes"]
    assert len(values) == 3  # DeiT-Ti eager at 1248, three memory metrics
    for value in values:
        lines = [ln for ln in text.splitlines() if fmt_gb(value) in ln]
        assert lines
        assert all("estimated" in ln for ln in lines), lines
    assert "**reproduced (estimated)**" in text or "**not reproduced (estimated)**" in text
    claims = pd.read_csv(out / "claims.csv")
    eager_memory = claims[(claims["claim"] == "memory") & (claims["deit_variant"] == "eager")
                          & (claims["vim_variant"] == "triton")]
    assert eager_memory["verdict"].str.endswith("(estimated)").all()


def test_same_inputs_give_identical_outputs(tmp_path):
    run, _ = _highres_run(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    build_report([run], first)
    build_report([run], second)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_rebuild_removes_stale_plots(tmp_path):
    run, _ = _highres_run(tmp_path)
    out = tmp_path / "out"
    build_report([run], out)
    (out / "throughput_vs_resolution_b999_old.png").write_bytes(PNG_MAGIC)
    build_report([run], out)
    assert not (out / "throughput_vs_resolution_b999_old.png").exists()


def test_compare_two_runs(tmp_path):
    base, _ = _highres_run(tmp_path, "h100")
    rng = _rng()
    other = write_run(tmp_path / "h200", highres_rows(rng, gpu="NVIDIA H200"), env={"gpu": {"name": "NVIDIA H200"}})
    assert _run_cli([base, other]) == 0
    out = base / "report-vs-h200"
    text = (out / "report.md").read_text()
    assert "## Comparison: h200 vs h100" in text
    assert "### Claims" in text and "## Run: h100" in text and "## Run: h200" in text
    assert "memory is not drawn" in text  # h200's env.json has no total memory
    matched = pd.read_csv(out / "compare_h200_vs_h100.csv")
    ok = matched[(matched["status_base"] == "ok") & (matched["status_other"] == "ok")]
    assert len(ok) >= 10
    np.testing.assert_allclose(ok["images_per_s_ratio"], ok["images_per_s_other"] / ok["images_per_s_base"])
    for r in ok.itertuples():
        assert f"| {r.images_per_s_ratio:.2f}x |" in text
    assert (out / "compare_h200_vs_h100.png").read_bytes()[:8] == PNG_MAGIC


def test_latest_run_is_the_default(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    older = write_run(runs / "a-older", [row("vim_tiny", "triton", 512, ips=100.0, mem=1e9)])
    newer = write_run(runs / "b-newer", [row("vim_tiny", "triton", 640, ips=90.0, mem=2e9)])
    os.utime(older / "results.jsonl", (2e9, 2e9))  # newer by mtime although earlier by name
    os.utime(newer / "results.jsonl", (1e9, 1e9))
    monkeypatch.chdir(tmp_path)
    assert _run_cli([]) == 0
    assert (older / "report" / "report.md").exists() and not (newer / "report").exists()


def test_torn_lines_and_duplicates_are_reported(tmp_path):
    run = write_run(tmp_path / "run", [row("vim_tiny", "triton", 512, ips=100.0, mem=1e9),
                                       row("vim_tiny", "triton", 512, ips=120.0, mem=1e9)])
    with open(run / "results.jsonl", "a") as fh:
        fh.write('{"model": "vim_tiny", "trunc')
    build_report([run], run / "report")
    text = (run / "report" / "report.md").read_text()
    assert "1 torn line(s)" in text and "lines 3" in text
    assert "1 earlier duplicate row(s)" in text
    assert "| 120.0 |" in text and "| 100.0 |" not in text


def test_graph_rows_that_did_not_count_the_capture_lose_their_allocated_memory(tmp_path):
    # Rows written before the harness counted a CUDA graph's capture saw only weights, input and
    # output: the report must not offer that as the graph's memory, alone or combined with a re-run.
    rng = _rng()
    mem = float(rng.uniform(4e9, 6e9))
    stale = row("vim_tiny", "triton", 1248, ips=700.0, mem=mem / 2, exec_mode="cuda_graph",
                mem_graph_capture_peak_bytes=None)
    old = write_run(tmp_path / "old", [stale, row("vim_tiny", "triton", 1248, ips=690.0, mem=mem)], env=ENV)
    build_report([old], old / "report")
    frame = pd.read_csv(old / "report" / "results.csv")
    graph = frame[frame["exec_mode"] == "cuda_graph"].iloc[0]
    assert np.isnan(graph["mem_max_allocated_bytes"])
    assert graph["mem_max_reserved_bytes"] == int(mem / 2 * 1.1)  # the pool is reserved: kept
    assert "1 cuda_graph row(s) written before the harness measured" in (old / "report" / "report.md").read_text()

    rerun = write_run(tmp_path / "rerun", [row("vim_tiny", "triton", 1248, ips=701.0, mem=mem, exec_mode="cuda_graph")])
    assert _run_cli([old, rerun, "--combine"]) == 0
    text = (old / "report-with-rerun" / "report.md").read_text()
    assert "cuda_graph row(s) written before" not in text
    combined = pd.read_csv(old / "report-with-rerun" / "results.csv")
    assert combined[combined["exec_mode"] == "cuda_graph"]["mem_max_allocated_bytes"].tolist() == [int(mem)]


@pytest.mark.parametrize("case", ["missing", "not_a_dir", "no_results", "empty", "only_torn", "schema", "bad_row",
                                  "no_common_cells", "no_runs"])
def test_bad_inputs_give_one_clear_message_and_exit_2(tmp_path, capsys, monkeypatch, case):
    path = tmp_path / "run"
    argv = [path]
    expect = str(path)
    if case == "not_a_dir":
        path.write_text("x")
        expect = "is not a directory"
    elif case == "no_results":
        path.mkdir()
        expect = "has no results.jsonl"
    elif case == "empty":
        path.mkdir()
        (path / "results.jsonl").write_text("")
        expect = "has no result rows"
    elif case == "only_torn":
        path.mkdir()
        (path / "results.jsonl").write_text('{"model": "vim_ti')
        expect = "(1 torn lines)"
    elif case == "schema":
        write_run(path, [row("vim_tiny", "triton", 512, ips=1.0, mem=1e9)])
        data = json.loads((path / "results.jsonl").read_text())
        data["schema_version"] = 99
        (path / "results.jsonl").write_text(json.dumps(data) + "\n")
        expect = "schema_version 99"
    elif case == "bad_row":
        path.mkdir()
        (path / "results.jsonl").write_text(json.dumps({"schema_version": 1, "model": "x"}) + "\n")
        expect = "does not match schema_version 1"
    elif case == "no_common_cells":
        write_run(path, [row("vim_tiny", "triton", 512, ips=1.0, mem=1e9)])
        other = write_run(tmp_path / "other", [row("vim_tiny", "triton", 640, ips=1.0, mem=1e9)])
        argv = [path, other]
        expect = "no common cells to compare"
    elif case == "missing":
        expect = "does not exist"
    elif case == "no_runs":
        monkeypatch.chdir(tmp_path)
        argv = []
        expect = "no run directory given"
    assert _run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vimbench report: ") and expect in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_run_without_memory_values_cpu(tmp_path):
    rows = [row(m, v, res, ips=float(ips), mem=None, gpu=None, device="cpu")
            for (m, v), ips in zip([("vim_tiny", "torch"), ("deit_tiny", "eager")], _rng().uniform(1, 50, size=2))
            for res in (64, 96)]
    run = write_run(tmp_path / "cpu", rows)  # no env.json
    (run / "run.json").write_text(json.dumps({"only": {"model": ["vim_tiny", "deit_tiny"]}}))
    build_report([run], run / "report")
    text = (run / "report" / "report.md").read_text()
    assert "Card: **CPU**" in text
    assert "- Selection (run.json): `--only model=vim_tiny,deit_tiny`" in text
    assert "No allocated memory values in this run" in text
    assert "memory_vs_resolution" not in text
    claims_section = text.split("## Claims")[1].split("## Throughput")[0]
    assert claims_section.count("**not measured**") == 4
    verdict = pd.read_csv(run / "report" / "verdict_table.csv")
    # no pair at the claim's sizes: the table is at the largest shared size, speed only (no memory on a CPU)
    assert len(verdict) == 4 and set(verdict["resolution"]) == {96} and set(verdict["memory_verdict"]) == {"not measured"}
    ours = verdict[verdict["vim"] == "vimbench Vim"]
    assert set(ours["vim_variant"]) == {"torch"} and ours["speed_ratio"].notna().all()
    assert set(verdict[verdict["vim"] == "paper's Vim"]["speed_verdict"]) == {"not measured"}
    for link in _linked_files(text):
        assert (run / "report" / link).exists()


def test_combine_runs_split_by_model(tmp_path):
    rng = _rng()
    vim_ips, deit_ips = rng.uniform(20, 200, size=2)
    deit = write_run(tmp_path / "deit", [row("deit_tiny", "sdpa", 1248, ips=float(deit_ips), mem=7e9)], env=ENV)
    vim = write_run(tmp_path / "vim", [row("vim_tiny", "triton", 1248, ips=float(vim_ips), mem=5e9)])
    assert _run_cli([deit, vim, "--combine"]) == 0
    out = deit / "report-with-vim"
    claims = pd.read_csv(out / "claims.csv")
    speed = claims[(claims["claim"] == "speed") & (claims["deit_variant"] == "sdpa")].iloc[0]
    assert speed["measured"] == pytest.approx(vim_ips / deit_ips)
    text = (out / "report.md").read_text()
    assert "Run directories (combined" in text and "# vimbench report: deit+vim (test on NVIDIA H100" in text
    assert f"{H100_BYTES / 1e9:.1f} GB total" in text  # from the env.json of the DeiT run


def test_combine_refuses_different_cards(tmp_path, capsys):
    a = write_run(tmp_path / "a", [row("deit_tiny", "sdpa", 1248, ips=1.0, mem=7e9)])
    b = write_run(tmp_path / "b", [row("vim_tiny", "triton", 1248, ips=1.0, mem=5e9, gpu="NVIDIA H200")])
    assert _run_cli([a, b, "--combine"]) == 2
    assert "cannot combine runs from different cards" in capsys.readouterr().err


def test_combine_refuses_a_run_whose_rows_mix_cards(tmp_path, capsys):
    a = write_run(tmp_path / "a", [row("deit_tiny", "sdpa", 1248, ips=1.0, mem=7e9),
                                   row("deit_tiny", "eager", 1248, ips=1.0, mem=7e9)])
    b = write_run(tmp_path / "b", [row("vim_tiny", "triton", 1248, ips=1.0, mem=5e9),
                                   row("vim_tiny", "official", 1248, ips=1.0, mem=5e9),
                                   row("vim_tiny", "torch", 1248, ips=1.0, mem=5e9, gpu="NVIDIA H200")])
    assert _run_cli([a, b, "--combine"]) == 2  # b's most common card is the H100, but one row ran on an H200
    err = capsys.readouterr().err
    assert "cannot combine runs from different cards" in err and "NVIDIA H100 80GB HBM3, NVIDIA H200" in err


def test_a_run_whose_rows_mix_cards_is_flagged(tmp_path):
    run = write_run(tmp_path / "run", [row("vim_tiny", "triton", 1248, ips=1.0, mem=5e9),
                                       row("deit_tiny", "sdpa", 1248, ips=1.0, mem=7e9, gpu="NVIDIA H200")])
    build_report([run], run / "report")
    text = (run / "report" / "report.md").read_text()
    assert "- Rows from 2 cards in this run (NVIDIA H100 80GB HBM3, NVIDIA H200)" in text
