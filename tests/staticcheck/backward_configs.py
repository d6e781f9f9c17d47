"""mamba_triton's backward kernels (add + RMSNorm, causal conv1d, the fused bidirectional
conv1d) as static-check configurations: the default launch shapes of `add_rmsnorm_bwd` /
`causal_conv1d_bwd` / `bidirectional_conv1d_bwd` at a Vim-Ti block (D = 192, E = 384, L = 6085, batch 128) on an H100.  No GPU run has timed
them yet: this only proves they compile for sm_90 and fit in registers.

Plus the selective scan's backward (`_checkpoints_kernel`, `_scan_bwd_kernel`) as
`selective_scan_bwd` launches them for one Vim-Ti training step at 224 px, batch 64
(E = 384, L = 197, N = 16, R = 12), one config per scan direction."""

import triton.language as tl
from mamba_triton.add_rmsnorm.backward import _add_rmsnorm_bwd_kernel
from mamba_triton.add_rmsnorm.backward import _default_block_m as norm_block_m
from mamba_triton.causal_conv1d.backward import _conv1d_bwd_kernel, _conv1d_bwd_seq_kernel
from mamba_triton.selective_scan.backward import _checkpoints_kernel, _scan_bwd_kernel, default_tiling

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
    # the launcher's defaults: channels dense, one channel a thread walking 32 tokens
    # (_conv1d_bwd_seq_kernel, 4 warps: 128 channels; its loop does one token of them);
    # tokens dense, [32 (16 for both directions), 16] tiles (_conv1d_bwd_kernel)
    if channels_last:
        kernel, tiles, blocks, elements = _conv1d_bwd_seq_kernel, 32, dict(BLOCK_E=128), 128
    else:
        kernel, tiles, blocks, elements = _conv1d_bwd_kernel, 191, dict(BLOCK_L=16 if bidir else 32, BLOCK_E=16), None
    kind = "bidirectional_conv1d_bwd" if bidir else "causal_conv1d_bwd"
    return KernelConfig(
        name=f"{kind}/{x}-{'silu' if silu else 'linear'}-{'bld' if channels_last else 'bdl'}",
        kernel=kernel,
        args=dict(p_x=Pointer(x), p_w=Pointer("fp32"), p_bias=Pointer("fp32"), p_dy=Pointer(x),
                  p_wb=Pointer("fp32"), p_bias_b=Pointer("fp32"), p_dyb=Pointer(x), p_dx=Pointer(x),
                  p_dwb_part=Pointer("fp32"), L=L, E=E, **{"chunk" if channels_last else "tiles": tiles},
                  s_xb=sx[0], s_xl=sx[1], s_xe=sx[2],
                  s_we=4, s_wk=1, s_wbe=4, s_wbk=1, s_yb=sy[0], s_yl=sy[1], s_ye=sy[2],
                  s_ybb=sy[0], s_ybl=sy[1], s_ybe=sy[2], s_db=sy[0], s_dl=sy[1], s_de=sy[2]),
        constexprs=dict(HAS_BIAS=True, HAS_BIAS_B=bidir, BIDIR=bidir, SILU=silu, ACC=tl.float32, **blocks),
        elements_per_iteration=elements,
    )


