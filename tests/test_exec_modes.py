"""Execution modes: each one computes what eager computes, and reports its setup cost."""

import shutil

import pytest
import torch

from vimbench.exec_modes import parse_exec_mode, prepare


def _tiny_model():
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 8)).eval()


def test_parse_exec_mode():
    assert parse_exec_mode("eager") == ("eager", None)
    assert parse_exec_mode("cuda_graph") == ("cuda_graph", None)
    assert parse_exec_mode("compile") == ("compile", "default")
    assert parse_exec_mode("compile:max-autotune") == ("compile", "max-autotune")
    for bad in ("graph", "compile:fast", "eager:x", ""):
        with pytest.raises(ValueError, match="exec_mode"):
            parse_exec_mode(bad)


def test_eager_matches_module_and_runs_without_grad():
    model = _tiny_model()
    x = torch.randn(4, 16)
    run, setup = prepare(model, x, "eager")
    out = run(x)
    assert setup == 0.0 and not out.requires_grad
    torch.testing.assert_close(out, model(x).detach())


def test_eager_autocast_changes_the_compute_dtype():
    model = _tiny_model()
    run, _ = prepare(model, torch.randn(2, 16), "eager", autocast_dtype=torch.bfloat16)
    assert run(torch.randn(2, 16)).dtype == torch.bfloat16


def test_cuda_graph_needs_a_cuda_input():
    with pytest.raises(ValueError, match="cuda_graph"):
        prepare(_tiny_model(), torch.randn(2, 16), "cuda_graph")


@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                    reason="torch.compile on the CPU needs a C compiler")
def test_compile_matches_eager_and_reports_compile_time():
    model = _tiny_model()
    x = torch.randn(4, 16)
    run, setup = prepare(model, x, "compile")
    assert setup > 0
    x2 = torch.randn(4, 16)  # fresh input, same shape: no recompilation needed
    torch.testing.assert_close(run(x2), model(x2).detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                    reason="torch.compile on the CPU needs a C compiler")
def test_compile_freeze_matches_eager():
    assert parse_exec_mode("compile:freeze") == ("compile", "freeze")
    model = _tiny_model()
    x = torch.randn(4, 16)
    run, setup = prepare(model, x, "compile:freeze", autocast_dtype=torch.bfloat16)
    assert setup > 0
    x2 = torch.randn(4, 16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model(x2)
    torch.testing.assert_close(run(x2), expected, rtol=2e-2, atol=2e-2)


@pytest.mark.gpu
def test_cuda_graph_replays_new_inputs_like_eager():
    model = _tiny_model().cuda()
    x = torch.randn(4, 16, device="cuda")
    run, setup = prepare(model, x, "cuda_graph", autocast_dtype=torch.float16)
    assert setup > 0
    for _ in range(2):
        x_new = torch.randn(4, 16, device="cuda")
        out = run(x_new)
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
            expected = model(x_new)
        torch.testing.assert_close(out, expected, rtol=2e-3, atol=2e-3)
    run.static_input.copy_(x)  # replay from the static buffer without another copy
    assert run(run.static_input) is out
    with pytest.raises(ValueError, match="captured for input"):
        run(torch.randn(5, 16, device="cuda"))


@pytest.mark.gpu
def test_cuda_graph_counts_the_activations_it_captured():
    # A forward whose only large tensor is an intermediate: replays allocate nothing, so the
    # graph's working set is visible only in the capture's peak.
    n = int(torch.randint(2048, 4096, ()).item())
    x = torch.randn(n, n, device="cuda")

    def forward(t):
        wide = torch.cat([t, t, t, t], dim=1)   # 4 n^2 floats, freed inside the forward
        return wide.sum(dim=1)

    run, _ = prepare(forward, x, "cuda_graph")
    intermediate = 4 * n * n * x.element_size()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    run(x)
    torch.cuda.synchronize()
    replay_peak = torch.cuda.max_memory_allocated()
    assert run.capture_peak_allocated_bytes >= intermediate
    assert replay_peak < intermediate, "replays allocate the graph's activations after all: the capture rule is moot"
