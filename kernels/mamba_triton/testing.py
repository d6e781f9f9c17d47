"""Checks shared by every kernel test (and a harness's model tests): one closeness rule,
one tolerance table, one way to poison freshly allocated outputs."""

from __future__ import annotations

import contextlib

import torch

# Kernel tests run compiled on CUDA where a GPU exists, else under TRITON_INTERPRET=1 on the CPU.
TEST_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

# Relative L2 error allowed against a float64 reference, by the dtype of the fast path.
TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 1e-2, torch.float16: 1e-2}


def rel_err(ref: torch.Tensor, got: torch.Tensor) -> float:
    """||got - ref|| / ||ref||, computed in float64."""
    ref64, got64 = ref.double(), got.double()
    return ((got64 - ref64).norm() / ref64.norm().clamp_min(1e-30)).item()


def assert_close(name: str, ref: torch.Tensor, got: torch.Tensor, tol: float) -> float:
    """Fail on a shape mismatch, any NaN/Inf (an unwritten poisoned element included), or a
    relative error at or above `tol`; return the error so a test can report it."""
    assert got.shape == ref.shape, f"{name}: shape {tuple(got.shape)} != {tuple(ref.shape)}"
    bad = int((~torch.isfinite(got)).sum())
    assert bad == 0, f"{name}: {bad} non-finite elements (an output left unwritten?)"
    err = rel_err(ref, got)
    max_diff = (got.double() - ref.double()).abs().max().item() if got.numel() else 0.0
    assert err < tol, f"{name}: relative error {err:.3e} >= {tol:.0e} (max abs diff {max_diff:.3e})"
    return err


def poison_allocations(monkeypatch) -> None:
    """Make torch.empty / torch.empty_like return NaN-filled floating tensors for the rest of
    the test, so an output element a kernel forgets to write fails `assert_close`."""
    real_empty, real_empty_like = torch.empty, torch.empty_like

    def nan(t):
        return t.fill_(float("nan")) if t.is_floating_point() else t

    monkeypatch.setattr(torch, "empty", lambda *a, **k: nan(real_empty(*a, **k)))
    monkeypatch.setattr(torch, "empty_like", lambda *a, **k: nan(real_empty_like(*a, **k)))


def report_close(name: str, ref: torch.Tensor, got: torch.Tensor, tol: float) -> float:
    """assert_close, printing the error (seen with pytest -s) so the measured errors can be quoted."""
    err = assert_close(name, ref, got, tol)
    print(f"\n  {name}: rel err {err:.2e} (tol {tol:.0e})", end="")
    return err


@contextlib.contextmanager
def on_test_device():
    """Make TEST_DEVICE the default for new tensors (on the CPU it already is, and the device
    context would only slow the interpreter)."""
    if TEST_DEVICE == "cpu":
        yield
        return
    with torch.device(TEST_DEVICE):
        yield
