"""`vimbench compare` end to end on written files: exit codes, card refusal, table output."""

import json

import pytest

from vimbench.cli import main
from vimbench.compare.command import parse_threshold

KEYS = (
    "tests/kernels/test_bench.py::test_scan[B1-L197]",
    "tests/kernels/test_bench.py::test_scan[B128-L6085]",
)


def samples(draw_ms, slowdown_by_key=None):
    slowdown_by_key = slowdown_by_key or {}
    return {
        key: draw_ms(30, median_ms=(i + 1) * 0.5 * slowdown_by_key.get(key, 1.0))
        for i, key in enumerate(KEYS)
    }


def test_pytest_benchmark_regression_exits_1(write_pytest_benchmark, draw_ms, capsys, tmp_path):
    base = write_pytest_benchmark("base.json", samples(draw_ms))
    cand = write_pytest_benchmark("cand.json", samples(draw_ms, {KEYS[1]: 1.10}))
    verdicts = tmp_path / "verdicts.json"
    assert main(["compare", str(base), str(cand), "--threshold", "5%", "--json", str(verdicts)]) == 1
    out = capsys.readouterr().out
    assert "FAIL: 1 regression(s): " + KEYS[1] in out
    by_key = {c["key"]: c for c in json.loads(verdicts.read_text())["comparisons"]}
    assert by_key[KEYS[1]]["verdict"] == "REGRESSION" and by_key[KEYS[0]]["verdict"] == "ok"
    assert by_key[KEYS[1]]["ratio"] == pytest.approx(1.10, abs=0.03)


def test_unchanged_rerun_passes(write_pytest_benchmark, draw_ms, capsys):
    base = write_pytest_benchmark("base.json", samples(draw_ms))
    cand = write_pytest_benchmark("cand.json", samples(draw_ms))
    assert main(["compare", str(base), str(cand)]) == 0
    assert "PASS: no regression" in capsys.readouterr().out


def test_threshold_decides(write_pytest_benchmark, draw_ms):
    base = write_pytest_benchmark("base.json", samples(draw_ms))
    cand = write_pytest_benchmark("cand.json", samples(draw_ms, {KEYS[0]: 1.10, KEYS[1]: 1.10}))
    assert main(["compare", str(base), str(cand), "--threshold", "20%"]) == 0
    assert main(["compare", str(base), str(cand), "--threshold", "0.05"]) == 1


def test_different_cards_refused_unless_forced(write_pytest_benchmark, draw_ms, capsys):
    base = write_pytest_benchmark("base.json", samples(draw_ms))
    cand = write_pytest_benchmark(
        "cand.json", samples(draw_ms), card="NVIDIA A100-SXM4-80GB", card_in="extra_info"
    )
    assert main(["compare", str(base), str(cand)]) == 2
    err = capsys.readouterr().err
    assert "refusing" in err and "NVIDIA A100-SXM4-80GB" in err and "--force" in err
    assert main(["compare", str(base), str(cand), "--force"]) == 0
    assert "WARNING: --force" in capsys.readouterr().out


def test_vimbench_runs_compare_by_cell(write_vimbench_run, draw_ms, capsys):
    cells = {"vim_tiny-r224-b1": draw_ms(25), "vim_tiny-r1248-b128": draw_ms(25, 40.0), "deit-r1248": []}
    base = write_vimbench_run("base", cells, statuses={"deit-r1248": "oom"})
    slow = dict(cells, **{"vim_tiny-r1248-b128": draw_ms(25, 46.0)})
    cand = write_vimbench_run("cand", slow, statuses={"deit-r1248": "oom"})
    assert main(["compare", str(base), str(cand / "results.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "not timed: deit-r1248 (oom)" in out
    assert "vim_tiny-r1248-b128" in out.split("FAIL")[1]


def test_missing_and_new_benchmarks_are_listed(write_pytest_benchmark, draw_ms, capsys):
    both = samples(draw_ms)
    base = write_pytest_benchmark("base.json", {KEYS[0]: both[KEYS[0]], KEYS[1]: both[KEYS[1]]})
    cand = write_pytest_benchmark("cand.json", {KEYS[0]: draw_ms(30, 0.5), "x::new": draw_ms(30)})
    assert main(["compare", str(base), str(cand)]) == 0
    out = capsys.readouterr().out
    assert "missing in candidate" in out and "new in candidate" in out


def test_usage_errors_exit_2(write_pytest_benchmark, draw_ms, tmp_path, capsys):
    base = write_pytest_benchmark("base.json", samples(draw_ms))
    assert main(["compare", str(base), str(tmp_path / "nope.json")]) == 2
    other = write_pytest_benchmark("other.json", {"y::z": draw_ms(10)})
    assert main(["compare", str(base), str(other)]) == 2
    assert "no benchmark appears in both" in capsys.readouterr().err
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert main(["compare", str(base), str(garbage)]) == 2
    with pytest.raises(SystemExit) as exc:  # argparse: bad threshold
        main(["compare", str(base), str(base), "--threshold", "5"])
    assert exc.value.code == 2


def test_parse_threshold():
    assert parse_threshold("5%") == pytest.approx(0.05)
    assert parse_threshold("0.1") == pytest.approx(0.1)
    for bad in ("5", "abc", "150%", "-1%"):
        with pytest.raises(Exception):
            parse_threshold(bad)


def test_markdown_table(write_pytest_benchmark, draw_ms, capsys):
    base = write_pytest_benchmark("base.json", samples(draw_ms))
    assert main(["compare", str(base), str(base), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| benchmark | base ms |" in out and f"`{KEYS[0]}`" in out


def test_summary_only_files_use_iqr(write_pytest_benchmark, draw_ms, capsys):
    base = write_pytest_benchmark("base.json", samples(draw_ms), include_data=False)
    cand = write_pytest_benchmark("cand.json", samples(draw_ms, {KEYS[0]: 1.3}), include_data=False)
    assert main(["compare", str(base), str(cand)]) == 1
    assert "no raw samples" in capsys.readouterr().out


def test_card_slug():
    from vimbench.compare.cards import card_slug

    assert card_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert card_slug("NVIDIA A100-SXM4-80GB") == "nvidia-a100-sxm4-80gb"
    with pytest.raises(ValueError):
        card_slug("  ")


def test_record_baseline_per_card(write_pytest_benchmark, draw_ms, tmp_path):
    from vimbench.compare.baseline import main as baseline_main

    bench = write_pytest_benchmark("bench.json", samples(draw_ms))
    root = tmp_path / "baselines"
    assert (
        baseline_main(["record", str(bench), "--command", "pytest tests/benchmarks", "--root", str(root)])
        == 0
    )
    stored = root / "nvidia-h100-80gb-hbm3" / "bench.json"
    readme = (stored.parent / "README.md").read_text()
    assert stored.read_text() == bench.read_text()
    assert "pytest tests/benchmarks" in readme and KEYS[0] in readme
    # the stored baseline gates like any other file
    assert main(["compare", str(stored), str(bench)]) == 0
    mixed = write_pytest_benchmark("mixed.json", samples(draw_ms), card=None)
    assert baseline_main(["record", str(mixed), "--command", "x", "--root", str(root)]) == 2
