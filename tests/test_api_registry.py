"""The registry over HTTP (real registry, real HTTP through TestClient, bearer API keys and sessions):
access per role, duplicates answered 409 with the existing id, bulk CSV/JSON with per-row errors,
products lifecycle, consultations, and 50 concurrent submissions."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from sfe.api.app import create_app
from sfe.api.ratelimit import RateLimitConfig
from sfe.api.routes import registry as registry_routes
from sfe.registry import db
from sfe.registry.access import Role
from sfe.registry.asset_import import TEMPLATE_COLUMNS

from .identity_helpers import session_token
from .registry_helpers import asset_row, make_principal, mpan


@pytest.fixture
def registry(lake_paths):
    db.dispose_all()
    yield lake_paths
    db.dispose_all()


@pytest.fixture
def client(registry) -> TestClient:
    app = create_app(rate_limit=RateLimitConfig(per_minute=0, burst=0, limit_loopback=False))
    if not any(getattr(route, "path", None) == "/v1/assets" for route in app.routes):
        app.include_router(registry_routes.router)  # until sfe.api.app includes the registry router
    return TestClient(app)


@pytest.fixture
def people(registry):
    return {
        "fsp_a": make_principal("Acme Flex", Role.FSP),
        "fsp_b": make_principal("Beta Flex", Role.FSP),
        "ukpn": make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"),
        "nged": make_principal("NGED", Role.SYSTEM_OPERATOR, operator_id="nged"),
        "investor": make_principal("Capital Partners", Role.INVESTOR),
        "analyst": make_principal("Analysis Ltd", Role.ANALYST),
        "admin": make_principal("SFE", Role.ADMIN),
    }


@pytest.fixture
def auth(people):
    tokens = {who: session_token(p) for who, p in people.items()}
    return {who: {"Authorization": f"Bearer {token}"} for who, token in tokens.items()}


def body(i: int, **overrides) -> dict:
    return asset_row(i, **overrides)


def test_every_registry_route_needs_credentials(client):
    for method, path in (
        ("GET", "/v1/assets"),
        ("POST", "/v1/assets"),
        ("GET", "/v1/assets/REG-000001"),
        ("GET", "/v1/asset-groups"),
        ("GET", "/v1/registry/products"),
        ("GET", "/v1/consultations"),
    ):
        response = client.request(method, path, json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path)
        assert response.json()["error"] == "authentication_required"


def test_assets_per_role(client, auth):
    created = client.post("/v1/assets", json=body(1, bm_unit="T_ACME-1"), headers=auth["fsp_a"])
    assert created.status_code == 201, created.text
    asset = created.json()
    assert (
        asset["registry_asset_id"] == "REG-000001"
        and asset["bm_unit"] == "T_ACME-1"
        and asset["dno_area"] == "EPN"
    )
    client.post("/v1/assets", json=body(2, mpan=mpan("11", 4)), headers=auth["fsp_b"])  # East Midlands

    def ids(who):
        response = client.get("/v1/assets", headers=auth[who])
        assert response.status_code == 200, response.text
        return [row["registry_asset_id"] for row in response.json()["data"]]

    assert ids("fsp_a") == ["REG-000001"] and ids("fsp_b") == ["REG-000002"]
    assert ids("ukpn") == ["REG-000001"] and ids("nged") == ["REG-000002"]
    assert ids("admin") == ["REG-000001", "REG-000002"]
    for who in ("investor", "analyst"):
        assert client.get("/v1/assets", headers=auth[who]).status_code == 403
        assert client.get("/v1/assets/REG-000001", headers=auth[who]).status_code == 404
        refused = client.post("/v1/assets", json=body(3), headers=auth[who])
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"

    # FSP B can neither see nor change A's asset; the SO reads it but cannot change it
    assert client.get("/v1/assets/REG-000001", headers=auth["fsp_b"]).status_code == 404
    patch = client.patch("/v1/assets/REG-000001", json={"capacity_mw": 9}, headers=auth["fsp_b"])
    assert patch.status_code == 404 and patch.json()["error"] == "not_found"
    assert client.post("/v1/assets/REG-000001/retire", headers=auth["fsp_b"]).status_code == 404
    assert (
        client.get("/v1/assets/REG-000001", headers=auth["ukpn"]).json()["organisation_name"] == "Acme Flex"
    )
    assert (
        client.patch("/v1/assets/REG-000001", json={"capacity_mw": 9}, headers=auth["ukpn"]).status_code
        == 403
    )

    # the owner changes and retires it
    changed = client.patch(
        "/v1/assets/REG-000001", json={"capacity_mw": 2.5, "bm_unit": None}, headers=auth["fsp_a"]
    )
    assert (
        changed.status_code == 200
        and changed.json()["capacity_mw"] == 2.5
        and changed.json()["bm_unit"] is None
    )
    retired = client.post("/v1/assets/REG-000001/retire", json={"reason": "sold"}, headers=auth["fsp_a"])
    assert retired.status_code == 200 and retired.json()["retired_at"]
    again = client.patch("/v1/assets/REG-000001", json={"capacity_mw": 3}, headers=auth["fsp_a"])
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert ids("fsp_a") == []
    csv_text = client.get("/v1/assets?include_retired=true&format=csv", headers=auth["fsp_a"]).text
    assert csv_text.splitlines()[0].startswith("registry_asset_id,asset_name")


def test_duplicates_answer_409_with_the_existing_id_and_invalid_input_422_per_field(client, auth):
    first = client.post(
        "/v1/assets", json=body(1, eac_unit_name="NBM-ACME-001"), headers=auth["fsp_a"]
    ).json()
    dup = client.post("/v1/assets", json=body(2, eac_unit_name="NBM-ACME-001"), headers=auth["fsp_b"])
    assert dup.status_code == 409
    error = dup.json()
    assert error["error"] == "duplicate_asset" and error["registry_asset_id"] == first["registry_asset_id"]
    assert error["ref_type"] == "eac_unit_name" and "another organisation" in error["message"]
    assert "Acme" not in dup.text

    likely = client.post(
        "/v1/assets",
        json=body(3, mpan=None, gsp_group="_A", capacity_mw=2.02, latitude=52.0101),
        headers=auth["fsp_a"],
    )
    assert likely.status_code == 409 and likely.json()["error"] == "likely_duplicate"
    assert likely.json()["matches"][0]["registry_asset_id"] == first["registry_asset_id"]
    confirmed = client.post(
        "/v1/assets",
        json=body(3, mpan=None, gsp_group="_A", capacity_mw=2.02, latitude=52.0101)
        | {"confirm_likely_duplicate": True},
        headers=auth["fsp_a"],
    )
    assert confirmed.status_code == 201

    invalid = client.post(
        "/v1/assets",
        json={"asset_name": "x", "asset_type": "battery", "capacity_mw": -1},
        headers=auth["fsp_a"],
    )
    assert invalid.status_code == 422 and invalid.json()["error"] == "invalid_input"
    fields = {d["field"] for d in invalid.json()["details"]}
    assert {"capacity_mw", "energy_mwh", "postcode", "mpan"} <= fields
    unknown = client.post("/v1/assets", json=body(4) | {"colour": "red"}, headers=auth["fsp_a"])
    assert unknown.status_code == 422 and "colour" in unknown.json()["message"]


def _csv(rows) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(TEMPLATE_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_bulk_import_by_csv_and_json_reports_every_bad_row(client, auth):
    rows = [body(i, capacity_mw=0.01 * (i + 1), energy_mwh=0.02 * (i + 1)) for i in range(50)]
    rows[3]["postcode"] = "NOWHERE"
    rows[44]["mpan"] = "1000000000019"
    headers = auth["fsp_a"] | {"Content-Type": "text/csv"}
    dry = client.post("/v1/assets/import?dry_run=true", content=_csv(rows), headers=headers)
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] and len(dry.json()["registered"]) == 48
    assert client.get("/v1/assets", headers=auth["fsp_a"]).json()["total"] == 0

    report = client.post("/v1/assets/import?new_group_name=Homes", content=_csv(rows), headers=headers).json()
    assert report["rows"] == 50 and len(report["registered"]) == 48 and report["rejected_rows"] == [5, 46]
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(5, "postcode"), (46, "mpan")]
    assert report["group"]["group_name"] == "Homes" and report["group"]["current_members"] == 48
    assert client.get("/v1/assets", headers=auth["fsp_a"]).json()["total"] == 48
    assert client.get("/v1/assets", headers=auth["fsp_b"]).json()["total"] == 0

    records = [body(100), {"asset_name": "bad"}, "not an object", body(101) | {"colour": "red"}]
    records[0]["capacity_mw"] = 12.5
    json_report = client.post("/v1/assets/import", json=records, headers=auth["fsp_b"]).json()
    assert [r["row"] for r in json_report["registered"]] == [1]
    assert sorted(
        {(e["row"], e["field"]) for e in json_report["errors"]}
        & {(2, "asset_type"), (3, "row"), (4, "colour")}
    ) == [
        (2, "asset_type"),
        (3, "row"),
        (4, "colour"),
    ]
    bad_file = client.post("/v1/assets/import", content=b"name;type\n", headers=headers)
    assert bad_file.status_code == 422 and bad_file.json()["error"] == "invalid_file"
    wrong_type = client.post(
        "/v1/assets/import", content=b"x", headers=auth["fsp_a"] | {"Content-Type": "image/png"}
    )
    assert wrong_type.status_code == 415
    assert (
        client.post(
            "/v1/assets/import", content=_csv(rows), headers=auth["investor"] | {"Content-Type": "text/csv"}
        ).status_code
        == 403
    )


def test_groups_over_the_api(client, auth):
    for i in (1, 2):
        client.post("/v1/assets", json=body(i), headers=auth["fsp_a"])
    group = client.post("/v1/asset-groups", json={"group_name": "Eastern"}, headers=auth["fsp_a"])
    assert group.status_code == 201
    gid = group.json()["group_id"]
    assert (
        client.post("/v1/asset-groups", json={"group_name": "Eastern"}, headers=auth["fsp_a"]).status_code
        == 409
    )
    added = client.post(
        f"/v1/asset-groups/{gid}/members", json={"add": ["REG-000001", "REG-000002"]}, headers=auth["fsp_a"]
    )
    assert added.json()["added"] == ["REG-000001", "REG-000002"]
    removed = client.post(
        f"/v1/asset-groups/{gid}/members", json={"remove": ["REG-000001"]}, headers=auth["fsp_a"]
    )
    assert removed.json()["removed"] == ["REG-000001"] and removed.json()["group"]["current_members"] == 1
    members = client.get(f"/v1/asset-groups/{gid}/members", headers=auth["fsp_a"]).json()["data"]
    assert sorted((m["registry_asset_id"], m["current"]) for m in members) == [
        ("REG-000001", False),
        ("REG-000002", True),
    ]
    assert client.get(f"/v1/asset-groups/{gid}/members", headers=auth["fsp_b"]).status_code == 404
    assert client.get("/v1/asset-groups", headers=auth["fsp_b"]).json()["total"] == 0
    stolen = client.post(
        f"/v1/asset-groups/{gid}/members", json={"add": ["REG-000001"]}, headers=auth["fsp_b"]
    )
    assert stolen.status_code == 404


PRODUCT = {
    "product_id": "ukpn_reg_peak_2027",
    "market_id": "ukpn_flex",
    "product_name": "Peak 2027",
    "service_type": "Local flexibility",
    "direction": "up",
    "zones": ["Aldreth"],
    "service_windows": [{"days": "weekdays", "start": "16:00", "end": "19:00", "months": [12, 1]}],
    "utilisation_price_gbp_per_mwh": 600,
}


def test_products_and_their_lifecycle_over_the_api(client, auth):
    for who in ("fsp_a", "investor"):
        assert client.post("/v1/registry/products", json=PRODUCT, headers=auth[who]).status_code == 403
    created = client.post("/v1/registry/products", json=PRODUCT, headers=auth["ukpn"])
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft" and created.json()["service_windows"][0]["months"] == [1, 12]
    assert client.post("/v1/registry/products", json=PRODUCT, headers=auth["ukpn"]).status_code == 422
    wrong_market = client.post(
        "/v1/registry/products", json=PRODUCT | {"product_id": "x_y_z"}, headers=auth["nged"]
    )
    assert wrong_market.status_code == 422 and wrong_market.json()["details"][0]["field"] == "market_id"

    assert client.get("/v1/registry/products/ukpn_reg_peak_2027", headers=auth["fsp_a"]).status_code == 404
    assert (
        client.patch(
            "/v1/registry/products/ukpn_reg_peak_2027", json={"min_size_mw": 1}, headers=auth["nged"]
        ).status_code
        == 404
    )
    patched = client.patch(
        "/v1/registry/products/ukpn_reg_peak_2027", json={"min_size_mw": 0.5}, headers=auth["ukpn"]
    )
    assert patched.json()["min_size_mw"] == 0.5
    live = client.post(
        "/v1/registry/products/ukpn_reg_peak_2027/status", json={"to_status": "live"}, headers=auth["ukpn"]
    )
    assert live.status_code == 200 and live.json()["status"] == "live"
    assert (
        client.patch(
            "/v1/registry/products/ukpn_reg_peak_2027", json={"min_size_mw": 1}, headers=auth["ukpn"]
        ).status_code
        == 409
    )
    back = client.post(
        "/v1/registry/products/ukpn_reg_peak_2027/status", json={"to_status": "draft"}, headers=auth["ukpn"]
    )
    assert back.status_code == 409 and "can move to: retired" in back.json()["message"]
    history = client.get("/v1/registry/products/ukpn_reg_peak_2027/history", headers=auth["ukpn"]).json()
    assert [h["to_status"] for h in history["data"]] == ["draft", "live"]
    for who in ("fsp_a", "investor", "analyst", "nged"):
        catalogue = client.get("/v1/registry/products", headers=auth[who]).json()
        assert [p["product_id"] for p in catalogue["data"]] == ["ukpn_reg_peak_2027"]
    assert (
        client.get("/v1/registry/products/ukpn_reg_peak_2027/history", headers=auth["fsp_a"]).status_code
        == 403
    )


def test_consultations_over_the_api_with_fifty_concurrent_submissions(client, auth, people):
    client.post("/v1/registry/products", json=PRODUCT, headers=auth["ukpn"])
    opened = client.post(
        "/v1/consultations",
        json={
            "product_id": "ukpn_reg_peak_2027",
            "title": "Peak 2027 market test",
            "closes_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            "questions": [{"kind": "rating", "prompt": "Price?"}, {"kind": "text", "prompt": "=Why?"}],
        },
        headers=auth["ukpn"],
    )
    assert opened.status_code == 201, opened.text
    consultation = opened.json()
    cid = consultation["consultation_id"]
    rating_q, text_q = (q["question_id"] for q in consultation["questions"])
    assert client.post("/v1/consultations", json={}, headers=auth["fsp_a"]).status_code == 403
    assert client.get(f"/v1/consultations/{cid}", headers=auth["investor"]).status_code == 404

    fsps = [make_principal(f"Flex {i}", Role.FSP) for i in range(50)]
    headers = [{"Authorization": f"Bearer {session_token(p)}"} for p in fsps]
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def submit(i: int) -> None:
        start.wait()
        answer = {"answers": {str(rating_q): 1 + i % 5, str(text_q): f"answer {i}"}}
        response = client.put(f"/v1/consultations/{cid}/response", json=answer, headers=headers[i])
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert statuses == [200] * 50

    edited = client.put(
        f"/v1/consultations/{cid}/response", json={"answers": {str(rating_q): 5}}, headers=headers[0]
    )
    assert edited.status_code == 200 and edited.json()["answers"] == {str(rating_q): 5}
    assert client.get(f"/v1/consultations/{cid}/response", headers=headers[0]).json()["answers"] == {
        str(rating_q): 5
    }
    assert (
        client.put(
            f"/v1/consultations/{cid}/response", json={"answers": {str(rating_q): 9}}, headers=headers[1]
        ).status_code
        == 422
    )

    results = client.get(f"/v1/consultations/{cid}/results", headers=auth["ukpn"]).json()
    assert results["responses"] == 50 and results["attributed"]
    rating, text = results["questions"]
    assert rating["count"] == 50 and sum(rating["distribution"].values()) == 50
    assert text["count"] == 49 and {a["organisation_name"] for a in text["answers"]} >= {"Flex 1", "Flex 49"}
    exported = client.get(f"/v1/consultations/{cid}/results?format=csv&table=summary", headers=auth["ukpn"])
    assert exported.headers["content-type"].startswith("text/csv") and "'=Why?" in exported.text
    for who in ("nged", "fsp_a", "investor"):
        assert client.get(f"/v1/consultations/{cid}/results", headers=auth[who]).status_code in (403, 404)

    closed = client.post(f"/v1/consultations/{cid}/close", headers=auth["ukpn"])
    assert closed.status_code == 200 and not closed.json()["is_open"]
    late = client.put(
        f"/v1/consultations/{cid}/response", json={"answers": {str(rating_q): 3}}, headers=headers[2]
    )
    assert late.status_code == 409 and "closed" in late.json()["message"]


def test_fifty_concurrent_asset_registrations_over_http_never_duplicate(client, auth):
    """50 requests at once, two per physical asset from two organisations: 25 created, 25 refused
    with 409 pointing at the winner."""
    results: list[tuple[int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def submit(i: int) -> None:
        who = "fsp_a" if i % 2 == 0 else "fsp_b"
        start.wait()
        response = client.post("/v1/assets", json=body(i // 2), headers=auth[who])
        data = response.json()
        with lock:
            results.append((response.status_code, data.get("registry_asset_id", "")))

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    created = {rid for status, rid in results if status == 201}
    refused = [rid for status, rid in results if status == 409]
    assert len(results) == 50 and len(created) == 25 and len(refused) == 25
    assert set(refused) == created
    total = sum(client.get("/v1/assets", headers=auth[who]).json()["total"] for who in ("fsp_a", "fsp_b"))
    assert total == 25
