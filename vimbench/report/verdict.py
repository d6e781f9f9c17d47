"""The verdict table: the paper's Vim and vimbench's Vim against DeiT-Ti eager and the fastest DeiT-Ti.

Data only: it receives one run's frames and returns VerdictCell rows; sections.verdict_md
renders them and build.py writes them to verdict_table.csv.

For each condition (batch, precision) and each resolution in VERDICT_RESOLUTIONS (a run with
no Vim-Ti / DeiT-Ti pair at either, e.g. the CPU smoke suite, gets the largest resolution at
which both ran instead, so its table shows the comparison it can; the report says so):

  rows     paper's Vim     Vim-Ti variant `official` (the official Vim code on the mamba_ssm /
                           causal_conv1d CUDA kernels), any exec mode
           vimbench Vim    Vim-Ti on vimbench's own kernels: any variant but those in
                           NOT_VIMBENCH_VIM, any exec mode; the torch reference only where no
                           other variant ran (a CPU run)
  columns  DeiT-Ti eager   attention `eager`, exec mode eager: the paper's condition
           fastest DeiT-Ti all DeiT-Ti cells (any attention, any exec mode)

Each side is at its best per claim: its speed from its fastest cell, its memory from its leanest
cell (the metric chosen for the report), each cell named.  One cell for both would tie the
memory claim to whichever exec mode was fastest by a hair: a CUDA graph keeps its own input
buffer and pool, torch.compile frees differently, so the fastest cell need not be the leanest.
Speed ratio = Vim images/s / DeiT images/s, memory saving = 1 - Vim peak / DeiT peak, each with
a basis:

  measured                 both cells ran at the batch
  derived (probe batch N)  DeiT ran out of memory; its throughput from a probe (probe_speed.py)
  estimated                DeiT ran out of memory; its memory extrapolated from probes (estimate.py)
  not measured             a needed value is missing; the note says why

and a verdict from claims.verdict (same thresholds and words as the claims section).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vimbench.report.claims import CLAIM_BATCH, CLAIM_DEIT, CLAIM_PRECISION, CLAIM_RESOLUTION, CLAIM_VIM, verdict
from vimbench.report.estimate import estimate_for
from vimbench.report.markdown import fmt_gb, is_missing
from vimbench.report.names import MEMORY_METRICS, series_label
from vimbench.report.probe_speed import probe_throughput
from vimbench.report.tables import divide

VERDICT_RESOLUTIONS = (CLAIM_RESOLUTION, 1024)
PAPER_VIM, VIMBENCH_VIM = "paper's Vim", "vimbench Vim"           # the rows
DEIT_EAGER, DEIT_FASTEST = "DeiT-Ti eager", "fastest DeiT-Ti"     # the columns
PAPER_VIM_VARIANT = "official"
OLD_OFFICIAL_KERNELS = "mamba_ssm"  # older runs: vimbench's Vim blocks on the official CUDA kernels
TORCH_REFERENCE = "torch"  # the slow reference scan: vimbench's Vim only when nothing else ran
NOT_VIMBENCH_VIM = (PAPER_VIM_VARIANT, TORCH_REFERENCE, OLD_OFFICIAL_KERNELS)
MEASURED, ESTIMATED, NOT_MEASURED = "measured", "estimated", "not measured"


@dataclass(frozen=True)
class Side:
    """The cell one model contributes to a pairing; NaN values with a note say why there is none."""
    variant: str = ""
    exec_mode: str = ""
    attention_backend: str = ""     # the SDPA backend that ran, where the row records it
    images_per_s: float = float("nan")
    speed_batch: int | None = None   # the batch images_per_s was measured at (a probe's when derived)
    speed_basis: str = NOT_MEASURED  # measured | derived (probe batch N) | not measured
    speed_note: str = ""             # the probe rule's sentence, or why there is no throughput
    mem_bytes: float = float("nan")
    mem_basis: str = NOT_MEASURED    # measured | estimated | not measured
    mem_note: str = ""               # the estimate's sentence, or why there is no memory
    missing: str = ""                # why there is no cell at all ("" when there is one)
    mem_config: str = ""             # the memory's cell, where it is not the speed's ("variant, exec mode")


@dataclass(frozen=True)
class VerdictCell:
    batch: int
    precision: str
    resolution: int
    vim: str                  # PAPER_VIM | VIMBENCH_VIM
    deit: str                 # DEIT_EAGER | DEIT_FASTEST
    metric: str
    vim_variant: str          # "" when no Vim-Ti cell qualifies (vim_note says why)
    vim_exec_mode: str
    vim_images_per_s: float
    vim_mem_bytes: float
    vim_note: str             # why there is no Vim-Ti cell, else ""
    vim_mem_config: str       # the leanest Vim-Ti cell ("variant, exec mode") where it is not the fastest, else ""
    deit_variant: str         # "" when no DeiT-Ti cell qualifies
    deit_exec_mode: str
    deit_attention_backend: str
    deit_images_per_s: float  # at deit_speed_batch: the batch, or the probe batch when derived
    deit_speed_batch: int | None
    deit_speed_basis: str     # that value's own basis: measured | derived (probe batch N) | not measured
    deit_mem_bytes: float     # measured, or estimated at the batch
    deit_memory_basis: str    # that value's own basis: measured | estimated | not measured
    deit_mem_config: str      # the leanest DeiT-Ti cell where it is not the fastest, else ""
    speed_ratio: float
    speed_basis: str
    speed_verdict: str
    speed_note: str           # measured: ""; derived: the probe rule's sentence; not measured: why
    memory_saving: float
    memory_basis: str
    memory_verdict: str
    memory_note: str          # measured: ""; estimated: the estimate's sentence; not measured: why


def verdict_resolutions(cells) -> tuple[int, ...]:
    """VERDICT_RESOLUTIONS, unless the run has a Vim-Ti / DeiT-Ti pair (same batch and precision)
    at none of them but at some other size: then the largest such size alone."""
    pairs = _paired_resolutions(cells)
    if not pairs or pairs & set(VERDICT_RESOLUTIONS):
        return VERDICT_RESOLUTIONS
    return (max(pairs),)


def _paired_resolutions(cells) -> set[int]:
    keys = ["resolution", "batch", "precision"]
    vim = {tuple(k) for k in cells[cells["model"] == CLAIM_VIM][keys].itertuples(index=False, name=None)}
    deit = {tuple(k) for k in cells[cells["model"] == CLAIM_DEIT][keys].itertuples(index=False, name=None)}
    return {int(k[0]) for k in vim & deit}


def verdict_conditions(cells) -> list[tuple[int, str]]:
    """(batch, precision) of the Vim-Ti / DeiT-Ti cells at the verdict resolutions: the claim's
    default condition (CLAIM_BATCH, CLAIM_PRECISION) first, then by precision and larger batch
    first.  A run with none gets the default condition alone (a table of 'not measured')."""
    at = cells[cells["model"].isin([CLAIM_VIM, CLAIM_DEIT]) & cells["resolution"].isin(verdict_resolutions(cells))]
    found = {(int(b), str(p)) for b, p in zip(at["batch"], at["precision"])}
    default = (CLAIM_BATCH, CLAIM_PRECISION)
    return sorted(found or {default}, key=lambda c: (c != default, c[1], -c[0]))


def verdict_cells(cells, probes, estimates, metric: str) -> list[VerdictCell]:
    """The table's cells for every condition and resolution, rows then columns.

    cells: one row per measured cell (tables.measured_cells); probes: the run's OOM probe rows
    (purpose "oom_estimate"); estimates: estimate.estimate_oom_cells; metric: a MEMORY_METRICS key.
    """
    out = []
    for batch, precision in verdict_conditions(cells):
        for resolution in verdict_resolutions(cells):
            at = cells[(cells["resolution"] == resolution) & (cells["batch"] == batch)
                       & (cells["precision"] == precision)]
            where = f"{resolution} px, batch {batch}, {precision}"
            vims = at[at["model"] == CLAIM_VIM]
            vim_sides = {
                PAPER_VIM: fastest_vim(vims[vims["variant"] == PAPER_VIM_VARIANT], metric,
                                        f"no Vim-Ti ({PAPER_VIM_VARIANT}) cell at {where}{_old_official_hint(vims)}"),
                VIMBENCH_VIM: fastest_vim(vimbench_vims(vims), metric,
                                           f"no Vim-Ti cell of vimbench's kernels (a variant other than "
                                           f"{', '.join(NOT_VIMBENCH_VIM)}) at {where}"),
            }
            deits = at[at["model"] == CLAIM_DEIT]
            deit_sides = {
                DEIT_EAGER: _deit_eager(deits, probes, estimates, metric, where),
                DEIT_FASTEST: fastest_deit(deits, probes, estimates, metric, where),
            }
            for vim_label, vim in vim_sides.items():
                for deit_label, deit in deit_sides.items():
                    out.append(_pair(batch, precision, resolution, vim_label, vim, deit_label, deit, metric))
    return out


# ----------------------------------------------------------------------------- one side of a pairing

def vimbench_vims(vims):
    """Vim-Ti cells of vimbench's kernels; the torch reference where no other variant ran."""
    ours = vims[~vims["variant"].isin(NOT_VIMBENCH_VIM)]
    return ours if not ours.empty else vims[vims["variant"] == TORCH_REFERENCE]


