"""Streamlined contracts (UC14): the SO's standard template per product, the contract SFE generates
from it after prequalification, and both parties' acceptance in the app.

**Templates.** The SO of a product's operator writes one standard contract per product: a title and a
Markdown-like body (``#`` headings, paragraphs, ``-`` and ``1.`` lists, ``**bold**``) with
placeholders such as ``{{fsp_name}}`` (``PLACEHOLDERS`` lists them all) and the standard terms it
incorporates by reference (e.g. the ENA Flexibility Services Standard Agreement). An unknown or
malformed placeholder is refused on save, naming it and its line. Every change is a new version.

**Contracts.** When an application is prequalified and its product has a template (or when the
template is first saved after that), SFE renders the contract: placeholder values are computed from
the registry (the provider, its asset or group's members, the capacity and prices it applied with,
the product and its operator), the HTML is built with every value and every template character
escaped, and a PDF is drawn from the same blocks (fpdf2). The SHA-256 of the HTML is the version's
content hash; the PDF carries it in its footer. Regenerating after a template change writes a new
version and keeps the old ones.

**Acceptance.** The provider and the product's SO each accept the current version in the app; an
acceptance records who, when, and the content hash it was given, which must equal the version's
(so nobody accepts a text they did not see). When both have accepted, the version is *executed*.
A later version (an amendment) needs both acceptances again; the executed one stays on record.
Both parties (and admins) can download every version as HTML or PDF.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sfe import taxonomy
from sfe.registry import audit
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.models import Asset, AssetGroup, Organisation, Product, User, utcnow
from sfe.registry.models_prequal import (
    Contract,
    ContractAcceptance,
    ContractTemplate,
    ContractTemplateVersion,
    ContractVersion,
    PrequalApplication,
    PrequalDossier,
    PrequalDossierVersion,
)
from sfe.registry.validation import Conflict, Errors, FieldError, InvalidInput
from sfe.rules import catalogue, facts
from sfe.rules.catalogue import ProductInfo

GB = ZoneInfo("Europe/London")
ENA_FLEX = "https://www.energynetworks.org/industry/flexibility-services"
NESO_SERVICES = "https://www.neso.energy/industry-information/balancing-services"

PLACEHOLDERS: dict[str, str] = {
    "contract_reference": "The contract's SFE reference, e.g. SFE-C-000001.",
    "contract_version": "The version number of this contract document.",
    "fsp_name": "The flexibility provider's organisation.",
    "so_name": "The system operator buying the service.",
    "product_name": "The product's name.",
    "product_id": "The product's SFE id.",
    "market_name": "The market the product belongs to.",
    "subject_name": "The asset or asset group's name.",
    "asset_list": "The contracted assets (a group: its members) with registry id, type, capacity and MPAN.",
    "capacity_mw": "The contracted capacity in MW (the capacity offered in the application).",
    "availability_price_gbp_per_mw_h": "The availability price (£/MW/h): the product's, else the offer's.",
    "utilisation_price_gbp_per_mwh": "The utilisation price (£/MWh): the product's, else the offer's.",
    "start_date": "The service start: the requested start date, or the prequalification date if later.",
    "prequalified_on": "The date the application was prequalified.",
    "direction": "The direction of the service (up, down or both).",
    "response_time_s": "The time to full response declared in the prequalification dossier.",
    "service_windows": "The product's service windows.",
    "standard_terms": "The standard terms the template incorporates by reference.",
}
# Values that are lists: alone in a paragraph they render as a list, inline as '; '-joined text.
LIST_PLACEHOLDERS = frozenset({"asset_list", "service_windows", "standard_terms"})
REQUIRED_PLACEHOLDERS = ("fsp_name",)  # a contract must name the provider
MAX_BODY_CHARS = 60_000
MAX_STANDARD_TERMS = 40
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_URL = re.compile(r"^https?://[^\s<>\"']+$")

AWAITING, AMENDMENT_PENDING, EXECUTED = "awaiting_acceptance", "amendment_pending", "executed"
CONTRACT_STATUS_LABELS = {
    AWAITING: "Awaiting acceptance",
    AMENDMENT_PENDING: "Amendment awaiting acceptance",
    EXECUTED: "Executed",
}
PARTIES = {"fsp": "Provider", "so": "System operator"}


# -- templates: validation -----------------------------------------------------------------------
def placeholders_in(text: str, field_name: str = "body") -> list[str]:
    """The placeholders ``text`` uses, in order. Raises InvalidInput naming each unknown or malformed
    placeholder and its line."""
    errors = Errors()
    used: list[str] = []
    for number, line in enumerate(text.splitlines() or [""], start=1):
        for match in _PLACEHOLDER.finditer(line):
            name = match.group(1)
            if not _NAME.match(name):
                errors.add(field_name, f"line {number}: {match.group(0)!r} is not a placeholder name")
            elif name not in PLACEHOLDERS:
                errors.add(
                    field_name,
                    f"line {number}: unknown placeholder {{{{{name}}}}}; known placeholders: "
                    + ", ".join(PLACEHOLDERS),
                )
            else:
                used.append(name)
        rest = _PLACEHOLDER.sub("", line)
        if "{{" in rest or "}}" in rest:
            errors.add(field_name, f"line {number}: '{{{{' and '}}}}' must pair up around a placeholder name")
    errors.raise_if_any()
    return list(dict.fromkeys(used))


def clean_standard_terms(errors: Errors, terms: Iterable[Any]) -> list[dict[str, str]]:
    terms = list(terms or [])
    if len(terms) > MAX_STANDARD_TERMS:
        errors.add("standard_terms", f"{len(terms)} references; at most {MAX_STANDARD_TERMS}")
        return []
    out = []
    for i, term in enumerate(terms, start=1):
        name = f"standard_terms[{i}]"
        if not isinstance(term, Mapping):
            errors.add(name, "must be an object with reference, title and url")
            continue
        unknown = sorted(set(term) - {"reference", "title", "url"})
        if "extra" in unknown:  # parse_terms_text: a line with more than three parts
            errors.add(name, "has more than three parts; write reference | title | address")
        elif unknown:
            errors.add(name, f"unknown field(s) {', '.join(unknown)}")
        reference = errors.text(f"{name}.reference", term.get("reference"), required=True, max_len=200)
        title = errors.text(f"{name}.title", term.get("title"), max_len=300)
        url = errors.text(f"{name}.url", term.get("url"), max_len=500)
        if url and not _URL.match(url):
            errors.add(f"{name}.url", f"{url!r} is not an http(s) address")
            url = None
        if reference:
            out.append({k: v for k, v in (("reference", reference), ("title", title), ("url", url)) if v})
    return out


def parse_terms_text(text: str) -> list[dict[str, str]]:
    """Standard terms written one per line as 'reference | title | url' (title and url optional)."""
    terms = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        term = {"reference": parts[0]}
        for key, value in zip(("title", "url", "extra"), parts[1:], strict=False):
            if value:
                term[key] = value  # 'extra' (a fourth part) is refused by clean_standard_terms
        terms.append(term)
    return terms


def terms_text(terms: Iterable[Mapping[str, str]]) -> str:
    return "\n".join(
        " | ".join([t.get("reference", ""), t.get("title", ""), t.get("url", "")]).rstrip(" |") for t in terms
    )


# -- templates: defaults -----------------------------------------------------------------------
def _operator_names() -> dict[str, str]:
    return {o["operator_id"]: o["operator_name"] for o in taxonomy.table("operators")}


def _market_names() -> dict[str, str]:
    return {m["market_id"]: m["market_name"] for m in taxonomy.table("markets")}


def default_template(product: ProductInfo) -> dict[str, Any]:
    """A starting point for the SO's template: the usual structure of a GB flexibility services
    contract, referring to the standard terms of the product's kind of market."""
    if product.market_id.endswith("_flex"):
        terms = [
            {
                "reference": "ENA Flexibility Services Standard Agreement",
                "title": "Open Networks standard agreement for DSO flexibility services (edition named by "
                "the operator)",
                "url": ENA_FLEX,
            }
        ]
    else:
        terms = [
            {
                "reference": "NESO service terms",
                "title": "The standard contract terms of the service, as published by NESO",
                "url": NESO_SERVICES,
            }
        ]
    body = "\n".join(
        [
            "# Parties",
            "This agreement is between **{{so_name}}** (the Buyer) and **{{fsp_name}}** (the Provider).",
            "",
            "# Service",
            "The Provider shall make available the service **{{product_name}}** ({{product_id}}) in the "
            "market {{market_name}}, direction {{direction}}, from {{start_date}}.",
            "",
            "Contracted capacity: **{{capacity_mw}} MW**. Time to full response: {{response_time_s}}.",
            "",
            "Service windows:",
            "",
            "{{service_windows}}",
            "",
            "# Assets",
            "The service is delivered by {{subject_name}}, prequalified on {{prequalified_on}}:",
            "",
            "{{asset_list}}",
            "",
            "# Payment",
            "- Availability: {{availability_price_gbp_per_mw_h}}",
            "- Utilisation: {{utilisation_price_gbp_per_mwh}}",
            "",
            "# Standard terms",
            "This agreement incorporates the following standard terms, which prevail over this schedule "
            "where they differ:",
            "",
            "{{standard_terms}}",
        ]
    )
    return {"title": f"Flexibility services agreement: {product.name}", "body": body, "standard_terms": terms}


