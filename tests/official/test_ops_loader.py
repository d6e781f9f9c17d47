"""Finding the official compiled ops: installed, in the build directory, or a clear error."""

import json
import sys

import pytest

from vimbench.official import ops


@pytest.fixture
def clean_import(monkeypatch, tmp_path):
    """No cached ops, no official modules importable, the build directory under tmp_path."""
    monkeypatch.setattr(ops, "_cached", None)
    for name in ("selective_scan_cuda", "causal_conv1d", "causal_conv1d.cpp_functions", "mamba_ssm",
                 "mamba_ssm.ops", "mamba_ssm.ops.triton", "mamba_ssm.ops.triton.layer_norm"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv(ops.BUILD_DIR_ENV, str(tmp_path / "build"))
    return tmp_path / "build"


def test_missing_ops_name_the_build_command(clean_import):
    with pytest.raises(ImportError, match=r"python -m vimbench\.official\.build") as err:
        ops.load_official_ops()
    assert str(clean_import) in str(err.value)


def _fake_build(root):
    """Pure-Python modules laid out as the build script installs the compiled ones."""
    (root / "causal_conv1d").mkdir(parents=True)
    (root / "mamba_ssm" / "ops" / "triton").mkdir(parents=True)
    (root / "selective_scan_cuda.py").write_text("def fwd(*args):\n    return 'scan'\n")
    (root / "causal_conv1d" / "__init__.py").write_text("")
    (root / "causal_conv1d" / "cpp_functions.py").write_text("def causal_conv1d_fwd_function(*a):\n    return 'conv'\n")
    for pkg in ("mamba_ssm", "mamba_ssm/ops", "mamba_ssm/ops/triton"):
        (root / pkg / "__init__.py").write_text("")
    (root / "mamba_ssm" / "ops" / "triton" / "layer_norm.py").write_text("def rms_norm_fn(*a, **k):\n    return 'norm'\n")
    (root / ops.MANIFEST).write_text(json.dumps({"arch": "9.0", "build_seconds_total": 12.5}))


def test_build_directory_is_found_and_its_manifest_read(clean_import):
    _fake_build(clean_import)
    loaded = ops.load_official_ops()
    assert loaded.selective_scan_fwd() == "scan" and loaded.causal_conv1d_fwd() == "conv"
    assert loaded.rms_norm_fn() == "norm"
    assert loaded.origin == str(clean_import.resolve())
    assert loaded.build["build_seconds_total"] == 12.5
    assert ops.load_official_ops() is loaded  # imported once a process


def test_broken_build_is_named(clean_import):
    _fake_build(clean_import)
    (clean_import / "mamba_ssm" / "ops" / "triton" / "layer_norm.py").write_text("raise ImportError('no triton')\n")
    with pytest.raises(ImportError, match="does not import"):
        ops.load_official_ops()


def test_kernel_benchmark_looks_where_the_build_writes(monkeypatch, tmp_path):
    """`python -m mamba_triton.bench --against-mamba-ssm` finds the build of
    `python -m vimbench.official.build` (the library keeps its own copy of the path rule)."""
    from mamba_triton import _mamba_ssm

    assert _mamba_ssm.BUILD_DIR_ENV == ops.BUILD_DIR_ENV and _mamba_ssm.BUILD_COMMAND == ops.OFFICIAL_BUILD_COMMAND
    monkeypatch.delenv(ops.BUILD_DIR_ENV, raising=False)
    assert _mamba_ssm.default_path() == ops.default_build_dir()
    monkeypatch.setenv(ops.BUILD_DIR_ENV, str(tmp_path))
    assert _mamba_ssm.default_path() == ops.default_build_dir() == tmp_path
