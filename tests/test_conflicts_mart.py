"""Market conflicts (UC11) and the secondary market (UC27) on a generated demo, against the generator's
ground truth: mart_market_conflicts finds exactly the planted conflicts (precision and recall 1),
conflict ids survive a rebuild, and DNO obligations follow the unit holding them after a resale.

One lakehouse is built for this module and tests/test_dispatch_rationale.py (``built_demo_lake``). Set
SFE_CONFLICTS_TEST_LAKE to a lake that was generated and built already (e.g. a copy of the full demo)
to check that one instead; it is only read.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from sfe import pipeline
from sfe.config import DBT_PROJECT_DIR, LakePaths
from sfe.generate import generate

pytestmark = pytest.mark.slow

# Small enough to build in a few minutes, large enough for planted conflicts of several kinds and resales.
DEMO = {"assets": 40, "days": 100, "start": date(2025, 9, 1), "seed": 7}
_built: dict[str, LakePaths] = {}


def built_demo_lake(tmp_path_factory: pytest.TempPathFactory) -> LakePaths:
    """The generated and built lake shared by the conflict and rationale tests (built once per session)."""
    if "lake" not in _built:
        given = os.environ.get("SFE_CONFLICTS_TEST_LAKE")
        if given:
            _built["lake"] = LakePaths(Path(given).resolve())
        else:
            from sfe.registry import db, demo_assets, snapshot

            root = tmp_path_factory.mktemp("conflicts") / "lake"
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("SFE_LAKE_DIR", str(root))
                paths = LakePaths(root)
                generate(paths, progress=False, **DEMO)
                # As on the demo: some FSPs register their assets (tying ids no source links) and groups.
                db.dispose_all()
                demo_assets.seed_demo_assets(paths)
                snapshot.write_snapshot(paths)
                db.dispose_all()
                pipeline.build()
            _built["lake"] = paths
    return _built["lake"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> LakePaths:
    return built_demo_lake(tmp_path_factory)


@pytest.fixture(scope="module")
def con(lake):
    connection = duckdb.connect(str(lake.serving_db), read_only=True)
    yield connection
    connection.close()


def _planted(lake: LakePaths) -> list[dict]:
    with open(lake.generated / "planted_conflicts.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _conflicts(con) -> list[dict]:
    cursor = con.execute("select * from mart_market_conflicts order by conflict_id")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _side_matches(conflict: dict, side: str, asset_ref: str, activity: str, ref: str, start, end) -> bool:
    """Does side a/b of a mart row describe the planted activity? UKPN publishes no dispatch id, and a
    dispatch published half hour by half hour is one activity in the mart: the planted row must lie in it."""
    if conflict[f"source_asset_ref_{side}"] != asset_ref or conflict[f"activity_type_{side}"] != activity:
        return False
    if activity == "ukpn_dispatch":
        return conflict[f"start_{side}_utc"] <= start and end <= conflict[f"end_{side}_utc"]
    return conflict[f"source_ref_{side}"] == ref


def _matches(conflict: dict, planted: dict) -> bool:
    a = (planted["asset_ref_a"], planted["activity_a"], planted["ref_a"],
         _utc(planted["start_a_utc"]), _utc(planted["end_a_utc"]))  # fmt: skip
    b = (planted["asset_ref_b"], planted["activity_b"], planted["ref_b"],
         _utc(planted["start_b_utc"]), _utc(planted["end_b_utc"]))  # fmt: skip
    sides = (_side_matches(conflict, "a", *a) and _side_matches(conflict, "b", *b)) or (
        _side_matches(conflict, "a", *b) and _side_matches(conflict, "b", *a)
    )
    overlap_holds = (
        conflict["overlap_start_utc"] <= _utc(planted["overlap_start_utc"])
        and _utc(planted["overlap_end_utc"]) <= conflict["overlap_end_utc"]
    )
    return sides and overlap_holds


def test_planted_conflicts_are_found_with_precision_and_recall_one(lake, con):
    planted = _planted(lake)
    assert len(planted) >= 5, "the demo must plant conflicts for this test to mean anything"
    conflicts = _conflicts(con)
    matches = {p["conflict_id"]: [c["conflict_id"] for c in conflicts if _matches(c, p)] for p in planted}
    missed = [p for p in planted if not matches[p["conflict_id"]]]
    assert not missed, f"planted conflicts not found (recall < 1): {missed}"
    assert all(len(found) == 1 for found in matches.values()), f"a planted conflict reported twice: {matches}"
    matched = {cid for found in matches.values() for cid in found}
    extra = [c for c in conflicts if c["conflict_id"] not in matched]
    assert not extra, f"conflicts the generator did not plant (precision < 1): {extra}"
    assert len(conflicts) == len(planted)


def test_planted_conflicts_carry_severity_parties_and_explanation(lake, con):
    by_id = {c["conflict_id"]: c for c in _conflicts(con)}
    for planted in _planted(lake):
        conflict = next(c for c in by_id.values() if _matches(c, planted))
        both_dispatched = planted["activity_a"] == "neso_instruction"  # the DNO side is always a dispatch
        assert conflict["severity"] == ("high" if both_dispatched else "medium"), (planted, conflict)
        assert conflict["conflict_kind"] == "cross_so_overlap"
        assert {conflict["operator_id_a"], conflict["operator_id_b"]} == {planted["so_a"], planted["so_b"]}
        assert {conflict["market_id_a"], conflict["market_id_b"]} == {
            planted["market_a"],
            planted["market_b"],
        }
        assert conflict["participant_id_a"] and conflict["participant_id_b"]  # the FSPs to notify
        assert conflict["overlap_minutes"] > 0 and conflict["overlap_start_utc"] < conflict["overlap_end_utc"]
        assert (
            planted["asset_ref_b"] in conflict["explanation"] or planted["ref_b"] in conflict["explanation"]
        )
        assert conflict["conflict_id"].startswith("CF-")


def test_conflicts_are_on_one_physical_asset(lake, con):
    """Both sides' unit references belong to the asset of the row, which is the planted fleet asset."""
    with open(lake.generated / "fleet.csv", newline="", encoding="utf-8") as fh:
        fleet = {row["asset_id"]: row for row in csv.DictReader(fh)}
    bridge = dict(con.execute("select source_asset_ref, asset_id from bridge_asset_source_id").fetchall())
    for planted in _planted(lake):
        truth = fleet[planted["asset_id"]]
        assert planted["asset_ref_a"] == truth["eac_unit_name"]
        assert bridge[planted["asset_ref_a"]] == bridge[planted["asset_ref_b"]]
    for conflict in _conflicts(con):
        assert bridge[conflict["source_asset_ref_a"]] == conflict["asset_id"]
        assert bridge[conflict["source_asset_ref_b"]] == conflict["asset_id"]


