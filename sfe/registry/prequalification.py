"""Centralised prequalification (UC15): data entered once per asset or asset group, reused by every
product's application; each product's system operator reviews its applications.

The **dossier** of an asset or group holds what every product's prequalification asks for:
technical data (capacity, direction, response time, ramp rates, sustained duration, recovery,
telemetry and control), metering arrangements (one entry per meter: MPAN, meter type, half-hourly
settlement, sub-metering, meter data provider) and test evidence (date, type, result, measured
values, uploaded documents). Every save that changes something is a new version with the full state.
Documents are stored content-addressed in ``lake/documents/<sha256>`` with their original name; the
type is detected from the bytes and must agree with the file name.

An **application** joins the dossier's current version to one product and asks only that product's
extras (``ProductKind``: a small declarative list per kind of product, plus the fields the product's
own registration calls for). On submission SFE checks that the dossier holds what the product's
kind needs and runs the rules engine (context ``prequalification``): a block-mode rule that fails or
lacks data refuses the application with its explanation; notify-mode warnings travel with it to the
reviewer. Several products can be applied for at once; each gets its own outcome.

Review by the SO of the product's operator: submitted -> under_review -> prequalified | rejected
(reasons required to reject); the FSP may withdraw before the decision. A prequalified application
gets its contract generated (``sfe.registry.contracts``) as soon as the product has a template.
Every step writes the audit trail and the application's status history.

Who sees what: FSPs their organisation's dossiers and applications; SOs the applications to their
operator's products and the dossier versions those applications point at; admins everything (but
only the parties themselves apply, review, decide and accept).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sfe import notices, taxonomy
from sfe.config import lake
from sfe.registry import assets as asset_service
from sfe.registry import audit, contracts, db, mail
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.models import Asset, AssetGroup, AssetMarketId, Organisation, utcnow
from sfe.registry.models_prequal import (
    Contract,
    PrequalApplication,
    PrequalDocument,
    PrequalDossier,
    PrequalDossierVersion,
    PrequalStatusChange,
)
from sfe.registry.validation import Conflict, Errors, FieldError, InvalidInput
from sfe.rules import catalogue, engine, facts, store
from sfe.rules.catalogue import ProductInfo

GB = ZoneInfo("Europe/London")

# -- vocabularies ------------------------------------------------------------------------------
DIRECTIONS = {
    "up": "Up (more export / less import)",
    "down": "Down (less export / more import)",
    "both": "Both",
}
TELEMETRY = {
    "none": "None",
    "meter_data_after_event": "Meter data after each event",
    "near_real_time_1min": "Near real time (1-minute data)",
    "real_time_1s": "Real time (1-second data)",
    "high_resolution_20hz": "High resolution (20 Hz)",
}
CONTROL_METHODS = {
    "automatic_frequency": "Automatic (frequency-sensitive controller)",
    "remote_dispatch": "Remote dispatch (platform or API)",
    "manual": "Manual, on instruction",
}
METER_TYPES = {
    "whole_current": "Whole-current settlement meter",
    "ct_operated": "CT-operated settlement meter",
    "smart_smets2": "Smart settlement meter (SMETS2)",
    "sub_meter": "Sub-meter at the asset",
}
SETTLEMENT_METER_TYPES = ("whole_current", "ct_operated", "smart_smets2")
TEST_TYPES = {
    "response_test": "Response test",
    "capacity_test": "Capacity test",
    "duration_test": "Sustained-duration test",
    "telemetry_test": "Telemetry and communications test",
    "metering_test": "Metering test",
    "self_certification": "Self-certification",
}
TEST_RESULTS = {"pass": "Passed", "fail": "Failed"}
BASELINE_METHODS = {
    "historical_rolling": "Historical rolling baseline",
    "nominated": "Nominated baseline",
    "meter_before_after": "Meter before / meter after",
}

SUBMITTED, UNDER_REVIEW, PREQUALIFIED, REJECTED, WITHDRAWN = (
    "submitted",
    "under_review",
    "prequalified",
    "rejected",
    "withdrawn",
)
STATUSES = (SUBMITTED, UNDER_REVIEW, PREQUALIFIED, REJECTED, WITHDRAWN)
STATUS_LABELS = {
    SUBMITTED: "Submitted",
    UNDER_REVIEW: "Under review",
    PREQUALIFIED: "Prequalified",
    REJECTED: "Rejected",
    WITHDRAWN: "Withdrawn",
}
OPEN_STATUSES = (SUBMITTED, UNDER_REVIEW, PREQUALIFIED)  # block a second application (DB index too)
DECISIONS = (PREQUALIFIED, REJECTED)

MAX_METERS = 500
MAX_TESTS = 100
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DOCUMENTS_PER_DOSSIER = 100
MAX_PRODUCTS_PER_SUBMISSION = 50
DOCUMENT_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


# -- form fields -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FormField:
    """One input of the dossier or of a product's extras; pages and the API render from these."""

    name: str
    label: str
    type: str  # float | text | longtext | choice | date | bool | ids
    required: bool = False
    minimum: float | None = None
    positive: bool = False
    choices: Mapping[str, str] | None = None
    help: str = ""
    must_be_true: bool = False  # a confirmation that must be given

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "minimum": self.minimum,
            "positive": self.positive,
            "choices": dict(self.choices) if self.choices else None,
            "help": self.help,
            "must_be_true": self.must_be_true,
        }


TECHNICAL_FIELDS = (
    FormField(
        "flexible_capacity_mw",
        "Flexible capacity (MW)",
        "float",
        required=True,
        positive=True,
        help="What the asset (a group: in aggregate) can deliver, as tested.",
    ),
    FormField("direction", "Direction", "choice", required=True, choices=DIRECTIONS),
    FormField(
        "response_time_s",
        "Time to full response (s)",
        "float",
        minimum=0,
        help="From instruction (or frequency deviation) to full delivery; a group: its slowest member.",
    ),
    FormField("ramp_up_mw_per_min", "Ramp up (MW/min)", "float", minimum=0),
    FormField("ramp_down_mw_per_min", "Ramp down (MW/min)", "float", minimum=0),
    FormField("max_duration_min", "Longest sustained delivery (min)", "float", positive=True),
    FormField("recovery_time_min", "Recovery time between deliveries (min)", "float", minimum=0),
    FormField("telemetry", "Telemetry", "choice", required=True, choices=TELEMETRY),
    FormField("telemetry_provider", "Telemetry / control platform", "text"),
    FormField("control_method", "Control", "choice", choices=CONTROL_METHODS),
)
METER_FIELDS = (
    FormField("asset_id", "Asset (registry id)", "text", help="For a group: the member this meter serves."),
    FormField("meter_type", "Meter type", "choice", required=True, choices=METER_TYPES),
    FormField("mpan", "MPAN", "text", help="13-digit core; required for settlement meters."),
    FormField("meter_serial", "Meter serial number", "text", help="Required for sub-meters."),
    FormField("half_hourly_settled", "Half-hourly settled", "bool"),
    FormField(
        "data_provider", "Meter data provider", "text", required=True, help="Who collects and sends the data."
    ),
)
TEST_FIELDS = (
    FormField("test_date", "Test date", "date", required=True),
    FormField("test_type", "Test type", "choice", required=True, choices=TEST_TYPES),
    FormField("result", "Result", "choice", required=True, choices=TEST_RESULTS),
    FormField("summary", "Results", "longtext", required=True, help="What was tested and what was measured."),
    FormField("measured_capacity_mw", "Measured capacity (MW)", "float", minimum=0),
    FormField("measured_response_time_s", "Measured response time (s)", "float", minimum=0),
    FormField("witnessed_by", "Witnessed by", "text"),
    FormField("document_ids", "Evidence documents", "ids", help="Ids of documents uploaded to this dossier."),
)


def _today() -> date:
    return datetime.now(GB).date()


def _as_bool(errors: Errors, name: str, value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "y", "1", "false", "no", "n", "0"):
        return value.strip().lower() in ("true", "yes", "y", "1")
    errors.add(name, f"{value!r} is not yes/no (true or false)")
    return None


def _as_date(errors: Errors, name: str, value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        errors.add(name, f"{value!r} is not a date (YYYY-MM-DD)")
        return None


def _as_ids(errors: Errors, name: str, value: Any) -> list[int]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list | tuple):
        errors.add(name, "must be a list of document ids")
        return []
    out = []
    for v in value:
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            errors.add(name, f"{v!r} is not a document id")
    return list(dict.fromkeys(out))


