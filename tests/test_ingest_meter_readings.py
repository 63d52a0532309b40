from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from sfe.config import LakePaths
from sfe.generate import generate

from .conftest import FIXTURES, ingest_and_report, land, outcome_counts, raw_rows

SOURCE = "meter_readings"
A, B = "1012345678901", "2098765432109"


def _ingest(paths) -> pl.DataFrame:
    return ingest_and_report(paths, SOURCE)


@pytest.fixture
def ingested(lake_paths):
    folder = FIXTURES / SOURCE
    land(lake_paths, SOURCE, folder / "meter_readings_2025-03.csv", folder / "meter_readings_2025-10.csv")
    land(lake_paths, SOURCE, folder / "meter_readings_2025-03_resend.csv")
    return lake_paths, _ingest(lake_paths)


def test_counts_supersede_and_duplicates(ingested):
    _paths, report = ingested
    march, resend, october = (report.row(i, named=True) for i in range(3))
    assert march["file_name"] == "meter_readings_2025-03.csv"
    # 46 + 2 good readings, 7 bad; the resend replaces the estimated and the missing reading.
    assert outcome_counts(march) == (55, 46, 0, 2, 7)
    assert outcome_counts(resend) == (4, 2, 2, 0, 0)
    assert outcome_counts(october) == (50, 50, 0, 0, 0)
    assert report["balanced"].all()


def test_utc_intervals_across_both_clock_changes(ingested):
    paths, _report = ingested
    raw = raw_rows(paths, SOURCE)
    a = raw.filter(pl.col("mpan") == A).with_columns(
        local_day=pl.col("interval_start_utc").dt.convert_time_zone("Europe/London").dt.date()
    )
    # The UTC instants are kept as published: the local spring day has 46 half hours, autumn 50.
    assert dict(a.group_by("local_day").len().iter_rows()) == {date(2025, 3, 30): 46, date(2025, 10, 26): 50}
    assert (raw["interval_end_utc"] - raw["interval_start_utc"]).unique().to_list() == [timedelta(minutes=30)]
    autumn = a.filter(pl.col("local_day") == date(2025, 10, 26)).sort("interval_start_utc")
    assert autumn["interval_start_utc"][0] == datetime(2025, 10, 25, 23, tzinfo=UTC)
    assert autumn["partition_date"][0] == date(2025, 10, 25)
    assert autumn["interval_end_utc"][-1] == datetime(2025, 10, 27, 0, tzinfo=UTC)
    # The autumn day's repeated local 01:00-02:00 hour is two distinct UTC hours.
    assert autumn.filter(pl.col("interval_start_utc").dt.date() == date(2025, 10, 26)).height == 48


def test_values_units_and_replacements(ingested):
    paths, _report = ingested
    raw = raw_rows(paths, SOURCE)

    def reading(mpan: str, hh: int, mm: int) -> dict:
        t = datetime(2025, 3, 30, hh, mm, tzinfo=UTC)
        rows = raw.filter((pl.col("mpan") == mpan) & (pl.col("interval_start_utc") == t))
        assert rows.height == 1
        return rows.row(0, named=True)

    battery = reading(B, 1, 0)
    assert (battery["export_kwh"], battery["export_mwh"], battery["import_mwh"]) == (250.5, 0.2505, 0.0)
    # The estimated reading was replaced by the actual one of the later file; so was the missing one.
    assert (reading(A, 1, 30)["quality"], reading(A, 1, 30)["import_kwh"]) == ("actual", 1.333)
    assert reading(A, 2, 30)["import_kwh"] == 1.555
    assert reading(A, 2, 30)["source_file"] == "meter_readings_2025-03_resend.csv"
    assert reading(A, 3, 30)["quality"] == "actual"  # 'Actual' normalised
    assert set(raw["quality"]) == {"actual"}
    assert raw.filter(pl.col("mpan") == A)["mpan"].str.len_chars().unique().to_list() == [13]


