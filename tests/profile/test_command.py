"""`vimbench profile` end to end on the CPU: report files, graceful CPU messages, errors."""

import gzip
import json

import pandas as pd
import pytest

from vimbench.cli import main as cli_main
from vimbench.profile.categories import CATEGORIES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = ["--device", "cpu", "--warmup", "1", "--timed-iters", "2", "--iters", "1"]


@pytest.fixture(scope="module")
def cpu_profile(tmp_path_factory):
    out = tmp_path_factory.mktemp("profile")
    import io
    from contextlib import redirect_stdout

    stdout = io.StringIO()
    with redirect_stdout(stdout):
        rc = cli_main(["profile", "--target", "vim_tiny:torch:32:1", "--model", "deit_tiny:eager",
                       "--resolution", "32", "--batch", "2", "--out", str(out), *FAST])
    return rc, out, stdout.getvalue()


def test_report_files_are_written(cpu_profile):
    rc, out, _ = cpu_profile
    assert rc == 0
    for name in ("profile.md", "summary.csv", "categories.csv", "kernels.csv", "categories.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "categories.png").read_bytes()[:8] == PNG_MAGIC
    import matplotlib.image

    image = matplotlib.image.imread(out / "categories.png")
    assert image.shape[0] > 200 and image.shape[1] > 200
    # GPU-only outputs are absent, not empty
    assert not (out / "memory.png").exists() and not (out / "telemetry.csv").exists()


def test_tables_hold_the_breakdown(cpu_profile):
    _, out, _ = cpu_profile
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["model"]) == ["deit_tiny", "vim_tiny"]  # --model cells, then --target cells
    assert set(summary["status"]) == {"ok"}
    assert (summary["images_per_s"] > 0).all()
    cats = pd.read_csv(out / "categories.csv")
    assert set(cats["category"]) == set(CATEGORIES)
    shares = cats.groupby("cell")["share"].sum()
    assert shares.to_numpy() == pytest.approx([1.0, 1.0])
    by = cats.set_index(["model", "category"])["share"]
    # Vim's scan runs inside the mixer's scan function; DeiT has none, but has attention
    assert by[("vim_tiny", "scan")] > 0 and by[("deit_tiny", "scan")] == 0
    assert by[("deit_tiny", "attention")] > 0 and by[("vim_tiny", "attention")] == 0
    kernels = pd.read_csv(out / "kernels.csv")
    assert kernels["kernel"].str.startswith("aten::").all()


def test_cpu_messages_instead_of_failures(cpu_profile):
    _, out, stdout = cpu_profile
    text = (out / "profile.md").read_text()
    for message in ("CUDA memory: not available on CPU", "NVML telemetry: not available on CPU",
                    "roofline: not available on CPU"):
        assert message in text and message in stdout
    assert "Categorisation rules" in text and "CPU self time" in text


def test_chrome_trace_is_gzipped_json(cpu_profile):
    _, out, _ = cpu_profile
    traces = sorted(out.glob("trace-*.json.gz"))
    assert len(traces) == 2
    with gzip.open(traces[0], "rt") as fh:
        trace = json.load(fh)
    names = {e.get("name") for e in trace["traceEvents"]}
    assert any(n and n.startswith("module:") for n in names)


def test_suite_cell_selection(tmp_path):
    rc = cli_main(["profile", "--suite", "smoke", "--cell", "model=deit_tiny", "--cell", "variant=sdpa",
                   "--cell", "resolution=32", "--out", str(tmp_path), "--no-trace", *FAST])
    assert rc == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(zip(summary["model"], summary["variant"], summary["resolution"])) == [("deit_tiny", "sdpa", 32)]
    assert not list(tmp_path.glob("trace-*"))


@pytest.mark.parametrize("argv,message", [
    (["--model", "nope", "--resolution", "32", "--batch", "1"], "unknown model"),
    (["--model", "deit_tiny:flash", "--resolution", "32", "--batch", "1"], "allowed: eager, sdpa"),
    (["--model", "deit_tiny", "--resolution", "33", "--batch", "1"], "patch size 16"),
    (["--model", "deit_tiny", "--resolution", "32", "--batch", "1", "--precision", "fp8"], "allowed: fp32"),
    (["--target", "deit_tiny:sdpa:32"], "MODEL:VARIANT:RESOLUTION:BATCH"),
    (["--cell", "0"], "--cell needs --suite"),
    (["--suite", "smoke", "--cell", "99"], "has cells 0.."),
    ([], "nothing to profile"),
])
def test_usage_errors(argv, message, capsys, tmp_path):
    assert cli_main(["profile", "--device", "cpu", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_process_isolation_returns_results_from_a_spawned_worker(tmp_path):
    # the GPU default: every cell in a fresh process, its result pickled back
    rc = cli_main(["profile", "--target", "deit_tiny:sdpa:32:1", "--isolation", "process", "--no-trace",
                   "--out", str(tmp_path), *FAST])
    assert rc == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary.loc[0, "status"] == "ok" and summary.loc[0, "profiled_ms_per_iter"] > 0