def clean_fields(errors: Errors, prefix: str, fields: Iterable[FormField], data: Mapping[str, Any]) -> dict:
    """Read ``data`` against ``fields``; every problem is recorded in ``errors`` as '<prefix>.<field>'.
    Unknown keys are refused (a typo must not vanish silently). Empty optional values are left out."""
    fields = tuple(fields)
    if not isinstance(data, Mapping):
        errors.add(prefix, "must be an object of field: value")
        return {}
    known = {f.name for f in fields}
    for unknown in sorted(set(data) - known):
        errors.add(f"{prefix}.{unknown}", f"unknown field; known fields: {', '.join(sorted(known))}")
    out: dict[str, Any] = {}
    for f in fields:
        name, value = f"{prefix}.{f.name}", data.get(f.name)
        if f.type == "float":
            clean = errors.number(name, value, required=f.required, positive=f.positive, minimum=f.minimum)
        elif f.type in ("text", "longtext"):
            long = f.type == "longtext"
            clean = errors.text(
                name, value, required=f.required, max_len=2000 if long else 200, multiline=long
            )
        elif f.type == "choice":
            clean = errors.choice(name, value, dict(f.choices or {}), required=f.required)
        elif f.type == "date":
            parsed = _as_date(errors, name, value)
            if parsed is None and f.required and not errors.has(name):
                errors.add(name, "is required")
            clean = parsed.isoformat() if parsed else None
        elif f.type == "bool":
            clean = _as_bool(errors, name, value)
            if f.must_be_true and clean is not True and not errors.has(name):
                errors.add(name, "must be confirmed")
            elif clean is None and f.required and not errors.has(name):
                errors.add(name, "is required")
        elif f.type == "ids":
            clean = _as_ids(errors, name, value) or None
        else:  # pragma: no cover - a programming error in a field list
            raise ValueError(f"unknown field type {f.type!r}")
        if clean is not None:
            out[f.name] = clean
    return out


# -- product kinds: what each kind of product asks beyond the dossier ---------------------------
@dataclass(frozen=True)
class Need:
    """Something the dossier must hold for a kind of product."""

    need: str
    label: str
    check: Callable[[DossierData], tuple[str, str]]  # -> (outcome pass|missing|fail, explanation)


@dataclass(frozen=True)
class ProductKind:
    kind: str
    label: str
    matches: Callable[[ProductInfo, str], bool]  # (product, market_kind)
    extras: tuple[FormField, ...]
    needs: tuple[str, ...]


@dataclass(frozen=True)
class DossierData:
    """What the checks read: one dossier version and the registry facts of its subject."""

    subject_kind: str
    member_ids: tuple[str, ...]  # registry ids of the asset or the group's current members
    technical: Mapping[str, Any]
    metering: tuple[Mapping[str, Any], ...]
    tests: tuple[Mapping[str, Any], ...]


def _technical_need(field_name: str, label: str) -> Callable[[DossierData], tuple[str, str]]:
    def check(d: DossierData) -> tuple[str, str]:
        if d.technical.get(field_name) is None:
            return "missing", f"the dossier has no {label} (technical data '{field_name}')"
        return "pass", f"{label}: {float(d.technical[field_name]):g}"

    return check


def _telemetry(d: DossierData) -> tuple[str, str]:
    value = d.technical.get("telemetry")
    if value in (None, "none"):
        return "missing", "the product needs telemetry; the dossier declares none"
    return "pass", f"telemetry: {TELEMETRY[value]}"


def _metered(half_hourly: bool) -> Callable[[DossierData], tuple[str, str]]:
    def check(d: DossierData) -> tuple[str, str]:
        def ok(meter: Mapping[str, Any]) -> bool:
            if not half_hourly:
                return True
            return meter.get("meter_type") == "sub_meter" or bool(meter.get("half_hourly_settled"))

        covered = {m.get("asset_id") for m in d.metering if ok(m)}
        missing = [a for a in d.member_ids if a not in covered]
        what = "a half-hourly settled meter or a sub-meter" if half_hourly else "a meter"
        if not d.member_ids:
            return "missing", "the asset group has no current members"
        if missing:
            return "missing", f"the dossier records no {what} for {', '.join(missing[:5])}"
        return "pass", f"every asset has {what}"

    return check


def _passed_test(test_type: str) -> Callable[[DossierData], tuple[str, str]]:
    def check(d: DossierData) -> tuple[str, str]:
        done = [t for t in d.tests if t.get("test_type") == test_type]
        passed = [t for t in done if t.get("result") == "pass"]
        label = TEST_TYPES[test_type].lower()
        if passed:
            latest = max(t["test_date"] for t in passed)
            return "pass", f"{label} passed on {latest}"
        if done:
            return "fail", f"the dossier's {label} evidence records no pass"
        return "missing", f"the dossier has no {label} evidence"

    return check


NEEDS: dict[str, Need] = {
    n.need: n
    for n in (
        Need("response_time", "Response time", _technical_need("response_time_s", "time to full response")),
        Need(
            "duration",
            "Sustained duration",
            _technical_need("max_duration_min", "longest sustained delivery"),
        ),
        Need("telemetry", "Telemetry", _telemetry),
        Need("metering", "Metering for every asset", _metered(half_hourly=False)),
        Need("half_hourly_metering", "Half-hourly metering for every asset", _metered(half_hourly=True)),
        Need("response_test", "A passed response test", _passed_test("response_test")),
        Need("capacity_test", "A passed capacity test", _passed_test("capacity_test")),
    )
}

_COMMON_EXTRAS = (
    FormField(
        "offered_capacity_mw",
        "Capacity offered to this product (MW)",
        "float",
        required=True,
        positive=True,
        help="At most the dossier's flexible capacity.",
    ),
    FormField(
        "requested_start_date",
        "Requested start date",
        "date",
        help="When you want to start delivering; the contract starts then or on prequalification.",
    ),
)
_EAC_UNIT = FormField("eac_unit_name", "Unit name in NESO's auction platform (EAC)", "text", required=True)
PRODUCT_KINDS: tuple[ProductKind, ...] = (
    ProductKind(
        "neso_dynamic_response",
        "NESO dynamic response (DC, DM, DR)",
        lambda p, kind: (p.standard_product or "").startswith("dynamic_"),
        (
            _EAC_UNIT,
            FormField(
                "monitoring_resolution_hz",
                "Performance-monitoring data resolution (Hz)",
                "float",
                required=True,
                minimum=1,
                help="NESO asks for high-resolution (20 Hz) performance data for the dynamic services.",
            ),
            FormField("soe_management", "State-of-energy management (storage)", "longtext"),
        ),
        ("response_time", "telemetry", "half_hourly_metering", "response_test"),
    ),
    ProductKind(
        "neso_reserve",
        "NESO reserve (balancing, quick, slow)",
        lambda p, kind: "reserve" in (p.standard_product or "") or p.service_type == "Reserve",
        (_EAC_UNIT,),
        ("response_time", "duration", "telemetry", "half_hourly_metering", "capacity_test"),
    ),
    ProductKind(
        "balancing_mechanism",
        "Balancing Mechanism",
        lambda p, kind: kind == "balancing_mechanism" or p.standard_product == "balancing_mechanism",
        (
            FormField("bm_unit", "BM unit id", "text", required=True, help="e.g. T_ABCD-1 or 2__ABCD001"),
            FormField("lead_party", "Lead party (BSC party registering the unit)", "text", required=True),
        ),
        ("telemetry", "half_hourly_metering"),
    ),
    ProductKind(
        "dno_local_flexibility",
        "DNO local flexibility",
        lambda p, kind: kind == "local_flexibility" or p.service_type == "Local flexibility",
        (
            FormField("flexibility_zone", "Flexibility zone you offer in", "text"),
            FormField(
                "baseline_methodology",
                "Baseline methodology",
                "choice",
                required=True,
                choices=BASELINE_METHODS,
            ),
            FormField("competition_asset_ref", "Asset reference in the DNO's competitions", "text"),
        ),
        ("duration", "metering"),
    ),
    ProductKind("other", "Other products", lambda p, kind: True, (), ("metering",)),
)