def test_missing_readings_keep_blank_kwh(lake_paths):
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "meter_readings_2025-03.csv")
    _ingest(lake_paths)
    missing = raw_rows(lake_paths, SOURCE).filter(pl.col("quality") == "missing")
    assert missing.select("mpan", "import_kwh", "export_kwh", "import_mwh").rows() == [(A, None, None, None)]


def test_bad_rows_are_quarantined_with_field_and_reason(ingested):
    paths, _report = ingested
    q = pl.read_parquet(paths.quarantine / SOURCE / "rows" / "*.parquet").sort("source_row")
    assert q.select("source_row", "field", "value", "reason").rows() == [
        (49, "mpan", "12345", "mpan is not 13 digits"),
        (50, "interval_start_utc", "2025-03-30T02:15:00Z",
         "interval_start_utc is not on the half-hour grid (:00 or :30)"),
        (51, "quality", "bad", "quality is not one of actual, estimated, missing"),
        (52, "export_kwh", "-4.000", "export_kwh is negative"),
        (53, "import_kwh", None, "import_kwh is blank but quality is not 'missing'"),
        (54, "interval_start_utc", "2025-03-30 25:00",
         "cannot read interval_start_utc as timestamp with offset or Z (any layout: T or space separator)"),
        (55, "interval_start_utc", "2025-03-30T04:00:00",
         "cannot read interval_start_utc as timestamp with offset or Z (any layout: T or space separator)"),
    ]  # fmt: skip
    assert set(q["source_file"]) == {"meter_readings_2025-03.csv"}


def _manifest(paths: LakePaths) -> dict:
    return json.loads((paths.generated / "manifest.json").read_text())


def test_generated_demo_loads_completely(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    generate(paths, assets=10, days=40, start=date(2025, 3, 20), seed=1, progress=False)
    files = {f["path"].split("/", 2)[2]: f for f in _manifest(paths)["files"] if f["source_id"] == SOURCE}
    report = _ingest(paths)
    assert sorted(report["file_name"]) == sorted(files)
    for row in report.iter_rows(named=True):
        expected = files[row["file_name"]]
        assert row["status"] == "parsed" and row["balanced"], row
        assert row["rows_in"] == expected["rows"] and row["rows_quarantined"] == 0, row
        assert row["superseded"] == expected.get("superseded", 0), row
        assert row["duplicates"] == expected.get("exact_duplicates", 0), row
    raw = raw_rows(paths, SOURCE)
    assert raw.height == sum(f["rows"] for f in files.values())
    assert raw.filter(pl.col("quality") == "missing").height == sum(
        f["missing_readings"] for f in files.values()
    )
    assert raw.filter(pl.col("quality") == "estimated").height == sum(
        f["estimated_readings"] for f in files.values()
    )


def test_generated_broken_files_end_as_the_manifest_says(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    generate(paths, assets=10, days=40, start=date(2025, 3, 20), seed=1, broken=True, progress=False)
    broken = [b for b in _manifest(paths)["broken_files"] if b["source_id"] == SOURCE]
    assert {b["kind"] for b in broken} >= {"semicolon_delimiter", "binary_garbage", "negative_value"}
    report = _ingest(paths)
    assert report["balanced"].all()
    q = pl.read_parquet(paths.quarantine / SOURCE / "rows" / "*.parquet")
    for entry in broken:
        name = entry["path"].split("/", 2)[2]
        row = report.filter(pl.col("file_name") == name).row(0, named=True)
        if entry["scope"] == "file":
            assert row["status"] == "rejected" and row["reason"], entry
            assert any((paths.quarantine / SOURCE / "files").glob(f"*__{name}"))
        else:
            assert row["status"] == "parsed"
            assert row["rows_quarantined"] == entry["bad_rows"], entry
            assert row["loaded"] + row["duplicates"] == entry["good_rows"], entry
    assert q.select("field", "value").rows() == [("import_kwh", "-5.000")]
    reasons = dict(report.select("file_name", "reason").iter_rows())
    assert "delimiter" in reasons["broken_semicolon_delimiter.csv"]
    assert "UTF-8" in reasons["broken_binary_garbage.csv"]
