"""DeiT from timm: any resolution, and the attention variant really chooses the kernel."""

import contextlib

import pytest
import torch

from vimbench.models import create_model, get_model_spec
from vimbench.models import deit as deit_module
from vimbench.models.deit import (
    ATTENTION_VARIANTS,
    FORCED_BACKENDS,
    SDPABackendUnavailable,
    classify_sdpa_backend,
    count_sdpa_calls,
    enabled_sdpa_backends,
    observed_sdpa_backend,
)
from vimbench.runner import CellJob, run_cell
from vimbench.suite import Cell
from vimbench.timing import TimingSettings

ALL_VARIANTS = ("eager", "sdpa", "sdpa-flash", "sdpa-cudnn", "sdpa-efficient", "sdpa-math")
CPU_VARIANTS = ("sdpa", "sdpa-flash", "sdpa-math")        # SDPA variants a CPU can run
GPU_ONLY_VARIANTS = ("sdpa-cudnn", "sdpa-efficient")      # a CPU has no such backend


def _timm_model(model):
    """The timm model inside a forced-backend wrapper (or the model itself)."""
    return getattr(model, "model", model)


@pytest.mark.parametrize("name,dim", [("deit_tiny", 192), ("deit_small", 384)])
def test_registered_and_feature_shape_at_odd_resolution(name, dim):
    spec = get_model_spec(name)
    assert (spec.family, spec.variant_kind, spec.variants, spec.default_variant) == (
        "deit", "attention", ALL_VARIANTS, "sdpa")
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


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)], ids=["fp64", "fp32"])
@pytest.mark.parametrize("variant", CPU_VARIANTS)
def test_every_cpu_runnable_variant_matches_eager(variant, dtype, tol):
    eager = create_model("deit_tiny", "eager", img_size=80).to(dtype)
    model = create_model("deit_tiny", variant, img_size=80).to(dtype)
    _timm_model(model).load_state_dict(eager.state_dict())
    images = torch.randn(3, 3, 80, 80, dtype=dtype)  # 26 tokens: not a power of two
    with torch.inference_mode():
        expected = eager.forward_features(images)
        features = model.forward_features(images)
    assert features.dtype == dtype
    torch.testing.assert_close(features, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("variant", tuple(FORCED_BACKENDS))
def test_forced_backend_is_the_only_one_enabled_inside_every_sdpa_call(variant):
    model = create_model("deit_tiny", variant, img_size=48)
    before = enabled_sdpa_backends()
    with torch.inference_mode(), count_sdpa_calls(run_on_math=True) as counter:
        model.forward_features(torch.randn(2, 3, 48, 48))
    assert counter["calls"] == 12
    assert counter["enabled"] == [(FORCED_BACKENDS[variant],)] * 12
    assert enabled_sdpa_backends() == before  # restored after the call


def test_plain_sdpa_leaves_the_choice_to_pytorch():
    model = create_model("deit_tiny", "sdpa", img_size=48)
    default = enabled_sdpa_backends()
    assert len(default) > 1
    with torch.inference_mode(), count_sdpa_calls() as counter:
        model.forward_features(torch.randn(1, 3, 48, 48))
    assert counter["enabled"] == [default] * 12


@pytest.mark.parametrize("variant", GPU_ONLY_VARIANTS)
def test_a_gpu_only_backend_on_cpu_fails_naming_variant_backend_and_the_allowed_variants(variant):
    model = create_model("deit_tiny", variant, img_size=32)
    with pytest.raises(SDPABackendUnavailable) as info, torch.inference_mode():
        model.forward_features(torch.randn(1, 3, 32, 32))
    message = str(info.value)
    backend = FORCED_BACKENDS[variant]
    assert f"attention variant {variant!r} forces the SDPA backend {backend!r}" in message
    assert "float32 images on cpu, no autocast" in message
    assert "No viable backend" in message or "No available kernel" in message  # torch's own reason
    assert "allowed variants: " + ", ".join(ALL_VARIANTS) in message
    assert isinstance(info.value.__cause__, RuntimeError)


def test_other_errors_inside_a_forced_forward_pass_through_unchanged():
    model = create_model("deit_tiny", "sdpa-math", img_size=32)
    with pytest.raises(RuntimeError) as info, torch.inference_mode():
        model.forward_features(torch.randn(1, 4, 32, 32))  # 4 channels: the patch conv refuses
    assert not isinstance(info.value, SDPABackendUnavailable)


def test_under_torch_compile_the_restriction_is_part_of_the_traced_graph():
    """Dynamo keeps sdpa_kernel inside the graph: math stays math (no CPU flash operator,
    which plain sdpa picks here), flash stays flash, and cudnn still fails clearly."""
    images = torch.randn(2, 3, 32, 32)
    seen = {}
    for variant in ("sdpa", "sdpa-flash", "sdpa-math", "sdpa-cudnn"):
        torch._dynamo.reset()
        model = create_model("deit_tiny", variant, img_size=32)
        compiled = torch.compile(model.forward_features, backend="aot_eager")  # dynamo + AOT, no codegen
        with torch.inference_mode():
            if variant == "sdpa-cudnn":
                with pytest.raises(SDPABackendUnavailable, match="'sdpa-cudnn' forces the SDPA backend 'cudnn'.*"
                                                                 "No viable backend"):
                    compiled(images)
                continue
            compiled(images)
            seen[variant] = observed_sdpa_backend(lambda: compiled(images))
    torch._dynamo.reset()
    assert seen["sdpa"] == "flash" and seen["sdpa-flash"] == "flash"
    assert seen["sdpa-math"] == "unknown"  # decomposed: no fused operator, and no CUDA kernels to see


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_one_block_verification_passes_for_every_variant(monkeypatch, variant):
    monkeypatch.setattr(deit_module, "_verified", set())
    deit_module.verify_attention_switch("deit_tiny_patch16_224", variant)
    assert deit_module._verified == {("deit_tiny_patch16_224", variant)}


def test_a_timm_that_ignores_the_switch_is_refused(monkeypatch):
    monkeypatch.setattr(deit_module, "_verified", set())
    monkeypatch.setattr(deit_module, "set_attention", lambda model, variant: None)  # switch has no effect
    import timm.layers

    default_is_fused = timm.layers.use_fused_attn()
    wrong = "eager" if default_is_fused else "sdpa"
    with pytest.raises(RuntimeError, match="ignored fused_attn"):
        create_model("deit_tiny", wrong, img_size=32)


def test_a_torch_that_ignores_sdpa_kernel_is_refused(monkeypatch):
    monkeypatch.setattr(deit_module, "_verified", set())
    monkeypatch.setattr(deit_module, "sdpa_kernel", lambda backends: contextlib.nullcontext())
    with pytest.raises(RuntimeError, match=r"ignored sdpa_kernel.*'sdpa-cudnn'.*expected only 'cudnn'"):
        create_model("deit_tiny", "sdpa-cudnn", img_size=32)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="allowed: " + ", ".join(ATTENTION_VARIANTS)):
        create_model("deit_tiny", "flash", img_size=32)


