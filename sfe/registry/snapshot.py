"""The registry snapshot the warehouse reads: ``lake/raw/registry/<table>.parquet``.

The contract (tables, columns, types, atomic writes) is ``sfe.registry_schema``. What goes in is the
market-relevant registry data only: organisations (name, kind, operator), assets with their market
ids, groups with membership history, products, the taxonomy mapping overrides in force, and the
product rules that forbid stacking (for conflict detection). Never users, e-mail addresses, password
hashes, tokens, API keys, audit details or consultation answers.

Every table is read in one transaction, so the files describe one consistent state of the registry,
and every file is written on every run (a table with no rows gives a zero-row file).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from sfe.config import LakePaths, lake
from sfe.registry import db
from sfe.registry.models import (
    Asset,
    AssetGroup,
    AssetGroupMembership,
    Organisation,
    Product,
)
from sfe.registry.models_rules import ProductRule
from sfe.registry.taxonomy_admin import active_overrides
from sfe.registry_schema import SCHEMAS, TABLES, write_table
from sfe.rules.store import spec_of

# The rule kinds that forbid holding or delivering two products at once (stacking with allowed = true
# only caps the stacked MW at the asset's capacity, which the engine checks when an action arrives).
STACKING_RULE_KINDS = ("exclusivity", "stacking")


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = SCHEMAS[name]
    return pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()


def _stacking_rule_explanation(
    kind: str, product_id: str, other_product_id: str | None, margin_min: float, description: str | None
) -> str:
    other = other_product_id or "any other product"
    if kind == "exclusivity":
        margin = f" (with a {margin_min:g} min margin before and after)" if margin_min else ""
        text = (
            f"{product_id} is exclusive with {other}{margin}: an asset may not hold or deliver both at once."
        )
    else:
        text = f"{product_id} may not be stacked with {other}: an asset may not hold or deliver both at once."
    if description:
        text += f" Why: {description.strip().rstrip('.')}."
    return text


def stacking_rule_rows(s: Session) -> list[dict[str, Any]]:
    """The active rules that forbid stacking, one row per rule and other product it names.

    Exclusivity names its products (a product exclusive with itself is refused by the rules store);
    stacking with allowed = false names ``with_products`` or, when empty, any other product (one row,
    other_product_id None). A stacking rule naming its own product is left out: the engine never counts
    a product against itself. ProductRule holds each rule's current version; older versions and retired
    rules are history, not in force.
    """
    rows = []
    rules = s.scalars(
        select(ProductRule)
        .where(ProductRule.active.is_(True), ProductRule.kind.in_(STACKING_RULE_KINDS))
        .order_by(ProductRule.id)
    )
    for rule in rules:
        spec = spec_of(rule)
        if spec.kind == "exclusivity":
            others: list[str | None] = list(spec.params.get("products") or [])
            margin_min = float(spec.params.get("margin_min") or 0)
        elif spec.params.get("allowed") is False:
            others = list(spec.params.get("with_products") or []) or [None]
            margin_min = 0.0
        else:
            continue
        for other in others:
            if other == rule.product_id:
                continue
            rows.append(
                {
                    "rule_id": spec.rule_id,
                    "rule_name": spec.name,
                    "rule_kind": spec.kind,
                    "product_id": rule.product_id,
                    "other_product_id": other,
                    "mode": spec.mode,
                    "margin_min": margin_min,
                    "description": spec.description,
                    "explanation": _stacking_rule_explanation(
                        spec.kind, rule.product_id, other, margin_min, spec.description
                    ),
                    "source_url": spec.source_url,
                    "rule_version": spec.version,
                    "updated_at_utc": rule.updated_at,
                }
            )
    return rows


def snapshot_tables(s: Session) -> dict[str, pa.Table]:
    """Every snapshot table, read in the session's transaction."""
    org_names = {}
    organisations = []
    for org in s.scalars(select(Organisation).order_by(Organisation.id)):
        org_names[org.id] = org.name
        organisations.append(
            {
                "organisation_id": org.id,
                "organisation_name": org.name,
                "organisation_kind": org.kind,
                "operator_id": org.operator_id,
            }
        )
    assets, market_ids = [], []
    registry_ids: dict[int, str] = {}
    for asset in s.scalars(select(Asset).options(selectinload(Asset.market_ids)).order_by(Asset.id)):
        if asset.registry_asset_id is None:  # not possible after a committed registration
            continue
        registry_ids[asset.id] = asset.registry_asset_id
        assets.append(
            {
                "registry_asset_id": asset.registry_asset_id,
                "organisation_id": asset.organisation_id,
                "organisation_name": org_names.get(asset.organisation_id),
                "asset_name": asset.name,
                "asset_type": asset.asset_type,
                "capacity_mw": asset.capacity_mw,
                "energy_mwh": asset.energy_mwh,
                "postcode": asset.postcode,
                "latitude": asset.latitude,
                "longitude": asset.longitude,
                "mpan": asset.mpan,
                "gsp_group": asset.gsp_group,
                "dno_area": asset.dno_area,
                "flexibility_zone": asset.flexibility_zone,
                "registered_at_utc": asset.created_at,
                "updated_at_utc": asset.updated_at,
            }
        )
        market_ids.extend(
            {
                "registry_asset_id": asset.registry_asset_id,
                "ref_type": m.ref_type,
                "source_asset_ref": m.source_asset_ref,
            }
            for m in sorted(asset.market_ids, key=lambda m: (m.ref_type, m.source_asset_ref))
        )
    groups = [
        {"group_id": g.id, "organisation_id": g.organisation_id, "group_name": g.name}
        for g in s.scalars(select(AssetGroup).order_by(AssetGroup.id))
    ]
    memberships = [
        {
            "group_id": m.group_id,
            "registry_asset_id": registry_ids[m.asset_id],
            "valid_from_utc": m.valid_from,
            "valid_to_utc": m.valid_to,
        }
        for m in s.scalars(select(AssetGroupMembership).order_by(AssetGroupMembership.id))
        if m.asset_id in registry_ids
    ]
    products = [
        {
            "product_id": p.product_id,
            "organisation_id": p.organisation_id,
            "operator_id": p.operator_id,
            "market_id": p.market_id,
            "product_name": p.name,
            "service_type": p.service_type,
            "direction": p.direction,
            "standard_product": p.standard_product,
            "zones": json.dumps(list(p.zones or []), ensure_ascii=False),
            "min_size_mw": p.min_size_mw,
            "response_time_s": p.response_time_s,
            "min_duration_min": p.min_duration_min,
            "availability_price_gbp_per_mw_h": p.availability_price_gbp_per_mw_h,
            "utilisation_price_gbp_per_mwh": p.utilisation_price_gbp_per_mwh,
            "status": p.status,
            "live_from_utc": p.live_from,
            "retired_at_utc": p.retired_at,
        }
        for p in s.scalars(select(Product).order_by(Product.id))
    ]
    overrides = [
        {
            "source_id": o.source_id,
            "field": o.field,
            "source_value": o.source_value,
            "target_kind": o.target_kind,
            "target_value": o.target_value,
            "created_at_utc": o.created_at,
        }
        for o in active_overrides(s)
    ]
    tables = {
        "organisations": _table("organisations", organisations),
        "assets": _table("assets", assets),
        "asset_market_ids": _table("asset_market_ids", market_ids),
        "asset_groups": _table("asset_groups", groups),
        "asset_group_memberships": _table("asset_group_memberships", memberships),
        "products": _table("products", products),
        "taxonomy_mapping_overrides": _table("taxonomy_mapping_overrides", overrides),
        "product_stacking_rules": _table("product_stacking_rules", stacking_rule_rows(s)),
    }
    assert set(tables) == set(TABLES), "the snapshot must write every table of the contract"
    return tables


def write_snapshot(paths: LakePaths | None = None) -> dict[str, int]:
    """Snapshot the configured registry into ``paths`` (default: the current lake); rows per table."""
    paths = paths or lake()
    with db.session() as s:
        tables = snapshot_tables(s)
    for name in TABLES:
        write_table(name, tables[name], paths)
    return {name: tables[name].num_rows for name in TABLES}
