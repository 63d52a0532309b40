from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from .conftest import FIXTURES, ingest_and_report, land, raw_rows, sample


def _ingest(paths, source_id) -> pl.DataFrame:
    return ingest_and_report(paths, source_id)


def test_system_prices_real_sample(lake_paths):
    land(lake_paths, "elexon_system_prices", sample("elexon_system_prices_api.head.csv"))
    report = _ingest(lake_paths, "elexon_system_prices")
    assert report["loaded"].to_list() == [20] and report["balanced"].all()
    raw = raw_rows(lake_paths, "elexon_system_prices").sort("settlementPeriod")
    first = raw.row(0, named=True)
    # Period 1 of a summer settlement day starts 23:00Z the day before.
    assert first["interval_start_utc"] == datetime(2026, 8, 31, 23, tzinfo=UTC)
    assert first["systemSellPrice"] == 116.54999999999998
    assert first["bsadDefaulted"] is False and first["periods_in_day"] == 48


def test_system_prices_both_encodings_clock_changes_and_supersede(lake_paths):
    folder = FIXTURES / "elexon_system_prices"
    land(lake_paths, "elexon_system_prices", folder / "system_prices_api_2025-03-30.csv")
    land(lake_paths, "elexon_system_prices", folder / "system_prices_website_2025-10-26.csv")
    report = _ingest(lake_paths, "elexon_system_prices")
    api, web = report.row(0, named=True), report.row(1, named=True)
    # API: 46 periods + one impossible period 47 (quarantined); period 11 superseded by the website file.
    assert (api["rows_in"], api["loaded"], api["superseded"], api["rows_quarantined"]) == (47, 45, 1, 1)
    # Website: 50 periods on the autumn day + an identical period 10 + a re-issued period 11.
    assert (web["rows_in"], web["loaded"], web["duplicates"]) == (52, 51, 1)
    assert report["balanced"].all()

    raw = raw_rows(lake_paths, "elexon_system_prices")
    per_day = dict(raw.group_by("settlementDate").len().iter_rows())
    assert per_day == {date(2025, 3, 30): 46, date(2025, 10, 26): 50}
    spring = raw.filter(pl.col("settlementDate") == date(2025, 3, 30)).sort("settlementPeriod")
    assert spring["interval_start_utc"][-1] == datetime(2025, 3, 30, 22, 30, tzinfo=UTC)
    assert spring.filter(pl.col("settlementPeriod") == 11)["systemSellPrice"].to_list() == [99.5]
    assert spring.filter(pl.col("settlementPeriod") == 4)["netImbalanceVolume"].to_list() == [7.57e-07]
    assert spring.filter(pl.col("settlementPeriod") == 6)["systemSellPrice"].to_list() == [None]
    autumn = raw.filter(pl.col("settlementDate") == date(2025, 10, 26)).sort("settlementPeriod")
    assert autumn["interval_start_utc"][0] == datetime(2025, 10, 25, 23, tzinfo=UTC)
    assert autumn["interval_end_utc"][-1] == datetime(2025, 10, 27, 0, tzinfo=UTC)
    # 18-decimal website numbers load as the same values as the API's.
    assert autumn["systemSellPrice"][0] == 61.1
    q = pl.read_parquet(lake_paths.quarantine / "elexon_system_prices" / "rows" / "*.parquet")
    assert q["field"].to_list() == ["settlementPeriod"] and "46/48/50" in q["reason"][0]


def test_boalf_sample_and_fixture(lake_paths):
    land(lake_paths, "elexon_boalf", sample("elexon_boalf.head.csv"))
    land(lake_paths, "elexon_boalf", FIXTURES / "elexon_boalf" / "boalf_clock_changes_newest_first.csv")
    report = _ingest(lake_paths, "elexon_boalf")
    fixture = report.filter(pl.col("file_name").str.starts_with("boalf_")).row(0, named=True)
    counts = (fixture["rows_in"], fixture["loaded"], fixture["duplicates"], fixture["rows_quarantined"])
    assert counts == (9, 6, 1, 2)
    assert report["balanced"].all()
    raw = raw_rows(lake_paths, "elexon_boalf")
    crossing = raw.filter((pl.col("settlementPeriodFrom") == 48) & (pl.col("settlementPeriodTo") == 1))
    assert crossing.height == 2  # one from the real sample, one from the fixture
    assert raw.filter(pl.col("levelFrom") < 0).height > 0  # negative = import, kept as is
    # Spring clock change: period 46 is the last of the 46-period day and starts 22:30 UTC.
    spring = raw.filter(pl.col("settlementDate") == date(2025, 3, 30)).row(0, named=True)
    assert spring["settlementPeriodFrom"] == 46
    assert spring["interval_start_utc"] == datetime(2025, 3, 30, 22, 30, tzinfo=UTC)
    # Autumn: period 1 of 26 October starts 23:00 UTC on the 25th (midnight BST).
    autumn = raw.filter(
        (pl.col("settlementDate") == date(2025, 10, 26)) & (pl.col("settlementPeriodFrom") == 1)
    )
    assert autumn["interval_start_utc"].min() == datetime(2025, 10, 25, 23, tzinfo=UTC)
    q = pl.read_parquet(lake_paths.quarantine / "elexon_boalf" / "rows" / "*.parquet").sort("source_row")
    assert q.select("source_row", "field").rows() == [(7, "timeTo"), (8, "levelFrom")]
