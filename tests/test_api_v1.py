"""The declared /v1 table routes, scoping of per-asset data, forecast inputs and the OpenAPI document,
against a real published DuckDB file: the serving fixture plus per-asset tables written here.

The same routes on a warehouse that dbt built are covered by test_api_warehouse.py (slow).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from fastapi.testclient import TestClient

from sfe import queries
from sfe.api import datasets, scoping
from sfe.api.app import create_app
from sfe.api.ratelimit import RateLimitConfig
from sfe.registry import db as registry_db
from sfe.registry.access import Principal, Role
from sfe.serving import get_db, reset_db_registry

try:
    from registry_helpers import asset_row, make_principal
    from serving_fixtures import build_serving_db, raw_rows
except ImportError:  # tests/ imported as a package
    from tests.registry_helpers import asset_row, make_principal
    from tests.serving_fixtures import build_serving_db, raw_rows

NO_LIMIT = RateLimitConfig(per_minute=0, burst=0, limit_loopback=False)
KIWI, OTHER_FSP = "kiwi", "other"  # two providers, registered in the lake's registry
INJECTED_NAME = '=HYPERLINK("http://x.example","x")'

# Four assets: two of organisation KIWI (UKPN EPN area, NGED WMID area), one of another FSP in
# UKPN's LPN area, one unregistered asset in NGED's SWEB area.
ASSETS = [
    # asset_id, asset_type, size_band, capacity_mw, dno_area, organisation_id, mpan, market of its lines
    ("ast_a1", "battery", "1_5mw", 2.0, "EPN", KIWI, "1000000000001", "ukpn_flex"),
    ("ast_a2", "ev_charging", "100kw_1mw", 0.4, "WMID", KIWI, "1000000000002", "nged_flex"),
    ("ast_a3", "battery", "5_20mw", 8.0, "LPN", OTHER_FSP, "1000000000003", "ukpn_flex"),
    ("ast_a4", "heat_pump", "lt_100kw", 0.05, "SWEB", None, "1000000000004", "neso_eac"),
]
METER_DAY = date(2024, 4, 1)  # 48 half hours per asset


def _type(column: datasets.Column) -> str:
    return {
        "string": "VARCHAR",
        "number": "DOUBLE",
        "integer": "BIGINT",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "time": "TIME",
        "instant": "TIMESTAMPTZ",
        "local": "TIMESTAMP",
    }[column.type]


def _create(
    con,
    table: str,
    columns: tuple[datasets.Column, ...],
    rows: list[dict],
    extra: dict[str, str] | None = None,
):
    """A table with the declared columns (plus ``extra`` name -> SQL type) holding ``rows``."""
    extra = extra or {}
    ddl = [f"{c.name} {_type(c)}" for c in columns] + [f"{n} {t}" for n, t in extra.items()]
    con.execute(f"CREATE TABLE {table} ({', '.join(ddl)})")
    names = [c.name for c in columns] + list(extra)
    for row in rows:
        con.execute(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            [row.get(n) for n in names],
        )


def _register_providers() -> tuple[dict[str, Principal], dict[str, str]]:
    """The two providers in the registry of the current lake, each with its ASSETS registered:
    the providers by label, and asset_id -> registry_asset_id."""
    from sfe.registry import assets as registry_assets
    from sfe.registry import db as registry_db

    providers = {
        KIWI: make_principal("Kiwi Power Ltd", Role.FSP),
        OTHER_FSP: make_principal("Other Flex Ltd", Role.FSP),
    }
    registry_ids = {}
    with registry_db.session() as s:
        for i, (asset_id, *_, owner, _mpan, _market) in enumerate(ASSETS, start=1):
            if owner is not None:
                record = registry_assets.register_asset(s, providers[owner], asset_row(i))
                registry_ids[asset_id] = record.registry_asset_id
    return providers, registry_ids


def _add_per_asset_tables(path: Path, providers: dict[str, Principal], registry_ids: dict[str, str]) -> None:
    """Per-asset tables: ASSETS with their registry ids, metering, settlements, bids, marts."""
    organisations = {label: p.organisation_id for label, p in providers.items()}
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        assets = [
            {
                "asset_id": a,
                "asset_name": INJECTED_NAME if a == "ast_a4" else f"UNIT-{a[-2:].upper()}",
                "asset_type": t,
                "size_band": band,
                "capacity_mw": mw,
                "dno_area": area,
                "registry_asset_id": registry_ids.get(a),
                "mpan": mpan,
                "is_registered": org is not None,
                "first_seen_utc": datetime(2024, 3, 1, tzinfo=UTC),
                "last_seen_utc": datetime(2024, 5, 31, tzinfo=UTC),
            }
            for a, t, band, mw, area, org, mpan, _ in ASSETS
        ]
        _create(
            con,
            "dim_asset",
            datasets.MARKET_ASSET_COLUMNS,
            assets,
            {"registry_asset_id": "VARCHAR", "mpan": "VARCHAR", "lat": "DOUBLE", "lon": "DOUBLE"},
        )
        start = datetime.combine(METER_DAY, datetime.min.time(), tzinfo=UTC)
        metering = [
            {
                "asset_id": a,
                "start_utc": start + timedelta(minutes=30 * i),
                "end_utc": start + timedelta(minutes=30 * (i + 1)),
                "import_mwh": 0.01 * i,
                "export_mwh": 0.0,
                "mpan": mpan,
                "quality": "actual",
            }
            for a, *_, mpan, _ in ASSETS
            for i in range(48)
        ]
        _create(con, "fct_metering", datasets.METERING_COLUMNS, metering)
        settlements = [
            {
                "settlement_id": f"ST-{a}|L{k}",
                "market_id": market,
                "product_id": {"ukpn_flex": "ukpn_secure", "nged_flex": "nged_peak_reduction"}.get(
                    market, "neso_eac_dch"
                ),
                "asset_id": a,
                "period_start_utc": datetime(2024, 4, 1 + k, 16, tzinfo=UTC),
                "period_end_utc": datetime(2024, 4, 1 + k, 17, tzinfo=UTC),
                "total_gbp": 10.0 * (k + 1),
                "line_type": "=cmd|' /C calc'!A0" if k == 0 else "availability",
            }
            for a, *_, market in ASSETS
            for k in range(3)
        ]
        _create(con, "fct_settlement", datasets.SETTLEMENT_COLUMNS, settlements)
        bids = [
            {
                "bid_id": f"BID-{a}",
                "competition_id": "COMP-1",
                "market_id": market,
                "product_id": "nged_peak_reduction" if market == "nged_flex" else "ukpn_secure",
                "asset_id": a,
                "window_start_utc": datetime(2024, 4, 1, 15, tzinfo=UTC),
                "window_end_utc": datetime(2024, 6, 30, 18, tzinfo=UTC),
                "offered_mw": 1.0,
                "status": "accepted",
                "window_start_local": "16:00:00",
                "service_start_date": date(2024, 4, 1),
            }
            for a, *_, market in ASSETS
            if market != "neso_eac"
        ]
        _create(con, "fct_bid", datasets.BID_COLUMNS, bids)
        unit_results = [
            {
                "auction_unit_result_id": f"UR-{a}-{k}",
                "market_id": "neso_eac",
                "product_id": "neso_eac_dch",
                "unit_name": f"UNIT-{a[-2:].upper()}",
                "asset_id": a,
                "delivery_start_utc": datetime(2024, 3, 31, 22, tzinfo=UTC) + timedelta(hours=4 * k),
                "delivery_end_utc": datetime(2024, 4, 1, 2, tzinfo=UTC) + timedelta(hours=4 * k),
                "executed_volume_mw": 1.0,
                "executed_volume_mwh": 4.0,
                "asset_type": "battery",
            }
            for a in ("ast_a1", "ast_a3")
            for k in range(6)
        ]
        _create(con, "fct_auction_unit_result", datasets.AUCTION_UNIT_RESULT_COLUMNS, unit_results)
        trends = [
            {
                "period_grain": grain,
                "period_start": day,
                "market_id": "neso_eac",
                "product_id": "neso_eac_dch",
                "asset_type": asset_type,
                "size_band": band,
                "activity": "auction_result",
                "record_count": 6,
                "n_units": 1,
                "volume_mw": 6.0,
                "volume_mwh": mwh,
                "vwap_availability_price_gbp_per_mw_h": price,
            }
            for grain, day in [
                ("day", date(2024, 4, 1)),
                ("day", date(2024, 4, 2)),
                ("month", date(2024, 4, 1)),
            ]
            for asset_type, band, mwh, price in [
                ("battery", "1_5mw", 30.0, 4.0),
                ("battery", "5_20mw", 10.0, 8.0),
            ]
        ]
        _create(con, "mart_market_trends", datasets.MARKET_TRENDS_COLUMNS, trends)
        value = [
            {"region": "GB", "row_kind": "product", "asset_type": "battery", "size_band": band, "year": 2024,
             "product_id": "neso_eac_dch", "market_id": "neso_eac", "n_assets": n, "net_gbp_per_mw_p50": 400.0}
            for band, n in [("1_5mw", 5), ("5_20mw", 1)]
        ]  # fmt: skip
        _create(con, "mart_asset_value", datasets.ASSET_VALUE_COLUMNS, value)
        conflicts = [
            {"conflict_id": "CF-1", "asset_id": "ast_a1", "market_id_a": "neso_eac", "operator_id_a": "neso",
             "market_id_b": "ukpn_flex", "operator_id_b": "ukpn", "severity": "high",
             "overlap_start_utc": datetime(2024, 4, 1, 16, tzinfo=UTC)},
            {"conflict_id": "CF-2", "asset_id": "ast_a4", "market_id_a": "neso_eac", "operator_id_a": "neso",
             "market_id_b": "nged_flex", "operator_id_b": "nged", "severity": "low",
             "overlap_start_utc": datetime(2024, 4, 2, 16, tzinfo=UTC)},
        ]  # fmt: skip
        _create(con, "mart_market_conflicts", datasets.MARKET_CONFLICT_COLUMNS, conflicts)
        resales = [
            {"resale_id": "RS-1", "market_id": "secondary", "product_id": "nged_peak_reduction",
             "obligation_market_id": "nged_flex", "operator_id": "nged", "seller_asset_id": "ast_a2",
             "buyer_asset_id": "ast_a3", "start_utc": datetime(2024, 4, 1, tzinfo=UTC)},
        ]  # fmt: skip
        _create(con, "fct_resale", datasets.RESALE_COLUMNS, resales)
        eligibility = [
            {"subject_kind": "asset", "subject_id": f"REG-{i}", "organisation_id": organisations[org],
             "dno_area": area, "product_id": product, "operator_id": operator, "verdict": "eligible"}
            for i, (org, area, product, operator) in enumerate(
                [(KIWI, "EPN", "ukpn_secure", "ukpn"), (KIWI, "WMID", "nged_peak_reduction", "nged"),
                 (OTHER_FSP, "SWEB", "ukpn_secure", "ukpn"), (OTHER_FSP, "SWEB", "nged_peak_reduction", "nged")]
            )
        ]  # fmt: skip
        _create(con, "mart_eligibility", datasets.ELIGIBILITY_COLUMNS, eligibility)
        # Dispatches of the fixture have no asset; give the UKPN Secure ones asset ast_a1 / ast_a3.
        con.execute(
            "UPDATE fct_dispatch SET asset_id = CASE WHEN instruction_source = 'scheduled' THEN 'ast_a1' "
            "ELSE 'ast_a3' END WHERE product_id = 'ukpn_secure'"
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _publish(root: Path) -> dict[str, Principal]:
    """The serving fixture plus the per-asset tables, published in the lake at ``root`` (the current
    SFE_LAKE_DIR); returns the registered providers."""
    warehouse = root / "warehouse"
    warehouse.mkdir(parents=True, exist_ok=True)
    providers, registry_ids = _register_providers()
    tmp = warehouse / "build.tmp"
    build_serving_db(tmp)
    _add_per_asset_tables(tmp, providers, registry_ids)
    os.replace(tmp, warehouse / "sfe.duckdb")
    return providers


@dataclass(frozen=True)
class Lake:
    root: Path
    providers: dict[str, Principal]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("api_v1") / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SFE_LAKE_DIR", str(root))
        yield Lake(root, _publish(root))
        reset_db_registry()
        registry_db.dispose_all()


@pytest.fixture(scope="module")
def app(lake):
    return create_app(rate_limit=NO_LIMIT)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c
    app.dependency_overrides.clear()


def _as(app, principal) -> None:
    app.dependency_overrides[scoping.current_principal] = lambda: principal


def _principal(role: Role, organisation_id: int = 1, operator_id: str | None = None) -> Principal:
    return Principal(1, "user@example.org", "User", role, organisation_id, "Org", operator_id)


def _error(response, status: int, error: str | None = None, *needles: str) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error", "message"}
    if error:
        assert body["error"] == error, body
    for needle in needles:
        assert needle in body["message"], body["message"]
    return body


def _all_rows(client, path: str, params: dict | None = None) -> list[dict]:
    rows, url, query = [], path, {"limit": 7, **(params or {})}
    while url:
        body = client.get(url, params=query).json()
        rows += body["data"]
        url, query = body["next"], None
    return rows


def _raw(lake: Lake, table: str) -> pl.DataFrame:
    return raw_rows(lake.root / "warehouse" / "sfe.duckdb", table)


# -- the declaration and the OpenAPI document -------------------------------------------------------
def test_every_dataset_route_is_documented_with_examples(client):
    spec = client.get("/openapi.json").json()
    for dataset in datasets.DATASETS:
        operation = spec["paths"][dataset.path]["get"]
        assert operation["summary"] and operation["description"], dataset.path
        params = {p["name"]: p for p in operation["parameters"]}
        expected = {"limit", "offset", "format"} | {f.param for f in dataset.spec.filters}
        if dataset.spec.time_column:
            expected |= {"from", "to"}
        assert set(params) == expected, dataset.path
        for name, param in params.items():
            assert param.get("description"), f"{dataset.path}: parameter {name} has no description"
            assert param["schema"].get("examples") or param.get("examples") or param.get("example"), name
        ok = operation["responses"]["200"]["content"]
        example = {k: v for k, v in dataset.example_row().items() if v is not None}  # OpenAPI drops nulls
        assert ok["application/json"]["example"]["data"][0] == example
        assert ok["application/json"]["schema"]["$ref"].endswith("/" + dataset.page_schema)
        assert {"text/csv", "application/vnd.apache.parquet"} <= set(ok)
        assert ok["text/csv"]["example"].splitlines()[0] == ",".join(c.name for c in dataset.columns)
        codes = set(operation["responses"])
        assert {"422", "429", "503"} <= codes
        assert ({"401", "403"} <= codes) == (dataset.access == "own"), dataset.path
        item = spec["components"]["schemas"][dataset.item_schema]
        assert list(item["properties"]) == [c.name for c in dataset.columns]
        assert all(item["properties"][c.name].get("examples") for c in dataset.columns)
    assert "/v1/forecast-inputs" in spec["paths"]
    assert {"bearer", "apiKey"} <= set(spec["components"]["securitySchemes"])


def test_identifiers_in_specs_are_plain_sql_names():
    from sfe.queries import TableSpec

    with pytest.raises(ValueError, match="identifier"):
        TableSpec(table="fct_x; DROP TABLE y", columns=("a",), order_by=("a",))
    with pytest.raises(ValueError, match="identifier"):
        TableSpec(table="fct_x", columns=('a"',), order_by=("a",))


def test_responses_match_the_openapi_schemas(client, app):
    jsonschema = pytest.importorskip("jsonschema")
    spec = client.get("/openapi.json").json()
    _as(app, _principal(Role.ADMIN))
    for dataset in datasets.DATASETS:
        response = client.get(dataset.path, params={"limit": 20})
        if response.status_code == 503:
            continue  # a table this fixture does not have (covered by test_missing_table_is_503)
        assert response.status_code == 200, (dataset.path, response.text)
        schema = {"$ref": f"#/components/schemas/{dataset.page_schema}", "components": spec["components"]}
        jsonschema.Draft202012Validator(schema).validate(response.json())
    body = client.get("/v1/forecast-inputs", params={"granularity": "day"}).json()
    schema = {"$ref": "#/components/schemas/ForecastInputsBody", "components": spec["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)


# -- tables that are not published (yet) -------------------------------------------------------------
def test_missing_table_is_503_naming_it(client):
    for path, table in [("/v1/system-prices", "fct_system_price"), ("/v1/participants", "dim_participant")]:
        body = _error(client.get(path), 503, "not_published", path, table, "not available yet")
        assert body["table"] == table
        _error(client.get(path, params={"format": "csv"}), 503, "not_published")


def test_warehouse_without_registry_ids_is_503_for_providers(client, app, lake, tmp_path, monkeypatch):
    # A warehouse built before the registry: dim_asset cannot say which assets are registered.
    other = tmp_path / "lake"
    (other / "warehouse").mkdir(parents=True)
    build_serving_db(other / "warehouse" / "sfe.duckdb")
    con = duckdb.connect(str(other / "warehouse" / "sfe.duckdb"))
    con.execute("CREATE TABLE dim_asset (asset_id VARCHAR, dno_area VARCHAR)")
    con.execute("CREATE TABLE fct_metering AS SELECT 'a' AS asset_id, now() AS start_utc, now() AS end_utc, "
                "1.0 AS import_mwh, 0.0 AS export_mwh, 'm' AS mpan, 'actual' AS quality")  # fmt: skip
    con.close()
    monkeypatch.setenv("SFE_LAKE_DIR", str(other))
    fsp = lake.providers[KIWI]
    _as(app, fsp)
    _error(client.get("/v1/metering"), 503, "not_published", "dim_asset", "registry_asset_id")
    _as(app, _principal(Role.SYSTEM_OPERATOR, 2, "ukpn"))
    assert client.get("/v1/metering").json()["total"] == 0  # no asset of the file is in UKPN's area


# -- formats ----------------------------------------------------------------------------------------
def test_json_csv_and_parquet_carry_the_same_rows(client, lake):
    params = {"product_id": "neso_eac_pbr", "limit": 50, "offset": 10}
    as_json = client.get("/v1/auction-results", params=params)
    as_csv = client.get("/v1/auction-results", params={**params, "format": "csv"})
    as_parquet = client.get("/v1/auction-results", params={**params, "format": "parquet"})
    assert as_parquet.status_code == 200
    assert as_parquet.headers["content-type"] == "application/vnd.apache.parquet"
    assert 'filename="auction-results.parquet"' in as_parquet.headers["content-disposition"]
    for r in (as_json, as_csv, as_parquet):
        assert r.headers["X-Total-Count"] == "142" and 'rel="next"' in r.headers["Link"]
    frame = pl.read_parquet(io.BytesIO(as_parquet.content))
    assert frame.columns == [c.name for c in datasets.AUCTION_RESULT_COLUMNS]
    assert frame.schema["delivery_start_utc"] == pl.Datetime("us", "UTC")
    json_rows = as_json.json()["data"]
    csv_rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert frame["auction_result_id"].to_list() == [r["auction_result_id"] for r in json_rows]
    assert [r["auction_result_id"] for r in csv_rows] == [r["auction_result_id"] for r in json_rows]
    assert frame["clearing_price_gbp_per_mw_h"].to_list() == [
        r["clearing_price_gbp_per_mw_h"] for r in json_rows
    ]
    expected = _raw(lake, "fct_auction_result").filter(pl.col("product_id") == "neso_eac_pbr")
    expected = expected.sort("delivery_start_utc", "product_id", "auction_result_id").slice(10, 50)
    assert frame.equals(expected.select(frame.columns))


def test_csv_of_every_route_is_formula_safe(client, app):
    _as(app, _principal(Role.ADMIN))
    assets = list(csv.DictReader(io.StringIO(client.get("/v1/market-assets", params={"format": "csv"}).text)))
    assert "'" + INJECTED_NAME in [a["asset_name"] for a in assets]
    lines = list(csv.DictReader(io.StringIO(client.get("/v1/settlements", params={"format": "csv"}).text)))
    assert {line["line_type"] for line in lines} == {"'=cmd|' /C calc'!A0", "availability"}
    assert INJECTED_NAME in [a["asset_name"] for a in client.get("/v1/market-assets").json()["data"]]


# -- filters ----------------------------------------------------------------------------------------
def test_market_and_operator_filters(client, lake):
    ukpn = client.get("/v1/dispatches", params={"operator_id": "ukpn", "limit": 1}).json()
    assert ukpn["total"] == _raw(lake, "fct_dispatch").height
    assert client.get("/v1/dispatches", params={"operator_id": "nged"}).json()["total"] == 0
    assert client.get("/v1/auction-results", params={"market_id": "ukpn_flex"}).json()["total"] == 0
    both = client.get("/v1/auction-results", params={"market_id": "neso_eac,ukpn_flex", "limit": 1}).json()
    assert both["total"] == _raw(lake, "fct_auction_result").height
    _error(
        client.get("/v1/dispatches", params={"market_id": "atlantis"}),
        422,
        "unknown_value",
        "'atlantis'",
        "/v1/markets",
    )
    _error(client.get("/v1/dispatches", params={"operator_id": "zeus"}), 422, "unknown_value", "'zeus'")


def test_asset_filters_go_through_the_asset_register(client, lake):
    dispatches = _raw(lake, "fct_dispatch")
    batteries = client.get("/v1/dispatches", params={"asset_type": "battery", "limit": 1}).json()
    assert batteries["total"] == dispatches.filter(pl.col("asset_id").is_not_null()).height
    small = _all_rows(client, "/v1/dispatches", {"size_band": "1_5mw"})
    assert {r["asset_id"] for r in small} == {"ast_a1"}
    assert len(small) == dispatches.filter(pl.col("asset_id") == "ast_a1").height
    two = client.get("/v1/dispatches", params=[("size_band", "1_5mw"), ("size_band", "5_20mw"), ("limit", 1)])
    assert two.json()["total"] == batteries["total"]
    # Different filters all apply; values of one filter are alternatives.
    none = client.get("/v1/dispatches", params={"size_band": "1_5mw", "asset_id": "ast_a3"}).json()
    assert none["total"] == 0
    _error(
        client.get("/v1/dispatches", params={"asset_type": "dragon"}),
        422,
        "unknown_value",
        "'dragon'",
        "battery",
    )
    _error(client.get("/v1/dispatches", params={"size_band": "huge"}), 422, "unknown_value", "'huge'")
    assets = client.get("/v1/market-assets", params={"dno_area": "EPN,LPN"}).json()["data"]
    assert [a["asset_id"] for a in assets] == ["ast_a1", "ast_a3"]
    assert "mpan" not in assets[0] and "organisation_id" not in assets[0]  # not public


def test_date_column_ranges_are_half_open_on_midnight_utc(client):
    def days(**params):
        body = client.get("/v1/market-trends", params={"period_grain": "day", **params}).json()
        return sorted({r["period_start"] for r in body["data"]})

    assert days() == ["2024-04-01", "2024-04-02"]
    assert days(**{"from": "2024-04-02"}) == ["2024-04-02"]
    assert days(to="2024-04-02") == ["2024-04-01"]
    # A day counts from its midnight: 1 April 00:00 is before 1 April 06:00, 2 April 00:00 is not.
    assert days(**{"from": "2024-04-01T06:00:00Z"}) == ["2024-04-02"]
    assert days(to="2024-04-02T00:00:01Z") == ["2024-04-01", "2024-04-02"]
    assert days(**{"from": "2024-04-02T00:00:00+01:00"}) == ["2024-04-02"]  # 1 April 23:00 UTC
    months = client.get("/v1/market-trends").json()  # period_grain defaults to month
    assert {r["period_grain"] for r in months["data"]} == {"month"} and months["total"] == 2
    _error(
        client.get("/v1/market-trends", params={"period_grain": "week"}),
        422,
        "invalid_request",
        "period_grain",
    )


# -- paging -----------------------------------------------------------------------------------------
def test_metering_pages_are_complete_and_stable(client, app, lake):
    _as(app, _principal(Role.ADMIN))
    first = client.get("/v1/metering", params={"limit": 50})
    assert first.headers["X-Total-Count"] == str(4 * 48)
    links = {part.split('rel="')[1].rstrip('"'): part for part in first.headers["Link"].split(", ")}
    assert set(links) == {"next", "first", "last"} and "offset=150" in links["last"]
    rows = _all_rows(client, "/v1/metering")
    assert len(rows) == 4 * 48
    keys = [(r["start_utc"], r["mpan"]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    last = client.get("/v1/metering", params={"limit": 50, "offset": 150})
    assert len(last.json()["data"]) == 42 and last.json()["next"] is None
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]
    beyond = client.get("/v1/metering", params={"limit": 50, "offset": 10_000}).json()
    assert beyond["data"] == [] and beyond["total"] == 192
    hour = client.get("/v1/metering", params={"from": "2024-04-01T10:00:00Z", "to": "2024-04-01T11:00:00Z"})
    assert hour.json()["total"] == 4 * 2


# -- who sees per-asset data ------------------------------------------------------------------------
OWN_ROUTES = ("/v1/bids", "/v1/settlements", "/v1/metering")


def _assets(client, path: str) -> set[str]:
    return {r["asset_id"] for r in _all_rows(client, path)}


def test_per_asset_data_needs_a_key(client):
    for path in OWN_ROUTES:
        response = client.get(path)
        _error(response, 401, "unauthorized", "API key", "/v1/market-trends")
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("role", [Role.INVESTOR, Role.ANALYST])
def test_investors_and_analysts_read_aggregates_only(client, app, role):
    _as(app, _principal(role))
    for path in OWN_ROUTES:
        _error(client.get(path), 403, "forbidden", "aggregates")
    assert client.get("/v1/market-trends").status_code == 200


def test_a_provider_sees_only_its_organisations_assets(client, app, lake):
    _as(app, lake.providers[KIWI])
    assert _assets(client, "/v1/metering") == {"ast_a1", "ast_a2"}
    assert _assets(client, "/v1/settlements") == {"ast_a1", "ast_a2"}
    assert _assets(client, "/v1/bids") == {"ast_a1", "ast_a2"}
    # Filters narrow inside the scope, never widen it.
    assert client.get("/v1/metering", params={"asset_id": "ast_a3"}).json()["total"] == 0
    _as(app, lake.providers[OTHER_FSP])
    assert _assets(client, "/v1/metering") == {"ast_a3"}
    _as(app, make_principal("New Flex Ltd", Role.FSP))  # nothing registered yet
    assert client.get("/v1/settlements").json()["total"] == 0


def test_a_system_operator_sees_its_markets_and_area(client, app):
    _as(app, _principal(Role.SYSTEM_OPERATOR, 2, "ukpn"))
    assert _assets(client, "/v1/metering") == {"ast_a1", "ast_a3"}  # EPN and LPN are UKPN's areas
    assert _assets(client, "/v1/settlements") == {"ast_a1", "ast_a3"}
    _as(app, _principal(Role.SYSTEM_OPERATOR, 3, "nged"))
    assert _assets(client, "/v1/metering") == {"ast_a2", "ast_a4"}
    assert _assets(client, "/v1/bids") == {"ast_a2"}
    _as(app, _principal(Role.SYSTEM_OPERATOR, 4, "neso"))  # national: all of Great Britain
    assert _assets(client, "/v1/metering") == {"ast_a1", "ast_a2", "ast_a3", "ast_a4"}
    _as(app, _principal(Role.SYSTEM_OPERATOR, 5, None))
    _error(client.get("/v1/metering"), 403, "forbidden", "not linked to an operator")


def _ids(client, path: str, column: str) -> set[str]:
    return {r[column] for r in _all_rows(client, path)}


def test_ownership_across_several_columns(client, app, lake):
    # Conflicts: the asset, or either side's market / operator. Resales: seller or buyer asset, or the
    # DNO of the contract. Eligibility: the organisation, or the product's operator / the asset's area.
    _as(app, lake.providers[KIWI])
    assert _ids(client, "/v1/market-conflicts", "conflict_id") == {"CF-1"}
    assert _ids(client, "/v1/resales", "resale_id") == {"RS-1"}  # it sold ast_a2
    assert _ids(client, "/v1/eligibility", "subject_id") == {"REG-0", "REG-1"}
    _as(app, lake.providers[OTHER_FSP])
    assert _ids(client, "/v1/market-conflicts", "conflict_id") == set()
    assert _ids(client, "/v1/resales", "resale_id") == {"RS-1"}  # it bought into ast_a3
    _as(app, _principal(Role.SYSTEM_OPERATOR, 3, "nged"))
    assert _ids(client, "/v1/market-conflicts", "conflict_id") == {"CF-2"}
    assert _ids(client, "/v1/resales", "resale_id") == {"RS-1"}
    assert _ids(client, "/v1/eligibility", "subject_id") == {"REG-1", "REG-2", "REG-3"}  # its products, SWEB
    _as(app, _principal(Role.SYSTEM_OPERATOR, 2, "ukpn"))
    assert _ids(client, "/v1/market-conflicts", "conflict_id") == {"CF-1"}
    assert _ids(client, "/v1/resales", "resale_id") == {"RS-1"}  # the buyer ast_a3 is in LPN, its area
    assert _ids(client, "/v1/eligibility", "subject_id") == {"REG-0", "REG-2"}


def test_asset_value_publishes_only_figures_of_three_assets_or_more(client):
    rows = client.get("/v1/asset-value").json()["data"]
    assert [(r["size_band"], r["n_assets"]) for r in rows] == [("1_5mw", 5)]
    assert client.get("/v1/asset-value", params={"year": "2024"}).json()["total"] == 1  # a number column
    assert client.get("/v1/asset-value", params={"year": "2023,2025"}).json()["total"] == 0


def test_an_admin_sees_everything(client, app, lake):
    _as(app, _principal(Role.ADMIN))
    assert client.get("/v1/settlements").json()["total"] == _raw(lake, "fct_settlement").height == 12
    assert _assets(client, "/v1/metering") == {a[0] for a in ASSETS}


def test_public_routes_ignore_the_caller(client, app, lake):
    anonymous = client.get("/v1/auction-results", params={"limit": 1}).json()["total"]
    _as(app, lake.providers[KIWI])
    assert client.get("/v1/auction-results", params={"limit": 1}).json()["total"] == anonymous


def test_an_unknown_key_is_refused_not_ignored(client):
    for headers in ({"X-API-Key": "sfe_unknown"}, {"Authorization": "Bearer sfe_unknown"}):
        response = client.get("/v1/metering", headers=headers)
        _error(response, 401, "invalid_api_key")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_keys_from_the_registry_scope_the_rows(tmp_path, monkeypatch):
    from sfe.registry import api_keys

    monkeypatch.setenv("SFE_LAKE_DIR", str(tmp_path / "lake"))  # the registry lives in the lake too
    try:
        providers = _publish(tmp_path / "lake")
        users = {
            "fsp": providers[KIWI],
            "so": make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"),
            "investor": make_principal("Demo Capital", Role.INVESTOR),
            "admin": make_principal("SFE", Role.ADMIN),
        }
        keys = {name: api_keys.create_key(p, "tests")[1] for name, p in users.items()}
        with TestClient(create_app(rate_limit=NO_LIMIT)) as client:

            def assets(name: str, header: str = "X-API-Key") -> set[str]:
                value = keys[name] if header == "X-API-Key" else f"Bearer {keys[name]}"
                response = client.get("/v1/metering", params={"limit": 1000}, headers={header: value})
                assert response.status_code == 200, response.text
                return {r["asset_id"] for r in response.json()["data"]}

            assert assets("fsp") == {"ast_a1", "ast_a2"}
            assert assets("fsp", "Authorization") == {"ast_a1", "ast_a2"}
            assert assets("so") == {"ast_a1", "ast_a3"}
            assert assets("admin") == {a[0] for a in ASSETS}
            _error(client.get("/v1/metering", headers={"X-API-Key": keys["investor"]}), 403, "forbidden")
            api_keys.revoke_key(users["fsp"], api_keys.list_keys(users["fsp"])[0].key_id)
            _error(client.get("/v1/metering", headers={"X-API-Key": keys["fsp"]}), 401, "invalid_api_key")
    finally:
        reset_db_registry()
        registry_db.dispose_all()


# -- forecast inputs --------------------------------------------------------------------------------
def test_forecast_inputs_window_history_is_the_auction_results(client, lake):
    params = {"granularity": "window", "product_id": "neso_eac_dch", "from": "2024-04-01", "to": "2024-04-02"}
    body = client.get("/v1/forecast-inputs", params=params).json()
    results = (
        _raw(lake, "fct_auction_result")
        .filter(
            (pl.col("product_id") == "neso_eac_dch")
            & (pl.col("delivery_start_utc") >= datetime(2024, 4, 1, tzinfo=UTC))
            & (pl.col("delivery_start_utc") < datetime(2024, 4, 2, tzinfo=UTC))
        )
        .sort("delivery_start_utc")
    )
    history = body["price_history"]
    assert len(history) == results.height == 6
    assert [h["availability_price_gbp_per_mw_h"] for h in history] == results[
        "clearing_price_gbp_per_mw_h"
    ].to_list()
    first = results.row(0, named=True)
    hours = (first["delivery_end_utc"] - first["delivery_start_utc"]).total_seconds() / 3600
    assert history[0]["volume_mwh"] == pytest.approx(first["cleared_volume_mw"] * hours)
    assert body["from"] == "2024-04-01T00:00:00+00:00" and body["granularity"] == "window"
    assert [p["product_id"] for p in body["products"]] == ["neso_eac_dch"]
    assert body["products"][0]["operator_id"] == "neso"
    # Assets active in the product in that range (public unit results), with their features.
    features = {(f["asset_id"], f["activity"]): f for f in body["asset_features"]}
    assert set(features) == {("ast_a1", "auction_result"), ("ast_a3", "auction_result")}
    a1 = features[("ast_a1", "auction_result")]
    assert (a1["asset_type"], a1["size_band"], a1["capacity_mw"], a1["dno_area"]) == (
        "battery",
        "1_5mw",
        2.0,
        "EPN",
    )
    assert a1["records"] == 5  # its six 4-hour results less the one starting 31 March 22:00


def test_forecast_inputs_daily_history_weights_prices_by_volume(client):
    body = client.get(
        "/v1/forecast-inputs", params={"granularity": "day", "product_id": "neso_eac_dch"}
    ).json()
    history = body["price_history"]
    assert [h["period_start_utc"] for h in history] == [
        "2024-04-01T00:00:00+00:00",
        "2024-04-02T00:00:00+00:00",
    ]
    assert history[0]["period_end_utc"] == "2024-04-02T00:00:00+00:00"
    assert history[0]["volume_mwh"] == 40.0 and history[0]["records"] == 12 and history[0]["units"] == 2
    assert history[0]["availability_price_gbp_per_mw_h"] == pytest.approx((30 * 4 + 10 * 8) / 40)
    small = client.get(
        "/v1/forecast-inputs", params={"granularity": "day", "size_band": "1_5mw", "asset_type": "battery"}
    ).json()
    assert small["price_history"][0]["availability_price_gbp_per_mw_h"] == 4.0
    assert {f["asset_id"] for f in small["asset_features"]} == {"ast_a1"}
    monthly = client.get("/v1/forecast-inputs").json()  # month by default
    assert monthly["granularity"] == "month" and len(monthly["price_history"]) == 1
    assert monthly["price_history"][0]["period_end_utc"] == "2024-05-01T00:00:00+00:00"


def test_forecast_inputs_downloads_and_errors(client):
    params = {"granularity": "window", "product_id": "neso_eac_pbr"}
    table = client.get("/v1/forecast-inputs", params={**params, "format": "csv"})
    assert table.headers["content-type"].startswith("text/csv")
    assert (
        table.headers["X-Total-Count"] == "142" and len(list(csv.DictReader(io.StringIO(table.text)))) == 142
    )
    assets = client.get(
        "/v1/forecast-inputs", params={**params, "format": "parquet", "table": "asset_features"}
    )
    assert pl.read_parquet(io.BytesIO(assets.content)).columns[:3] == ["asset_id", "asset_type", "size_band"]
    _error(
        client.get("/v1/forecast-inputs", params={**params, "asset_type": "battery"}),
        400,
        "invalid_selection",
        "'day'",
    )
    with pytest.raises(ValueError, match="narrow product_id"):  # at most max_rows of price history
        queries.forecast_inputs("window", max_rows=100, db=get_db())
    _error(client.get("/v1/forecast-inputs", params={"product_id": "nope"}), 422, "unknown_product")
    _error(
        client.get("/v1/forecast-inputs", params={"from": "2024-05-01", "to": "2024-04-01"}),
        400,
        "empty_range",
    )


# -- rate limiting ----------------------------------------------------------------------------------
def test_rate_limit_answers_429_with_retry_after(lake):
    # One token a minute: a slow machine cannot refill the bucket between the requests.
    app = create_app(rate_limit=RateLimitConfig(per_minute=1, burst=2, limit_loopback=True))
    with TestClient(app) as client:
        assert [client.get("/v1/markets").status_code for _ in range(2)] == [200, 200]
        limited = client.get("/v1/markets")
        body = _error(limited, 429, "rate_limited", "1 requests a minute")
        assert 55 <= int(limited.headers["Retry-After"]) <= 60 and body["retry_after_s"] == int(
            limited.headers["Retry-After"]
        )
        # Another key is another client; the same key twice is the same client.
        assert client.get("/v1/markets", headers={"X-API-Key": "k1"}).status_code == 200
        assert client.get("/v1/markets", headers={"Authorization": "Bearer k1"}).status_code == 200
        assert client.get("/v1/markets", headers={"X-API-Key": "k1"}).status_code == 429


def test_rate_limit_spares_loopback_unless_asked(lake):
    app = create_app(rate_limit=RateLimitConfig(per_minute=60, burst=1, limit_loopback=False))
    with TestClient(app) as client:  # TestClient's address counts as loopback
        assert {client.get("/v1/markets").status_code for _ in range(5)} == {200}


def test_token_bucket_refills_at_the_rate():
    from sfe.api.ratelimit import TokenBuckets

    now = [0.0]
    buckets = TokenBuckets(per_minute=120, burst=3, clock=lambda: now[0])  # 2 tokens a second
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0
    now[0] = 0.5
    assert buckets.take("a") == 0.0 and buckets.take("a") == pytest.approx(0.5)
    now[0] = 100.0
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # never more than the burst


def test_rate_limit_settings_from_the_environment(monkeypatch):
    monkeypatch.delenv("SFE_API_RATE_PER_MIN", raising=False)
    monkeypatch.delenv("SFE_API_RATE_BURST", raising=False)
    default = RateLimitConfig.from_env()
    assert default.per_minute == 600 and default.burst == 60 and not default.limit_loopback
    monkeypatch.setenv("SFE_API_RATE_PER_MIN", "30")
    monkeypatch.setenv("SFE_API_RATE_LIMIT_LOOPBACK", "1")
    assert RateLimitConfig.from_env() == RateLimitConfig(per_minute=30, burst=10, limit_loopback=True)
    monkeypatch.setenv("SFE_API_RATE_PER_MIN", "lots")
    with pytest.raises(ValueError, match="SFE_API_RATE_PER_MIN"):
        RateLimitConfig.from_env()
    monkeypatch.setenv("SFE_API_RATE_PER_MIN", "0")
    assert not RateLimitConfig.from_env().enabled


def test_a_page_that_is_not_full_gives_the_total_without_counting():
    assert queries.total_of_page(42, 50, 150) == 192  # the last page
    assert queries.total_of_page(0, 50, 0) == 0
    assert queries.total_of_page(50, 50, 0) is None  # a full page: more may follow
    assert queries.total_of_page(0, 50, 200) is None  # past the end: count


def test_a_number_beyond_64_bits_is_an_invalid_request(client, app, lake):
    from sfe.api import security

    app.dependency_overrides[security.optional_principal] = lambda: make_principal("SFE", Role.ADMIN)
    response = client.get(f"/v1/asset-groups/{2**70}/members")
    _error(response, 422, "invalid_request", "out of range")


# -- plainly valid queries skip FastAPI's per-parameter validation (tables.TableRoute) --------------
def _any_override() -> None:
    """Never called: registering an override sends table routes through FastAPI's own handler."""