def fastest_vim(candidates, metric: str, none_reason: str) -> Side:
    """The fastest ok cell among `candidates` (variants x exec modes), with the leanest one's memory."""
    ok = _ok_with_speed(candidates)
    if ok.empty:
        reason = none_reason if candidates.empty else "; ".join(_status_text(c) for c in _records(candidates))
        return Side(speed_note=reason, mem_note=reason, missing=reason)
    return _with_leanest_memory(_measured_side(_fastest(ok), metric),
                                [_measured_side(c, metric) for c in _records(ok)])


def _deit_eager(deits, probes, estimates, metric: str, where: str) -> Side:
    eager = deits[(deits["variant"] == "eager") & (deits["exec_mode"] == "eager")]
    if eager.empty:
        reason = f"no DeiT-Ti (eager) cell in exec mode eager at {where}"
        return Side(speed_note=reason, mem_note=reason, missing=reason)
    return _deit_side(_records(eager)[-1], probes, estimates, metric)


def fastest_deit(deits, probes, estimates, metric: str, where: str) -> Side:
    """The DeiT-Ti cell with the highest images/s, measured or derived by the probe rule."""
    sides = [_deit_side(c, probes, estimates, metric) for c in _records(deits.sort_values(
        ["variant", "exec_mode"], kind="stable"))]
    with_speed = [s for s in sides if not is_missing(s.images_per_s)]
    if with_speed:
        fastest = max(with_speed, key=lambda s: s.images_per_s)  # first of equals: variant, exec mode order
        return _with_leanest_memory(fastest, sides)
    reason = (f"no DeiT-Ti cell at {where}" if not sides else
              "no DeiT-Ti cell gave a throughput: " + "; ".join(s.speed_note for s in sides))
    return Side(speed_note=reason, mem_note=reason, missing=reason)


