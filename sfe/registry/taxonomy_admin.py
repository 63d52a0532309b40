"""Admins map source vocabulary the taxonomy does not know yet (issue #4): a mapping override says
"value V of field F of source S is product P". It is validated against the taxonomy, audited with the
state before and after, carried to the warehouse by the registry snapshot (the next build applies it,
winning over ``taxonomy/source_value_mappings.csv`` for the same key) and exported with
``sfe taxonomy export-overrides`` as rows to merge into that file for a release.

The key of an override is (source, field, normalised value): spellings that normalise alike
('Day Ahead', 'day-ahead') are one key, as in the warehouse, so at most one override is in force
per key; saving a new one retires the previous one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sfe import taxonomy
from sfe.registry import audit
from sfe.registry.access import NotFound, Principal, Role
from sfe.registry.models import utcnow
from sfe.registry.models_taxonomy import TaxonomyMappingOverride
from sfe.sources import KNOWN_SOURCES

ENTITY = "taxonomy_mapping_override"
# Only product mappings are applied by the warehouse from the registry (int_source_products_mapped);
# asset-type vocabulary is still maintained in taxonomy/source_value_mappings.csv.
SUPPORTED_TARGET_KINDS = ("product_id",)
EXPORT_COLUMNS = ("source_id", "field", "source_value", "target_kind", "target_value")


class OverrideError(ValueError):
    """An override the taxonomy cannot accept; the message names the field and value."""


@dataclass(frozen=True)
class ProductChoice:
    product_id: str
    market_id: str
    product_name: str
    standard_product: str
    standard_product_name: str

    @property
    def label(self) -> str:
        return f"{self.product_name} ({self.product_id}) · standard product: {self.standard_product_name}"


def product_choices(market_id: str | None = None) -> list[ProductChoice]:
    """Taxonomy products a value can be mapped to (of one market when given), by name."""
    standard_names = {
        r["standard_product"]: r["standard_product_name"] for r in taxonomy.table("standard_products")
    }
    choices = [
        ProductChoice(
            product_id=r["product_id"],
            market_id=r["market_id"],
            product_name=r["product_name"],
            standard_product=r["standard_product"],
            standard_product_name=standard_names.get(r["standard_product"], r["standard_product"]),
        )
        for r in taxonomy.table("products")
        if market_id is None or r["market_id"] == market_id
    ]
    return sorted(choices, key=lambda c: (c.market_id, c.product_name))


def _state(o: TaxonomyMappingOverride) -> dict[str, str]:
    return {c: getattr(o, c) for c in EXPORT_COLUMNS}


def _validate(
    source_id: str, field: str, source_value: str, target_kind: str, target_value: str, market_id: str | None
) -> None:
    if source_id not in KNOWN_SOURCES:
        raise OverrideError(f"source_id {source_id!r} is not a known source ({', '.join(KNOWN_SOURCES)})")
    if not field.strip():
        raise OverrideError("field is empty: name the source column the value comes from")
    if not taxonomy.normalise_value(source_value):
        raise OverrideError(f"source_value {source_value!r} has no letters or digits to map")
    if len(source_value) > 300:
        raise OverrideError("source_value is longer than 300 characters")
    if target_kind not in SUPPORTED_TARGET_KINDS:
        raise OverrideError(
            f"target_kind {target_kind!r} cannot be overridden here (supported: {', '.join(SUPPORTED_TARGET_KINDS)}); "
            "edit taxonomy/source_value_mappings.csv instead"
        )
    products = {r["product_id"]: r for r in taxonomy.table("products")}
    if target_value not in products:
        raise OverrideError(f"target_value {target_value!r} is not a product of taxonomy/products.csv")
    if market_id is not None and products[target_value]["market_id"] != market_id:
        raise OverrideError(
            f"product {target_value!r} belongs to market {products[target_value]['market_id']!r}, "
            f"not to {market_id!r} where the value was seen"
        )


def active_for_key(
    s: Session, source_id: str, field: str, source_value: str
) -> TaxonomyMappingOverride | None:
    """The override in force for the (source, field, normalised value) key, if any."""
    key = taxonomy.normalise_value(source_value)
    candidates = s.scalars(
        select(TaxonomyMappingOverride).where(
            TaxonomyMappingOverride.source_id == source_id,
            TaxonomyMappingOverride.field == field,
            TaxonomyMappingOverride.retired_at.is_(None),
        )
    )
    return next((o for o in candidates if taxonomy.normalise_value(o.source_value) == key), None)


def save_override(
    s: Session,
    actor: Principal,
    *,
    source_id: str,
    field: str,
    source_value: str,
    target_value: str,
    target_kind: str = "product_id",
    market_id: str | None = None,
) -> TaxonomyMappingOverride:
    """Map a source value to a taxonomy product (admins only). Replaces the override in force for the
    same key, if any; ``market_id`` (the market the value was seen in) must be the product's."""
    actor.require(Role.ADMIN, action="map taxonomy source values")
    _validate(source_id, field, source_value, target_kind, target_value, market_id)
    previous = active_for_key(s, source_id, field, source_value)
    if previous is not None and (previous.target_kind, previous.target_value) == (target_kind, target_value):
        return previous  # already in force: no new version, nothing to audit
    now = utcnow()
    if previous is not None:
        previous.retired_at, previous.retired_by_id = now, actor.user_id
    override = TaxonomyMappingOverride(
        source_id=source_id,
        field=field,
        source_value=source_value,
        target_kind=target_kind,
        target_value=target_value,
        created_by_id=actor.user_id,
        created_at=now,
    )
    s.add(override)
    s.flush()
    audit.record(
        s,
        actor,
        "taxonomy_mapping.replaced" if previous else "taxonomy_mapping.created",
        ENTITY,
        override.id,
        before=_state(previous) if previous else None,
        after=_state(override),
        replaces=previous.id if previous else None,
    )
    return override


