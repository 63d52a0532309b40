"""Third-party forecasts over the API: upload as CSV, per-row errors, ownership, reading back."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sfe import forecasts
from sfe.api.app import create_app
from sfe.registry import api_keys, db
from sfe.registry.access import Role

from .registry_helpers import make_principal

GOOD = forecasts.EXAMPLE_CSV.encode()


@pytest.fixture
def client(lake_paths):
    db.dispose_all()
    yield TestClient(create_app())
    db.dispose_all()


def _key(org: str, role: Role) -> dict[str, str]:
    _, key = api_keys.create_key(make_principal(org, role), "forecasts")
    return {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}


def test_upload_then_everyone_reads_it_labelled_with_its_provider(client):
    posted = client.post("/v1/forecasts", content=GOOD, headers=_key("Example Analytics Ltd", Role.ANALYST))
    assert posted.status_code == 201, posted.text
    assert posted.json() == {"provider": "Example Analytics", "rows": 2, "replaced_rows": 0}
    listed = client.get("/v1/forecasts").json()
    assert listed["total"] == 2
    assert {r["provider"] for r in listed["data"]} == {"Example Analytics"}
    assert {r["uploaded_by_organisation"] for r in listed["data"]} == {"Example Analytics Ltd"}
    csv = client.get("/v1/forecasts", params={"format": "csv", "provider": "Example Analytics"})
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("provider,product,year")


def test_bad_rows_are_reported_with_line_and_field_and_nothing_is_stored(client):
    bad = GOOD.replace(b"2027,42000", b"2027,lots", 1)
    answer = client.post("/v1/forecasts", content=bad, headers=_key("Example Analytics Ltd", Role.ANALYST))
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "forecast_rejected"
    assert any(d["line"] == 2 and d["field"] == "revenue_gbp_per_mw_year" for d in body["details"])
    assert client.get("/v1/forecasts").json()["total"] == 0


def test_only_the_uploading_organisation_replaces_or_deletes_a_forecast(client):
    owner = _key("Example Analytics Ltd", Role.ANALYST)
    assert client.post("/v1/forecasts", content=GOOD, headers=owner).status_code == 201
    rival = _key("Rival Insights", Role.INVESTOR)
    assert client.post("/v1/forecasts", content=GOOD, headers=rival).status_code == 403
    assert client.delete("/v1/forecasts/Example Analytics", headers=rival).status_code == 403
    replaced = client.post("/v1/forecasts", content=GOOD, headers=owner)
    assert replaced.json()["replaced_rows"] == 2
    assert client.delete("/v1/forecasts/Example Analytics", headers=owner).json() == {"removed_rows": 2}
    assert client.get("/v1/forecasts").json()["total"] == 0


def test_anonymous_and_system_operators_cannot_upload(client):
    assert client.post("/v1/forecasts", content=GOOD).status_code == 401
    so = _key("UK Power Networks", Role.SYSTEM_OPERATOR)
    assert client.post("/v1/forecasts", content=GOOD, headers=so).status_code == 403