def test_conflicts_of_registered_assets_name_their_current_groups(lake, con):
    members = con.execute(
        """
        select a.asset_id, list(m.group_id order by m.group_id)
        from dim_asset as a
        join staging.stg_registry__asset_group_memberships as m
            on a.registry_asset_id = m.registry_asset_id and m.valid_to_utc is null
        group by a.asset_id
        """
    ).fetchall()
    groups_of = {asset_id: ", ".join(str(g) for g in group_ids) for asset_id, group_ids in members}
    conflicts = _conflicts(con)
    registered = dict(con.execute("select asset_id, registry_asset_id from dim_asset").fetchall())
    for conflict in conflicts:
        assert conflict["registry_asset_id"] == registered[conflict["asset_id"]]
        assert conflict["registry_group_ids"] == groups_of.get(conflict["asset_id"]), conflict
    if not os.environ.get("SFE_CONFLICTS_TEST_LAKE"):
        assert any(c["registry_group_ids"] for c in conflicts), "the demo must have a conflict in a group"


def test_conflict_ids_are_stable_across_rebuilds(lake, con, tmp_path):
    if os.environ.get("SFE_CONFLICTS_TEST_LAKE"):
        pytest.skip("a given lake is only read")
    before = {c["conflict_id"] for c in _conflicts(con)}
    models = ["fct_resale", "int_obligation_holders", "int_obligation_holders_daily", "int_conflict_activities",
              "int_conflict_stacking_rules", "mart_market_conflicts"]  # fmt: skip
    # dbt in its own process, as the pipeline runs it: it holds build.duckdb open for writing.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "run", "--select", *models,
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        env={**os.environ, "SFE_LAKE_DIR": str(lake.root)},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    rebuilt = duckdb.connect(str(lake.build_db), read_only=True)
    try:
        after = {
            row[0] for row in rebuilt.execute("select conflict_id from mart_market_conflicts").fetchall()
        }
    finally:
        rebuilt.close()
    assert after == before and before


def test_dno_obligations_follow_the_unit_holding_them(lake, con):
    """Every resale in the workbooks moves the obligation to the buyer's unit for its period; DNO
    instructions name the holder, and the warehouse's holder agrees with them."""
    resales = con.execute(
        "select resale_id, original_bid_id, seller_source_asset_ref, buyer_source_asset_ref, start_utc, end_utc, "
        "resale_issue from fct_resale"
    ).fetchall()
    assert resales, "the demo must contain resales for this test to mean anything"
    for resale_id, bid, seller, buyer, start, end, issue in resales:
        assert issue is None, resale_id
        holders = con.execute(
            "select holder_source_asset_ref, window_start_utc >= ? and window_start_utc < ? "
            "from intermediate.int_obligation_holders_daily where obligation_id = ?",
            [start, end, bid],
        ).fetchall()
        during = {ref for ref, inside in holders if inside}
        outside = {ref for ref, inside in holders if not inside}
        assert during == {buyer}, (resale_id, during)
        assert outside <= {seller}, (resale_id, outside)
    # The DNOs instruct the holder: each DNO instruction's unit holds the contract in that window.
    mismatched = con.execute(
        """
        select d.dispatch_id
        from fct_dispatch as d
        left join intermediate.int_obligation_holders_daily as h
            on h.obligation_id = d.contract_ref
            and h.holder_source_asset_ref = d.source_asset_ref
            and d.start_utc >= h.window_start_utc and d.end_utc <= h.window_end_utc
        where d.source_id = 'so_dispatch_instructions' and d.operator_id <> 'neso' and h.obligation_id is null
        """
    ).fetchall()
    assert not mismatched
    resold = con.execute(
        "select count(*) from fct_dispatch d join fct_resale r on d.contract_ref = r.original_bid_id "
        "and d.start_utc >= r.start_utc and d.start_utc < r.end_utc and d.source_asset_ref = r.buyer_source_asset_ref"
    ).fetchone()[0]
    assert resold > 0, "a resold contract must have been instructed on the buyer's unit"