def retire_override(s: Session, actor: Principal, override_id: int) -> TaxonomyMappingOverride:
    """Withdraw an override (admins only): the value falls back to the taxonomy files at the next build."""
    actor.require(Role.ADMIN, action="withdraw taxonomy mappings")
    override = s.get(TaxonomyMappingOverride, override_id)
    if override is None:
        raise NotFound(f"no taxonomy mapping override {override_id}")
    if override.retired_at is not None:
        raise OverrideError(
            f"override {override_id} was already withdrawn on {override.retired_at:%Y-%m-%d %H:%M} UTC"
        )
    override.retired_at, override.retired_by_id = utcnow(), actor.user_id
    audit.record(
        s, actor, "taxonomy_mapping.retired", ENTITY, override.id, before=_state(override), after=None
    )
    return override


def active_overrides(s: Session) -> list[TaxonomyMappingOverride]:
    """Overrides in force, in key order (what the snapshot carries and the export writes)."""
    stmt = (
        select(TaxonomyMappingOverride)
        .where(TaxonomyMappingOverride.retired_at.is_(None))
        .order_by(
            TaxonomyMappingOverride.source_id,
            TaxonomyMappingOverride.field,
            TaxonomyMappingOverride.source_value,
        )
    )
    return list(s.scalars(stmt))


def all_overrides(s: Session) -> list[TaxonomyMappingOverride]:
    """Every override ever saved, newest first (the history)."""
    stmt = select(TaxonomyMappingOverride).order_by(
        TaxonomyMappingOverride.created_at.desc(), TaxonomyMappingOverride.id.desc()
    )
    return list(s.scalars(stmt))


def export_rows(s: Session) -> list[dict[str, str]]:
    """The active overrides as rows of taxonomy/source_value_mappings.csv."""
    return [_state(o) for o in active_overrides(s)]