# Vim-Ti training at 224 px, batch 64: what the mixer (vimbench/models/vim_mixer.py) hands
# bidirectional_scan_train_fn and its backward (selective_scan/autograd.py) hands
# selective_scan_bwd, per direction:
#   u, dout   bf16 (batch, E, L) views of (batch, L, E) tensors: strides (L E, 1, E)
#   z         bf16, the z half of in_proj's (batch, L, 2E) output: (2 L E, 1, 2E)
#   B, C      bf16, columns R:R+N and R+N:R+2N of x_proj's (batch, L, 48) output (R + 2N = 44
#             padded to 48): strides (48 L, 1, 48), offsets 24 and 56 bytes, so not 16-byte aligned
#   delta     fp32: _full_delta's W @ dt_low, (batch, L, E) memory: strides (L E, 1, E);
#             ddelta (empty_like) the same
#   du, dz    empty_like(u) / empty_like(z): dense (batch, L, E) order, strides (L E, 1, E)
#   A (E, N), D, delta_bias fp32; hs (batch, n_groups, N, E) and dB/dC partials
#   (batch, E / BLOCK_D, N, L), dA/dD/dbias partials fp32
# with the launcher's default tiling (selective_scan/backward.py: default_tiling) and the
# bidirectional backward's scale 1/2.
TB, TL, TN, TR, TW = 64, 197, 16, 12, 48  # batch, L, N, dt_rank, x_proj row width
SCAN_T, SCAN_BD, SCAN_WARPS = default_tiling(TB, E, TL, TN)
N_GROUPS = -(-TL // SCAN_T)


def _scan_common(reverse):
    bf, f32, bc = Pointer("bf16"), Pointer("fp32"), Pointer("bf16", aligned=False)
    s_u = dict(s_ub=TL * E, s_ud=1, s_ul=E)
    s_delta = dict(s_db=TL * E, s_dd=1, s_dl=E)
    args = dict(u_ptr=bf, delta_ptr=f32, A_ptr=f32, B_ptr=bc, bias_ptr=f32, hs_ptr=f32, state_ptr=f32, L=TL, dim=E,
                n_groups=N_GROUPS, groups_per_seg=N_GROUPS, n_seg=1, **s_u, **s_delta, s_Ad=TN, s_An=1, s_Bb=TL * TW, s_Bn=1, s_Bl=TW,
                s_hb=N_GROUPS * TN * E, s_hg=TN * E)
    constexprs = dict(N=TN, NP=TN, T=SCAN_T, LOG_TNP=(SCAN_T * TN).bit_length() - 1, BLOCK_D=SCAN_BD,
                      HAS_BIAS=True, SOFTPLUS=True, REVERSE=reverse, ACC=tl.float32, FAST=True, SEGMENTS=False)
    return args, constexprs


# the hot loop is the group loop: T steps of every state of BLOCK_D channels
SCAN_ELEMENTS = SCAN_T * SCAN_BD * TN


def _checkpoints(reverse):
    args, constexprs = _scan_common(reverse)
    return KernelConfig(
        name=f"selective_scan_bwd/checkpoints-{'rev' if reverse else 'fwd'}", kernel=_checkpoints_kernel,
        args=args, constexprs=constexprs, num_warps=SCAN_WARPS, elements_per_iteration=SCAN_ELEMENTS,
    )


def _scan_bwd(reverse):
    args, constexprs = _scan_common(reverse)
    bf, f32, bc = Pointer("bf16"), Pointer("fp32"), Pointer("bf16", aligned=False)
    n_dblk = E // SCAN_BD
    args.pop("state_ptr")
    args.update(
        C_ptr=bc, D_ptr=f32, z_ptr=bf, dout_ptr=bf, adj_ptr=f32, du_ptr=bf, ddelta_ptr=f32, dz_ptr=bf, dB_ptr=f32, dC_ptr=f32,
        dA_ptr=f32, dD_ptr=f32, dbias_ptr=f32, scale=0.5, s_Cb=TL * TW, s_Cn=1, s_Cl=TW,
        s_zb=2 * TL * E, s_zd=1, s_zl=2 * E, s_gb=TL * E, s_gd=1, s_gl=E,
        s_dub=TL * E, s_dud=1, s_dul=E, s_ddb=TL * E, s_ddd=1, s_ddl=E, s_dzb=TL * E, s_dzd=1, s_dzl=E,
        s_pb=n_dblk * TN * TL, s_pk=TN * TL, s_pn=TL,
    )
    return KernelConfig(
        name=f"selective_scan_bwd/scan_bwd-{'rev' if reverse else 'fwd'}", kernel=_scan_bwd_kernel,
        args=args, constexprs=dict(constexprs, LOG_NP=TN.bit_length() - 1, FOLD=32, HAS_D=True, HAS_Z=True),
        num_warps=SCAN_WARPS, elements_per_iteration=SCAN_ELEMENTS,
    )


STATIC_CONFIGS = [_norm("bf16"), _conv("bf16", True, True), _conv("bf16", True, False), _conv("fp32", False, True),
                  _conv("bf16", True, True, bidir=True), _conv("bf16", True, False, bidir=True),
                  _checkpoints(False), _scan_bwd(False), _checkpoints(True), _scan_bwd(True)]
