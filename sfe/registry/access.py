"""Who is acting (``Principal``) and the role vocabulary. Every service function takes a Principal
and checks it; pages and API routes only decide how to present a refusal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    FSP = "fsp"  # flexibility service provider / aggregator
    INVESTOR = "investor"
    SYSTEM_OPERATOR = "system_operator"
    ANALYST = "analyst"
    ADMIN = "admin"


ROLE_LABELS = {
    Role.FSP: "Flexibility provider / aggregator",
    Role.INVESTOR: "Investor",
    Role.SYSTEM_OPERATOR: "System operator",
    Role.ANALYST: "Analyst",
    Role.ADMIN: "SFE administrator",
}
# Roles a person may choose when signing up (admins are created with `sfe admin create`).
SELF_SERVICE_ROLES = (Role.FSP, Role.INVESTOR, Role.SYSTEM_OPERATOR, Role.ANALYST)


class AccessDenied(PermissionError):
    """The principal may not do this. The message is safe to show to that principal."""


class NotFound(LookupError):
    """No such entity *visible to this principal* (other organisations' entities are not revealed)."""


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    display_name: str
    role: Role
    organisation_id: int
    organisation_name: str
    operator_id: str | None = None  # system operators: the taxonomy operator they act for

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def require(self, *roles: Role, action: str = "do this") -> None:
        """Raise AccessDenied unless the principal has one of ``roles`` (admins always pass)."""
        if self.role in roles or self.is_admin:
            return
        allowed = ", ".join(ROLE_LABELS[r] for r in roles)
        raise AccessDenied(f"Only {allowed} accounts can {action}.")
