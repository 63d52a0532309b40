from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl

from sfe import ingest
from sfe.config import LakePaths
from sfe.generate import generate
from sfe.sources import connector

from .conftest import FIXTURES, ingest_and_report, land, raw_rows

SOURCE = "neso_eac_unit_results"


def _ingest(paths) -> pl.DataFrame:
    return ingest_and_report(paths, SOURCE)


def test_clock_changes_aliases_supersede_duplicates_and_quarantine(lake_paths):
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "eac_results_by_unit_FY2025.csv")
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "eac_results_by_unit_FY2025_republished.csv")
    report = _ingest(lake_paths)
    main, republished = report.row(0, named=True), report.row(1, named=True)
    assert (main["rows_in"], main["loaded"], main["superseded"], main["duplicates"], main["rows_quarantined"]) == (
        10, 5, 1, 0, 4,
    )  # fmt: skip
    # The re-release spells every header differently (aliases) and has no _id column.
    assert (republished["rows_in"], republished["loaded"], republished["duplicates"], republished["superseded"]) == (
        3, 2, 1, 0,
    )  # fmt: skip
    assert report["balanced"].all()

    raw = raw_rows(lake_paths, SOURCE)
    assert raw.height == 7
    # Spring clock change: EFA block 1 (23:00 GMT .. 03:00 BST) is 3 hours of real time.
    spring = raw.filter((pl.col("auctionID") == "501") & (pl.col("unitName") == "E_ALPHA-1")).row(
        0, named=True
    )
    assert spring["interval_start_utc"] == datetime(2025, 3, 29, 23, tzinfo=UTC)
    assert spring["interval_end_utc"] - spring["interval_start_utc"] == timedelta(hours=3)
    assert spring["partition_date"] == date(2025, 3, 29)
    assert (spring["executedVolume"], spring["clearingPrice"], spring["companyName"]) == (
        10.5,
        4.66,
        "Alpha Energy Ltd",
    )
    # Autumn: block 1 (23:00 BST .. 03:00 GMT) is 5 hours; negative DMH prices survive.
    autumn = raw.filter(pl.col("auctionProduct") == "DMH").row(0, named=True)
    assert autumn["interval_start_utc"] == datetime(2025, 10, 25, 22, tzinfo=UTC)
    assert autumn["interval_end_utc"] - autumn["interval_start_utc"] == timedelta(hours=5)
    assert autumn["clearingPrice"] == -0.86
    # The later file's volume replaced the first; its unit spelled via 'unit_id' is the same unit.
    block2 = raw.filter(pl.col("auctionID") == "502").sort("unitName")
    assert block2.select("unitName", "executedVolume").rows() == [("E_ALPHA-1", 9.5), ("E_BETA-1", 2.5)]
    assert block2["source"].to_list() == ["FY2025 rerelease", "FY2025 rerelease"]
    assert block2["serviceType"].to_list() == ["Response", "Response"]
    # Zero-volume rows are kept; lower-case product codes are normalised.
    assert raw.filter(pl.col("auctionProduct") == "PBR")["executedVolume"].to_list() == [0.0]
    assert raw.filter(pl.col("auctionProduct") == "DCL")["unitName"].to_list() == ["E_BETA-1"]

    q = pl.read_parquet(lake_paths.quarantine / SOURCE / "rows" / "*.parquet").sort("source_row")
    assert q.select("source_row", "field", "value").rows() == [
        (7, "executedVolume", "abc"),
        (8, "deliveryEnd", "2025-10-26T03:00:00"),
        (9, "unitName", None),
        (10, "executedVolume", "-3.0"),
    ]
    assert q["reason"].to_list() == [
        "cannot read executedVolume as decimal",
        "deliveryEnd is not after deliveryStart",
        "missing required value for unitName",
        "executedVolume is negative",
    ]


def test_reingesting_changes_nothing(lake_paths):
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "eac_results_by_unit_FY2025.csv")
    _ingest(lake_paths)
    before = raw_rows(lake_paths, SOURCE).drop("ingested_at")
    assert ingest.scan_landing(SOURCE, lake_paths) == []
    report = _ingest(lake_paths)
    assert report.height == 1 and report["balanced"].all()
    assert raw_rows(lake_paths, SOURCE).drop("ingested_at").equals(before)


def test_upper_case_header_is_accepted_and_a_missing_column_rejects(lake_paths, tmp_path):
    upper = tmp_path / "UPPER.csv"
    upper.write_text(
        "AUCTIONID,AUCTIONPRODUCT,UNITNAME,COMPANYNAME,DELIVERYSTART,DELIVERYEND,EXECUTEDVOLUME,CLEARINGPRICE\n"
        "7,NBR,T_X-1,X Ltd,2025-06-01T10:00:00,2025-06-01T10:30:00,1.5,9.0\n"
    )
    no_volume = tmp_path / "no_volume.csv"
    no_volume.write_text(
        "auctionID,auctionProduct,unitName,companyName,deliveryStart,deliveryEnd,clearingPrice\n"
        "7,NBR,T_X-1,X Ltd,2025-06-01T10:00:00,2025-06-01T10:30:00,9.0\n"
    )
    land(lake_paths, SOURCE, upper, no_volume)
    report = _ingest(lake_paths)
    rejected = report.filter(pl.col("file_name") == "no_volume.csv").row(0, named=True)
    assert rejected["status"] == "rejected" and "executedVolume" in rejected["reason"]
    assert report.filter(pl.col("file_name") == "UPPER.csv")["loaded"].to_list() == [1]
    row = raw_rows(lake_paths, SOURCE).row(0, named=True)
    assert (row["unitName"], row["executedVolume"], row["interval_start_utc"]) == (
        "T_X-1", 1.5, datetime(2025, 6, 1, 10, tzinfo=UTC),
    )  # fmt: skip
    assert connector(SOURCE).natural_key == ("auctionID", "auctionProduct", "unitName", "deliveryStart")


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
    assert raw_rows(paths, SOURCE).height == sum(f["rows"] for f in files.values())


def test_generated_broken_files_end_as_the_manifest_says(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    generate(paths, assets=10, days=40, start=date(2025, 3, 20), seed=1, broken=True, progress=False)
    broken = [b for b in _manifest(paths)["broken_files"] if b["source_id"] == SOURCE]
    assert broken
    report = _ingest(paths)
    assert report["balanced"].all()
    q = pl.read_parquet(paths.quarantine / SOURCE / "rows" / "*.parquet")
    for entry in broken:
        name = entry["path"].split("/", 2)[2]
        row = report.filter(pl.col("file_name") == name).row(0, named=True)
        if entry["scope"] == "file":
            assert row["status"] == "rejected" and row["reason"], entry
        else:
            assert row["status"] == "parsed"
            assert row["rows_quarantined"] == entry["bad_rows"], entry
            assert row["loaded"] + row["duplicates"] == entry["good_rows"], entry
            if entry["kind"] == "unparseable_number":
                bad = q.filter(pl.col("source_file") == name)
                assert sorted(bad["value"]) == ["12,5", "n/a"] and set(bad["field"]) == {"executedVolume"}
