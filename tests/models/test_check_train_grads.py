"""benchmarks/check_train_grads.py (the GPU gradient check at Vim-Ti shapes) on a one-block,
16 px Vim on the CPU: it runs end to end, its fp32 route passes the float64 bar, and its
amp-bf16 bar is derived from the bf16 autograd baseline it measured."""

import importlib.util
import json

import pytest

from tests.harness.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def _script():
    spec = importlib.util.spec_from_file_location("check_train_grads", REPO_ROOT / "benchmarks" / "check_train_grads.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_vim_gradients_match_float64(tmp_path):
    script = _script()
    out = tmp_path / "grads"
    assert script.main(["--device", "cpu", "--cases", "16:1", "--depth", "1", "--seed", "3", "--out", str(out)]) == 0
    (result,) = json.loads(out.with_suffix(".json").read_text())["results"]
    runs = result["runs"]
    assert runs["fp32"]["grad_rel_l2_worst"] < script.FP32_TOLERANCE
    baseline = runs[script.BF16_BASELINE]["grad_rel_l2_worst"]
    assert runs["amp-bf16"]["bar"] == pytest.approx(script.BF16_FACTOR * baseline)
    assert 1e-4 < baseline < 0.2  # bf16 rounding is visible, not noise-free and not garbage
    assert "| 16 | 1 | 2 | fp32 |" in out.with_suffix(".md").read_text()
