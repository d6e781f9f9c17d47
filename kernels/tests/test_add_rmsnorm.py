"""Fused residual add + RMSNorm vs the float64 reference (CPU under TRITON_INTERPRET=1)."""

import pytest
import torch
from mamba_triton.add_rmsnorm import add_rmsnorm, add_rmsnorm_ref
from mamba_triton.testing import TEST_DEVICE, TOLERANCE, assert_close, poison_allocations

DEVICE = TEST_DEVICE


pytestmark = pytest.mark.usefixtures("tensors_on_test_device")


TOL = TOLERANCE


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("batch,L,D", [(1, 1, 192), (2, 3, 384), (3, 37, 192), (1, 5, 100), (2, 2, 768)],
                         ids=lambda v: str(v))
@pytest.mark.parametrize("first_block", [False, True], ids=["add", "first"])
def test_matches_reference(monkeypatch, dtype, batch, L, D, first_block):
    poison_allocations(monkeypatch)
    hidden = torch.randn(batch, L, D, dtype=torch.float64).to(dtype)
    residual = None if first_block else torch.randn(batch, L, D, dtype=torch.float32) * 3
    weight = torch.rand(D) + 0.5
    out, res = add_rmsnorm(hidden, residual, weight)
    ref_out, ref_res = add_rmsnorm_ref(hidden.double(), None if residual is None else residual.double(),
                                       weight.double())
    assert out.dtype == dtype and res.dtype == torch.float32
    assert_close("residual", ref_res, res, 1e-6)
    assert_close("out", ref_out, out, TOL[dtype])


def test_strided_views_and_out_dtype(monkeypatch):
    """hidden and residual as non-contiguous views (token-major transposes, a slice)."""
    poison_allocations(monkeypatch)
    batch, L, D = 2, 5, 96
    hidden = torch.randn(batch, D, L).transpose(1, 2)                 # (batch, L, D), stride D != 1
    residual = torch.randn(batch, L, 2 * D, dtype=torch.float32)[..., ::2]  # stride 2 in D
    weight = torch.randn(D)
    out, res = add_rmsnorm(hidden, residual, weight, out_dtype=torch.bfloat16)
    ref_out, ref_res = add_rmsnorm_ref(hidden.double(), residual.double(), weight.double())
    assert out.dtype == torch.bfloat16 and out.is_contiguous() and res.is_contiguous()
    assert_close("residual", ref_res, res, 1e-6)
    assert_close("out", ref_out, out, 1e-2)


def test_first_block_keeps_an_fp32_token_map_as_the_residual(monkeypatch):
    """residual=None with fp32 hidden: the residual is hidden itself (no 4-byte copy of the
    token map); a 16-bit hidden still gets a new fp32 residual; out may be 16-bit."""
    poison_allocations(monkeypatch)
    hidden = torch.randn(2, 7, 96)
    weight = torch.rand(96) + 0.5
    out, res = add_rmsnorm(hidden, None, weight, out_dtype=torch.float16)
    ref_out, _ = add_rmsnorm_ref(hidden.double(), None, weight.double())
    assert res is hidden and out.dtype == torch.float16
    assert_close("out", ref_out, out, TOL[torch.float16])
    half = hidden.half()
    _, res16 = add_rmsnorm(half, None, weight)
    assert res16.dtype == torch.float32 and res16.data_ptr() != half.data_ptr()
    assert_close("residual", half.double(), res16, 1e-7)


@pytest.mark.parametrize("L", [1, 37])
def test_residual_updated_in_place(monkeypatch, L):
    """residual_out=residual: the new residual overwrites the old one, same values as a
    fresh output (every element is read before it is written)."""
    poison_allocations(monkeypatch)
    hidden = torch.randn(3, L, 192).half()
    residual = torch.randn(3, L, 192) * 3
    weight = torch.rand(192) + 0.5
    ref_out, ref_res = add_rmsnorm_ref(hidden.double(), residual.double(), weight.double())
    out, res = add_rmsnorm(hidden, residual, weight, residual_out=residual)
    assert res is residual
    assert_close("residual in place", ref_res, residual, 1e-6)
    assert_close("out", ref_out, out, TOL[torch.float16])


def test_residual_out_is_validated():
    hidden = torch.randn(1, 4, 8)
    residual = torch.randn(1, 4, 8)
    weight = torch.ones(8)
    for bad in (torch.randn(1, 4, 8).double(), torch.randn(1, 5, 8), torch.randn(1, 8, 4).transpose(1, 2)):
        with pytest.raises(ValueError, match="residual_out"):  # dtype, shape, stride over D
            add_rmsnorm(hidden, residual, weight, residual_out=bad)


def test_eps_matters_for_tiny_rows():
    """Rows near zero are dominated by eps: the kernel must use the same eps as asked."""
    hidden = torch.randn(1, 4, 64) * 1e-4
    weight = torch.ones(64)
    for eps in (1e-5, 1e-3):
        out, _ = add_rmsnorm(hidden, None, weight, eps=eps)
        ref, _ = add_rmsnorm_ref(hidden.double(), None, weight.double(), eps=eps)
        assert_close(f"out eps={eps}", ref, out, 1e-5)


def test_reference_matches_official_rmsnorm_formula():
    """The reference equals the textbook RMSNorm of (residual + hidden)."""
    hidden, residual, weight = torch.randn(2, 7, 48, dtype=torch.float64), torch.randn(2, 7, 48, dtype=torch.float64), torch.randn(48, dtype=torch.float64)
    out, res = add_rmsnorm_ref(hidden, residual, weight)
    x = residual + hidden
    expected = x / torch.sqrt((x * x).sum(-1, keepdim=True) / 48 + 1e-5) * weight
    torch.testing.assert_close(res, x)
    torch.testing.assert_close(out, expected)


def test_bad_inputs_raise_clear_errors():
    hidden, weight = torch.randn(1, 3, 8), torch.randn(8)
    with pytest.raises(ValueError, match="weight"):
        add_rmsnorm(hidden, None, torch.randn(9))
    with pytest.raises(ValueError, match="residual must be float32"):
        add_rmsnorm(hidden, torch.randn(1, 3, 8).half(), weight)
    with pytest.raises(ValueError, match="residual shape"):
        add_rmsnorm(hidden, torch.randn(1, 4, 8), weight)
    with pytest.raises(ValueError, match=r"\(batch, L, D\)"):
        add_rmsnorm(hidden[0], None, weight)
    with pytest.raises(NotImplementedError, match="inference-only"):
        add_rmsnorm(hidden, None, weight.requires_grad_())
