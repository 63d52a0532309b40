"""Every API route on a warehouse that dbt built from a generated demo, and a schemathesis run against
the OpenAPI document: no server error, no response that contradicts the document.

Builds one small lakehouse in a temporary SFE_LAKE_DIR (module-scoped: generate + ingest + dbt build +
publish), so the routes read exactly the tables and columns the real build publishes.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import duckdb
import polars as pl
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from sfe import pipeline, queries
from sfe.api import datasets
from sfe.api.app import create_app
from sfe.api.common import records
from sfe.api.ratelimit import RateLimitConfig
from sfe.config import LakePaths
from sfe.generate import generate
from sfe.registry import api_keys, db
from sfe.registry.access import Role
from sfe.serving import reset_db_registry

try:
    from registry_helpers import make_principal
except ImportError:  # tests/ imported as a package
    from tests.registry_helpers import make_principal

pytestmark = pytest.mark.slow

APP = create_app(rate_limit=RateLimitConfig(per_minute=0, burst=0, limit_loopback=False))


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("api_warehouse") / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SFE_LAKE_DIR", str(root))
        paths = LakePaths(root)
        generate(paths, assets=16, days=45, start=date(2025, 3, 1), seed=7, progress=False)
        result = pipeline.build()
        assert result.published
        yield paths
        reset_db_registry()
        db.dispose_all()


@pytest.fixture(scope="module")
def admin_key(lake) -> str:
    return api_keys.create_key(make_principal("SFE", Role.ADMIN), "tests")[1]


@pytest.fixture(scope="module")
def api_schema(admin_key):
    """The OpenAPI document, tested as an admin (per-asset routes answer with data; schemathesis also
    checks they refuse requests without the key or with a wrong one)."""
    config = {
        "auth": {"openapi": {"apiKey": {"api_key": admin_key}}},
        # 400 answers schema-valid but inconsistent combinations (e.g. `from` after `to`), as documented.
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "429"]}
        },
    }
    return schemathesis.openapi.from_asgi("/openapi.json", APP, config=schemathesis.Config.from_dict(config))


@pytest.fixture(scope="module")
def client(lake):
    with TestClient(APP) as c:
        yield c


@pytest.fixture(scope="module")
def con(lake):
    connection = duckdb.connect(str(lake.serving_db), read_only=True)
    connection.sql("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def _expected_total(con, dataset: datasets.Dataset) -> int:
    spec = dataset.spec
    where = [f"{spec.min_count[0]} >= {spec.min_count[1]}"] if spec.min_count else []
    where += [f"{c.param} = '{c.default}'" for c in dataset.choices]
    sql = f"SELECT count(*) FROM {spec.table}" + (" WHERE " + " AND ".join(where) if where else "")
    return con.sql(sql).fetchall()[0][0]


@pytest.mark.parametrize("dataset", datasets.DATASETS, ids=lambda d: d.path)
def test_every_route_serves_its_table_in_three_formats(client, con, admin_key, dataset):
    headers = {"X-API-Key": admin_key}
    total = _expected_total(con, dataset)
    as_json = client.get(dataset.path, params={"limit": 200}, headers=headers)
    assert as_json.status_code == 200, as_json.text[:500]
    body = as_json.json()
    assert body["total"] == total == int(as_json.headers["X-Total-Count"])
    assert len(body["data"]) == min(total, 200)
    if body["data"]:
        assert list(body["data"][0]) == [c.name for c in dataset.columns]
    as_parquet = client.get(dataset.path, params={"limit": 200, "format": "parquet"}, headers=headers)
    frame = pl.read_parquet(io.BytesIO(as_parquet.content))
    assert frame.columns == [c.name for c in dataset.columns] and frame.height == len(body["data"])
    assert records(frame) == body["data"]  # the same rows and values
    as_csv = client.get(dataset.path, params={"limit": 200, "format": "csv"}, headers=headers)
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == len(body["data"])
    if dataset.access == "own":
        assert client.get(dataset.path).status_code == 401


def test_filters_and_ranges_match_the_warehouse(client, con, admin_key):
    product, start = con.sql(
        "SELECT product_id, min(delivery_start_utc) FROM fct_auction_unit_result GROUP BY 1 ORDER BY 1 LIMIT 1"
    ).fetchall()[0]
    end = start + timedelta(days=10)
    expected = con.sql(
        "SELECT count(*) FROM fct_auction_unit_result WHERE product_id = ? AND delivery_start_utc >= ? "
        "AND delivery_start_utc < ?",
        params=[product, start, end],
    ).fetchall()[0][0]
    params = {"product_id": product, "from": start.isoformat(), "to": end.isoformat(), "limit": 1}
    assert client.get("/v1/auction-unit-results", params=params).json()["total"] == expected > 0
    battery = con.sql(
        "SELECT count(*) FROM fct_settlement s JOIN dim_asset a USING (asset_id) WHERE a.asset_type = 'battery'"
    ).fetchall()[0][0]
    got = client.get("/v1/settlements", params={"asset_type": "battery"}, headers={"X-API-Key": admin_key})
    assert got.json()["total"] == battery
    ukpn = con.sql(
        "SELECT count(*) FROM fct_dispatch d JOIN dim_market m USING (market_id) WHERE m.operator_id = 'ukpn'"
    ).fetchall()[0][0]
    assert client.get("/v1/dispatches", params={"operator_id": "ukpn"}).json()["total"] == ukpn
    day = con.sql("SELECT max(period_start) FROM mart_market_trends WHERE period_grain = 'day'").fetchall()[
        0
    ][0]
    trends = client.get("/v1/market-trends", params={"period_grain": "day", "from": day.isoformat()}).json()
    assert {r["period_start"] for r in trends["data"]} == {day.isoformat()}


def test_a_system_operator_sees_only_its_area_and_markets(client, con, lake):
    key = api_keys.create_key(
        make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"), "t"
    )[1]
    rows = []
    url, params = "/v1/settlements", {"limit": 10_000}
    while url:
        body = client.get(url, params=params, headers={"X-API-Key": key}).json()
        rows += body["data"]
        url, params = body["next"], None
    ukpn_areas = ("EPN", "LPN", "SPN")
    expected = con.sql(
        "SELECT count(*) FROM fct_settlement s LEFT JOIN dim_asset a USING (asset_id) "
        "WHERE s.market_id = 'ukpn_flex' OR a.dno_area IN (?, ?, ?)",
        params=list(ukpn_areas),
    ).fetchall()[0][0]
    assert len(rows) == expected


def test_forecast_inputs_sum_the_market_trends(client, con):
    product = con.sql(
        "SELECT product_id FROM mart_market_trends WHERE activity = 'auction_result' GROUP BY 1 "
        "ORDER BY sum(volume_mwh) DESC LIMIT 1"
    ).fetchall()[0][0]
    body = client.get("/v1/forecast-inputs", params={"product_id": product, "granularity": "day"}).json()
    history = pl.DataFrame(body["price_history"])
    expected = con.sql(
        "SELECT sum(volume_mwh), sum(record_count) FROM mart_market_trends "
        "WHERE period_grain = 'day' AND product_id = ?",
        params=[product],
    ).fetchall()[0]
    assert history["volume_mwh"].sum() == pytest.approx(expected[0])
    assert history["records"].sum() == expected[1]
    features = pl.DataFrame(body["asset_features"])
    assets = con.sql("SELECT asset_id, asset_type, capacity_mw FROM dim_asset").pl()
    joined = features.join(assets, on="asset_id", suffix="_dim")
    assert joined.height == features.height > 0
    assert (joined["asset_type"] == joined["asset_type_dim"]).all()
    units = con.sql(
        "SELECT count(DISTINCT asset_id) FROM fct_auction_unit_result WHERE product_id = ? AND asset_id IS NOT NULL",
        params=[product],
    ).fetchall()[0][0]
    assert features.filter(pl.col("activity") == "auction_result")["asset_id"].n_unique() == units


def test_every_declared_table_is_published(lake):
    with queries.get_db().session() as s:
        published = set(queries.published_columns(s))
    missing = {d.spec.table for d in datasets.DATASETS} - published
    assert not missing, f"routes read tables the build does not publish: {missing}"


# The data API's routes must also accept every schema-valid request and refuse every schema-violating
# one. The registry's write routes judge their bodies beyond the schema (a bulk import reports bad rows
# one by one), so for them the run checks what the issue asks: no server error, no answer that the
# document does not describe.
DATA_API_TAGS = {datasets.MARKET_DATA, datasets.OWN_DATA, datasets.TAXONOMY, datasets.ANALYTICS, "status"}
BEYOND_SCHEMA = [positive_data_acceptance, negative_data_rejection]


def _generated_requests(strategy, excluded_checks):
    @given(case=strategy)
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case):
        case.call_and_validate(excluded_checks=excluded_checks)

    return check


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_openapi_document_holds_for_generated_requests(api_schema, mode):
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        data_api = bool(set(operation.definition.raw.get("tags", ())) & DATA_API_TAGS)
        check = _generated_requests(
            operation.as_strategy(generation_mode=mode), None if data_api else BEYOND_SCHEMA
        )
        try:
            check()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE, (
                operation.label
            )  # nothing to get wrong (e.g. no parameters)
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
