"""The market rules library (UC7): rules and regulation documents per market and product, with every
version kept, ranked full-text search (``sfe.rules.search``) and "what changed" between versions.

Anyone signed in reads the library. A system operator adds documents and new versions for the markets
it operates; an admin for any market and for GB-wide documents (codes that span markets). Every
addition is audited. Versions are never edited or deleted: a correction is a new version.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from sfe import taxonomy
from sfe.registry import audit
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.models_rules import LibraryDocument, LibraryDocumentVersion
from sfe.rules import catalogue, search
from sfe.rules.kinds import RuleError

DOC_TYPES = {
    "service_terms": "Service terms",
    "procurement_rules": "Procurement / auction rules",
    "standard_agreement": "Standard agreement",
    "product_definition": "Product definitions",
    "code": "Industry code",
    "regulation": "Regulation / licence",
    "guidance": "Guidance",
}
MAX_TITLE, MAX_SUMMARY, MAX_BODY = 300, 4_000, 200_000
SUMMARY_NOTE = "Summary written by SFE, not the legal text: the linked source document is binding."


@dataclass(frozen=True)
class DocumentView:
    """A document at one version (the current one unless asked otherwise)."""

    document_id: int
    slug: str
    market_id: str | None
    product_id: str | None
    doc_type: str
    publisher: str
    version: int
    current_version: int
    title: str
    summary: str
    body: str
    effective_date: date | None
    source_url: str | None
    change_note: str | None
    changed_at: datetime
    changed_by_id: int | None

    @property
    def is_current(self) -> bool:
        return self.version == self.current_version

    @property
    def doc_type_label(self) -> str:
        return DOC_TYPES.get(self.doc_type, self.doc_type)


@dataclass(frozen=True)
class SearchResult:
    document: DocumentView
    score: float
    matched_terms: tuple[str, ...]
    phrase_in: tuple[str, ...]
    snippet: tuple[tuple[str, bool], ...]
    title_segments: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str
    diff: str  # unified diff (line level) of the field
    words_added: int
    words_removed: int


@dataclass(frozen=True)
class DocumentDiff:
    document_id: int
    from_version: int
    to_version: int
    changes: tuple[FieldChange, ...]

    @property
    def changed_fields(self) -> list[str]:
        return [c.field for c in self.changes]


# -- reading ---------------------------------------------------------------------------------------
def _view(doc: LibraryDocument, v: LibraryDocumentVersion) -> DocumentView:
    return DocumentView(
        document_id=doc.id,
        slug=doc.slug,
        market_id=doc.market_id,
        product_id=doc.product_id,
        doc_type=doc.doc_type,
        publisher=doc.publisher,
        version=v.version,
        current_version=doc.current_version,
        title=v.title,
        summary=v.summary,
        body=v.body,
        effective_date=v.effective_date,
        source_url=v.source_url,
        change_note=v.change_note,
        changed_at=v.created_at,
        changed_by_id=v.created_by_id,
    )


def _current_rows(s: Session, market_id: str | None = None, product_id: str | None = None):
    stmt = (
        select(LibraryDocument, LibraryDocumentVersion)
        .join(
            LibraryDocumentVersion,
            (LibraryDocumentVersion.document_id == LibraryDocument.id)
            & (LibraryDocumentVersion.version == LibraryDocument.current_version),
        )
        .order_by(LibraryDocument.market_id, LibraryDocumentVersion.title)
    )
    if market_id:
        stmt = stmt.where(LibraryDocument.market_id == market_id)
    if product_id:
        stmt = stmt.where(LibraryDocument.product_id == product_id)
    return s.execute(stmt).all()


def list_documents(
    s: Session, market_id: str | None = None, product_id: str | None = None
) -> list[DocumentView]:
    """Every document at its current version, by market then title."""
    return [_view(doc, v) for doc, v in _current_rows(s, market_id, product_id)]


def _document(s: Session, document: int | str) -> LibraryDocument:
    stmt = select(LibraryDocument).options(selectinload(LibraryDocument.versions))
    if isinstance(document, int) or str(document).isdigit():
        stmt = stmt.where(LibraryDocument.id == int(document))
    else:
        stmt = stmt.where(LibraryDocument.slug == str(document))
    found = s.scalars(stmt).one_or_none()
    if found is None:
        raise NotFound(f"no library document {document!r}")
    return found


def get_document(s: Session, document: int | str, version: int | None = None) -> DocumentView:
    """A document by id or slug, at ``version`` (default: current). Raises NotFound."""
    doc = _document(s, document)
    wanted = version or doc.current_version
    for v in doc.versions:
        if v.version == wanted:
            return _view(doc, v)
    raise NotFound(f"{doc.slug} has no version {wanted} (versions 1-{doc.current_version})")


def versions(s: Session, document: int | str) -> list[DocumentView]:
    """Every version of a document, newest first."""
    doc = _document(s, document)
    return [_view(doc, v) for v in sorted(doc.versions, key=lambda v: -v.version)]


def library_size(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(LibraryDocument)) or 0)


# -- search ----------------------------------------------------------------------------------------
_INDEX_CACHE: dict[tuple, search.SearchIndex] = {}


def _index(views: list[DocumentView]) -> search.SearchIndex:
    """The index of these document versions, rebuilt only when a document or version changed."""
    key = tuple((v.document_id, v.version) for v in views)
    index = _INDEX_CACHE.get(key)
    if index is None:
        index = search.SearchIndex.build(
            search.Document(v.document_id, v.title, v.summary, v.body) for v in views
        )
        _INDEX_CACHE.clear()  # one library, one current index
        _INDEX_CACHE[key] = index
    return index


def search_documents(
    s: Session, query: str, market_id: str | None = None, limit: int = 20
) -> list[SearchResult]:
    """Current versions ranked by relevance to ``query`` (see sfe.rules.search), optionally within
    one market. A "quoted phrase" must appear."""
    views = list_documents(s, market_id)
    by_id = {v.document_id: v for v in views}
    return [
        SearchResult(by_id[h.key], h.score, h.matched_terms, h.phrase_in, h.snippet, h.title_segments)
        for h in _index(views).search(query, limit)
    ]


# -- what changed ----------------------------------------------------------------------------------
def _field_text(view: DocumentView, name: str) -> str:
    value = getattr(view, name)
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def diff(s: Session, document: int | str, from_version: int, to_version: int) -> DocumentDiff:
    """What changed between two versions, field by field (line diff plus words added/removed)."""
    before, after = get_document(s, document, from_version), get_document(s, document, to_version)
    changes = []
    for name in ("title", "effective_date", "source_url", "summary", "body"):
        a, b = _field_text(before, name), _field_text(after, name)
        if a == b:
            continue
        lines = difflib.unified_diff(
            _lines(a), _lines(b), f"{name} v{from_version}", f"{name} v{to_version}", lineterm="", n=1
        )
        words_a, words_b = a.split(), b.split()
        added = removed = 0
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(
            None, words_a, words_b, autojunk=False
        ).get_opcodes():
            if op in ("replace", "delete"):
                removed += i2 - i1
            if op in ("replace", "insert"):
                added += j2 - j1
        changes.append(FieldChange(name, a, b, "\n".join(lines), added, removed))
    return DocumentDiff(before.document_id, from_version, to_version, tuple(changes))


def _lines(text: str) -> list[str]:
    """Paragraphs split into sentences, so a changed sentence shows as one changed line."""
    out = []
    for paragraph in text.splitlines():
        out.extend(p for p in re.split(r"(?<=[.!?])\s+", paragraph.strip()) if p)
        out.append("")
    return out[:-1] if out else out


# -- writing ---------------------------------------------------------------------------------------
def _markets() -> dict[str, str]:
    return {m["market_id"]: m["operator_id"] for m in taxonomy.table("markets")}


def _check_editor(principal: Principal, market_id: str | None) -> None:
    principal.require(Role.SYSTEM_OPERATOR, action="add documents to the market rules library")
    if principal.is_admin:
        return
    if market_id is None:
        raise AccessDenied(
            "GB-wide documents (codes that span markets) are maintained by SFE administrators."
        )
    if _markets().get(market_id) != principal.operator_id:
        raise AccessDenied(f"market {market_id!r} is not operated by your organisation's operator")


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:90] or "document"


def _clean_version(
    title: str, summary: str, body: str, effective_date: date | str | None, source_url: str | None
) -> dict[str, Any]:
    problems = []
    title = " ".join((title or "").split())
    summary, body = (summary or "").strip(), (body or "").strip()
    if not title:
        problems.append("title: required")
    elif len(title) > MAX_TITLE:
        problems.append(f"title: at most {MAX_TITLE} characters")
    if not summary:
        problems.append("summary: required")
    elif len(summary) > MAX_SUMMARY:
        problems.append(f"summary: at most {MAX_SUMMARY:,} characters")
    if not body:
        problems.append("body: required")
    elif len(body) > MAX_BODY:
        problems.append(f"body: at most {MAX_BODY:,} characters")
    if isinstance(effective_date, str):
        text = effective_date.strip()
        try:
            effective_date = date.fromisoformat(text) if text else None
        except ValueError:
            problems.append(f"effective_date: {text!r} is not a date (YYYY-MM-DD)")
            effective_date = None
    source_url = (source_url or "").strip() or None
    if source_url and not source_url.startswith(("https://", "http://")):
        problems.append(f"source_url: {source_url!r} is not an http(s) link")
    if problems:
        raise RuleError("; ".join(problems))
    return {
        "title": title,
        "summary": summary,
        "body": body,
        "effective_date": effective_date,
        "source_url": source_url,
    }


def create_document(
    s: Session,
    principal: Principal | None,
    *,
    market_id: str | None,
    doc_type: str,
    publisher: str,
    title: str,
    summary: str,
    body: str,
    effective_date: date | str | None = None,
    source_url: str | None = None,
    product_id: str | None = None,
    slug: str | None = None,
    change_note: str | None = None,
) -> DocumentView:
    """A new document at version 1. ``principal`` None: SFE's own seeding."""
    if principal is not None:
        _check_editor(principal, market_id)
    problems = []
    if market_id is not None and market_id not in _markets():
        problems.append(f"market_id: unknown market {market_id!r}")
    if doc_type not in DOC_TYPES:
        problems.append(f"doc_type: must be one of {', '.join(DOC_TYPES)}")
    publisher = " ".join((publisher or "").split())
    if not publisher:
        problems.append("publisher: required")
    if product_id is not None and product_id not in {p.product_id for p in catalogue.rule_products(s)}:
        problems.append(f"product_id: unknown product {product_id!r}")
    if problems:
        raise RuleError("; ".join(problems))
    clean = _clean_version(title, summary, body, effective_date, source_url)
    slug = slugify(slug or clean["title"])
    if s.scalars(select(LibraryDocument.id).where(LibraryDocument.slug == slug)).first() is not None:
        raise RuleError(f"slug: a document {slug!r} already exists; add a new version to it instead")
    actor_id = principal.user_id if principal else None
    doc = LibraryDocument(
        slug=slug,
        market_id=market_id,
        product_id=product_id,
        doc_type=doc_type,
        publisher=publisher,
        current_version=1,
        created_by_id=actor_id,
    )
    doc.versions.append(
        LibraryDocumentVersion(
            version=1, created_by_id=actor_id, change_note=change_note or "first version", **clean
        )
    )
    s.add(doc)
    s.flush()
    audit.record(
        s, principal, "library.document_created", "library_document", doc.id, slug=slug, title=clean["title"]
    )
    return get_document(s, doc.id)