def _market_kind(market_id: str) -> str:
    return next((m["market_kind"] for m in taxonomy.table("markets") if m["market_id"] == market_id), "")


def product_kind(product: ProductInfo) -> ProductKind:
    kind = _market_kind(product.market_id)
    return next(k for k in PRODUCT_KINDS if k.matches(product, kind))


@dataclass(frozen=True)
class ProductForm:
    """What an application to ``product`` asks (beyond the dossier), and what it checks."""

    product: ProductInfo
    kind: ProductKind
    fields: tuple[FormField, ...]
    needs: tuple[str, ...]
    requirements_text: str | None  # the SO's written prequalification requirements
    min_duration_min: float | None
    fixed_availability_price: float | None
    fixed_utilisation_price: float | None
    defaults: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "product_id": self.product.product_id,
            "product_name": self.product.name,
            "operator_id": self.product.operator_id,
            "kind": self.kind.kind,
            "kind_label": self.kind.label,
            "fields": [f.to_json() for f in self.fields],
            "dossier_needs": [{"need": n, "label": NEEDS[n].label} for n in self.needs],
            "requirements_text": self.requirements_text,
            "min_duration_min": self.min_duration_min,
            "defaults": self.defaults,
        }


def _registry_product(s: Session, product_id: str):
    from sfe.registry.models import Product

    return s.scalars(select(Product).where(Product.product_id == product_id)).one_or_none()


_AVAILABILITY_PRICE = FormField(
    "availability_price_gbp_per_mw_h",
    "Your availability price (£/MW/h)",
    "float",
    minimum=0,
    help="The product sets no availability price on SFE; leave empty if it pays none.",
)
_UTILISATION_PRICE = FormField(
    "utilisation_price_gbp_per_mwh",
    "Your utilisation price (£/MWh)",
    "float",
    minimum=0,
    help="The product sets no utilisation price on SFE; leave empty if it pays none.",
)
_REQUIREMENTS_CONFIRMED = FormField(
    "requirements_confirmed",
    "I confirm the asset meets the operator's prequalification requirements",
    "bool",
    required=True,
    must_be_true=True,
)
# Every extra any product asks, by name (for showing answers with their labels).
EXTRA_FIELDS: dict[str, FormField] = {
    f.name: f
    for f in (
        *_COMMON_EXTRAS,
        _AVAILABILITY_PRICE,
        _UTILISATION_PRICE,
        _REQUIREMENTS_CONFIRMED,
        *(f for k in PRODUCT_KINDS for f in k.extras),
    )
}


def _product_form(s: Session, product: ProductInfo) -> ProductForm:
    kind = product_kind(product)
    registered = _registry_product(s, product.product_id) if product.source == "registry" else None
    fields = list(_COMMON_EXTRAS)
    availability = registered.availability_price_gbp_per_mw_h if registered else None
    utilisation = registered.utilisation_price_gbp_per_mwh if registered else None
    if availability is None:
        fields.append(_AVAILABILITY_PRICE)
    if utilisation is None:
        fields.append(_UTILISATION_PRICE)
    extras = list(kind.extras)
    if kind.kind == "dno_local_flexibility" and product.zones:
        # The product names its zones: offer exactly those.
        extras[0] = replace(extras[0], type="choice", required=True, choices={z: z for z in product.zones})
    fields += extras
    needs = list(kind.needs)
    requirements = (registered.prequalification_requirements or "").strip() if registered else ""
    if requirements:
        fields.append(replace(_REQUIREMENTS_CONFIRMED, help=requirements))
    min_duration = registered.min_duration_min if registered else None
    if min_duration is not None and "duration" not in needs:
        needs.append("duration")
    return ProductForm(
        product=product,
        kind=kind,
        fields=tuple(fields),
        needs=tuple(needs),
        requirements_text=requirements or None,
        min_duration_min=min_duration,
        fixed_availability_price=availability,
        fixed_utilisation_price=utilisation,
    )


def _prequalifiable(s: Session, product_id: str) -> ProductInfo:
    product = catalogue.product_info(s, product_id)
    if product.status != catalogue.LIVE:
        raise NotFound(f"product {product_id!r} is not live: applications open when it goes live")
    if _market_kind(product.market_id) in catalogue.NOT_PREQUALIFIABLE_MARKET_KINDS:
        raise NotFound(f"nobody prequalifies for {product.label}")
    return product


# -- views -------------------------------------------------------------------------------------
@dataclass
class DocumentView:
    document_id: int
    original_name: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str | None


@dataclass
class MemberView:
    registry_asset_id: str
    asset_name: str
    asset_type: str
    capacity_mw: float
    mpan: str | None


@dataclass
class DossierView:
    dossier_id: int
    subject_kind: str  # asset | group
    subject_id: str  # REG-000001 | group-3
    subject_name: str
    organisation_id: int
    organisation_name: str
    version: int
    current_version: int
    technical: dict[str, Any]
    metering: list[dict[str, Any]]
    tests: list[dict[str, Any]]
    change_note: str | None
    saved_at: datetime
    saved_by: str | None
    members: list[MemberView]
    documents: list[DocumentView]
    editable: bool = False

    @property
    def subject_label(self) -> str:
        kind = "Asset" if self.subject_kind == "asset" else "Asset group"
        return f"{kind} {self.subject_name} ({self.subject_id})"


@dataclass
class StatusChangeView:
    from_status: str | None
    to_status: str
    at: datetime
    by: str | None
    note: str | None


@dataclass
class ApplicationView:
    application_id: int
    dossier_id: int
    dossier_version: int
    dossier_current_version: int
    subject_kind: str
    subject_id: str
    subject_name: str
    organisation_id: int
    organisation_name: str
    product_id: str
    product_name: str
    operator_id: str
    status: str
    extras: dict[str, Any]
    checks: list[dict[str, Any]]
    rules_decision: str
    rules_verdicts: list[dict[str, Any]]
    submitted_at: datetime
    submitted_by: str | None
    reviewer: str | None
    review_started_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    decision_reasons: str | None
    contract_id: int | None
    contract_reference: str | None
    history: list[StatusChangeView] = field(default_factory=list)
    may_review: bool = False  # the principal may start the review / decide
    may_withdraw: bool = False

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def warnings(self) -> list[str]:
        return [
            v["explanation"]
            for v in self.rules_verdicts
            if v["mode"] == "notify" and v["outcome"] not in ("pass", "not_applicable")
        ]


@dataclass
class SubmissionOutcome:
    """What happened to one product of a submission."""

    product_id: str
    product_name: str
    submitted: bool
    explanation: str
    decision: str  # the rules engine's decision, or 'incomplete' / 'already_applied'
    checks: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    application: ApplicationView | None = None


# -- access helpers ----------------------------------------------------------------------------
def _subject_id(s: Session, dossier: PrequalDossier) -> tuple[str, str, str]:
    """(kind, subject id, name) of the dossier's asset or group."""
    if dossier.asset_id is not None:
        asset = s.get(Asset, dossier.asset_id)
        return "asset", facts.asset_ref(asset), asset.name
    group = s.get(AssetGroup, dossier.group_id)
    return "group", facts.group_ref(group), group.name


def _members(s: Session, dossier: PrequalDossier) -> list[Asset]:
    if dossier.asset_id is not None:
        return [s.get(Asset, dossier.asset_id)]
    return facts.current_members(s, s.get(AssetGroup, dossier.group_id))


def _is_party_so(principal: Principal, operator_id: str) -> bool:
    return (
        principal.role == Role.SYSTEM_OPERATOR
        and bool(principal.operator_id)
        and (principal.operator_id == operator_id)
    )


def _require_provider(principal: Principal, action: str) -> None:
    principal.require(Role.FSP, action=action)
    if principal.is_admin:
        raise AccessDenied(
            f"Only the provider's own accounts can {action}; SFE administrators are not a party."
        )


def _resolve_subject(s: Session, principal: Principal, subject_ref: str) -> Asset | AssetGroup:
    """The principal's own asset or group named by 'REG-000001' or 'group-3' (admins: any)."""
    ref = str(subject_ref).strip()
    try:
        if ref.lower().startswith("group-"):
            subject: Asset | AssetGroup = facts.find_group(s, ref.lower())
        else:
            subject = facts.find_asset(s, ref)
    except NotFound:
        raise NotFound(f"no asset or asset group {ref!r}") from None
    if not (principal.is_admin or subject.organisation_id == principal.organisation_id):
        raise NotFound(f"no asset or asset group {ref!r}")
    return subject


