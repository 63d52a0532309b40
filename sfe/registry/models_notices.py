"""The organisation inbox beyond market conflicts: rule breaches on arrival and prequalification steps.

A ``Notice`` is one organisation told about one thing (``topic`` + ``topic_key``), in the app and by
email to its active users. The unique (topic, topic_key, organisation) constraint makes "told exactly
once" a property of the database, as for conflict notices (``models_conflicts.ConflictNotice``, kept
in their own table because conflicts are identified by the warehouse); ``sfe.notices`` posts,
emails and lists both kinds through one set of functions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sfe.registry.models import Base, utcnow


class Notice(Base):
    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("topic", "topic_key", "organisation_id", name="uq_notices_party"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))  # sfe.notices.TOPICS
    topic_key: Mapped[str] = mapped_column(String(128))  # e.g. "breach-12", "application-7:submitted"
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    reason: Mapped[str] = mapped_column(String(100))  # why this organisation is told (comma-separated)
    severity: Mapped[str] = mapped_column(String(8))  # high | medium | low | info
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
