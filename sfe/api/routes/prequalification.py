"""Prequalification (UC15) and contracts (UC14) over HTTP.

Providers keep one dossier per asset or asset group (``/v1/prequalification/dossiers/{subject_id}``
where ``subject_id`` is a registry asset id such as ``REG-000001`` or a group as ``group-3``), upload
its evidence, and apply it to several products at once; system operators review the applications to
their operator's products and write each product's contract template; both parties read, download and
accept the generated contracts. What a caller sees and may do is decided by the registry services
(``sfe.registry.prequalification``, ``sfe.registry.contracts``) exactly as in the app. Refusals are
JSON ``{"error": code, "message": text}``: 403 role, 404 not visible, 409 state, 422 input
(``details`` names every field, e.g. ``ukpn_secure.baseline_methodology``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sfe.api.common import ApiError
from sfe.api.routes.registry import REFUSALS, refusals_as_json
from sfe.api.security import require_roles
from sfe.registry import contracts, db
from sfe.registry import prequalification as pq
from sfe.registry.access import NotFound, Principal, Role

TAG_PREQUALIFICATION = "registry: prequalification"
TAG_CONTRACTS = "registry: contracts"
TAGS = [
    {
        "name": TAG_PREQUALIFICATION,
        "description": "Dossiers entered once per asset or group, applications to products, SO review.",
    },
    {"name": TAG_CONTRACTS, "description": "Contract templates, generated contracts, downloads, acceptance."},
]

router = APIRouter(prefix="/v1")

Fsp = Annotated[Principal, Depends(require_roles(Role.FSP))]
SystemOperator = Annotated[Principal, Depends(require_roles(Role.SYSTEM_OPERATOR))]
Party = Annotated[Principal, Depends(require_roles(Role.FSP, Role.SYSTEM_OPERATOR))]
# Documents are downloaded, never rendered on the API's origin (a contract's HTML keeps its own styles).
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
}


async def document_body(request: Request) -> bytes:
    """The uploaded file, refused with 413 as soon as it is larger than a document may be (the
    declared length is checked first; a body without one is counted while it streams in)."""
    limit = pq.MAX_DOCUMENT_BYTES
    too_large = ApiError(413, "too_large", f"the document is larger than {limit / 1e6:.0f} MB")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _json(value: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(value), status_code=status_code)


def _attachment(filename: str, content: bytes, media_type: str) -> Response:
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": disposition, **DOWNLOAD_HEADERS}
    )


def _application(view: pq.ApplicationView) -> dict[str, Any]:
    return {**asdict(view), "status_label": view.status_label, "warnings": view.warnings}


def _contract(view: contracts.ContractView) -> dict[str, Any]:
    return {
        **asdict(view),
        "status_label": view.status_label,
        "awaiting_my_acceptance": view.awaiting_my_acceptance,
    }


# -- request bodies -------------------------------------------------------------------------------
class DossierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    technical: dict[str, Any] = Field(
        description="flexible_capacity_mw, direction, response_time_s, ramp_up_mw_per_min, ramp_down_mw_per_min, "
        "max_duration_min, recovery_time_min, telemetry, telemetry_provider, control_method",
        examples=[
            {
                "flexible_capacity_mw": 2.3,
                "direction": "up",
                "response_time_s": 2,
                "telemetry": "real_time_1s",
            }
        ],
    )
    metering: list[dict[str, Any]] = Field(
        default_factory=list,
        description="one object per meter: asset_id, meter_type, mpan, meter_serial, half_hourly_settled, "
        "data_provider",
    )
    tests: list[dict[str, Any]] = Field(
        default_factory=list,
        description="one object per test: test_date, test_type, result, summary, measured_capacity_mw, "
        "measured_response_time_s, witnessed_by, document_ids",
    )
    change_note: str | None = None


class ApplicationsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_id: str = Field(description="REG-000001 or group-3: whose dossier to apply with")
    products: dict[str, dict[str, Any]] = Field(
        description="product id -> that product's extras (see GET .../products/{product_id}/form)",
        examples=[{"ukpn_secure": {"offered_capacity_mw": 2, "baseline_methodology": "historical_rolling"}}],
    )


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_id: str
    product_ids: list[str]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["prequalified", "rejected"]
    reasons: str | None = Field(None, description="required to reject")


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = None


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(description="the contract version read (must be the current one)")
    content_sha256: str = Field(description="that version's content hash, as shown with it")


class StandardTerm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str = Field(examples=["ENA Flexibility Services Standard Agreement, clause 4"])
    title: str | None = None
    url: str | None = None


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    body: str = Field(
        description="Markdown-like text with {{placeholders}} (see GET /v1/contract-placeholders)"
    )
    standard_terms: list[StandardTerm] = Field(default_factory=list)
    change_note: str | None = None


# -- dossiers -------------------------------------------------------------------------------------
@router.get(
    "/prequalification/dossiers",
    tags=[TAG_PREQUALIFICATION],
    summary="The caller's dossiers",
    responses=REFUSALS,
)
@refusals_as_json
def list_dossiers(me: Fsp) -> Response:
    with db.session() as s:
        found = pq.list_dossiers(s, me)
    return _json({"total": len(found), "data": [asdict(d) for d in found]})


@router.get(
    "/prequalification/dossiers/{subject_id}",
    tags=[TAG_PREQUALIFICATION],
    summary="The dossier of an own asset or group",
    responses=REFUSALS,
)
@refusals_as_json
def get_dossier(me: Fsp, subject_id: str, version: Annotated[int | None, Query(ge=1)] = None) -> Response:
    with db.session() as s:
        return _json(asdict(pq.get_dossier(s, me, subject_id, version)))


@router.put(
    "/prequalification/dossiers/{subject_id}",
    tags=[TAG_PREQUALIFICATION],
    summary="Enter or update the dossier (a new version when something changed)",
    responses=REFUSALS,
)
@refusals_as_json
def save_dossier(me: Fsp, subject_id: str, body: DossierIn) -> Response:
    """The whole dossier each time: technical data, every meter, every test. Saving what the current
    version holds creates no version. 422 lists every invalid field (e.g. `metering[2].mpan`)."""
    with db.session() as s:
        view = pq.save_dossier(s, me, subject_id, body.technical, body.metering, body.tests, body.change_note)
    return _json(asdict(view))


@router.get(
    "/prequalification/dossiers/{subject_id}/versions",
    tags=[TAG_PREQUALIFICATION],
    summary="Every version of a dossier, newest first",
    responses=REFUSALS,
)
@refusals_as_json
def dossier_versions(me: Fsp, subject_id: str) -> Response:
    with db.session() as s:
        dossier = pq.get_dossier(s, me, subject_id)
        found = pq.dossier_versions(s, me, dossier.dossier_id)
    return _json({"total": len(found), "data": [asdict(d) for d in found]})


@router.post(
    "/prequalification/dossiers/{subject_id}/documents",
    tags=[TAG_PREQUALIFICATION],
    summary="Upload an evidence document to a dossier",
    status_code=201,
    responses=REFUSALS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
@refusals_as_json
def upload_document(
    me: Fsp,
    subject_id: str,
    body: Annotated[bytes, Depends(document_body)],
    filename: Annotated[str, Query(description="the original file name, e.g. response-test.pdf")],
) -> Response:
    """The file as the request body. PDF, PNG, JPEG, CSV, TXT, XLSX or DOCX up to 10 MB (413 above);
    the type is read from the content and must agree with the name."""
    with db.session() as s:
        return _json(asdict(pq.add_document(s, me, subject_id, filename, body)), 201)


@router.get(
    "/prequalification/documents/{document_id}",
    tags=[TAG_PREQUALIFICATION],
    summary="Download an evidence document",
    responses={
        **REFUSALS,
        200: {"description": "The file as uploaded.", "content": {"application/octet-stream": {}}},
    },
)
@refusals_as_json
def download_document(me: Party, document_id: int) -> Response:
    """For the provider, and for the SOs of products the dossier was applied to."""
    with db.session() as s:
        view, content = pq.read_document(s, me, document_id)
    return _attachment(view.original_name, content, view.content_type)


# -- applications ---------------------------------------------------------------------------------
@router.get(
    "/prequalification/products/{product_id}/form",
    tags=[TAG_PREQUALIFICATION],
    summary="What applying to a product asks beyond the dossier",
    responses=REFUSALS,
)
@refusals_as_json
def product_form(
    me: Party,
    product_id: str,
    subject_id: Annotated[str | None, Query(description="fill defaults from this asset or group")] = None,
) -> Response:
    with db.session() as s:
        return _json(pq.product_form(s, me, product_id, subject_id).to_json())


@router.post(
    "/prequalification/check",
    tags=[TAG_PREQUALIFICATION],
    summary="Judge a dossier against products now, without applying",
    responses=REFUSALS,
)
@refusals_as_json
def check(me: Fsp, body: CheckIn) -> Response:
    previews = pq.preview(me, body.subject_id, body.product_ids)
    return _json(
        {
            "data": [
                {
                    "product_id": p.product_id,
                    "product_name": p.product_name,
                    "kind": p.kind_label,
                    "ready": p.ready,
                    "already_applied": p.already_applied,
                    "checks": p.checks,
                    "rules": p.evaluation.to_json(),
                }
                for p in previews
            ]
        }
    )


@router.post(
    "/prequalification/applications",
    tags=[TAG_PREQUALIFICATION],
    summary="Apply a dossier to one or more products",
    responses=REFUSALS,
)
@refusals_as_json
def submit(me: Fsp, body: ApplicationsIn) -> Response:
    """One outcome per product. Invalid extras refuse the whole request (422, every field named);
    otherwise each product is judged on its own: `submitted: false` with the `explanation` when the
    dossier lacks what the product needs, an application is open already, or a block-mode rule refuses
    (its verdicts are in `verdicts`)."""
    outcomes = pq.submit_applications(me, body.subject_id, body.products)
    data = [
        {**asdict(o), "application": _application(o.application) if o.application else None} for o in outcomes
    ]
    return _json(
        {
            "submitted": sum(o.submitted for o in outcomes),
            "refused": sum(not o.submitted for o in outcomes),
            "data": data,
        }
    )


@router.get(
    "/prequalification/applications",
    tags=[TAG_PREQUALIFICATION],
    summary="Applications the caller may see",
    responses=REFUSALS,
)
@refusals_as_json
def list_applications(
    me: Party,
    status: Annotated[
        list[Literal["submitted", "under_review", "prequalified", "rejected", "withdrawn"]] | None, Query()
    ] = None,
    product_id: str | None = None,
    subject_id: Annotated[str | None, Query(description="providers: one asset or group")] = None,
) -> Response:
    """Providers: their organisation's. System operators: those to their operator's products (the
    review queue is `status=submitted&status=under_review`). Admins: all."""
    with db.session() as s:
        found = pq.list_applications(s, me, status=status, product_id=product_id, subject_ref=subject_id)
    return _json({"total": len(found), "data": [_application(a) for a in found]})


@router.get(
    "/prequalification/applications/{application_id}",
    tags=[TAG_PREQUALIFICATION],
    summary="One application with its history",
    responses=REFUSALS,
)
@refusals_as_json
def get_application(me: Party, application_id: int) -> Response:
    with db.session() as s:
        return _json(_application(pq.get_application(s, me, application_id)))


@router.get(
    "/prequalification/applications/{application_id}/dossier",
    tags=[TAG_PREQUALIFICATION],
    summary="The dossier version an application was made with",
    responses=REFUSALS,
)
@refusals_as_json
def application_dossier(me: Party, application_id: int) -> Response:
    with db.session() as s:
        app = pq.get_application(s, me, application_id)
        return _json(asdict(pq.dossier_by_id(s, me, app.dossier_id, app.dossier_version)))


@router.post(
    "/prequalification/applications/{application_id}/review",
    tags=[TAG_PREQUALIFICATION],
    summary="Take a submitted application into review (its SO)",
    responses=REFUSALS,
)
@refusals_as_json
def start_review(me: SystemOperator, application_id: int, body: NoteIn | None = None) -> Response:
    with db.session() as s:
        return _json(_application(pq.start_review(s, me, application_id, body.note if body else None)))


@router.post(
    "/prequalification/applications/{application_id}/decision",
    tags=[TAG_PREQUALIFICATION],
    summary="Prequalify or reject an application under review (its SO)",
    responses=REFUSALS,
)
@refusals_as_json
def decide(me: SystemOperator, application_id: int, body: DecisionIn) -> Response:
    """Reasons are required to reject. Prequalifying generates the contract when the product has a
    template (`contract_reference` in the answer)."""
    with db.session() as s:
        return _json(_application(pq.decide(s, me, application_id, body.decision, body.reasons)))


@router.post(
    "/prequalification/applications/{application_id}/withdraw",
    tags=[TAG_PREQUALIFICATION],
    summary="Withdraw an undecided application (its provider)",
    responses=REFUSALS,
)
@refusals_as_json
def withdraw(me: Fsp, application_id: int, body: WithdrawIn | None = None) -> Response:
    with db.session() as s:
        return _json(_application(pq.withdraw(s, me, application_id, body.reason if body else None)))


# -- contract templates ---------------------------------------------------------------------------
@router.get("/contract-placeholders", tags=[TAG_CONTRACTS], summary="The placeholders templates may use")
def placeholders() -> Response:
    return _json(
        [
            {"placeholder": f"{{{{{k}}}}}", "description": v, "list": k in contracts.LIST_PLACEHOLDERS}
            for k, v in contracts.PLACEHOLDERS.items()
        ]
    )


@router.get(
    "/contract-templates/{product_id}",
    tags=[TAG_CONTRACTS],
    summary="A product's standard contract template",
    responses=REFUSALS,
)
@refusals_as_json
def get_template(me: Party, product_id: str, version: Annotated[int | None, Query(ge=1)] = None) -> Response:
    with db.session() as s:
        template = contracts.get_template(s, me, product_id, version)
    if template is None:
        raise NotFound(f"{product_id} has no contract template yet")
    return _json(asdict(template))


@router.put(
    "/contract-templates/{product_id}",
    tags=[TAG_CONTRACTS],
    summary="Write a product's template (its SO); a new version when it changed",
    responses=REFUSALS,
)
@refusals_as_json
def save_template(me: SystemOperator, product_id: str, body: TemplateIn) -> Response:
    """An unknown placeholder is refused (422) naming it and its line. Prequalified applications
    waiting for a template get their contracts now (`contracts_generated`)."""
    terms = [t.model_dump(exclude_none=True) for t in body.standard_terms]
    with db.session() as s:
        saved = contracts.save_template(s, me, product_id, body.title, body.body, terms, body.change_note)
    return _json({"template": asdict(saved.template), "contracts_generated": saved.contracts_generated})


# -- contracts ------------------------------------------------------------------------------------
@router.get(
    "/contracts", tags=[TAG_CONTRACTS], summary="Contracts the caller is a party to", responses=REFUSALS
)
@refusals_as_json
def list_contracts(
    me: Party,
    product_id: str | None = None,
    status: Annotated[Literal["awaiting_acceptance", "amendment_pending", "executed"] | None, Query()] = None,
) -> Response:
    with db.session() as s:
        found = contracts.list_contracts(s, me, product_id=product_id, status=status)
    return _json({"total": len(found), "data": [_contract(c) for c in found]})


@router.get(
    "/contracts/{contract_id}",
    tags=[TAG_CONTRACTS],
    summary="One contract and its versions",
    responses=REFUSALS,
)
@refusals_as_json
def get_contract(me: Party, contract_id: int) -> Response:
    with db.session() as s:
        return _json(_contract(contracts.get_contract(s, me, contract_id)))


@router.get(
    "/contracts/{contract_id}/document",
    tags=[TAG_CONTRACTS],
    summary="Download a contract version as PDF or HTML",
    responses={
        **REFUSALS,
        200: {"description": "The document.", "content": {"application/pdf": {}, "text/html": {}}},
    },
)
@refusals_as_json
def download_contract(
    me: Party,
    contract_id: int,
    format: Literal["pdf", "html"] = "pdf",
    version: Annotated[int | None, Query(ge=1, description="default: the current version")] = None,
) -> Response:
    with db.session() as s:
        document = contracts.download(s, me, contract_id, format, version)
    return _attachment(document.filename, document.content, document.media_type)


@router.post(
    "/contracts/{contract_id}/accept",
    tags=[TAG_CONTRACTS],
    summary="Accept the current version (the provider or the SO)",
    responses=REFUSALS,
)
@refusals_as_json
def accept(me: Party, contract_id: int, body: AcceptIn) -> Response:
    """`content_sha256` must be the hash of the version read (409 otherwise); when both parties have
    accepted, the version is executed."""
    with db.session() as s:
        return _json(_contract(contracts.accept(s, me, contract_id, body.version, body.content_sha256)))


@router.post(
    "/contracts/{contract_id}/regenerate",
    tags=[TAG_CONTRACTS],
    summary="Generate a new version from the current template (the SO)",
    responses=REFUSALS,
)
@refusals_as_json
def regenerate(me: SystemOperator, contract_id: int) -> Response:
    with db.session() as s:
        return _json(_contract(contracts.regenerate(s, me, contract_id)))
