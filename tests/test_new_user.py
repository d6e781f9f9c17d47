"""What a new user met, trying vimbench on a CPU machine (issue 17): one test each."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch

import vimbench
from vimbench.models.vim_scan_backends import default_route

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def test_import_vimbench_alone_registers_the_vims_in_timm():
    code = "import vimbench, timm; print(timm.list_models('vim*'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=REPO,
                         timeout=120, check=True).stdout
    assert out.strip() == "['vim_base_patch16_224', 'vim_small_patch16_224', 'vim_tiny_patch16_224']"
    assert "vim_tiny" in vimbench.model_names()


@torch.no_grad()
def test_timm_vim_with_defaults_runs_on_the_cpu(monkeypatch):
    """timm.create_model with nothing else picks the route from the device and records it; a
    Triton route asked for and then called on the CPU names every route and how to pick one."""
    assert default_route("cpu") == ("torch", False) and default_route("cuda") == ("triton", True)
    model = timm.create_model("vim_tiny_patch16_224").eval()  # defaults, exactly as a new user types it
    expected = default_route()
    assert (model.scan_backend, model.fused) == expected
    if expected[0] == "torch":
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)

    # Built first: building imports the Triton kernels, which must see the tests' TRITON_INTERPRET=1.
    asked_routes = [timm.create_model("vim_tiny_patch16_224", img_size=32, depth=2, **kwargs).eval()
                    for kwargs in ({"scan_backend": "triton"}, {"scan_backend": "triton", "fused": True})]
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # then called as a user would, without it
    for asked in asked_routes:
        with pytest.raises(RuntimeError) as err:
            asked(torch.randn(1, 3, 32, 32))
        message = str(err.value)
        for route in ("'torch'", "'triton'", "'triton-fused'", "'official'", "scan_backend='torch'", "cpu"):
            assert route in message, message
    explicit = vimbench.create_model("vim_tiny", "triton-fused", img_size=32)  # the registry's variants stay explicit
    assert (explicit.scan_backend, explicit.fused) == ("triton", True)


def test_repeats_zero_is_refused_on_the_command_line_and_in_a_suite(tmp_path, capsys):
    from vimbench.cli import main

    assert main(["run", "--suite", "smoke", "--repeats", "0", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--repeats" in err and "0" in err and "integers >= 1" in err
    suite = tmp_path / "zero.toml"
    suite.write_text("repeats = 0\n" + (REPO / "suites" / "smoke.toml").read_text())
    assert main(["run", "--suite", str(suite), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert str(suite) in err and "repeats" in err and "integers >= 1" in err


def _markdown_cells(line: str) -> list[str]:
    """A GitHub table row's cells: split on `|` not escaped as `\\|`."""
    import re

    return re.split(r"(?<!\\)\|", line.strip().strip("|"))


def test_compare_markdown_keeps_one_cell_per_column(capsys):
    from vimbench.cli import main

    data = REPO / "tests" / "compare" / "data"
    main(["compare", str(data / "h100_deit_sweep.jsonl"), str(data / "h100_deit_repeat.jsonl"), "--format", "markdown"])
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    header, rows = table[0], table[2:]
    assert rows and all("deit_tiny\\|" in row for row in rows)
    assert {len(_markdown_cells(row)) for row in rows} == {len(_markdown_cells(header))} == {7}


def _readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_python_api_snippet_runs_on_the_cpu():
    section = _readme_section("Python API")
    (code,) = [block.split("\n", 1)[1] for block in section.split("```")[1::2] if block.startswith("python")]
    exec(compile(code, "README.md (Python API)", "exec"), {})
    for name in ("create_model", "forward_features", "timm.create_model", "vimbench.official.build", "timm:"):
        assert name in section
