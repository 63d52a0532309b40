from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from sfe import quality
from sfe.config import LakePaths
from sfe.generate import generate

from .conftest import FIXTURES, ingest_and_report, land, outcome_counts, raw_rows

SOURCE = "so_dispatch_instructions"


def _ingest(paths) -> pl.DataFrame:
    return ingest_and_report(paths, SOURCE)


@pytest.fixture
def ingested(lake_paths):
    folder = FIXTURES / SOURCE
    land(
        lake_paths,
        SOURCE,
        folder / "instructions_1_nged_neso_2025.jsonl",
        folder / "instructions_2_resend.jsonl",
    )
    return lake_paths, _ingest(lake_paths)


def _one(raw: pl.DataFrame, instruction_id: str) -> dict:
    rows = raw.filter(pl.col("instruction_id") == instruction_id)
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def test_counts(ingested):
    _paths, report = ingested
    first, resend = report.row(0, named=True), report.row(1, named=True)
    # 11 JSON lines (the blank line is not a record): 2 in force, 3 earlier versions, 6 bad lines.
    assert outcome_counts(first) == (11, 2, 0, 3, 6)
    # The resend repeats instruction 1 (other key order and spacing) and then cancels it.
    assert outcome_counts(resend) == (2, 1, 1, 0, 0)
    assert report["balanced"].all()


def test_offsets_clock_changes_and_units(ingested):
    paths, _report = ingested
    raw = raw_rows(paths, SOURCE)
    assert raw.height == 3
    # Spring: 00:30 GMT .. 03:00 BST is 00:30Z .. 02:00Z; the later cancellation is in force.
    spring = _one(raw, "NGED-DI-20250330-000001")
    assert (spring["interval_start_utc"], spring["interval_end_utc"]) == (
        datetime(2025, 3, 30, 0, 30, tzinfo=UTC), datetime(2025, 3, 30, 2, tzinfo=UTC),
    )  # fmt: skip
    assert spring["status"] == "cancelled" and spring["source_file"] == "instructions_2_resend.jsonl"
    assert spring["setpoint_mw"] == 0.25 and spring["issued_at"] == datetime(2025, 3, 29, 18, 45, tzinfo=UTC)
    # Autumn: 01:30+01:00 .. 01:30+00:00 is one real hour; the revision (1500 kW) replaced 2.5 MW.
    autumn = _one(raw, "NGED-DI-20251026-000002")
    assert autumn["interval_start_utc"] == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert autumn["interval_end_utc"] - autumn["interval_start_utc"] == timedelta(hours=1)
    assert (autumn["setpoint"], autumn["unit"], autumn["setpoint_mw"]) == (1500.0, "kW", 1.5)
    assert autumn["issued_at"] == datetime(2025, 10, 25, 15, 10, tzinfo=UTC)
    # A raw U+2028 inside a JSON string is not a line break of the file.
    assert autumn["rationale"].endswith("\u2028Revised: set point cut after a partial outage.")
    assert (autumn["operator_id"], autumn["merit_order_rank"], autumn["utilisation_price_gbp_per_mwh"]) == (
        "nged", 1, 85.4,
    )  # fmt: skip


def test_revision_moving_the_start_to_another_utc_day_in_the_same_file_supersedes(ingested):
    paths, _report = ingested
    neso = _one(raw_rows(paths, SOURCE), "NESO-20250610-0000004")
    # The revision starts on 11 June (UTC) but stays in the partition of the first version (10 June),
    # where it replaced it.
    assert neso["interval_start_utc"] == datetime(2025, 6, 11, 0, 0, tzinfo=UTC)
    assert neso["partition_date"] == date(2025, 6, 10)
    assert (neso["setpoint_mw"], neso["unit"], neso["competition_id"]) == (20.0, "mw", None)
    assert not (paths.raw_dir(SOURCE) / "date=2025-06-11").exists()


def test_invalid_lines_are_quarantined_as_rows(ingested):
    paths, _report = ingested
    q = pl.read_parquet(paths.quarantine / SOURCE / "rows" / "*.parquet").sort("source_row")
    assert q["source_file"].unique().to_list() == ["instructions_1_nged_neso_2025.jsonl"]
    assert q.select("source_row", "field").rows() == [
        (6, "(line)"), (7, "(line)"), (8, "unit"), (9, "setpoint"), (10, "start"), (11, "start"),
    ]  # fmt: skip
    reasons = q["reason"].to_list()
    assert reasons[0].startswith("invalid JSON: ") and reasons[0].endswith("(line 7)")
    assert reasons[1] == "invalid JSON: the line is an array, not a JSON object (line 8)"
    assert reasons[2:] == [
        "setpoint unit is neither kW nor MW",
        "cannot read setpoint as decimal",
        "missing required value for start",
        "cannot read start as timestamp with offset or Z (any layout: T or space separator)",
    ]
    assert q["value"].to_list()[:4] == [
        '{"instruction_id": "NGED-DI-20250401-000009", "setpoint": 3.0,',
        '["NGED-DI-20250401-000010", 3.0]',
        "GW",
        "lots",
    ]
    assert json.loads(q["record"][0]) == {"line": 7, "text": q["value"][0]}


