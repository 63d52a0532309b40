"""Market conflicts (UC11) as work: who is involved, notices to them, and acknowledge / resolve.

The conflicts themselves are the warehouse's (``mart_market_conflicts`` in the published DuckDB,
read through ``sfe.serving.get_db``); this module adds the registry side. The parties of a conflict
are the system-operator organisations acting for ``operator_id_a`` / ``operator_id_b``, the
organisation that registered the asset (when it is registered) and the owners of the registry groups
it belongs to. ``notify_new_conflicts`` gives every party one notice (in-app inbox and one email to
its active users); the database's unique (conflict, organisation) constraint makes that exactly once
even when the job runs twice or concurrently. A party (or an admin) acknowledges or resolves a
conflict; every change is kept with who made it and why, and audited.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sfe import queries
from sfe.registry import audit, db, mail
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.models import Asset, AssetGroup, Organisation, User
from sfe.registry.models_conflicts import ConflictNotice, ConflictStatusChange
from sfe.serving import ServingDB, get_db

log = logging.getLogger(__name__)

MART = "mart_market_conflicts"
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATES = (OPEN, ACKNOWLEDGED, RESOLVED)
MAX_NOTE = 2000
# The mart columns this module reads (the rest stay in the warehouse).
COLUMNS = (
    "conflict_id",
    "conflict_kind",
    "severity",
    "severity_rank",
    "asset_id",
    "registry_asset_id",
    "registry_group_ids",
    "registry_group_names",
    "operator_id_a",
    "product_id_a",
    "activity_type_a",
    "source_ref_a",
    "participant_id_a",
    "operator_id_b",
    "product_id_b",
    "activity_type_b",
    "source_ref_b",
    "participant_id_b",
    "overlap_start_utc",
    "overlap_end_utc",
    "overlap_minutes",
    "explanation",
    "detected_rule_name",
)


class ConflictError(ValueError):
    """A request about a conflict that cannot be done (bad note, wrong state). Safe to show."""


# -- reading the published conflicts --------------------------------------------------------------
def published_conflicts(serving: ServingDB | None = None) -> pl.DataFrame:
    """Every conflict in the published warehouse, most severe and newest first.
    Raises WarehouseNotBuilt / queries.TableNotPublished when there is nothing to read."""
    serving = serving or get_db()
    with serving.session() as s:
        queries._require(s, {MART: set(COLUMNS)})
        select_list = ", ".join(COLUMNS)
        return s.query(
            f"SELECT {select_list} FROM {MART} "  # noqa: S608  (constant identifiers, no user values)
            "ORDER BY severity_rank DESC, overlap_start_utc DESC, conflict_id"
        )


def _group_ids(text: str | None) -> list[int]:
    ids = []
    for part in (text or "").split(","):
        part = part.strip()
        if part.isdigit():
            ids.append(int(part))
    return ids


@dataclass
class _PartyIndex:
    """The registry's answer to "which organisation is that?" for operators, assets and groups."""

    by_operator: dict[str, set[int]] = field(default_factory=dict)
    by_registry_asset: dict[str, int] = field(default_factory=dict)
    by_group: dict[int, int] = field(default_factory=dict)

    @classmethod
    def load(cls, s: Session) -> _PartyIndex:
        index = cls()
        operators = s.execute(
            select(Organisation.id, Organisation.operator_id).where(
                Organisation.kind == Role.SYSTEM_OPERATOR.value, Organisation.operator_id.is_not(None)
            )
        )
        for org_id, operator_id in operators:
            index.by_operator.setdefault(operator_id, set()).add(org_id)
        assets = s.execute(
            select(Asset.registry_asset_id, Asset.organisation_id).where(Asset.registry_asset_id.is_not(None))
        )
        index.by_registry_asset = {ref: org for ref, org in assets}
        index.by_group = {g: org for g, org in s.execute(select(AssetGroup.id, AssetGroup.organisation_id))}
        return index

    def parties(self, row: dict) -> dict[int, set[str]]:
        """Organisation id -> why it is involved, for one conflict row."""
        found: dict[int, set[str]] = defaultdict(set)
        for operator_id in (row["operator_id_a"], row["operator_id_b"]):
            for org_id in self.by_operator.get(operator_id, ()):
                found[org_id].add("system_operator")
        owner = self.by_registry_asset.get(row.get("registry_asset_id") or "")
        if owner is not None:
            found[owner].add("asset_owner")
        for group_id in _group_ids(row.get("registry_group_ids")):
            group_owner = self.by_group.get(group_id)
            if group_owner is not None:
                found[group_owner].add("group_owner")
        return dict(found)


