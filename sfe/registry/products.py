"""Products registered by system operators (UC4), with the lifecycle draft -> consultation -> live -> retired.

A system operator (SO) registers products of its own markets (taxonomy/markets.csv rows whose
operator is the SO organisation's operator) in full detail: service type, direction, zones, service
windows, minimum size, response and duration requirements, payment structure, prequalification and
rules text. Editing is possible while a product is a draft or in consultation; every change and every
status change is kept (``ProductStatusChange`` and the audit trail).

Lifecycle: draft -> consultation happens by opening a market-testing consultation
(``consultations.open_consultation``); consultation -> draft (rework) or -> live; draft -> live
(no market testing); live -> retired; draft/consultation -> retired (withdrawn). Leaving
'consultation' closes its open consultation.

Visibility: SOs see all their organisation's products; every signed-in user sees live products (the
catalogue); FSPs also see a product while it is in consultation (they are asked about it); admins
see everything. Live and retired products flow to the warehouse's dim_product.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from typing import Any

import polars as pl
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sfe import taxonomy
from sfe.registry import audit
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.models import Consultation, Organisation, Product, ProductStatusChange, User, utcnow
from sfe.registry.validation import Conflict, Errors, FieldError, InvalidInput

STATUSES = ("draft", "consultation", "live", "retired")
STATUS_LABELS = {"draft": "Draft", "consultation": "In consultation", "live": "Live", "retired": "Retired"}
# Allowed moves by ``transition``; draft -> consultation only by opening a consultation.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("live", "retired"),
    "consultation": ("draft", "live", "retired"),
    "live": ("retired",),
    "retired": (),
}
EDITABLE_STATUSES = ("draft", "consultation")
DIRECTIONS = ("up", "down", "both")
DAYS = ("all", "weekdays", "weekends", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRODUCT_FIELDS = (
    "product_id",
    "market_id",
    "product_name",
    "service_type",
    "direction",
    "standard_product",
    "zones",
    "service_windows",
    "min_size_mw",
    "response_time_s",
    "min_duration_min",
    "availability_price_gbp_per_mw_h",
    "utilisation_price_gbp_per_mwh",
    "prequalification_requirements",
    "rules_text",
)
_SLUG = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
MAX_ZONES = 200
MAX_WINDOWS = 50


@dataclass
class ProductRecord:
    product_id: str
    organisation_id: int
    organisation_name: str
    operator_id: str
    market_id: str
    product_name: str
    service_type: str
    direction: str
    standard_product: str | None
    zones: list[str]
    service_windows: list[dict[str, Any]]
    min_size_mw: float | None
    response_time_s: float | None
    min_duration_min: float | None
    availability_price_gbp_per_mw_h: float | None
    utilisation_price_gbp_per_mwh: float | None
    prequalification_requirements: str | None
    rules_text: str | None
    status: str
    live_from: datetime | None
    retired_at: datetime | None
    created_at: datetime
    updated_at: datetime
    own: bool = False  # the principal's organisation's product
    editable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StatusChangeRecord:
    from_status: str | None
    to_status: str
    at: datetime
    by: str | None  # display name of the colleague who made the change (shown to the owning SO only)
    note: str | None


# -- taxonomy -----------------------------------------------------------------------------------
@cache
def markets() -> dict[str, dict[str, str]]:
    return {r["market_id"]: r for r in taxonomy.table("markets")}


def operator_markets(operator_id: str | None) -> list[str]:
    """The taxonomy markets an operator runs (the markets its SO accounts may register products in)."""
    return sorted(m for m, r in markets().items() if r["operator_id"] == operator_id)


@cache
def service_types() -> list[str]:
    return sorted({r["service_type"] for r in taxonomy.table("products")})


@cache
def standard_products() -> dict[str, dict[str, str]]:
    return {r["standard_product"]: r for r in taxonomy.table("standard_products")}


@cache
def taxonomy_product_ids() -> frozenset[str]:
    return frozenset(r["product_id"] for r in taxonomy.table("products"))


def slugify(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", text.lower())).strip("_")


# -- reading an input -------------------------------------------------------------------------
def _zones(errors: Errors, value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = re.split(r"[\n,;]", value)
    if not isinstance(value, list | tuple):
        errors.add("zones", "must be a list of zone names")
        return []
    zones: list[str] = []
    for i, item in enumerate(value):
        zone = errors.text(f"zones[{i}]", item, max_len=100)
        if zone and zone.lower() not in {z.lower() for z in zones}:
            zones.append(zone)
    if len(zones) > MAX_ZONES:
        errors.add("zones", f"at most {MAX_ZONES} zones")
    return zones


def _windows(errors: Errors, value: Any) -> list[dict[str, Any]]:
    """[{"days": "weekdays", "start": "16:00", "end": "19:00", "months": [11, 12, 1, 2]}] in GB local time;
    an end before the start crosses midnight; months empty = all year."""
    if value is None or value == "":
        return []
    if not isinstance(value, list | tuple):
        errors.add("service_windows", "must be a list of windows {days, start, end, months}")
        return []
    if len(value) > MAX_WINDOWS:
        errors.add("service_windows", f"at most {MAX_WINDOWS} windows")
        return []
    windows = []
    for i, window in enumerate(value):
        where = f"service_windows[{i}]"
        if not isinstance(window, Mapping):
            errors.add(where, "must be an object with days, start, end and optional months")
            continue
        unknown = sorted(set(window) - {"days", "start", "end", "months"})
        if unknown:
            errors.add(where, f"unknown key(s) {', '.join(unknown)}")
        days = str(window.get("days") or "all").strip().lower()
        if days not in DAYS:
            errors.add(f"{where}.days", f"{days!r} is not one of {', '.join(DAYS)}")
        times = {}
        for key in ("start", "end"):
            text = str(window.get(key) or "").strip()
            if len(text) == 8 and text.endswith(":00"):
                text = text[:5]  # HH:MM:SS from a time widget
            if not _HHMM.match(text):
                errors.add(f"{where}.{key}", f"{text!r} is not a time HH:MM (00:00 to 24:00)")
            times[key] = text
        if times["start"] and times["start"] == times["end"]:
            errors.add(f"{where}.end", "must differ from start")
        months = window.get("months") or []
        if not isinstance(months, list | tuple) or not all(
            isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in months
        ):
            errors.add(f"{where}.months", "must be a list of month numbers 1-12")
            months = []
        windows.append(
            {"days": days, "start": times["start"], "end": times["end"], "months": sorted(set(months))}
        )
    return windows


def clean_product(data: Mapping[str, Any], operator_id: str | None) -> dict[str, Any]:
    """The storable form of a product (without product_id), or InvalidInput naming every bad field."""
    errors = Errors()
    for name in sorted(set(data) - set(PRODUCT_FIELDS)):
        errors.add(name, f"unknown field; the fields are: {', '.join(PRODUCT_FIELDS)}")
    out: dict[str, Any] = {}
    own_markets = operator_markets(operator_id) if operator_id else list(markets())
    market = errors.text("market_id", data.get("market_id"), required=True, max_len=32)
    if market is not None and market not in own_markets:
        if market in markets():
            errors.add(
                "market_id", f"{market!r} is run by {markets()[market]['operator_name']}, not your operator"
            )
        else:
            errors.add("market_id", f"{market!r} is not a market; yours: {', '.join(own_markets) or 'none'}")
        market = None
    out["market_id"] = market
    out["product_name"] = errors.text("product_name", data.get("product_name"), required=True)
    out["service_type"] = errors.choice("service_type", data.get("service_type"), service_types())
    out["direction"] = errors.choice("direction", data.get("direction"), list(DIRECTIONS))
    out["standard_product"] = errors.choice(
        "standard_product", data.get("standard_product"), list(standard_products()), required=False
    )
    out["zones"] = _zones(errors, data.get("zones"))
    out["service_windows"] = _windows(errors, data.get("service_windows"))
    out["min_size_mw"] = errors.number(
        "min_size_mw", data.get("min_size_mw"), positive=True, maximum=2000, unit="MW"
    )
    out["response_time_s"] = errors.number(
        "response_time_s", data.get("response_time_s"), positive=True, maximum=7 * 86400, unit="s"
    )
    out["min_duration_min"] = errors.number(
        "min_duration_min", data.get("min_duration_min"), positive=True, maximum=7 * 1440, unit="min"
    )
    out["availability_price_gbp_per_mw_h"] = errors.number(
        "availability_price_gbp_per_mw_h",
        data.get("availability_price_gbp_per_mw_h"),
        minimum=0,
        unit="£/MW/h",
    )
    out["utilisation_price_gbp_per_mwh"] = errors.number(
        "utilisation_price_gbp_per_mwh", data.get("utilisation_price_gbp_per_mwh"), minimum=0, unit="£/MWh"
    )
    out["prequalification_requirements"] = errors.text(
        "prequalification_requirements",
        data.get("prequalification_requirements"),
        max_len=20_000,
        multiline=True,
    )
    out["rules_text"] = errors.text("rules_text", data.get("rules_text"), max_len=100_000, multiline=True)
    errors.raise_if_any()
    return out


# -- access -----------------------------------------------------------------------------------
def _require_so(principal: Principal, action: str) -> None:
    principal.require(Role.SYSTEM_OPERATOR, action=action)


def _is_own(principal: Principal, product: Product) -> bool:
    return principal.is_admin or product.organisation_id == principal.organisation_id


def _load(s: Session, principal: Principal, product_id: str) -> Product:
    product = s.scalars(select(Product).where(Product.product_id == str(product_id).strip())).one_or_none()
    if product is None or not (
        product.status == "live"
        or _is_own(principal, product)
        # a product being market-tested is shown to the providers asked about it
        or (product.status == "consultation" and principal.role == Role.FSP)
    ):
        raise NotFound(f"no product {product_id!r}")
    return product


def _load_own(s: Session, principal: Principal, product_id: str, action: str) -> Product:
    _require_so(principal, action)
    product = _load(s, principal, product_id)
    if not _is_own(principal, product):
        raise AccessDenied(f"{product.product_id} belongs to another system operator.")
    return product


def _record(s: Session, principal: Principal, product: Product) -> ProductRecord:
    own = _is_own(principal, product)
    return ProductRecord(
        product_id=product.product_id,
        organisation_id=product.organisation_id,
        organisation_name=s.get(Organisation, product.organisation_id).name,
        operator_id=product.operator_id,
        market_id=product.market_id,
        product_name=product.name,
        service_type=product.service_type,
        direction=product.direction,
        standard_product=product.standard_product,
        zones=list(product.zones or []),
        service_windows=list(product.service_windows or []),
        min_size_mw=product.min_size_mw,
        response_time_s=product.response_time_s,
        min_duration_min=product.min_duration_min,
        availability_price_gbp_per_mw_h=product.availability_price_gbp_per_mw_h,
        utilisation_price_gbp_per_mwh=product.utilisation_price_gbp_per_mwh,
        prequalification_requirements=product.prequalification_requirements,
        rules_text=product.rules_text,
        status=product.status,
        live_from=product.live_from,
        retired_at=product.retired_at,
        created_at=product.created_at,
        updated_at=product.updated_at,
        own=own,
        editable=own
        and product.status in EDITABLE_STATUSES
        and (principal.is_admin or principal.role == Role.SYSTEM_OPERATOR),
    )


def _apply(product: Product, clean: Mapping[str, Any]) -> None:
    product.market_id = clean["market_id"]
    product.name = clean["product_name"]
    for name in PRODUCT_FIELDS[3:]:
        if name in clean:
            setattr(product, name, clean[name])


def _owner(s: Session, principal: Principal, organisation_id: int | None) -> Organisation:
    if not principal.is_admin:
        if organisation_id not in (None, principal.organisation_id):
            raise AccessDenied("You can register products only for your own organisation.")
        org = s.get(Organisation, principal.organisation_id)
        if not org.operator_id:
            raise AccessDenied("Your organisation is not linked to a system operator; ask an SFE admin.")
        return org
    org = s.get(Organisation, organisation_id) if organisation_id is not None else None
    if org is None or org.kind != Role.SYSTEM_OPERATOR or not org.operator_id:
        raise InvalidInput(
            [
                FieldError(
                    "organisation_id", "admins register products on behalf of a system operator organisation"
                )
            ]
        )
    return org


def _product_id(s: Session, errors: Errors, value: Any, operator_id: str, name: str | None) -> str | None:
    text = errors.text("product_id", value, max_len=64)
    if text is None:
        if not name:
            return None
        base = slugify(f"{operator_id} {name}")[:60] or operator_id
        candidate, k = base, 2
        while candidate in taxonomy_product_ids() or s.scalar(
            select(Product.id).where(Product.product_id == candidate)
        ):
            candidate, k = f"{base}_{k}", k + 1
        return candidate
    if not _SLUG.match(text):
        errors.add(
            "product_id",
            f"{text!r} must be 3-64 characters: lower-case letters, digits and _ (starting with a letter)",
        )
        return None
    if text in taxonomy_product_ids():
        errors.add("product_id", f"{text!r} is already a product id in the SFE taxonomy; choose another")
        return None
    return text


# -- changes ----------------------------------------------------------------------------------
def register_product(
    s: Session, principal: Principal, data: Mapping[str, Any], *, organisation_id: int | None = None
) -> ProductRecord:
    """A new draft product of the principal's SO organisation (admins: of ``organisation_id``).
    ``product_id`` is optional: without it a slug is made from the operator and the name."""
    _require_so(principal, "register products")
    org = _owner(s, principal, organisation_id)
    details = {k: v for k, v in data.items() if k != "product_id"}
    errors = Errors()
    try:
        clean = clean_product(details, org.operator_id)
    except InvalidInput as exc:
        errors.items.extend(exc.errors)
        clean = {}
    product_id = _product_id(s, errors, data.get("product_id"), org.operator_id, clean.get("product_name"))
    errors.raise_if_any()
    product = Product(
        product_id=product_id,
        organisation_id=org.id,
        operator_id=org.operator_id,
        status="draft",
        created_by_id=principal.user_id,
    )
    _apply(product, clean)
    try:
        with s.begin_nested():
            s.add(product)
            s.flush()
            s.add(
                ProductStatusChange(
                    product_id=product.id, from_status=None, to_status="draft", by_user_id=principal.user_id
                )
            )
            s.flush()
    except IntegrityError:
        raise InvalidInput(
            [FieldError("product_id", f"{product_id!r} is already used by another product")]
        ) from None
    audit.record(s, principal, "product.register", "product", product_id, market_id=clean["market_id"])
    return _record(s, principal, product)


def update_product(
    s: Session, principal: Principal, product_id: str, changes: Mapping[str, Any]
) -> ProductRecord:
    """Change a draft or in-consultation product of the principal's organisation. The product id is
    fixed once registered; fields absent from ``changes`` keep their value."""
    product = _load_own(s, principal, product_id, "edit products")
    if product.status not in EDITABLE_STATUSES:
        raise Conflict(
            f"{product.product_id} is {product.status}: only drafts and products in consultation can change"
        )
    if "product_id" in changes and changes["product_id"] != product.product_id:
        raise InvalidInput([FieldError("product_id", "cannot change once registered")])
    current = _record(s, principal, product).to_dict()
    merged = {name: current[name] for name in PRODUCT_FIELDS[1:]}
    merged.update({k: v for k, v in changes.items() if k != "product_id"})
    clean = clean_product(merged, product.operator_id)
    changed = {k: v for k, v in clean.items() if v != current[k]}
    if changed:
        _apply(product, clean)
        product.updated_at = utcnow()
        audit.record(
            s,
            principal,
            "product.update",
            "product",
            product.product_id,
            status=product.status,
            changed=sorted(changed),
        )
    return _record(s, principal, product)


def _set_status(s: Session, principal: Principal, product: Product, to_status: str, note: str | None) -> None:
    now = utcnow()
    s.add(
        ProductStatusChange(
            product_id=product.id,
            from_status=product.status,
            to_status=to_status,
            at=now,
            by_user_id=principal.user_id,
            note=note,
        )
    )
    if product.status == "consultation":
        for consultation in s.scalars(
            select(Consultation).where(
                Consultation.product_id == product.id, Consultation.closed_at.is_(None)
            )
        ):
            if consultation.closes_at > now:
                consultation.closed_at = now
    audit.record(
        s,
        principal,
        "product.status",
        "product",
        product.product_id,
        from_status=product.status,
        to_status=to_status,
        note=note,
    )
    product.status = to_status
    if to_status == "live":
        product.live_from = now
    elif to_status == "retired":
        product.retired_at = now
    product.updated_at = now


def transition(
    s: Session, principal: Principal, product_id: str, to_status: str, note: str | None = None
) -> ProductRecord:
    """Move an own product along its lifecycle (see TRANSITIONS)."""
    product = _load_own(s, principal, product_id, "change a product's status")
    errors = Errors()
    note = errors.text("note", note, max_len=2000, multiline=True)
    errors.raise_if_any()
    allowed = TRANSITIONS[product.status]
    if to_status == "consultation" and product.status == "draft":
        raise Conflict(
            "open a consultation (with questions and a closing date) to put a draft into consultation"
        )
    if to_status not in allowed:
        moves = ", ".join(allowed) or "none (retired is final)"
        raise Conflict(f"{product.product_id} is {product.status}; it can move to: {moves}")
    _set_status(s, principal, product, to_status, note)
    return _record(s, principal, product)


def start_consultation(s: Session, principal: Principal, product: Product) -> None:
    """draft -> consultation (for ``consultations.open_consultation``, in its transaction)."""
    if product.status != "draft":
        raise Conflict(f"{product.product_id} is {product.status}: only a draft can be put into consultation")
    _set_status(s, principal, product, "consultation", "consultation opened")


# -- reading ----------------------------------------------------------------------------------
def own_product(s: Session, principal: Principal, product_id: str, action: str) -> Product:
    """The ORM row of an own product (for ``consultations``)."""
    return _load_own(s, principal, product_id, action)


def get_product(s: Session, principal: Principal, product_id: str) -> ProductRecord:
    """A live product, or any product of the principal's own organisation (admins: any)."""
    return _record(s, principal, _load(s, principal, product_id))


