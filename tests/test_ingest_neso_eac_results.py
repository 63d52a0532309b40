from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from sfe import ingest
from sfe.sources import connector

from .conftest import FIXTURES, ingest_and_report, land, sample

SOURCE = "neso_eac_results"


def _raw(paths) -> pl.DataFrame:
    return pl.read_parquet(paths.raw_dir(SOURCE) / "date=*" / "*.parquet").sort(
        "interval_start_utc", "auctionProduct"
    )


def _ingest(paths) -> pl.DataFrame:
    return ingest_and_report(paths, SOURCE)


def test_real_sample_passes_unchanged_in_meaning(lake_paths):
    land(lake_paths, SOURCE, sample("neso_eac_results_summary.head.csv"))
    report = _ingest(lake_paths)
    assert report["rows_in"].to_list() == [72] and report["loaded"].to_list() == [72]
    raw = _raw(lake_paths)
    first = raw.filter(pl.col("auctionProduct") == "DCH").row(0, named=True)
    # 2023-11-02T23:00:00 is naive UTC, and the trailing 'source' column is ignored.
    assert first["interval_start_utc"] == datetime(2023, 11, 2, 23, tzinfo=UTC)
    assert first["clearedVolume"] == 1195.0 and first["clearingPrice"] == 3.86
    assert "source" not in raw.columns
    assert raw.filter(pl.col("clearingPrice") < 0).height > 0  # DMH negative prices survive


def test_awkward_fixture_values_quarantine_and_supersede(lake_paths):
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "eac_results_FY2025.csv")
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "eac_results_FY2025_republished.csv")
    report = _ingest(lake_paths)
    main, republished = report.row(0, named=True), report.row(1, named=True)
    assert (main["rows_in"], main["loaded"], main["superseded"], main["rows_quarantined"]) == (11, 7, 1, 3)
    assert (republished["rows_in"], republished["loaded"], republished["duplicates"]) == (2, 1, 1)
    assert report["balanced"].all()

    raw = _raw(lake_paths)
    # Spring clock change: EFA block 1 is 3 hours of real time; autumn: 5 hours.
    spring = raw.filter(pl.col("interval_start_utc") == datetime(2025, 3, 29, 23, tzinfo=UTC)).row(
        0, named=True
    )
    assert spring["interval_end_utc"] - spring["interval_start_utc"] == (
        datetime(2025, 3, 30, 2) - datetime(2025, 3, 29, 23)
    )
    autumn = raw.filter(pl.col("interval_start_utc") == datetime(2025, 10, 25, 22, tzinfo=UTC)).row(
        0, named=True
    )
    assert (autumn["interval_end_utc"] - autumn["interval_start_utc"]).total_seconds() == 5 * 3600
    # The republished price replaced the first one; the identical row was counted once.
    block2 = raw.filter(
        (pl.col("auctionProduct") == "DCH")
        & (pl.col("interval_start_utc") == datetime(2025, 3, 30, 2, tzinfo=UTC))
    )
    assert block2["clearingPrice"].to_list() == [3.25]
    assert raw.filter(pl.col("auctionProduct") == "PSR")["linkedServiceWindowID"].to_list() == [1]
    assert raw.filter(pl.col("auctionProduct") == "DMH")["clearingPrice"].to_list() == [-0.86]

    quarantined = pl.read_parquet(lake_paths.quarantine / SOURCE / "rows" / "*.parquet").sort("source_row")
    assert quarantined.select("source_row", "field").rows() == [
        (8, "clearingPrice"),
        (9, "deliveryStart"),
        (11, "deliveryEnd"),
    ]
    assert "abc" in quarantined["value"].to_list()
    assert all(quarantined["source_file"] == "eac_results_FY2025.csv")


def test_missing_required_column_rejects_the_file_and_others_proceed(lake_paths, tmp_path):
    bad = tmp_path / "no_price.csv"
    bad.write_text(
        "auctionID,auctionProduct,deliveryStart,deliveryEnd,clearedVolume\n1,DCH,2025-01-01T23:00:00,2025-01-02T03:00:00,5\n"
    )
    land(lake_paths, SOURCE, bad, FIXTURES / SOURCE / "eac_results_FY2025.csv")
    report = _ingest(lake_paths)
    rejected = report.filter(pl.col("status") == "rejected").row(0, named=True)
    assert rejected["file_name"] == "no_price.csv" and "clearingPrice" in rejected["reason"]
    assert (lake_paths.quarantine / SOURCE / "files").glob("*no_price.csv")
    assert report.filter(pl.col("status") == "parsed")["loaded"].sum() == 8


def test_partition_is_utc_day_of_delivery_start(lake_paths):
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "eac_results_FY2025.csv")
    _ingest(lake_paths)
    assert date(2025, 3, 29) in ingest.known_dates(SOURCE, lake_paths)
    assert connector(SOURCE).natural_key == ("auctionID", "auctionProduct", "deliveryStart")
