"""Registry tables of centralised prequalification (UC15) and streamlined contracts (UC14).

A *dossier* holds what an FSP enters once per asset or asset group (technical data, metering
arrangements, test evidence and its documents); every save writes a new ``PrequalDossierVersion``
with the full state, so an application always points at the exact data its SO reviewed.
*Applications* reuse a dossier version for one product each, adding only that product's extras.
A prequalified application gets a *contract* generated from the product's standard template; every
generation is a new ``ContractVersion`` (old ones are kept) whose content hash the parties' acceptances
bind to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sfe.registry.models import Base, utcnow

# Statuses in which an application blocks another one for the same dossier and product.
OPEN_APPLICATION_STATUSES_SQL = "status IN ('submitted', 'under_review', 'prequalified')"


# -- prequalification --------------------------------------------------------------------------
class PrequalDossier(Base):
    """One per asset or asset group: the data common to every product's prequalification."""

    __tablename__ = "prequal_dossiers"
    __table_args__ = (
        CheckConstraint("(asset_id IS NULL) <> (group_id IS NULL)", name="ck_prequal_dossiers_one_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), unique=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("asset_groups.id"), unique=True)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[PrequalDossierVersion]] = relationship(
        back_populates="dossier", cascade="all, delete-orphan", order_by="PrequalDossierVersion.version"
    )


class PrequalDossierVersion(Base):
    """The full dossier after each save (version 1 = as first entered)."""

    __tablename__ = "prequal_dossier_versions"
    __table_args__ = (UniqueConstraint("dossier_id", "version", name="uq_prequal_dossier_versions_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("prequal_dossiers.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    technical: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metering: Mapped[list[Any]] = mapped_column(default=list)
    tests: Mapped[list[Any]] = mapped_column(default=list)
    change_note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    dossier: Mapped[PrequalDossier] = relationship(back_populates="versions")


class PrequalDocument(Base):
    """An uploaded evidence file. The bytes live in lake/documents/<sha256> (content-addressed)."""

    __tablename__ = "prequal_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("prequal_dossiers.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))  # detected from the bytes, not the client
    original_name: Mapped[str] = mapped_column(String(255))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class PrequalApplication(Base):
    """An application of one dossier version to one product, and its review."""

    __tablename__ = "prequal_applications"
    __table_args__ = (
        # One live application per dossier and product, also under concurrent submissions.
        Index(
            "uq_prequal_applications_open",
            "dossier_id",
            "product_id",
            unique=True,
            sqlite_where=text(OPEN_APPLICATION_STATUSES_SQL),
            postgresql_where=text(OPEN_APPLICATION_STATUSES_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("prequal_dossiers.id"), index=True)
    dossier_version: Mapped[int] = mapped_column(Integer)  # the version the SO reviews
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    product_id: Mapped[str] = mapped_column(String(64), index=True)
    product_name: Mapped[str] = mapped_column(String(200))  # as named when the application was made
    operator_id: Mapped[str] = mapped_column(String(32), index=True)  # whose SO reviews it
    # submitted -> under_review -> prequalified | rejected; withdrawn by the FSP before a decision.
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    extras: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the product-specific answers
    checks: Mapped[list[Any]] = mapped_column(default=list)  # dossier checks for the product's kind
    rules_decision: Mapped[str] = mapped_column(String(32))
    rules_verdicts: Mapped[list[Any]] = mapped_column(default=list)
    rules_request_id: Mapped[str | None] = mapped_column(String(32))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_started_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_reasons: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    status_changes: Mapped[list[PrequalStatusChange]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="PrequalStatusChange.id"
    )


class PrequalStatusChange(Base):
    __tablename__ = "prequal_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("prequal_applications.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)

    application: Mapped[PrequalApplication] = relationship(back_populates="status_changes")


# -- contracts ---------------------------------------------------------------------------------
class ContractTemplate(Base):
    """A product's standard contract; its text lives in its versions."""

    __tablename__ = "contract_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64), unique=True)
    operator_id: Mapped[str] = mapped_column(String(32), index=True)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ContractTemplateVersion]] = relationship(
        back_populates="template", cascade="all, delete-orphan", order_by="ContractTemplateVersion.version"
    )


class ContractTemplateVersion(Base):
    __tablename__ = "contract_template_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "version", name="uq_contract_template_versions_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("contract_templates.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # Markdown-like text with {{placeholders}}
    # The standard terms it incorporates: [{"reference": ..., "title": ..., "url": ...}, ...]
    standard_terms: Mapped[list[Any]] = mapped_column(default=list)
    change_note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    template: Mapped[ContractTemplate] = relationship(back_populates="versions")


class Contract(Base):
    """The contract of one prequalified application; its documents live in its versions."""

    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)  # SFE-C-000001
    application_id: Mapped[int] = mapped_column(ForeignKey("prequal_applications.id"), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)  # the FSP
    product_id: Mapped[str] = mapped_column(String(64), index=True)
    operator_id: Mapped[str] = mapped_column(String(32), index=True)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ContractVersion]] = relationship(
        back_populates="contract", cascade="all, delete-orphan", order_by="ContractVersion.version"
    )


class ContractVersion(Base):
    """One generated document (HTML and PDF), immutable once written."""

    __tablename__ = "contract_versions"
    __table_args__ = (UniqueConstraint("contract_id", "version", name="uq_contract_versions_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    template_version_id: Mapped[int] = mapped_column(ForeignKey("contract_template_versions.id"))
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the placeholder values used
    html: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))  # SHA-256 of the HTML (UTF-8)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    generated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
    executed_at: Mapped[datetime | None]  # both parties accepted this version

    contract: Mapped[Contract] = relationship(back_populates="versions")
    acceptances: Mapped[list[ContractAcceptance]] = relationship(
        back_populates="contract_version", cascade="all, delete-orphan", order_by="ContractAcceptance.id"
    )


class ContractAcceptance(Base):
    """A party's acceptance of one contract version, bound to that version's content hash."""

    __tablename__ = "contract_acceptances"
    __table_args__ = (UniqueConstraint("contract_version_id", "party", name="uq_contract_acceptances_party"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_version_id: Mapped[int] = mapped_column(
        ForeignKey("contract_versions.id", ondelete="CASCADE"), index=True
    )
    party: Mapped[str] = mapped_column(String(8))  # fsp | so
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    content_sha256: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)

    contract_version: Mapped[ContractVersion] = relationship(back_populates="acceptances")