# --- which backend ran -------------------------------------------------------------------------

CUDNN_KERNEL = "cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_3_64x64x128_4x1x1_kernel0_0"
FLASH_KERNEL = ("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 128, 4, false, false, "
                "cutlass::half_t, Flash_kernel_traits<64, 128, 128, 4, cutlass::half_t> >, false, false, false, "
                "false, true, true, false, false>(pytorch_flash::Flash_fwd_params)")
EFFICIENT_KERNEL = ("fmha_cutlassF_f16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<cutlass::half_t, "
                    "cutlass::arch::Sm80, true, 64, 64, 64, true, true>::Params)")
GEMM_KERNEL = "sm90_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off"
SOFTMAX_KERNEL = ("void (anonymous namespace)::cunn_SoftMaxForward<4, float, float, float, Epilogue>"
                  "(float*, float const*, int)")
CONV_KERNEL = "void cudnn::engines_precompiled::nchwToNhwcKernel<__half, __half, float, false, true, 0>(...)"


@pytest.mark.parametrize("operators,kernels,expected", [
    (["aten::scaled_dot_product_attention", "aten::_scaled_dot_product_cudnn_attention"], [CUDNN_KERNEL], "cudnn"),
    (["aten::_scaled_dot_product_flash_attention"], [FLASH_KERNEL], "flash"),
    (["aten::_scaled_dot_product_flash_attention_for_cpu"], [], "flash"),
    (["aten::_scaled_dot_product_efficient_attention"], [EFFICIENT_KERNEL], "efficient"),
    (["aten::_scaled_dot_product_attention_math", "aten::bmm", "aten::_softmax"], [GEMM_KERNEL], "math"),
    ([], [CONV_KERNEL, GEMM_KERNEL, CUDNN_KERNEL], "cudnn"),     # a CUDA graph replay: kernels only
    ([], [CONV_KERNEL, FLASH_KERNEL], "flash"),
    ([], [EFFICIENT_KERNEL], "efficient"),
    ([], [CONV_KERNEL, GEMM_KERNEL, SOFTMAX_KERNEL], "math"),      # kernels ran, none a fused attention
    (["aten::addmm", "cudaGraphLaunch"], [], "unknown"),              # no evidence either way
    (["aten::_scaled_dot_product_flash_attention", "aten::_scaled_dot_product_cudnn_attention"], [], "cudnn+flash"),
], ids=["cudnn", "flash", "cpu-flash", "efficient", "math", "graph-cudnn", "graph-flash", "graph-efficient",
        "graph-math", "nothing", "mixed"])
