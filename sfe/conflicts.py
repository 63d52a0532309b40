"""Market conflicts (UC11) as work: who is involved, notices to them, and acknowledge / resolve.

The conflicts themselves are the warehouse's (``mart_market_conflicts`` in the published DuckDB,
read through ``sfe.serving.get_db``); this module adds the registry side. The parties of a conflict
are the system-operator organisations acting for ``operator_id_a`` / ``operator_id_b``, the
organisation that registered the asset (when it is registered) and the owners of the registry groups
it belongs to. ``notify_new_conflicts`` gives every party one notice (in-app inbox and one email to
its active users); the database's unique (conflict, organisation) constraint makes that exactly once
even when the job runs twice or concurrently. A party (or an admin) acknowledges or resolves a
conflict; every change is kept with who made it and why, and audited.

A system operator's control room also sees every conflict on an asset connected in its control area
(``control_area``: a DNO's licence areas, all of GB for NESO), read-only unless it is a party: the
parties hold the commitments, so they are the ones who acknowledge and resolve.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from sfe import notices, queries, taxonomy
from sfe.registry import audit, db, mail
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.models import Asset, AssetGroup, Organisation, User
from sfe.registry.models_conflicts import ConflictNotice, ConflictStatusChange
from sfe.serving import ServingDB, get_db

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
def _select_conflicts(s, where: str = "", params: dict | None = None) -> pl.DataFrame:
    """Conflict rows with ``dno_area``: the asset's DNO licence area as the warehouse knows it
    (dim_asset; null when that is not published)."""
    queries._require(s, {MART: set(COLUMNS)})
    select_list = ", ".join(f"c.{c}" for c in COLUMNS)
    if {"asset_id", "dno_area"} <= set(queries.published_columns(s).get("dim_asset", ())):
        area, join = "d.dno_area", " LEFT JOIN main.dim_asset AS d ON d.asset_id = c.asset_id"
    else:
        area, join = "CAST(NULL AS VARCHAR)", ""
    return s.query(
        f"SELECT {select_list}, {area} AS dno_area FROM {MART} AS c{join} {where} "  # noqa: S608  (constant identifiers)
        "ORDER BY c.severity_rank DESC, c.overlap_start_utc DESC, c.conflict_id",
        params,
    )


def published_conflicts(serving: ServingDB | None = None) -> pl.DataFrame:
    """Every conflict in the published warehouse, most severe and newest first, with the asset's
    DNO licence area. Raises WarehouseNotBuilt / queries.TableNotPublished when there is nothing to read."""
    serving = serving or get_db()
    with serving.session() as s:
        return _select_conflicts(s)


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
    area_by_registry_asset: dict[str, str] = field(default_factory=dict)

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
            select(Asset.registry_asset_id, Asset.organisation_id, Asset.dno_area).where(
                Asset.registry_asset_id.is_not(None)
            )
        )
        for ref, org, area in assets:
            index.by_registry_asset[ref] = org
            if area:
                index.area_by_registry_asset[ref] = area
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

    def area(self, row: dict) -> str | None:
        """The DNO licence area the conflict's asset connects in: the registry's (its owner keeps it
        current), else the warehouse's (dim_asset: registered, or derived from the GSP group)."""
        return self.area_by_registry_asset.get(row.get("registry_asset_id") or "") or row.get("dno_area")


def _involves(index: _PartyIndex, principal: Principal, row: dict) -> bool:
    """May act on the conflict (acknowledge, resolve): a party, or an administrator."""
    if principal.is_admin:
        return True
    return principal.organisation_id in index.parties(row)


GB_WIDE = None  # control_area() of a system operator whose network is all of Great Britain


def control_area(principal: Principal) -> frozenset[str] | None:
    """The DNO licence areas whose conflicts a system operator's control room sees: a DNO's own licence
    areas (taxonomy/dno_areas.csv, e.g. UKPN: EPN, LPN, SPN); ``GB_WIDE`` (None) for a system operator
    without licence areas (NESO, the transmission system operator, whose system every asset is on).
    Empty for anyone else."""
    if principal.role != Role.SYSTEM_OPERATOR or not principal.operator_id:
        return frozenset()
    areas = frozenset(
        taxonomy.normalise_value(r["dno_area"])
        for r in taxonomy.table("dno_areas")
        if r["operator_id"] == principal.operator_id
    )
    return areas or GB_WIDE


def _sees(index: _PartyIndex, principal: Principal, row: dict) -> bool:
    """May see the conflict: a party (or an administrator), or a system operator in whose control area
    the asset is connected."""
    if _involves(index, principal, row):
        return True
    if principal.role != Role.SYSTEM_OPERATOR:
        return False
    areas = control_area(principal)
    if areas is GB_WIDE:
        return True
    area = index.area(row)
    return area is not None and taxonomy.normalise_value(area) in areas


# -- notices ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NotifyResult:
    conflicts: int  # conflicts in the published warehouse
    notices_created: int  # new (conflict, organisation) notices this run
    emails_sent: int
    email_failures: int
    without_party: int  # conflicts no registered organisation is party to (nobody to tell)


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
                new_id = notices.insert_once(
                    s,
                    ConflictNotice,
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
                    ["conflict_id", "organisation_id"],
                )
                if new_id is not None:
                    created.append(new_id)
                    audit.record(
                        s, None, "conflict.notified", "conflict", row["conflict_id"], organisation_id=org_id
                    )
    to_email = created + notices.claim_refused(ConflictNotice)
    sent = notices.deliver(ConflictNotice, to_email)
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
    """The conflicts ``principal`` sees, with their state and who set it last: those it is party to,
    and for a system operator every conflict on an asset in its control area (``control_area``);
    admins all. ``party``: whether the principal may acknowledge and resolve it."""
    conflicts = published_conflicts(serving)
    with db.session() as s:
        index = _PartyIndex.load(s)
        rows = [r for r in conflicts.iter_rows(named=True) if _sees(index, principal, r)]
        for r in rows:
            r["dno_area"] = index.area(r)
            r["party"] = _involves(index, principal, r)
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
        "party": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _conflict_row(serving: ServingDB | None, conflict_id: str) -> dict:
    serving = serving or get_db()
    with serving.session() as s:
        found = _select_conflicts(s, "WHERE c.conflict_id = $id", {"id": conflict_id})
    if found.is_empty():
        raise NotFound(f"No conflict {conflict_id!r} in the published warehouse.")
    return found.row(0, named=True)


def history(principal: Principal, conflict_id: str, serving: ServingDB | None = None) -> list[dict]:
    """Every acknowledge / resolve of a conflict the principal sees, oldest first."""
    row = _conflict_row(serving, conflict_id)
    with db.session() as s:
        if not _sees(_PartyIndex.load(s), principal, row):
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
        index = _PartyIndex.load(s)
        if not _involves(index, principal, row):
            # Parties only: a system operator watching its area sees the conflict but does not hold the
            # commitments in it, so it cannot settle it. Others learn nothing about the conflict.
            if _sees(index, principal, row):
                raise AccessDenied(
                    "You see this conflict because the asset is in your control area, but only the "
                    "organisations involved (or an administrator) can acknowledge or resolve it."
                )
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
