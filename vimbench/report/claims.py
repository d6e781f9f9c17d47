"""The verdict on the Vim paper's headline claims at 1248 x 1248.

Zhu et al., "Vision Mamba ...", ICML 2024 (arXiv:2401.09417), abstract and Figure 1:
Vim-Ti is 2.8x faster than DeiT-Ti and saves 86.8% GPU memory in batch inference on
1248 x 1248 images.  The paper's DeiT most likely used plain (eager) attention, so the
verdict is given against DeiT-Ti eager (the paper's condition) and against DeiT-Ti with
fused SDPA attention (what users run today; `sdpa` is PyTorch's own backend choice, the
`sdpa-*` variants pin one backend), for every batch/precision/backend measured.
Where DeiT-Ti ran out of memory, its speed comes from its OOM probes under the rule in
probe_speed.py (flat in batch, else not measured).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vimbench.report.names import MEMORY_METRICS
from vimbench.report.probe_speed import probe_throughput

CLAIM_RESOLUTION = 1248
CLAIM_VIM, CLAIM_DEIT = "vim_tiny", "deit_tiny"
# DeiT-Ti attention variants in reading order, with what each one is.
DEIT_KERNEL_NOTES = {
    "eager": "the paper's condition",
    "sdpa": "fused attention, PyTorch's choice of backend",
    "sdpa-flash": "SDPA, FlashAttention backend",
    "sdpa-cudnn": "SDPA, cuDNN backend",
    "sdpa-efficient": "SDPA, memory-efficient backend",
    "sdpa-math": "SDPA, math backend (unfused)",
}
DEIT_KERNELS = tuple(DEIT_KERNEL_NOTES)
ALWAYS_REPORTED = ("eager", "sdpa")  # claim rows even when absent ("not measured"); the others when measured
# The condition a claim is read at first: the highres suite's batch and precision (the paper states neither).
CLAIM_BATCH, CLAIM_PRECISION = 128, "amp-fp16"

SPEED_CLAIM = 2.8          # x, Vim-Ti images/s over DeiT-Ti images/s
MEMORY_CLAIM = 0.868       # fraction of DeiT-Ti peak memory saved by Vim-Ti
SPEED_TOLERANCE = 0.9      # reproduced if measured ratio >= 0.9 x 2.8 = 2.52x
MEMORY_TOLERANCE = 0.05    # reproduced if measured saving >= 86.8% - 5 points = 81.8%

REPRODUCED, NOT_REPRODUCED, NOT_MEASURED = "reproduced", "not reproduced", "not measured"

RULE = (f"A claim is *reproduced* when the measured speed ratio is at least {SPEED_TOLERANCE:g} x the "
        f"claimed {SPEED_CLAIM:g}x (>= {SPEED_TOLERANCE * SPEED_CLAIM:.2f}x), or the measured memory saving "
        f"is at least the claimed {100 * MEMORY_CLAIM:.1f}% minus {100 * MEMORY_TOLERANCE:.0f} points "
        f"(>= {100 * (MEMORY_CLAIM - MEMORY_TOLERANCE):.1f}%); *not reproduced* below that; *not measured* "
        "when a needed cell is missing, failed, or ran out of memory without an estimate. A verdict that "
        "uses an extrapolated DeiT-Ti memory (the cell ran out of memory) says *(estimated)*; one that uses "
        "DeiT-Ti's throughput from a smaller probe batch (the cell ran out of memory, the probes flat in batch "
        "within 3%) says *(derived)*.")


@dataclass(frozen=True)
class ClaimRow:
    claim: str            # "speed" | "memory"
    deit_variant: str
    vim_variant: str      # "" when nothing was measured
    batch: int | None
    precision: str
    exec_mode: str
    measured: float       # ratio (speed) or saving fraction (memory); NaN when not measured
    paper: float
    verdict: str
    basis: str            # how the number was obtained, or why there is none
    other_metrics: str    # memory claim: the saving with the other memory metrics


def verdict(claim: str, value: float, estimated: bool = False, derived: bool = False) -> str:
    """The verdict word for a speed ratio or memory saving; `estimated` (DeiT memory extrapolated)
    and `derived` (DeiT throughput from a probe batch) are said after it."""
    if np.isnan(value):
        return NOT_MEASURED
    threshold = SPEED_TOLERANCE * SPEED_CLAIM if claim == "speed" else MEMORY_CLAIM - MEMORY_TOLERANCE
    word = REPRODUCED if value >= threshold else NOT_REPRODUCED
    return f"{word} (estimated)" if estimated else f"{word} (derived)" if derived else word


def deit_kernel_order(kernel: str) -> tuple:
    """Sort key: the known DeiT-Ti attention variants in DEIT_KERNELS order, then others by name."""
    return (kernel not in DEIT_KERNELS, DEIT_KERNELS.index(kernel) if kernel in DEIT_KERNELS else 0, kernel)


def claim_rows(ratios, card_memory_bytes: int | None, metric: str, probes=None) -> list[ClaimRow]:
    """Every claim x DeiT kernel x measured condition at 1248 (one 'not measured' row if none).

    `probes` (the run's oom_estimate rows) give a speed row whose DeiT-Ti ran out of memory
    DeiT-Ti's throughput at its largest probe batch, under the flatness rule (probe_speed.py).
    """
    at = ratios[(ratios["resolution"] == CLAIM_RESOLUTION) & (ratios["vim_model"] == CLAIM_VIM)
                & (ratios["deit_model"] == CLAIM_DEIT)]
    kernels = sorted(set(ALWAYS_REPORTED) | set(at["deit_variant"]), key=deit_kernel_order)
    out: list[ClaimRow] = []
    for claim in ("speed", "memory"):
        for kernel in kernels:
            rows = at[at["deit_variant"] == kernel]
            if rows.empty:
                out.append(ClaimRow(claim, kernel, "", None, "", "", float("nan"),
                                    SPEED_CLAIM if claim == "speed" else MEMORY_CLAIM, NOT_MEASURED,
                                    f"no Vim-Ti / DeiT-Ti ({kernel}) pair at {CLAIM_RESOLUTION} in this run", ""))
                continue
            for r in rows.itertuples(index=False):
                out.append(_speed_row(r, probes) if claim == "speed" else _memory_row(r, metric, card_memory_bytes))
    return out


def _conditions(r) -> dict:
    return {"deit_variant": r.deit_variant, "vim_variant": r.vim_variant, "batch": int(r.batch),
            "precision": r.precision, "exec_mode": exec_text(r)}


def _speed_row(r, probes=None) -> ClaimRow:
    value, derived = float(r.speed_ratio), False
    if not np.isnan(value):
        basis = f"derived: {r.vim_images_per_s:.1f} / {r.deit_images_per_s:.1f} images/s (measured)"
    else:
        basis = _why_missing(r, "speed")
        if r.deit_status == "oom" and r.vim_status == "ok" and probes is not None:
            rule = probe_throughput(probes, r.deit_model, r.deit_variant, r.resolution, r.precision,
                                    r.deit_exec_mode, int(r.batch))
            if rule.ok:
                value, derived = r.vim_images_per_s / rule.images_per_s, True
                basis = (f"{rule.basis}: {r.vim_images_per_s:.1f} / {rule.images_per_s:.1f} images/s; "
                         f"{rule.text}")
            else:
                basis += f"; {rule.text} (not measured)"
    return ClaimRow("speed", **_conditions(r), measured=value, paper=SPEED_CLAIM,
                    verdict=verdict("speed", value, derived=derived), basis=basis, other_metrics="")


def _memory_row(r, metric: str, card_memory_bytes: int | None) -> ClaimRow:
    value = float(getattr(r, f"saving_{metric}"))
    source = getattr(r, f"deit_mem_{metric}_source")
    estimated = source == "estimated"
    if np.isnan(value):
        basis = _why_missing(r, "memory", metric)
        vim_mem = getattr(r, f"vim_mem_{metric}")
        if r.deit_status == "oom" and card_memory_bytes and not np.isnan(vim_mem):
            bound = 1.0 - vim_mem / card_memory_bytes
            basis += (f"; DeiT-Ti needed more than the card's {card_memory_bytes / 1e9:.1f} GB, so the saving "
                      f"is above about {100 * bound:.1f}% (derived bound, not a measurement)")
    else:
        vim_gb, deit_gb = getattr(r, f"vim_mem_{metric}") / 1e9, getattr(r, f"deit_mem_{metric}") / 1e9
        basis = (f"derived: 1 - {vim_gb:.2f} / {deit_gb:.2f} GB ({metric}; DeiT-Ti "
                 f"{'estimated from OOM probes' if estimated else 'measured'})")
    others = []
    for other in MEMORY_METRICS:
        if other == metric:
            continue
        saving = float(getattr(r, f"saving_{other}"))
        if not np.isnan(saving):
            tag = " estimated" if getattr(r, f"deit_mem_{other}_source") == "estimated" else ""
            others.append(f"{other}: {100 * saving:.1f}%{tag}")
    return ClaimRow("memory", **_conditions(r), measured=value, paper=MEMORY_CLAIM,
                    verdict=verdict("memory", value, estimated), basis=basis,
                    other_metrics="; ".join(others))


def exec_text(r) -> str:
    """A ratio row's execution mode: 'eager', or 'cuda_graph (DeiT eager)' when the two differ."""
    return r.exec_mode if r.deit_exec_mode == r.exec_mode else f"{r.exec_mode} (DeiT {r.deit_exec_mode})"


def _why_missing(r, claim: str, metric: str = "allocated") -> str:
    parts = []
    if r.vim_status != "ok":
        parts.append(f"Vim-Ti ({r.vim_variant}) {r.vim_status.upper() if r.vim_status == 'oom' else r.vim_status}")
    if r.deit_status != "ok":
        parts.append(f"DeiT-Ti ({r.deit_variant}) {r.deit_status.upper() if r.deit_status == 'oom' else r.deit_status}")
    if r.deit_status == "oom" and claim == "speed":
        parts.append(f"so there is no DeiT-Ti throughput at batch {r.batch}")
    if r.deit_status == "oom" and claim == "memory" and r.vim_status == "ok":
        parts.append(getattr(r, f"deit_mem_{metric}_estimate", "") or "not estimated")
    return ", ".join(parts) or "value missing in the results"
