"""One line per kernel configuration: resources, occupancy and the hot loop's mix."""

from __future__ import annotations

from typing import Any


def _widths(widths: dict[str, int]) -> str:
    return " ".join(f"{n}x{bits}b" for bits, n in widths.items()) or "-"


def _row(name: str, m: dict[str, Any], base: dict[str, Any] | None) -> tuple[str, ...]:
    loop = m.get("hot_loop") or {}
    per = loop.get("per_element")
    if per:
        instr, ex2 = f"{per['instructions']:.3g}/el", f"{per['mufu_ex2']:.3g}/el"
    else:
        instr, ex2 = f"{loop.get('instructions', '-')}/it", f"{loop.get('mufu_ex2', '-')}/it"
    regs = str(m["registers"])
    if base and base["registers"] != m["registers"]:
        regs = f"{base['registers']}->{m['registers']}"
    return (
        name,
        str(m["num_warps"]),
        regs,
        str(m["spill_instructions"]),
        str(m["shared_bytes"]),
        f"{m['blocks_per_sm']}({m['warps_per_sm']}w)",
        instr,
        ex2,
        _widths(m["global_load_widths"]),
        _widths(m["global_store_widths"]),
    )


HEADERS = ("config", "warps", "regs", "spills", "smem B", "blocks/SM", "hot instr", "EX2", "LDG", "STG")


def render(measured: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]] | None) -> str:
    rows = [HEADERS] + [_row(name, m, (baseline or {}).get(name)) for name, m in measured.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
