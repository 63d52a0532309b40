"""Notices to organisations: one in-app inbox entry per (thing, organisation) plus one email to the
organisation's active users, exactly once.

Two tables hold notices: ``ConflictNotice`` (market conflicts, keyed by the warehouse's conflict id)
and ``Notice`` (rule breaches on arrival, prequalification steps; keyed by topic and topic key). Both
carry a unique constraint on (what, organisation): a notice is inserted with "on conflict do nothing"
and only the run that inserted it emails it, so a job that runs twice or concurrently never tells a
party twice. An email the SMTP server refused is retried once per later run (``retry_refused``); a
notice for an organisation without active users stays in its inbox only.

``inbox`` lists an organisation's notices of every kind, newest first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from sfe.registry import db, mail
from sfe.registry.access import NotFound, Principal, Role
from sfe.registry.models import Organisation, User
from sfe.registry.models_conflicts import ConflictNotice
from sfe.registry.models_notices import Notice

log = logging.getLogger(__name__)

CONFLICT, RULE_BREACH, PREQUALIFICATION = "conflict", "rule_breach", "prequalification"
TOPICS = {CONFLICT: "Market conflict", RULE_BREACH: "Rule breach", PREQUALIFICATION: "Prequalification"}
NoticeModel = type[ConflictNotice] | type[Notice]
_MODELS: dict[str, NoticeModel] = {CONFLICT: ConflictNotice, RULE_BREACH: Notice, PREQUALIFICATION: Notice}
_PENDING = "sfe_notices_to_email"  # Session.info key: notices to email once the session commits
_LISTENING = "sfe_notices_listening"


def _insert(s: Session, model: type):
    """An INSERT for the registry's database that can skip rows violating a unique constraint."""
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - the registry runs on SQLite or PostgreSQL
        raise RuntimeError(f"unsupported registry database {dialect!r}")
    return insert(model)


def insert_once(s: Session, model: type, values: dict, unique: list[str]) -> int | None:
    """Insert a row unless one with the same ``unique`` columns exists (a notice its organisation
    already has, an activity already judged); the new row's id, or None."""
    stmt = (
        _insert(s, model).values(**values).on_conflict_do_nothing(index_elements=unique).returning(model.id)
    )
    return s.execute(stmt).scalar_one_or_none()


def insert_many_once(s: Session, model: type, rows: list[dict], unique: list[str]) -> None:
    """``insert_once`` for many rows in one statement, when the caller needs no ids."""
    if rows:
        s.execute(_insert(s, model).on_conflict_do_nothing(index_elements=unique), rows)


def post(
    s: Session,
    topic: str,
    topic_key: str,
    organisation_id: int,
    reasons: Iterable[str],
    severity: str,
    subject: str,
    body: str,
) -> int | None:
    """Put a notice in the organisation's inbox unless it already has this one; the new id or None.
    The caller emails new notices after its transaction commits (``email_after_commit``)."""
    if topic not in TOPICS or topic == CONFLICT:
        raise ValueError(
            f"notice topic {topic!r} is not one of {', '.join(t for t in TOPICS if t != CONFLICT)}"
        )
    return insert_once(
        s,
        Notice,
        {
            "topic": topic,
            "topic_key": topic_key,
            "organisation_id": organisation_id,
            "reason": ",".join(sorted(set(reasons))),
            "severity": severity,
            "subject": subject[:300],
            "body": body,
            "channels": "inbox,email",
            "sent_at": datetime.now(UTC),
        },
        ["topic", "topic_key", "organisation_id"],
    )


def email_after_commit(s: Session, notice_ids: Iterable[int]) -> None:
    """Email these new ``Notice`` rows once ``s`` commits (never when it rolls back), so a mail
    never announces something the registry did not keep."""
    if not s.info.get(_LISTENING):
        s.info[_LISTENING] = True
        event.listen(s, "after_commit", _email_pending)
    s.info.setdefault(_PENDING, []).extend(notice_ids)


def _email_pending(session: Session) -> None:
    # after_commit also fires when a savepoint (begin_nested) is released: wait for the real commit.
    if session.in_nested_transaction():
        return
    ids = session.info.pop(_PENDING, [])
    if ids:
        deliver(Notice, ids)


def deliver(model: NoticeModel, notice_ids: Iterable[int]) -> int:
    """Email each notice to its organisation's active users and record the outcome; how many went."""
    return sum(_send(model, notice_id) for notice_id in notice_ids)