def _fast_path_requests(dataset: datasets.Dataset) -> list[dict]:
    variants: list[dict] = [{}, {"limit": "2", "offset": "1"}, {"format": "csv"}, {"format": "parquet"}]
    if dataset.spec.time_column:
        variants.append({"from": "2024-04-01", "to": "2024-04-02T00:00:00Z"})
    for f in dataset.list_filters[:2]:
        example = datasets.FILTER_DOCS[f.param].example
        variants += [{f.param: example}, {f.param: [example, "atlantis"]}]
    for choice in dataset.choices:
        variants += [{choice.param: value} for value in choice.values]
    return variants


def test_plainly_valid_queries_answer_exactly_as_fastapi_does(client, app, lake, monkeypatch):
    from sfe.api.routes import tables
    from sfe.registry import api_keys

    fast_calls = []
    real_run = tables.run_in_threadpool

    async def counted(func, *args, **kwargs):
        fast_calls.append(func.__name__)
        return await real_run(func, *args, **kwargs)

    monkeypatch.setattr(tables, "run_in_threadpool", counted)
    key = api_keys.create_key(make_principal("SFE", Role.ADMIN), "fast path")[1]
    assert client.get("/v1/metering", headers={"X-API-Key": key}).json()["total"] > 0
    compared = 0
    for dataset in datasets.DATASETS:
        for headers in ({"X-API-Key": key}, {}, {"Authorization": "Bearer sfe_not_a_key"}):
            if dataset.access != "own" and headers:
                continue
            for params in _fast_path_requests(dataset):
                calls = len(fast_calls)
                fast = client.get(dataset.path, params=params, headers=headers)
                # the fast path ran the endpoint (a bad key is answered 401 before it)
                assert len(fast_calls) == calls + ("Authorization" not in headers), (dataset.path, params)
                app.dependency_overrides[_any_override] = _any_override
                standard = client.get(dataset.path, params=params, headers=headers)
                app.dependency_overrides.clear()
                assert len(fast_calls) == calls + ("Authorization" not in headers)  # FastAPI's path
                assert fast.status_code == standard.status_code, (dataset.path, params, fast.text[:300])
                assert fast.content == standard.content, (dataset.path, params)
                assert {k: v for k, v in fast.headers.items() if k != "date"} == {
                    k: v for k, v in standard.headers.items() if k != "date"
                }
                compared += 1
    assert compared > 100


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": str(queries.MAX_LIMIT + 1)},
        {"limit": "ten"},
        {"limit": ""},
        {"offset": "-1"},
        {"offset": str(2**62 + 1)},
        {"format": "xml"},
        {"period_grain": "fortnight"},
    ],
)
def test_other_queries_get_fastapis_validation_errors(client, params):
    response = client.get("/v1/market-trends", params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["details"][0]["location"] == "query"
    assert body["details"][0]["parameter"] == next(iter(params))
