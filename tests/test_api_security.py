"""API keys and the API's security dependencies, on a small FastAPI app that uses them like the
real routes do (real registry, real HTTP through TestClient)."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from sfe.api import security
from sfe.registry import api_keys, db, identity
from sfe.registry.access import NotFound, Principal, Role
from sfe.registry.models import ApiKey

from .identity_helpers import fast_password_hashing, session_token
from .registry_helpers import make_principal


@pytest.fixture
def registry(lake_paths, monkeypatch):
    fast_password_hashing(monkeypatch)
    db.dispose_all()
    yield lake_paths
    db.dispose_all()


@pytest.fixture
def client(registry) -> TestClient:
    app = FastAPI()
    security.install(app)

    def describe(p: Principal | None) -> dict:
        return {"user_id": p.user_id, "role": p.role.value, "organisation_id": p.organisation_id} if p else {}

    @app.get("/public")
    def public(p: security.OptionalPrincipal) -> dict:
        return {"anonymous": p is None, **describe(p)}

    @app.get("/me")
    def me(p: security.CurrentPrincipal) -> dict:
        return describe(p)

    @app.get("/assets", responses=security.AUTH_RESPONSES)
    def fsp_only(p: Annotated[Principal, Depends(security.require_roles(Role.FSP))]) -> dict:
        return describe(p)

    return TestClient(app)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_keys_authenticate_by_bearer_or_header_and_act_as_their_user(client):
    fsp = make_principal("Acme Flex", Role.FSP)
    info, key = api_keys.create_key(fsp, "EMS sync")
    assert key.startswith("sfe_") and len(key) > 40 and info.prefix == key[:12]
    expected = {"user_id": fsp.user_id, "role": "fsp", "organisation_id": fsp.organisation_id}
    assert client.get("/me", headers=bearer(key)).json() == expected
    assert client.get("/me", headers={"X-API-Key": key}).json() == expected
    assert client.get("/assets", headers={"X-API-Key": key}).json() == expected
    assert client.get("/public", headers=bearer(key)).json() == {"anonymous": False, **expected}
    assert client.get("/public").json() == {"anonymous": True}
    with db.session() as s:  # only the hash is stored, and the use is recorded
        row = s.scalar(select(ApiKey))
        assert row.key_hash != key and key not in row.key_hash and row.last_used_at is not None


@pytest.mark.parametrize("where", ["bearer", "header"])
def test_invalid_and_revoked_keys_answer_401_json(client, where):
    fsp = make_principal("Acme Flex", Role.FSP)
    info, key = api_keys.create_key(fsp, "EMS sync")
    api_keys.revoke_key(fsp, info.key_id)
    for credential in (key, "sfe_" + "x" * 43):
        headers = bearer(credential) if where == "bearer" else {"X-API-Key": credential}
        for path in ("/public", "/me", "/assets"):  # bad credentials are never taken as anonymous
            response = client.get(path, headers=headers)
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/json"
            assert response.headers["www-authenticate"] == 'Bearer realm="sfe"'
            body = response.json()
            assert body["error"] == "invalid_api_key" and "Account page" in body["message"]


def test_missing_or_malformed_credentials(client):
    response = client.get("/me")
    assert response.status_code == 401 and response.json()["error"] == "authentication_required"
    response = client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_authorization"
    fsp = make_principal("Acme Flex", Role.FSP)
    _, key = api_keys.create_key(fsp, "one")
    _, other = api_keys.create_key(fsp, "two")
    response = client.get("/me", headers={**bearer(key), "X-API-Key": other})
    assert response.status_code == 401 and response.json()["error"] == "invalid_authorization"


def test_roles_are_checked_and_admins_pass(client):
    _, investor_key = api_keys.create_key(make_principal("Capital", Role.INVESTOR), "k")
    response = client.get("/assets", headers=bearer(investor_key))
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "message": "This route is for Flexibility provider / aggregator accounts; yours is Investor.",
    }
    assert "www-authenticate" not in response.headers
    _, admin_key = api_keys.create_key(make_principal("SFE administration", Role.ADMIN), "k")
    assert client.get("/assets", headers=bearer(admin_key)).status_code == 200


def test_login_session_tokens_work_as_bearer_until_logout(client):
    analyst = make_principal("Analytics Ltd", Role.ANALYST)
    token = session_token(analyst)
    assert client.get("/me", headers=bearer(token)).json()["user_id"] == analyst.user_id
    identity.logout(token)
    response = client.get("/me", headers=bearer(token))
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_keys_stop_working_when_the_account_is_disabled(client):
    admin = make_principal("SFE administration", Role.ADMIN)
    fsp = make_principal("Acme Flex", Role.FSP)
    _, key = api_keys.create_key(fsp, "EMS sync")
    assert client.get("/me", headers=bearer(key)).status_code == 200
    identity.disable_user(admin, fsp.user_id)
    assert client.get("/me", headers=bearer(key)).json()["error"] == "invalid_api_key"


def test_users_list_and_revoke_only_their_own_keys(registry):
    alice = make_principal("Acme Flex", Role.FSP)
    bob = make_principal("Second Flex", Role.FSP)
    first, _ = api_keys.create_key(alice, "first")
    api_keys.create_key(alice, "second")
    bobs, _ = api_keys.create_key(bob, "bob's")
    assert [k.name for k in api_keys.list_keys(alice)] == ["second", "first"]
    with pytest.raises(NotFound):
        api_keys.revoke_key(alice, bobs.key_id)
    assert api_keys.list_keys(bob)[0].active
    api_keys.revoke_key(alice, first.key_id)
    assert [k.name for k in api_keys.list_keys(alice, include_revoked=False)] == ["second"]
    with pytest.raises(ValueError, match="name"):
        api_keys.create_key(alice, "   ")
    assert api_keys.authenticate(None) is None and api_keys.authenticate("not-a-key") is None


def test_the_security_schemes_are_in_openapi(client):
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-API-Key"
    assert {"bearer": []} in spec["paths"]["/assets"]["get"]["security"]
    assert set(spec["paths"]["/assets"]["get"]["responses"]) >= {"200", "401", "403"}
