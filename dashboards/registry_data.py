"""Registry data for the Streamlit pages (assets, groups, products, consultations).

Each function is one unit of work on the registry (``db.session``) calling a service of
``sfe.registry`` with the signed-in Principal, which checks what that principal may see and do; the
pages only present results and refusals (AccessDenied, NotFound, InvalidInput, Conflict,
DuplicateAsset, LikelyDuplicate). No caching: registry data changes with every form the user submits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl

from sfe import csv_safe, taxonomy
from sfe.registry import asset_import, assets, consultations, db, groups, products
from sfe.registry.access import AccessDenied, NotFound, Principal
from sfe.registry.asset_import import CsvFileError, ImportReport
from sfe.registry.assets import DuplicateAsset, LikelyDuplicate
from sfe.registry.validation import Conflict, InvalidInput

# Refusals a page shows to the user (each message is written for them); anything else is a bug.
REFUSALS = (AccessDenied, NotFound, InvalidInput, Conflict, DuplicateAsset, LikelyDuplicate, CsvFileError)

__all__ = [
    "REFUSALS",
    "AccessDenied",
    "Conflict",
    "CsvFileError",
    "DuplicateAsset",
    "ImportReport",
    "InvalidInput",
    "LikelyDuplicate",
    "NotFound",
]

# Column headings of the asset table (the columns of ``assets.records_frame``).
ASSET_COLUMNS = {
    "registry_asset_id": "Registry id",
    "asset_name": "Name",
    "organisation_name": "Organisation",
    "asset_type": "Type",
    "capacity_mw": "MW",
    "energy_mwh": "MWh",
    "postcode": "Postcode",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "mpan": "MPAN",
    "gsp_group": "GSP group",
    "dno_area": "DNO area",
    "flexibility_zone": "Flexibility zone",
    "bm_unit": "BM unit",
    "eac_unit_name": "EAC unit name",
    "ukpn_fu_id": "UKPN fu_id",
    "competition_asset_ref": "Competition ref",
    "groups": "Groups",
    "registered_at": "Registered (UTC)",
    "updated_at": "Updated (UTC)",
    "retired_at": "Retired (UTC)",
}


# -- taxonomy choices ---------------------------------------------------------------------------
def asset_type_labels() -> dict[str, str]:
    return {k: r["asset_type_name"] for k, r in assets.asset_types().items()}


def storage_types() -> set[str]:
    return assets.storage_types()


def gsp_group_labels() -> dict[str, str]:
    return {g: f"{g} · {r['dno_area']} ({r['dno_area_name']})" for g, r in sorted(assets.dno_areas().items())}


def market_labels(market_ids: list[str]) -> dict[str, str]:
    return {m: products.markets()[m]["market_name"] for m in market_ids}


def operator_markets(me: Principal) -> list[str]:
    return list(products.markets()) if me.is_admin else products.operator_markets(me.operator_id)


def service_types() -> list[str]:
    return products.service_types()


def standard_product_labels() -> dict[str, str]:
    return {k: r["standard_product_name"] for k, r in products.standard_products().items()}


def operator_name(operator_id: str) -> str:
    return {r["operator_id"]: r["operator_name"] for r in taxonomy.table("operators")}.get(
        operator_id, operator_id
    )


def area_description(me: Principal) -> str:
    areas = assets.operator_areas(me.operator_id)
    if areas is None:
        return "all of Great Britain"
    return ", ".join(sorted(areas)) or "no licence area"


# -- assets -------------------------------------------------------------------------------------
def list_assets(me: Principal, include_retired: bool = False) -> list[assets.AssetRecord]:
    with db.session() as s:
        return assets.list_assets(s, me, include_retired=include_retired)


def assets_frame(records: list[assets.AssetRecord]) -> pl.DataFrame:
    return assets.records_frame(records)


def assets_csv(records: list[assets.AssetRecord]) -> bytes:
    return csv_safe.to_csv_bytes(assets_frame(records))


def register_asset(me: Principal, data: Mapping[str, Any], confirm: bool = False) -> assets.AssetRecord:
    with db.session() as s:
        return assets.register_asset(s, me, data, confirm_likely_duplicate=confirm)


def update_asset(
    me: Principal, registry_asset_id: str, changes: Mapping[str, Any], confirm: bool = False
) -> assets.AssetRecord:
    with db.session() as s:
        return assets.update_asset(s, me, registry_asset_id, changes, confirm_likely_duplicate=confirm)


def retire_asset(me: Principal, registry_asset_id: str, reason: str | None) -> assets.AssetRecord:
    with db.session() as s:
        return assets.retire_asset(s, me, registry_asset_id, reason)


def template_csv() -> bytes:
    return asset_import.template_csv()


def template_help() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "column": list(asset_import.TEMPLATE_COLUMNS),
            "required": [
                "yes" if c in asset_import.REQUIRED_COLUMNS else "" for c in asset_import.TEMPLATE_COLUMNS
            ],
            "meaning": [asset_import.COLUMN_HELP[c] for c in asset_import.TEMPLATE_COLUMNS],
        }
    )


def import_csv(
    me: Principal,
    content: bytes,
    *,
    group_id: int | None = None,
    new_group_name: str | None = None,
    dry_run: bool = False,
    progress=None,
) -> ImportReport:
    return asset_import.import_assets_csv(
        me, content, group_id=group_id, new_group_name=new_group_name, dry_run=dry_run, progress=progress
    )


def rejected_rows_csv(content: bytes, report: ImportReport) -> bytes:
    return asset_import.rejected_rows_csv(content, report)


def errors_csv(report: ImportReport) -> bytes:
    return csv_safe.to_csv_bytes(report.errors_frame())


# -- groups -------------------------------------------------------------------------------------
def list_groups(me: Principal) -> list[groups.GroupRecord]:
    with db.session() as s:
        return groups.list_groups(s, me)


def create_group(me: Principal, name: str, description: str | None) -> groups.GroupRecord:
    with db.session() as s:
        return groups.create_group(s, me, name, description)


def add_to_group(me: Principal, group_id: int, registry_asset_ids: list[str]) -> groups.MembershipChange:
    with db.session() as s:
        return groups.add_to_group(s, me, group_id, registry_asset_ids)


def remove_from_group(me: Principal, group_id: int, registry_asset_ids: list[str]) -> groups.MembershipChange:
    with db.session() as s:
        return groups.remove_from_group(s, me, group_id, registry_asset_ids)


def group_members_frame(me: Principal, group_id: int) -> pl.DataFrame:
    with db.session() as s:
        members = groups.group_members(s, me, group_id)
    return pl.DataFrame(
        [(m.registry_asset_id, m.asset_name, m.valid_from, m.valid_to, m.current) for m in members],
        schema={
            "registry_asset_id": pl.String,
            "asset_name": pl.String,
            "member_from_utc": pl.Datetime("us", "UTC"),
            "member_until_utc": pl.Datetime("us", "UTC"),
            "current": pl.Boolean,
        },
        orient="row",
    )


# -- products -----------------------------------------------------------------------------------
def list_products(me: Principal, scope: str = "visible") -> list[products.ProductRecord]:
    with db.session() as s:
        return products.list_products(s, me, scope=scope)


def products_frame(records: list[products.ProductRecord]) -> pl.DataFrame:
    return products.records_frame(records)


def products_csv(records: list[products.ProductRecord]) -> bytes:
    return csv_safe.to_csv_bytes(products_frame(records))


def get_product(me: Principal, product_id: str) -> products.ProductRecord:
    with db.session() as s:
        return products.get_product(s, me, product_id)


def register_product(me: Principal, data: Mapping[str, Any]) -> products.ProductRecord:
    with db.session() as s:
        return products.register_product(s, me, data)


def update_product(me: Principal, product_id: str, changes: Mapping[str, Any]) -> products.ProductRecord:
    with db.session() as s:
        return products.update_product(s, me, product_id, changes)


def transition(me: Principal, product_id: str, to_status: str, note: str | None) -> products.ProductRecord:
    with db.session() as s:
        return products.transition(s, me, product_id, to_status, note)


def status_history_frame(me: Principal, product_id: str) -> pl.DataFrame:
    with db.session() as s:
        history = products.status_history(s, me, product_id)
    return pl.DataFrame(
        [(h.at, h.from_status, h.to_status, h.by, h.note) for h in history],
        schema={
            "at_utc": pl.Datetime("us", "UTC"),
            "from_status": pl.String,
            "to_status": pl.String,
            "by": pl.String,
            "note": pl.String,
        },
        orient="row",
    )


# -- consultations ------------------------------------------------------------------------------
def list_consultations(me: Principal) -> list[consultations.ConsultationRecord]:
    with db.session() as s:
        return consultations.list_consultations(s, me)


def open_consultation(
    me: Principal,
    product_id: str,
    *,
    title: str,
    description: str | None,
    closes_at: datetime,
    questions: list[dict[str, Any]],
) -> consultations.ConsultationRecord:
    with db.session() as s:
        return consultations.open_consultation(
            s, me, product_id, title=title, description=description, closes_at=closes_at, questions=questions
        )


def close_consultation(me: Principal, consultation_id: int) -> consultations.ConsultationRecord:
    with db.session() as s:
        return consultations.close_consultation(s, me, consultation_id)


def submit_response(
    me: Principal, consultation_id: int, answers: Mapping[int, Any]
) -> consultations.ResponseRecord:
    with db.session() as s:
        return consultations.submit_response(s, me, consultation_id, answers)


def my_response(me: Principal, consultation_id: int) -> consultations.ResponseRecord | None:
    with db.session() as s:
        return consultations.my_response(s, me, consultation_id)


def results(me: Principal, consultation_id: int) -> consultations.ConsultationResults:
    with db.session() as s:
        return consultations.results(s, me, consultation_id)


def distribution_frame(result: consultations.ConsultationResults) -> pl.DataFrame:
    """Long table for charts: question, rating, answers (rating questions only)."""
    rows = [
        (f"Q{q.position}", q.prompt, rating, count)
        for q in result.questions
        if q.kind == "rating"
        for rating, count in q.distribution.items()
    ]
    return pl.DataFrame(
        rows,
        schema={"question": pl.String, "prompt": pl.String, "rating": pl.Int64, "answers": pl.Int64},
        orient="row",
    )
