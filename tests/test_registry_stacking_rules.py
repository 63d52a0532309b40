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
