"""The audit trail: one ``AuditEvent`` per change, in the same transaction as the change itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sfe.registry.access import Principal
from sfe.registry.models import AuditEvent


def record(
    s: Session,
    actor: Principal | int | None,
    action: str,
    entity_type: str,
    entity_id: object | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the session's transaction (committed or rolled back with the change)."""
    actor_id = actor.user_id if isinstance(actor, Principal) else actor
    event = AuditEvent(
        actor_user_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        details={k: v for k, v in details.items() if v is not None},
    )
    s.add(event)
    return event


def history(s: Session, entity_type: str, entity_id: object) -> list[AuditEvent]:
    """Every event about one entity, oldest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id))
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return list(s.scalars(stmt))
