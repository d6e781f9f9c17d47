"""The probe rule: an OOM cell's throughput from its largest probe, only when flat in batch."""

import math

import pytest
from report_synthetic import row

from vimbench.report.probe_speed import FLAT_TOLERANCE, probe_throughput
from vimbench.results import rows_to_frame

CELL = dict(model="deit_tiny", variant="eager", resolution=1248, precision="amp-fp16", exec_mode="eager")


def _probes(*batch_ips, **kw):
    fields = {**CELL, **kw}
    model, variant, resolution = fields.pop("model"), fields.pop("variant"), fields.pop("resolution")
    return [row(model, variant, resolution, b, purpose="oom_estimate", ips=ips, mem=1e9 + 1e8 * b, **fields)
            for b, ips in batch_ips]


def _rule(rows, oom_batch=128):
    return probe_throughput(rows_to_frame(rows), **CELL, oom_batch=oom_batch)


def test_flat_probes_give_the_largest_probe_throughput():
    got = _rule(_probes((8, 66.7), (16, 68.1), (32, 68.4)))
    assert got.ok and got.batch == 32
    assert got.images_per_s == pytest.approx(68.4)
    assert got.flatness == pytest.approx(0.3 / 68.1)
    assert got.basis == "derived (probe batch 32)"
    assert got.text == ("DeiT-Ti (eager) OOM at batch 128; throughput from its batch-32 probe (68.4 images/s), "
                        "flat within 0.4% of batch 16 (68.1)")


def test_just_within_the_tolerance_is_flat_and_just_above_is_not():
    assert FLAT_TOLERANCE == 0.03
    within = _rule(_probes((32, 100.0), (64, 102.9)))
    assert within.ok and within.batch == 64 and within.images_per_s == pytest.approx(102.9)
    above = _rule(_probes((32, 100.0), (64, 103.1)))
    assert not above.ok


def test_not_flat_is_not_measured_with_the_difference():
    got = _rule(_probes((16, 40.0), (32, 50.0), (64, 60.0)))
    assert not got.ok and got.batch is None and math.isnan(got.images_per_s)
    assert got.basis == "not measured"
    assert got.flatness == pytest.approx(0.2)
    assert "batch-64 probe (60.0 images/s) and batch-32 probe (50.0) differ by 20.0%" in got.text
    assert "more than the 3% that would show throughput flat in batch" in got.text


def test_a_falling_throughput_is_not_flat_either():
    got = _rule(_probes((32, 80.0), (64, 60.0)))
    assert not got.ok and got.flatness == pytest.approx(20.0 / 60.0)


def test_one_probe_is_not_enough():
    got = _rule(_probes((32, 68.4)))
    assert not got.ok and math.isnan(got.flatness)
    assert "only one ok probe batch (32: 68.4 images/s)" in got.text and "needs two" in got.text


def test_no_probes_says_so():
    got = _rule([row("deit_tiny", "eager", 1248, 128, precision="amp-fp16", status="oom")])
    assert not got.ok
    assert got.text.startswith("DeiT-Ti (eager) OOM at batch 128; no ok OOM probe below that batch")


def test_probes_at_or_above_the_oom_batch_and_other_cells_are_ignored():
    rows = _probes((16, 50.0), (32, 50.5))
    rows += _probes((128, 10.0), (256, 10.0))                       # at / above the OOM batch
    rows += _probes((64, 99.0), variant="sdpa")                     # another variant
    rows += _probes((64, 99.0), resolution=1024)                    # another resolution
    rows += _probes((64, 99.0), precision="fp32")                   # another precision
    rows += _probes((64, 99.0), exec_mode="compile")                # another exec mode
    rows += [row("deit_tiny", "eager", 1248, 64, precision="amp-fp16", status="oom", purpose="oom_estimate")]
    rows += [row("deit_tiny", "eager", 1248, 64, precision="amp-fp16", ips=99.0)]  # a measure row
    got = _rule(rows)
    assert got.ok and got.batch == 32 and got.images_per_s == pytest.approx(50.5)


def test_repeated_probe_batches_use_their_median():
    rows = _probes((32, 60.0), (32, 70.0), (32, 80.0), (64, 71.0))
    got = _rule(rows)
    assert got.ok and got.batch == 64
    assert got.flatness == pytest.approx(1.0 / 70.0)


def test_exec_mode_is_named_when_not_eager():
    cell = {**CELL, "exec_mode": "compile"}
    rows = _probes((16, 50.0), (32, 50.0), exec_mode="compile")
    got = probe_throughput(rows_to_frame(rows), **cell, oom_batch=64)
    assert got.text.startswith("DeiT-Ti (eager) under compile OOM at batch 64;")
