"""Roofline figures for the selective scan: achieved bandwidth and exponential rate
against the card's ceilings, measured in the same process.

Ceilings
    copy bandwidth   a device-to-device tensor copy, bytes read + written / time
    exp2 rate        `mamba_triton.exp2_probe`'s Triton kernel (hardware MUFU.EX2 throughput)

Demand of one Vim layer's scans (DESIGN.md section 4), per token and element size e:
    one direction        e * (4E + 2N) bytes   (read u, delta, z; write y; read B, C)
    fused bidirectional  e * (6E + 4N) bytes   (two u, two delta, one z, one y; B, C each way)
    exponentials         E * N per direction
These are minimum traffics: a kernel that reaches the copy bandwidth on them cannot be
made faster without reading less.
"""

from __future__ import annotations

from dataclasses import dataclass

# DESIGN.md section 4 (H100, measured on the lent machine); used when no GPU can measure.
DESIGN_EXP2_PER_S = 4.0e12


@dataclass
class ScanShape:
    layers: int
    directions: int      # scans per layer (2 for Vim)
    dim: int             # E
    d_state: int         # N
    tokens: int          # L
    batch: int
    elem_bytes: int      # activation element size the scan reads and writes

    def exponentials(self) -> float:
        return float(self.layers * self.directions * self.batch * self.tokens * self.dim * self.d_state)

    def min_bytes(self, fused_bidirectional: bool) -> float:
        per_token = (6 * self.dim + 4 * self.d_state) if fused_bidirectional and self.directions == 2 \
            else self.directions * (4 * self.dim + 2 * self.d_state)
        return float(self.layers * self.batch * self.tokens * per_token * self.elem_bytes)


def scan_shape_from_model(model, tokens: int, batch: int, elem_bytes: int) -> ScanShape | None:
    """Read E, N and the number of scans from the official parameter layout (`*.A_log`,
    `*.A_b_log` of shape (E, N)); None for a model without scans."""
    a_logs = [(name, p) for name, p in model.named_parameters() if name.endswith(("A_log", "A_b_log"))]
    if not a_logs:
        return None
    layers = len({name.rsplit(".", 2)[0] for name, _ in a_logs})
    dim, d_state = a_logs[0][1].shape
    return ScanShape(layers=layers, directions=len(a_logs) // max(layers, 1), dim=int(dim),
                     d_state=int(d_state), tokens=tokens, batch=batch, elem_bytes=elem_bytes)


@dataclass
class Ceilings:
    copy_bytes_per_s: float
    exp2_per_s: float
    exp2_source: str


def measure_ceilings(device) -> Ceilings:
    from mamba_triton.ceilings import copy_bandwidth, exp2_rate

    copy = copy_bandwidth(device)
    try:
        return Ceilings(copy, exp2_rate(device), "measured (Triton exp2 probe)")
    except Exception as exc:  # noqa: BLE001 - a Triton that cannot compile here: say so, use the design figure
        return Ceilings(copy, DESIGN_EXP2_PER_S, f"DESIGN.md H100 figure (probe failed: {type(exc).__name__})")


def scan_roofline(shape: ScanShape, scan_ms_per_forward: float, fused_bidirectional: bool,
                  ceilings: Ceilings) -> dict:
    """Achieved rates of the scan category against the ceilings."""
    seconds = scan_ms_per_forward / 1e3
    if seconds <= 0:
        return {}
    min_bytes = shape.min_bytes(fused_bidirectional)
    exps = shape.exponentials()
    bandwidth = min_bytes / seconds
    exp_rate = exps / seconds
    return {
        "scan_ms_per_forward": scan_ms_per_forward,
        "scan_fused_bidirectional": fused_bidirectional,
        "scan_min_bytes": min_bytes,
        "scan_exponentials": exps,
        "scan_achieved_gb_per_s": bandwidth / 1e9,
        "copy_ceiling_gb_per_s": ceilings.copy_bytes_per_s / 1e9,
        "scan_fraction_of_copy_bw": bandwidth / ceilings.copy_bytes_per_s,
        "scan_exp_per_s": exp_rate,
        "exp2_ceiling_per_s": ceilings.exp2_per_s,
        "exp2_ceiling_source": ceilings.exp2_source,
        "scan_fraction_of_exp2": exp_rate / ceilings.exp2_per_s,
        "scan_hbm_floor_ms": min_bytes / ceilings.copy_bytes_per_s * 1e3,
        "scan_exp_floor_ms": exps / ceilings.exp2_per_s * 1e3,
    }
