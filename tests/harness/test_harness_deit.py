"""DeiT from timm: any resolution, and the attention variant really chooses the kernel."""

import pytest
import torch

from vimbench.models import create_model, get_model_spec
from vimbench.models import deit as deit_module
from vimbench.models.deit import count_sdpa_calls


@pytest.mark.parametrize("name,dim", [("deit_tiny", 192), ("deit_small", 384)])
def test_registered_and_feature_shape_at_odd_resolution(name, dim):
    spec = get_model_spec(name)
    assert (spec.family, spec.variant_kind, spec.variants) == ("deit", "attention", ("eager", "sdpa"))
    model = create_model(name, "eager", img_size=80)  # 5x5 patches, not the 224 it was defined at
    with torch.inference_mode():
        out = model.forward_features(torch.randn(2, 3, 80, 80))
    assert out.shape == (2, spec.tokens(80), dim)
    assert torch.isfinite(out).all()


def test_eager_and_sdpa_compute_the_same_function_with_different_kernels():
    eager = create_model("deit_tiny", "eager", img_size=64)
    sdpa = create_model("deit_tiny", "sdpa", img_size=64)
    sdpa.load_state_dict(eager.state_dict())
    images = torch.randn(3, 3, 64, 64)
    with torch.inference_mode():
        with count_sdpa_calls() as eager_calls:
            a = eager.forward_features(images)
        with count_sdpa_calls() as sdpa_calls:
            b = sdpa.forward_features(images)
    assert eager_calls["calls"] == 0
    assert sdpa_calls["calls"] == 12  # one per block
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_a_timm_that_ignores_the_switch_is_refused(monkeypatch):
    monkeypatch.setattr(deit_module, "_verified", set())
    monkeypatch.setattr(deit_module, "set_attention", lambda model, variant: None)  # switch has no effect
    import timm.layers

    default_is_fused = timm.layers.use_fused_attn()
    wrong = "eager" if default_is_fused else "sdpa"
    with pytest.raises(RuntimeError, match="ignored fused_attn"):
        create_model("deit_tiny", wrong, img_size=32)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="allowed: eager, sdpa"):
        create_model("deit_tiny", "flash", img_size=32)
