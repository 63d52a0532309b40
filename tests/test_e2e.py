"""End to end: generated demo files → Dagster ingest → dbt → publish → queries, CLI and serving.

Builds one small lakehouse (20 assets, 225 days covering both 2025 clock changes) in a temporary
SFE_LAKE_DIR and checks the marts against the generator's manifest.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from sfe import ingest, pipeline
from sfe.config import LakePaths
from sfe.generate import generate
from sfe.sources import CONNECTORS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SFE_LAKE_DIR", str(root))
        paths = LakePaths(root)
        generate(paths, assets=20, days=225, start=date(2025, 3, 20), seed=3, progress=False)
        result = pipeline.build()
        manifest = json.loads((paths.generated / "manifest.json").read_text())
        yield paths, result, manifest


def _query(paths: LakePaths, sql: str, params=None):
    con = duckdb.connect(str(paths.serving_db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _manifest_files(manifest, source_id):
    return [f for f in manifest["files"] if f["source_id"] == source_id]


def test_every_row_of_every_generated_file_is_accounted_for(demo):
    paths, result, manifest = demo
    assert result.published and paths.serving_db.exists()
    assert (paths.warehouse / "dbt_docs" / "index.html").exists()  # the data dictionary
    assert (paths.exports / "fct_dispatch.parquet").exists()
    for source_id in CONNECTORS:
        files = _manifest_files(manifest, source_id)
        report = ingest.file_report(source_id, paths)
        assert report.height == len(files), source_id
        assert report["balanced"].all(), report.filter(~pl.col("balanced"))
        assert report["rows_in"].sum() == sum(f["rows"] for f in files), source_id
        assert (report["status"] == "parsed").all(), source_id
        assert report["rows_quarantined"].sum() == 0, source_id
        assert report["superseded"].sum() == sum(f.get("superseded", 0) for f in files), source_id
        if source_id == "elexon_system_prices":
            # The API and website encodings overlap by design: each period loads exactly once.
            assert report["loaded"].sum() == manifest["range"]["settlement_periods"]
        else:
            assert report["duplicates"].sum() == sum(f.get("exact_duplicates", 0) for f in files), source_id


def test_marts_trace_back_to_generated_files(demo):
    paths, result, manifest = demo
    ukpn = _manifest_files(manifest, "ukpn_flexibility_dispatches")
    expected_dispatches = sum(f["rows"] - f.get("exact_duplicates", 0) for f in ukpn)
    ukpn_dispatches = "select count(*) from fct_dispatch where source_id = 'ukpn_flexibility_dispatches'"
    assert _query(paths, ukpn_dispatches)[0][0] == expected_dispatches
    eac = sum(f["rows"] for f in _manifest_files(manifest, "neso_eac_results"))
    assert _query(paths, "select count(*) from fct_auction_result")[0][0] == eac
    assert (
        _query(paths, "select count(*) from fct_system_price")[0][0]
        == manifest["range"]["settlement_periods"]
    )
    boalf = sum(f["rows"] for f in _manifest_files(manifest, "elexon_boalf"))
    assert _query(paths, "select count(*) from fct_bm_acceptance")[0][0] == boalf
    # Every dispatch resolves to a product and a market of the taxonomy.
    orphans = _query(
        paths,
        "select count(*) from fct_dispatch d left join dim_product p using (product_id) "
        "left join dim_market m on m.market_id = d.market_id where p.product_id is null or m.market_id is null",
    )
    assert orphans[0][0] == 0
    assert result.table_rows["fct_dispatch"] == _query(paths, "select count(*) from fct_dispatch")[0][0]
    rows = dict(_query(paths, "select source_id, rows_loaded from meta_source_rows"))
    assert rows["ukpn_flexibility_dispatches"] == expected_dispatches
    assert _query(paths, "select count(*) from meta_publish")[0][0] == 1


def test_settlement_periods_follow_clock_changes(demo):
    paths, _, _ = demo
    counts = dict(
        _query(
            paths,
            "select settlement_date, count(*) from dim_settlement_period "
            "where settlement_date in ('2025-03-30', '2025-10-26', '2025-06-01') group by 1",
        )
    )
    assert counts == {date(2025, 3, 30): 46, date(2025, 10, 26): 50, date(2025, 6, 1): 48}
    first, last = _query(
        paths,
        "select min(start_utc), max(end_utc) from dim_settlement_period where settlement_date = '2025-10-26'",
    )[0]
    assert first == datetime(2025, 10, 25, 23, tzinfo=UTC) and last == datetime(2025, 10, 27, 0, tzinfo=UTC)
    # Imbalance prices of the autumn day: 50 periods, the first starting 23:00 UTC the day before.
    prices = _query(
        paths,
        "select count(*), min(start_utc) from fct_system_price where settlement_date = '2025-10-26'",
    )[0]
    assert prices == (50, datetime(2025, 10, 25, 23, tzinfo=UTC))


def test_summer_time_ukpn_row_is_stored_in_utc(demo):
    paths, _, _ = demo
    landing = sorted(paths.landing_dir("ukpn_flexibility_dispatches").glob("*.csv"))
    with open(landing[0], encoding="utf-8-sig", newline="") as fh:
        summer = next(r for r in csv.DictReader(fh) if r["start_time_local"].endswith("+01:00"))
    local = datetime.fromisoformat(summer["start_time_local"])
    rows = _query(
        paths,
        "select start_utc from fct_dispatch where source_asset_ref = ? and start_utc = ?",
        [summer["fu_id"], local.astimezone(UTC)],
    )
    assert rows, summer
    stored = rows[0][0]
    assert stored.utcoffset().total_seconds() == 0
    assert stored.hour == (local.hour - 1) % 24


def test_sfe_sql_answers_read_only(demo):
    from sfe.cli import main

    paths, _, _ = demo
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SFE_LAKE_DIR", str(paths.root))
        result = CliRunner().invoke(main, ["sql", "select count(*) as n from fct_dispatch"])
    assert result.exit_code == 0, result.output
    assert str(_query(paths, "select count(*) from fct_dispatch")[0][0]) in result.output


def test_apps_keep_answering_while_a_build_runs(demo):
    """A rebuild (dbt writes build.duckdb, publish swaps sfe.duckdb) never disturbs readers."""
    from pipelines.defs.warehouse.assets import DOCS_FINGERPRINT, project_fingerprint
    from sfe.serving import ServingDB

    paths, _, _ = demo
    docs = paths.warehouse / "dbt_docs"
    docs_written_ns = (docs / "index.html").stat().st_mtime_ns
    db = ServingDB(paths.serving_db)
    before = db.publish_version()
    errors: list[BaseException] = []
    answers: list[int] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                answers.append(db.query("select count(*) as n from fct_dispatch")["n"][0])
            except BaseException as exc:  # noqa: BLE001 - any error is a failure here
                errors.append(exc)
            time.sleep(0.01)

    thread = threading.Thread(target=reader)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SFE_LAKE_DIR", str(paths.root))
        thread.start()
        try:
            pipeline.build()
        finally:
            stop.set()
            thread.join()
    assert errors == []
    assert len(answers) > 10 and len(set(answers)) == 1
    assert db.publish_version() != before  # the new publish is picked up without a restart
    db.close()
    # The dbt project did not change, so its data dictionary was not generated again.
    assert (docs / DOCS_FINGERPRINT).read_text(encoding="utf-8") == project_fingerprint()
    assert (docs / "index.html").stat().st_mtime_ns == docs_written_ns
