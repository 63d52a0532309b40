from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from sfe.config import LakePaths
from sfe.generate import generate

from .conftest import FIXTURES, ingest_and_report, land, outcome_counts, raw_rows

SOURCE = "so_settlement_statements"
OCT = "NESO-ST-202510-ALPH"


def _ingest(paths) -> pl.DataFrame:
    return ingest_and_report(paths, SOURCE)


@pytest.fixture
def ingested(lake_paths):
    folder = FIXTURES / SOURCE
    land(
        lake_paths,
        SOURCE,
        folder / "neso_settlement_2025-10_rev1.csv",
        folder / "neso_settlement_2025-10_rev1_resend.jsonl",
        folder / "neso_settlement_2025-10_rev2.jsonl",
    )
    return lake_paths, _ingest(lake_paths)


def _line(raw: pl.DataFrame, statement_id: str, line_id: str) -> dict:
    rows = raw.filter((pl.col("statement_id") == statement_id) & (pl.col("line_id") == line_id))
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def test_counts_across_both_encodings(ingested):
    _paths, report = ingested
    rev1, resend, rev2 = (report.row(i, named=True) for i in range(3))
    assert rev1["file_name"] == "neso_settlement_2025-10_rev1.csv"
    assert outcome_counts(rev1) == (8, 4, 0, 1, 3)
    # Two revision-1 lines sent again as JSON Lines: the same values, so duplicates.
    assert outcome_counts(resend) == (2, 0, 2, 0, 0)
    # Revision 2 of one line, and a truncated JSON line.
    assert outcome_counts(rev2) == (2, 1, 0, 0, 1)
    assert report["balanced"].all()


def test_revision_2_supersedes_and_values(ingested):
    paths, _report = ingested
    raw = raw_rows(paths, SOURCE)
    assert raw.height == 5
    corrected = _line(raw, OCT, "L000006")
    assert (corrected["revision"], corrected["availability_mw"], corrected["total_gbp"]) == (2, 1.2, 6.0)
    assert corrected["statement_date"] == date(2026, 1, 12)
    assert corrected["source_file"] == "neso_settlement_2025-10_rev2.jsonl"
    penalised = _line(raw, OCT, "L000002")
    assert (penalised["delivered_mwh"], penalised["penalty_gbp"], penalised["total_gbp"]) == (0.8, 10.0, 70.0)
    assert penalised["dispatch_ref"] == "NESO-20251026-0000004" and penalised["availability_mw"] is None
    assert _line(raw, OCT, "L000007")["availability_payment_gbp"] == 1.29  # within a penny of 1.293705
    assert raw["mpan"].unique().to_list() == ["1012345678901"]
    assert raw["operator_id"].unique().to_list() == ["neso"]


def test_clock_change_windows(ingested):
    paths, _report = ingested
    raw = raw_rows(paths, SOURCE)
    autumn = _line(raw, OCT, "L000001")
    assert autumn["interval_start_utc"] == datetime(2025, 10, 25, 22, tzinfo=UTC)
    assert autumn["interval_end_utc"] - autumn["interval_start_utc"] == timedelta(hours=5)
    assert autumn["availability_hours"] == 5.0 and autumn["partition_date"] == date(2025, 10, 25)
    spring = _line(raw, "NESO-ST-202503-ALPH", "L000001")
    assert spring["interval_end_utc"] - spring["interval_start_utc"] == timedelta(hours=3)
    assert (spring["availability_price_gbp_per_mw_h"], spring["total_gbp"]) == (-0.86, -3.87)


def test_money_and_period_checks_quarantine(ingested):
    paths, _report = ingested
    q = pl.read_parquet(paths.quarantine / SOURCE / "rows" / "*.parquet").sort("source_file", "source_row")
    assert q.select("source_file", "source_row", "field", "value").rows() == [
        ("neso_settlement_2025-10_rev1.csv", 4, "total_gbp", "170.0"),
        ("neso_settlement_2025-10_rev1.csv", 5, "availability_payment_gbp", "5.0"),
        ("neso_settlement_2025-10_rev1.csv", 6, "period_end_utc", "2025-10-27T10:30:00Z"),
        ("neso_settlement_2025-10_rev2.jsonl", 2, "(line)",
         '{"statement_id": "NESO-ST-202510-ALPH", "revision": 2, "line_id": "L000099"'),
    ]  # fmt: skip
    reasons = q["reason"].to_list()
    assert reasons[:3] == [
        "total_gbp differs from availability + utilisation - penalty by more than 0.01",
        "availability_payment_gbp differs from availability_mw x price x hours by more than 0.01",
        "period_end_utc is not after period_start_utc",
    ]
    assert reasons[3].startswith("invalid JSON: ") and reasons[3].endswith("(line 2)")


def _manifest(paths: LakePaths) -> dict:
    return json.loads((paths.generated / "manifest.json").read_text())


def test_generated_demo_loads_completely(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    generate(paths, assets=10, days=40, start=date(2025, 3, 20), seed=1, progress=False)
    files = {f["path"].split("/", 2)[2]: f for f in _manifest(paths)["files"] if f["source_id"] == SOURCE}
    assert {name.rsplit(".", 1)[1] for name in files} == {"csv", "jsonl"}
    assert sum(f.get("superseded", 0) for f in files.values()) > 0
    report = _ingest(paths)
    assert sorted(report["file_name"]) == sorted(files)
    for row in report.iter_rows(named=True):
        expected = files[row["file_name"]]
        assert row["status"] == "parsed" and row["balanced"], row
        assert row["rows_in"] == expected["rows"] and row["rows_quarantined"] == 0, row
        assert row["superseded"] == expected.get("superseded", 0), row
        assert row["duplicates"] == expected.get("exact_duplicates", 0), row
    raw = raw_rows(paths, SOURCE)
    revised = sum(f["rows"] for f in files.values() if f["revision"] == 2)
    assert raw.filter(pl.col("revision") == 2).height == revised


def test_generated_broken_files_end_as_the_manifest_says(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    generate(paths, assets=10, days=40, start=date(2025, 3, 20), seed=1, broken=True, progress=False)
    broken = [b for b in _manifest(paths)["broken_files"] if b["source_id"] == SOURCE]
    assert {b["kind"] for b in broken} >= {"total_mismatch", "unknown_extension"}
    report = _ingest(paths)
    assert report["balanced"].all()
    q = pl.read_parquet(paths.quarantine / SOURCE / "rows" / "*.parquet")
    for entry in broken:
        name = entry["path"].split("/", 2)[2]
        row = report.filter(pl.col("file_name") == name).row(0, named=True)
        if entry["scope"] == "file":
            assert row["status"] == "rejected" and row["reason"], entry
            continue
        assert row["status"] == "parsed"
        assert row["rows_quarantined"] == entry["bad_rows"], entry
        assert row["loaded"] + row["duplicates"] == entry["good_rows"], entry
    assert q.select("source_row", "field").rows() == [(2, "total_gbp")]
    assert ".dat" in dict(report.select("file_name", "reason").iter_rows())["broken_unknown_extension.dat"]
