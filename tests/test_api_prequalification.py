"""Prequalification and contracts over real HTTP (TestClient, bearer session tokens, a real registry):
the done-when flow end to end, a block rule's refusal, uploads and downloads, and access per role."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from sfe.api.app import create_app
from sfe.api.ratelimit import RateLimitConfig
from sfe.api.routes import prequalification as prequalification_routes
from sfe.registry import prequalification as pq

from .identity_helpers import session_token
from .prequal_helpers import TEMPLATE_BODY, TERMS, TWO_PRODUCTS, dossier_input, extras, group_ref, pdf_text


@pytest.fixture
def client(world) -> TestClient:
    app = create_app(rate_limit=RateLimitConfig(per_minute=0, burst=0, limit_loopback=False))
    if not any(getattr(r, "path", None) == "/v1/prequalification/applications" for r in app.routes):
        app.include_router(prequalification_routes.router)  # until sfe.api.app includes it
    return TestClient(app)


@pytest.fixture
def auth(world):
    return {who: {"Authorization": f"Bearer {session_token(p)}"} for who, p in world.people.items()}


def _ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def test_the_done_when_flow_over_http(client, auth, world):
    subject = group_ref(world)
    dossier = _ok(
        client.put(f"/v1/prequalification/dossiers/{subject}", json=dossier_input(), headers=auth["fsp"])
    )
    assert dossier["version"] == 1 and dossier["subject_id"] == subject

    form = _ok(
        client.get(
            f"/v1/prequalification/products/ukpn_secure/form?subject_id={subject}", headers=auth["fsp"]
        )
    )
    assert form["kind"] == "dno_local_flexibility" and form["defaults"]["offered_capacity_mw"] == 2.3
    assert "baseline_methodology" in {f["name"] for f in form["fields"]}

    dc = {"offered_capacity_mw": 2, "eac_unit_name": "ACME-1", "monitoring_resolution_hz": 20}
    body = {"subject_id": subject, "products": {**{p: extras() for p in TWO_PRODUCTS}, "neso_eac_dch": dc}}
    submitted = _ok(client.post("/v1/prequalification/applications", json=body, headers=auth["fsp"]))
    assert (submitted["submitted"], submitted["refused"]) == (2, 1)
    refused = next(o for o in submitted["data"] if o["product_id"] == "neso_eac_dch")
    assert refused["decision"] == "refused" and "Full delivery within 1 s" in refused["explanation"]
    assert any(v["outcome"] == "fail" and v["mode"] == "block" for v in refused["verdicts"])
    app_ids = [o["application"]["application_id"] for o in submitted["data"] if o["submitted"]]

    # UKPN's review queue holds both; it reads the dossier version they were made with
    queue = _ok(client.get("/v1/prequalification/applications?status=submitted", headers=auth["ukpn"]))
    assert sorted(a["application_id"] for a in queue["data"]) == sorted(app_ids)
    used = _ok(client.get(f"/v1/prequalification/applications/{app_ids[0]}/dossier", headers=auth["ukpn"]))
    assert used["version"] == 1 and used["technical"]["response_time_s"] == 2.0

    for product_id in TWO_PRODUCTS:
        template = {"title": "Agreement: {{product_name}}", "body": TEMPLATE_BODY, "standard_terms": TERMS}
        _ok(client.put(f"/v1/contract-templates/{product_id}", json=template, headers=auth["ukpn"]))
    for app_id in app_ids:
        _ok(client.post(f"/v1/prequalification/applications/{app_id}/review", json={}, headers=auth["ukpn"]))
        decided = _ok(
            client.post(
                f"/v1/prequalification/applications/{app_id}/decision",
                json={"decision": "prequalified", "reasons": "Evidence complete"},
                headers=auth["ukpn"],
            )
        )
        assert decided["status"] == "prequalified" and decided["contract_reference"].startswith("SFE-C-")

    mine = _ok(client.get("/v1/contracts", headers=auth["fsp"]))["data"]
    assert sorted(c["product_id"] for c in mine) == sorted(TWO_PRODUCTS)
    for contract in mine:
        cid, current = contract["contract_id"], contract["versions"][0]
        pdf = client.get(f"/v1/contracts/{cid}/document?format=pdf", headers=auth["fsp"])
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert "Acme Flex" in pdf_text(pdf.content)
        assert pdf.headers["content-disposition"].startswith("attachment;")
        html = client.get(f"/v1/contracts/{cid}/document?format=html", headers=auth["ukpn"])
        assert hashlib.sha256(html.content).hexdigest() == current["content_sha256"]
        stale = client.post(
            f"/v1/contracts/{cid}/accept",
            json={"version": 1, "content_sha256": "f" * 64},
            headers=auth["fsp"],
        )
        assert stale.status_code == 409 and stale.json()["error"] == "conflict"
        for who in ("fsp", "ukpn"):
            accepted = _ok(
                client.post(
                    f"/v1/contracts/{cid}/accept",
                    json={"version": current["version"], "content_sha256": current["content_sha256"]},
                    headers=auth[who],
                )
            )
        assert accepted["status"] == "executed"

    def state(who):
        apps = _ok(client.get("/v1/prequalification/applications", headers=auth[who]))["data"]
        signed = _ok(client.get("/v1/contracts", headers=auth[who]))["data"]
        return sorted((a["product_id"], a["status"]) for a in apps), sorted(
            (c["reference"], c["status"]) for c in signed
        )

    assert state("fsp") == state("ukpn")
    assert state("fsp")[0] == sorted((p, "prequalified") for p in TWO_PRODUCTS)


def test_invalid_input_is_named_and_documents_travel_by_hash(client, auth, world, monkeypatch):
    subject = group_ref(world)
    bad = dossier_input()
    bad["metering"][0]["meter_type"] = "steam"
    refused = client.put(f"/v1/prequalification/dossiers/{subject}", json=bad, headers=auth["fsp"])
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_input"
    assert {d["field"] for d in refused.json()["details"]} == {"metering[1].meter_type"}

    _ok(client.put(f"/v1/prequalification/dossiers/{subject}", json=dossier_input(), headers=auth["fsp"]))
    content = b"%PDF-1.4\n% witnessed response test\n%%EOF\n"
    uploaded = _ok(
        client.post(
            f"/v1/prequalification/dossiers/{subject}/documents?filename=Prüfbericht.pdf",
            content=content,
            headers={**auth["fsp"], "Content-Type": "application/octet-stream"},
        ),
        201,
    )
    assert (
        uploaded["sha256"] == hashlib.sha256(content).hexdigest()
        and uploaded["original_name"] == "Prüfbericht.pdf"
    )
    wrong = client.post(
        f"/v1/prequalification/dossiers/{subject}/documents?filename=report.png",
        content=content,
        headers={**auth["fsp"], "Content-Type": "application/octet-stream"},
    )
    assert wrong.status_code == 422 and "its content is not" in wrong.json()["message"]
    got = client.get(f"/v1/prequalification/documents/{uploaded['document_id']}", headers=auth["fsp"])
    assert got.content == content and got.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''Pr%C3%BCfbericht.pdf" in got.headers["content-disposition"]
    assert (
        client.get(
            f"/v1/prequalification/documents/{uploaded['document_id']}", headers=auth["ukpn"]
        ).status_code
        == 404
    )

    monkeypatch.setattr(pq, "MAX_DOCUMENT_BYTES", 64)
    too_big = client.post(
        f"/v1/prequalification/dossiers/{subject}/documents?filename=big.txt",
        content=b"x" * 65,
        headers={**auth["fsp"], "Content-Type": "application/octet-stream"},
    )
    assert too_big.status_code == 413 and too_big.json()["error"] == "too_large"

    body = {"subject_id": subject, "products": {"ukpn_secure": {"offered_capacity_mw": 9}}}
    refused = client.post("/v1/prequalification/applications", json=body, headers=auth["fsp"])
    assert refused.status_code == 422
    assert {"ukpn_secure.offered_capacity_mw", "ukpn_secure.baseline_methodology"} <= {
        d["field"] for d in refused.json()["details"]
    }
    bad_template = {"title": "T", "body": "{{fsp_name}} {{unknown_thing}}"}
    refused = client.put("/v1/contract-templates/ukpn_secure", json=bad_template, headers=auth["ukpn"])
    assert refused.status_code == 422 and "unknown placeholder {{unknown_thing}}" in refused.json()["message"]


def test_access_per_role_over_http(client, auth, world):
    subject = group_ref(world)
    for method, path in (
        ("GET", "/v1/prequalification/applications"),
        ("GET", "/v1/contracts"),
        ("PUT", f"/v1/prequalification/dossiers/{subject}"),
    ):
        response = client.request(method, path, json=dossier_input() if method == "PUT" else None)
        assert response.status_code == 401, (method, path)
    _ok(client.put(f"/v1/prequalification/dossiers/{subject}", json=dossier_input(), headers=auth["fsp"]))
    submitted = _ok(
        client.post(
            "/v1/prequalification/applications",
            json={"subject_id": subject, "products": {"ukpn_secure": extras()}},
            headers=auth["fsp"],
        )
    )
    app_id = submitted["data"][0]["application"]["application_id"]

    # another provider: nothing to see, nothing to touch
    assert (
        client.get(f"/v1/prequalification/dossiers/{subject}", headers=auth["other_fsp"]).status_code == 404
    )
    assert _ok(client.get("/v1/prequalification/applications", headers=auth["other_fsp"]))["total"] == 0
    assert (
        client.get(f"/v1/prequalification/applications/{app_id}", headers=auth["other_fsp"]).status_code
        == 404
    )
    # the SO of another operator cannot review it
    assert (
        client.post(f"/v1/prequalification/applications/{app_id}/review", headers=auth["nged"]).status_code
        == 404
    )
    # a provider cannot review, an SO cannot apply, an investor cannot use any of it
    assert (
        client.post(f"/v1/prequalification/applications/{app_id}/review", headers=auth["fsp"]).status_code
        == 403
    )
    wrong_role = client.put(
        f"/v1/prequalification/dossiers/{subject}", json=dossier_input(), headers=auth["ukpn"]
    )
    assert wrong_role.status_code == 403 and wrong_role.json()["error"] == "forbidden"
    assert client.get("/v1/contracts", headers=auth["investor"]).status_code == 403
    # rejecting needs reasons; the owning SO does it
    _ok(client.post(f"/v1/prequalification/applications/{app_id}/review", headers=auth["ukpn"]))
    no_reason = client.post(
        f"/v1/prequalification/applications/{app_id}/decision",
        json={"decision": "rejected"},
        headers=auth["ukpn"],
    )
    assert no_reason.status_code == 422 and no_reason.json()["details"][0]["field"] == "reasons"
    rejected = _ok(
        client.post(
            f"/v1/prequalification/applications/{app_id}/decision",
            json={"decision": "rejected", "reasons": "Metering data provider not accredited."},
            headers=auth["ukpn"],
        )
    )
    assert rejected["status"] == "rejected"
    seen = _ok(client.get(f"/v1/prequalification/applications/{app_id}", headers=auth["fsp"]))
    assert seen["decision_reasons"] == "Metering data provider not accredited."
    assert [h["to_status"] for h in seen["history"]] == ["submitted", "under_review", "rejected"]
