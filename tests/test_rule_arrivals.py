"""Rules judged when commitments and dispatches arrive (UC5), on a real SQLite registry and a real
published DuckDB: each new activity of a registered asset is judged once by its product's rules, a
broken rule is one breach whose explanation names the rule, the asset's organisation and the
product's SO get one notice each (inbox + email), and a rerun or a rebuild judges and notifies
nothing again while a newly arrived activity is judged. Also the Dagster asset after publish, the
breaches on the control-room page (with CSV), and who sees which breach."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from sfe import notices
from sfe.registry import db, mail
from sfe.registry.access import Role
from sfe.registry.models_notices import Notice
from sfe.registry.models_rules import RuleArrivalCheck, RuleBreach
from sfe.rules import arrivals, store
from sfe.serving import reset_db_registry
from tests.identity_helpers import session_token
from tests.registry_helpers import make_principal

from .rules_fixtures import build_world

PAGE = Path(__file__).resolve().parents[1] / "dashboards" / "pages" / "conflicts.py"

# Activities as the warehouse publishes them (int_conflict_activities) on AST-1 = REG-000001, the
# Ealing battery of Acme Flex, and AST-9 (not registered: never judged).
#   D1, D2: UKPN dispatches in ukpn_secure_west 30 min apart -> D2 breaks the 2 h minimum gap (block)
#   D3: a UKPN dispatch hours later -> fine
#   C1, C2: overlapping NESO EAC commitments in neso_eac_dch -> C2 breaks "one at a time" (notify)
ROWS = [
    ("D1", "ukpn_dispatch", "dispatch", "AST-1", "ukpn", "ukpn_flex", "ukpn_secure_west", "10:00", "10:30"),
    ("D2", "ukpn_dispatch", "dispatch", "AST-1", "ukpn", "ukpn_flex", "ukpn_secure_west", "11:00", "11:30"),
    ("D3", "ukpn_dispatch", "dispatch", "AST-1", "ukpn", "ukpn_flex", "ukpn_secure_west", "18:00", "18:30"),
    ("C1", "eac_commitment", "commitment", "AST-1", "neso", "neso_eac", "neso_eac_dch", "00:00", "04:00"),
    ("C2", "eac_commitment", "commitment", "AST-1", "neso", "neso_eac", "neso_eac_dch", "02:00", "06:00"),
    ("X1", "ukpn_dispatch", "dispatch", "AST-9", "ukpn", "ukpn_flex", "ukpn_secure_west", "11:00", "11:30"),
]
# Arrives with a later build: 10 min after D3.
LATE = ("D4", "ukpn_dispatch", "dispatch", "AST-1", "ukpn", "ukpn_flex", "ukpn_secure_west", "18:40", "19:00")


def publish(paths, rows) -> None:
    """Write a published warehouse holding ``rows`` (a rebuild writes a new file, as publish does)."""
    reset_db_registry()
    paths.serving_db.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.serving_db.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    con.execute("CREATE SCHEMA main_intermediate")
    con.execute(
        "CREATE TABLE main_intermediate.int_conflict_activities (activity_key VARCHAR, activity_type VARCHAR, "
        "activity_class VARCHAR, asset_id VARCHAR, source_asset_ref VARCHAR, participant_id VARCHAR, "
        "operator_id VARCHAR, market_id VARCHAR, product_id VARCHAR, direction VARCHAR, source_ref VARCHAR, "
        "engagement_key VARCHAR, start_utc TIMESTAMPTZ, end_utc TIMESTAMPTZ, power_mw DOUBLE, source_id VARCHAR)"
    )
    for ref, typ, cls, asset, operator, market, product, start, end in rows:
        con.execute(
            "INSERT INTO main_intermediate.int_conflict_activities VALUES ($key, $typ, $cls, $asset, $asset, "
            "'P1', $op, $market, $product, 'up', $ref, $ref, CAST($start AS TIMESTAMPTZ), "
            "CAST($end AS TIMESTAMPTZ), 1.0, 'test')",
            {
                "key": f"{typ}|{asset}|{ref}|2025-06-02 {start}",
                "typ": typ,
                "cls": cls,
                "asset": asset,
                "op": operator,
                "market": market,
                "product": product,
                "ref": ref,
                "start": f"2025-06-02 {start}:00+00",
                "end": f"2025-06-02 {end}:00+00",
            },
        )
    con.execute(
        "CREATE TABLE main.dim_asset AS SELECT * FROM (VALUES ('AST-1', 'REG-000001', 'LPN'), "
        "('AST-9', NULL, 'LPN')) AS t(asset_id, registry_asset_id, dno_area)"
    )
    con.close()
    tmp.replace(paths.serving_db)
    reset_db_registry()


@pytest.fixture
def world(lake_paths):
    db.dispose_all()
    reset_db_registry()
    built = build_world()
    with db.session() as s:
        store.create_rule(
            s,
            built["ukpn"],
            "ukpn_secure_west",
            "min_gap",
            "Two hours' recovery",
            "block",
            {"min_gap_min": 120, "scope": "this_product"},
        )
        store.create_rule(
            s,
            built["neso"],
            "neso_eac_dch",
            "max_concurrent",
            "One EAC at a time",
            "notify",
            {"max_commitments": 1},
        )
    publish(lake_paths, ROWS)
    yield built
    reset_db_registry()
    db.dispose_all()


def _notices() -> list[Notice]:
    with db.session() as s:
        return list(s.scalars(select(Notice).order_by(Notice.id)))


def _breaches() -> list[RuleBreach]:
    with db.session() as s:
        return list(s.scalars(select(RuleBreach).order_by(RuleBreach.id)))


def test_each_breach_is_recorded_once_and_each_party_told_once(world, lake_paths):
    result = arrivals.judge_new_arrivals()
    assert (result.arrivals, result.breaches, result.notices_created, result.emails_sent) == (5, 2, 4, 4)

    gap, concurrent = sorted(_breaches(), key=lambda b: b.rule_kind, reverse=True)
    assert (gap.rule_kind, gap.rule_mode, gap.severity, gap.product_id) == (
        "min_gap",
        "block",
        "high",
        "ukpn_secure_west",
    )
    assert "Rule 'Two hours' recovery'" in gap.explanation
    assert "starts 30 min after dispatched 1 MW in ukpn_secure_west 2025-06-02 10:00" in gap.explanation
    assert (concurrent.rule_kind, concurrent.severity) == ("max_concurrent", "medium")
    assert "Rule 'One EAC at a time'" in concurrent.explanation
    with db.session() as s:
        breached = {c.source_ref for c in s.scalars(select(RuleArrivalCheck)) if c.decision != "allowed"}
        judged = s.scalar(select(func.count()).select_from(RuleArrivalCheck))
    assert breached == {"D2", "C2"}  # the later activity breaks the limit: one breach per incident
    assert judged == 5  # AST-9 is not registered

    told = {(n.topic_key, n.organisation_id, n.reason) for n in _notices()}
    org = {name: world[name].organisation_id for name in ("fsp", "ukpn", "neso")}
    assert told == {
        (f"breach-{gap.id}", org["fsp"], "asset_owner"),
        (f"breach-{gap.id}", org["ukpn"], "product_operator"),
        (f"breach-{concurrent.id}", org["fsp"], "asset_owner"),
        (f"breach-{concurrent.id}", org["neso"], "product_operator"),
    }
    emails = mail.outbox_messages()
    assert len(emails) == 4
    gap_mail = next(m for m in emails if "Two hours' recovery" in m.subject and world["ukpn"].email in m.to)
    assert "REG-000001" in gap_mail.subject and "high" in gap_mail.text
    assert any(f"breach={gap.id}" in link for link in gap_mail.links)

    again = arrivals.judge_new_arrivals()
    assert (again.arrivals, again.breaches, again.notices_created, again.emails_sent) == (0, 0, 0, 0)
    assert len(mail.outbox_messages()) == 4


def test_a_rebuild_judges_only_what_newly_arrived(world, lake_paths):
    arrivals.judge_new_arrivals()
    publish(lake_paths, ROWS)  # the same data rebuilt
    assert arrivals.judge_new_arrivals().arrivals == 0
    publish(lake_paths, [*ROWS, LATE])
    later = arrivals.judge_new_arrivals()
    assert (later.arrivals, later.breaches, later.notices_created) == (1, 1, 2)
    newest = _breaches()[-1]
    assert "starts 10 min after" in newest.explanation and "18:00" in newest.explanation
    assert len(_notices()) == 6


def test_concurrent_runs_judge_and_notify_once(world, lake_paths):
    errors = []

    def run():
        try:
            arrivals.judge_new_arrivals()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(_breaches()) == 2
    assert len(_notices()) == 4
    assert len(mail.outbox_messages()) == 4


def test_each_party_sees_its_breaches_only(world, lake_paths):
    arrivals.judge_new_arrivals()

    def seen(who):
        return sorted(arrivals.visible_breaches(world[who]).get_column("rule_name").to_list())

    assert seen("fsp") == ["One EAC at a time", "Two hours' recovery"]
    assert seen("ukpn") == ["Two hours' recovery"]
    assert seen("neso") == ["One EAC at a time"]
    assert seen("nged") == [] and seen("other_fsp") == []
    assert len(seen("admin")) == 2
    inbox = notices.inbox(world["ukpn"])
    assert [i.topic for i in inbox] == ["rule_breach"]
    notices.mark_read(world["ukpn"], "rule_breach", inbox[0].notice_id)
    with pytest.raises(notices.NotFound):
        notices.mark_read(world["nged"], "rule_breach", inbox[0].notice_id)
    assert notices.inbox(world["ukpn"])[0].read_at is not None


def test_the_dagster_asset_judges_after_each_publish(world, lake_paths):
    import dagster as dg

    from pipelines.defs.rules.assets import rule_arrival_verdicts
    from pipelines.defs.warehouse.assets import published_warehouse

    result = dg.materialize([rule_arrival_verdicts])
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["breaches"].value == 2
    assert event.materialization.metadata["notices_created"].value == 4
    assert published_warehouse.key in rule_arrival_verdicts.dependency_keys
    from pipelines.definitions import defs

    job = defs.resolve_job_def("conflict_notifications_job")  # the after-publish job of the sensor
    assert rule_arrival_verdicts.key in job.asset_layer.selected_asset_keys


def _run_page(token: str) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["sfe_session_token"] = token
    at.run()
    assert not at.exception, at.exception
    return at


def _inbox(token: str):
    """The table on the Inbox page for the holder of ``token``."""
    at = AppTest.from_file(str(PAGE.with_name("inbox.py")), default_timeout=60)
    at.session_state["sfe_session_token"] = token
    at.run()
    assert not at.exception, at.exception
    return at.dataframe[0].value


def test_the_control_room_lists_breaches_with_csv(world, lake_paths):
    arrivals.judge_new_arrivals()
    at = _run_page(session_token(world["ukpn"]))
    # No conflicts are published here: the conflicts tab says so, breaches still show.
    assert "mart_market_conflicts" in at.warning[0].value
    [breaches] = (d.value for d in at.dataframe)
    assert list(breaches["Rule broken"]) == ["Two hours' recovery"]
    assert list(breaches["Severity"]) == ["high"] and list(breaches["Reference"]) == ["D2"]
    assert [b.proto.label for b in at.get("download_button")] == ["Download these breaches (CSV)"]
    assert list(_inbox(session_token(world["ukpn"]))["about"]) == ["Rule breach"]

    colleague = make_principal("Acme Flex", Role.FSP)  # the provider's users see its breaches
    [breaches] = (d.value for d in _run_page(session_token(colleague)).dataframe)
    assert sorted(breaches["Rule broken"]) == ["One EAC at a time", "Two hours' recovery"]
    assert len(_inbox(session_token(colleague))) == 2

    at = _run_page(session_token(world["other_fsp"]))
    assert not at.dataframe
    assert "No rule breach yet." in " ".join(i.value for i in at.info)


def test_a_rule_about_the_asset_itself_is_reported_once_not_per_activity(world, lake_paths):
    with db.session() as s:
        store.create_rule(
            s,
            world["ukpn"],
            "ukpn_secure_west",
            "technology",
            "No batteries",
            "notify",
            {"excluded_types": ["battery"]},
        )
    arrivals.judge_new_arrivals()
    technology = [b for b in _breaches() if b.rule_kind == "technology"]
    assert len(technology) == 1  # D1, D2 and D3 all break it: one breach
    assert "Rule 'No batteries'" in technology[0].explanation and "battery" in technology[0].explanation
    publish(lake_paths, [*ROWS, LATE])
    later = arrivals.judge_new_arrivals()
    assert later.breaches == 1  # D4's minimum gap only
    assert len([b for b in _breaches() if b.rule_kind == "technology"]) == 1


def test_the_product_rules_page_shows_the_products_breaches(world, lake_paths):
    arrivals.judge_new_arrivals()
    page = Path(__file__).resolve().parents[1] / "dashboards" / "pages" / "product_rules.py"
    at = AppTest.from_file(str(page), default_timeout=60)
    at.session_state["sfe_session_token"] = session_token(world["ukpn"])
    at.run()
    at.selectbox(key="rules_product").set_value("ukpn_secure_west").run()
    assert not at.exception, at.exception
    per_rule = next(d.value for d in at.dataframe if "Breaches" in d.value.columns)
    assert list(zip(per_rule["Rule"], per_rule["Breaches"], strict=True)) == [("Two hours' recovery", 1)]
    assert "Download these breaches (CSV)" in [b.proto.label for b in at.get("download_button")]


def test_cli_judges_arrivals_on_demand(world, lake_paths):
    from click.testing import CliRunner

    from sfe.cli import main as cli

    first = CliRunner().invoke(cli, ["rules", "judge-arrivals"])
    assert first.exit_code == 0, first.output
    assert "5 new commitments/dispatches judged: 2 breaches, 4 new notices" in first.output
    again = CliRunner().invoke(cli, ["rules", "judge-arrivals"])
    assert "0 new commitments/dispatches judged: 0 breaches, 0 new notices" in again.output


def test_cli_says_when_nothing_is_published(lake_paths):
    from click.testing import CliRunner

    from sfe.cli import main as cli

    result = CliRunner().invoke(cli, ["rules", "judge-arrivals"])
    assert result.exit_code != 0 and "make build" in result.output