def _dossier_of(s: Session, subject: Asset | AssetGroup) -> PrequalDossier | None:
    column = PrequalDossier.asset_id if isinstance(subject, Asset) else PrequalDossier.group_id
    return s.scalars(select(PrequalDossier).where(column == subject.id)).one_or_none()


def _so_sees_dossier(s: Session, principal: Principal, dossier_id: int) -> bool:
    if principal.role != Role.SYSTEM_OPERATOR or not principal.operator_id:
        return False
    found = s.scalar(
        select(PrequalApplication.id).where(
            PrequalApplication.dossier_id == dossier_id,
            PrequalApplication.operator_id == principal.operator_id,
        )
    )
    return found is not None


def _visible_dossier(s: Session, principal: Principal, dossier_id: int) -> PrequalDossier:
    dossier = s.get(PrequalDossier, dossier_id)
    if dossier is None:
        raise NotFound(f"no prequalification dossier {dossier_id}")
    if principal.is_admin:
        return dossier
    if principal.role == Role.FSP and dossier.organisation_id == principal.organisation_id:
        return dossier
    if _so_sees_dossier(s, principal, dossier.id):
        return dossier
    raise NotFound(f"no prequalification dossier {dossier_id}")


def _version_row(s: Session, dossier: PrequalDossier, version: int | None = None) -> PrequalDossierVersion:
    wanted = dossier.current_version if version is None else version
    row = s.scalars(
        select(PrequalDossierVersion).where(
            PrequalDossierVersion.dossier_id == dossier.id, PrequalDossierVersion.version == wanted
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"dossier {dossier.id} has no version {wanted}")
    return row


def _documents(s: Session, dossier_id: int) -> list[DocumentView]:
    rows = list(
        s.scalars(
            select(PrequalDocument)
            .where(PrequalDocument.dossier_id == dossier_id)
            .order_by(PrequalDocument.id)
        )
    )
    names = contracts.user_names(s, (d.uploaded_by_id for d in rows))
    return [
        DocumentView(
            d.id,
            d.original_name,
            d.content_type,
            d.size_bytes,
            d.sha256,
            d.uploaded_at,
            names.get(d.uploaded_by_id),
        )
        for d in rows
    ]


def _member_views(assets: Iterable[Asset]) -> list[MemberView]:
    return [MemberView(facts.asset_ref(a), a.name, a.asset_type, a.capacity_mw, a.mpan) for a in assets]


def _dossier_view(
    s: Session, principal: Principal, dossier: PrequalDossier, version: int | None = None
) -> DossierView:
    row = _version_row(s, dossier, version)
    kind, subject_id, name = _subject_id(s, dossier)
    names = contracts.user_names(s, [row.created_by_id])
    return DossierView(
        dossier_id=dossier.id,
        subject_kind=kind,
        subject_id=subject_id,
        subject_name=name,
        organisation_id=dossier.organisation_id,
        organisation_name=s.get(Organisation, dossier.organisation_id).name,
        version=row.version,
        current_version=dossier.current_version,
        technical=dict(row.technical or {}),
        metering=[dict(m) for m in row.metering or []],
        tests=[dict(t) for t in row.tests or []],
        change_note=row.change_note,
        saved_at=row.created_at,
        saved_by=names.get(row.created_by_id),
        members=_member_views(_members(s, dossier)),
        documents=_documents(s, dossier.id),
        editable=principal.role == Role.FSP and dossier.organisation_id == principal.organisation_id,
    )


# -- dossiers ----------------------------------------------------------------------------------
def _clean_dossier(
    s: Session,
    dossier: PrequalDossier | None,
    subject: Asset | AssetGroup,
    technical: Mapping[str, Any],
    metering: Iterable[Mapping[str, Any]],
    tests: Iterable[Mapping[str, Any]],
) -> tuple[dict, list, list]:
    errors = Errors()
    clean_technical = clean_fields(errors, "technical", TECHNICAL_FIELDS, technical or {})
    members = [subject] if isinstance(subject, Asset) else facts.current_members(s, subject)
    member_ids = {facts.asset_ref(a) for a in members}
    metering, tests = list(metering or []), list(tests or [])
    if len(metering) > MAX_METERS:
        errors.add("metering", f"{len(metering)} meters; at most {MAX_METERS} are allowed")
        metering = []
    clean_meters = []
    for i, meter in enumerate(metering, start=1):
        prefix = f"metering[{i}]"
        data = dict(meter) if isinstance(meter, Mapping) else meter
        if isinstance(data, dict) and isinstance(subject, Asset) and not data.get("asset_id"):
            data["asset_id"] = facts.asset_ref(subject)
        clean = clean_fields(errors, prefix, METER_FIELDS, data)
        asset_id = str(clean.get("asset_id", "")).upper()
        if asset_id:
            clean["asset_id"] = asset_id
            if asset_id not in member_ids:
                where = "the asset" if isinstance(subject, Asset) else "a current member of the group"
                errors.add(f"{prefix}.asset_id", f"{asset_id} is not {where}")
        elif isinstance(subject, AssetGroup):
            errors.add(f"{prefix}.asset_id", "is required: name the member this meter serves")
        if "mpan" in clean:
            local = Errors()
            core = asset_service._mpan(local, clean["mpan"])  # the registry's one MPAN check
            for e in local.items:
                errors.add(f"{prefix}.mpan", e.message)
            if core:
                clean["mpan"] = core
        if (
            clean.get("meter_type") in SETTLEMENT_METER_TYPES
            and "mpan" not in clean
            and not errors.has(f"{prefix}.mpan")
        ):
            errors.add(f"{prefix}.mpan", "is required for a settlement meter")
        if clean.get("meter_type") == "sub_meter":
            if "meter_serial" not in clean:
                errors.add(f"{prefix}.meter_serial", "is required for a sub-meter")
            if clean.get("half_hourly_settled"):
                errors.add(f"{prefix}.half_hourly_settled", "a sub-meter is not a settlement meter")
        clean_meters.append(clean)
    if len(tests) > MAX_TESTS:
        errors.add("tests", f"{len(tests)} tests; at most {MAX_TESTS} are allowed")
        tests = []
    document_ids = (
        set(s.scalars(select(PrequalDocument.id).where(PrequalDocument.dossier_id == dossier.id)))
        if dossier is not None
        else set()
    )
    clean_tests = []
    today = _today()
    for i, test in enumerate(tests, start=1):
        prefix = f"tests[{i}]"
        clean = clean_fields(errors, prefix, TEST_FIELDS, test)
        if clean.get("test_date") and date.fromisoformat(clean["test_date"]) > today:
            errors.add(f"{prefix}.test_date", f"{clean['test_date']} is in the future")
        unknown = [d for d in clean.get("document_ids", []) if d not in document_ids]
        if unknown:
            errors.add(
                f"{prefix}.document_ids",
                f"document(s) {', '.join(map(str, unknown))} are not uploaded to this dossier",
            )
        clean_tests.append(clean)
    errors.raise_if_any()
    return clean_technical, clean_meters, clean_tests


def save_dossier(
    s: Session,
    principal: Principal,
    subject_ref: str,
    technical: Mapping[str, Any],
    metering: Iterable[Mapping[str, Any]] = (),
    tests: Iterable[Mapping[str, Any]] = (),
    change_note: str | None = None,
) -> DossierView:
    """Create the dossier of an own asset or group, or save a new version of it. Saving exactly what
    the current version holds changes nothing (no new version)."""
    _require_provider(principal, "enter prequalification data")
    subject = _resolve_subject(s, principal, subject_ref)
    if isinstance(subject, Asset) and subject.retired_at is not None:
        raise Conflict(f"{subject.registry_asset_id} is retired; it cannot be prequalified")
    dossier = _dossier_of(s, subject)
    clean_technical, clean_meters, clean_tests = _clean_dossier(
        s, dossier, subject, technical, metering, tests
    )
    errors = Errors()
    note = errors.text("change_note", change_note, max_len=2000, multiline=True)
    errors.raise_if_any()
    now = utcnow()
    if dossier is None:
        dossier = PrequalDossier(
            organisation_id=subject.organisation_id,
            asset_id=subject.id if isinstance(subject, Asset) else None,
            group_id=subject.id if isinstance(subject, AssetGroup) else None,
            current_version=1,
            created_by_id=principal.user_id,
            created_at=now,
            updated_at=now,
        )
        try:
            with s.begin_nested():
                s.add(dossier)
                s.flush()
        except IntegrityError:
            raise Conflict(
                "the dossier was created by a colleague at the same moment; reload and edit it"
            ) from None
        version = 1
        action = "prequal.dossier_create"
    else:
        current = _version_row(s, dossier)
        if (current.technical, current.metering, current.tests) == (
            clean_technical,
            clean_meters,
            clean_tests,
        ):
            return _dossier_view(s, principal, dossier)
        version = dossier.current_version + 1
        dossier.current_version = version
        dossier.updated_at = now
        action = "prequal.dossier_update"
    try:
        with s.begin_nested():
            s.add(
                PrequalDossierVersion(
                    dossier_id=dossier.id,
                    version=version,
                    technical=clean_technical,
                    metering=clean_meters,
                    tests=clean_tests,
                    change_note=note,
                    created_by_id=principal.user_id,
                    created_at=now,
                )
            )
            s.flush()
    except IntegrityError:  # (dossier, version) is unique: a colleague saved the same version first
        raise Conflict(
            "a colleague saved this dossier at the same moment; reload it and save again"
        ) from None
    _, subject_id, _ = _subject_id(s, dossier)
    audit.record(
        s, principal, action, "prequal_dossier", dossier.id, subject=subject_id, version=version, note=note
    )
    return _dossier_view(s, principal, dossier)


def get_dossier(
    s: Session, principal: Principal, subject_ref: str, version: int | None = None
) -> DossierView:
    """The dossier of an own asset or group ('REG-000001', 'group-3'). Raises NotFound when it has none."""
    principal.require(Role.FSP, action="read prequalification dossiers")
    subject = _resolve_subject(s, principal, subject_ref)
    dossier = _dossier_of(s, subject)
    if dossier is None:
        raise NotFound(f"{subject_ref} has no prequalification dossier yet")
    return _dossier_view(s, principal, dossier, version)


def find_dossier(s: Session, principal: Principal, subject_ref: str) -> DossierView | None:
    """Like get_dossier, but None when the subject has no dossier yet."""
    try:
        return get_dossier(s, principal, subject_ref)
    except NotFound:
        _resolve_subject(s, principal, subject_ref)  # an unknown subject still raises
        return None


def dossier_by_id(
    s: Session, principal: Principal, dossier_id: int, version: int | None = None
) -> DossierView:
    """A dossier version the principal may read: FSP its own, SO one its operator was applied to."""
    principal.require(Role.FSP, Role.SYSTEM_OPERATOR, action="read prequalification dossiers")
    return _dossier_view(s, principal, _visible_dossier(s, principal, dossier_id), version)


def dossier_versions(s: Session, principal: Principal, dossier_id: int) -> list[DossierView]:
    """Every version, newest first."""
    principal.require(Role.FSP, Role.SYSTEM_OPERATOR, action="read prequalification dossiers")
    dossier = _visible_dossier(s, principal, dossier_id)
    return [_dossier_view(s, principal, dossier, v) for v in range(dossier.current_version, 0, -1)]


def list_dossiers(s: Session, principal: Principal) -> list[DossierView]:
    """The organisation's dossiers (admins: all), current versions."""
    principal.require(Role.FSP, action="read prequalification dossiers")
    stmt = select(PrequalDossier).order_by(PrequalDossier.id)
    if not principal.is_admin:
        stmt = stmt.where(PrequalDossier.organisation_id == principal.organisation_id)
    return [_dossier_view(s, principal, d) for d in s.scalars(stmt)]


# -- documents ---------------------------------------------------------------------------------
def documents_dir() -> Path:
    return lake().root / "documents"


def _safe_name(name: str) -> str:
    base = re.split(r"[\\/]", str(name or ""))[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip().strip(".")
    return base[:200]


def detect_content_type(original_name: str, content: bytes) -> str:
    """The document's type from its bytes, which must agree with its file name. Raises InvalidInput."""
    suffix = Path(original_name).suffix.lower()
    if suffix not in DOCUMENT_TYPES:
        allowed = ", ".join(sorted(DOCUMENT_TYPES))
        raise InvalidInput([FieldError("file", f"{original_name!r}: only {allowed} files are accepted")])
    expected = DOCUMENT_TYPES[suffix]
    head = content[:8]
    if head.startswith(b"%PDF-"):
        found = "application/pdf"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        found = "image/png"
    elif head.startswith(b"\xff\xd8\xff"):
        found = "image/jpeg"
    elif head.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(content)).namelist()
        except zipfile.BadZipFile:
            names = []
        found = (
            DOCUMENT_TYPES[".xlsx"]
            if any(n.startswith("xl/") for n in names)
            else DOCUMENT_TYPES[".docx"]
            if any(n.startswith("word/") for n in names)
            else "application/zip"
        )
    elif b"\x00" not in content:
        try:
            content.decode("utf-8")
            found = "text/csv" if suffix == ".csv" else "text/plain"
        except UnicodeDecodeError:
            found = "application/octet-stream"
    else:
        found = "application/octet-stream"
    if found != expected:
        raise InvalidInput(
            [FieldError("file", f"{original_name!r} is named {suffix} but its content is not ({found})")]
        )
    return found


def _store_bytes(content: bytes, sha256: str) -> None:
    folder = documents_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / sha256
    if target.exists() and target.stat().st_size == len(content):
        return  # content-addressed: the same bytes are there already
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_document(
    s: Session, principal: Principal, subject_ref: str, original_name: str, content: bytes
) -> DocumentView:
    """Upload an evidence file to the dossier of an own asset or group (which must exist)."""
    _require_provider(principal, "upload prequalification documents")
    subject = _resolve_subject(s, principal, subject_ref)
    dossier = _dossier_of(s, subject)
    if dossier is None:
        raise Conflict("save the dossier's technical data first, then upload its documents")
    name = _safe_name(original_name)
    if not name:
        raise InvalidInput([FieldError("file", "the file needs a name")])
    if not content:
        raise InvalidInput([FieldError("file", f"{name!r} is empty")])
    if len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(
            [
                FieldError(
                    "file",
                    f"{name!r} is {len(content) / 1e6:.1f} MB; at most {MAX_DOCUMENT_BYTES / 1e6:.0f} MB per file",
                )
            ]
        )
    count = len(s.scalars(select(PrequalDocument.id).where(PrequalDocument.dossier_id == dossier.id)).all())
    if count >= MAX_DOCUMENTS_PER_DOSSIER:
        raise Conflict(f"the dossier holds {count} documents already; at most {MAX_DOCUMENTS_PER_DOSSIER}")
    content_type = detect_content_type(name, content)
    sha256 = hashlib.sha256(content).hexdigest()
    _store_bytes(content, sha256)
    document = PrequalDocument(
        dossier_id=dossier.id,
        organisation_id=dossier.organisation_id,
        sha256=sha256,
        size_bytes=len(content),
        content_type=content_type,
        original_name=name,
        uploaded_by_id=principal.user_id,
    )
    s.add(document)
    s.flush()
    audit.record(
        s,
        principal,
        "prequal.document_upload",
        "prequal_dossier",
        dossier.id,
        document_id=document.id,
        original_name=name,
        sha256=sha256,
        size_bytes=len(content),
    )
    return next(d for d in _documents(s, dossier.id) if d.document_id == document.id)


def read_document(s: Session, principal: Principal, document_id: int) -> tuple[DocumentView, bytes]:
    """A document of a dossier the principal may read, with its bytes (checked against the hash)."""
    principal.require(Role.FSP, Role.SYSTEM_OPERATOR, action="read prequalification documents")
    document = s.get(PrequalDocument, document_id)
    if document is None:
        raise NotFound(f"no document {document_id}")
    try:
        _visible_dossier(s, principal, document.dossier_id)
    except NotFound:
        raise NotFound(f"no document {document_id}") from None
    path = documents_dir() / document.sha256
    if not path.is_file():
        raise NotFound(
            f"document {document_id} ({document.original_name}) is missing from the document store"
        )
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != document.sha256:
        raise Conflict(f"document {document_id} ({document.original_name}) is damaged in the store")
    view = next(d for d in _documents(s, document.dossier_id) if d.document_id == document.id)
    return view, content


# -- applications: forms, checks and submission -------------------------------------------------
def product_form(
    s: Session, principal: Principal, product_id: str, subject_ref: str | None = None
) -> ProductForm:
    """What applying to ``product_id`` asks beyond the dossier, with defaults from the subject
    (its registered market ids, its dossier's capacity) when ``subject_ref`` is given."""
    principal.require(Role.FSP, Role.SYSTEM_OPERATOR, action="read prequalification forms")
    product = _prequalifiable(s, product_id)
    form = _product_form(s, product)
    if subject_ref is None or principal.role != Role.FSP:
        return form
    subject = _resolve_subject(s, principal, subject_ref)
    defaults: dict[str, Any] = {}
    dossier = _dossier_of(s, subject)
    if dossier is not None:
        capacity = _version_row(s, dossier).technical.get("flexible_capacity_mw")
        if capacity is not None:
            defaults["offered_capacity_mw"] = capacity
    if isinstance(subject, Asset):
        refs = dict(
            s.execute(
                select(AssetMarketId.ref_type, AssetMarketId.source_asset_ref).where(
                    AssetMarketId.asset_id == subject.id
                )
            )
            .tuples()
            .all()
        )
        names = {f.name for f in form.fields}
        for ref_type in ("eac_unit_name", "bm_unit", "competition_asset_ref"):
            if ref_type in names and refs.get(ref_type):
                defaults[ref_type] = refs[ref_type]
        if "flexibility_zone" in names and subject.flexibility_zone:
            defaults["flexibility_zone"] = subject.flexibility_zone
    return replace(form, defaults=defaults)


def _dossier_checks(form: ProductForm, data: DossierData) -> list[dict[str, Any]]:
    checks = []
    for need in form.needs:
        outcome, explanation = NEEDS[need].check(data)
        checks.append(
            {"need": need, "label": NEEDS[need].label, "outcome": outcome, "explanation": explanation}
        )
    if form.min_duration_min is not None and data.technical.get("max_duration_min") is not None:
        declared = float(data.technical["max_duration_min"])
        ok = declared + 1e-9 >= form.min_duration_min
        checks.append(
            {
                "need": "min_duration",
                "label": f"Sustains delivery for {form.min_duration_min:g} min",
                "outcome": "pass" if ok else "fail",
                "explanation": f"the dossier declares {declared:g} min; the product needs at least "
                f"{form.min_duration_min:g} min",
            }
        )
    return checks


def _clean_extras(
    errors: Errors, form: ProductForm, extras: Mapping[str, Any], capacity: float | None
) -> dict[str, Any]:
    prefix = form.product.product_id
    clean = clean_fields(errors, prefix, form.fields, extras or {})
    offered = clean.get("offered_capacity_mw")
    if offered is not None and capacity is not None and offered > capacity + 1e-9:
        errors.add(
            f"{prefix}.offered_capacity_mw",
            f"{offered:g} MW is more than the dossier's flexible capacity of {capacity:g} MW",
        )
    start = clean.get("requested_start_date")
    if start and date.fromisoformat(start) < _today():
        errors.add(f"{prefix}.requested_start_date", f"{start} is in the past")
    if clean.get("bm_unit"):
        local = Errors()
        unit = asset_service._market_ref(local, "bm_unit", clean["bm_unit"])  # the registry's BM unit check
        for e in local.items:
            errors.add(f"{prefix}.bm_unit", e.message)
        if unit:
            clean["bm_unit"] = unit
    return clean


@dataclass(frozen=True)
class _Prepared:
    dossier_id: int
    dossier_version: int
    organisation_id: int
    subject: facts.Subject
    data: DossierData
    forms: dict[str, ProductForm]
    extras: dict[str, dict[str, Any]]
    rule_sets: dict[str, engine.RuleSet]
    open_products: set[str]


def _subject_facts(s: Session, dossier: PrequalDossier, technical: Mapping[str, Any]) -> facts.Subject:
    """The rules engine's view of the subject, with the dossier's technical data added."""
    extra = (
        {"response_time_s": technical.get("response_time_s")}
        if technical.get("response_time_s") is not None
        else None
    )
    if dossier.asset_id is not None:
        return facts.asset_subject(s.get(Asset, dossier.asset_id), extra)
    group = s.get(AssetGroup, dossier.group_id)
    per_member = {facts.asset_ref(a): extra for a in facts.current_members(s, group)} if extra else None
    return facts.group_subject(s, group, per_member)


def _prepare(
    s: Session,
    principal: Principal,
    subject_ref: str,
    requests: Mapping[str, Mapping[str, Any]],
    validate_extras: bool,
) -> _Prepared:
    subject_row = _resolve_subject(s, principal, subject_ref)
    if isinstance(subject_row, Asset) and subject_row.retired_at is not None:
        raise Conflict(f"{subject_row.registry_asset_id} is retired; it cannot be prequalified")
    dossier = _dossier_of(s, subject_row)
    if dossier is None:
        raise Conflict(f"{subject_ref} has no prequalification dossier: enter its data first")
    row = _version_row(s, dossier)
    errors = Errors()
    product_ids = list(dict.fromkeys(str(p).strip() for p in requests))
    if not product_ids:
        errors.add("products", "choose at least one product")
    if len(product_ids) > MAX_PRODUCTS_PER_SUBMISSION:
        errors.add("products", f"at most {MAX_PRODUCTS_PER_SUBMISSION} products at once")
    forms: dict[str, ProductForm] = {}
    for pid in product_ids:
        try:
            forms[pid] = _product_form(s, _prequalifiable(s, pid))
        except NotFound as exc:
            errors.add(f"products.{pid}", str(exc))
    errors.raise_if_any()
    capacity = row.technical.get("flexible_capacity_mw")
    extras = {}
    for pid, form in forms.items():
        if validate_extras:
            extras[pid] = _clean_extras(errors, form, requests.get(pid) or {}, capacity)
        else:
            extras[pid] = {}
    errors.raise_if_any()
    members = tuple(facts.asset_ref(a) for a in _members(s, dossier))
    data = DossierData(
        "asset" if dossier.asset_id is not None else "group",
        members,
        dict(row.technical),
        tuple(row.metering or ()),
        tuple(row.tests or ()),
    )
    open_products = set(
        s.scalars(
            select(PrequalApplication.product_id).where(
                PrequalApplication.dossier_id == dossier.id,
                PrequalApplication.product_id.in_(product_ids),
                PrequalApplication.status.in_(OPEN_STATUSES),
            )
        )
    )
    return _Prepared(
        dossier_id=dossier.id,
        dossier_version=dossier.current_version,
        organisation_id=dossier.organisation_id,
        subject=_subject_facts(s, dossier, row.technical),
        data=data,
        forms=forms,
        extras=extras,
        rule_sets=store.rule_sets(s, product_ids),
        open_products=open_products,
    )


@dataclass
class Preview:
    """How a product would judge the dossier now (nothing is written)."""

    product_id: str
    product_name: str
    kind_label: str
    checks: list[dict[str, Any]]
    evaluation: engine.Evaluation
    already_applied: bool

    @property
    def ready(self) -> bool:
        return (
            not self.already_applied
            and all(c["outcome"] == "pass" for c in self.checks)
            and self.evaluation.allowed
        )

    @property
    def verdicts(self) -> list[dict[str, Any]]:
        return [v.to_json() for v in self.evaluation.verdicts]


def preview(principal: Principal, subject_ref: str, product_ids: Iterable[str]) -> list[Preview]:
    """Judge the subject's current dossier against each product (checks and rules), writing nothing.
    The rules are evaluated outside the registry session (external rules services may be slow)."""
    principal.require(Role.FSP, action="check prequalification")
    with db.session() as s:
        prepared = _prepare(s, principal, subject_ref, dict.fromkeys(product_ids, {}), validate_extras=False)
    out = []
    for pid, form in prepared.forms.items():
        request = engine.EvaluationRequest("prequalification", form.product, prepared.subject)
        out.append(
            Preview(
                pid,
                form.product.name,
                form.kind.label,
                _dossier_checks(form, prepared.data),
                engine.evaluate_with(prepared.rule_sets[pid], request),
                pid in prepared.open_products,
            )
        )
    return out


def submit_applications(
    principal: Principal, subject_ref: str, requests: Mapping[str, Mapping[str, Any]]
) -> list[SubmissionOutcome]:
    """Apply the subject's current dossier to several products at once: ``requests`` maps each
    product id to its extras. Invalid extras refuse the whole submission (InvalidInput naming
    '<product_id>.<field>'); then each product is judged on its own: an incomplete dossier, an open
    application or a refusing rule stops that product only, with the explanation, and is audited."""
    _require_provider(principal, "apply for prequalification")
    with db.session() as s:
        prepared = _prepare(s, principal, subject_ref, requests, validate_extras=True)
    judged = {}
    for pid, form in prepared.forms.items():  # outside any session: external rules may be slow
        request = engine.EvaluationRequest("prequalification", form.product, prepared.subject)
        judged[pid] = (
            _dossier_checks(form, prepared.data),
            engine.evaluate_with(prepared.rule_sets[pid], request),
        )
    outcomes = []
    with db.session() as s:
        dossier = s.get(PrequalDossier, prepared.dossier_id)
        if dossier.current_version != prepared.dossier_version:
            raise Conflict(
                f"the dossier changed (now version {dossier.current_version}) while the application was "
                "checked; submit again"
            )
        subject_id = prepared.subject.subject_id
        for pid, form in prepared.forms.items():
            checks, evaluation = judged[pid]
            verdicts = [v.to_json() for v in evaluation.verdicts]
            product = form.product
            decision = evaluation.decision
            unmet = [c for c in checks if c["outcome"] != "pass"]
            reasons = []
            if pid in prepared.open_products:
                decision = "already_applied"
                reasons.append(
                    f"{product.label} already has an open application for {prepared.subject.label}."
                )
            else:
                if not evaluation.allowed:
                    reasons.append(evaluation.summary())
                if unmet:
                    reasons.append(
                        f"The dossier does not yet hold what {product.label} ({form.kind.label}) needs: "
                        + "; ".join(c["explanation"] for c in unmet)
                        + "."
                    )
                    decision = decision if not evaluation.allowed else "incomplete"
            refusal = " ".join(reasons) or None
            if refusal is not None:
                audit.record(
                    s,
                    principal,
                    "prequal.application_refused",
                    "prequal_dossier",
                    dossier.id,
                    product_id=pid,
                    subject=subject_id,
                    reason=refusal,
                    **evaluation.audit_details(),
                )
                outcomes.append(
                    SubmissionOutcome(pid, product.name, False, refusal, decision, checks, verdicts)
                )
                continue
            now = utcnow()
            application = PrequalApplication(
                dossier_id=dossier.id,
                dossier_version=prepared.dossier_version,
                organisation_id=prepared.organisation_id,
                product_id=pid,
                product_name=product.name,
                operator_id=product.operator_id,
                status=SUBMITTED,
                extras=prepared.extras[pid],
                checks=checks,
                rules_decision=evaluation.decision,
                rules_verdicts=verdicts,
                rules_request_id=evaluation.request.request_id,
                submitted_by_id=principal.user_id,
                submitted_at=now,
                updated_at=now,
            )
            try:
                with s.begin_nested():
                    s.add(application)
                    s.flush()
            except IntegrityError:  # a colleague applied at the same moment
                outcomes.append(
                    SubmissionOutcome(
                        pid,
                        product.name,
                        False,
                        f"{product.label} already has an open application for {prepared.subject.label}",
                        "already_applied",
                        checks,
                        verdicts,
                    )
                )
                continue
            s.add(
                PrequalStatusChange(
                    application_id=application.id, to_status=SUBMITTED, at=now, by_user_id=principal.user_id
                )
            )
            organisation = s.get(Organisation, prepared.organisation_id)
            _notify(
                s,
                application,
                SUBMITTED,
                notices.system_operator_organisations(s, product.operator_id),
                "reviewer",
                f"{organisation.name} applied for prequalification; the application waits for your review."
                + (
                    f" The rules engine warned: {' '.join(v.explanation for v in evaluation.warnings)}"
                    if evaluation.warnings
                    else ""
                ),
            )
            audit.record(
                s,
                principal,
                "prequal.application_submit",
                "prequal_application",
                application.id,
                product_id=pid,
                subject=subject_id,
                dossier_version=prepared.dossier_version,
                **evaluation.audit_details(),
            )
            explanation = "Submitted to the operator for review."
            if evaluation.warnings:
                explanation += " Warnings: " + " ".join(v.explanation for v in evaluation.warnings)
            outcomes.append(
                SubmissionOutcome(
                    pid,
                    product.name,
                    True,
                    explanation,
                    evaluation.decision,
                    checks,
                    verdicts,
                    _application_view(s, principal, application),
                )
            )
    return outcomes


# -- applications: reading ---------------------------------------------------------------------
def _application_view(
    s: Session, principal: Principal, app: PrequalApplication, with_history: bool = False
) -> ApplicationView:
    dossier = s.get(PrequalDossier, app.dossier_id)
    kind, subject_id, name = _subject_id(s, dossier)
    names = contracts.user_names(s, [app.submitted_by_id, app.reviewer_id, app.decided_by_id])
    contract = s.scalars(select(Contract).where(Contract.application_id == app.id)).one_or_none()
    history = []
    if with_history:
        changes = list(app.status_changes)
        change_names = contracts.user_names(s, (c.by_user_id for c in changes))
        history = [
            StatusChangeView(c.from_status, c.to_status, c.at, change_names.get(c.by_user_id), c.note)
            for c in changes
        ]
    so = _is_party_so(principal, app.operator_id)
    return ApplicationView(
        application_id=app.id,
        dossier_id=app.dossier_id,
        dossier_version=app.dossier_version,
        dossier_current_version=dossier.current_version,
        subject_kind=kind,
        subject_id=subject_id,
        subject_name=name,
        organisation_id=app.organisation_id,
        organisation_name=s.get(Organisation, app.organisation_id).name,
        product_id=app.product_id,
        product_name=app.product_name,
        operator_id=app.operator_id,
        status=app.status,
        extras=dict(app.extras or {}),
        checks=list(app.checks or []),
        rules_decision=app.rules_decision,
        rules_verdicts=list(app.rules_verdicts or []),
        submitted_at=app.submitted_at,
        submitted_by=names.get(app.submitted_by_id),
        reviewer=names.get(app.reviewer_id),
        review_started_at=app.review_started_at,
        decided_at=app.decided_at,
        decided_by=names.get(app.decided_by_id),
        decision_reasons=app.decision_reasons,
        contract_id=contract.id if contract else None,
        contract_reference=contract.reference if contract else None,
        history=history,
        may_review=so and app.status in (SUBMITTED, UNDER_REVIEW),
        may_withdraw=principal.role == Role.FSP
        and app.organisation_id == principal.organisation_id
        and app.status in (SUBMITTED, UNDER_REVIEW),
    )


def _visible_applications(principal: Principal) -> Select:
    stmt = select(PrequalApplication)
    if principal.is_admin:
        return stmt
    if principal.role == Role.FSP:
        return stmt.where(PrequalApplication.organisation_id == principal.organisation_id)
    if principal.role == Role.SYSTEM_OPERATOR:
        return stmt.where(PrequalApplication.operator_id == (principal.operator_id or "\x00none"))
    raise AccessDenied("Prequalification applications are visible to their providers and system operators.")


def list_applications(
    s: Session,
    principal: Principal,
    *,
    status: str | Iterable[str] | None = None,
    product_id: str | None = None,
    subject_ref: str | None = None,
) -> list[ApplicationView]:
    """Applications the principal may see, newest first: FSP its organisation's, SO those to its
    operator's products, admin all."""
    stmt = _visible_applications(principal).order_by(
        PrequalApplication.submitted_at.desc(), PrequalApplication.id.desc()
    )
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        unknown = [w for w in wanted if w not in STATUSES]
        if unknown:
            raise InvalidInput(
                [FieldError("status", f"{', '.join(unknown)} not one of {', '.join(STATUSES)}")]
            )
        stmt = stmt.where(PrequalApplication.status.in_(wanted))
    if product_id:
        stmt = stmt.where(PrequalApplication.product_id == product_id)
    if subject_ref:
        subject = (
            _resolve_subject(s, principal, subject_ref)
            if principal.role == Role.FSP or principal.is_admin
            else None
        )
        if subject is None:
            raise AccessDenied("Filtering by asset is for the asset's provider.")
        dossier = _dossier_of(s, subject)
        if dossier is None:
            return []
        stmt = stmt.where(PrequalApplication.dossier_id == dossier.id)
    return [_application_view(s, principal, a) for a in s.scalars(stmt)]


def _visible_application(s: Session, principal: Principal, application_id: int) -> PrequalApplication:
    try:
        stmt = _visible_applications(principal)
    except AccessDenied:
        raise NotFound(f"no application {application_id}") from None
    app = s.scalars(stmt.where(PrequalApplication.id == application_id)).one_or_none()
    if app is None:
        raise NotFound(f"no application {application_id}")
    return app


def get_application(s: Session, principal: Principal, application_id: int) -> ApplicationView:
    return _application_view(
        s, principal, _visible_application(s, principal, application_id), with_history=True
    )


def status_by_product(s: Session, principal: Principal, subject_ref: str) -> list[ApplicationView]:
    """The latest application per product of an own asset or group (for the asset's page)."""
    latest: dict[str, ApplicationView] = {}
    for view in list_applications(s, principal, subject_ref=subject_ref):
        latest.setdefault(view.product_id, view)
    return sorted(latest.values(), key=lambda v: (v.product_name, v.product_id))


def rules_technical(s: Session, principal: Principal, subject_ref: str) -> dict[str, Any] | None:
    """The dossier's technical data in the form the eligibility functions take (``technical``): for
    an asset ``{"response_time_s": ...}``, for a group the same per member registry id. None when
    the subject has no dossier or the dossier holds no technical data the rules engine reads."""
    subject = _resolve_subject(s, principal, subject_ref)
    dossier = _dossier_of(s, subject)
    if dossier is None:
        return None
    response = _version_row(s, dossier).technical.get("response_time_s")
    if response is None:
        return None
    data = {"response_time_s": response}
    if isinstance(subject, Asset):
        return data
    return {facts.asset_ref(a): data for a in facts.current_members(s, subject)}


# -- notices ------------------------------------------------------------------------------------
def _notify(
    s: Session, app: PrequalApplication, step: str, organisation_ids: Iterable[int], reason: str, text: str
) -> None:
    """Tell each organisation about one step of an application, once (inbox + email after commit)."""
    kind, subject_id, name = _subject_id(s, s.get(PrequalDossier, app.dossier_id))
    what = "Asset" if kind == "asset" else "Asset group"
    subject = f"[SFE] Prequalification {step}: {name} ({subject_id}) for {app.product_name}"
    body = (
        f"{text}\n\n{what}: {name} ({subject_id}). Product: {app.product_name} ({app.product_id}). "
        f"Application {app.id}.\nOpen it: {mail.link('prequalification')}\n"
    )
    severity = "medium" if step == REJECTED else "info"
    created = [
        notice_id
        for org_id in sorted(set(organisation_ids))
        if (
            notice_id := notices.post(
                s,
                notices.PREQUALIFICATION,
                f"application-{app.id}:{step}",
                org_id,
                [reason],
                severity,
                subject,
                body,
            )
        )
        is not None
    ]
    notices.email_after_commit(s, created)


# -- applications: review ----------------------------------------------------------------------
def _set_status(
    s: Session, principal: Principal, app: PrequalApplication, to_status: str, note: str | None, action: str
) -> None:
    now = utcnow()
    s.add(
        PrequalStatusChange(
            application_id=app.id,
            from_status=app.status,
            to_status=to_status,
            at=now,
            by_user_id=principal.user_id,
            note=note,
        )
    )
    audit.record(
        s,
        principal,
        action,
        "prequal_application",
        app.id,
        product_id=app.product_id,
        from_status=app.status,
        to_status=to_status,
        note=note,
    )
    app.status = to_status
    app.updated_at = now


def _reviewable(s: Session, principal: Principal, application_id: int) -> PrequalApplication:
    principal.require(Role.SYSTEM_OPERATOR, action="review prequalification applications")
    app = _visible_application(s, principal, application_id)
    if not _is_party_so(principal, app.operator_id):
        raise AccessDenied(
            f"Application {application_id} is reviewed by the system operator of {app.product_id} "
            f"({app.operator_id}); SFE administrators are not a party."
        )
    return app


def start_review(
    s: Session, principal: Principal, application_id: int, note: str | None = None
) -> ApplicationView:
    """submitted -> under_review, with the reviewer recorded."""
    app = _reviewable(s, principal, application_id)
    if app.status != SUBMITTED:
        raise Conflict(
            f"application {application_id} is {STATUS_LABELS[app.status].lower()}; only a submitted one can be taken into review"
        )
    errors = Errors()
    clean_note = errors.text("note", note, max_len=2000, multiline=True)
    errors.raise_if_any()
    app.reviewer_id = principal.user_id
    app.review_started_at = utcnow()
    _set_status(s, principal, app, UNDER_REVIEW, clean_note, "prequal.review_start")
    return get_application(s, principal, application_id)


def decide(
    s: Session, principal: Principal, application_id: int, decision: str, reasons: str | None
) -> ApplicationView:
    """under_review -> prequalified | rejected. Rejections need reasons; a prequalification may say
    why. A prequalified application gets its contract generated when the product has a template."""
    app = _reviewable(s, principal, application_id)
    errors = Errors()
    if decision not in DECISIONS:
        errors.add("decision", f"{decision!r} is not one of {', '.join(DECISIONS)}")
    clean_reasons = errors.text(
        "reasons", reasons, required=decision == REJECTED, max_len=4000, multiline=True
    )
    errors.raise_if_any()
    if app.status != UNDER_REVIEW:
        raise Conflict(
            f"application {application_id} is {STATUS_LABELS[app.status].lower()}; take it into review before deciding"
            if app.status == SUBMITTED
            else f"application {application_id} is {STATUS_LABELS[app.status].lower()}; it cannot be decided again"
        )
    app.decided_by_id = principal.user_id
    app.decided_at = utcnow()
    app.decision_reasons = clean_reasons
    _set_status(s, principal, app, decision, clean_reasons, f"prequal.{decision}")
    if decision == PREQUALIFIED:
        contracts.generate_for_application(s, principal, app)
    outcome = (
        "is prequalified; the contract follows on the Contracts page when the product has a template"
        if decision == PREQUALIFIED
        else "was rejected"
    )
    _notify(
        s,
        app,
        decision,
        [app.organisation_id],
        "applicant",
        f"{principal.organisation_name} decided: the application {outcome}."
        + (f"\nReasons: {clean_reasons}" if clean_reasons else ""),
    )
    return get_application(s, principal, application_id)


def withdraw(
    s: Session, principal: Principal, application_id: int, reason: str | None = None
) -> ApplicationView:
    """The provider withdraws an application before the decision."""
    _require_provider(principal, "withdraw applications")
    app = _visible_application(s, principal, application_id)
    if app.status not in (SUBMITTED, UNDER_REVIEW):
        raise Conflict(
            f"application {application_id} is {STATUS_LABELS[app.status].lower()}; only an undecided one can be withdrawn"
        )
    errors = Errors()
    clean_reason = errors.text("reason", reason, max_len=2000, multiline=True)
    errors.raise_if_any()
    _set_status(s, principal, app, WITHDRAWN, clean_reason, "prequal.withdraw")
    return get_application(s, principal, application_id)


def applicable_products(s: Session, principal: Principal, subject_ref: str) -> list[ProductInfo]:
    """Live products the subject can apply to now (no open application yet)."""
    principal.require(Role.FSP, action="apply for prequalification")
    subject = _resolve_subject(s, principal, subject_ref)
    dossier = _dossier_of(s, subject)
    taken = set()
    if dossier is not None:
        taken = set(
            s.scalars(
                select(PrequalApplication.product_id).where(
                    PrequalApplication.dossier_id == dossier.id, PrequalApplication.status.in_(OPEN_STATUSES)
                )
            )
        )
    return [p for p in catalogue.live_products(s) if p.product_id not in taken]
