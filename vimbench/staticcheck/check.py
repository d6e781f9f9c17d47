"""Compare measured kernel configurations against the committed baseline.

Fails (per configuration) when the candidate:
  - spills: more LDL/STL instructions, or more local/stack bytes;
  - crosses an occupancy cliff: fewer resident blocks per SM (registers or shared memory);
  - does more work per element in the hot loop: more MUFU.EX2 (any increase), more
    LDG/STG (narrower vectors), or more instructions than `instruction_tolerance` allows;
  - loads or stores with narrower vectors on average (bits per LDG/STG);
  - lost a configuration the baseline had (re-record the baseline if that was intended).
Register growth that stays on the same side of a cliff is reported, not failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_INSTRUCTION_TOLERANCE = 0.02  # hot-loop instruction count may grow 2% (scheduling noise)


@dataclass
class ConfigCheck:
    name: str
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def mean_width(widths: dict[str, int]) -> float | None:
    total = sum(widths.values())
    return sum(int(bits) * n for bits, n in widths.items()) / total if total else None


def _per_unit(metrics: dict[str, Any]) -> tuple[dict[str, float], str]:
    loop = metrics.get("hot_loop") or {}
    if loop.get("per_element"):
        return loop["per_element"], "per element"
    return {
        k: loop.get(k, 0) for k in ("instructions", "mufu_ex2", "ldg", "stg")
    }, f"per {loop.get('region', 'loop')} iteration"


def check_config(
    name: str,
    base: dict[str, Any],
    cand: dict[str, Any],
    instruction_tolerance: float = DEFAULT_INSTRUCTION_TOLERANCE,
) -> ConfigCheck:
    result = ConfigCheck(name)
    fail, note = result.failures.append, result.notes.append

    if cand["spill_instructions"] > base["spill_instructions"]:
        fail(f"spills: {base['spill_instructions']} -> {cand['spill_instructions']} LDL/STL instructions")
    for key in ("local_bytes", "stack_bytes"):
        if cand[key] > base[key]:
            fail(f"spills: {key} {base[key]} -> {cand[key]}")

    if cand["blocks_per_sm"] < base["blocks_per_sm"]:
        fail(
            f"occupancy cliff: {base['registers']} -> {cand['registers']} registers, shared "
            f"{base['shared_bytes']} -> {cand['shared_bytes']} B at {cand['num_warps']} warps: "
            f"{base['blocks_per_sm']} -> {cand['blocks_per_sm']} blocks/SM "
            f"({base['warps_per_sm']} -> {cand['warps_per_sm']} warps/SM, "
            f"limited by {cand['occupancy_limited_by']})"
        )
    elif cand["registers"] != base["registers"]:
        note(
            f"registers {base['registers']} -> {cand['registers']} (blocks/SM {base['blocks_per_sm']} -> "
            f"{cand['blocks_per_sm']}; {cand['register_headroom']} registers to the next cliff)"
        )
    if cand["num_warps"] != base["num_warps"]:
        note(f"num_warps {base['num_warps']} -> {cand['num_warps']}")

    base_unit, unit = _per_unit(base)
    cand_unit, cand_unit_name = _per_unit(cand)
    if unit != cand_unit_name:
        note(f"hot loop measured {unit} in the baseline but {cand_unit_name} now; per-element checks skipped")
    else:
        for key in ("mufu_ex2", "ldg", "stg"):
            if cand_unit[key] > base_unit[key] + 1e-9:
                fail(f"hot loop {key.upper()} {unit}: {base_unit[key]:g} -> {cand_unit[key]:g}")
        limit = base_unit["instructions"] * (1 + instruction_tolerance)
        if cand_unit["instructions"] > limit + 1e-9:
            growth = cand_unit["instructions"] / base_unit["instructions"] - 1
            fail(
                f"hot loop instructions {unit}: {base_unit['instructions']:g} -> "
                f"{cand_unit['instructions']:g} (+{growth:.1%}, tolerance {instruction_tolerance:.0%})"
            )
        elif cand_unit["instructions"] != base_unit["instructions"]:
            note(
                f"hot loop instructions {unit}: {base_unit['instructions']:g} -> "
                f"{cand_unit['instructions']:g}"
            )

    for key, what in (("global_load_widths", "loads"), ("global_store_widths", "stores")):
        before, after = mean_width(base[key]), mean_width(cand[key])
        if before is not None and after is not None and after < before - 1e-9:
            fail(
                f"narrower global {what}: mean {before:.1f} -> {after:.1f} bits ({base[key]} -> {cand[key]})"
            )
    return result


def check_all(
    baseline: dict[str, dict[str, Any]],
    candidate: dict[str, dict[str, Any]],
    instruction_tolerance: float = DEFAULT_INSTRUCTION_TOLERANCE,
) -> list[ConfigCheck]:
    results = []
    for name, base in baseline.items():
        if name not in candidate:
            results.append(
                ConfigCheck(
                    name,
                    failures=[
                        "configuration missing now (renamed or dropped? re-record the baseline if intended)"
                    ],
                )
            )
            continue
        results.append(check_config(name, base, candidate[name], instruction_tolerance))
    for name in candidate:
        if name not in baseline:
            results.append(ConfigCheck(name, notes=["new configuration, not in the baseline (record it)"]))
    return results
