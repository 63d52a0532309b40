"""Registry tables of market-conflict notices and their handling (UC11).

A conflict is identified by the warehouse's stable ``conflict_id`` (mart_market_conflicts). Each
involved organisation gets one ``ConflictNotice``: the unique constraint on (conflict, organisation)
makes "notified exactly once" a property of the database, so a notification job that runs twice or
concurrently cannot notify a party again. The notice is also the organisation's in-app inbox entry.
``ConflictStatusChange`` keeps every acknowledge/resolve with who did it and why (the latest row is the
conflict's current state; no row means open).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sfe.registry.models import Base, utcnow


class ConflictNotice(Base):
    """One involved organisation told about one conflict (in-app inbox entry and email)."""

    __tablename__ = "conflict_notices"
    __table_args__ = (UniqueConstraint("conflict_id", "organisation_id", name="uq_conflict_notices_party"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conflict_id: Mapped[str] = mapped_column(String(64), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # Why this organisation is a party: system_operator | asset_owner | group_owner (comma-separated).
    reason: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    channels: Mapped[str] = mapped_column(String(32), default="inbox,email")
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    emailed_at: Mapped[datetime | None]
    email_to: Mapped[str | None] = mapped_column(Text)
    # Why the email did not go out (SMTP refused it, no active user); a later run retries refused ones.
    email_error: Mapped[str | None] = mapped_column(Text)
    read_at: Mapped[datetime | None]
    read_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ConflictStatusChange(Base):
    """A conflict acknowledged or resolved by a party (history: every change is a new row)."""

    __tablename__ = "conflict_status_changes"
    __table_args__ = (Index("ix_conflict_status_changes_conflict_at", "conflict_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conflict_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # acknowledged | resolved
    note: Mapped[str | None] = mapped_column(Text)
    by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
