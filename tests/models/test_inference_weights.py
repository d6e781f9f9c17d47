"""The parameter-derived tensors a Vim block keeps between inference calls
(vimbench/models/inference_weights.py): reused while the parameters are unchanged, derived
afresh after any in-place update, dtype change or load_state_dict, never kept with autograd
on, and the model computes the same features with the cache as without it."""

import pytest
import torch
from test_vim_common import randomize_, tiny_vim

from vimbench.models import inference_weights


def _mixer(model):
    return model.layers[0].mixer


def _features(model, images, autocast=False):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return model.forward_features(images, return_tokens=True)


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "amp-bf16"])
def test_same_features_with_and_without_the_cache(monkeypatch, autocast):
    model = tiny_vim(img_size=32)
    randomize_(model)
    images = torch.randn(2, 3, 32, 32)
    monkeypatch.setattr(inference_weights, "ENABLED", False)
    want = _features(model, images, autocast)
    monkeypatch.setattr(inference_weights, "ENABLED", True)
    first, second = _features(model, images, autocast), _features(model, images, autocast)
    assert torch.equal(want, first) and torch.equal(want, second)
    cached = _mixer(model).__dict__["_inference_weights"]
    assert set(cached) == {"in_proj", "out_proj", "x_proj", "x_proj_b", "A", "A_b"}
    if autocast:
        assert cached["in_proj"][1].dtype == torch.bfloat16


def test_reused_until_a_parameter_changes_in_place():
    model = tiny_vim(img_size=32)
    mixer = _mixer(model)
    with torch.no_grad():
        a1 = mixer._A("A", mixer.A_log)
        assert mixer._A("A", mixer.A_log) is a1
        mixer.A_log.add_(torch.randn_like(mixer.A_log))  # an optimizer step's kind of update
        a2 = mixer._A("A", mixer.A_log)
    assert a2 is not a1 and torch.equal(a2, -torch.exp(mixer.A_log.detach()))


def test_invalidated_by_load_state_dict_and_dtype_change():
    model, other = tiny_vim(img_size=32), tiny_vim(img_size=32)
    randomize_(other)
    images = torch.randn(1, 3, 32, 32)
    _features(model, images)
    model.load_state_dict(other.state_dict())
    assert torch.equal(_features(model, images), _features(other, images))
    model.double()
    assert _features(model, images.double()).dtype == torch.float64


def test_nothing_kept_with_autograd():
    model = tiny_vim(img_size=32)
    mixer = _mixer(model)
    a1, a2 = mixer._A("A", mixer.A_log), mixer._A("A", mixer.A_log)
    assert a1 is not a2 and a1.grad_fn is not None
    assert "_inference_weights" not in mixer.__dict__
    tokens = model.forward_features(torch.randn(1, 3, 32, 32), return_tokens=True)
    tokens.sum().backward()
    assert mixer.in_proj.weight.grad is not None and mixer.A_log.grad is not None


def test_inference_tensor_parameters_cached_and_reloaded():
    """The harness builds models under inference_mode: parameters without a version counter.
    The cache still serves them, and load_state_dict (even inside inference_mode) resets it."""
    other = tiny_vim(img_size=32)
    randomize_(other)
    images = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        model = tiny_vim(img_size=32)
        assert model.layers[0].mixer.A_log.is_inference()
        before = model.forward_features(images, return_tokens=True)
        assert "_inference_weights" in _mixer(model).__dict__
        model.load_state_dict(other.state_dict())
        after = model.forward_features(images, return_tokens=True)
    assert torch.equal(after, _features(other, images)) and not torch.equal(after, before)
