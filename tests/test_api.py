"""The HTTP API (sfe.api.app) against a real published DuckDB file, and sfe.csv_safe."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import date

import polars as pl
import pytest
from fastapi.testclient import TestClient

from sfe import csv_safe
from sfe.api.app import app
from sfe.serving import reset_db_registry

try:
    from serving_fixtures import INJECTION_REF, publish_serving_db, raw_rows
except ImportError:  # tests/ imported as a package
    from tests.serving_fixtures import INJECTION_REF, publish_serving_db, raw_rows


@pytest.fixture
def lake_dir(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    monkeypatch.setenv("SFE_LAKE_DIR", str(lake))
    yield lake
    reset_db_registry()


@pytest.fixture
def client(lake_dir):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def published(lake_dir):
    return publish_serving_db(lake_dir)


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _assert_error(response, status: int, *needles: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error", "message"}
    for needle in needles:
        assert needle in body["message"]
    return body


# -- health ----------------------------------------------------------------------------------------
def test_health_when_not_built(client, lake_dir):
    body = _assert_error(client.get("/v1/health"), 503, "make build", str(lake_dir))
    assert body["status"] == "unavailable" and body["error"] == "warehouse_not_built"
    for path in ("/v1/auction-results", "/v1/dispatches", "/v1/products"):
        _assert_error(client.get(path), 503, "has not been built")


def test_health(client, published):
    r = client.get("/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["published_at"] == "2024-06-01T06:00:00+00:00"
    assert body["dbt_tests_passed"] is True
    sources = {s["source_id"]: s for s in body["sources"]}
    assert sources["neso_eac_results"]["rows_loaded"] == raw_rows(published, "fct_auction_result").height
    assert sources["ukpn_flexibility_dispatches"]["max_date"] == "2024-05-31"
    assert body["total_rows"] == sum(s["rows_loaded"] for s in body["sources"])


def test_a_new_publish_is_served_without_restart(client, published, lake_dir):
    before = client.get("/v1/health").json()
    assert client.get("/v1/auction-results", params={"from": "2024-06-01"}).json()["total"] == 0
    publish_serving_db(lake_dir, version=2)
    after = client.get("/v1/health").json()
    assert after["published_at"] == "2024-06-04T06:00:00+00:00"
    assert after["publish_version"] != before["publish_version"]
    # 3 June EFA days x 6 blocks, less the first block, which starts 22:00 UTC on 31 May.
    assert client.get("/v1/auction-results", params={"from": "2024-06-01"}).json()["total"] == 17


# -- auction results and dispatches -----------------------------------------------------------------
def test_auction_results_pages(client, published):
    total = raw_rows(published, "fct_auction_result").height
    first = client.get("/v1/auction-results")
    assert first.status_code == 200
    body = first.json()
    assert body["total"] == total and body["limit"] == 1000 and body["offset"] == 0
    assert len(body["data"]) == 1000
    assert first.headers["X-Total-Count"] == str(total)
    assert 'rel="next"' in first.headers["Link"]
    assert body["next"] is not None and "offset=1000" in body["next"]

    second = client.get(body["next"]).json()
    assert len(second["data"]) == total - 1000 and second["next"] is None
    ids = [r["auction_result_id"] for r in body["data"] + second["data"]]
    assert len(set(ids)) == total

    row = body["data"][0]
    assert row == {
        "auction_result_id": row["auction_result_id"],
        "market_id": "neso_eac",
        "product_id": "neso_eac_dch",
        "auction_id": "EAC-20240301",
        "delivery_start_utc": "2024-02-29T23:00:00+00:00",
        "delivery_end_utc": "2024-03-01T03:00:00+00:00",
        "cleared_volume_mw": row["cleared_volume_mw"],
        "clearing_price_gbp_per_mw_h": row["clearing_price_gbp_per_mw_h"],
        "source_id": "neso_eac_results",
    }


def test_limit_and_offset(client, published):
    body = client.get("/v1/auction-results", params={"limit": 5, "offset": 10}).json()
    full = client.get("/v1/auction-results", params={"limit": 20}).json()
    assert [r["auction_result_id"] for r in body["data"]] == [
        r["auction_result_id"] for r in full["data"][10:15]
    ]
    assert "offset=15" in body["next"] and "limit=5" in body["next"]
    assert client.get("/v1/auction-results", params={"limit": 10000}).status_code == 200


def test_product_filter_is_repeatable(client, published):
    one = client.get("/v1/auction-results", params={"product_id": "neso_eac_pbr"}).json()
    assert one["total"] == 142 and {r["product_id"] for r in one["data"]} == {"neso_eac_pbr"}
    two = client.get(
        "/v1/auction-results", params=[("product_id", "neso_eac_pbr"), ("product_id", "neso_eac_dcl")]
    )
    assert two.json()["total"] == 142 + 552
    commas = client.get("/v1/auction-results", params={"product_id": "neso_eac_pbr,neso_eac_dcl"})
    assert commas.json()["total"] == 142 + 552
    # A known product without data is an empty result, an unknown one an error.
    assert client.get("/v1/dispatches", params={"product_id": "nged_peak_reduction"}).json()["total"] == 0
    body = _assert_error(
        client.get("/v1/dispatches", params={"product_id": "nope"}), 422, "'nope'", "/v1/products"
    )
    assert body["error"] == "unknown_product"


def test_time_range_is_half_open(client, published):
    params = {"product_id": "neso_eac_pbr", "from": "2024-03-31T00:00:00Z", "to": "2024-03-31T01:00:00Z"}
    starts = [
        r["delivery_start_utc"] for r in client.get("/v1/auction-results", params=params).json()["data"]
    ]
    assert starts == ["2024-03-31T00:00:00+00:00", "2024-03-31T00:30:00+00:00"]  # 01:00 itself is excluded
    # The same instants written with an offset, naive (= UTC), or with an unencoded '+' (a space).
    for start, end in [
        ("2024-03-31T01:00:00+01:00", "2024-03-31T02:00:00+01:00"),
        ("2024-03-31T00:00:00", "2024-03-31T01:00"),
        ("2024-03-31", "2024-03-31T02:00:00 01:00"),
    ]:
        got = client.get(
            "/v1/auction-results", params={"product_id": "neso_eac_pbr", "from": start, "to": end}
        )
        assert [r["delivery_start_utc"] for r in got.json()["data"]] == starts, (start, end)


def test_dispatches_in_british_summer_time(client, published):
    r = client.get(
        "/v1/dispatches", params={"product_id": "ukpn_dynamic", "from": "2024-04-01T23:00:00+01:00"}
    )
    body = r.json()
    # 23:00 BST = 22:00 UTC: the first dispatch after it is the one at 23:30 UTC (00:30 BST on 2 April).
    assert body["data"][0]["start_utc"] == "2024-04-01T23:30:00+00:00"
    assert body["data"][0]["energy_mwh"] == 2.0
    day = client.get("/v1/dispatches", params={"from": "2024-04-01", "to": "2024-04-02"}).json()
    # Regular dispatches start 16:00 and 18:00 BST = 15:00 and 17:00 UTC.
    assert day["total"] == 7
    assert sorted({r["start_utc"][11:16] for r in day["data"]}) == ["15:00", "17:00", "23:30"]


def test_csv_format(client, published):
    r = client.get(
        "/v1/auction-results", params={"product_id": "neso_eac_pbr", "format": "csv", "limit": 100}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["X-Total-Count"] == "142"
    assert 'rel="next"' in r.headers["Link"] and "format=csv" in r.headers["Link"]
    assert "attachment" in r.headers["content-disposition"]
    rows = _csv(r.text)
    assert len(rows) == 100
    assert list(rows[0]) == [
        "auction_result_id", "market_id", "product_id", "auction_id", "delivery_start_utc",
        "delivery_end_utc", "cleared_volume_mw", "clearing_price_gbp_per_mw_h", "source_id",
    ]  # fmt: skip
    prices = [row["clearing_price_gbp_per_mw_h"] for row in rows]
    assert "-2.0" in prices and "-0.5" in prices  # negative numbers are not escaped
    assert rows[0]["delivery_start_utc"] == "2024-03-30T00:00:00+00:00"


def test_csv_escapes_formula_injection(client, published):
    params = {"product_id": "ukpn_sustain", "from": "2024-03-05", "to": "2024-03-06", "format": "csv"}
    rows = _csv(client.get("/v1/dispatches", params=params).text)
    refs = [row["source_asset_ref"] for row in rows]
    assert "'" + INJECTION_REF in refs
    assert INJECTION_REF not in refs
    as_json = client.get("/v1/dispatches", params={**params, "format": "json"}).json()
    assert INJECTION_REF in [row["source_asset_ref"] for row in as_json["data"]]  # JSON is data, not escaped


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"limit": 0}, "'limit'"),
        ({"limit": 10001}, "'limit'"),
        ({"limit": "many"}, "'limit'"),
        ({"offset": -1}, "'offset'"),
        ({"format": "xml"}, "'format'"),
        ({"from": "yesterday"}, "'from'"),
        ({"to": "2024-02-30"}, "'to'"),
    ],
)
def test_invalid_parameters_are_422_json(client, published, params, needle):
    body = _assert_error(client.get("/v1/auction-results", params=params), 422, needle)
    assert body["error"] == "invalid_request"


def test_empty_range_is_400(client, published):
    r = client.get("/v1/dispatches", params={"from": "2024-04-02", "to": "2024-04-01T12:00:00Z"})
    body = _assert_error(r, 400, "'from'", "before")
    assert body["error"] == "empty_range"
    _assert_error(client.get("/v1/dispatches", params={"from": "2024-04-02", "to": "2024-04-02"}), 400)


def test_unknown_route_is_json(client, published):
    _assert_error(client.get("/v1/nothing"), 404, "/v1/nothing")


# -- products ----------------------------------------------------------------------------------------
def test_products(client, published):
    r = client.get("/v1/products")
    assert r.status_code == 200
    body = r.json()
    ids = [p["product_id"] for p in body["data"]]
    assert ids == [
        "neso_eac_dch",
        "neso_eac_dcl",
        "neso_eac_pbr",
        "ukpn_dynamic",
        "ukpn_secure",
        "ukpn_sustain",
    ]
    assert body["total"] == 6
    dynamic = body["data"][3]
    assert (
        dynamic["product_name"] == "Dynamic"
        and dynamic["market_name"] == "UK Power Networks local flexibility"
    )
    assert dynamic["dispatch_rows"] == 185 and dynamic["auction_result_rows"] == 0
    rows = _csv(client.get("/v1/products", params={"format": "csv"}).text)
    assert [row["product_id"] for row in rows] == ids


# -- OpenAPI -----------------------------------------------------------------------------------------
def test_openapi_document(client, published):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "SFE API" and spec["info"]["description"]
    assert {"/v1/health", "/v1/auction-results", "/v1/dispatches", "/v1/products"} <= set(spec["paths"])
    params = {p["name"]: p for p in spec["paths"]["/v1/auction-results"]["get"]["parameters"]}
    assert {"product_id", "from", "to", "limit", "offset", "format"} <= set(params)
    for name, param in params.items():
        assert param.get("description"), f"parameter {name} has no description"
    assert params["limit"]["schema"]["maximum"] == 10000
    assert (
        "examples" in params["from"]["schema"] or "example" in params["from"] or "examples" in params["from"]
    )
    responses = spec["paths"]["/v1/dispatches"]["get"]["responses"]
    assert "text/csv" in responses["200"]["content"] and {"400", "422", "503"} <= set(responses)


def test_openapi_schemas_describe_the_real_responses(client, published):
    jsonschema = pytest.importorskip("jsonschema")
    spec = client.get("/openapi.json").json()

    def validate(instance: dict, name: str) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        jsonschema.Draft202012Validator(schema).validate(instance)

    validate(client.get("/v1/auction-results", params={"limit": 50}).json(), "AuctionResultsPage")
    validate(client.get("/v1/dispatches", params={"limit": 50}).json(), "DispatchesPage")
    validate(client.get("/v1/products").json(), "ProductsList")
    validate(client.get("/v1/health").json(), "Health")
    validate(client.get("/v1/dispatches", params={"limit": 0}).json(), "ErrorBody")
    with pytest.raises(jsonschema.ValidationError):
        validate(
            {"total": 1, "limit": 1, "offset": 0, "next": None, "data": [{"product_id": 1}]}, "DispatchesPage"
        )


def test_api_import_stays_light():
    code = (
        "import sys, sfe.api.app\n"
        "heavy = [m for m in ('dagster', 'dbt', 'great_expectations', 'streamlit') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


# -- csv_safe ----------------------------------------------------------------------------------------
def test_csv_safe_escapes_text_only():
    frame = pl.DataFrame(
        {
            "text": [
                "=1+2",
                "+44 20",
                "-x",
                "@SUM(A1)",
                "\tcmd",
                "\rcmd",
                "\uff1dfull",
                "-12.5",
                "plain",
                "a=b",
                None,
            ],
            "number": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0],
            "day": [date(2024, 3, 31)] * 11,
        }
    )
    rows = list(csv.reader(io.StringIO(csv_safe.to_csv(frame))))
    assert rows[0] == ["text", "number", "day"]
    assert [r[0] for r in rows[1:]] == [
        "'=1+2", "'+44 20", "'-x", "'@SUM(A1)", "'\tcmd", "'\rcmd", "'\uff1dfull", "-12.5", "plain", "a=b", "",
    ]  # fmt: skip
    assert [r[1] for r in rows[1:4]] == ["-1.5", "2.0", "-3.0"]
    assert rows[1][2] == "2024-03-31"
    assert csv_safe.escape_cell("=cmd") == "'=cmd" and csv_safe.escape_cell(-5) == -5
    no_dates = frame.drop("day")  # pandas has no date-only dtype
    assert csv_safe.to_csv_bytes(no_dates.to_pandas()) == csv_safe.to_csv_bytes(no_dates)


def test_csv_safe_escapes_the_header_and_categoricals():
    frame = pl.DataFrame({"=evil": ["-cmd"]}, schema={"=evil": pl.Categorical})
    assert csv_safe.to_csv(frame).splitlines() == ["'=evil", "'-cmd"]