def _send(model: NoticeModel, notice_id: int) -> bool:
    with db.session() as s:
        notice = s.get(model, notice_id)
        recipients = list(
            s.scalars(
                select(User.email)
                .where(User.organisation_id == notice.organisation_id, User.status == "active")
                .order_by(User.email)
            )
        )
        subject, body = notice.subject, notice.body
    if not recipients:
        values = {"email_error": "no active user to email (the notice is in the inbox)"}
        sent = False
    else:
        to = ", ".join(recipients)
        try:
            mail.send(to, subject, body)
        except mail.MailError as exc:
            log.warning("%s %s: %s", model.__tablename__, notice_id, exc)
            values = {"email_error": str(exc), "email_to": to}
            sent = False
        else:
            values = {"emailed_at": datetime.now(UTC), "email_to": to, "email_error": None}
            sent = True
    with db.session() as s:
        s.execute(update(model).where(model.id == notice_id).values(**values))
    return sent


def claim_refused(model: NoticeModel) -> list[int]:
    """Notices whose email the SMTP server refused last time, claimed for this run (one run each)."""
    claimed = []
    with db.session() as s:
        candidates = list(
            s.scalars(
                select(model.id).where(
                    model.emailed_at.is_(None),
                    model.email_error.is_not(None),
                    model.email_to.is_not(None),  # SMTP refused; "no active user" is not retried
                )
            )
        )
        for notice_id in candidates:
            taken = s.execute(
                update(model)
                .where(model.id == notice_id, model.email_error.is_not(None))
                .values(email_error=None)
            ).rowcount
            if taken:
                claimed.append(notice_id)
    return claimed


def system_operator_organisations(s: Session, operator_id: str | None) -> list[int]:
    """The organisations acting for a system operator (taxonomy operator id)."""
    if not operator_id:
        return []
    return list(
        s.scalars(
            select(Organisation.id)
            .where(Organisation.kind == Role.SYSTEM_OPERATOR.value, Organisation.operator_id == operator_id)
            .order_by(Organisation.id)
        )
    )


# -- the organisation's inbox ---------------------------------------------------------------------
@dataclass(frozen=True)
class InboxItem:
    topic: str
    notice_id: int
    about: str  # what the notice is about: the conflict id, or the topic key ("breach-12")
    sent_at: datetime
    severity: str
    subject: str
    body: str
    reason: str
    read_at: datetime | None
    emailed_at: datetime | None
    email_to: str | None
    email_error: str | None

    @property
    def topic_label(self) -> str:
        return TOPICS[self.topic]


def _item(topic: str, n: ConflictNotice | Notice) -> InboxItem:
    return InboxItem(
        topic,
        n.id,
        n.conflict_id if isinstance(n, ConflictNotice) else n.topic_key,
        n.sent_at,
        n.severity,
        n.subject,
        n.body,
        n.reason,
        n.read_at,
        n.emailed_at,
        n.email_to,
        n.email_error,
    )


def inbox(principal: Principal, limit: int = 200) -> list[InboxItem]:
    """The newest notices of every kind to the principal's organisation."""
    with db.session() as s:
        conflict_notices = s.scalars(
            select(ConflictNotice)
            .where(ConflictNotice.organisation_id == principal.organisation_id)
            .order_by(ConflictNotice.sent_at.desc(), ConflictNotice.id.desc())
            .limit(limit)
        )
        items = [_item(CONFLICT, n) for n in conflict_notices]
        others = s.scalars(
            select(Notice)
            .where(Notice.organisation_id == principal.organisation_id)
            .order_by(Notice.sent_at.desc(), Notice.id.desc())
            .limit(limit)
        )
        items += [_item(n.topic, n) for n in others]
    items.sort(key=lambda i: (i.sent_at, i.notice_id), reverse=True)
    return items[:limit]


def mark_read(principal: Principal, topic: str, notice_id: int) -> None:
    """Mark one of the organisation's notices read (another organisation's notice is not found)."""
    model = _MODELS.get(topic)
    with db.session() as s:
        notice = s.get(model, notice_id) if model is not None else None
        if (
            notice is None
            or notice.organisation_id != principal.organisation_id
            or (model is Notice and notice.topic != topic)
        ):
            raise NotFound(f"No notice {notice_id} in your inbox.")
        if notice.read_at is None:
            notice.read_at = datetime.now(UTC)
            notice.read_by_id = principal.user_id
