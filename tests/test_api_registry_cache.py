"""Verified API keys (and an organisation's asset ids) are reused only while the registry is unchanged:
a revocation or suspension committed by any connection, in this process or another, fails the
next request."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sfe.api import registry_cache, scoping, security
from sfe.api.registry_cache import RegistryCache
from sfe.registry import api_keys, db
from sfe.registry import assets as registry_assets
from sfe.registry.access import Principal, Role

from .identity_helpers import fast_password_hashing
from .registry_helpers import asset_row, make_principal


@pytest.fixture
def registry(lake_paths, monkeypatch):
    fast_password_hashing(monkeypatch)
    db.dispose_all()
    yield lake_paths
    db.dispose_all()


@pytest.fixture
def verifications(monkeypatch) -> list[str]:
    """Every key the registry is asked to verify (the real check runs)."""
    asked: list[str] = []
    real = api_keys.authenticate

    def counting(key):
        asked.append(key)
        return real(key)

    monkeypatch.setattr(api_keys, "authenticate", counting)
    return asked


@pytest.fixture
def client(registry) -> TestClient:
    app = FastAPI()
    security.install(app)

    @app.get("/me")
    def me(p: security.CurrentPrincipal) -> dict:
        return {"user_id": p.user_id}

    return TestClient(app)


def _key_header(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_a_verified_key_is_reused_until_another_process_revokes_it(client, registry, verifications):
    fsp = make_principal("Acme Flex", Role.FSP)
    info, key = api_keys.create_key(fsp, "EMS sync")
    for _ in range(4):
        assert client.get("/me", headers=_key_header(key)).json() == {"user_id": fsp.user_id}
    # The first verification records the key's first use (a registry commit), so the second request
    # verifies again; after that the registry is unchanged and the answer is reused.
    assert verifications == [key, key]

    # Another process (the Account page of the app, say) revokes the key with a plain SQL commit.
    revoke = (
        "import sqlite3, sys; con = sqlite3.connect(sys.argv[1]); "
        "con.execute('UPDATE api_keys SET revoked_at = ? WHERE id = ?', (sys.argv[2], int(sys.argv[3]))); "
        "con.commit()"
    )
    registry_file = str(registry.registry_db)
    stamp = datetime.now(UTC).isoformat(sep=" ")
    subprocess.run([sys.executable, "-c", revoke, registry_file, stamp, str(info.key_id)], check=True)
    response = client.get("/me", headers=_key_header(key))
    assert response.status_code == 401 and response.json()["error"] == "invalid_api_key"
    assert len(verifications) == 3


def test_any_registry_commit_makes_verified_keys_be_checked_again(client, verifications):
    fsp = make_principal("Acme Flex", Role.FSP)
    _, key = api_keys.create_key(fsp, "EMS sync")
    for _ in range(3):  # verified, verified after recording its first use, reused
        client.get("/me", headers=_key_header(key))
    api_keys.create_key(fsp, "another system")  # an unrelated commit, through this process's pool
    client.get("/me", headers=_key_header(key))
    client.get("/me", headers=_key_header(key))
    assert verifications == [key] * 3


def test_unknown_keys_are_never_kept(client, verifications):
    bad = "sfe_" + "x" * 43
    for _ in range(2):
        assert client.get("/me", headers=_key_header(bad)).json()["error"] == "invalid_api_key"
    assert verifications == [bad, bad]


def test_entries_expire_so_a_key_in_use_still_records_its_last_use(registry):
    db.engine()  # creates the registry file
    now = [0.0]
    cache = RegistryCache(max_age_s=60, clock=lambda: now[0])
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return len(computed)

    assert cache.get("k", compute) == 1
    now[0] = 59.9
    assert cache.get("k", compute) == 1
    now[0] = 60.0
    assert cache.get("k", compute) == 2


def test_a_registry_replaced_by_a_new_file_is_a_change(registry):
    cache = RegistryCache()
    db.engine()  # creates the registry file
    values = iter(("first file", "second file"))
    assert cache.get("k", lambda: next(values)) == "first file"
    db.dispose_all()
    registry.registry_db.unlink()
    sqlite3.connect(registry.registry_db).close()  # a new, empty file at the same path
    assert cache.get("k", lambda: next(values)) == "second file"


def test_no_cache_without_an_exact_change_signal(monkeypatch, registry):
    monkeypatch.setenv("SFE_REGISTRY_URL", "postgresql://sfe@registry.invalid/sfe")
    assert registry_cache.registry_version() is None  # and nothing connects to the database
    monkeypatch.setenv("SFE_REGISTRY_URL", "sqlite://")
    assert registry_cache.registry_version() is None  # in-memory: each connection its own database
    cache = RegistryCache()
    calls = [cache.get("k", lambda: object()) for _ in range(2)]
    assert calls[0] is not calls[1]


def test_a_new_registration_counts_at_once_for_row_scoping(registry, monkeypatch):
    fsp: Principal = make_principal("Acme Flex", Role.FSP)
    reads: list[int] = []
    real = registry_assets.list_assets

    def counting(*args, **kwargs):
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(registry_assets, "list_assets", counting)
    assert scoping.registered_asset_ids(fsp) == ()
    assert scoping.registered_asset_ids(fsp) == ()
    assert len(reads) == 1  # the second request reused the answer
    with db.session() as s:
        record = registry_assets.register_asset(s, fsp, asset_row(1))
    assert scoping.registered_asset_ids(fsp) == (record.registry_asset_id,)
    assert len(reads) == 2
