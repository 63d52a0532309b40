"""Rules judged when commitments and dispatches arrive (UC5): after each publish, every commitment or
dispatch of a registered asset that SFE has not judged yet is judged by its product's rules.

Where they come from: the warehouse's ``int_conflict_activities`` (the same list of commitments and
dispatches conflict detection uses: EAC wins, DNO obligations of their current holder, SO and DNO
instructions, UKPN availability and utilisation, BM acceptances), joined to ``dim_asset`` for the
registry id. Its ``activity_key`` is stable across rebuilds, and a judged key is kept in the registry
(``RuleArrivalCheck``): each activity is judged once, late data is judged when it arrives, a rebuild
judges nothing again.

What happens: a verdict that *fails* (block or notify mode) is a breach (``RuleBreach``; a block rule's
breach is high severity, a notify rule's medium). The activity already happened, so nothing is
refused: the asset's organisation and the product's system operator each get one notice per breach
(inbox + email, ``sfe.notices``). A rule about the asset itself (capacity, technology, location,
response time) gives the same answer for each of its activities, so it is reported once per asset,
product and rule version. Verdicts that lack data (e.g. a response time the registry does not
hold) are not breaches: they are asked for at prequalification.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from sfe import notices, queries
from sfe.registry import audit, db, mail
from sfe.registry.access import NotFound, Principal, Role
from sfe.registry.models import Asset
from sfe.registry.models_rules import RuleArrivalCheck, RuleBreach
from sfe.rules import catalogue, engine, facts, kinds, store
from sfe.rules.catalogue import ProductInfo
from sfe.rules.kinds import FAIL
from sfe.serving import ServingDB, get_db

ACTIVITIES = "int_conflict_activities"
NO_PRODUCT = "no_product"  # the activity's product is unknown to SFE: nothing to judge it by
SEVERITY = {"block": "high", "notify": "medium"}
# Rules about the asset itself (capacity, technology, location, response time) answer the same for
# each of its activities: they are reported once per asset, product and rule version, not per activity.
ASSET_LEVEL_KINDS = tuple(k for k, spec in kinds.KINDS.items() if not spec.needs_window)
_COLUMNS = (
    "activity_key",
    "activity_type",
    "activity_class",
    "registry_asset_id",
    "operator_id",
    "market_id",
    "product_id",
    "source_ref",
    "start_utc",
    "end_utc",
    "power_mw",
)
BREACH_COLUMNS = {
    "breach_id": pl.Int64,
    "severity": pl.String,
    "detected_at_utc": pl.Datetime("us", "UTC"),
    "registry_asset_id": pl.String,
    "asset_name": pl.String,
    "product_id": pl.String,
    "rule_name": pl.String,
    "rule_kind": pl.String,
    "rule_mode": pl.String,
    "rule_version": pl.Int64,
    "activity_kind": pl.String,
    "activity_type": pl.String,
    "operator_id": pl.String,
    "source_ref": pl.String,
    "start_utc": pl.Datetime("us", "UTC"),
    "end_utc": pl.Datetime("us", "UTC"),
    "power_mw": pl.Float64,
    "explanation": pl.String,
}


# Column labels of a breach table for people (the pages show them; CSV downloads keep them).
BREACH_LABELS = {
    "breach_id": "Breach",
    "severity": "Severity",
    "start_utc": "From (UTC)",
    "end_utc": "To (UTC)",
    "registry_asset_id": "Registry asset",
    "asset_name": "Asset",
    "product_id": "Product",
    "rule_name": "Rule broken",
    "rule_mode": "Mode",
    "activity_kind": "Kind",
    "activity_type": "Source activity",
    "source_ref": "Reference",
    "power_mw": "MW",
    "detected_at_utc": "Detected (UTC)",
    "explanation": "Explanation",
}


@dataclass(frozen=True)
class ArrivalResult:
    arrivals: int  # activities judged this run (first seen)
    breaches: int  # rules broken by them
    notices_created: int
    emails_sent: int
    email_failures: int


def published_activities(serving: ServingDB | None = None) -> pl.DataFrame:
    """The commitments and dispatches of registered assets in the published warehouse.
    Raises WarehouseNotBuilt / queries.TableNotPublished when there is nothing to read."""
    serving = serving or get_db()
    with serving.session() as s:
        schema = s.scalar(
            "SELECT schema_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND table_name = $table ORDER BY schema_name = 'main' DESC LIMIT 1",
            {"table": ACTIVITIES},
        )
        if schema is None:
            raise queries.TableNotPublished(ACTIVITIES)
        queries._require(s, {"dim_asset": {"asset_id", "registry_asset_id"}})
        # The schema name comes from DuckDB's own catalog, never from a user.
        sql = (
            "SELECT a.activity_key, a.activity_type, a.activity_class, d.registry_asset_id, a.operator_id, "  # noqa: S608
            "a.market_id, a.product_id, a.source_ref, a.start_utc, a.end_utc, a.power_mw "
            f'FROM "{schema}".{ACTIVITIES} AS a JOIN main.dim_asset AS d ON d.asset_id = a.asset_id '
            "WHERE d.registry_asset_id IS NOT NULL ORDER BY d.registry_asset_id, a.start_utc, a.activity_key"
        )
        frame = s.query(sql)
    return frame.select(_COLUMNS)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _commitment(row: dict) -> facts.Commitment:
    return facts.Commitment(
        product_id=row["product_id"],
        kind=row["activity_class"],
        start_utc=_utc(row["start_utc"]),
        end_utc=_utc(row["end_utc"]),
        power_mw=row["power_mw"],
        market_id=row["market_id"],
        operator_id=row["operator_id"],
        asset_id=row["registry_asset_id"],
        reference=row["source_ref"] or row["activity_key"],
    )


def _products(s: Session, product_ids: set[str]) -> dict[str, ProductInfo | None]:
    found: dict[str, ProductInfo | None] = {}
    for product_id in sorted(product_ids):
        try:
            found[product_id] = catalogue.product_info(s, product_id)
        except NotFound:
            found[product_id] = None
    return found


def _operators_of(s: Session, product: ProductInfo) -> set[int]:
    """The system-operator organisations that run the product."""
    orgs = set(notices.system_operator_organisations(s, product.operator_id))
    if product.organisation_id is not None:
        orgs.add(product.organisation_id)
    return orgs


def _notice_text(breach: RuleBreach, row: dict, product: ProductInfo, asset_name: str, reasons: set[str]):
    why = {
        "asset_owner": "your organisation registered the asset",
        "product_operator": "your organisation runs the product",
    }
    what = "dispatched" if row["activity_class"] == "dispatch" else "committed"
    start = _utc(row["start_utc"])
    subject = (
        f"[SFE] Rule breach ({breach.rule_mode}): {breach.rule_name} — {breach.registry_asset_id} in "
        f"{product.product_id} ({start:%Y-%m-%d %H:%M} UTC)"
    )
    body = (
        f"{asset_name} ({breach.registry_asset_id}) was {what} in {product.label} from "
        f"{start:%Y-%m-%d %H:%M} to {_utc(row['end_utc']):%Y-%m-%d %H:%M} UTC"
        f"{' [' + row['source_ref'] + ']' if row['source_ref'] else ''}, and that broke a rule of the product.\n\n"
        f"{breach.explanation}\n\n"
        f"Severity: {breach.severity} ({'a block-mode rule' if breach.rule_mode == 'block' else 'a notify-mode rule'}). "
        "It already happened, so SFE did not refuse it; it tells the parties so they can act. "
        f"You are told because {' and '.join(why[r] for r in sorted(reasons))}.\n"
        f"See it: {mail.link('conflicts', breach=str(breach.id))}\n"
    )
    return subject, body


def _asset_level_breaches(s: Session, asset_refs: set[str]) -> set[tuple]:
    """(asset, product, rule, version) of the asset-level breaches already recorded for these assets."""
    rows = s.execute(
        select(
            RuleBreach.registry_asset_id, RuleBreach.product_id, RuleBreach.rule_id, RuleBreach.rule_version
        ).where(
            RuleBreach.registry_asset_id.in_(sorted(asset_refs)), RuleBreach.rule_kind.in_(ASSET_LEVEL_KINDS)
        )
    )
    return {tuple(r) for r in rows}


def judge_new_arrivals(serving: ServingDB | None = None) -> ArrivalResult:
    """Judge every commitment and dispatch of a registered asset not judged before; record breaches
    and tell the parties once each (see the module docstring). Safe to run again or concurrently."""
    activities = published_activities(serving)
    with db.session() as s:
        judged = set(s.scalars(select(RuleArrivalCheck.activity_key)))
    fresh = activities.filter(~pl.col("activity_key").is_in(list(judged))) if judged else activities
    if fresh.is_empty():
        retried = notices.claim_refused(notices.Notice)
        sent = notices.deliver(notices.Notice, retried)
        return ArrivalResult(0, 0, 0, sent, len(retried) - sent)

    asset_ids = set(fresh.get_column("registry_asset_id").to_list())
    with db.session() as s:
        assets = {
            a.registry_asset_id: a
            for a in s.scalars(select(Asset).where(Asset.registry_asset_id.in_(sorted(asset_ids))))
        }
        subjects = {ref: facts.asset_subject(a) for ref, a in assets.items()}
        owners = {ref: a.organisation_id for ref, a in assets.items()}
        names = {ref: a.name for ref, a in assets.items()}
        products = _products(s, set(fresh.get_column("product_id").to_list()))
        judgeable = [p for p, info in products.items() if info is not None]
        rule_sets = store.rule_sets(s, judgeable)
        operators = {p: _operators_of(s, info) for p, info in products.items() if info is not None}

    # Judge outside any registry session: an external rules endpoint may be slow.
    verdicts: dict[str, engine.Evaluation] = {}
    unreachable: set[str] = set()
    rows_by_asset: dict[str, list[dict]] = defaultdict(list)
    for row in activities.filter(pl.col("registry_asset_id").is_in(list(subjects))).iter_rows(named=True):
        rows_by_asset[row["registry_asset_id"]].append(row)
    for asset_ref, rows in rows_by_asset.items():
        known, arrivals, keys = [], [], {}
        for row in rows:
            commitment = _commitment(row)
            is_new = row["activity_key"] not in judged and products.get(row["product_id"]) is not None
            (arrivals if is_new else known).append(commitment)
            if is_new:
                keys[id(commitment)] = row["activity_key"]
        if not arrivals:
            continue
        results = engine.evaluate_arrivals(
            None,
            subjects[asset_ref],
            {p: info for p, info in products.items() if info is not None},
            arrivals,
            known,
            rule_sets=rule_sets,
            unreachable=unreachable,
        )
        for commitment, evaluation in results:
            verdicts[keys[id(commitment)]] = evaluation

    created: list[int] = []
    breaches = 0
    now = datetime.now(UTC)
    fresh_rows = [r for r in fresh.iter_rows(named=True) if r["registry_asset_id"] in subjects]

    def check_values(row: dict) -> dict:
        evaluation = verdicts.get(row["activity_key"])
        return {
            "activity_key": row["activity_key"],
            "registry_asset_id": row["registry_asset_id"],
            "product_id": row["product_id"],
            "activity_kind": row["activity_class"],
            "activity_type": row["activity_type"],
            "operator_id": row["operator_id"],
            "source_ref": row["source_ref"],
            "start_utc": _utc(row["start_utc"]),
            "end_utc": _utc(row["end_utc"]),
            "power_mw": row["power_mw"],
            "decision": evaluation.decision if evaluation else NO_PRODUCT,
            "request_id": evaluation.request.request_id if evaluation else None,
            "evaluated_at": now,
        }

    def failed(row: dict) -> bool:
        evaluation = verdicts.get(row["activity_key"])
        return evaluation is not None and any(v.outcome == FAIL for v in evaluation.verdicts)

    with db.session() as s:
        # Most arrivals break nothing: one statement records them (a concurrent run's rows are skipped).
        notices.insert_many_once(
            s, RuleArrivalCheck, [check_values(r) for r in fresh_rows if not failed(r)], ["activity_key"]
        )
        reported = _asset_level_breaches(s, {r["registry_asset_id"] for r in fresh_rows})
        for row in (r for r in fresh_rows if failed(r)):
            evaluation = verdicts[row["activity_key"]]
            check_id = notices.insert_once(s, RuleArrivalCheck, check_values(row), ["activity_key"])
            if check_id is None:  # a concurrent run judged it and told the parties
                continue
            product = products[row["product_id"]]
            for verdict in evaluation.verdicts:
                if verdict.outcome != FAIL:
                    continue
                if verdict.kind in ASSET_LEVEL_KINDS:
                    # The same answer for every activity of the asset: one breach per rule version.
                    key = (row["registry_asset_id"], row["product_id"], verdict.rule_id, verdict.rule_version)
                    if key in reported:
                        continue
                    reported.add(key)
                breach = RuleBreach(
                    check_id=check_id,
                    registry_asset_id=row["registry_asset_id"],
                    product_id=row["product_id"],
                    rule_id=verdict.rule_id[:100],
                    rule_name=verdict.rule_name[:200],
                    rule_kind=verdict.kind,
                    rule_mode=verdict.mode,
                    rule_version=verdict.rule_version,
                    severity=SEVERITY.get(verdict.mode, "medium"),
                    explanation=verdict.explanation,
                    detected_at=now,
                )
                s.add(breach)
                s.flush()
                breaches += 1
                audit.record(
                    s,
                    None,
                    "rule.breach_detected",
                    "rule_breach",
                    breach.id,
                    activity_key=row["activity_key"],
                    product_id=row["product_id"],
                    rule_id=verdict.rule_id,
                    rule_version=verdict.rule_version,
                    mode=verdict.mode,
                )
                parties: dict[int, set[str]] = defaultdict(set)
                parties[owners[row["registry_asset_id"]]].add("asset_owner")
                for org_id in operators[row["product_id"]]:
                    parties[org_id].add("product_operator")
                for org_id, reasons in sorted(parties.items()):
                    subject, body = _notice_text(
                        breach, row, product, names[row["registry_asset_id"]], reasons
                    )
                    notice_id = notices.post(
                        s,
                        notices.RULE_BREACH,
                        f"breach-{breach.id}",
                        org_id,
                        reasons,
                        breach.severity,
                        subject,
                        body,
                    )
                    if notice_id is not None:
                        created.append(notice_id)
    to_email = created + notices.claim_refused(notices.Notice)
    sent = notices.deliver(notices.Notice, to_email)
    return ArrivalResult(
        arrivals=len(fresh_rows),
        breaches=breaches,
        notices_created=len(created),
        emails_sent=sent,
        email_failures=len(to_email) - sent,
    )


# -- what a principal sees ------------------------------------------------------------------------
def _run_products(s: Session, principal: Principal) -> list[str]:
    return [p.product_id for p in catalogue.rule_products(s) if catalogue.owns(principal, p)]


def visible_breaches(principal: Principal) -> pl.DataFrame:
    """Rule breaches the principal's organisation is party to, newest first: a system operator those
    in the products it runs, a provider those of its registered assets, an administrator all."""
    principal.require(Role.SYSTEM_OPERATOR, Role.FSP, action="see rule breaches")
    stmt = (
        select(RuleBreach, RuleArrivalCheck, Asset.name)
        .join(RuleArrivalCheck, RuleArrivalCheck.id == RuleBreach.check_id)
        .join(Asset, Asset.registry_asset_id == RuleBreach.registry_asset_id)
        .order_by(RuleArrivalCheck.start_utc.desc(), RuleBreach.id.desc())
    )
    with db.session() as s:
        if not principal.is_admin:
            if principal.role == Role.SYSTEM_OPERATOR:
                stmt = stmt.where(RuleBreach.product_id.in_(_run_products(s, principal)))
            else:
                stmt = stmt.where(Asset.organisation_id == principal.organisation_id)
        rows = [
            {
                "breach_id": b.id,
                "severity": b.severity,
                "detected_at_utc": b.detected_at,
                "registry_asset_id": b.registry_asset_id,
                "asset_name": name,
                "product_id": b.product_id,
                "rule_name": b.rule_name,
                "rule_kind": b.rule_kind,
                "rule_mode": b.rule_mode,
                "rule_version": b.rule_version,
                "activity_kind": c.activity_kind,
                "activity_type": c.activity_type,
                "operator_id": c.operator_id,
                "source_ref": c.source_ref,
                "start_utc": c.start_utc,
                "end_utc": c.end_utc,
                "power_mw": c.power_mw,
                "explanation": b.explanation,
            }
            for b, c, name in s.execute(stmt)
        ]
    return (
        pl.DataFrame(rows, schema=BREACH_COLUMNS, orient="row")
        if rows
        else pl.DataFrame(schema=BREACH_COLUMNS)
    )
