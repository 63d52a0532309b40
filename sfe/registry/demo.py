"""Demo accounts: one active account per role with a known password, so the demo can be explored.

Idempotent: an account whose email exists already is left as it is (its password is not reset).
Never run this on a registry real people use: the passwords are printed and documented.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from sfe.registry import audit, db, identity, passwords
from sfe.registry.access import Role
from sfe.registry.models import Organisation, User

DEMO_PASSWORD = "flexible-demo-2025"


@dataclass(frozen=True)
class DemoAccount:
    role: Role
    email: str
    display_name: str
    organisation: str
    operator_id: str | None = None
    password: str = DEMO_PASSWORD
    created: bool = False  # False: it existed already (its password may have been changed)


DEMO_ACCOUNTS = (
    DemoAccount(Role.FSP, "fsp@sfe.example", "Dana Flex", "Demo Flex Ltd"),
    DemoAccount(Role.FSP, "fsp2@sfe.example", "Sam Second", "Second Flex Ltd"),
    DemoAccount(Role.INVESTOR, "investor@sfe.example", "Ivy Investor", "Demo Capital Partners"),
    DemoAccount(Role.SYSTEM_OPERATOR, "so@sfe.example", "Uma Operator", "UK Power Networks", "ukpn"),
    DemoAccount(Role.ANALYST, "analyst@sfe.example", "Ada Analyst", "Demo Analytics"),
    DemoAccount(Role.ADMIN, "admin@sfe.example", "Alex Admin", identity.ADMIN_ORGANISATION),
)


def seed_demo_accounts() -> list[DemoAccount]:
    """Create the demo accounts that are missing; returns all of them (``created`` tells which)."""
    result: list[DemoAccount] = []
    admin = next(a for a in DEMO_ACCOUNTS if a.role == Role.ADMIN)
    with db.session() as s:
        admin_id = s.scalar(select(User.id).where(User.email == admin.email))
    admin_created = admin_id is None
    if admin_created:
        admin_id = identity.create_admin(admin.email, admin.password, admin.display_name)
    for account in DEMO_ACCOUNTS:
        if account.role == Role.ADMIN:
            result.append(_with_created(account, admin_created))
            continue
        passwords.validate(account.password, email=account.email, display_name=account.display_name)
        with db.session() as s:
            if s.scalar(select(User.id).where(User.email == account.email)) is not None:
                result.append(account)
                continue
        password_hash = passwords.hash_password(account.password)  # outside the write transaction
        with db.session() as s:
            key = identity.organisation_key(account.organisation)
            org = s.scalar(select(Organisation).where(Organisation.name_key == key))
            if org is None:
                org = Organisation(
                    name=account.organisation,
                    name_key=key,
                    kind=account.role.value,
                    operator_id=account.operator_id,
                )
                s.add(org)
                s.flush()
            at = identity.now()
            user = User(
                email=account.email,
                display_name=account.display_name,
                password_hash=password_hash,
                role=account.role.value,
                organisation_id=org.id,
                status=identity.ACTIVE,
                email_confirmed_at=at,
            )
            if account.role == Role.SYSTEM_OPERATOR:
                user.verified_at, user.verified_by_id = at, admin_id
            s.add(user)
            s.flush()
            audit.record(s, None, "demo.account_seeded", "user", user.id, role=account.role.value)
        result.append(_with_created(account, True))
    return result


def _with_created(account: DemoAccount, created: bool) -> DemoAccount:
    return DemoAccount(**{**account.__dict__, "created": created})