def test_files_that_are_not_json_lines_are_rejected(lake_paths, tmp_path):
    csv_text = tmp_path / "export.jsonl"
    csv_text.write_text("instruction_id,start\nX,2025-01-01T00:00:00Z\n")
    no_start = tmp_path / "no_start.jsonl"
    no_start.write_text('{"instruction_id": "X", "issued_at": "2025-01-01T00:00:00Z"}\n')
    land(lake_paths, SOURCE, csv_text, no_start)
    report = _ingest(lake_paths)
    reasons = dict(report.select("file_name", "reason").iter_rows())
    assert set(report["status"]) == {"rejected"}
    assert reasons["export.jsonl"].startswith(
        "not JSON Lines: no line is a JSON object (line 1: invalid JSON"
    )
    assert (
        reasons["no_start.jsonl"].startswith("missing required column(s): ")
        and "start" in reasons["no_start.jsonl"]
    )


def test_cross_file_revision_moving_the_day_is_caught_by_the_suite(lake_paths, tmp_path):
    """Known limit: dedupe runs per daily partition, so a revision that arrives in a *later file* and
    moves the start to another UTC day cannot supersede the first version. The blocking expectation
    'instruction_id is unique' fails when both days are validated, so it cannot go unnoticed."""
    lines = (
        (FIXTURES / SOURCE / "instructions_1_nged_neso_2025.jsonl").read_text(encoding="utf-8").split("\n")
    )
    first, revision = tmp_path / "a_first.jsonl", tmp_path / "b_revision.jsonl"
    first.write_text(lines[3] + "\n")  # NESO-20250610-0000004 starting 10 June 23:30Z
    revision.write_text(lines[5] + "\n")  # its revision, starting 11 June 00:00Z
    land(lake_paths, SOURCE, first, revision)
    report = _ingest(lake_paths)
    assert report["balanced"].all() and report["loaded"].to_list() == [1, 1]
    raw = raw_rows(lake_paths, SOURCE)
    assert raw["partition_date"].sort().to_list() == [date(2025, 6, 10), date(2025, 6, 11)]
    result = quality.validate(SOURCE, raw)
    assert not result.success and "instruction_id" in result.summary()


def _manifest(paths: LakePaths) -> dict:
    return json.loads((paths.generated / "manifest.json").read_text())


def test_generated_demo_loads_completely(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    # 20 assets: the smallest demo of this seed in which some instructions are revised.
    generate(paths, assets=20, days=40, start=date(2025, 3, 20), seed=1, progress=False)
    files = {f["path"].split("/", 2)[2]: f for f in _manifest(paths)["files"] if f["source_id"] == SOURCE}
    assert sum(f["superseded"] for f in files.values()) > 0
    report = _ingest(paths)
    assert sorted(report["file_name"]) == sorted(files)
    for row in report.iter_rows(named=True):
        expected = files[row["file_name"]]
        assert row["status"] == "parsed" and row["balanced"], row
        assert row["rows_in"] == expected["rows"] and row["rows_quarantined"] == 0, row
        assert row["superseded"] == expected.get("superseded", 0), row
        assert row["duplicates"] == expected.get("exact_duplicates", 0), row
    raw = raw_rows(paths, SOURCE)
    assert raw["instruction_id"].is_unique().all()
    assert raw.filter(pl.col("status") == "cancelled").height == sum(f["cancelled"] for f in files.values())
    kw = raw.filter(pl.col("unit") == "kW")
    assert kw.height and (kw["setpoint_mw"] * 1000 - kw["setpoint"]).abs().max() < 1e-9


def test_generated_broken_files_end_as_the_manifest_says(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    generate(paths, assets=10, days=40, start=date(2025, 3, 20), seed=1, broken=True, progress=False)
    broken = [b for b in _manifest(paths)["broken_files"] if b["source_id"] == SOURCE]
    assert {b["kind"] for b in broken} >= {
        "missing_required_field",
        "jsonl_invalid_line",
        "unknown_setpoint_unit",
    }
    report = _ingest(paths)
    assert report["balanced"].all()
    q = pl.read_parquet(paths.quarantine / SOURCE / "rows" / "*.parquet")
    expected_field = {
        "missing_required_field": "start",
        "jsonl_invalid_line": "(line)",
        "unknown_setpoint_unit": "unit",
    }
    for entry in broken:
        name = entry["path"].split("/", 2)[2]
        row = report.filter(pl.col("file_name") == name).row(0, named=True)
        if entry["scope"] == "file":
            assert row["status"] == "rejected" and row["reason"], entry
            continue
        assert row["status"] == "parsed"
        assert row["rows_quarantined"] == entry["bad_rows"], entry
        assert row["loaded"] + row["duplicates"] + row["superseded"] == entry["good_rows"], entry
        bad = q.filter(pl.col("source_file") == name)
        assert bad["field"].to_list() == [expected_field[entry["kind"]]], entry
    invalid = q.filter(pl.col("field") == "(line)").row(0, named=True)
    assert invalid["source_row"] == 3 and invalid["reason"].startswith("invalid JSON: ")
