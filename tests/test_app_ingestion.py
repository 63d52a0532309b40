"""The Data ingestion page on a warehouse published from real ingest records."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from sfe import build_status, ingest, publish
from sfe.registry import db as registry_db
from sfe.registry.access import Role
from sfe.serving import reset_db_registry

from .conftest import FIXTURES, land
from .identity_helpers import session_token
from .registry_helpers import make_principal

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
PAGE = "pages/data_ingestion.py"


@pytest.fixture
def published_lake(lake_paths):
    land(lake_paths, "neso_eac_results", FIXTURES / "neso_eac_results" / "eac_results_FY2025.csv")
    bad = lake_paths.landing_dir("ukpn_flexibility_dispatches")
    bad.mkdir(parents=True)
    (bad / "semicolons.csv").write_text("a;b\n1;2\n")
    for source_id in ("neso_eac_results", "ukpn_flexibility_dispatches"):
        ingest.scan_landing(source_id, lake_paths)
        ingest.build_partitions(source_id, ingest.known_dates(source_id, lake_paths), lake_paths)
    lake_paths.warehouse.mkdir(parents=True)
    duckdb.connect(str(lake_paths.build_db)).close()  # an (empty) dbt build to publish
    publish.publish(lake_paths)
    registry_db.dispose_all()
    yield lake_paths
    reset_db_registry()
    registry_db.dispose_all()


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["sfe_session_token"] = session_token(make_principal("Analytics Ltd", Role.ANALYST))
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_page_shows_counts_quarantine_and_downloads(published_lake):
    at = _page()
    assert at.title[0].value == "Data ingestion"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Files"] == "2" and metrics["Files quarantined"] == "1"
    assert metrics["Rows in"] == "11" and metrics["Rows loaded"] == "8" and metrics["Rows quarantined"] == "3"
    tables = [df.value for df in at.dataframe]
    files = next(t for t in tables if "file_name" in t.columns)
    rejected = files[files["status"] == "rejected"].iloc[0]
    assert rejected["file_name"] == "semicolons.csv" and "delimiter" in rejected["reason"]
    quarantined = next(t for t in tables if "field" in t.columns)
    assert sorted(quarantined["source_row"].tolist()) == [8, 9, 11]
    assert len(at.get("download_button")) >= 3
    assert at.get("vega_lite_chart")


def test_page_says_a_newer_load_failed(published_lake):
    build_status.write(
        build_status.BuildStatus(
            status="failed",
            started_at="2026-01-01T00:00:00+00:00",
            finished_at="2026-01-01T00:05:00+00:00",
            message="ingest of meter_readings failed: great_expectations",
        ),
        published_lake,
    )
    at = _page()
    assert any("A newer load failed" in e.value for e in at.error)
    # The last good publish is still shown.
    assert {m.label for m in at.metric} >= {"Files", "Rows loaded"}


def test_page_without_a_warehouse(lake_paths):
    at = _page()
    assert any("has not been built" in w.value for w in at.warning)


def test_home_and_api_health_report_a_failed_newer_load(published_lake):
    from fastapi.testclient import TestClient

    from sfe.api.app import app

    build_status.write(
        build_status.BuildStatus(
            status="failed",
            started_at="2026-01-01T00:00:00+00:00",
            finished_at="2026-01-01T00:05:00+00:00",
            message="dbt test failed",
        ),
        published_lake,
    )
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert any("A newer load failed" in e.value for e in at.error)
    health = TestClient(app).get("/v1/health").json()
    assert health["status"] == "ok" and health["latest_build"]["status"] == "failed"


def test_unmapped_source_values_are_listed(published_lake):
    con = duckdb.connect(str(published_lake.build_db))
    con.execute("CREATE SCHEMA intermediate")
    con.execute(
        "CREATE TABLE intermediate.int_source_products_mapped AS SELECT 'ukpn_flexibility_dispatches' AS source_id, "
        "'product' AS field, 'ukpn_flex' AS market_id, 'Flex Boost' AS source_value, 'flex boost' AS value_key, "
        "7 AS row_count, 'ukpn_flex__unmapped__flex_boost' AS product_id, false AS is_mapped"
    )
    con.close()
    publish.publish(published_lake)
    at = _page()
    assert any("have no mapping yet" in w.value for w in at.warning)
    table = next(df.value for df in at.dataframe if "placeholder_product_id" in df.value.columns)
    assert table["source_value"].tolist() == ["Flex Boost"] and table["row_count"].tolist() == [7]


def test_unmatched_asset_ids_are_listed(published_lake):
    con = duckdb.connect(str(published_lake.build_db))
    con.execute("CREATE SCHEMA intermediate")
    con.execute(
        "CREATE TABLE intermediate.int_unmatched_source_ids AS SELECT 'k' AS identity_key, "
        "'competition_asset_ref' AS ref_type, 'nged' AS ref_namespace, 'COSY-EMID-0004' AS source_asset_ref, "
        "'ast_1' AS asset_id, 'no_mpan_link' AS reason, 'bid but never settled' AS detail, "
        "NULL AS candidate_mpans, 1 AS source_count, 'dno_flex_competitions' AS first_source_id, 3 AS row_count"
    )
    con.close()
    publish.publish(published_lake)
    at = _page()
    table = next(df.value for df in at.dataframe if "candidate_mpans" in df.value.columns)
    assert table["source_asset_ref"].tolist() == ["COSY-EMID-0004"] and table["reason"].tolist() == [
        "no_mpan_link"
    ]
