"""Test helpers for the registry: organisations, active users and their Principals, made directly
with the models (the sign-up flow has its own tests), plus valid asset inputs."""

from __future__ import annotations

import itertools

from sfe.registry import db
from sfe.registry.access import Principal, Role
from sfe.registry.assets import mpan_check_digit
from sfe.registry.models import Organisation, User

_serial = itertools.count(1)


def make_principal(
    org_name: str, role: Role | str, *, operator_id: str | None = None, kind: str | None = None
) -> Principal:
    """An active user of ``org_name`` (created if absent) with ``role``, as a Principal."""
    role = Role(role)
    key = " ".join(org_name.lower().split())
    n = next(_serial)
    with db.session() as s:
        org = s.query(Organisation).filter_by(name_key=key).one_or_none()
        if org is None:
            org = Organisation(name=org_name, name_key=key, kind=kind or role.value, operator_id=operator_id)
            s.add(org)
            s.flush()
        email = f"user{n}@{key.replace(' ', '-')}.example"
        user = User(
            email=email,
            display_name=f"User {n}",
            password_hash="not-a-real-hash",
            role=role.value,
            organisation_id=org.id,
            status="active",
        )
        s.add(user)
        s.flush()
        return Principal(
            user_id=user.id,
            email=email,
            display_name=user.display_name,
            role=role,
            organisation_id=org.id,
            organisation_name=org.name,
            operator_id=org.operator_id,
        )


def mpan(distributor: str, serial: int) -> str:
    """A valid 13-digit MPAN core for a distributor id ('10'..'23')."""
    first12 = f"{distributor}{serial:010d}"
    return first12 + str(mpan_check_digit(first12))


def asset_row(i: int, **overrides) -> dict:
    """A valid battery in Eastern (EPN), distinct per ``i`` (own MPAN, place and size)."""
    row = {
        "asset_name": f"Battery {i}",
        "asset_type": "battery",
        "capacity_mw": 1.0 + i,
        "energy_mwh": 2.0 + 2 * i,
        "postcode": "CB6 9EN",
        "latitude": 52.0 + 0.01 * i,
        "longitude": 0.1,
        "mpan": mpan("10", 1000 + i),
        "flexibility_zone": "Aldreth",
    }
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not None}
