"""The registry snapshot the warehouse reads: ``lake/raw/registry/<table>.parquet``.

The contract (tables, columns, types, atomic writes) is ``sfe.registry_schema``. What goes in is the
market-relevant registry data only: organisations (name, kind, operator), assets with their market
ids, groups with membership history, products, and the taxonomy mapping overrides in force. Never users, e-mail addresses, password hashes,
tokens, API keys, audit details or consultation answers.

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
from sfe.registry.taxonomy_admin import active_overrides
from sfe.registry_schema import SCHEMAS, TABLES, write_table


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = SCHEMAS[name]
    return pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()


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