def _with_leanest_memory(fastest: Side, sides: list[Side]) -> Side:
    """`fastest` with the memory of the side that needs least (measured before estimated among
    equals; `fastest` itself when it ties or nothing has memory), naming that side's cell."""
    with_memory = [s for s in sides if not is_missing(s.mem_bytes)]
    if not with_memory:
        return fastest
    leanest = min(with_memory, key=lambda s: (s.mem_bytes, s.mem_basis != MEASURED))
    if is_missing(fastest.mem_bytes) or leanest.mem_bytes < fastest.mem_bytes:
        return replace(fastest, mem_bytes=leanest.mem_bytes, mem_basis=leanest.mem_basis,
                       mem_note=leanest.mem_note, mem_config=side_config(leanest))
    return fastest


def side_config(side: Side) -> str:
    """"variant, exec mode", with the SDPA backend that ran where it is not the variant's name;
    "" for a side without a cell."""
    if not side.variant:
        return ""
    config = f"{side.variant}, {side.exec_mode}"
    if side.attention_backend and side.attention_backend != side.variant:
        config += f" (ran {side.attention_backend})"
    return config


def _deit_side(cell: dict, probes, estimates, metric: str) -> Side:
    if cell["status"] == "ok":
        return _measured_side(cell, metric)
    name = dict(variant=cell["variant"], exec_mode=cell["exec_mode"], attention_backend=_backend(cell))
    if cell["status"] != "oom":
        reason = _status_text(cell)
        return Side(**name, speed_note=reason, mem_note=reason)
    batch = int(cell["batch"])
    rule = probe_throughput(probes, cell["model"], cell["variant"], int(cell["resolution"]), cell["precision"],
                            cell["exec_mode"], batch)
    estimate = estimate_for(estimates, cell, metric)
    label = f"{_label(cell)} OOM at batch {batch}"
    if estimate is not None and estimate["status"] == "estimated":
        mem, mem_basis = float(estimate["estimated_bytes"]), ESTIMATED
        mem_note = (f"{label}; it would need {fmt_gb(mem)} GB ({metric}), estimated from probes at batches "
                    f"{estimate['probe_batches']}")
    else:
        mem, mem_basis = float("nan"), NOT_MEASURED
        mem_note = f"{label}; memory {estimate['status'] if estimate is not None else 'not estimated'}"
    return Side(**name, images_per_s=rule.images_per_s, speed_batch=rule.batch, speed_basis=rule.basis,
                speed_note=rule.text, mem_bytes=mem, mem_basis=mem_basis, mem_note=mem_note)