# -- templates: storage --------------------------------------------------------------------------
@dataclass
class TemplateView:
    product_id: str
    product_name: str
    operator_id: str
    version: int
    current_version: int
    title: str
    body: str
    standard_terms: list[dict[str, str]]
    placeholders: list[str]
    change_note: str | None
    saved_at: datetime
    saved_by: str | None
    editable: bool = False


@dataclass
class TemplateSaved:
    template: TemplateView
    contracts_generated: list[str]  # references of contracts generated because the template arrived


def user_names(s: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of users by id (for "who did it" columns)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(s.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).tuples().all())


def _template_view(
    s: Session,
    principal: Principal,
    product: ProductInfo,
    template: ContractTemplate,
    version: int | None = None,
) -> TemplateView:
    wanted = template.current_version if version is None else version
    row = s.scalars(
        select(ContractTemplateVersion).where(
            ContractTemplateVersion.template_id == template.id, ContractTemplateVersion.version == wanted
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"the template of {product.product_id} has no version {wanted}")
    return TemplateView(
        product_id=product.product_id,
        product_name=product.name,
        operator_id=template.operator_id,
        version=row.version,
        current_version=template.current_version,
        title=row.title,
        body=row.body,
        standard_terms=list(row.standard_terms or []),
        placeholders=placeholders_in(row.title + "\n" + row.body),
        change_note=row.change_note,
        saved_at=row.created_at,
        saved_by=user_names(s, [row.created_by_id]).get(row.created_by_id),
        editable=catalogue.owns(principal, product),
    )


def _template_row(s: Session, product_id: str) -> ContractTemplate | None:
    return s.scalars(select(ContractTemplate).where(ContractTemplate.product_id == product_id)).one_or_none()


def get_template(
    s: Session, principal: Principal, product_id: str, version: int | None = None
) -> TemplateView | None:
    """The product's standard contract (None when its SO has written none). Providers may read it
    before applying; system operators and admins too."""
    principal.require(Role.FSP, Role.SYSTEM_OPERATOR, action="read contract templates")
    product = catalogue.product_info(s, product_id)
    template = _template_row(s, product.product_id)
    return None if template is None else _template_view(s, principal, product, template, version)


def template_versions(s: Session, principal: Principal, product_id: str) -> list[TemplateView]:
    """Every version, newest first."""
    principal.require(Role.FSP, Role.SYSTEM_OPERATOR, action="read contract templates")
    product = catalogue.product_info(s, product_id)
    template = _template_row(s, product.product_id)
    if template is None:
        return []
    return [
        _template_view(s, principal, product, template, v) for v in range(template.current_version, 0, -1)
    ]


def template_products(s: Session, principal: Principal) -> list[ProductInfo]:
    """The products whose templates the principal may write (its operator's; admins: all)."""
    principal.require(Role.SYSTEM_OPERATOR, action="write contract templates")
    return catalogue.editable_products(s, principal)


def save_template(
    s: Session,
    principal: Principal,
    product_id: str,
    title: str,
    body: str,
    standard_terms: Iterable[Mapping[str, Any]] = (),
    change_note: str | None = None,
) -> TemplateSaved:
    """Create or version the product's template (its SO or an admin). Prequalified applications
    without a contract get theirs generated now."""
    principal.require(Role.SYSTEM_OPERATOR, action="write contract templates")
    product = catalogue.product_info(s, product_id)
    if not catalogue.owns(principal, product):
        raise AccessDenied(
            f"The contract template of {product.label} is written by its operator ({product.operator_id})."
        )
    errors = Errors()
    clean_title = errors.text("title", title, required=True, max_len=300)
    clean_body = errors.text("body", body, required=True, max_len=MAX_BODY_CHARS, multiline=True)
    clean_terms = clean_standard_terms(errors, standard_terms)
    note = errors.text("change_note", change_note, max_len=2000, multiline=True)
    errors.raise_if_any()
    used = placeholders_in(clean_title, "title") + placeholders_in(clean_body, "body")
    missing = [p for p in REQUIRED_PLACEHOLDERS if p not in used]
    if missing:
        raise InvalidInput(
            [FieldError("body", f"the contract must name the provider: use {{{{{missing[0]}}}}}")]
        )
    list_inline = [p for p in placeholders_in(clean_title, "title") if p in LIST_PLACEHOLDERS]
    if list_inline:
        raise InvalidInput([FieldError("title", f"{{{{{list_inline[0]}}}}} is a list; use it in the body")])
    now = utcnow()
    template = _template_row(s, product.product_id)
    if template is None:
        template = ContractTemplate(
            product_id=product.product_id,
            operator_id=product.operator_id,
            current_version=1,
            created_by_id=principal.user_id,
            created_at=now,
            updated_at=now,
        )
        try:
            with s.begin_nested():
                s.add(template)
                s.flush()
        except IntegrityError:
            raise Conflict(
                "a colleague created this template at the same moment; reload and edit it"
            ) from None
        version = 1
    else:
        current = _template_view(s, principal, product, template)
        if (current.title, current.body, current.standard_terms) == (clean_title, clean_body, clean_terms):
            return TemplateSaved(current, [])
        version = template.current_version + 1
        template.current_version = version
        template.updated_at = now
    s.add(
        ContractTemplateVersion(
            template_id=template.id,
            version=version,
            title=clean_title,
            body=clean_body,
            standard_terms=clean_terms,
            change_note=note,
            created_by_id=principal.user_id,
            created_at=now,
        )
    )
    s.flush()
    audit.record(
        s,
        principal,
        "contract.template_save",
        "contract_template",
        template.id,
        product_id=product.product_id,
        version=version,
        note=note,
    )
    generated = []
    waiting = s.scalars(
        select(PrequalApplication)
        .outerjoin(Contract, Contract.application_id == PrequalApplication.id)
        .where(
            PrequalApplication.product_id == product.product_id,
            PrequalApplication.status == "prequalified",
            Contract.id.is_(None),
        )
        .order_by(PrequalApplication.id)
    )
    for app in list(waiting):
        contract = generate_for_application(s, principal, app)
        if contract is not None:
            generated.append(contract.reference)
    return TemplateSaved(_template_view(s, principal, product, template), generated)


# -- values --------------------------------------------------------------------------------------
def _long_date(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


def _money(value: float, unit: str) -> str:
    return f"£{value:,.2f} {unit}"


def _windows(product: Product | None) -> list[str]:
    if product is None or not product.service_windows:
        return ["As specified in each tender or auction of the product."]
    out = []
    for w in product.service_windows:
        months = w.get("months") or []
        month_text = (
            " in " + ", ".join(date(2000, int(m), 1).strftime("%b") for m in months) if months else ""
        )
        out.append(f"{w.get('days', 'all')} {w.get('start', '')}–{w.get('end', '')} (UK time){month_text}")
    return out


@cache
def _asset_type_names() -> dict[str, str]:
    return {r["asset_type"]: r["asset_type_name"] for r in taxonomy.table("asset_types")}


def _asset_line(asset: Asset) -> str:
    parts = [_asset_type_names().get(asset.asset_type, asset.asset_type), f"{asset.capacity_mw:g} MW"]
    if asset.mpan:
        parts.append(f"MPAN {asset.mpan}")
    if asset.dno_area:
        parts.append(asset.dno_area)
    return f"{facts.asset_ref(asset)} {asset.name}: " + ", ".join(parts)


def contract_values(s: Session, app: PrequalApplication, contract: Contract, version: int) -> dict[str, Any]:
    """Every placeholder's value for ``app``'s contract, from the registry as it is now."""
    product = catalogue.product_info(s, app.product_id)
    registered = s.scalars(select(Product).where(Product.product_id == app.product_id)).one_or_none()
    dossier = s.get(PrequalDossier, app.dossier_id)
    dossier_version = s.scalars(
        select(PrequalDossierVersion).where(
            PrequalDossierVersion.dossier_id == dossier.id,
            PrequalDossierVersion.version == app.dossier_version,
        )
    ).one()
    if dossier.asset_id is not None:
        asset = s.get(Asset, dossier.asset_id)
        members, subject_name = [asset], asset.name
    else:
        group = s.get(AssetGroup, dossier.group_id)
        members, subject_name = facts.current_members(s, group), group.name
    extras = app.extras or {}
    so_name = (
        s.get(Organisation, registered.organisation_id).name
        if registered is not None
        else _operator_names().get(product.operator_id, product.operator_id)
    )

    def price(fixed: float | None, offered: Any, unit: str) -> str:
        if fixed is not None:
            return _money(fixed, unit)
        if offered is not None:
            return _money(float(offered), unit) + " (as offered)"
        return "As accepted in each tender or auction of the product."

    prequalified = (app.decided_at or utcnow()).astimezone(GB).date()
    requested = extras.get("requested_start_date")
    start = max(prequalified, date.fromisoformat(requested)) if requested else prequalified
    response = dossier_version.technical.get("response_time_s")
    return {
        "contract_reference": contract.reference,
        "contract_version": str(version),
        "fsp_name": s.get(Organisation, app.organisation_id).name,
        "so_name": so_name,
        "product_name": product.name,
        "product_id": product.product_id,
        "market_name": _market_names().get(product.market_id, product.market_id),
        "subject_name": subject_name,
        "asset_list": [_asset_line(a) for a in members] or ["(the group has no current members)"],
        "capacity_mw": f"{float(extras['offered_capacity_mw']):g}" if "offered_capacity_mw" in extras else "",
        "availability_price_gbp_per_mw_h": price(
            registered.availability_price_gbp_per_mw_h if registered else None,
            extras.get("availability_price_gbp_per_mw_h"),
            "per MW per hour",
        ),
        "utilisation_price_gbp_per_mwh": price(
            registered.utilisation_price_gbp_per_mwh if registered else None,
            extras.get("utilisation_price_gbp_per_mwh"),
            "per MWh",
        ),
        "start_date": _long_date(start),
        "prequalified_on": _long_date(prequalified),
        "direction": product.direction or dossier_version.technical.get("direction") or "",
        "response_time_s": f"{float(response):g} s" if response is not None else "not declared",
        "service_windows": _windows(registered),
    }


# -- rendering -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Span:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Block:
    kind: str  # h1 | h2 | h3 | p | ul | ol
    items: tuple[tuple[Span, ...], ...]  # one item for headings and paragraphs


_HEADING = re.compile(r"^(#{1,3})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")


def _terms_lines(terms: Iterable[Mapping[str, str]]) -> list[str]:
    lines = []
    for t in terms:
        text = t["reference"]
        if t.get("title"):
            text += f": {t['title']}"
        if t.get("url"):
            text += f" <{t['url']}>"
        lines.append(text)
    return lines


def _inline(text: str, values: Mapping[str, Any]) -> tuple[Span, ...]:
    """Spans of one line of template text: '**' toggles bold in the template's own text only; values
    are inserted as they are (never parsed), so nothing a provider typed can change the markup."""
    spans: list[Span] = []
    bold = False

    def add(piece: str) -> None:
        if not piece:
            return
        if spans and spans[-1].bold == bold:
            spans[-1] = Span(spans[-1].text + piece, bold)
        else:
            spans.append(Span(piece, bold))

    pos = 0
    for match in [*_PLACEHOLDER.finditer(text), None]:
        for i, part in enumerate(text[pos : match.start() if match else len(text)].split("**")):
            if i:
                bold = not bold
            add(part)
        if match is None:
            break
        value = values.get(match.group(1), "")
        add("; ".join(map(str, value)) if isinstance(value, list | tuple) else str(value))
        pos = match.end()
    return tuple(spans)


def parse_blocks(body: str, values: Mapping[str, Any]) -> list[Block]:
    """The template body as blocks with values filled in."""
    blocks: list[Block] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_kind = ""

    def flush() -> None:
        nonlocal paragraph, items, list_kind
        if paragraph:
            text = " ".join(line.strip() for line in paragraph)
            alone = _PLACEHOLDER.fullmatch(text.strip())
            if alone and alone.group(1) in LIST_PLACEHOLDERS:
                lines = values.get(alone.group(1)) or []
                blocks.append(Block("ul", tuple((Span(str(x)),) for x in lines)))
            else:
                blocks.append(Block("p", (_inline(text, values),)))
        if items:
            blocks.append(Block(list_kind, tuple(_inline(i, values) for i in items)))
        paragraph, items, list_kind = [], [], ""

    for line in body.splitlines():
        if not line.strip():
            flush()
            continue
        heading = _HEADING.match(line)
        bullet, numbered = _BULLET.match(line), _NUMBERED.match(line)
        if heading:
            flush()
            blocks.append(Block(f"h{len(heading.group(1))}", (_inline(heading.group(2).strip(), values),)))
        elif bullet or numbered:
            kind = "ul" if bullet else "ol"
            if paragraph or (items and kind != list_kind):
                flush()
            list_kind = kind
            items.append((bullet or numbered).group(1))
        elif items:  # a continuation line of the last item
            items[-1] += " " + line.strip()
        else:
            paragraph.append(line)
    flush()
    return blocks


@dataclass(frozen=True)
class Document:
    """Everything a rendering needs; the HTML and the PDF are drawn from the same blocks."""

    title: str
    blocks: tuple[Block, ...]
    reference: str
    version: int
    parties: str
    generated_on: str
    template_note: str


def build_document(
    template: ContractTemplateVersion | TemplateView,
    values: Mapping[str, Any],
    product_label: str,
    generated: datetime,
) -> Document:
    values = {**values, "standard_terms": _terms_lines(template.standard_terms or [])}
    blocks = parse_blocks(template.body, values)
    uses_terms = "standard_terms" in placeholders_in(template.body)
    if template.standard_terms and not uses_terms:  # the references are always in the document
        blocks.append(Block("h1", ((Span("Standard terms incorporated by reference"),),)))
        blocks.append(Block("ul", tuple((Span(x),) for x in values["standard_terms"])))
    title = "".join(span.text for span in _inline(template.title, values))
    return Document(
        title=title,
        blocks=tuple(blocks),
        reference=str(values.get("contract_reference") or ""),
        version=int(values.get("contract_version") or 0),
        parties=f"{values.get('so_name', '')} and {values.get('fsp_name', '')}",
        generated_on=_long_date(generated.astimezone(GB).date()),
        template_note=f"the standard template of {product_label}, template version {template.version}",
    )


_CSS = (
    "body{font-family:Georgia,'DejaVu Serif',serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#111}header{border-bottom:1px solid #999;margin-bottom:1.5rem}"
    ".meta{color:#555;font-size:.9rem}footer{border-top:1px solid #999;margin-top:2rem;color:#555;"
    "font-size:.85rem}h2{font-size:1.2rem;margin-top:1.6rem}h3{font-size:1.05rem}"
)


def _html_spans(spans: Iterable[Span]) -> str:
    out = []
    for span in spans:
        text = html.escape(span.text, quote=True)
        out.append(f"<strong>{text}</strong>" if span.bold else text)
    return "".join(out)


def render_html(doc: Document) -> str:
    """The contract as a standalone HTML page; every text is escaped."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en-GB">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(doc.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{e(doc.title)}</h1>",
        f'<p class="meta">Contract {e(doc.reference)}, version {doc.version} · {e(doc.parties)}</p>',
        "</header>",
        "<main>",
    ]
    for block in doc.blocks:
        if block.kind in ("h1", "h2", "h3"):
            level = int(block.kind[1]) + 1  # the document title is the page's h1
            parts.append(f"<h{level}>{_html_spans(block.items[0])}</h{level}>")
        elif block.kind == "p":
            parts.append(f"<p>{_html_spans(block.items[0])}</p>")
        else:
            inner = "".join(f"<li>{_html_spans(item)}</li>" for item in block.items)
            parts.append(f"<{block.kind}>{inner}</{block.kind}>")
    parts += [
        "</main>",
        "<footer>",
        f"<p>Generated by SFE on {e(doc.generated_on)} from {e(doc.template_note)}. The parties accept "
        "this version in the SFE app; each acceptance records the SHA-256 of this document.</p>",
        "</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
    "/Library/Fonts",
)
_LATIN1_FALLBACK = str.maketrans(
    {"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "•": "-", "€": "EUR", "·": "-"}
)


@cache
def unicode_font() -> tuple[Path, Path] | None:
    """(regular, bold) DejaVu Sans files, from SFE_CONTRACT_FONT_DIR or the usual system places;
    None means the PDF falls back to Helvetica (Latin-1 only)."""
    dirs = [os.environ["SFE_CONTRACT_FONT_DIR"]] if os.environ.get("SFE_CONTRACT_FONT_DIR") else []
    for folder in (*dirs, *_FONT_DIRS):
        regular, bold = Path(folder) / "DejaVuSans.ttf", Path(folder) / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


def render_pdf(doc: Document, content_sha256: str, generated: datetime) -> bytes:
    """The contract as PDF (A4), drawn from the same blocks as the HTML, with the HTML's content
    hash in every page footer."""
    from fpdf import FPDF

    font = unicode_font()
    family = "DejaVu" if font else "helvetica"

    def text(value: str) -> str:
        if font:
            return value
        return value.translate(_LATIN1_FALLBACK).encode("latin-1", "replace").decode("latin-1")

    footer_text = text(f"{doc.reference} version {doc.version} · content SHA-256 {content_sha256}")

    class ContractPdf(FPDF):
        def footer(self) -> None:
            self.set_y(-14)
            self.set_font(family, size=7)
            self.set_text_color(90)
            self.cell(0, 4, footer_text, align="C", new_x="LMARGIN", new_y="NEXT")
            self.cell(0, 4, text(f"page {self.page_no()} of {{nb}}"), align="C")

    pdf = ContractPdf(format="A4")
    if font:
        pdf.add_font(family, "", str(font[0]))
        pdf.add_font(family, "B", str(font[1]))
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_margins(20, 20, 20)
    pdf.set_title(text(doc.title))
    pdf.set_subject(text(f"Contract {doc.reference} version {doc.version} between {doc.parties}"))
    pdf.set_author("SFE (System-wide Flexibility Exchange)")
    pdf.set_creator("SFE")
    pdf.set_lang("en-GB")
    pdf.set_creation_date(generated)
    pdf.add_page()

    def spans(items: Iterable[Span], size: float, height: float) -> None:
        for span in items:
            pdf.set_font(family, "B" if span.bold else "", size)
            pdf.write(height, text(span.text))
        pdf.ln(height)

    pdf.set_font(family, "B", 16)
    pdf.multi_cell(0, 8, text(doc.title), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 9)
    pdf.set_text_color(90)
    pdf.multi_cell(
        0,
        5,
        text(f"Contract {doc.reference}, version {doc.version} · {doc.parties}"),
        align="L",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_text_color(0)
    pdf.ln(4)
    for block in doc.blocks:
        if block.kind in ("h1", "h2", "h3"):
            size = {"h1": 13, "h2": 12, "h3": 11}[block.kind]
            pdf.ln(2)
            spans((Span(s.text, True) for s in block.items[0]), size, 6.5)
            pdf.ln(1)
        elif block.kind == "p":
            spans(block.items[0], 10.5, 5.5)
            pdf.ln(2)
        else:
            margin = pdf.l_margin
            for number, item in enumerate(block.items, start=1):
                pdf.set_x(margin)
                pdf.set_font(family, "", 10.5)
                pdf.cell(7, 5.5, text("•" if block.kind == "ul" else f"{number}."))
                pdf.set_left_margin(margin + 7)
                spans(item, 10.5, 5.5)
                pdf.set_left_margin(margin)
            pdf.ln(2)
    pdf.ln(4)
    pdf.set_font(family, "", 8.5)
    pdf.set_text_color(90)
    pdf.multi_cell(
        0,
        4.5,
        text(
            f"Generated by SFE on {doc.generated_on} from {doc.template_note}. The parties accept this "
            "version in the SFE app; each acceptance records the SHA-256 of the HTML version of this "
            f"document:\n{content_sha256}"
        ),
        align="L",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


# -- contracts: generation -----------------------------------------------------------------------
def _current_template_version(s: Session, product_id: str) -> ContractTemplateVersion | None:
    template = _template_row(s, product_id)
    if template is None:
        return None
    return s.scalars(
        select(ContractTemplateVersion).where(
            ContractTemplateVersion.template_id == template.id,
            ContractTemplateVersion.version == template.current_version,
        )
    ).one()


def _write_version(
    s: Session,
    actor: Principal | None,
    app: PrequalApplication,
    contract: Contract,
    tv: ContractTemplateVersion,
) -> ContractVersion:
    number = (contract.current_version + 1) if contract.versions else 1
    values = contract_values(s, app, contract, number)
    now = utcnow()
    product = catalogue.product_info(s, app.product_id)
    doc = build_document(tv, values, product.label, now)
    page = render_html(doc)
    content_sha256 = hashlib.sha256(page.encode("utf-8")).hexdigest()
    pdf = render_pdf(doc, content_sha256, now)
    version = ContractVersion(
        contract_id=contract.id,
        version=number,
        template_version_id=tv.id,
        values=values,
        html=page,
        content_sha256=content_sha256,
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        generated_by_id=actor.user_id if actor else None,
        generated_at=now,
    )
    contract.versions.append(version)  # keeps the loaded collection in step with the database
    contract.current_version = number
    s.flush()
    audit.record(
        s,
        actor,
        "contract.generate",
        "contract",
        contract.id,
        reference=contract.reference,
        version=number,
        template_version=tv.version,
        content_sha256=content_sha256,
    )
    return version


def generate_for_application(s: Session, actor: Principal | None, app: PrequalApplication) -> Contract | None:
    """The first contract version of a prequalified application, if its product has a template
    (None otherwise: it is generated when the template is saved). Idempotent per application."""
    tv = _current_template_version(s, app.product_id)
    if tv is None:
        return None
    existing = s.scalars(select(Contract).where(Contract.application_id == app.id)).one_or_none()
    if existing is not None:
        return existing
    contract = Contract(
        application_id=app.id,
        organisation_id=app.organisation_id,
        product_id=app.product_id,
        operator_id=app.operator_id,
        current_version=0,
    )
    s.add(contract)
    s.flush()
    contract.reference = f"SFE-C-{contract.id:06d}"
    _write_version(s, actor, app, contract, tv)
    return contract


# -- contracts: reading --------------------------------------------------------------------------
@dataclass
class AcceptanceView:
    party: str
    by: str | None
    organisation_name: str
    accepted_at: datetime
    content_sha256: str


@dataclass
class ContractVersionView:
    version: int
    template_version: int
    content_sha256: str
    pdf_sha256: str
    generated_at: datetime
    generated_by: str | None
    executed_at: datetime | None
    acceptances: list[AcceptanceView]

    def accepted_by(self, party: str) -> AcceptanceView | None:
        return next((a for a in self.acceptances if a.party == party), None)


@dataclass
class ContractView:
    contract_id: int
    reference: str
    application_id: int
    product_id: str
    product_name: str
    operator_id: str
    fsp_name: str
    so_name: str
    subject_name: str
    status: str
    current_version: int
    versions: list[ContractVersionView]  # newest first
    my_party: str | None  # fsp | so | None (admins read only)
    template_outdated: bool = False  # a newer template version exists

    @property
    def status_label(self) -> str:
        return CONTRACT_STATUS_LABELS[self.status]

    @property
    def current(self) -> ContractVersionView:
        return self.versions[0]

    @property
    def awaiting_my_acceptance(self) -> bool:
        return self.my_party is not None and self.current.accepted_by(self.my_party) is None


def _is_party_so(principal: Principal, operator_id: str) -> bool:
    return (
        principal.role == Role.SYSTEM_OPERATOR
        and bool(principal.operator_id)
        and principal.operator_id == operator_id
    )


def _party(principal: Principal, contract: Contract) -> str | None:
    if principal.role == Role.FSP and principal.organisation_id == contract.organisation_id:
        return "fsp"
    if _is_party_so(principal, contract.operator_id):
        return "so"
    return None


def _visible_contract(s: Session, principal: Principal, contract_id: int) -> Contract:
    principal.require(Role.FSP, Role.SYSTEM_OPERATOR, action="read contracts")
    contract = s.get(Contract, contract_id)
    if contract is None or not (principal.is_admin or _party(principal, contract)):
        raise NotFound(f"no contract {contract_id}")
    return contract


def _status(versions: list[ContractVersion]) -> str:
    if versions[-1].executed_at is not None:
        return EXECUTED
    if any(v.executed_at is not None for v in versions[:-1]):
        return AMENDMENT_PENDING
    return AWAITING


def _contract_view(s: Session, principal: Principal, contract: Contract) -> ContractView:
    versions = list(contract.versions)
    latest = versions[-1]
    acceptances = [a for v in versions for a in v.acceptances]
    names = user_names(s, [*(v.generated_by_id for v in versions), *(a.user_id for a in acceptances)])
    orgs = {a.organisation_id for a in acceptances}
    org_names = (
        dict(
            s.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(orgs)))
            .tuples()
            .all()
        )
        if orgs
        else {}
    )
    template_numbers = dict(
        s.execute(
            select(ContractTemplateVersion.id, ContractTemplateVersion.version).where(
                ContractTemplateVersion.id.in_({v.template_version_id for v in versions})
            )
        )
        .tuples()
        .all()
    )
    current_template = _current_template_version(s, contract.product_id)
    return ContractView(
        contract_id=contract.id,
        reference=contract.reference or "",
        application_id=contract.application_id,
        product_id=contract.product_id,
        product_name=latest.values.get("product_name", contract.product_id),
        operator_id=contract.operator_id,
        fsp_name=latest.values.get("fsp_name", ""),
        so_name=latest.values.get("so_name", ""),
        subject_name=latest.values.get("subject_name", ""),
        status=_status(versions),
        current_version=contract.current_version,
        versions=[
            ContractVersionView(
                version=v.version,
                template_version=template_numbers.get(v.template_version_id, 0),
                content_sha256=v.content_sha256,
                pdf_sha256=v.pdf_sha256,
                generated_at=v.generated_at,
                generated_by=names.get(v.generated_by_id),
                executed_at=v.executed_at,
                acceptances=[
                    AcceptanceView(
                        a.party,
                        names.get(a.user_id),
                        org_names.get(a.organisation_id, ""),
                        a.accepted_at,
                        a.content_sha256,
                    )
                    for a in v.acceptances
                ],
            )
            for v in reversed(versions)
        ],
        my_party=_party(principal, contract),
        template_outdated=current_template is not None and current_template.id != latest.template_version_id,
    )


def list_contracts(
    s: Session, principal: Principal, *, product_id: str | None = None, status: str | None = None
) -> list[ContractView]:
    """Contracts the principal is a party to (admins: all), newest first."""
    principal.require(Role.FSP, Role.SYSTEM_OPERATOR, action="read contracts")
    stmt = select(Contract).order_by(Contract.id.desc())
    if not principal.is_admin:
        if principal.role == Role.FSP:
            stmt = stmt.where(Contract.organisation_id == principal.organisation_id)
        else:
            stmt = stmt.where(Contract.operator_id == (principal.operator_id or "\x00none"))
    if product_id:
        stmt = stmt.where(Contract.product_id == product_id)
    if status is not None and status not in CONTRACT_STATUS_LABELS:
        raise InvalidInput(
            [FieldError("status", f"{status!r} is not one of {', '.join(CONTRACT_STATUS_LABELS)}")]
        )
    views = [_contract_view(s, principal, c) for c in s.scalars(stmt)]
    return [v for v in views if status is None or v.status == status]


def get_contract(s: Session, principal: Principal, contract_id: int) -> ContractView:
    return _contract_view(s, principal, _visible_contract(s, principal, contract_id))


def contract_for_application(s: Session, principal: Principal, application_id: int) -> ContractView | None:
    contract = s.scalars(select(Contract).where(Contract.application_id == application_id)).one_or_none()
    if contract is None:
        return None
    return get_contract(s, principal, contract.id)


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    content: bytes


def download(
    s: Session, principal: Principal, contract_id: int, fmt: str = "pdf", version: int | None = None
) -> Download:
    """A contract version (default: the current one) as HTML or PDF, for its parties and admins."""
    if fmt not in ("html", "pdf"):
        raise InvalidInput([FieldError("format", f"{fmt!r} is not html or pdf")])
    contract = _visible_contract(s, principal, contract_id)
    wanted = contract.current_version if version is None else version
    row = next((v for v in contract.versions if v.version == wanted), None)
    if row is None:
        raise NotFound(f"contract {contract.reference} has no version {wanted}")
    name = f"{contract.reference}-v{row.version}.{fmt}"
    if fmt == "html":
        return Download(name, "text/html; charset=utf-8", row.html.encode("utf-8"))
    return Download(name, "application/pdf", row.pdf)


# -- contracts: acceptance and amendments ----------------------------------------------------------
def accept(
    s: Session, principal: Principal, contract_id: int, version: int, content_sha256: str
) -> ContractView:
    """The principal's party accepts ``version``, which must be the current one and have exactly the
    content hash given (the text the person was shown). Both parties accepted = executed."""
    principal.require(Role.FSP, Role.SYSTEM_OPERATOR, action="accept contracts")
    contract = _visible_contract(s, principal, contract_id)
    party = _party(principal, contract)
    if party is None:
        raise AccessDenied("Only the provider and the system operator of a contract can accept it.")
    if version != contract.current_version:
        raise Conflict(
            f"{contract.reference} version {version} is not the current version ({contract.current_version}); "
            "read the current version and accept that"
        )
    row = next(v for v in contract.versions if v.version == version)
    given = str(content_sha256 or "").strip().lower()
    if given != row.content_sha256:
        raise Conflict(
            f"the content hash given ({given[:12] or 'none'}…) is not that of {contract.reference} version "
            f"{version} ({row.content_sha256[:12]}…); reload the contract and accept what you read"
        )
    if any(a.party == party for a in row.acceptances):
        raise Conflict(
            f"{contract.reference} version {version} is already accepted by the {PARTIES[party].lower()}"
        )
    now = utcnow()
    acceptance = ContractAcceptance(
        contract_version_id=row.id,
        party=party,
        user_id=principal.user_id,
        organisation_id=principal.organisation_id,
        content_sha256=row.content_sha256,
        accepted_at=now,
    )
    try:
        with s.begin_nested():
            row.acceptances.append(acceptance)
            s.flush()
    except IntegrityError:
        raise Conflict(
            f"a colleague accepted {contract.reference} version {version} at the same moment"
        ) from None
    audit.record(
        s,
        principal,
        "contract.accept",
        "contract",
        contract.id,
        reference=contract.reference,
        version=version,
        party=party,
        content_sha256=row.content_sha256,
    )
    if {a.party for a in row.acceptances} == set(PARTIES):
        row.executed_at = now
        audit.record(
            s,
            principal,
            "contract.executed",
            "contract",
            contract.id,
            reference=contract.reference,
            version=version,
        )
    return get_contract(s, principal, contract_id)


def regenerate(s: Session, principal: Principal, contract_id: int) -> ContractView:
    """A new version from the product's current template and the registry as it is now (the SO of
    the contract). Refused when it would say the same as the current version."""
    principal.require(Role.SYSTEM_OPERATOR, action="regenerate contracts")
    contract = _visible_contract(s, principal, contract_id)
    if _party(principal, contract) != "so":
        raise AccessDenied("Only the contract's system operator can regenerate it.")
    tv = _current_template_version(s, contract.product_id)
    if tv is None:  # pragma: no cover - a contract exists only once a template does
        raise Conflict(f"{contract.product_id} has no contract template")
    app = s.get(PrequalApplication, contract.application_id)
    latest = contract.versions[-1]
    fresh = contract_values(s, app, contract, latest.version)
    if tv.id == latest.template_version_id and fresh == latest.values:
        raise Conflict(
            f"{contract.reference} is up to date with template version {tv.version}; nothing would change"
        )
    _write_version(s, principal, app, contract, tv)
    return get_contract(s, principal, contract_id)


def outdated_contracts(s: Session, principal: Principal, product_id: str) -> list[ContractView]:
    """The principal's contracts of ``product_id`` generated from an older template version."""
    return [c for c in list_contracts(s, principal, product_id=product_id) if c.template_outdated]


def regenerate_outdated(s: Session, principal: Principal, product_id: str) -> list[str]:
    """Regenerate every contract of the product still on an older template version; their references."""
    done = []
    for view in outdated_contracts(s, principal, product_id):
        regenerate(s, principal, view.contract_id)
        done.append(view.reference)
    return done
