"""Eligibility judged now (UC9): ``GET /v1/eligibility/{asset_id}`` and the same for an asset group.

``GET /v1/eligibility`` (sfe.api.datasets) lists the warehouse's snapshot, ``mart_eligibility``; these
routes run the rules engine on the registry as it is at the moment of the call, so a rule an SO just
changed, or technical data just added, is taken into account.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

import polars as pl
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from sfe import csv_safe, queries
from sfe.api import datasets
from sfe.api.common import CSV_MEDIA_TYPE, DB, JSON_MEDIA_TYPE, error_response, error_responses
from sfe.api.security import AUTH_RESPONSES, require_roles
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.rules import eligibility
from sfe.serving import WarehouseNotBuilt

router = APIRouter()

Checker = Annotated[Principal, Depends(require_roles(Role.FSP, Role.SYSTEM_OPERATOR))]
Provider = Annotated[Principal, Depends(require_roles(Role.FSP))]
Products = Annotated[
    Literal["with_data", "all"],
    Query(
        description="`with_data`: taxonomy products that have market data in the warehouse (all of them "
        "while no warehouse is published) plus live SO-registered products; `all`: every taxonomy product "
        "plus live SO-registered products.",
    ),
]
Format = Annotated[Literal["json", "csv"], Query(description="Response format.")]


class RuleVerdict(BaseModel):
    rule_id: str = Field(examples=["rule-12"])
    rule_name: str = Field(examples=["Minimum 1 MW per unit"])
    kind: str = Field(examples=["min_capacity"])
    mode: Literal["notify", "block"]
    outcome: Literal["pass", "fail", "needs_information", "not_applicable", "error"]
    explanation: str
    source: Literal["rule", "product_requirement", "external"]
    missing_fields: list[str]
    rule_version: int | None


class ProductVerdict(BaseModel):
    product_id: str = Field(examples=["neso_eac_dch"])
    product_name: str
    market_id: str
    operator_id: str
    product_source: Literal["registry", "taxonomy"]
    verdict: Literal["eligible", "not_eligible", "needs_information"]
    reasons: list[str] = Field(description="The deciding explanations, each naming its rule.")
    warnings: list[str] = Field(description="Notify-mode rules that did not pass.")
    missing_fields: list[str] = Field(description="For needs_information: the asset data to add.")
    rules_checked: int
    verdicts: list[RuleVerdict]


class Subject(BaseModel):
    kind: Literal["asset", "group"]
    subject_id: str = Field(examples=["REG-000001"])
    name: str
    capacity_mw: float | None
    members: list[dict]


class EligibilityReport(BaseModel):
    subject: Subject
    counts: dict[str, int] = Field(examples=[{"eligible": 12, "not_eligible": 18, "needs_information": 4}])
    products: list[ProductVerdict]


RESPONSES = {
    200: {
        "model": EligibilityReport,
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "The verdict per product, eligible first (JSON), or one row per product (CSV).",
    },
    404: {"description": "No such asset or group visible to the caller."},
    **AUTH_RESPONSES,
    **error_responses(422, 429),
}


def _taxonomy_ids(db, products: str) -> set[str] | None:
    if products == "all":
        return None
    try:
        return set(queries.products_with_data(db)["product_id"].to_list())
    except WarehouseNotBuilt:
        return None  # nothing published yet: judge every taxonomy product rather than none


def _answer(report: eligibility.EligibilityReport, format: str, name: str) -> Response:
    if format == "csv":
        return Response(
            csv_safe.to_csv_bytes(pl.DataFrame(report.rows())),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="eligibility-{name}.csv"'},
        )
    return Response(json.dumps(report.to_json()), media_type=JSON_MEDIA_TYPE)


@router.get(
    "/v1/eligibility/{asset_id}",
    tags=[datasets.OWN_DATA],
    summary="Eligibility of one registered asset, judged now (UC9)",
    responses=RESPONSES,
)
def asset_eligibility(
    asset_id: str, me: Checker, db: DB, products: Products = "with_data", format: Format = "json"
):
    """Every live product with `eligible`, `not_eligible` or `needs_information` and the reasons, each
    naming the rule that decided (the product's registered requirements, the rules its operator keeps
    on SFE, and its external rules service when it has one). A provider may ask about its own assets,
    a system operator about assets in its area."""
    try:
        report = eligibility.asset_eligibility(me, asset_id, _taxonomy_ids(db, products))
    except NotFound as exc:
        return error_response(404, "not_found", str(exc))
    except AccessDenied as exc:
        return error_response(403, "forbidden", str(exc))
    return _answer(report, format, report.subject.subject_id)


@router.get(
    "/v1/eligibility/groups/{group_id}",
    tags=[datasets.OWN_DATA],
    summary="Eligibility of one of your asset groups, judged now (UC9)",
    responses=RESPONSES,
)
def group_eligibility(
    group_id: int, me: Provider, db: DB, products: Products = "with_data", format: Format = "json"
):
    """As for an asset, with the group judged as its current members: capacity adds up; technology,
    location and response time must hold for every member."""
    try:
        report = eligibility.group_eligibility(me, group_id, _taxonomy_ids(db, products))
    except NotFound as exc:
        return error_response(404, "not_found", str(exc))
    except AccessDenied as exc:
        return error_response(403, "forbidden", str(exc))
    return _answer(report, format, report.subject.subject_id)
