"""DeiT-Ti/S/B from timm, random init, at any image size, in six attention variants.

- `eager`: explicit `softmax(q k^T / sqrt(d)) v`, the full N x N attention matrix in memory
  (most likely the paper's DeiT baseline);
- `sdpa` (the default): `torch.nn.functional.scaled_dot_product_attention` with PyTorch
  choosing the backend per call, what a user of timm runs today;
- `sdpa-flash`, `sdpa-cudnn`, `sdpa-efficient`, `sdpa-math`: SDPA restricted to one backend
  (FlashAttention, cuDNN, memory-efficient, the unfused math path), so a sweep can name the
  fastest attention instead of trusting PyTorch's choice.

timm chooses between explicit softmax and SDPA per attention module through its
`fused_attn` attribute, set from a global config at construction; we set it on every module
explicitly.  A forced backend is applied by `ForcedSDPABackend`, a thin module around the
timm model whose `forward_features` (and `forward`) run under
`torch.nn.attention.sdpa_kernel([backend])`: the restriction is part of the timed call in
every execution mode (eager; recorded into a CUDA graph at capture; traced by torch.compile,
whose dynamo turns the context manager into graph nodes).  A backend that cannot run on the
input (cudnn or efficient on a CPU, flash in fp32 on a GPU) raises `SDPABackendUnavailable`,
which names the variant, the backend and the allowed variants.

Once per process and variant, a one-block model at 32 px checks that the installed timm and
torch honour both switches: SDPA is called exactly once for every `sdpa*` variant and never
for `eager`, and inside that call only the forced backend is enabled.  A timm or torch that
changes either switch fails loudly instead of timing the wrong kernel.

Which backend ran is recorded in every DeiT row (`attention_backend`): "explicit softmax"
for `eager`, the forced one for `sdpa-*`, and for `sdpa` what one profiled forward shows
(`observed_sdpa_backend`, run by the harness outside the timed loop).

What gets timed is `forward_features(images)` (the token features after the final norm).
No weights are downloaded: benchmarking speed and memory needs shapes, not training.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from .registry import ModelSpec, register_model

ATTENTION_VARIANTS = ("eager", "sdpa", "sdpa-flash", "sdpa-cudnn", "sdpa-efficient", "sdpa-math")
# Forced variant -> the one SDPA backend it enables (the name recorded as `attention_backend`).
FORCED_BACKENDS = {"sdpa-flash": "flash", "sdpa-cudnn": "cudnn", "sdpa-efficient": "efficient", "sdpa-math": "math"}
SDPA_BACKENDS = ("flash", "cudnn", "efficient", "math")
EXPLICIT_SOFTMAX = "explicit softmax"  # `attention_backend` of the eager variant
UNKNOWN_BACKEND = "unknown"            # a profiled forward showed no evidence either way

_SDP_BACKEND = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
                "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
# torch's "nothing enabled can run this" errors: CUDA (first) and CPU (second) wording.
_NO_KERNEL_MESSAGES = ("No available kernel", "No viable backend")

_TIMM_NAMES = {
    "deit_tiny": "deit_tiny_patch16_224",
    "deit_small": "deit_small_patch16_224",
    "deit_base": "deit_base_patch16_224",
}

_verified: set[tuple[str, str]] = set()


class SDPABackendUnavailable(RuntimeError):
    """A forced SDPA backend cannot run on this input (device, dtype or shape)."""


class ForcedSDPABackend(nn.Module):
    """A timm model whose forwards run with SDPA restricted to the one backend of `variant`.

    Parameters, `.to()`, `.eval()` are the wrapped model's (under `model.` in the state dict).
    """

    def __init__(self, model: nn.Module, variant: str):
        super().__init__()
        if variant not in FORCED_BACKENDS:
            raise ValueError(f"{variant!r} forces no SDPA backend; forcing variants: {', '.join(FORCED_BACKENDS)}")
        self.model = model
        self.variant = variant
        self.backend = FORCED_BACKENDS[variant]
        self.sdp_backend = _SDP_BACKEND[self.backend]

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self._restricted(self.model.forward_features, images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._restricted(self.model, images)

    def _restricted(self, fn, images):
        try:
            with sdpa_kernel([self.sdp_backend]):
                return fn(images)
        except RuntimeError as exc:
            if not any(m in str(exc) for m in _NO_KERNEL_MESSAGES):
                raise
            raise SDPABackendUnavailable(_unavailable_message(self.variant, self.backend, images, exc)) from exc


def _unavailable_message(variant: str, backend: str, images: torch.Tensor, exc: BaseException) -> str:
    device = images.device.type
    dtype = str(images.dtype).removeprefix("torch.")
    autocast = (f"autocast to {str(torch.get_autocast_dtype(device)).removeprefix('torch.')}"
                if torch.is_autocast_enabled(device) else "no autocast")
    reason = _torch_reason(exc)
    return (f"attention variant {variant!r} forces the SDPA backend {backend!r} "
            f"(SDPBackend.{_SDP_BACKEND[backend].name}), which cannot run here "
            f"({dtype} images on {device}, {autocast}): "
            f"torch says {reason!r} (on CUDA its warnings give each backend's reason); "
            f"allowed variants: {', '.join(ATTENTION_VARIANTS)} (`sdpa` lets PyTorch choose)")


def _torch_reason(exc: BaseException) -> str:
    """torch's own sentence, also from inside torch.compile's wrapping ("RuntimeError when
    making fake tensor call ... got RuntimeError('No viable backend ...')")."""
    pattern = re.compile("(" + "|".join(_NO_KERNEL_MESSAGES) + r")[^'\"\n]*")
    seen: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in seen:
        found = pattern.search(str(link))
        if found:
            return found.group(0).strip()
        seen.append(link)
        link = link.__cause__ or link.__context__
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def set_attention(model, variant: str) -> int:
    """Set every timm attention module of `model` to explicit softmax (`eager`) or SDPA
    (every `sdpa*` variant); returns how many were set.  A forced backend is applied by
    wrapping the model in `ForcedSDPABackend`, not here."""
    if variant not in ATTENTION_VARIANTS:
        raise ValueError(f"unknown attention variant {variant!r}; allowed: {', '.join(ATTENTION_VARIANTS)}")
    modules = [m for m in model.modules() if hasattr(m, "fused_attn")]
    if not modules:
        import timm

        raise RuntimeError(f"timm {timm.__version__}: no attention module exposes `fused_attn`; "
                           "vimbench cannot choose the attention kernel with this timm version")
    for module in modules:
        module.fused_attn = variant != "eager"
    return len(modules)


def enabled_sdpa_backends() -> tuple[str, ...]:
    """The SDPA backends enabled right now (set by `sdpa_kernel`; the flags are global, so
    they read the same on a CPU)."""
    flags = {"flash": torch.backends.cuda.flash_sdp_enabled, "cudnn": torch.backends.cuda.cudnn_sdp_enabled,
             "efficient": torch.backends.cuda.mem_efficient_sdp_enabled, "math": torch.backends.cuda.math_sdp_enabled}
    return tuple(name for name in SDPA_BACKENDS if flags[name]())


@contextlib.contextmanager
def count_sdpa_calls(run_on_math: bool = False):
    """Count calls of torch.nn.functional.scaled_dot_product_attention inside the block.

    Yields {"calls": n, "enabled": [enabled_sdpa_backends() at each call]}.  `run_on_math`
    computes each call with the math backend instead, so the routing of a backend that
    cannot run here (cudnn on a CPU) can still be checked.
    """
    import torch.nn.functional as F

    original = F.scaled_dot_product_attention
    counter = {"calls": 0, "enabled": []}

    def counting(*args, **kwargs):
        counter["calls"] += 1
        counter["enabled"].append(enabled_sdpa_backends())
        if run_on_math:
            with sdpa_kernel([SDPBackend.MATH]):
                return original(*args, **kwargs)
        return original(*args, **kwargs)

    F.scaled_dot_product_attention = counting
    try:
        yield counter
    finally:
        F.scaled_dot_product_attention = original


def verify_attention_switch(timm_name: str, variant: str) -> None:
    """Check on a one-block 32 px model that timm and torch run the kernel `variant` asks for."""
    if (timm_name, variant) in _verified:
        return
    import timm

    probe = timm.create_model(timm_name, pretrained=False, img_size=32, depth=1).eval()
    set_attention(probe, variant)
    if variant in FORCED_BACKENDS:
        probe = ForcedSDPABackend(probe, variant)
    with torch.inference_mode(), count_sdpa_calls(run_on_math=True) as counter:
        probe.forward_features(torch.randn(1, 3, 32, 32))
    fused = variant != "eager"
    expected = 1 if fused else 0
    if counter["calls"] != expected:
        raise RuntimeError(f"timm {timm.__version__} ignored fused_attn={fused}: a one-block "
                           f"{timm_name} called scaled_dot_product_attention {counter['calls']} times, "
                           f"expected {expected} for attention variant {variant!r}")
    if variant in FORCED_BACKENDS and counter["enabled"] != [(FORCED_BACKENDS[variant],)]:
        raise RuntimeError(f"torch {torch.__version__} ignored sdpa_kernel: for attention variant {variant!r} "
                           f"the SDPA call of a one-block {timm_name} ran with backends {counter['enabled'][0]} "
                           f"enabled, expected only {FORCED_BACKENDS[variant]!r}")
    _verified.add((timm_name, variant))


# --- which backend ran ---------------------------------------------------------------------

# The aten operator SDPA dispatches to names its backend (CPU events; also under torch.compile,
# which calls the fused operators as extern kernels).  `_scaled_dot_product_flash_attention`
# also matches its CPU kernel, `..._flash_attention_for_cpu`.
_OPERATOR_RULES = (
    (r"_scaled_dot_product_cudnn_attention", "cudnn"),
    (r"_scaled_dot_product_flash_attention", "flash"),
    (r"_scaled_dot_product_efficient_attention", "efficient"),
    (r"_scaled_dot_product_attention_math", "math"),
)
# CUDA kernel names, for when no operator is seen (a CUDA graph replays kernels only).  First
# match wins: cuDNN's kernel names say "flash" too (`cudnn_generated_fort_native_sdpa_sm90_flash_fprop_...`).
_KERNEL_RULES = (
    (r"cudnn.*(sdpa|attn|attention|fmha|flash)", "cudnn"),
    (r"flash", "flash"),
    (r"fmha|mem_?eff|efficient_attention", "efficient"),
)


def classify_sdpa_backend(operator_names: Iterable[str], kernel_names: Iterable[str]) -> str:
    """Name the SDPA backend(s) one profiled forward used, from its operators and CUDA kernels.

    Operators decide when they show one; else kernels.  CUDA kernels without a fused
    attention kernel mean the math path (its matmuls and softmax have no telling name; under
    torch.compile it is not even one operator).  No evidence at all: "unknown".  Several
    backends (blocks of different shapes could differ) are joined: "cudnn+flash".
    """
    kernel_names = list(kernel_names)
    found = _matches(_OPERATOR_RULES, operator_names) or _matches(_KERNEL_RULES, kernel_names)
    if found:
        return "+".join(sorted(found))
    return "math" if kernel_names else UNKNOWN_BACKEND


def _matches(rules, names: Iterable[str]) -> set[str]:
    found = set()
    for name in names:
        for pattern, backend in rules:
            if re.search(pattern, name, flags=re.IGNORECASE):
                found.add(backend)
                break
    return found


def observed_sdpa_backend(forward: Callable[[], object]) -> str:
    """Run `forward()` once under torch.profiler (CPU operators, and CUDA kernels where CUDA
    is present) and name the SDPA backend it used (`classify_sdpa_backend`)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        forward()
        if cuda:
            torch.cuda.synchronize()
    operators, kernels = [], []
    for event in prof.events():
        (kernels if event.device_type == DeviceType.CUDA else operators).append(event.name)
    return classify_sdpa_backend(operators, kernels)


def attention_backend_of(variant: str, forward: Callable[[], object]) -> str:
    """The attention a cell's timed call runs: "explicit softmax" for `eager`, the forced
    backend for `sdpa-*`, and for `sdpa` what one profiled call of `forward` shows."""
    if variant == "eager":
        return EXPLICIT_SOFTMAX
    if variant in FORCED_BACKENDS:
        return FORCED_BACKENDS[variant]
    return observed_sdpa_backend(forward)


# --- building ------------------------------------------------------------------------------

def build_deit(name: str, variant: str, img_size: int):
    import timm

    timm_name = _TIMM_NAMES[name]
    verify_attention_switch(timm_name, variant)
    model = timm.create_model(timm_name, pretrained=False, img_size=img_size)
    set_attention(model, variant)
    if variant in FORCED_BACKENDS:
        model = ForcedSDPABackend(model, variant)
    return model.eval()


def _register(name: str, description: str) -> None:
    register_model(ModelSpec(
        name=name,
        family="deit",
        variant_kind="attention",
        variants=ATTENTION_VARIANTS,
        default_variant="sdpa",
        patch_size=16,
        builder=lambda variant, img_size: build_deit(name, variant, img_size),
        description=description,
        attention_backend=attention_backend_of,
    ))


_register("deit_tiny", "DeiT-Ti (timm deit_tiny_patch16_224: D=192, 12 blocks, 3 heads), random init")
_register("deit_small", "DeiT-S (timm deit_small_patch16_224: D=384, 12 blocks, 6 heads), random init")
_register("deit_base", "DeiT-B (timm deit_base_patch16_224: D=768, 12 blocks, 12 heads), random init")
