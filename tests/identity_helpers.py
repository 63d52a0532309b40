"""Test helpers for accounts: cheap password hashing and signed-in sessions."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher

from sfe.registry import db, identity, passwords
from sfe.registry.access import Principal


def fast_password_hashing(monkeypatch) -> None:
    """Argon2id with minimal cost (the real parameters take ~0.2 s a hash; tests make hundreds).
    Only for tests: production parameters are fixed in sfe.registry.passwords and covered by
    tests/test_registry_identity.py::test_hashes_are_argon2id_and_mismatches_fail."""
    monkeypatch.setattr(passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    # A dummy hash of its own, made with the test hasher; the original cache is back after the test.
    monkeypatch.setattr(passwords, "_dummy_hash", functools.cache(passwords._dummy_hash.__wrapped__))


def session_token(principal: Principal) -> str:
    """A live login session for ``principal`` (as if they had signed in)."""
    with db.session() as s:
        return identity.create_session(s, principal.user_id)
