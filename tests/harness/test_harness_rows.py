"""The row schema: every field written, round-trips, torn lines detected, not dropped."""

import dataclasses
import json

import pytest
import torch

from vimbench.results import (
    ROW_FIELDS,
    SCHEMA_VERSION,
    Row,
    SchemaError,
    append_row,
    read_rows,
    rows_to_frame,
)


def _random_row(i: int) -> Row:
    samples = (torch.rand(5) * 10).tolist()
    return Row(cell_id=f"m|v|r{i}", suite="s", model="m", variant="v", resolution=16 * (i + 1),
               batch=int(torch.randint(1, 9, ()).item()), precision="fp32", samples_ms=samples,
               latency_ms_median=sorted(samples)[2], telemetry_before={"sm_clock_mhz": 1980},
               throttled=bool(i % 2), status="ok")


def test_row_round_trips_with_every_field(tmp_path):
    path = tmp_path / "results.jsonl"
    rows = [_random_row(i) for i in range(3)]
    for row in rows:
        append_row(path, row)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert set(json.loads(line)) == set(ROW_FIELDS)  # every field present, no extra
    read = read_rows(path)
    assert read.torn_lines == []
    assert read.rows == rows


def test_fields_have_defaults_beyond_the_cell_key():
    required = [f.name for f in dataclasses.fields(Row)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    assert required == ["cell_id", "suite", "model", "variant", "resolution", "batch", "precision"]
    assert {"purpose", "exec_mode", "repeat", "mem_nvml_source", "energy_j_per_image", "telemetry_during",
            "high_cv", "param_dtype", "autocast_dtype"} <= set(ROW_FIELDS)


def test_torn_last_line_is_reported_and_next_append_stays_parseable(tmp_path):
    path = tmp_path / "results.jsonl"
    append_row(path, _random_row(0))
    full = json.dumps(_random_row(1).to_dict())
    with open(path, "a") as fh:
        fh.write(full[: len(full) // 2])  # killed mid-write
    read = read_rows(path)
    assert [r.cell_id for r in read.rows] == ["m|v|r0"]
    assert read.torn_lines == [2]
    append_row(path, _random_row(2))
    read = read_rows(path)
    assert [r.cell_id for r in read.rows] == ["m|v|r0", "m|v|r2"]
    assert read.torn_lines == [2]


def test_other_schema_version_is_refused(tmp_path):
    data = _random_row(0).to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaError):
        Row.from_dict(data)


def test_frame_has_one_column_per_field():
    frame = rows_to_frame([_random_row(i) for i in range(4)])
    assert list(frame.columns) == list(ROW_FIELDS)
    assert len(frame) == 4


def test_a_row_written_before_attention_backend_existed_still_loads(tmp_path):
    """Rows from before the field (same schema version) read with attention_backend None."""
    path = tmp_path / "results.jsonl"
    old = _random_row(0).to_dict()
    del old["attention_backend"]
    path.write_text(json.dumps(old) + "\n")
    [row] = read_rows(path).rows
    assert row.attention_backend is None
    assert row.cell_id == old["cell_id"] and row.samples_ms == old["samples_ms"]
