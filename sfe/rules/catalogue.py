"""The products rules attach to: registry products (registered by an SO, UC4) and taxonomy products.

Both share one id namespace (``product_id``, the warehouse's). A registry product with the same id as
a taxonomy product describes that product in full, so it wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sfe import taxonomy
from sfe.registry.access import NotFound, Principal, Role
from sfe.registry.models import Product

LIVE = "live"
# Markets where nobody prequalifies an asset: imbalance is settlement, resales move won obligations.
NOT_PREQUALIFIABLE_MARKET_KINDS = frozenset({"imbalance", "secondary_market"})


@dataclass(frozen=True)
class ProductInfo:
    product_id: str
    name: str
    market_id: str
    operator_id: str
    source: str  # registry | taxonomy
    status: str  # registry status; taxonomy products are always live
    service_type: str | None = None
    direction: str | None = None
    standard_product: str | None = None
    min_size_mw: float | None = None
    response_time_s: float | None = None
    zones: tuple[str, ...] = ()
    service_windows: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    organisation_id: int | None = None  # registry products: the SO organisation that registered it

    @property
    def label(self) -> str:
        return f"{self.name} ({self.product_id})"

    def to_json(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "name": self.name,
            "market_id": self.market_id,
            "operator_id": self.operator_id,
            "source": self.source,
            "status": self.status,
            "service_type": self.service_type,
            "direction": self.direction,
            "standard_product": self.standard_product,
            "min_size_mw": self.min_size_mw,
            "response_time_s": self.response_time_s,
            "zones": list(self.zones),
            "service_windows": list(self.service_windows),
        }


def _market_operators() -> dict[str, tuple[str, str]]:
    """market_id -> (operator_id, market_kind)."""
    return {m["market_id"]: (m["operator_id"], m["market_kind"]) for m in taxonomy.table("markets")}


def taxonomy_products() -> list[ProductInfo]:
    """Every taxonomy product in a market where assets prequalify."""
    markets = _market_operators()
    products = []
    for row in taxonomy.table("products"):
        operator_id, kind = markets[row["market_id"]]
        if kind in NOT_PREQUALIFIABLE_MARKET_KINDS:
            continue
        products.append(
            ProductInfo(
                product_id=row["product_id"],
                name=row["product_name"],
                market_id=row["market_id"],
                operator_id=operator_id,
                source="taxonomy",
                status=LIVE,
                service_type=row["service_type"],
                direction=row["direction"],
                standard_product=row["standard_product"],
            )
        )
    return products


def _from_registry(p: Product) -> ProductInfo:
    return ProductInfo(
        product_id=p.product_id,
        name=p.name,
        market_id=p.market_id,
        operator_id=p.operator_id,
        source="registry",
        status=p.status,
        service_type=p.service_type,
        direction=p.direction,
        standard_product=p.standard_product,
        min_size_mw=p.min_size_mw,
        response_time_s=p.response_time_s,
        zones=tuple(str(z) for z in (p.zones or ())),
        service_windows=tuple(p.service_windows or ()),
        organisation_id=p.organisation_id,
    )


def product_info(s: Session, product_id: str) -> ProductInfo:
    """The product with this id (registry first, then taxonomy). Raises NotFound."""
    registered = s.scalars(select(Product).where(Product.product_id == product_id)).one_or_none()
    if registered is not None:
        return _from_registry(registered)
    for p in taxonomy_products():
        if p.product_id == product_id:
            return p
    raise NotFound(f"no product {product_id!r} in the registry or the taxonomy")


def live_products(s: Session, taxonomy_ids: Iterable[str] | None = None) -> list[ProductInfo]:
    """Live registry products plus taxonomy products (only ``taxonomy_ids`` when given, e.g. the
    products with data in the published warehouse), ordered by market and name."""
    registered = [_from_registry(p) for p in s.scalars(select(Product).where(Product.status == LIVE))]
    known = set(s.scalars(select(Product.product_id)))
    wanted = None if taxonomy_ids is None else set(taxonomy_ids)
    from_taxonomy = [
        p
        for p in taxonomy_products()
        if p.product_id not in known and (wanted is None or p.product_id in wanted)
    ]
    return sorted([*registered, *from_taxonomy], key=lambda p: (p.market_id, p.name, p.product_id))


def rule_products(s: Session) -> list[ProductInfo]:
    """Every product rules can be attached to: all registry products (any status: an SO writes the
    rules of a draft before it goes live) and the taxonomy products."""
    registered = [_from_registry(p) for p in s.scalars(select(Product).order_by(Product.product_id))]
    known = {p.product_id for p in registered}
    rest = [p for p in taxonomy_products() if p.product_id not in known]
    return sorted([*registered, *rest], key=lambda p: (p.market_id, p.name, p.product_id))


def owns(principal: Principal, product: ProductInfo) -> bool:
    """Whether the principal may edit the product's rules: an admin, or the SO that runs it."""
    if principal.is_admin:
        return True
    if principal.role != Role.SYSTEM_OPERATOR:
        return False
    if product.organisation_id is not None and product.organisation_id == principal.organisation_id:
        return True
    return principal.operator_id is not None and principal.operator_id == product.operator_id


def editable_products(s: Session, principal: Principal) -> list[ProductInfo]:
    return [p for p in rule_products(s) if owns(principal, p)]