def _measured_side(cell: dict, metric: str) -> Side:
    ips = _value(cell["images_per_s"])
    mem = _value(cell[MEMORY_METRICS[metric][0]])
    return Side(variant=cell["variant"], exec_mode=cell["exec_mode"], attention_backend=_backend(cell),
                images_per_s=ips, speed_batch=int(cell["batch"]) if not np.isnan(ips) else None,
                speed_basis=MEASURED if not np.isnan(ips) else NOT_MEASURED,
                speed_note="" if not np.isnan(ips) else f"{_label(cell)}: no images/s recorded",
                mem_bytes=mem, mem_basis=MEASURED if not np.isnan(mem) else NOT_MEASURED,
                mem_note="" if not np.isnan(mem) else f"{_label(cell)}: no {metric} memory recorded")


# ----------------------------------------------------------------------------- the pairing

def _pair(batch: int, precision: str, resolution: int, vim_label: str, vim: Side, deit_label: str, deit: Side,
          metric: str) -> VerdictCell:
    speed = divide(vim.images_per_s, deit.images_per_s)
    if np.isnan(speed):
        speed_basis, speed_note = NOT_MEASURED, _why(vim, deit, "speed")
    else:
        speed_basis, speed_note = deit.speed_basis, deit.speed_note
    saving = 1.0 - divide(vim.mem_bytes, deit.mem_bytes)
    if np.isnan(saving):
        memory_basis, memory_note = NOT_MEASURED, _why(vim, deit, "memory")
    else:
        memory_basis, memory_note = deit.mem_basis, deit.mem_note
    return VerdictCell(
        batch=batch, precision=precision, resolution=resolution, vim=vim_label, deit=deit_label, metric=metric,
        vim_variant=vim.variant, vim_exec_mode=vim.exec_mode, vim_images_per_s=vim.images_per_s,
        vim_mem_bytes=vim.mem_bytes, vim_note=vim.missing, vim_mem_config=vim.mem_config, deit_variant=deit.variant, deit_exec_mode=deit.exec_mode,
        deit_attention_backend=deit.attention_backend, deit_images_per_s=deit.images_per_s, deit_speed_batch=deit.speed_batch,
        deit_speed_basis=deit.speed_basis, deit_mem_bytes=deit.mem_bytes, deit_memory_basis=deit.mem_basis,
        deit_mem_config=deit.mem_config,
        speed_ratio=speed, speed_basis=speed_basis,
        speed_verdict=verdict("speed", speed, derived=speed_basis.startswith("derived")), speed_note=speed_note,
        memory_saving=saving, memory_basis=memory_basis,
        memory_verdict=verdict("memory", saving, estimated=memory_basis == ESTIMATED), memory_note=memory_note)


def _why(vim: Side, deit: Side, claim: str) -> str:
    """Why a pairing has no value: the Vim side's reason, then the DeiT side's."""
    pick = (lambda s: (s.images_per_s, s.speed_note)) if claim == "speed" else (lambda s: (s.mem_bytes, s.mem_note))
    reasons = []
    for side in (vim, deit):
        value, note = pick(side)
        if is_missing(value):
            reasons.append(note)
    return "; ".join(reasons)


# ----------------------------------------------------------------------------- helpers

def _old_official_hint(vims) -> str:
    if (vims["variant"] == OLD_OFFICIAL_KERNELS).any():
        return (f" (this run has the older variant {OLD_OFFICIAL_KERNELS}: vimbench's Vim blocks on the official "
                "CUDA kernels, not the official code; it is in the claims section)")
    return ""


def _records(frame) -> list[dict]:
    return frame.to_dict("records")


def _ok_with_speed(frame):
    return frame[(frame["status"] == "ok") & frame["images_per_s"].notna()]


def _fastest(ok) -> dict:
    """The highest images/s; equals resolved by variant, then exec mode (alphabetical)."""
    ordered = ok.sort_values(["images_per_s", "variant", "exec_mode"], ascending=[False, True, True], kind="stable")
    return _records(ordered)[0]


def _label(cell: dict) -> str:
    return f"{series_label(cell['model'], cell['variant'])}" + (
        "" if cell["exec_mode"] == "eager" else f" under {cell['exec_mode']}")


def _status_text(cell: dict) -> str:
    status = {"oom": "OOM", "ok": "ran but recorded no images/s"}.get(cell["status"], cell["status"])
    return f"{_label(cell)} {status} at batch {int(cell['batch'])}"


def _backend(cell: dict) -> str:
    value = cell.get("attention_backend")
    return "" if is_missing(value) or not value else str(value)


def _value(value) -> float:
    return float("nan") if value is None or is_missing(value) else float(value)

