"""The kernel/operator -> category rule table, on names as the profiler really reports them."""

import pytest

from vimbench.profile.categories import CATEGORIES, RULES, categorize, rule_table_markdown

# (kernel or operator name, launch context innermost first, expected category)
CASES = [
    # selective scan: our Triton kernels, mamba_ssm's, and anything inside a scan range
    ("_selective_scan_fwd_kernel", (), "scan"),
    ("_bidirectional_scan_kernel", (), "scan"),
    ("_carry_kernel", (), "scan"),  # the chunked scan's carry pass
    ("void selective_scan_fwd_kernel<Selective_Scan_fwd_kernel_traits<32, 4, true, true, true, at::Half>>(SSMParamsBase)",
     ("aten::empty",), "scan"),
    ("aten::bmm", ("aten::bmm", "aten::einsum", "vimbench:selective_scan", "module:BiMambaV2Mixer"), "scan"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::exp_kernel_cuda>",
     ("aten::exp", "vimbench:selective_scan"), "scan"),
    # causal conv1d
    ("_bidir_conv1d_silu_kernel", (), "causal_conv"),
    ("void causal_conv1d_fwd_kernel<Causal_conv1d_fwd_kernel_traits<128, 4, true, at::Half>>", (), "causal_conv"),
    ("void at::native::conv_depthwise2d_forward_kernel<4, c10::Half, int>", ("aten::_conv_depthwise2d",), "causal_conv"),
    ("sm90_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc_tilesize128x64x64",
     ("aten::cudnn_convolution", "aten::_convolution", "aten::convolution", "aten::conv1d"), "causal_conv"),
    ("aten::mkldnn_convolution", ("aten::mkldnn_convolution", "aten::_convolution", "aten::conv1d"), "causal_conv"),
    # linear / GEMM (cuBLASLt on Hopper is "nvjet"), the patch-embedding conv included
    ("nvjet_tst_192x128_64x4_1x2_h_bz_coopB_TNN", ("aten::addmm", "aten::linear", "module:Linear"), "gemm"),
    ("sm90_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas",
     ("aten::mm",), "gemm"),
    ("void cutlass::Kernel2<cutlass_80_tensorop_f16_s16816gemm_relu_f16_256x128_32x3_nn_align8>", (), "gemm"),
    ("ampere_fp16_s16816gemm_fp16_128x128_ldg8_f2f_stages_32x5_nn", (), "gemm"),
    ("sm90_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc",
     ("aten::cudnn_convolution", "aten::_convolution", "aten::convolution", "aten::conv2d", "module:Conv2d"), "gemm"),
    ("aten::addmm", ("aten::addmm", "aten::linear", "module:Linear", "module:Mlp"), "gemm"),
    # attention: fused (SDPA) and eager (bmm + softmax), and the attention module's own copies
    ("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<64, 128, 128, 4, false, false, cutlass::half_t>>",
     ("aten::_flash_attention_forward",), "attention"),
    ("fmha_cutlassF_f16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<cutlass::half_t>::Params)",
     ("aten::_efficient_attention_forward",), "attention"),
    ("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_3_64x64x128_4x1x1_kernel0_0", (), "attention"),
    ("void (anonymous namespace)::cunn_SoftMaxForward<4, float, float, float, Epilogue>", ("aten::_softmax",), "attention"),
    ("sm90_xmma_gemm_f16f16_f16f32_f32_nn_n_tilesize128x128x64", ("aten::bmm", "aten::matmul", "module:Attention"),
     "attention"),
    ("void at::native::unrolled_elementwise_kernel<at::native::direct_copy_kernel_cuda>",
     ("aten::copy_", "aten::_to_copy", "aten::to", "aten::matmul", "module:Attention"), "attention"),
    ("aten::_scaled_dot_product_flash_attention_for_cpu", ("aten::scaled_dot_product_attention",), "attention"),
    # norm: named kernels, a norm operator, and everything inside a norm module
    ("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<c10::Half, float>",
     ("aten::native_layer_norm",), "norm"),
    ("_add_rmsnorm_kernel", (), "norm"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::rsqrt_kernel_cuda>",
     ("aten::rsqrt", "module:RMSNorm", "module:VimBlock"), "norm"),
    ("aten::native_layer_norm", ("aten::native_layer_norm", "aten::layer_norm", "module:LayerNorm"), "norm"),
    # elementwise / reductions
    ("void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl>", ("aten::gelu",),
     "elementwise"),
    ("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MeanOps<float, float>>>",
     ("aten::mean",), "elementwise"),
    ("void at::native::elementwise_kernel<128, 2, at::native::gpu_kernel_impl_nocast<at::native::silu_kernel>>",
     ("aten::silu",), "elementwise"),
    ("aten::add", ("aten::add", "module:VimBlock"), "elementwise"),
    # memory copies: memcpy/memset, casts (a weight cast under a linear too), cat, flip
    ("Memcpy DtoD (Device -> Device)", ("aten::copy_",), "memcpy"),
    ("Memset (Device)", (), "memcpy"),
    ("void at::native::unrolled_elementwise_kernel<at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)>",
     ("aten::copy_", "aten::_to_copy", "aten::to", "aten::linear", "module:Linear", "module:Attention"), "memcpy"),
    ("void at::native::(anonymous namespace)::CatArrayBatchedCopy<at::native::OpaqueType<2u>, unsigned int, 3, 128, 1>",
     ("aten::cat",), "memcpy"),
    ("aten::copy_", ("aten::copy_", "aten::contiguous"), "memcpy"),
    # unknown -> other
    ("void some_library::mystery_kernel<17>", (), "other"),
    ("aten::empty", ("aten::empty",), "other"),
]


@pytest.mark.parametrize("name,context,expected", CASES, ids=[f"{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_categorize(name, context, expected):
    assert categorize(name, context) == expected


def test_every_category_is_exercised():
    assert {c[2] for c in CASES} == set(CATEGORIES)


def test_rules_only_use_known_categories_and_render():
    assert {rule.category for rule in RULES} <= set(CATEGORIES)
    table = rule_table_markdown()
    assert table.count("\n") == len(RULES) + 1
    for category in CATEGORIES:
        if category != "other":
            assert f"| {category} |" in table


def test_name_match_is_case_insensitive_and_context_needs_full_entry():
    assert categorize("FLASH_FWD_KERNEL") == "attention"
    # "aten::bmm_out_helper" is not "aten::bmm": context patterns match whole entries
    assert categorize("mystery", ("aten::bmm_out_helper",)) == "other"
    assert categorize("mystery", ("aten::bmm",)) == "attention"