def _involves(index: _PartyIndex, principal: Principal, row: dict) -> bool:
    if principal.is_admin:
        return True
    return principal.organisation_id in index.parties(row)


# -- notices ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NotifyResult:
    conflicts: int  # conflicts in the published warehouse
    notices_created: int  # new (conflict, organisation) notices this run
    emails_sent: int
    email_failures: int
    without_party: int  # conflicts no registered organisation is party to (nobody to tell)


def _insert_ignoring_duplicates(s: Session, values: dict) -> int | None:
    """Insert a notice unless the party already has one; the new row's id, or None."""
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - the registry runs on SQLite or PostgreSQL
        raise RuntimeError(f"unsupported registry database {dialect!r}")
    stmt = (
        insert(ConflictNotice)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["conflict_id", "organisation_id"])
        .returning(ConflictNotice.id)
    )
    return s.execute(stmt).scalar_one_or_none()


def _notice_text(row: dict, reasons: set[str]) -> tuple[str, str]:
    why = {
        "system_operator": "your organisation is one of the system operators",
        "asset_owner": "your organisation registered the asset",
        "group_owner": "the asset is in one of your organisation's portfolios",
    }
    start = row["overlap_start_utc"]
    start_text = start.strftime("%Y-%m-%d %H:%M UTC") if isinstance(start, datetime) else str(start)
    asset = row.get("registry_asset_id") or row["asset_id"]
    subject = (
        f"[SFE] {row['severity'].capitalize()} market conflict {row['conflict_id']} on {asset} ({start_text})"
    )
    body = (
        f"{row['explanation']}\n\n"
        f"Severity: {row['severity']}. You are told because "
        f"{' and '.join(why[r] for r in sorted(reasons))}.\n"
        f"Review, acknowledge or resolve it: {mail.link('conflicts', conflict=row['conflict_id'])}\n"
    )
    return subject, body


def _send_notice(notice_id: int) -> bool:
    """Email one notice to its organisation's active users; record the outcome. True when sent."""
    with db.session() as s:
        notice = s.get(ConflictNotice, notice_id)
        recipients = list(
            s.scalars(
                select(User.email)
                .where(User.organisation_id == notice.organisation_id, User.status == "active")
                .order_by(User.email)
            )
        )
        subject, body = notice.subject, notice.body
    now = datetime.now(UTC)
    if not recipients:
        values = {"email_error": "no active user to email (the notice is in the inbox)"}
        sent = False
    else:
        to = ", ".join(recipients)
        try:
            mail.send(to, subject, body)
        except mail.MailError as exc:
            log.warning("conflict notice %s: %s", notice_id, exc)
            values = {"email_error": str(exc), "email_to": to}
            sent = False
        else:
            values = {"emailed_at": now, "email_to": to, "email_error": None}
            sent = True
    with db.session() as s:
        s.execute(update(ConflictNotice).where(ConflictNotice.id == notice_id).values(**values))
    return sent


def _claim_refused_emails() -> list[int]:
    """Notices whose email the SMTP server refused last time, claimed for this run (one run each)."""
    claimed = []
    with db.session() as s:
        candidates = list(
            s.scalars(
                select(ConflictNotice.id).where(
                    ConflictNotice.emailed_at.is_(None),
                    ConflictNotice.email_error.is_not(None),
                    ConflictNotice.email_to.is_not(None),  # SMTP refused; "no active user" is not retried
                )
            )
        )
        for notice_id in candidates:
            taken = s.execute(
                update(ConflictNotice)
                .where(ConflictNotice.id == notice_id, ConflictNotice.email_error.is_not(None))
                .values(email_error=None)
            ).rowcount
            if taken:
                claimed.append(notice_id)
    return claimed