def add_version(
    s: Session,
    principal: Principal | None,
    document: int | str,
    *,
    title: str,
    summary: str,
    body: str,
    effective_date: date | str | None = None,
    source_url: str | None = None,
    change_note: str | None = None,
) -> DocumentView:
    """A new current version. Refused when nothing changed or without a note saying what changed."""
    doc = _document(s, document)
    if principal is not None:
        _check_editor(principal, doc.market_id)
    clean = _clean_version(title, summary, body, effective_date, source_url)
    note = (change_note or "").strip()
    if not note:
        raise RuleError("change_note: say what changed in this version (readers see it in the history)")
    current = get_document(s, doc.id)
    if all(getattr(current, k) == v for k, v in clean.items()):
        raise RuleError("nothing changed: this version would be identical to the current one")
    doc.current_version += 1
    doc.versions.append(
        LibraryDocumentVersion(
            version=doc.current_version,
            created_by_id=principal.user_id if principal else None,
            change_note=note,
            **clean,
        )
    )
    s.flush()
    audit.record(
        s,
        principal,
        "library.version_added",
        "library_document",
        doc.id,
        slug=doc.slug,
        version=doc.current_version,
        note=note,
    )
    return get_document(s, doc.id)


def can_edit(principal: Principal, market_id: str | None) -> bool:
    try:
        _check_editor(principal, market_id)
    except AccessDenied:
        return False
    return True
