"""sfe.serving (read-only, reconnect-on-publish access) and sfe.queries (the shared data access)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
import pytest

from sfe import queries
from sfe.serving import ServingDB, WarehouseNotBuilt, get_db, reset_db_registry

try:
    from serving_fixtures import (
        BST_DISPATCH_START,
        PUBLISHED_AT,
        build_serving_db,
        publish_serving_db,
        raw_rows,
    )
except ImportError:  # tests/ imported as a package
    from tests.serving_fixtures import (
        BST_DISPATCH_START,
        PUBLISHED_AT,
        build_serving_db,
        publish_serving_db,
        raw_rows,
    )


@pytest.fixture
def lake_dir(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    monkeypatch.setenv("SFE_LAKE_DIR", str(lake))
    yield lake
    reset_db_registry()


@pytest.fixture
def published(lake_dir):
    return publish_serving_db(lake_dir)


@pytest.fixture
def db(published):
    serving = ServingDB(published)
    yield serving
    serving.close()


def _count(db: ServingDB, table: str) -> int:
    return db.query(f"SELECT count(*) AS n FROM {table}").item()


# -- serving -------------------------------------------------------------------------------------
def test_reads_the_published_tables_as_polars(db, published):
    frame = db.query(
        "SELECT delivery_start_utc, cleared_volume_mw FROM fct_auction_result WHERE product_id = $p "
        "ORDER BY delivery_start_utc LIMIT 2",
        {"p": "neso_eac_dch"},
    )
    assert isinstance(frame, pl.DataFrame)
    assert frame.schema["delivery_start_utc"] == pl.Datetime("us", "UTC")
    assert frame["delivery_start_utc"][0] == datetime(
        2024, 2, 29, 23, 0, tzinfo=UTC
    )  # EFA 1: 23:00 the evening before
    assert _count(db, "fct_auction_result") == raw_rows(published, "fct_auction_result").height
    assert db.query("SELECT ? + 1 AS x", [41]).item() == 42


def test_connection_is_read_only(db, published):
    before = _count(db, "fct_dispatch")
    with pytest.raises(duckdb.Error, match="read-only"):
        db.query("CREATE TABLE hacked AS SELECT 1 AS a")
    with pytest.raises(duckdb.Error, match="read-only"):
        db.query("DELETE FROM fct_dispatch")
    assert _count(db, "fct_dispatch") == before
    assert raw_rows(published, "fct_dispatch").height == before


def test_missing_warehouse_raises_a_clear_error(lake_dir):
    db = ServingDB(lake_dir / "warehouse" / "sfe.duckdb")
    assert not db.exists()
    with pytest.raises(WarehouseNotBuilt) as err:
        db.query("SELECT 1")
    message = str(err.value)
    assert str(lake_dir / "warehouse" / "sfe.duckdb") in message
    assert "make build" in message and "sfe build" in message
    with pytest.raises(WarehouseNotBuilt):
        db.publish_version()
    with pytest.raises(WarehouseNotBuilt):
        queries.freshness(db)


def test_picks_up_a_new_publish_without_being_recreated(db, lake_dir):
    v1_rows = _count(db, "fct_auction_result")
    v1_token = db.publish_version()
    assert queries.freshness(db).published_at == PUBLISHED_AT[1]

    publish_serving_db(lake_dir, version=2)  # atomic rename of a new file over sfe.duckdb

    assert db.publish_version() != v1_token
    assert _count(db, "fct_auction_result") == v1_rows + 3 * 6  # three June days of DCH EFA blocks
    assert queries.freshness(db).published_at == PUBLISHED_AT[2]
    assert db.reconnects == 2


def test_a_session_keeps_reading_one_publish(db, lake_dir):
    """Rows and totals of one request come from one publish, even if a new one lands in between."""
    v1_rows = _count(db, "fct_auction_result")
    done = threading.Event()
    seen: list[int] = []

    def in_session() -> None:
        with db.session() as s:
            seen.append(s.query("SELECT count(*) FROM fct_auction_result").item())
            publish_serving_db(lake_dir, version=2)
            seen.append(s.query("SELECT count(*) FROM fct_auction_result").item())
            # A nested query on the same thread must not wait for this very session to finish.
            seen.append(_count(db, "fct_auction_result"))
        done.set()

    worker = threading.Thread(target=in_session, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert done.is_set(), "a nested query deadlocked waiting for its own session"
    assert seen == [v1_rows, v1_rows, v1_rows]
    assert _count(db, "fct_auction_result") == v1_rows + 18


def test_concurrent_readers_survive_repeated_publishes(db, lake_dir):
    errors: list[BaseException] = []
    counts: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                counts.add(_count(db, "fct_auction_result"))
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(6):
        publish_serving_db(lake_dir, version=1 + i % 2)
        time.sleep(0.05)
    publish_serving_db(lake_dir, version=2)
    time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(timeout=20)
    assert not errors, errors
    v1 = raw_rows(lake_dir / "warehouse" / "sfe.duckdb", "fct_auction_result").height - 18
    assert counts <= {v1, v1 + 18}
    assert _count(db, "fct_auction_result") == v1 + 18


WRITER = textwrap.dedent(
    """
    import sys, time, duckdb
    build, stop = sys.argv[1], sys.argv[2]
    con = duckdb.connect(build)
    con.execute("CREATE OR REPLACE TABLE scratch (i INTEGER)")
    print("locked", flush=True)
    i = 0
    deadline = time.time() + 60
    while time.time() < deadline:
        con.execute("INSERT INTO scratch VALUES (?)", [i])
        i += 1
        try:
            open(stop).close()
            break
        except FileNotFoundError:
            time.sleep(0.005)
    con.execute("CHECKPOINT")
    con.close()
    print(i, flush=True)
    """
)


def test_a_writer_on_build_duckdb_does_not_disturb_readers(db, lake_dir):
    build = lake_dir / "warehouse" / "build.duckdb"
    build_serving_db(build, version=2)
    stop = lake_dir / "stop"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(build), str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        # The writer really holds build.duckdb: another process cannot even read it now ...
        with pytest.raises(duckdb.IOException, match="[Ll]ock"):
            duckdb.connect(str(build), read_only=True)
        # ... while the published file serves reads as usual.
        v1 = _count(db, "fct_auction_result")
        for _ in range(50):
            assert _count(db, "fct_auction_result") == v1
            queries.auction_trends("month", db=db)
    finally:
        stop.touch()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and int(out.strip()) > 0

    # Publish like sfe.publish: copy next to sfe.duckdb, then rename over it.
    tmp = lake_dir / "warehouse" / ".sfe.duckdb.tmp"
    shutil.copyfile(build, tmp)
    os.replace(tmp, lake_dir / "warehouse" / "sfe.duckdb")
    assert _count(db, "fct_auction_result") == v1 + 18
    assert _count(db, "scratch") > 0


def test_get_db_is_one_instance_per_lake(tmp_path, monkeypatch):
    try:
        monkeypatch.setenv("SFE_LAKE_DIR", str(tmp_path / "a"))
        first = get_db()
        assert get_db() is first
        assert first.path == (tmp_path / "a" / "warehouse" / "sfe.duckdb").resolve()
        monkeypatch.setenv("SFE_LAKE_DIR", str(tmp_path / "b"))
        second = get_db()
        assert second is not first
        assert second.path == (tmp_path / "b" / "warehouse" / "sfe.duckdb").resolve()
        assert get_db(tmp_path / "a" / "warehouse" / "sfe.duckdb") is first
    finally:
        reset_db_registry()


# -- queries -------------------------------------------------------------------------------------
def _gb_date(col: str) -> pl.Expr:
    return pl.col(col).dt.convert_time_zone("Europe/London").dt.date()


def test_freshness(db):
    fresh = queries.freshness(db)
    assert fresh.published_at == PUBLISHED_AT[1]
    assert fresh.build_started_at == PUBLISHED_AT[1] - timedelta(minutes=5)
    assert fresh.sfe_version == "0.1.0" and fresh.dbt_tests_passed is True
    assert fresh.sources["source_id"].to_list() == ["neso_eac_results", "ukpn_flexibility_dispatches"]
    assert fresh.total_rows == _count(db, "fct_auction_result") + _count(db, "fct_dispatch")
    assert fresh.publish_version == db.publish_version()


def test_freshness_without_publish_metadata(tmp_path):
    path = tmp_path / "sfe.duckdb"
    build_serving_db(path)
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE meta_publish")
    con.execute("DROP TABLE meta_source_rows")
    con.close()
    db = ServingDB(path)
    try:
        fresh = queries.freshness(db)
    finally:
        db.close()
    assert fresh.published_at is None and fresh.sources.is_empty() and fresh.total_rows == 0


def test_paging_is_stable_and_complete(db, published):
    expected = raw_rows(published, "fct_auction_result").sort(
        "delivery_start_utc", "product_id", "auction_result_id"
    )["auction_result_id"]
    ids: list[str] = []
    offset = 0
    while True:
        page = queries.auction_results(limit=100, offset=offset, db=db)
        assert page.total == expected.len()
        ids.extend(page.rows["auction_result_id"].to_list())
        if page.next_offset is None:
            break
        offset = page.next_offset
    assert ids == expected.to_list()
    assert list(page.rows.columns) == list(queries.AUCTION_RESULT_COLUMNS)


def test_filters_are_half_open_on_the_start_instant(db):
    start, end = datetime(2024, 3, 31, 0, 0, tzinfo=UTC), datetime(2024, 3, 31, 1, 0, tzinfo=UTC)
    page = queries.auction_results(["neso_eac_pbr"], start, end, db=db)
    assert page.rows["delivery_start_utc"].to_list() == [start, start + timedelta(minutes=30)]
    # Naive datetimes are UTC; a date is midnight UTC.
    assert queries.auction_results(["neso_eac_pbr"], start.replace(tzinfo=None), end, db=db).total == 2
    late = queries.dispatches(["ukpn_dynamic"], BST_DISPATCH_START, date(2024, 4, 2), db=db)
    assert late.total == 1 and late.rows["start_utc"][0] == BST_DISPATCH_START
    assert list(late.rows.columns) == list(queries.DISPATCH_COLUMNS)
    both = queries.dispatches(["ukpn_dynamic", "ukpn_secure"], date(2024, 4, 1), date(2024, 4, 2), db=db)
    assert set(both.rows["product_id"]) == {"ukpn_dynamic", "ukpn_secure"} and both.total == 5
    with pytest.raises(ValueError, match="before"):
        queries.dispatches(start=end, end=start, db=db)
    with pytest.raises(ValueError, match="limit"):
        queries.dispatches(limit=queries.MAX_LIMIT + 1, db=db)


def test_products_with_data(db):
    products = queries.products_with_data(db)
    assert products["product_id"].to_list() == [
        "neso_eac_dch", "neso_eac_dcl", "neso_eac_pbr", "ukpn_dynamic", "ukpn_secure", "ukpn_sustain",
    ]  # fmt: skip
    row = products.row(0, named=True)
    assert row["product_name"] == "Dynamic Containment High" and row["market_name"].startswith("NESO")
    assert row["auction_result_rows"] == 552 and row["dispatch_rows"] == 0
    assert "nged_peak_reduction" in queries.known_product_ids(db)
    assert queries.data_date_range(db) == (date(2024, 2, 29), date(2024, 5, 31))


def test_daily_auction_trends_match_an_independent_computation(db, published):
    raw = raw_rows(published, "fct_auction_result").with_columns(
        period_start=_gb_date("delivery_start_utc"),
        mwh=pl.col("cleared_volume_mw")
        * (pl.col("delivery_end_utc") - pl.col("delivery_start_utc")).dt.total_seconds()
        / 3600,
    )
    expected = (
        raw.group_by("period_start", "product_id")
        .agg(
            results=pl.len(),
            cleared_volume_mw=pl.col("cleared_volume_mw").sum(),
            cleared_volume_mwh=pl.col("mwh").sum(),
            vwap=(pl.col("clearing_price_gbp_per_mw_h") * pl.col("mwh")).sum() / pl.col("mwh").sum(),
            mean=pl.col("clearing_price_gbp_per_mw_h").mean(),
        )
        .sort("period_start", "product_id")
    )
    got = queries.auction_trends("day", db=db)
    assert got.height == expected.height
    assert got["period_start"].to_list() == expected["period_start"].to_list()
    assert got["results"].to_list() == expected["results"].to_list()
    for ours, theirs in [
        ("cleared_volume_mw", "cleared_volume_mw"),
        ("cleared_volume_mwh", "cleared_volume_mwh"),
        ("vwap_clearing_price_gbp_per_mw_h", "vwap"),
        ("mean_clearing_price_gbp_per_mw_h", "mean"),
    ]:
        assert got[ours].to_list() == pytest.approx(expected[theirs].to_list())

    # The spring clock change: the EFA block starting 23:00 GMT on 30 March ends 03:00 BST = 3 hours.
    short = raw.filter(
        pl.col("delivery_start_utc") == datetime(2024, 3, 30, 23, tzinfo=UTC), product_id="neso_eac_dch"
    )
    assert short["mwh"][0] == pytest.approx(short["cleared_volume_mw"][0] * 3)


def test_trend_days_are_gb_local_days(db):
    daily = queries.dispatch_trends("day", ["ukpn_dynamic"], date(2024, 4, 1), date(2024, 4, 3), db=db)
    by_day = dict(zip(daily["period_start"], daily["dispatches"], strict=True))
    # 23:30 UTC on 1 April is 00:30 BST on 2 April.
    assert by_day == {date(2024, 4, 1): 2, date(2024, 4, 2): 3}
    day2 = daily.row(1, named=True)
    # VWAP by MWh: (2 regular dispatches + 2 MWh at £300) / total MWh.
    assert day2["utilisation_mwh"] == pytest.approx(4.625)
    # date_to is exclusive: stopping at 2 April leaves out the 00:30 BST dispatch.
    only_day1 = queries.dispatch_trends("day", ["ukpn_dynamic"], date(2024, 4, 1), date(2024, 4, 2), db=db)
    assert only_day1["dispatches"].to_list() == [2]
    with pytest.raises(ValueError, match="granularity"):
        queries.dispatch_trends("week", db=db)


def test_dispatch_vwap_ignores_rows_without_a_price(db, published):
    raw = (
        raw_rows(published, "fct_dispatch")
        .filter(product_id="ukpn_secure")
        .with_columns(day=_gb_date("start_utc"))
    )
    day = raw.filter(day=date(2024, 4, 10))
    priced = day.filter(pl.col("utilisation_price_gbp_per_mwh").is_not_null())
    assert priced.height == 1 and day.height == 2
    got = queries.dispatch_trends("day", ["ukpn_secure"], date(2024, 4, 10), date(2024, 4, 11), db=db).row(
        0, named=True
    )
    assert got["utilisation_mwh"] == pytest.approx(day["energy_mwh"].sum())
    assert got["vwap_utilisation_price_gbp_per_mwh"] == pytest.approx(
        priced["utilisation_price_gbp_per_mwh"][0]
    )
    assert got["mean_availability_price_gbp_per_mw_h"] == pytest.approx(5.5)


def test_monthly_trends_roll_up_the_daily_ones(db):
    daily = queries.auction_trends("day", db=db)
    monthly = queries.auction_trends("month", db=db)
    rolled = (
        daily.with_columns(period_start=pl.col("period_start").dt.truncate("1mo"))
        .group_by("period_start", "product_id")
        .agg(pl.col("results").sum(), pl.col("cleared_volume_mwh").sum())
        .sort("period_start", "product_id")
    )
    assert monthly.select("period_start", "product_id", "results").equals(
        rolled.select("period_start", "product_id", "results")
    )
    assert monthly["cleared_volume_mwh"].to_list() == pytest.approx(rolled["cleared_volume_mwh"].to_list())
    assert monthly["period_start"].min() == date(
        2024, 2, 1
    )  # the first EFA block starts 23:00 on 29 February
    march = queries.auction_trends("month", ["neso_eac_dch"], date(2024, 3, 1), date(2024, 4, 1), db=db)
    assert march["period_start"].to_list() == [date(2024, 3, 1)] and march["results"].to_list() == [31 * 6]