def notify_new_conflicts(serving: ServingDB | None = None) -> NotifyResult:
    """Give every party of every published conflict one notice (inbox + email), exactly once.

    A run inserts the notices first (the unique constraint drops those another run already made) and
    emails only the ones it inserted, so concurrent runs never email a party twice. A notice whose
    email the SMTP server refused is retried by the next run."""
    conflicts = published_conflicts(serving)
    created: list[int] = []
    without_party = 0
    with db.session() as s:
        index = _PartyIndex.load(s)
        for row in conflicts.iter_rows(named=True):
            parties = index.parties(row)
            if not parties:
                without_party += 1
            for org_id, reasons in sorted(parties.items()):
                subject, body = _notice_text(row, reasons)
                new_id = _insert_ignoring_duplicates(
                    s,
                    {
                        "conflict_id": row["conflict_id"],
                        "organisation_id": org_id,
                        "reason": ",".join(sorted(reasons)),
                        "severity": row["severity"],
                        "subject": subject,
                        "body": body,
                        "channels": "inbox,email",
                        "sent_at": datetime.now(UTC),
                    },
                )
                if new_id is not None:
                    created.append(new_id)
                    audit.record(
                        s, None, "conflict.notified", "conflict", row["conflict_id"], organisation_id=org_id
                    )
    to_email = created + _claim_refused_emails()
    sent = sum(_send_notice(notice_id) for notice_id in to_email)
    return NotifyResult(
        conflicts=conflicts.height,
        notices_created=len(created),
        emails_sent=sent,
        email_failures=len(to_email) - sent,
        without_party=without_party,
    )


# -- what a principal sees ------------------------------------------------------------------------
def current_states(s: Session, conflict_ids: list[str] | None = None) -> dict[str, ConflictStatusChange]:
    """The latest status change of each conflict that has one (others are open)."""
    stmt = select(ConflictStatusChange).order_by(ConflictStatusChange.at, ConflictStatusChange.id)
    if conflict_ids is not None:
        stmt = stmt.where(ConflictStatusChange.conflict_id.in_(conflict_ids))
    latest: dict[str, ConflictStatusChange] = {}
    for change in s.scalars(stmt):
        latest[change.conflict_id] = change
    return latest


