"""Forbidden-stacking rules reach the warehouse: the registry snapshot's product_stacking_rules table (rules
store -> raw/registry/product_stacking_rules.parquet) and, in the slow test, mart_market_conflicts."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from sfe.registry import db, snapshot
from sfe.registry_schema import SCHEMAS, check_table, snapshot_path
from sfe.rules import store

from .rules_fixtures import build_world


@pytest.fixture
def world(lake_paths):
    db.dispose_all()
    yield build_world()
    db.dispose_all()


def _rows(paths) -> list[dict]:
    data = pq.read_table(snapshot_path("product_stacking_rules", paths))
    check_table("product_stacking_rules", data)
    return sorted(data.to_pylist(), key=lambda r: (r["rule_id"], r["other_product_id"] or ""))


def test_no_rules_still_writes_the_file_with_the_contract_columns(world, lake_paths):
    assert snapshot.write_snapshot(lake_paths)["product_stacking_rules"] == 0
    data = pq.read_table(snapshot_path("product_stacking_rules", lake_paths))
    assert data.num_rows == 0 and data.schema.names == SCHEMAS["product_stacking_rules"].names


def test_forbidding_rules_are_exported_one_row_per_other_product_in_their_current_version(world, lake_paths):
    with db.session() as s:
        exclusive = store.create_rule(
            s,
            world["ukpn"],
            "ukpn_secure_west",
            "exclusivity",
            "Not with Sustain or Peak Reduction",
            "block",
            {"products": ["ukpn_sustain", "ukpn_peak_reduction"], "margin_min": 30},
            description="The same MW cannot relieve two constraints at once.",
            source_url="https://dso.ukpowernetworks.co.uk/flexibility",
        )
        any_other = store.create_rule(
            s, world["neso"], "neso_eac_dch", "stacking", "No stacking", "notify", {"allowed": False}
        )
        store.create_rule(  # allowed stacking only caps MW at capacity: not a forbidding rule
            s,
            world["neso"],
            "neso_eac_dcl",
            "stacking",
            "Stack within capacity",
            "block",
            {"allowed": True, "with_products": ["neso_eac_dch"]},
        )
        retired = store.create_rule(
            s,
            world["ukpn"],
            "ukpn_secure_west",
            "exclusivity",
            "Old exclusivity",
            "block",
            {"products": ["ukpn_dynamic"]},
        )
        store.retire_rule(s, world["ukpn"], retired.id)
        store.create_rule(  # not a stacking kind
            s, world["ukpn"], "ukpn_secure_west", "min_capacity", "1 MW", "block", {"min_mw": 1}
        )
        store.set_mode(s, world["neso"], any_other.id, "block")  # version 2 is the one in force
        exclusive_id, any_other_id = exclusive.id, any_other.id

    assert snapshot.write_snapshot(lake_paths)["product_stacking_rules"] == 3
    rows = _rows(lake_paths)
    by_other = {(r["rule_id"], r["other_product_id"]): r for r in rows}
    assert set(by_other) == {
        (f"rule-{exclusive_id}", "ukpn_peak_reduction"),
        (f"rule-{exclusive_id}", "ukpn_sustain"),
        (f"rule-{any_other_id}", None),
    }
    sustain = by_other[(f"rule-{exclusive_id}", "ukpn_sustain")]
    assert sustain | {"updated_at_utc": None} == {
        "rule_id": f"rule-{exclusive_id}",
        "rule_name": "Not with Sustain or Peak Reduction",
        "rule_kind": "exclusivity",
        "product_id": "ukpn_secure_west",
        "other_product_id": "ukpn_sustain",
        "mode": "block",
        "margin_min": 30.0,
        "description": "The same MW cannot relieve two constraints at once.",
        "explanation": "ukpn_secure_west is exclusive with ukpn_sustain (with a 30 min margin before and "
        "after): an asset may not hold or deliver both at once. Why: The same MW cannot relieve two "
        "constraints at once.",
        "source_url": "https://dso.ukpowernetworks.co.uk/flexibility",
        "rule_version": 1,
        "updated_at_utc": None,
    }
    assert sustain["updated_at_utc"].tzinfo is not None
    assert sustain["updated_at_utc"] <= datetime.now(UTC)
    dch = by_other[(f"rule-{any_other_id}", None)]
    assert (dch["product_id"], dch["rule_kind"], dch["mode"], dch["rule_version"]) == (
        "neso_eac_dch",
        "stacking",
        "block",
        2,
    )
    assert dch["margin_min"] == 0.0 and dch["description"] is None
    assert dch["explanation"] == (
        "neso_eac_dch may not be stacked with any other product: an asset may not hold or deliver both at once."
    )


def test_allowing_the_stacking_removes_the_rule_at_the_next_snapshot(world, lake_paths):
    with db.session() as s:
        rule = store.create_rule(
            s,
            world["neso"],
            "neso_eac_dch",
            "stacking",
            "Not with DR high",
            "notify",
            {"allowed": False, "with_products": ["neso_eac_drh", "neso_eac_dch"]},
        )
        rule_id = rule.id
    snapshot.write_snapshot(lake_paths)
    # the rule's own product is never counted against itself (as in the engine)
    assert [(r["product_id"], r["other_product_id"]) for r in _rows(lake_paths)] == [
        ("neso_eac_dch", "neso_eac_drh")
    ]
    with db.session() as s:
        store.update_rule(
            s, world["neso"], rule_id, params={"allowed": True, "with_products": ["neso_eac_drh"]}
        )
    snapshot.write_snapshot(lake_paths)
    assert _rows(lake_paths) == []


# -- into mart_market_conflicts ----------------------------------------------------------------------
def _query(paths, sql: str, params=None) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(paths.serving_db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_a_forbidden_stacking_rule_makes_conflicts_until_the_so_allows_the_stacking(lake_paths):
    """The issue's UC11 "stacking that a rule forbids": NESO forbids holding Positive and Negative Quick
    Reserve at once (block) -> the build reports each overlapping pair as forbidden_stacking naming the
    rule and its mode; NESO allows the stacking -> the next build reports none."""
    from datetime import date

    from sfe import pipeline
    from sfe.generate import generate

    from .registry_helpers import make_principal

    generate(lake_paths, assets=40, days=20, start=date(2025, 9, 1), seed=7, progress=False)
    db.dispose_all()
    neso = make_principal("NESO", "system_operator", operator_id="neso")
    with db.session() as s:
        rule = store.create_rule(
            s,
            neso,
            "neso_eac_pqr",
            "stacking",
            "Quick Reserve: one direction at a time",
            "block",
            {"allowed": False, "with_products": ["neso_eac_nqr"]},
            description="A unit cannot hold headroom and footroom for Quick Reserve at once",
        )
        rule_pk = rule.id
    rule_id = f"rule-{rule_pk}"
    pipeline.build()

    # What the mart must find, from its own input: every pair of overlapping PQR / NQR activities of one
    # asset (EAC commitments; no dispatch shares their engagements).
    expected = set(
        _query(
            lake_paths,
            "select a.activity_key, b.activity_key from intermediate.int_conflict_activities a "
            "join intermediate.int_conflict_activities b on a.asset_id = b.asset_id "
            "and a.engagement_key < b.engagement_key and a.start_utc < b.end_utc and b.start_utc < a.end_utc "
            "and least(a.product_id, b.product_id) = 'neso_eac_nqr' "
            "and greatest(a.product_id, b.product_id) = 'neso_eac_pqr' and a.operator_id = b.operator_id",
        )
    )
    assert expected, "the generated lake must hold overlapping PQR and NQR commitments of one unit"
    found = _query(
        lake_paths,
        "select activity_key_a, activity_key_b, detected_rule_id, detected_rule_name, detected_rule_mode, "
        "detected_rule_source, severity, explanation, least(product_id_a, product_id_b), "
        "greatest(product_id_a, product_id_b) from mart_market_conflicts where conflict_kind = 'forbidden_stacking'",
    )
    assert {(r[0], r[1]) for r in found} == expected
    for row in found:
        assert row[2:7] == (
            rule_id,
            "Quick Reserve: one direction at a time",
            "block",
            "registry",
            "medium",  # two commitments (low), raised one level by a block-mode rule
        )
        assert (
            "Quick Reserve: one direction at a time: neso_eac_pqr may not be stacked with neso_eac_nqr"
            in row[7]
        )
        assert "Why: A unit cannot hold headroom and footroom for Quick Reserve at once." in row[7]
        assert row[8:] == ("neso_eac_nqr", "neso_eac_pqr")

    with db.session() as s:
        store.update_rule(
            s,
            neso,
            rule_pk,
            params={"allowed": True, "with_products": ["neso_eac_nqr"]},
            change_note="allowed",
        )
    pipeline.build_warehouse()
    assert _query(
        lake_paths, "select count(*) from mart_market_conflicts where conflict_kind = 'forbidden_stacking'"
    ) == [(0,)]
    assert _query(
        lake_paths, "select count(*) from mart_market_conflicts where detected_rule_id = ?", [rule_id]
    ) == [(0,)]
    db.dispose_all()
