"""`python -m mamba_triton.bench` (the scan kernel benchmark) on the command line: argument
errors exit 2 with a message naming what is allowed, before any GPU work; partial runs and
--resume; --against-mamba-ssm with a stand-in for mamba_ssm's compiled module."""

from __future__ import annotations

import pytest
import torch
from mamba_triton import bench
from mamba_triton.shapes import ScanCase, make_inputs


def test_bad_shape_name_is_a_usage_error(capsys):
    assert bench.cli(["--shapes", "vim_huge-1248-b128-bf16-fwd"]) == 2
    err = capsys.readouterr().err
    assert "vim_huge-1248-b128-bf16-fwd" in err and "vim_tiny" in err and "fwd|bidir" in err


def test_bad_direction_is_a_usage_error(capsys):
    assert bench.cli(["--shapes", "vim_tiny-224-b8-bf16-sideways"]) == 2
    assert "direction fwd|bidir" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_without_a_gpu_says_so(capsys):
    assert bench.cli(["--shapes", "vim_tiny-224-b8-bf16-fwd"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


# ------------------------------------------------------------------ partial runs and --resume

SHAPES = ["vim_tiny-224-b8-bf16-fwd", "vim_tiny-224-b8-bf16-bidir", "vim_small-224-b8-bf16-fwd"]


@pytest.fixture
def fake_gpu(monkeypatch):
    """The benchmark's GPU parts replaced: a card named `gpu["name"]`, and time_shape giving
    a random time per shape (and dying on the shapes listed in `gpu["die_on"]`)."""
    gpu = {"name": "Fake H100", "die_on": set(), "timed": []}

    def time_shape(shape, l2_bytes, check=True, graphs=False, mamba_ssm=None, **kwargs):
        if shape.name in gpu["die_on"]:
            raise RuntimeError("killed by the time limit")
        gpu["timed"].append(shape.name)
        ms = float(torch.rand(()) + 0.5)
        row = dict(shape=shape.name, ms=ms, p10=ms * 0.99, p90=ms * 1.01, err=1e-3, input_sets=1)
        if mamba_ssm is not None:
            row.update(mamba_ssm_ms=2 * ms, mamba_ssm_p10=2 * ms, mamba_ssm_p90=2 * ms, mamba_ssm_err=2e-3,
                       speedup=2.0)
        return row

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(bench, "machine_header", lambda commit=None: dict(
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
        bench.cli(["--shapes", *SHAPES, "--json", str(out), "--markdown", str(md)])
    saved = _rows(out)
    assert [r["shape"] for r in saved["rows"]] == SHAPES[:1]
    assert saved["remaining"] == SHAPES[1:]
    assert SHAPES[0] in md.read_text() and SHAPES[1] not in md.read_text()


def test_resume_measures_only_the_rest_and_keeps_the_order(fake_gpu, tmp_path, monkeypatch):
    out = tmp_path / "bench.json"
    fake_gpu["die_on"] = {SHAPES[1]}
    with pytest.raises(RuntimeError):
        bench.cli(["--shapes", *SHAPES, "--json", str(out)])
    first = _rows(out)["rows"][0]
    fake_gpu["die_on"], fake_gpu["timed"] = set(), []
    monkeypatch.setattr(bench, "exp2_rate", lambda: 5.0e12)  # the next call measures other ceilings
    assert bench.cli(["--shapes", *SHAPES, "--json", str(out), "--resume"]) == 0
    assert fake_gpu["timed"] == SHAPES[1:]  # the first shape was not timed again
    saved = _rows(out)
    assert [r["shape"] for r in saved["rows"]] == SHAPES and saved["remaining"] == []
    assert saved["rows"][0]["ms"] == first["ms"]
    # each row says which ceilings its fractions used: a resumed row keeps its call's
    assert saved["rows"][0]["ceilings"]["exp2_per_s"] == 4.0e12
    assert [r["ceilings"]["exp2_per_s"] for r in saved["rows"][1:]] == [5.0e12, 5.0e12]


def test_resume_refuses_rows_of_another_card(fake_gpu, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.cli(["--shapes", SHAPES[0], "--json", str(out)]) == 0
    fake_gpu["name"] = "Fake H200"
    assert bench.cli(["--shapes", *SHAPES, "--json", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "Fake H100" in err and "Fake H200" in err


def test_resume_needs_a_json_file(capsys):
    assert bench.cli(["--shapes", SHAPES[0], "--resume"]) == 2
    assert "--json" in capsys.readouterr().err


# ------------------------------------------------------------------ --against-mamba-ssm

FAKE_SELECTIVE_SCAN_CUDA = """
from mamba_triton.selective_scan import selective_scan_ref


def fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    # what the compiled kernel insists on: unit stride over L, B and C as (batch, groups, N, L)
    for t in (u, delta, B, C, z):
        assert t.stride(-1) == 1, t.stride()
    assert B.dim() == 4 and C.dim() == 4
    out_z = selective_scan_ref(u, delta, A, B[:, 0], C[:, 0], D, z, delta_bias, delta_softplus)
    return [None, None, out_z]
"""


@pytest.fixture
def fake_build(tmp_path, monkeypatch):
    """A directory holding a pure-Python selective_scan_cuda (the reference in its calling
    convention); nothing imported from it outlives the test."""
    import sys

    monkeypatch.delitem(sys.modules, "selective_scan_cuda", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "selective_scan_cuda.py").write_text(FAKE_SELECTIVE_SCAN_CUDA)
    yield tmp_path / "build"
    sys.modules.pop("selective_scan_cuda", None)


@pytest.fixture
def fake_mamba_ssm(fake_build, monkeypatch):
    """The stand-in first on sys.path (ahead of a real mamba-ssm, should one be installed)."""
    monkeypatch.syspath_prepend(str(fake_build))
    return fake_build


def test_missing_mamba_ssm_names_the_build_command(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "selective_scan_cuda", None)  # not importable, installed or not
    missing = tmp_path / "nothing-here"
    assert bench.cli(["--shapes", SHAPES[0], "--against-mamba-ssm", "--mamba-ssm-path", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "selective_scan_cuda" in err and "python -m vimbench.official.build" in err and str(missing) in err


def test_mamba_ssm_found_in_the_given_directory(fake_build):
    import importlib.util

    from mamba_triton import _mamba_ssm

    if importlib.util.find_spec("selective_scan_cuda") is not None:
        pytest.skip("mamba-ssm is installed here: the directory is not looked at")
    module = _mamba_ssm.load(fake_build)
    assert module.__file__ == str(fake_build / "selective_scan_cuda.py")


@pytest.mark.parametrize("direction", ["fwd", "bidir", "bidirdt"])
def test_mamba_ssm_calls_give_our_functions_output(fake_mamba_ssm, direction):
    """The stand-in computes the reference in mamba_ssm's layout: the calls built from the
    benchmark's inputs (contiguous copies, (b, 1, N, L) B/C, flipped backward direction,
    delta = W @ dt_low) and the combination reproduce the float64 reference of our op."""
    from mamba_triton import _mamba_ssm

    module = _mamba_ssm.load(fake_mamba_ssm)
    shape = ScanCase("vim_tiny", 224, 1, "fp32", direction)
    inputs = make_inputs(shape, device="cpu", seed=0)
    run, combine = _mamba_ssm.mamba_ssm_calls(direction, inputs, module)
    out = combine(run())
    assert out.shape == (1, shape.dim, shape.L)
    assert bench.reference_error(shape, inputs, out) < 1e-5


def test_rows_get_mamba_ssm_columns(fake_gpu, fake_mamba_ssm, tmp_path):
    md, out = tmp_path / "bench.md", tmp_path / "bench.json"
    argv = ["--shapes", SHAPES[0], "--markdown", str(md), "--json", str(out), "--against-mamba-ssm",
            "--mamba-ssm-path", str(fake_mamba_ssm)]
    assert bench.cli(argv) == 0
    table = md.read_text()
    assert "mamba_ssm ms" in table and "speedup" in table and "| 2.00 |" in table
    assert _rows(out)["header"]["mamba_ssm"] == str(fake_mamba_ssm / "selective_scan_cuda.py")
    # a table is measured with the comparison or without it, not half and half
    assert bench.cli(["--shapes", *SHAPES, "--json", str(out), "--resume"]) == 2
