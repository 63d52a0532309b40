"""The registry over HTTP: assets (one at a time or in bulk), asset groups, SO products and their
lifecycle, consultations (market testing).

Every route needs credentials (an API key or a login session); what a caller sees and may change is
decided by the registry services from its role and organisation, exactly as in the app. Refusals are
JSON ``{"error": code, "message": text}``: 403 role or ownership, 404 not visible (other organisations'
entities are not revealed), 409 conflicting state or duplicate asset (with the existing entry's
``registry_asset_id``), 422 invalid input (``details`` lists every field).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sfe.api import schemas
from sfe.api.common import Format, error_response, table_response, tabular_content
from sfe.api.security import AUTH_RESPONSES, require_principal, require_roles
from sfe.registry import asset_import, assets, consultations, db, groups, products
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.validation import Conflict, InvalidInput

TAG_ASSETS = "registry: assets"
TAG_PRODUCTS = "registry: products"
TAG_CONSULTATIONS = "registry: consultations"
TAGS = [
    {"name": TAG_ASSETS, "description": "Register assets once for all markets; groups (FSPs)."},
    {"name": TAG_PRODUCTS, "description": "Products registered by system operators, and their lifecycle."},
    {
        "name": TAG_CONSULTATIONS,
        "description": "Market testing of draft products: questions, answers, results.",
    },
]

router = APIRouter(prefix="/v1")

Caller = Annotated[Principal, Depends(require_principal)]
Fsp = Annotated[Principal, Depends(require_roles(Role.FSP))]
SystemOperator = Annotated[Principal, Depends(require_roles(Role.SYSTEM_OPERATOR))]


def _error_doc(text: str) -> dict[str, Any]:
    return {"model": schemas.ErrorBody, "description": text}


REFUSALS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: _error_doc("Not found, or not visible to the caller."),
    409: _error_doc("Conflicts with the current state, or the asset is registered already."),
    422: _error_doc("Invalid input; `details` names every field."),
}


def _refusal(exc: Exception) -> Response:
    if isinstance(exc, assets.DuplicateAsset):
        return error_response(
            409,
            "duplicate_asset",
            str(exc),
            registry_asset_id=exc.registry_asset_id,
            ref_type=exc.ref_type,
            source_asset_ref=exc.source_asset_ref,
        )
    if isinstance(exc, assets.LikelyDuplicate):
        return error_response(
            409,
            "likely_duplicate",
            str(exc) + " Send confirm_likely_duplicate: true to register it anyway.",
            matches=[asdict(m) for m in exc.matches],
        )
    if isinstance(exc, InvalidInput):
        details = [{"field": e.field, "message": e.message} for e in exc.errors]
        return error_response(422, "invalid_input", str(exc), details)
    if isinstance(exc, asset_import.CsvFileError):
        return error_response(422, "invalid_file", str(exc))
    if isinstance(exc, AccessDenied):
        return error_response(403, "forbidden", str(exc))
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, Conflict):
        return error_response(409, "conflict", str(exc))
    raise exc


_HANDLED = (
    assets.DuplicateAsset,
    assets.LikelyDuplicate,
    InvalidInput,
    asset_import.CsvFileError,
    AccessDenied,
    NotFound,
    Conflict,
)


def refusals_as_json(endpoint):
    """Answer the registry services' refusals in the API's error style (routers have no handlers)."""

    @functools.wraps(endpoint)
    def wrapper(*args, **kwargs):
        try:
            return endpoint(*args, **kwargs)
        except _HANDLED as exc:
            return _refusal(exc)

    return wrapper


async def raw_body(request: Request) -> bytes:
    """The request body as sent (the bulk import reads CSV or JSON itself)."""
    return await request.body()


def _json(value: Any, status_code: int = 200) -> JSONResponse:
    if hasattr(value, "__dataclass_fields__"):
        value = asdict(value)
    return JSONResponse(jsonable_encoder(value), status_code=status_code)


# -- request bodies -------------------------------------------------------------------------------
class AssetFields(BaseModel):
    """An asset's fields (see the app's CSV template for their meaning). Ids are strings."""

    model_config = ConfigDict(extra="forbid")

    asset_name: str | None = None
    asset_type: str | None = Field(None, description="taxonomy asset type id, e.g. battery")
    capacity_mw: float | None = None
    energy_mwh: float | None = Field(None, description="required for storage (battery, v2g)")
    postcode: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    mpan: str | None = Field(None, description="13-digit MPAN core (or the full 21 digits), as a string")
    gsp_group: str | None = None
    dno_area: str | None = None
    flexibility_zone: str | None = None
    bm_unit: str | None = None
    eac_unit_name: str | None = None
    ukpn_fu_id: str | None = None
    competition_asset_ref: str | None = None


class AssetIn(AssetFields):
    confirm_likely_duplicate: bool = Field(
        False, description="register although it looks like a registered asset"
    )
    organisation_id: int | None = Field(None, description="admins only: the FSP organisation to register for")


class AssetPatch(AssetFields):
    confirm_likely_duplicate: bool = False


class RetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = None


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_name: str
    description: str | None = None


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    add: list[str] = Field(default_factory=list, description="registry asset ids to add")
    remove: list[str] = Field(default_factory=list, description="registry asset ids to remove")


class ServiceWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: str = "all"
    start: str
    end: str
    months: list[int] = Field(default_factory=list)


class ProductFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    market_id: str | None = None
    product_name: str | None = None
    service_type: str | None = None
    direction: Literal["up", "down", "both"] | None = None
    standard_product: str | None = None
    zones: list[str] | None = None
    service_windows: list[ServiceWindow] | None = None
    min_size_mw: float | None = None
    response_time_s: float | None = None
    min_duration_min: float | None = None
    availability_price_gbp_per_mw_h: float | None = None
    utilisation_price_gbp_per_mwh: float | None = None
    prequalification_requirements: str | None = None
    rules_text: str | None = None


class ProductIn(ProductFields):
    product_id: str | None = Field(None, description="slug; made from the operator and name when left out")
    organisation_id: int | None = Field(None, description="admins only: the SO organisation")


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_status: Literal["draft", "live", "retired"]
    note: str | None = None


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["rating", "text"]
    prompt: str


class ConsultationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str
    title: str
    description: str | None = None
    closes_at: datetime = Field(description="ISO 8601 with an offset, e.g. 2027-03-01T17:00:00+00:00")
    questions: list[QuestionIn]


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: dict[int, int | str] = Field(description="question id -> rating 1-5 (rating questions) or text")


# -- assets ---------------------------------------------------------------------------------------
@router.get(
    "/assets",
    tags=[TAG_ASSETS],
    summary="Assets the caller may see",
    responses={**REFUSALS, 200: tabular_content()},
)
@refusals_as_json
def list_assets(me: Caller, include_retired: bool = False, format: Format = "json") -> Response:
    """FSPs: their organisation's assets. System operators: assets connected in their area (read-only).
    Admins: all. Investors and analysts: 403 (they read aggregates)."""
    with db.session() as s:
        records = assets.list_assets(s, me, include_retired=include_retired)
    return table_response(assets.records_frame(records), format, "assets")


@router.post("/assets", tags=[TAG_ASSETS], summary="Register an asset", status_code=201, responses=REFUSALS)
@refusals_as_json
def register_asset(me: Fsp, body: AssetIn) -> Response:
    """Register one physical asset with the ids it has in each market. 409 `duplicate_asset` when an id
    is registered already (with that entry's `registry_asset_id`); 409 `likely_duplicate` when it looks
    like a registered asset (same type, size within 5 %, same place): resend with
    `confirm_likely_duplicate: true` if it is a different asset."""
    data = body.model_dump(exclude={"confirm_likely_duplicate", "organisation_id"}, exclude_none=True)
    with db.session() as s:
        record = assets.register_asset(
            s,
            me,
            data,
            confirm_likely_duplicate=body.confirm_likely_duplicate,
            organisation_id=body.organisation_id,
        )
    return _json(record, 201)


@router.post(
    "/assets/import",
    tags=[TAG_ASSETS],
    summary="Register many assets (CSV or JSON) with a per-row report",
    responses=REFUSALS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": AssetIn.model_json_schema()}},
            },
        }
    },
)
@refusals_as_json
def import_assets(
    request: Request,
    me: Fsp,
    body: Annotated[bytes, Depends(raw_body)],
    dry_run: Annotated[bool, Query(description="check every row, register nothing")] = False,
    group_id: Annotated[int | None, Query(description="add the registered assets to this group")] = None,
    new_group_name: Annotated[str | None, Query(description="…or to a new group of this name")] = None,
) -> Response:
    """A CSV body (`Content-Type: text/csv`; columns as the app's template) or a JSON array of asset
    objects. Valid rows are registered, invalid ones reported: `errors` = [{row, field, message}] where
    `row` is the spreadsheet row (header = 1) for CSV, the position in the array (from 1) for JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    options = {"group_id": group_id, "new_group_name": new_group_name, "dry_run": dry_run}
    if len(body) > asset_import.MAX_BYTES:
        raise asset_import.CsvFileError(
            f"the body is larger than {asset_import.MAX_BYTES / 1e6:.0f} MB; split it"
        )
    if content_type == "application/json":
        try:
            records = json.loads(body or b"null")
        except ValueError as exc:
            raise InvalidInput([asset_import.FieldError("body", f"not valid JSON: {exc}")]) from None
        if not isinstance(records, list):
            raise InvalidInput([asset_import.FieldError("body", "must be a JSON array of asset objects")])
        report = asset_import.import_asset_records(me, records, **options)
    elif content_type in ("text/csv", "text/plain", "application/csv"):
        report = asset_import.import_assets_csv(me, body, **options)
    else:
        return error_response(
            415, "unsupported_media_type", "send the assets as text/csv or as an application/json array"
        )
    return _json(
        {
            "dry_run": report.dry_run,
            "rows": report.rows,
            "registered": [asdict(r) for r in report.registered],
            "rejected_rows": report.rejected_rows,
            "errors": [asdict(e) for e in report.errors],
            "group": asdict(report.group) if report.group else None,
        }
    )


@router.get("/assets/{registry_asset_id}", tags=[TAG_ASSETS], summary="One asset", responses=REFUSALS)
@refusals_as_json
def get_asset(me: Caller, registry_asset_id: str) -> Response:
    with db.session() as s:
        return _json(assets.get_asset(s, me, registry_asset_id))


@router.patch(
    "/assets/{registry_asset_id}", tags=[TAG_ASSETS], summary="Change an own asset", responses=REFUSALS
)
@refusals_as_json
def update_asset(me: Fsp, registry_asset_id: str, body: AssetPatch) -> Response:
    """Only the fields sent change; `null` clears a field. The asset is checked again as a whole."""
    changes = body.model_dump(exclude_unset=True, exclude={"confirm_likely_duplicate"})
    with db.session() as s:
        record = assets.update_asset(
            s, me, registry_asset_id, changes, confirm_likely_duplicate=body.confirm_likely_duplicate
        )
    return _json(record)


@router.post(
    "/assets/{registry_asset_id}/retire", tags=[TAG_ASSETS], summary="Retire an own asset", responses=REFUSALS
)
@refusals_as_json
def retire_asset(me: Fsp, registry_asset_id: str, body: RetireIn | None = None) -> Response:
    with db.session() as s:
        return _json(assets.retire_asset(s, me, registry_asset_id, body.reason if body else None))


# -- groups ---------------------------------------------------------------------------------------
@router.get("/asset-groups", tags=[TAG_ASSETS], summary="The caller's asset groups", responses=REFUSALS)
@refusals_as_json
def list_groups(me: Fsp) -> Response:
    with db.session() as s:
        found = groups.list_groups(s, me)
    return _json({"total": len(found), "data": [asdict(g) for g in found]})


@router.post(
    "/asset-groups", tags=[TAG_ASSETS], summary="Create an asset group", status_code=201, responses=REFUSALS
)
@refusals_as_json
def create_group(me: Fsp, body: GroupIn) -> Response:
    with db.session() as s:
        return _json(groups.create_group(s, me, body.group_name, body.description), 201)


@router.get(
    "/asset-groups/{group_id}/members",
    tags=[TAG_ASSETS],
    summary="A group's members, current and past",
    responses=REFUSALS,
)
@refusals_as_json
def group_members(me: Fsp, group_id: int, include_past: bool = True) -> Response:
    with db.session() as s:
        members = groups.group_members(s, me, group_id, include_past=include_past)
    data = [{**asdict(m), "current": m.current} for m in members]
    return _json({"total": len(data), "data": data})


@router.post(
    "/asset-groups/{group_id}/members", tags=[TAG_ASSETS], summary="Add or remove members", responses=REFUSALS
)
@refusals_as_json
def change_members(me: Fsp, group_id: int, body: MembersIn) -> Response:
    """Add and/or remove own assets; removal ends the membership (the history keeps it)."""
    if not body.add and not body.remove:
        raise InvalidInput([asset_import.FieldError("add", "name assets to add or remove")])
    with db.session() as s:
        added = groups.add_to_group(s, me, group_id, body.add) if body.add else None
        removed = groups.remove_from_group(s, me, group_id, body.remove) if body.remove else None
        group = groups.get_group(s, me, group_id)
    return _json(
        {
            "group": asdict(group),
            "added": added.changed if added else [],
            "already_members": added.unchanged if added else [],
            "removed": removed.changed if removed else [],
            "not_members": removed.unchanged if removed else [],
        }
    )


# -- products -------------------------------------------------------------------------------------
@router.get(
    "/registry/products",
    tags=[TAG_PRODUCTS],
    summary="Registered products: the live catalogue and the caller's own",
    responses={**REFUSALS, 200: tabular_content()},
)
@refusals_as_json
def list_products(
    me: Caller,
    scope: Literal["visible", "own", "live"] = "visible",
    status: Literal["draft", "consultation", "live", "retired"] | None = None,
    format: Format = "json",
) -> Response:
    """`visible`: live products plus the caller's organisation's (any status); `own`: only the
    organisation's; `live`: the catalogue. Details of one product: GET /v1/registry/products/{id}."""
    with db.session() as s:
        found = products.list_products(s, me, scope=scope, status=status)
    return table_response(products.records_frame(found), format, "registry_products")


@router.post(
    "/registry/products",
    tags=[TAG_PRODUCTS],
    summary="Register a product (system operators)",
    status_code=201,
    responses=REFUSALS,
)
@refusals_as_json
def register_product(me: SystemOperator, body: ProductIn) -> Response:
    data = body.model_dump(exclude={"organisation_id"}, exclude_none=True)
    with db.session() as s:
        return _json(products.register_product(s, me, data, organisation_id=body.organisation_id), 201)


@router.get("/registry/products/{product_id}", tags=[TAG_PRODUCTS], summary="One product", responses=REFUSALS)
@refusals_as_json
def get_product(me: Caller, product_id: str) -> Response:
    with db.session() as s:
        return _json(products.get_product(s, me, product_id))


@router.patch(
    "/registry/products/{product_id}",
    tags=[TAG_PRODUCTS],
    summary="Change a draft product",
    responses=REFUSALS,
)
@refusals_as_json
def update_product(me: SystemOperator, product_id: str, body: ProductFields) -> Response:
    """Drafts and products in consultation only; the fields sent change."""
    with db.session() as s:
        return _json(products.update_product(s, me, product_id, body.model_dump(exclude_unset=True)))


@router.post(
    "/registry/products/{product_id}/status",
    tags=[TAG_PRODUCTS],
    summary="Move a product along its lifecycle",
    responses=REFUSALS,
)
@refusals_as_json
def transition(me: SystemOperator, product_id: str, body: TransitionIn) -> Response:
    """draft -> live | retired; consultation -> draft | live | retired; live -> retired. A draft goes
    into consultation by POST /v1/consultations."""
    with db.session() as s:
        return _json(products.transition(s, me, product_id, body.to_status, body.note))


@router.get(
    "/registry/products/{product_id}/history",
    tags=[TAG_PRODUCTS],
    summary="Status history of an own product",
    responses=REFUSALS,
)
@refusals_as_json
def product_history(me: SystemOperator, product_id: str) -> Response:
    with db.session() as s:
        history = products.status_history(s, me, product_id)
    return _json({"total": len(history), "data": [asdict(h) for h in history]})


# -- consultations --------------------------------------------------------------------------------
def _consultation(c: consultations.ConsultationRecord) -> dict[str, Any]:
    return {**asdict(c), "is_open": c.is_open}


@router.get("/consultations", tags=[TAG_CONSULTATIONS], summary="Consultations", responses=REFUSALS)
@refusals_as_json
def list_consultations(me: Caller) -> Response:
    """System operators: their organisation's. FSPs: open ones and those they answered."""
    with db.session() as s:
        found = consultations.list_consultations(s, me)
    return _json({"total": len(found), "data": [_consultation(c) for c in found]})


@router.post(
    "/consultations",
    tags=[TAG_CONSULTATIONS],
    summary="Open a consultation on a draft product",
    status_code=201,
    responses=REFUSALS,
)
@refusals_as_json
def open_consultation(me: SystemOperator, body: ConsultationIn) -> Response:
    with db.session() as s:
        record = consultations.open_consultation(
            s,
            me,
            body.product_id,
            title=body.title,
            description=body.description,
            closes_at=body.closes_at,
            questions=[q.model_dump() for q in body.questions],
        )
    return _json(_consultation(record), 201)


@router.get(
    "/consultations/{consultation_id}",
    tags=[TAG_CONSULTATIONS],
    summary="One consultation",
    responses=REFUSALS,
)
@refusals_as_json
def get_consultation(me: Caller, consultation_id: int) -> Response:
    with db.session() as s:
        return _json(_consultation(consultations.get_consultation(s, me, consultation_id)))


@router.post(
    "/consultations/{consultation_id}/close",
    tags=[TAG_CONSULTATIONS],
    summary="Close an own consultation now",
    responses=REFUSALS,
)
@refusals_as_json
def close_consultation(me: SystemOperator, consultation_id: int) -> Response:
    with db.session() as s:
        return _json(_consultation(consultations.close_consultation(s, me, consultation_id)))


@router.put(
    "/consultations/{consultation_id}/response",
    tags=[TAG_CONSULTATIONS],
    summary="Give or change the caller's organisation's answers",
    responses=REFUSALS,
)
@refusals_as_json
def respond(me: Fsp, consultation_id: int, body: ResponseIn) -> Response:
    """One response per organisation, replaced by each PUT until the consultation closes (409 after)."""
    with db.session() as s:
        return _json(consultations.submit_response(s, me, consultation_id, body.answers))


@router.get(
    "/consultations/{consultation_id}/response",
    tags=[TAG_CONSULTATIONS],
    summary="The caller's organisation's answers",
    responses=REFUSALS,
)
@refusals_as_json
def my_response(me: Fsp, consultation_id: int) -> Response:
    with db.session() as s:
        found = consultations.my_response(s, me, consultation_id)
    if found is None:
        raise NotFound("your organisation has not answered this consultation")
    return _json(found)


@router.get(
    "/consultations/{consultation_id}/results",
    tags=[TAG_CONSULTATIONS],
    summary="Aggregated results (the consulting SO)",
    responses={**REFUSALS, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
@refusals_as_json
def results(
    me: SystemOperator,
    consultation_id: int,
    format: Literal["json", "csv"] = "json",
    table: Annotated[Literal["summary", "answers"], Query(description="CSV: which table")] = "summary",
) -> Response:
    """Per rating question: count, mean and distribution; text answers (attributed to the answering
    organisation for the consulting SO). `format=csv` exports the summary or every answer
    (formula-safe)."""
    with db.session() as s:
        result = consultations.results(s, me, consultation_id)
    if format == "csv":
        return Response(
            result.export_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="consultation_{consultation_id}_{table}.csv"'
            },
        )
    questions = []
    for q in result.questions:
        item = {"question_id": q.question_id, "position": q.position, "kind": q.kind, "prompt": q.prompt}
        item["count"] = q.count
        if q.kind == "rating":
            item |= {"mean": q.mean, "distribution": {str(k): v for k, v in q.distribution.items()}}
        else:
            item["answers"] = [asdict(t) if result.attributed else {"text": t.text} for t in q.texts]
        questions.append(item)
    return _json(
        {
            "consultation": _consultation(result.consultation),
            "responses": result.responses,
            "attributed": result.attributed,
            "questions": questions,
        }
    )
