"""Vim-Ti against the fastest DeiT-Ti at every resolution a run measured both.

The verdict table (verdict.py) judges the paper's claims at 1248 and 1024 px.  This table follows
the same pairing over the whole sweep, so the trend with resolution reads off one table, and adds
the Vim-Ti cell a timm user gets by default (exec mode eager) beside its fastest one: at small
resolutions eager Vim is host-bound and the two differ by 2x.  Per (batch, precision) and
resolution, one row:

  fastest Vim    vimbench's kernels (verdict.vimbench_vims), any variant and exec mode
  eager Vim      the fastest of those cells in exec mode eager
  fastest DeiT   any attention, any exec mode (verdict.fastest_deit: an OOM cell counts with
                 its probe-derived speed, and says so)
  memory         each side's leanest cell, as in the verdict

Data only; sections.fastest_md renders it and build.py writes fastest_by_resolution.csv.
"""

from __future__ import annotations

from dataclasses import dataclass

from vimbench.report.claims import CLAIM_DEIT, CLAIM_VIM
from vimbench.report.tables import divide
from vimbench.report.verdict import fastest_deit, fastest_vim, side_config, vimbench_vims


@dataclass(frozen=True)
class FastestRow:
    batch: int
    precision: str
    resolution: int
    vim_config: str             # "variant, exec mode" of the fastest vimbench Vim-Ti cell
    vim_images_per_s: float
    vim_eager_config: str       # "" when no vimbench Vim-Ti cell ran eager
    vim_eager_images_per_s: float
    deit_config: str            # "variant, exec mode" of the fastest DeiT-Ti cell
    deit_images_per_s: float
    deit_speed_basis: str       # measured | derived (probe batch N) | not measured
    speed_ratio: float          # fastest Vim / fastest DeiT
    eager_speed_ratio: float    # eager Vim / fastest DeiT
    vim_mem_bytes: float        # the leanest vimbench Vim-Ti cell
    vim_mem_config: str
    deit_mem_bytes: float       # the leanest DeiT-Ti cell (estimated where it ran out of memory)
    deit_mem_config: str
    deit_mem_basis: str
    memory_saving: float        # 1 - Vim / DeiT, leanest against leanest


def fastest_rows(cells, probes, estimates, metric: str) -> list[FastestRow]:
    """One row per (batch, precision, resolution) at which a vimbench Vim-Ti cell and a DeiT-Ti
    cell both ran: by precision, larger batch first, then resolution ascending."""
    keys = ["batch", "precision", "resolution"]
    vims = vimbench_vims(cells[cells["model"] == CLAIM_VIM])
    deits = cells[cells["model"] == CLAIM_DEIT]
    both = ({tuple(k) for k in vims[keys].itertuples(index=False, name=None)}
            & {tuple(k) for k in deits[keys].itertuples(index=False, name=None)})
    out = []
    for batch, precision, resolution in sorted(both, key=lambda k: (k[1], -k[0], k[2])):
        def at(frame):
            return frame[(frame["batch"] == batch) & (frame["precision"] == precision)
                         & (frame["resolution"] == resolution)]
        where = f"{resolution} px, batch {batch}, {precision}"
        vim_at = at(vims)
        vim = fastest_vim(vim_at, metric, f"no Vim-Ti cell at {where}")
        eager = fastest_vim(vim_at[vim_at["exec_mode"] == "eager"], metric, "")
        deit = fastest_deit(at(deits), probes, estimates, metric, where)
        out.append(FastestRow(
            batch=int(batch), precision=str(precision), resolution=int(resolution),
            vim_config=side_config(vim), vim_images_per_s=vim.images_per_s,
            vim_eager_config=side_config(eager), vim_eager_images_per_s=eager.images_per_s,
            deit_config=side_config(deit), deit_images_per_s=deit.images_per_s, deit_speed_basis=deit.speed_basis,
            speed_ratio=divide(vim.images_per_s, deit.images_per_s),
            eager_speed_ratio=divide(eager.images_per_s, deit.images_per_s),
            vim_mem_bytes=vim.mem_bytes, vim_mem_config=vim.mem_config or side_config(vim),
            deit_mem_bytes=deit.mem_bytes, deit_mem_config=deit.mem_config or side_config(deit),
            deit_mem_basis=deit.mem_basis,
            memory_saving=1.0 - divide(vim.mem_bytes, deit.mem_bytes)))
    return out
