"""Baseline rules on synthetic measurements: what fails, what is only noted."""

import copy

import pytest

from vimbench.staticcheck.check import check_all, check_config
from vimbench.staticcheck.occupancy import occupancy


def metrics(
    registers=40,
    warps=4,
    spills=0,
    shared=1024,
    instr=7.6,
    ex2=1.0,
    ldg=0.25,
    stg=0.125,
    loads=None,
    stores=None,
):
    occ = occupancy(registers, shared, warps)
    return {
        "kernel": "k",
        "num_warps": warps,
        "num_stages": 3,
        "registers": registers,
        "stack_bytes": 0,
        "local_bytes": 0,
        "spill_instructions": spills,
        "shared_bytes": shared,
        "blocks_per_sm": occ.blocks_per_sm,
        "warps_per_sm": occ.warps_per_sm,
        "occupancy_limited_by": occ.limited_by,
        "register_headroom": occ.register_headroom,
        "instructions": 300,
        "mufu_ex2": 8,
        "global_load_widths": loads or {"16": 2, "128": 2},
        "global_store_widths": stores or {"16": 1},
        "hot_loop": {
            "region": "loop",
            "instructions": 61,
            "mufu_ex2": 8,
            "ldg": 2,
            "stg": 1,
            "threads": 32 * warps,
            "elements_per_iteration": 1024,
            "per_element": {"instructions": instr, "mufu_ex2": ex2, "ldg": ldg, "stg": stg},
        },
    }


def test_identical_passes():
    result = check_config("c", metrics(), metrics())
    assert result.failures == [] and result.notes == []


def test_spills_fail():
    result = check_config("c", metrics(), metrics(spills=4))
    assert any("spills" in f for f in result.failures)


def test_register_growth_within_a_cliff_is_a_note():
    result = check_config("c", metrics(registers=130), metrics(registers=168))
    assert result.failures == [] and "registers 130 -> 168" in result.notes[0]


def test_crossing_a_cliff_fails():
    result = check_config("c", metrics(registers=168), metrics(registers=170))
    assert len(result.failures) == 1 and "occupancy cliff" in result.failures[0]
    assert "3 -> 2 blocks/SM" in result.failures[0]


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"ex2": 1.5}, "MUFU_EX2"),
        ({"ldg": 0.5}, "LDG"),
        ({"stg": 0.25}, "STG"),
        ({"instr": 8.0}, "instructions"),
    ],
)
def test_more_work_per_element_fails(change, needle):
    result = check_config("c", metrics(), metrics(**change))
    assert any(needle in f for f in result.failures), result.failures


def test_instruction_growth_within_tolerance_is_a_note():
    result = check_config("c", metrics(instr=7.6), metrics(instr=7.7), instruction_tolerance=0.02)
    assert result.failures == [] and "7.6 -> 7.7" in result.notes[0]


def test_narrower_loads_fail():
    result = check_config("c", metrics(), metrics(loads={"16": 2, "64": 2}))
    assert any("narrower global loads" in f for f in result.failures)


def test_missing_config_fails_and_new_is_noted():
    base = {"a": metrics(), "b": metrics()}
    cand = {"a": copy.deepcopy(base["a"]), "c": metrics()}
    by_name = {r.name: r for r in check_all(base, cand)}
    assert by_name["a"].failures == []
    assert "missing" in by_name["b"].failures[0]
    assert by_name["c"].failures == [] and "new configuration" in by_name["c"].notes[0]