def visible_conflicts(principal: Principal, serving: ServingDB | None = None) -> pl.DataFrame:
    """The conflicts ``principal`` is party to (admins: all), with their state and who set it last."""
    conflicts = published_conflicts(serving)
    with db.session() as s:
        index = _PartyIndex.load(s)
        rows = [r for r in conflicts.iter_rows(named=True) if _involves(index, principal, r)]
        states = current_states(s, [r["conflict_id"] for r in rows]) if rows else {}
        users = {u: name for u, name in s.execute(select(User.id, User.display_name))} if states else {}
    for r in rows:
        change = states.get(r["conflict_id"])
        r["state"] = change.state if change else OPEN
        r["state_by"] = users.get(change.by_user_id) if change else None
        r["state_at_utc"] = change.at if change else None
        r["state_note"] = change.note if change else None
    schema = {
        **conflicts.schema,
        "state": pl.String,
        "state_by": pl.String,
        "state_at_utc": pl.Datetime("us", "UTC"),
        "state_note": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _conflict_row(serving: ServingDB | None, conflict_id: str) -> dict:
    serving = serving or get_db()
    with serving.session() as s:
        queries._require(s, {MART: set(COLUMNS)})
        found = s.query(
            f"SELECT {', '.join(COLUMNS)} FROM {MART} WHERE conflict_id = $id",  # noqa: S608
            {"id": conflict_id},
        )
    if found.is_empty():
        raise NotFound(f"No conflict {conflict_id!r} in the published warehouse.")
    return found.row(0, named=True)


def history(principal: Principal, conflict_id: str, serving: ServingDB | None = None) -> list[dict]:
    """Every acknowledge / resolve of a conflict the principal is party to, oldest first."""
    row = _conflict_row(serving, conflict_id)
    with db.session() as s:
        if not _involves(_PartyIndex.load(s), principal, row):
            raise NotFound(f"No conflict {conflict_id!r} in the published warehouse.")
        changes = s.execute(
            select(ConflictStatusChange, User.display_name, Organisation.name)
            .join(User, User.id == ConflictStatusChange.by_user_id)
            .join(Organisation, Organisation.id == ConflictStatusChange.organisation_id)
            .where(ConflictStatusChange.conflict_id == conflict_id)
            .order_by(ConflictStatusChange.at, ConflictStatusChange.id)
        )
        return [
            {"at_utc": c.at, "state": c.state, "by": name, "organisation": org, "note": c.note}
            for c, name, org in changes
        ]


def _change_state(
    principal: Principal, conflict_id: str, state: str, note: str | None, serving: ServingDB | None
) -> ConflictStatusChange:
    note = (note or "").strip() or None
    if note and len(note) > MAX_NOTE:
        raise ConflictError(f"The note is too long ({len(note)} characters; at most {MAX_NOTE}).")
    if state == RESOLVED and not note:
        raise ConflictError("Say how the conflict was resolved (a note is required).")
    row = _conflict_row(serving, conflict_id)
    with db.session() as s:
        if not _involves(_PartyIndex.load(s), principal, row):
            # Parties only; others learn nothing about the conflict.
            raise AccessDenied(
                "Only the organisations involved in this conflict (or an administrator) can do this."
            )
        previous = current_states(s, [conflict_id]).get(conflict_id)
        current = previous.state if previous else OPEN
        if current == RESOLVED:
            raise ConflictError(f"Conflict {conflict_id} is already resolved.")
        if state == ACKNOWLEDGED and current == ACKNOWLEDGED:
            raise ConflictError(f"Conflict {conflict_id} is already acknowledged.")
        change = ConflictStatusChange(
            conflict_id=conflict_id,
            state=state,
            note=note,
            by_user_id=principal.user_id,
            organisation_id=principal.organisation_id,
            at=datetime.now(UTC),
        )
        s.add(change)
        audit.record(s, principal, f"conflict.{state}", "conflict", conflict_id, previous=current, note=note)
        return change


def acknowledge(
    principal: Principal, conflict_id: str, note: str | None = None, serving=None
) -> ConflictStatusChange:
    """A party has seen the conflict and is dealing with it."""
    return _change_state(principal, conflict_id, ACKNOWLEDGED, note, serving)


def resolve(principal: Principal, conflict_id: str, note: str, serving=None) -> ConflictStatusChange:
    """A party closes the conflict, saying how (the note is required)."""
    return _change_state(principal, conflict_id, RESOLVED, note, serving)


# -- the organisation's inbox ---------------------------------------------------------------------
def inbox(principal: Principal, limit: int = 200) -> list[ConflictNotice]:
    """The newest notices of the principal's organisation (admins: their own organisation's too)."""
    with db.session() as s:
        return list(
            s.scalars(
                select(ConflictNotice)
                .where(ConflictNotice.organisation_id == principal.organisation_id)
                .order_by(ConflictNotice.sent_at.desc(), ConflictNotice.id.desc())
                .limit(limit)
            )
        )


def mark_read(principal: Principal, notice_id: int) -> None:
    """Mark one of the organisation's notices read (another organisation's notice is not found)."""
    with db.session() as s:
        notice = s.get(ConflictNotice, notice_id)
        if notice is None or notice.organisation_id != principal.organisation_id:
            raise NotFound(f"No notice {notice_id} in your inbox.")
        if notice.read_at is None:
            notice.read_at = datetime.now(UTC)
            notice.read_by_id = principal.user_id
