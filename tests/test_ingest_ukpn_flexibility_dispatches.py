from __future__ import annotations

from datetime import UTC, datetime, time

import polars as pl

from .conftest import FIXTURES, ingest_and_report, land, raw_rows, sample

SOURCE = "ukpn_flexibility_dispatches"


def _ingest(paths) -> pl.DataFrame:
    return ingest_and_report(paths, SOURCE)


def test_real_sample_with_bom(lake_paths):
    land(lake_paths, SOURCE, sample("ukpn_flexibility_dispatches.head.csv"))
    report = _ingest(lake_paths)
    assert report.row(0, named=True)["loaded"] == 30 and report["balanced"].all()
    raw = raw_rows(lake_paths, SOURCE)
    assert raw.columns[2] == "company_name"  # the BOM is not part of the first column name
    row = raw.filter(pl.col("fu_id") == "OVO -CAPE-DA-6864").sort("interval_start_utc").row(0, named=True)
    assert row["zone"] == "Capel Switching Station"
    assert raw["time_utc"].dtype == pl.Time


def test_offsets_rerelease_duplicates_and_unmapped_products(lake_paths):
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "ukpn_dispatches_2025.csv")
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "ukpn_dispatches_2025_rerelease.csv")
    report = _ingest(lake_paths)
    first, rerelease = report.row(0, named=True), report.row(1, named=True)
    assert (first["rows_in"], first["loaded"], first["rows_quarantined"]) == (8, 6, 2)
    assert (rerelease["rows_in"], rerelease["loaded"], rerelease["duplicates"]) == (3, 1, 2)
    assert report["balanced"].all()

    raw = raw_rows(lake_paths, SOURCE)
    # A summer-time row: 17:00+01:00 local is 16:00 UTC.
    summer = raw.filter(pl.col("fu_id") == "EV.E-THOR-SAOU-F901").sort("interval_end_utc")
    assert summer["interval_start_utc"].to_list() == [datetime(2025, 7, 15, 16, tzinfo=UTC)] * 2
    # Same company/unit/start/product but different end: two distinct dispatches.
    assert summer.height == 2
    assert summer["time_utc"].to_list() == [time(16, 0)] * 2
    # Autumn clock change: 01:00+01:00 to 01:00+00:00 is one real hour.
    autumn = raw.filter(pl.col("product") == "Scheduled Availability").row(0, named=True)
    assert autumn["interval_start_utc"] == datetime(2025, 10, 26, 0, tzinfo=UTC)
    assert (autumn["interval_end_utc"] - autumn["interval_start_utc"]).total_seconds() == 3600
    # Unknown product vocabulary is kept and flagged, never dropped.
    boost = raw.filter(pl.col("product") == "Flex Boost")
    assert boost["standard_product_key"].to_list() == ["unmapped:flex boost"]
    assert set(raw.filter(pl.col("product") != "Flex Boost")["standard_product_key"]) <= {
        "scheduled_utilisation",
        "operational_utilisation_scheduled_availability",
    }

    quarantined = pl.read_parquet(lake_paths.quarantine / SOURCE / "rows" / "*.parquet").sort("source_row")
    assert quarantined.select("source_row", "field").rows() == [
        (7, "start_time_utc"),
        (8, "start_time_local"),
    ]
    assert "different instants" in quarantined["reason"][0]
