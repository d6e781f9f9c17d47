"""The build script's CPU-checkable parts: sdists found or named, the generated build
description (forward-only stub, one architecture), and a clear refusal without a GPU."""

import ast
import io
import tarfile

import pytest

from vimbench.official import build


def _sdist(directory, package, version, files):
    path = directory / f"{package}-{version}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{package}-{version}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_missing_sdist_names_the_file_and_the_download(tmp_path):
    _sdist(tmp_path, "mamba_ssm", build.PINNED["mamba_ssm"], {"setup.py": ""})
    with pytest.raises(build.BuildError, match=r"causal_conv1d-1\.7\.0\.tar\.gz.*pip download"):
        build.find_sdists(tmp_path)


def test_generated_setup_is_forward_only_for_mamba_ssm(tmp_path):
    sdist = _sdist(tmp_path, "mamba_ssm", build.PINNED["mamba_ssm"],
                   {"csrc/selective_scan/selective_scan.h": "", "mamba_ssm/__init__.py": ""})
    root = build.unpack(sdist, tmp_path / "work")
    setup = build.write_setup("mamba_ssm", root)
    tree = ast.parse(setup.read_text())  # valid Python
    sources = build.EXTENSIONS["mamba_ssm"]["sources"]
    assert not any("bwd" in s for s in sources) and any("fwd_bf16" in s for s in sources)
    assert all(repr(str(root / s)) in setup.read_text() for s in sources) and tree.body
    assert setup.parent != root  # none of the package's own pyproject.toml / setup.cfg is read
    stub = (root / "csrc/selective_scan" / build.STUB_FILE).read_text()
    # every (input, weight) pair selective_scan.cpp dispatches to has a definition
    for i in ("float", "at::Half", "at::BFloat16"):
        for w in ("float", "complex_t"):
            assert f"selective_scan_bwd_cuda<{i}, {w}>" in stub
    assert "TORCH_CHECK(false" in stub and '#include "selective_scan.h"' in stub


def test_causal_conv1d_is_forward_only_too(tmp_path):
    sdist = _sdist(tmp_path, "causal_conv1d", "1.7.0", {"csrc/causal_conv1d.h": ""})
    root = build.unpack(sdist, tmp_path / "work")
    text = build.write_setup("causal_conv1d", root).read_text()
    assert "causal_conv1d_cuda" in text and "causal_conv1d_fwd.cu" in text and "--use_fast_math" in text
    assert "causal_conv1d_bwd.cu" not in text
    stub = (root / "csrc" / build.STUB_FILE).read_text()
    # the .cpp dispatches input and weight over float/half/bf16 independently: 9 pairs, 2 layouts
    assert stub.count("template void causal_conv1d_bwd_cuda<") == 9
    assert stub.count("template void causal_conv1d_channellast_bwd_cuda<") == 9
    assert "causal_conv1d_bwd_cuda<at::Half, at::BFloat16>" in stub


def test_no_gpu_and_no_arch_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert build.main([]) == 1
    assert "pass --arch" in capsys.readouterr().err