def test_classify_sdpa_backend(operators, kernels, expected):
    assert classify_sdpa_backend(operators, kernels) == expected


# --- the row records it --------------------------------------------------------------------------

FAST = TimingSettings(warmup_min_iters=1, warmup_min_s=0.0, iters=2)


def _deit_row(variant: str, exec_mode: str = "eager"):
    cell = Cell("deit_tiny", variant, 32, 2, "fp32", exec_mode=exec_mode)
    return run_cell(CellJob(cell=cell, suite="test", device="cpu", timing=FAST))


@pytest.mark.parametrize("variant,backend", [("eager", "explicit softmax"), ("sdpa", "flash"),
                                             ("sdpa-flash", "flash"), ("sdpa-math", "math")])
def test_row_records_the_attention_backend_that_ran(variant, backend):
    row = _deit_row(variant)
    assert row.status == "ok", row.error
    assert (row.variant, row.attention, row.attention_backend) == (variant, variant, backend)
    assert row.n_samples == 2  # the probe of plain sdpa is not a timed sample


@pytest.mark.parametrize("exec_mode,phase", [("eager", "first call"), ("compile", "exec_mode setup")])
def test_a_backend_that_cannot_run_is_an_error_row_that_says_why(exec_mode, phase):
    row = _deit_row("sdpa-efficient", exec_mode)
    torch._dynamo.reset()
    assert row.status == "error"
    first_line = row.error.splitlines()[0]
    assert first_line.startswith(f"{phase}: SDPABackendUnavailable: attention variant 'sdpa-efficient' forces "
                                 "the SDPA backend 'efficient'")
    assert "allowed variants: eager, sdpa, sdpa-flash, sdpa-cudnn, sdpa-efficient, sdpa-math" in first_line
    assert row.attention_backend is None and row.images_per_s is None


def test_vim_rows_have_no_attention_backend():
    assert get_model_spec("vim_tiny").attention_backend is None


# --- on a GPU: the classifier against real kernels, in eager and CUDA-graph replay ----------------

@pytest.mark.gpu
@pytest.mark.parametrize("variant", tuple(FORCED_BACKENDS))
def test_gpu_forced_backend_is_what_the_profiler_sees(variant):
    from vimbench.exec_modes import prepare

    model = create_model("deit_tiny", variant, img_size=64).cuda().half()
    images = torch.randn(4, 3, 64, 64, device="cuda", dtype=torch.half)
    backend = FORCED_BACKENDS[variant]
    with torch.inference_mode():
        for exec_mode in ("eager", "cuda_graph"):
            run, _ = prepare(model.forward_features, images, exec_mode)
            assert observed_sdpa_backend(lambda: run(images)) == backend, exec_mode


@pytest.mark.gpu
def test_gpu_plain_sdpa_backend_is_named():
    model = create_model("deit_tiny", "sdpa", img_size=64).cuda().half()
    images = torch.randn(4, 3, 64, 64, device="cuda", dtype=torch.half)
    with torch.inference_mode():
        assert observed_sdpa_backend(lambda: model.forward_features(images)) in ("flash", "cudnn", "efficient")
