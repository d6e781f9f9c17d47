"""Ad-hoc runs from the command line (no suite file), and a suite's axes replaced by flags."""

import json
import tomllib

import pytest

from vimbench.cli import main
from vimbench.results import read_rows
from vimbench.suite import load_suite


def _cells(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if "|" in line]


def test_adhoc_run_inline_end_to_end_then_resume_and_report(tmp_path, capsys):
    runs = tmp_path / "runs"
    argv = ["run", "--model", "deit_tiny:sdpa", "--model", "timm:resnet18", "--resolution", "32", "--batch", "1",
            "--device", "cpu", "--inline", "--runs-dir", str(runs)]
    assert main(argv) == 0
    (run_dir,) = runs.iterdir()
    assert run_dir.name.endswith("-adhoc")
    rows = read_rows(run_dir / "results.jsonl").rows
    assert {(r.cell_id, r.status, r.suite) for r in rows} == {
        ("deit_tiny|sdpa|r32|b1|fp32|eager", "ok", "adhoc"), ("timm:resnet18|default|r32|b1|fp32|eager", "ok", "adhoc")}
    suite = tomllib.loads((run_dir / "suite.toml").read_text())
    assert suite["name"] == "adhoc" and suite["precisions"] == ["fp32"] and suite["resolutions"] == [32]
    assert [m["name"] for m in suite["models"]] == ["deit_tiny", "timm:resnet18"]
    assert json.loads((run_dir / "run.json").read_text())["axes"]["--model"] == ["deit_tiny:sdpa", "timm:resnet18"]
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir)]) == 0  # nothing left to run
    assert len(read_rows(run_dir / "results.jsonl").rows) == 2
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report" / "report.md").is_file()


def test_adhoc_dry_run_lists_the_product(capsys):
    argv = ["run", "--model", "vim_tiny:triton-fused", "--model", "deit_tiny:sdpa,deit_tiny:eager",
            "--resolution", "1536", "--batch", "64", "--precision", "amp-bf16", "--exec-mode", "eager", "--dry-run"]
    assert main(argv) == 0
    assert _cells(capsys) == ["vim_tiny|triton-fused|r1536|b64|amp-bf16|eager", "deit_tiny|sdpa|r1536|b64|amp-bf16|eager",
                              "deit_tiny|eager|r1536|b64|amp-bf16|eager"]


@pytest.mark.parametrize("argv, named, allowed", [
    (["--model", "vim_tiny:cuda", "--resolution", "64", "--batch", "2"], "--model vim_tiny:cuda", "vim_tiny:triton-fused"),
    (["--model", "vit_s", "--resolution", "64", "--batch", "2"], "--model vit_s", "timm:NAME"),
    (["--model", "timm:resnet1O1", "--resolution", "64", "--batch", "2"], "--model timm:resnet1O1", "timm:resnet101"),
    (["--model", "deit_tiny", "--resolution", "100", "--batch", "2"], "--resolution 100", "96 or 112"),
    (["--model", "deit_tiny", "--resolution", "64", "--batch", "0"], "--batch 0", "integers >= 1"),
    (["--model", "deit_tiny", "--resolution", "x", "--batch", "2"], "--resolution x", "integers >= 1"),
    (["--model", "deit_tiny", "--resolution", "64", "--batch", "2", "--precision", "fp8"], "--precision fp8", "amp-bf16"),
    (["--model", "deit_tiny", "--resolution", "64", "--batch", "2", "--exec-mode", "jit"], "--exec-mode jit",
     "cuda_graph"),
    (["--model", "deit_tiny", "--resolution", "64"], "--batch", "--suite NAME"),
    (["--suite", "smoke", "--precision", "fp64"], "--precision fp64", "fp32"),
], ids=["variant", "model", "timm-model", "patch", "batch", "not-int", "precision", "exec-mode", "missing", "suite"])
def test_bad_axis_values_name_the_flag_value_and_allowed(argv, named, allowed, capsys):
    assert main(["run", *argv, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert named in err and allowed in err, err


def test_axis_flags_replace_that_axis_of_a_suite(capsys):
    assert main(["run", "--suite", "smoke", "--resolution", "32,64", "--dry-run"]) == 0
    cells = _cells(capsys)
    assert len(cells) == 6 and {c.split("|")[2] for c in cells} == {"r32", "r64"}
    # paper's entries overlap once every entry is at 2048 px: each cell is still run once
    assert main(["run", "--suite", "paper", "--resolution", "2048", "--dry-run"]) == 0
    cells = _cells(capsys)
    assert len(cells) == len(set(cells)) and {c.split("|")[2] for c in cells} == {"r2048"}
    assert "vim_tiny|official|r2048|b128|amp-fp16|cuda_graph" in cells
    # --model with --suite: the given models over the suite's other axes
    assert main(["run", "--suite", "smoke", "--model", "deit_tiny:eager", "--dry-run"]) == 0
    smoke_resolutions = {c.resolution for c in load_suite("smoke").cells()}
    assert set(_cells(capsys)) == {f"deit_tiny|eager|r{r}|b2|fp32|eager" for r in smoke_resolutions}


def test_models_filter_keeps_its_meaning(capsys):
    assert main(["run", "--suite", "smoke", "--models", "deit_tiny", "--dry-run"]) == 0
    cells = _cells(capsys)
    assert cells and all(c.startswith("deit_tiny|") for c in cells)
    assert main(["run", "--model", "deit_tiny:sdpa", "--model", "vim_tiny:torch", "--resolution", "32", "--batch", "1",
                 "--models", "vim_tiny", "--dry-run"]) == 0
    assert _cells(capsys) == ["vim_tiny|torch|r32|b1|fp32|eager"]
