"""`vimbench kernels` (the scan kernel benchmark) on the command line: argument errors exit 2
with a message naming what is allowed, before any GPU work."""

from __future__ import annotations

import pytest
import torch

from vimbench.cli import main as cli_main


def test_bad_shape_name_is_a_usage_error(capsys):
    assert cli_main(["kernels", "--shapes", "vim_huge-1248-b128-bf16-fwd"]) == 2
    err = capsys.readouterr().err
    assert "vim_huge-1248-b128-bf16-fwd" in err and "vim_tiny" in err and "fwd|bidir" in err


def test_bad_direction_is_a_usage_error(capsys):
    assert cli_main(["kernels", "--shapes", "vim_tiny-224-b8-bf16-sideways"]) == 2
    assert "direction fwd|bidir" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_without_a_gpu_says_so(capsys):
    assert cli_main(["kernels", "--shapes", "vim_tiny-224-b8-bf16-fwd"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


# ------------------------------------------------------------------ partial runs and --resume

SHAPES = ["vim_tiny-224-b8-bf16-fwd", "vim_tiny-224-b8-bf16-bidir", "vim_small-224-b8-bf16-fwd"]


@pytest.fixture
def fake_gpu(monkeypatch):
    """The benchmark's GPU parts replaced: a card named `gpu["name"]`, and time_shape giving
    a random time per shape (and dying on the shapes listed in `gpu["die_on"]`)."""
    import vimbench.kernels.bench as bench

    gpu = {"name": "Fake H100", "die_on": set(), "timed": []}

    def time_shape(shape, l2_bytes, check=True, graphs=False, **kwargs):
        if shape.name in gpu["die_on"]:
            raise RuntimeError("killed by the time limit")
        gpu["timed"].append(shape.name)
        ms = float(torch.rand(()) + 0.5)
        return dict(shape=shape.name, ms=ms, p10=ms * 0.99, p90=ms * 1.01, err=1e-3, input_sets=1)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(bench, "machine_header", lambda: dict(
        gpu=gpu["name"], sms=132, l2_bytes=50 << 20, torch="x", triton="y", cuda="z", git="abc"))
    monkeypatch.setattr(bench, "copy_bandwidth", lambda: 3.0e12)
    monkeypatch.setattr(bench, "exp2_rate", lambda: 4.0e12)
    monkeypatch.setattr(bench, "time_shape", time_shape)
    return gpu


def _rows(path):
    import json

    with open(path) as f:
        return json.load(f)


def test_a_killed_run_keeps_what_it_measured(fake_gpu, tmp_path):
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    fake_gpu["die_on"] = {SHAPES[1]}
    with pytest.raises(RuntimeError, match="time limit"):
        cli_main(["kernels", "--shapes", *SHAPES, "--json", str(out), "--markdown", str(md)])
    saved = _rows(out)
    assert [r["shape"] for r in saved["rows"]] == SHAPES[:1]
    assert saved["remaining"] == SHAPES[1:]
    assert SHAPES[0] in md.read_text() and SHAPES[1] not in md.read_text()


def test_resume_measures_only_the_rest_and_keeps_the_order(fake_gpu, tmp_path, monkeypatch):
    import vimbench.kernels.bench as bench

    out = tmp_path / "bench.json"
    fake_gpu["die_on"] = {SHAPES[1]}
    with pytest.raises(RuntimeError):
        cli_main(["kernels", "--shapes", *SHAPES, "--json", str(out)])
    first = _rows(out)["rows"][0]
    fake_gpu["die_on"], fake_gpu["timed"] = set(), []
    monkeypatch.setattr(bench, "exp2_rate", lambda: 5.0e12)  # the next call measures other ceilings
    assert cli_main(["kernels", "--shapes", *SHAPES, "--json", str(out), "--resume"]) == 0
    assert fake_gpu["timed"] == SHAPES[1:]  # the first shape was not timed again
    saved = _rows(out)
    assert [r["shape"] for r in saved["rows"]] == SHAPES and saved["remaining"] == []
    assert saved["rows"][0]["ms"] == first["ms"]
    # each row says which ceilings its fractions used: a resumed row keeps its call's
    assert saved["rows"][0]["ceilings"]["exp2_per_s"] == 4.0e12
    assert [r["ceilings"]["exp2_per_s"] for r in saved["rows"][1:]] == [5.0e12, 5.0e12]


def test_resume_refuses_rows_of_another_card(fake_gpu, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli_main(["kernels", "--shapes", SHAPES[0], "--json", str(out)]) == 0
    fake_gpu["name"] = "Fake H200"
    assert cli_main(["kernels", "--shapes", *SHAPES, "--json", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "Fake H100" in err and "Fake H200" in err


def test_resume_needs_a_json_file(capsys):
    assert cli_main(["kernels", "--shapes", SHAPES[0], "--resume"]) == 2
    assert "--json" in capsys.readouterr().err
