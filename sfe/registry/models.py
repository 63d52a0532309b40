"""Registry tables (SQLAlchemy 2 typed ORM). The schema itself is created by Alembic migrations.

Conventions: every instant is stored as UTC (``UtcDateTime`` refuses naive values); secrets
(passwords, tokens, API keys) are stored only as hashes; uniqueness that protects "one entry per
physical asset" lives in the database (unique constraints), so concurrent registrations cannot
create duplicates whatever the application does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the registry; pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


# -- identity ----------------------------------------------------------------------------------
class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Lower-cased, whitespace-collapsed name: "Acme Flex" and "acme  flex" are one organisation.
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # a Role value: what the organisation does on SFE
    # For system operators: the taxonomy operator they act for (taxonomy/operators.csv), e.g. 'ukpn'.
    operator_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organisation")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # unconfirmed -> (system operators: pending_verification ->) active; disabled by an admin.
    status: Mapped[str] = mapped_column(String(32), default="unconfirmed")
    email_confirmed_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    failed_login_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship(back_populates="users")


class UserToken(Base):
    """Single-use, expiring e-mail tokens (confirmation, password reset); only the hash is kept."""

    __tablename__ = "user_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))  # confirm_email | reset_password
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class UserSession(Base):
    """A login: idle and absolute expiry, revoked on logout or password reset."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """Every login attempt, for throttling by account and by client and for the audit trail."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_at", "email_key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_key: Mapped[str] = mapped_column(String(320))
    client: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded: Mapped[bool]


class ApiKey(Base):
    """An API key acts as its user (same role and organisation). Shown once; only the hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise a key in lists
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


# -- assets ------------------------------------------------------------------------------------
class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    registry_asset_id: Mapped[str | None] = mapped_column(String(16), unique=True)  # REG-000001
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    asset_type: Mapped[str] = mapped_column(String(32))  # taxonomy/asset_types.csv
    capacity_mw: Mapped[float] = mapped_column(Float)
    energy_mwh: Mapped[float | None] = mapped_column(Float)
    postcode: Mapped[str | None] = mapped_column(String(10))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    mpan: Mapped[str | None] = mapped_column(String(21), unique=True)
    gsp_group: Mapped[str | None] = mapped_column(String(8))
    dno_area: Mapped[str | None] = mapped_column(String(32))  # taxonomy/dno_areas.csv
    flexibility_zone: Mapped[str | None] = mapped_column(String(100))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Decommissioned or no longer offered by its owner. The entry (and its market ids) stays: the
    # physical asset's history in the warehouse still belongs to it, and it cannot be re-registered.
    retired_at: Mapped[datetime | None]

    market_ids: Mapped[list[AssetMarketId]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="AssetMarketId.ref_type"
    )


class AssetMarketId(Base):
    """An id the asset already has in a market. Unique across all assets: one physical asset, one entry."""

    __tablename__ = "asset_market_ids"
    __table_args__ = (UniqueConstraint("ref_type", "source_asset_ref", name="uq_asset_market_ids_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    # The warehouse crosswalk's vocabulary: eac_unit_name | bm_unit | ukpn_fu_id | competition_asset_ref | mpan
    ref_type: Mapped[str] = mapped_column(String(32))
    source_asset_ref: Mapped[str] = mapped_column(String(100))

    asset: Mapped[Asset] = relationship(back_populates="market_ids")


class AssetGroup(Base):
    __tablename__ = "asset_groups"
    __table_args__ = (UniqueConstraint("organisation_id", "name", name="uq_asset_groups_org_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssetGroupMembership(Base):
    """Membership history: valid_to null = current member. Rows are closed, never deleted."""

    __tablename__ = "asset_group_memberships"
    __table_args__ = (
        # At most one open membership per (group, asset), also under concurrent adds.
        Index(
            "uq_asset_group_memberships_current",
            "group_id",
            "asset_id",
            unique=True,
            sqlite_where=text("valid_to IS NULL"),
            postgresql_where=text("valid_to IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("asset_groups.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    valid_from: Mapped[datetime] = mapped_column(default=utcnow)
    valid_to: Mapped[datetime | None]
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


# -- products and market testing --------------------------------------------------------------
class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64), unique=True)  # slug, also the warehouse id
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    operator_id: Mapped[str] = mapped_column(String(32))
    market_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    service_type: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))  # up | down | both
    standard_product: Mapped[str | None] = mapped_column(String(64))
    zones: Mapped[list[Any]] = mapped_column(default=list)
    # [{"days": "weekdays", "start": "16:00", "end": "19:00", "months": [11, 12, 1, 2]}, ...] local GB time
    service_windows: Mapped[list[Any]] = mapped_column(default=list)
    min_size_mw: Mapped[float | None] = mapped_column(Float)
    response_time_s: Mapped[float | None] = mapped_column(Float)
    min_duration_min: Mapped[float | None] = mapped_column(Float)
    availability_price_gbp_per_mw_h: Mapped[float | None] = mapped_column(Float)
    utilisation_price_gbp_per_mwh: Mapped[float | None] = mapped_column(Float)
    prequalification_requirements: Mapped[str | None] = mapped_column(Text)
    rules_text: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft|consultation|live|retired
    live_from: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProductStatusChange(Base):
    __tablename__ = "product_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)


class Consultation(Base):
    __tablename__ = "consultations"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]  # closed early by the SO
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    questions: Mapped[list[ConsultationQuestion]] = relationship(
        back_populates="consultation", cascade="all, delete-orphan", order_by="ConsultationQuestion.position"
    )


class ConsultationQuestion(Base):
    __tablename__ = "consultation_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # rating (1-5) | text
    prompt: Mapped[str] = mapped_column(Text)

    consultation: Mapped[Consultation] = relationship(back_populates="questions")


class ConsultationResponse(Base):
    """One response per organisation per consultation, editable until the consultation closes."""

    __tablename__ = "consultation_responses"
    __table_args__ = (
        UniqueConstraint("consultation_id", "organisation_id", name="uq_consultation_responses_org"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    answers: Mapped[list[ConsultationAnswer]] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )


class ConsultationAnswer(Base):
    __tablename__ = "consultation_answers"
    __table_args__ = (
        UniqueConstraint("response_id", "question_id", name="uq_consultation_answers_question"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("consultation_responses.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("consultation_questions.id", ondelete="CASCADE"))
    rating: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)

    response: Mapped[ConsultationResponse] = relationship(back_populates="answers")


# -- audit -------------------------------------------------------------------------------------
class AuditEvent(Base):
    """Who did what to which entity, when. Written in the same transaction as the change."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
