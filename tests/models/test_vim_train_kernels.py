"""Vim's Triton routes train through mamba_triton's Triton backward kernels: every parameter's
gradient matches the torch route's (autograd through the PyTorch reference) on the same weights
and images, and autograd records the Triton Functions, not the reference's operators
(CPU under TRITON_INTERPRET=1; CUDA when present)."""

import pytest
import torch
from test_vim_common import randomize_, rel_err, tiny_vim

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.usefixtures("no_tf32")

ROUTES = {"triton": dict(scan_backend="triton"), "triton-fused": dict(scan_backend="triton", fused=True)}
# The autograd Functions each route must put in the graph (mamba_triton's *_train_fn / *_autograd).
TRITON_BACKWARDS = {"triton": {"_BidirectionalScanBackward"},
                    "triton-fused": {"_BidirectionalScanBackward", "BidirectionalConv1dFunctionBackward",
                                     "AddRMSNormFunctionBackward"}}
# Relative L2 error of each parameter's gradient (and of the tokens) against the torch route's,
# float32: sums in other orders (measured <= 3.2e-6 over a few session seeds, on main and with the
# fused conv backward alike; worst on x_proj weights, dt_proj_b bias, A_log).  Float64 is not run:
# the kernels keep some float32 arithmetic there (1e-8..4e-7 measured), and it doubles the time.
TOLERANCE = 2e-5


def _grads(model, images, weights):
    model.zero_grad(set_to_none=True)
    tokens = model.forward_features(images, return_tokens=True)
    (tokens * weights).sum().backward()  # every token and channel reaches the loss
    return tokens, {name: p.grad for name, p in model.named_parameters()}


def _graph_names(tensor) -> set[str]:
    seen, stack, names = set(), [tensor.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return names


@pytest.mark.parametrize("route", list(ROUTES))
def test_parameter_gradients_match_the_torch_route(route):
    reference = tiny_vim(img_size=32).train()
    randomize_(reference)
    model = tiny_vim(img_size=32, **ROUTES[route]).train()
    model.load_state_dict(reference.state_dict())
    reference, model = reference.to(DEVICE), model.to(DEVICE)
    images = torch.randn(2, 3, 32, 32, device=DEVICE)
    weights = torch.randn(2, model.num_tokens, model.embed_dim, device=DEVICE)

    want_tokens, want = _grads(reference, images, weights)
    tokens, got = _grads(model, images, weights)

    assert TRITON_BACKWARDS[route] <= _graph_names(tokens)
    assert rel_err(want_tokens.detach(), tokens.detach()) < TOLERANCE
    trained = {name for name, g in want.items() if g is not None}  # all but the head
    assert trained == {name for name, g in got.items() if g is not None}
    errors = {name: rel_err(want[name], got[name]) for name in trained}
    worst = max(errors, key=errors.get)
    print(f"{route}: worst gradient error {worst} {errors[worst]:.2e}")
    assert errors[worst] < TOLERANCE, errors


@pytest.mark.parametrize("route", list(ROUTES))
def test_inference_keeps_the_inference_kernels(route):
    """No autograd graph without grad: the forward-only kernels run (the scan writes x's memory)."""
    model = tiny_vim(img_size=32, **ROUTES[route]).to(DEVICE)
    images = torch.randn(2, 3, 32, 32, device=DEVICE)
    with torch.no_grad():
        inferred = model.forward_features(images, return_tokens=True)
    trained = model.forward_features(images, return_tokens=True)
    assert inferred.grad_fn is None and trained.grad_fn is not None
    assert rel_err(inferred, trained.detach()) < 1e-6
