"""Which part of the model a profiled kernel (GPU) or operator (CPU) belongs to.

One ordered rule table, first match wins.  A rule looks at the kernel's own name (a CUDA
kernel such as `nvjet_tst_128x64_...` or `flash_fwd_kernel`, or on the CPU an operator
such as `aten::addmm`) and/or at its *context*: the names of the operators and module
ranges that launched it, innermost first (`aten::addmm`, `aten::linear`,
`module:Linear`, `module:Attention`, ...).  The context is what tells a cuBLAS gemm inside
eager attention (`aten::bmm`) from one inside an MLP, or the plain elementwise kernels of a
hand-written RMSNorm from any other multiply.

Order matters: first the semantic modules (scan, attention, norm: their casts and layout
copies are their cost), then copies (a weight cast under `aten::linear` is a copy, not a
matmul), named kernels before operator-context rules, and `other` catches the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Categories in display order (bottom to top of a stacked bar), with their labels.
CATEGORIES: dict[str, str] = {
    "scan": "selective scan",
    "causal_conv": "causal conv1d",
    "gemm": "linear / GEMM",
    "attention": "attention",
    "norm": "norm",
    "elementwise": "elementwise / reductions",
    "memcpy": "memory copies",
    "other": "other",
}


@dataclass(frozen=True)
class Rule:
    category: str
    name: str | None = None      # regex searched in the kernel/operator name
    context: str | None = None   # regex matched against each context entry (full match)
    unless_context: str | None = None  # ...and no context entry matches this one
    why: str = ""

    def matches(self, name: str, context: Sequence[str]) -> bool:
        if self.name is not None and not re.search(self.name, name, flags=re.IGNORECASE):
            return False
        if self.context is not None and not _any_full_match(self.context, context):
            return False
        return self.unless_context is None or not _any_full_match(self.unless_context, context)


def _any_full_match(pattern: str, entries: Sequence[str]) -> bool:
    compiled = re.compile(pattern, flags=re.IGNORECASE)
    return any(compiled.fullmatch(entry) for entry in entries)


_ELEMENTWISE_OPS = (r"add_?|sub_?|mul_?|div_?|neg|exp|exp2|log|pow|rsqrt|sqrt|sigmoid|tanh|silu_?|gelu|"
                    r"softplus|relu_?|clamp_?|where|fill_|zero_|masked_fill_?|sum|mean|amax|max|min|"
                    r"cumsum|reciprocal|abs|square")

RULES: tuple[Rule, ...] = (
    # Modules that are one idea each: everything they run (their casts and layout copies
    # included) is their cost.  Linear layers inside them are excluded: a projection is a GEMM.
    Rule("scan", context=r".*(selective_scan|bidirectional_scan|SelectiveScan).*",
         why="anything run inside a scan range or module (e.g. the torch backend's loop)"),
    Rule("attention", context=r"module:\w*Attention\w*", unless_context=r"aten::(linear|addmm)|module:Linear",
         why="the attention module's own work (not its qkv/proj linears)"),
    Rule("norm", context=r"module:\w*(RMSNorm|RmsNorm|LayerNorm)\w*",
         why="a norm module's own work (a hand-written RMSNorm is elementwise kernels)"),
    Rule("memcpy", name=r"memcpy|memset|direct_copy_kernel|copy_kernel|"
                        r"CatArrayBatchedCopy|flip_kernel|^aten::(copy_|clone|contiguous|cat|stack|flip|"
                        r"_to_copy|to|index_select|roll)$",
         why="data movement: copies, casts, concatenation, flips"),
    Rule("causal_conv", name=r"causal_conv|conv1d|conv_depthwise|depthwise",
         why="named conv1d kernels (ours, ATen's depthwise, causal_conv1d)"),
    Rule("norm", name=r"layer_?norm|rms_?norm|group_?norm|batch_?norm",
         why="named norm kernels, fused add+norm included"),
    Rule("scan", name=r"selective_scan|bidirectional|ssm_scan|chunk_scan|mamba.*scan|^_carry_kernel$",
         why="our Triton scan kernels and mamba_ssm's"),
    Rule("attention", name=r"flash|fmha|efficient_attention|attention|softmax|sdpa",
         why="fused attention kernels and the eager softmax"),
    Rule("attention", context=r"aten::(bmm|baddbmm|_?softmax|_?scaled_dot_product\w*|_efficient_attention\w*|"
                              r"_flash_attention\w*)",
         why="eager attention's batched matmuls and softmax"),
    Rule("norm", context=r"aten::(native_)?(layer|rms|group|batch)_norm|aten::_fused_rms_norm",
         why="the kernels of a norm operator"),
    Rule("causal_conv", context=r"aten::conv1d|aten::_conv_depthwise2d|module:Conv1d|.*causal_conv.*",
         why="cuDNN kernels under a conv1d"),
    Rule("gemm", name=r"gemm|gemv|cutlass|cublas|xmma|nvjet|wgmma|hmma|^aten::(mm|addmm|matmul|linear|"
                      r"_addmm_activation|mkldnn_convolution|convolution|_convolution|conv2d)$",
         why="cuBLAS/cuBLASLt/CUTLASS matmul kernels (and the CPU matmul/conv operators)"),
    Rule("gemm", context=r"aten::(mm|addmm|matmul|linear|conv2d|convolution|_convolution|cudnn_convolution)|"
                         r"module:(Linear|Conv2d)",
         why="anything else launched by a linear or the patch-embedding conv (an implicit GEMM)"),
    Rule("elementwise", name=r"elementwise|vectorized|unrolled|reduce_kernel|reduce|silu|gelu|softplus|"
                             rf"triton_poi|triton_red|^aten::({_ELEMENTWISE_OPS})$",
         why="pointwise and reduction kernels"),
)


def categorize(name: str, context: Sequence[str] = ()) -> str:
    """The category of one kernel (GPU) or operator (CPU); `other` when no rule applies."""
    for rule in RULES:
        if rule.matches(name, context):
            return rule.category
    return "other"


def rule_table_markdown() -> str:
    """The rule table as markdown, for the report (so a reader can check a surprising share)."""
    def code(pattern):
        return f"`{pattern}`".replace("|", "\\|") if pattern else ""

    lines = ["| # | category | kernel/op name matches | and context matches | unless context matches | why |",
             "|---|---|---|---|---|---|"]
    for i, rule in enumerate(RULES, start=1):
        lines.append(f"| {i} | {rule.category} | {code(rule.name)} | {code(rule.context)} | "
                     f"{code(rule.unless_context)} | {rule.why} |")
    return "\n".join(lines)
