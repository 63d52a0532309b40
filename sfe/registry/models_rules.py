"""Registry tables of the rules engine (UC5) and the market rules library (UC7).

Rules are data attached to a product by its ``product_id`` (a registry product's slug or a taxonomy
product id: one namespace, the warehouse's). Every change writes a new ``ProductRuleVersion`` row with
the full state after the change, so "which rule was in force when this action was refused" can be
answered later; the audit trail records who changed what. Library documents keep every version too.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sfe.registry.models import Base, utcnow


# -- rules engine ----------------------------------------------------------------------------------
class ProductRule(Base):
    """One rule of one product, in its current state (history in ``ProductRuleVersion``)."""

    __tablename__ = "product_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # sfe.rules.kinds.KINDS
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(8))  # notify | block
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    description: Mapped[str | None] = mapped_column(Text)  # why the rule exists, shown with verdicts
    source_url: Mapped[str | None] = mapped_column(String(500))  # where the rule is published
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # retired rules are kept, inactive
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ProductRuleVersion]] = relationship(
        back_populates="rule", cascade="all, delete-orphan", order_by="ProductRuleVersion.version"
    )


class ProductRuleVersion(Base):
    """The full state of a rule after each change (version 1 = as created)."""

    __tablename__ = "product_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version", name="uq_product_rule_versions_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("product_rules.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(8))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    description: Mapped[str | None] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean)
    change_note: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    rule: Mapped[ProductRule] = relationship(back_populates="versions")


class ProductRulesEndpoint(Base):
    """Option 2: the product's rules live outside SFE behind an HTTP endpoint (docs/rules-api.md)."""

    __tablename__ = "product_rules_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(500))
    timeout_s: Mapped[float] = mapped_column(Float, default=5.0)
    # How an unanswered or malformed call counts: block = the action waits (needs information),
    # notify = the action goes ahead with a warning. Never a silent pass.
    failure_mode: Mapped[str] = mapped_column(String(8), default="block")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- market rules library --------------------------------------------------------------------------
class LibraryDocument(Base):
    """A rules or regulation document about a market or product; its text lives in its versions."""

    __tablename__ = "library_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    market_id: Mapped[str | None] = mapped_column(String(32), index=True)  # null: applies GB-wide
    product_id: Mapped[str | None] = mapped_column(String(64))
    doc_type: Mapped[str] = mapped_column(String(32))  # sfe.rules.library.DOC_TYPES
    publisher: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[LibraryDocumentVersion]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="LibraryDocumentVersion.version"
    )


class LibraryDocumentVersion(Base):
    __tablename__ = "library_document_versions"
    __table_args__ = (
        UniqueConstraint("document_id", "version", name="uq_library_document_versions_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("library_documents.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    effective_date: Mapped[date | None] = mapped_column(Date)
    source_url: Mapped[str | None] = mapped_column(String(500))
    change_note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    document: Mapped[LibraryDocument] = relationship(back_populates="versions")


# -- rules judged on arrival (commitments and dispatches) -----------------------------------------
class RuleArrivalCheck(Base):
    """One commitment or dispatch of a registered asset, judged by its product's rules when it first
    appeared in the published warehouse. The unique ``activity_key`` (the warehouse's stable id of
    the activity) is the watermark: an activity is judged once, so a rebuild never judges or notifies
    again, and a late-arriving one is judged when it arrives."""

    __tablename__ = "rule_arrival_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_key: Mapped[str] = mapped_column(String(400), unique=True)
    registry_asset_id: Mapped[str] = mapped_column(String(16), index=True)
    product_id: Mapped[str] = mapped_column(String(64))
    activity_kind: Mapped[str] = mapped_column(String(16))  # commitment | dispatch
    activity_type: Mapped[str] = mapped_column(String(32))  # int_conflict_activities.activity_type
    operator_id: Mapped[str | None] = mapped_column(String(32))
    source_ref: Mapped[str | None] = mapped_column(String(200))
    start_utc: Mapped[datetime]
    end_utc: Mapped[datetime]
    power_mw: Mapped[float | None] = mapped_column(Float)
    # sfe.rules.engine decision; "no_product" when the product is unknown to SFE (nothing to judge).
    decision: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(32))
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleBreach(Base):
    """A rule an arrived commitment or dispatch broke (a failed verdict, block or notify mode). What
    arrived already happened, so SFE cannot refuse it: it records the breach and tells the parties."""

    __tablename__ = "rule_breaches"
    __table_args__ = (UniqueConstraint("check_id", "rule_id", name="uq_rule_breaches_rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(
        ForeignKey("rule_arrival_checks.id", ondelete="CASCADE"), index=True
    )
    registry_asset_id: Mapped[str] = mapped_column(String(16), index=True)
    product_id: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str] = mapped_column(String(100))  # rule-12 | requirement:<field> | external:<id>
    rule_name: Mapped[str] = mapped_column(String(200))
    rule_kind: Mapped[str] = mapped_column(String(32))
    rule_mode: Mapped[str] = mapped_column(String(8))  # block | notify
    rule_version: Mapped[int | None] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(8))  # high (block rule) | medium (notify rule)
    explanation: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
