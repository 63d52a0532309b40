"""Conflict notices and the conflicts control room (UC11): every party of a published conflict gets one
notice (inbox + one email), also when the job runs twice or concurrently; only parties (or an admin)
acknowledge and resolve, with the history kept and audited; the page shows each organisation its
conflicts.

Fast tests publish a small sfe.duckdb with mart_market_conflicts written here (three conflicts whose
parties are worked out below); the slow test uses the generated and built demo lake of
tests/test_conflicts_mart.py and checks the generator's planted conflicts end to end.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from sfe import conflicts, notices
from sfe.config import LakePaths
from sfe.registry import audit, db, mail
from sfe.registry.access import AccessDenied, Role
from sfe.registry.models import Asset, AssetGroup, Organisation
from sfe.registry.models_conflicts import ConflictNotice
from sfe.serving import reset_db_registry
from tests.identity_helpers import session_token
from tests.registry_helpers import make_principal

PAGE = Path(__file__).resolve().parents[1] / "dashboards" / "pages" / "conflicts.py"
INBOX_PAGE = PAGE.with_name("inbox.py")
TIMEOUT = 60

# The published conflicts:
#   CF-1  neso vs ukpn on AST-1 = REG-000001 (Flex A), in Flex A's portfolio -> NESO, UKPN, Flex A
#   CF-2  ukpn vs nged on AST-2, not registered; no NGED organisation on SFE     -> UKPN
#   CF-3  neso vs neso (forbidden stacking) on AST-3 = REG-000003 (Flex B)       -> NESO, Flex B
_MART_SQL = """
CREATE TABLE mart_market_conflicts AS SELECT * FROM (VALUES
  ('CF-1', 'cross_so_overlap', 'high', 3, 'AST-1', 'REG-000001', $group_id, 'Evening portfolio',
   'neso', 'neso_eac_pbr', 'neso_instruction', 'NESO-1', 'P1',
   'ukpn', 'ukpn_day_ahead', 'ukpn_dispatch', 'F1 @ x', 'P1',
   TIMESTAMPTZ '2025-06-02 15:00:00+00', TIMESTAMPTZ '2025-06-02 15:30:00+00', 30::BIGINT,
   'NESO instructed AST-1 while UKPN dispatched it.', NULL),
  ('CF-2', 'cross_so_overlap', 'medium', 2, 'AST-2', NULL, NULL, NULL,
   'nged', 'nged_peak_reduction', 'dno_obligation', 'BID-2', 'P2',
   'ukpn', 'ukpn_day_ahead', 'ukpn_dispatch', 'F2 @ y', 'P2',
   TIMESTAMPTZ '2025-06-05 17:00:00+00', TIMESTAMPTZ '2025-06-05 18:00:00+00', 60::BIGINT,
   'UKPN dispatched AST-2 during its NGED obligation.', NULL),
  ('CF-3', 'forbidden_stacking', 'low', 1, 'AST-3', 'REG-000003', NULL, NULL,
   'neso', 'neso_eac_dch', 'eac_commitment', 'EAC-1-DCH', 'P3',
   'neso', 'neso_eac_nbr', 'eac_commitment', 'EAC-1-NBR', 'P3',
   TIMESTAMPTZ '2025-06-03 02:30:00+00', TIMESTAMPTZ '2025-06-03 03:00:00+00', 30::BIGINT,
   'DCH and NBR stacked on AST-3, which a notify rule forbids.', 'NBR alone')
) AS t(conflict_id, conflict_kind, severity, severity_rank, asset_id, registry_asset_id, registry_group_ids,
       registry_group_names, operator_id_a, product_id_a, activity_type_a, source_ref_a, participant_id_a,
       operator_id_b, product_id_b, activity_type_b, source_ref_b, participant_id_b, overlap_start_utc,
       overlap_end_utc, overlap_minutes, explanation, detected_rule_name)
