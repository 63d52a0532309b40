"""API keys: a user's systems call the API as that user (same role, same organisation).

A key is ``sfe_`` + 43 random URL-safe characters, shown once at creation; the registry keeps its
SHA-256 and its first characters (to recognise it in lists). Authentication looks the hash up by
index, so no comparison of secret material happens in Python and the time does not depend on how
much of a guess was right. A key stops working when revoked or when its user is no longer active.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from sfe.registry import audit, db, identity
from sfe.registry.access import NotFound, Principal, Role
from sfe.registry.models import ApiKey, Organisation, User

KEY_PREFIX = "sfe_"
PREFIX_SHOWN = 12  # "sfe_" and 8 random characters
MAX_ACTIVE_KEYS = 20
# last_used_at is written at most this often (not on every request).
USE_TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(row.id, row.name, row.prefix, row.created_at, row.last_used_at, row.revoked_at)


def create_key(principal: Principal, name: str) -> tuple[ApiKeyInfo, str]:
    """A new key for the principal; returns its description and the key itself (shown only now)."""
    label = " ".join((name or "").split())
    if not 1 <= len(label) <= 100:
        raise ValueError("Give the key a name of 1 to 100 characters (e.g. the system that will use it).")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.session() as s:
        active = s.scalars(
            select(ApiKey.id).where(ApiKey.user_id == principal.user_id, ApiKey.revoked_at.is_(None))
        ).all()
        if len(active) >= MAX_ACTIVE_KEYS:
            raise ValueError(f"You have {MAX_ACTIVE_KEYS} active keys already; revoke one you no longer use.")
        row = ApiKey(
            user_id=principal.user_id,
            name=label,
            prefix=key[:PREFIX_SHOWN],
            key_hash=_hash(key),
            created_at=datetime.now(UTC),
        )
        s.add(row)
        s.flush()
        audit.record(s, principal, "api_key.created", "api_key", row.id, name=label, prefix=row.prefix)
        return _info(row), key


def list_keys(principal: Principal, include_revoked: bool = True) -> list[ApiKeyInfo]:
    """The principal's own keys, newest first."""
    with db.session() as s:
        stmt = select(ApiKey).where(ApiKey.user_id == principal.user_id)
        if not include_revoked:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        return [_info(r) for r in s.scalars(stmt.order_by(ApiKey.created_at.desc(), ApiKey.id.desc()))]


def revoke_key(principal: Principal, key_id: int) -> None:
    """Revoke one of the principal's keys (admins: anyone's). Other users' keys are 'not found'."""
    with db.session() as s:
        row = s.get(ApiKey, key_id)
        if row is None or (row.user_id != principal.user_id and principal.role != Role.ADMIN):
            raise NotFound(f"No API key with id {key_id}.")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            audit.record(s, principal, "api_key.revoked", "api_key", row.id, owner_user_id=row.user_id)


def authenticate(key: str | None) -> Principal | None:
    """The principal a key acts for; None when unknown, revoked, or its user is not active."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    with db.session() as s:
        row = s.execute(
            select(ApiKey, User, Organisation)
            .join(User, User.id == ApiKey.user_id)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(ApiKey.key_hash == _hash(key))
        ).first()
        if row is None:
            return None
        api_key, user, org = row
        if api_key.revoked_at is not None or user.status != identity.ACTIVE:
            return None
        at = datetime.now(UTC)
        if api_key.last_used_at is None or at - api_key.last_used_at >= USE_TOUCH_INTERVAL:
            api_key.last_used_at = at
        return identity.principal_of(user, org)
