"""Reference entry requirements for the taxonomy's products, so eligibility (UC9) has something to
judge before each operator writes its own rules on SFE.

These are SFE's reading of the operators' published service terms (minimum size, response time,
where an asset must be connected), each with its source link. They are ordinary rules: the operator
(or an admin) can change, switch or retire them, and every change is versioned and audited. Seeding
is idempotent and never overwrites a rule someone has edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sfe import taxonomy
from sfe.registry.models_rules import ProductRule
from sfe.rules import catalogue
from sfe.rules.store import insert_rule

NESO_DYNAMIC = (
    "https://www.neso.energy/industry-information/balancing-services/frequency-response-services/"
    "new-dynamic-services-dcdmdr"
)
NESO_RESERVE = "https://www.neso.energy/industry-information/balancing-services/reserve-services"
NESO_QUICK_RESERVE = f"{NESO_RESERVE}/quick-reserve"
NESO_SLOW_RESERVE = f"{NESO_RESERVE}/slow-reserve"
NESO_BALANCING_RESERVE = f"{NESO_RESERVE}/balancing-reserve"
ENA_FLEX = "https://www.energynetworks.org/industry/flexibility-services"
UKPN_FLEX = "https://dso.ukpowernetworks.co.uk/flexibility"
NOTE = "SFE's summary of the operator's published service terms; the operator's documents prevail."


@dataclass(frozen=True)
class Reference:
    product_ids: tuple[str, ...]
    kind: str
    name: str
    params: dict[str, Any]
    description: str
    source_url: str


def _dno_location_rules() -> list[Reference]:
    """A DNO buys flexibility to manage its own network: assets must connect in its licence areas."""
    areas: dict[str, list[str]] = {}
    for row in taxonomy.table("dno_areas"):
        areas.setdefault(row["operator_id"], []).append(row["dno_area"])
    market_operator = {m["market_id"]: m["operator_id"] for m in taxonomy.table("markets")}
    by_operator: dict[str, list[str]] = {}
    for p in catalogue.taxonomy_products():
        if p.market_id.endswith("_flex") and market_operator.get(p.market_id) in areas:
            by_operator.setdefault(p.operator_id, []).append(p.product_id)
    names = {o["operator_id"]: o["operator_name"] for o in taxonomy.table("operators")}
    return [
        Reference(
            tuple(products),
            "location",
            f"Connected in {names[operator]} licence areas",
            {"dno_areas": sorted(areas[operator])},
            "Local flexibility relieves constraints on the DNO's own network, so only assets connected "
            f"there can deliver it. {NOTE}",
            ENA_FLEX,
        )
        for operator, products in sorted(by_operator.items())
    ]


REFERENCES: tuple[Reference, ...] = (
    Reference(
        ("neso_eac_dch", "neso_eac_dcl", "neso_eac_dmh", "neso_eac_dml", "neso_eac_drh", "neso_eac_drl"),
        "min_capacity",
        "Minimum 1 MW per unit",
        {"min_mw": 1},
        f"NESO's dynamic response services accept units (or aggregations) of at least 1 MW. {NOTE}",
        NESO_DYNAMIC,
    ),
    Reference(
        ("neso_eac_dch", "neso_eac_dcl", "neso_eac_dmh", "neso_eac_dml"),
        "response_time",
        "Full delivery within 1 s",
        {"max_s": 1},
        f"Dynamic Containment and Dynamic Moderation require full delivery within one second. {NOTE}",
        NESO_DYNAMIC,
    ),
    Reference(
        ("neso_eac_drh", "neso_eac_drl"),
        "response_time",
        "Full delivery within 10 s",
        {"max_s": 10},
        f"Dynamic Regulation requires full delivery within ten seconds. {NOTE}",
        NESO_DYNAMIC,
    ),
    Reference(
        ("neso_eac_pbr", "neso_eac_nbr"),
        "min_capacity",
        "Minimum 1 MW contract capacity",
        {"min_mw": 1},
        f"Balancing Reserve is open to Balancing Mechanism units of at least 1 MW. {NOTE}",
        NESO_BALANCING_RESERVE,
    ),
    Reference(
        ("neso_eac_pqr", "neso_eac_nqr"),
        "min_capacity",
        "Minimum 1 MW",
        {"min_mw": 1},
        f"Quick Reserve units must offer at least 1 MW. {NOTE}",
        NESO_QUICK_RESERVE,
    ),
    Reference(
        ("neso_eac_pqr", "neso_eac_nqr"),
        "response_time",
        "Full delivery within 1 minute",
        {"max_s": 60},
        f"Quick Reserve requires full activation within one minute of instruction. {NOTE}",
        NESO_QUICK_RESERVE,
    ),
    Reference(
        ("neso_eac_psr",),
        "min_capacity",
        "Minimum 1 MW",
        {"min_mw": 1},
        f"Slow Reserve is open to any technology that can change net demand or generation by at least 1 MW. {NOTE}",
        NESO_SLOW_RESERVE,
    ),
    Reference(
        ("neso_eac_psr",),
        "response_time",
        "Full delivery within 15 minutes",
        {"max_s": 900},
        f"Slow Reserve requires full delivery within fifteen minutes of instruction. {NOTE}",
        NESO_SLOW_RESERVE,
    ),
)


def _ukpn_minimum() -> Reference:
    ukpn = tuple(p.product_id for p in catalogue.taxonomy_products() if p.market_id == "ukpn_flex")
    return Reference(
        ukpn,
        "min_capacity",
        "At least 10 kW per location",
        {"min_mw": 0.01},
        f"UK Power Networks accepts flexible capacity from 10 kW per location. {NOTE}",
        UKPN_FLEX,
    )


def references() -> list[Reference]:
    return [*REFERENCES, _ukpn_minimum(), *_dno_location_rules()]


def seed_reference_rules(s: Session) -> int:
    """Add each reference rule a product does not have yet (by name, retired ones included).
    Returns how many were added."""
    known_products = {p.product_id for p in catalogue.rule_products(s)}
    existing = set(s.execute(select(ProductRule.product_id, ProductRule.name)).tuples())
    added = 0
    for ref in references():
        for product_id in ref.product_ids:
            if product_id not in known_products or (product_id, ref.name) in existing:
                continue
            insert_rule(
                s,
                None,
                product_id,
                ref.kind,
                ref.name,
                "block",
                ref.params,
                ref.description,
                ref.source_url,
                "reference requirement seeded by SFE",
                seeded=True,
            )
            added += 1
    return added