def list_products(
    s: Session, principal: Principal, *, scope: str = "visible", status: str | None = None
) -> list[ProductRecord]:
    """scope 'visible': live products plus the principal's organisation's products (admins: all);
    'own': the organisation's products only; 'live': the live catalogue."""
    stmt = select(Product).order_by(Product.operator_id, Product.name, Product.product_id)
    if scope == "live":
        stmt = stmt.where(Product.status == "live")
    elif scope == "own":
        if not principal.is_admin:
            stmt = stmt.where(Product.organisation_id == principal.organisation_id)
    elif scope == "visible":
        if not principal.is_admin:
            stmt = stmt.where(
                or_(Product.status == "live", Product.organisation_id == principal.organisation_id)
            )
    else:
        raise ValueError(f"unknown scope {scope!r}")
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput([FieldError("status", f"{status!r} is not one of {', '.join(STATUSES)}")])
        stmt = stmt.where(Product.status == status)
    return [_record(s, principal, p) for p in s.scalars(stmt)]


def status_history(s: Session, principal: Principal, product_id: str) -> list[StatusChangeRecord]:
    """Every status change of an own product, oldest first."""
    product = _load(s, principal, product_id)
    if not _is_own(principal, product):
        raise AccessDenied("The status history is visible to the product's system operator only.")
    rows = s.execute(
        select(ProductStatusChange, User.display_name)
        .outerjoin(User, User.id == ProductStatusChange.by_user_id)
        .where(ProductStatusChange.product_id == product.id)
        .order_by(ProductStatusChange.at, ProductStatusChange.id)
    )
    return [StatusChangeRecord(c.from_status, c.to_status, c.at, name, c.note) for c, name in rows]


RECORD_COLUMNS = (
    "product_id",
    "product_name",
    "status",
    "organisation_name",
    "operator_id",
    "market_id",
    "service_type",
    "direction",
    "standard_product",
    "zones",
    "min_size_mw",
    "response_time_s",
    "min_duration_min",
    "availability_price_gbp_per_mw_h",
    "utilisation_price_gbp_per_mwh",
    "live_from",
    "retired_at",
)


def records_frame(records: list[ProductRecord]) -> pl.DataFrame:
    """ProductRecords as a table (zones joined by ', '; windows and texts left to the detail view)."""
    schema: dict[str, Any] = {c: pl.String for c in RECORD_COLUMNS}
    schema |= {c: pl.Float64 for c in RECORD_COLUMNS[10:15]}
    schema |= {c: pl.Datetime("us", "UTC") for c in ("live_from", "retired_at")}
    rows = [{**{c: getattr(r, c) for c in RECORD_COLUMNS}, "zones": ", ".join(r.zones)} for r in records]
    return pl.DataFrame(rows, schema=schema, orient="row")
