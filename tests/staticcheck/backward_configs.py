"""mamba_triton's backward kernels (add + RMSNorm, causal conv1d, the fused bidirectional
conv1d) as static-check configurations: the default launch shapes of `add_rmsnorm_bwd` /
`causal_conv1d_bwd` / `bidirectional_conv1d_bwd` at a Vim-Ti block (D = 192, E = 384, L = 6085, batch 128) on an H100.  No GPU run has timed
them yet: this only proves they compile for sm_90 and fit in registers."""

import triton.language as tl
from mamba_triton.add_rmsnorm.backward import _add_rmsnorm_bwd_kernel
from mamba_triton.add_rmsnorm.backward import _default_block_m as norm_block_m
from mamba_triton.causal_conv1d.backward import _conv1d_bwd_kernel

from vimbench.staticcheck import KernelConfig, Pointer

L, D, E = 6085, 192, 384


def _norm(hidden):
    row = L * D
    return KernelConfig(
        name=f"add_rmsnorm_bwd/{hidden}",
        kernel=_add_rmsnorm_bwd_kernel,
        args=dict(p_r=Pointer("fp32"), p_w=Pointer("fp32"), p_dout=Pointer(hidden), p_dres_out=Pointer("fp32"),
                  p_dx=Pointer(hidden), p_dres=Pointer("fp32"), p_dw_part=Pointer("fp32"),
                  n_rows=128 * L, L=L, D=D, eps=1e-5, n_progs=528,
                  s_rb=row, s_rl=D, s_rd=1, s_gb=row, s_gl=D, s_gd=1, s_hb=row, s_hl=D, s_hd=1),
        constexprs=dict(HAS_DRES_OUT=True, STORE_DRES=True, ACC=tl.float32, BLOCK_M=norm_block_m(256), BLOCK_D=256),
    )


def _conv(x, silu, channels_last, bidir=False):
    # the kernel's (batch, L, E) views: x as the x half of in_proj's (batch, L, 2E) output
    # (channels last) or of a (batch, E, L) tensor; dy and dx (batch, L, E) in the same order
    sx = (L * 2 * E, 2 * E, 1) if channels_last else (E * L, 1, L)
    sy = (L * E, E, 1) if channels_last else (L * E, 1, L)
    bl, be = (8, 64) if channels_last else (32, 16)  # the launcher's defaults
    if bidir:
        bl //= 2
    kind = "bidirectional_conv1d_bwd" if bidir else "causal_conv1d_bwd"
    return KernelConfig(
        name=f"{kind}/{x}-{'silu' if silu else 'linear'}-{'bld' if channels_last else 'bdl'}",
        kernel=_conv1d_bwd_kernel,
        args=dict(p_x=Pointer(x), p_w=Pointer("fp32"), p_bias=Pointer("fp32"), p_dy=Pointer(x),
                  p_wb=Pointer("fp32"), p_bias_b=Pointer("fp32"), p_dyb=Pointer(x), p_dx=Pointer(x),
                  p_dwb_part=Pointer("fp32"), L=L, E=E, tiles=191, s_xb=sx[0], s_xl=sx[1], s_xe=sx[2],
                  s_we=4, s_wk=1, s_wbe=4, s_wbk=1, s_yb=sy[0], s_yl=sy[1], s_ye=sy[2],
                  s_ybb=sy[0], s_ybl=sy[1], s_ybe=sy[2], s_db=sy[0], s_dl=sy[1], s_de=sy[2]),
        constexprs=dict(HAS_BIAS=True, HAS_BIAS_B=bidir, BIDIR=bidir, SILU=silu, ACC=tl.float32,
                        BLOCK_L=bl, BLOCK_E=be),
    )


STATIC_CONFIGS = [_norm("bf16"), _conv("bf16", True, True), _conv("bf16", True, False), _conv("fp32", False, True),
                  _conv("bf16", True, True, bidir=True), _conv("bf16", True, False, bidir=True)]