"""


@pytest.fixture
def parties(lake_paths):
    """The registry (organisations, users, assets, a portfolio) and the published conflicts."""
    db.dispose_all()
    reset_db_registry()
    p = {
        "neso": make_principal("National Energy SO", Role.SYSTEM_OPERATOR, operator_id="neso"),
        "ukpn": make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"),
        "flex_a": make_principal("Flex A", Role.FSP),
        "flex_b": make_principal("Flex B", Role.FSP),
        "flex_c": make_principal("Flex C", Role.FSP),  # party to nothing
        "admin": make_principal("SFE", Role.ADMIN),
    }
    p["flex_a_2"] = make_principal("Flex A", Role.FSP)  # a second active user of Flex A
    with db.session() as s:
        for ref, who in (("REG-000001", "flex_a"), ("REG-000003", "flex_b")):
            s.add(
                Asset(
                    registry_asset_id=ref,
                    organisation_id=p[who].organisation_id,
                    name=ref,
                    asset_type="battery",
                    capacity_mw=2.0,
                )
            )
        group = AssetGroup(organisation_id=p["flex_a"].organisation_id, name="Evening portfolio")
        s.add(group)
        s.flush()
        group_id = group.id
    lake_paths.serving_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(lake_paths.serving_db))
    con.execute(_MART_SQL, {"group_id": str(group_id)})
    con.close()
    yield p
    reset_db_registry()
    db.dispose_all()


def _org(p, name):
    return p[name].organisation_id


def _expected(p) -> set[tuple[str, int]]:
    return {
        ("CF-1", _org(p, "neso")),
        ("CF-1", _org(p, "ukpn")),
        ("CF-1", _org(p, "flex_a")),
        ("CF-2", _org(p, "ukpn")),
        ("CF-3", _org(p, "neso")),
        ("CF-3", _org(p, "flex_b")),
    }


def _notices() -> list[ConflictNotice]:
    with db.session() as s:
        return list(s.scalars(select(ConflictNotice).order_by(ConflictNotice.id)))


def test_each_party_gets_one_notice_and_one_email_and_a_rerun_adds_none(parties, lake_paths):
    first = conflicts.notify_new_conflicts()
    assert (first.conflicts, first.notices_created, first.emails_sent, first.email_failures) == (3, 6, 6, 0)
    assert first.without_party == 0
    second = conflicts.notify_new_conflicts()
    assert (second.notices_created, second.emails_sent) == (0, 0)

    notices = _notices()
    assert {(n.conflict_id, n.organisation_id) for n in notices} == _expected(parties)
    assert len(notices) == 6
    flex_a = next(n for n in notices if n.organisation_id == _org(parties, "flex_a"))
    assert flex_a.reason == "asset_owner,group_owner" and flex_a.severity == "high"
    assert "registered the asset" in flex_a.body and "portfolios" in flex_a.body
    assert all(n.emailed_at is not None and n.email_error is None for n in notices)

    outbox = mail.outbox_messages()
    assert len(outbox) == 6  # one email per notice
    to_flex_a = [m for m in outbox if "CF-1" in m.subject and parties["flex_a"].email in m.to]
    assert len(to_flex_a) == 1 and parties["flex_a_2"].email in to_flex_a[0].to  # all its active users
    assert "NESO instructed AST-1" in to_flex_a[0].text
    assert any("conflicts?conflict=CF-1" in link for link in to_flex_a[0].links)
    assert not [m for m in outbox if parties["flex_c"].email in m.to]

    with db.session() as s:
        assert len(audit.history(s, "conflict", "CF-1")) == 3  # one "notified" per party


def test_concurrent_runs_notify_each_party_exactly_once(parties, lake_paths):
    results, errors = [], []
    barrier = threading.Barrier(4)

    def run():
        try:
            barrier.wait()
            results.append(conflicts.notify_new_conflicts())
        except Exception as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sum(r.notices_created for r in results) == 6
    assert sum(r.emails_sent for r in results) == 6
    assert {(n.conflict_id, n.organisation_id) for n in _notices()} == _expected(parties)
    assert len(_notices()) == 6 and len(mail.outbox_messages()) == 6


def test_an_email_the_smtp_server_refused_is_retried_by_the_next_run_only(parties, lake_paths, monkeypatch):
    real_send = mail.send

    def refuse(to, subject, text, html=None):
        raise mail.MailError("could not send mail through smtp.example:587: refused")

    monkeypatch.setattr(mail, "send", refuse)
    first = conflicts.notify_new_conflicts()
    assert (first.notices_created, first.emails_sent, first.email_failures) == (6, 0, 6)
    assert all("refused" in n.email_error and n.emailed_at is None for n in _notices())
    monkeypatch.setattr(mail, "send", real_send)
    second = conflicts.notify_new_conflicts()
    assert (second.notices_created, second.emails_sent, second.email_failures) == (0, 6, 0)
    assert conflicts.notify_new_conflicts().emails_sent == 0
    assert len(mail.outbox_messages()) == 6


def test_a_party_without_active_users_has_the_notice_in_its_inbox_only(parties, lake_paths):
    with db.session() as s:
        org = s.get(Organisation, _org(parties, "flex_b"))
        for user in org.users:
            user.status = "disabled"
    result = conflicts.notify_new_conflicts()
    assert (result.notices_created, result.emails_sent, result.email_failures) == (6, 5, 1)
    [inbox] = notices.inbox(parties["flex_b"])
    assert inbox.about == "CF-3" and inbox.emailed_at is None and "no active user" in inbox.email_error
    assert conflicts.notify_new_conflicts().emails_sent == 0  # nobody to email: not retried every hour


def test_only_parties_or_an_admin_acknowledge_and_resolve_with_history(parties, lake_paths):
    p = parties
    with pytest.raises(AccessDenied):
        conflicts.acknowledge(p["flex_c"], "CF-1", "not mine")
    with pytest.raises(AccessDenied):
        conflicts.acknowledge(p["flex_b"], "CF-1")  # Flex B is party to CF-3 only
    with pytest.raises(AccessDenied):
        conflicts.resolve(p["neso"], "CF-2", "NESO is not a side of CF-2")
    with pytest.raises(conflicts.NotFound):
        conflicts.acknowledge(p["admin"], "CF-404")

    conflicts.acknowledge(p["ukpn"], "CF-1", "Looking into the dispatch")
    with pytest.raises(conflicts.ConflictError, match="already acknowledged"):
        conflicts.acknowledge(p["neso"], "CF-1")
    with pytest.raises(conflicts.ConflictError, match="note is required"):
        conflicts.resolve(p["flex_a"], "CF-1", "  ")
    conflicts.resolve(p["flex_a"], "CF-1", "Contract with UKPN withdrawn for that window")
    with pytest.raises(conflicts.ConflictError, match="already resolved"):
        conflicts.resolve(p["neso"], "CF-1", "again")
    conflicts.resolve(p["admin"], "CF-3", "Stacking rule waived by NESO")

    steps = conflicts.history(p["neso"], "CF-1")
    assert [(h["state"], h["organisation"], h["note"]) for h in steps] == [
        ("acknowledged", "UK Power Networks", "Looking into the dispatch"),
        ("resolved", "Flex A", "Contract with UKPN withdrawn for that window"),
    ]
    assert steps[1]["by"] == p["flex_a"].display_name
    with pytest.raises(conflicts.NotFound):
        conflicts.history(p["flex_c"], "CF-1")  # not revealed to non-parties
    with db.session() as s:
        actions = [(e.action, e.actor_user_id) for e in audit.history(s, "conflict", "CF-1")]
    assert actions == [
        ("conflict.acknowledged", p["ukpn"].user_id),
        ("conflict.resolved", p["flex_a"].user_id),
    ]

    seen = {
        who: {r["conflict_id"]: r["state"] for r in conflicts.visible_conflicts(p[who]).iter_rows(named=True)}
        for who in ("neso", "ukpn", "flex_a", "flex_b", "flex_c", "admin")
    }
    # NESO's control area is all of GB: it also sees CF-2 (UKPN vs NGED), read-only.
    assert seen["neso"] == {"CF-1": "resolved", "CF-2": "open", "CF-3": "resolved"}
    assert seen["ukpn"] == {"CF-1": "resolved", "CF-2": "open"}
    assert seen["flex_a"] == {"CF-1": "resolved"}
    assert seen["flex_b"] == {"CF-3": "resolved"}
    assert seen["flex_c"] == {}
    assert set(seen["admin"]) == {"CF-1", "CF-2", "CF-3"}


def test_inbox_is_the_organisations_own_and_marks_read(parties, lake_paths):
    conflicts.notify_new_conflicts()
    inbox = notices.inbox(parties["ukpn"])
    assert sorted((n.topic, n.about) for n in inbox) == [("conflict", "CF-1"), ("conflict", "CF-2")]
    with pytest.raises(conflicts.NotFound):
        notices.mark_read(parties["flex_c"], "conflict", inbox[0].notice_id)
    with pytest.raises(conflicts.NotFound):  # the topic is part of a notice's identity
        notices.mark_read(parties["ukpn"], "rule_breach", inbox[0].notice_id)
    notices.mark_read(parties["ukpn"], "conflict", inbox[0].notice_id)
    assert [n.read_at is not None for n in notices.inbox(parties["ukpn"])].count(True) == 1


def test_cli_notify_reports_counts_and_explains_a_missing_warehouse(parties, lake_paths):
    from click.testing import CliRunner

    from sfe.cli import main

    first = CliRunner().invoke(main, ["conflicts", "notify"])
    assert first.exit_code == 0, first.output
    assert "3 conflicts: 6 new notices, 6 emails sent" in first.output
    again = CliRunner().invoke(main, ["conflicts", "notify"])
    assert "0 new notices, 0 emails sent" in again.output
    reset_db_registry()
    lake_paths.serving_db.unlink()
    missing = CliRunner().invoke(main, ["conflicts", "notify"])
    assert missing.exit_code == 1 and "has not been built yet" in missing.output


# -- the page ---------------------------------------------------------------------------------------
def _run_page(token: str | None, query: dict | None = None, page: Path = PAGE) -> AppTest:
    at = AppTest.from_file(str(page), default_timeout=TIMEOUT)
    if token:
        at.session_state["sfe_session_token"] = token
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _table_ids(at: AppTest) -> list[str]:
    return sorted(at.dataframe[0].value["Conflict"])


def test_page_shows_a_system_operator_its_conflicts_and_records_an_acknowledgement(parties, lake_paths):
    conflicts.notify_new_conflicts()
    at = _run_page(session_token(parties["ukpn"]), {"conflict": "CF-2"})
    assert at.title[0].value == "Conflicts control room"
    assert _table_ids(at) == ["CF-1", "CF-2"]
    assert at.selectbox(key="chosen_conflict").value == "CF-2"  # the notice email's link
    assert at.get("vega_lite_chart")
    at.text_area[0].input("On it")
    at.button[0].click().run()  # Acknowledge
    assert not at.exception, at.exception
    assert "Conflict CF-2 acknowledged." in " ".join(s.value for s in at.success)
    [change] = conflicts.history(parties["ukpn"], "CF-2")
    assert (change["state"], change["note"], change["by"]) == (
        "acknowledged",
        "On it",
        parties["ukpn"].display_name,
    )
    inbox = _run_page(session_token(parties["ukpn"]), page=INBOX_PAGE).dataframe[0].value
    assert sorted(inbox["severity"]) == ["high", "medium"]  # both notices, on the Inbox page


def test_page_shows_a_provider_only_its_assets_conflicts(parties, lake_paths):
    at = _run_page(session_token(parties["flex_b"]))
    assert _table_ids(at) == ["CF-3"]
    at = _run_page(session_token(parties["flex_c"]))
    assert not at.dataframe
    assert "No conflict involves your organisation" in " ".join(i.value for i in at.info)
    analyst = make_principal("Research Co", Role.ANALYST)
    at = _run_page(session_token(analyst))
    assert "not available for your role" in at.error[0].value
    at = _run_page(None)
    assert "Please sign in" in at.info[0].value


def test_page_explains_a_missing_warehouse(lake_paths):
    db.dispose_all()
    reset_db_registry()
    at = _run_page(
        session_token(make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"))
    )
    assert "has not been built" in at.warning[0].value
    db.dispose_all()


# -- Dagster ----------------------------------------------------------------------------------------
def test_the_dagster_asset_notifies_and_runs_after_each_publish(parties, lake_paths):
    import dagster as dg

    from pipelines.defs.conflicts.assets import conflict_notifications, notify_after_publish
    from pipelines.defs.warehouse.assets import published_warehouse

    result = dg.materialize([conflict_notifications])
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["notices_created"].value == 6
    assert len(_notices()) == 6
    assert notify_after_publish.asset_key == published_warehouse.key


# -- the demo, end to end ---------------------------------------------------------------------------
@pytest.mark.slow
def test_planted_demo_conflicts_reach_every_party_once_and_are_listed(
    tmp_path_factory, tmp_path, monkeypatch
):
    from tests.test_conflicts_mart import _matches, _planted, built_demo_lake

    built = built_demo_lake(tmp_path_factory)
    # A copy of its registry and publish: the built lake is shared (or given) and only read.
    lake = LakePaths(tmp_path / "lake")
    lake.serving_db.parent.mkdir(parents=True)
    lake.generated.mkdir(parents=True)
    shutil.copyfile(built.serving_db, lake.serving_db)
    shutil.copyfile(built.generated / "planted_conflicts.csv", lake.generated / "planted_conflicts.csv")
    source = sqlite3.connect(built.registry_db)  # the backup API also takes what is still in the WAL
    with sqlite3.connect(lake.registry_db) as target:
        source.backup(target)
    source.close()
    monkeypatch.setenv("SFE_LAKE_DIR", str(lake.root))
    db.dispose_all()
    reset_db_registry()
    try:
        planted = _planted(lake)
        con = duckdb.connect(str(lake.serving_db), read_only=True)
        cursor = con.execute("select * from mart_market_conflicts")
        names = [d[0] for d in cursor.description]
        mart = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        con.close()
        found = {p["conflict_id"]: next(c for c in mart if _matches(c, p)) for p in planted}

        # Every system operator of the demo signs up; the demo's providers get an active user each.
        operators = sorted({p["so_a"] for p in planted} | {p["so_b"] for p in planted})
        so = {op: make_principal(f"SO {op}", Role.SYSTEM_OPERATOR, operator_id=op) for op in operators}
        with db.session() as s:
            providers = list(s.scalars(select(Organisation.name).where(Organisation.kind == "fsp")))
        fsp = {name: make_principal(name, Role.FSP) for name in providers}
        by_org_id = {p.organisation_id: p for p in [*so.values(), *fsp.values()]}
        with db.session() as s:
            owner_of = {
                ref: org for ref, org in s.execute(select(Asset.registry_asset_id, Asset.organisation_id))
            }
            group_owner = {g: org for g, org in s.execute(select(AssetGroup.id, AssetGroup.organisation_id))}

        conflicts.notify_new_conflicts()
        conflicts.notify_new_conflicts()
        notices = {}
        for n in _notices():
            notices.setdefault(n.conflict_id, []).append(n.organisation_id)
        outbox = mail.outbox_messages(limit=10_000)
        registered_seen = 0
        for p in planted:
            c = found[p["conflict_id"]]
            expected = {so[p["so_a"]].organisation_id, so[p["so_b"]].organisation_id}
            if c["registry_asset_id"]:
                registered_seen += 1
                expected.add(owner_of[c["registry_asset_id"]])
            for g in (c["registry_group_ids"] or "").split(","):
                if g.strip():
                    expected.add(group_owner[int(g)])
            got = notices.get(c["conflict_id"], [])
            assert sorted(got) == sorted(expected), (p["conflict_id"], c["conflict_id"])  # exactly once each
            for org_id in expected:
                emails = [
                    m for m in outbox if c["conflict_id"] in m.subject and by_org_id[org_id].email in m.to
                ]
                assert len(emails) == 1, (c["conflict_id"], org_id)
        assert registered_seen, "the demo must have a planted conflict on a registered asset"

        # The page lists them: each SO sees its planted conflicts, an admin all of them.
        admin = make_principal("SFE", Role.ADMIN)
        at = _run_page(session_token(admin))
        at.multiselect(key="f_state").set_value(list(conflicts.STATES)).run()
        listed = set(at.dataframe[0].value["Conflict"])
        assert {c["conflict_id"] for c in found.values()} <= listed
        for op, principal in so.items():
            at = _run_page(session_token(principal))
            listed = set(at.dataframe[0].value["Conflict"])
            mine = {found[p["conflict_id"]]["conflict_id"] for p in planted if op in (p["so_a"], p["so_b"])}
            assert mine <= listed, op
    finally:
        reset_db_registry()
        db.dispose_all()
