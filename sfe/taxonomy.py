"""The harmonised taxonomy, read from the versioned CSV files in ``taxonomy/``.

dbt reads the same files as seeds; Python code (connectors, forms, API enums) reads them here, so
there is one source of truth.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

from sfe.config import TAXONOMY_DIR

TABLES = (
    "operators",
    "mpan_distributors",
    "markets",
    "standard_products",
    "products",
    "asset_types",
    "size_bands",
    "dno_areas",
    "source_value_mappings",
)


def normalise_value(value: str | None) -> str:
    """Canonical spelling for comparing source vocabulary: case, hyphens and spacing ignored.

    'Day-Ahead', 'Day Ahead' and ' day  ahead ' all become 'day ahead'.
    """
    if value is None:
        return ""
    return re.sub(r"[^0-9a-z]+", " ", value.lower()).strip()


@cache
def _read(name: str, directory: Path = TAXONOMY_DIR) -> tuple[dict[str, str], ...]:
    with open(directory / f"{name}.csv", newline="", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


def table(name: str) -> list[dict[str, str]]:
    if name not in TABLES:
        raise KeyError(f"unknown taxonomy table {name!r}; known: {', '.join(TABLES)}")
    return [dict(row) for row in _read(name)]


def value_mapping(source_id: str, field: str) -> dict[str, str]:
    """normalised source value -> target (product_id, asset_type, …) for one source field."""
    return {
        normalise_value(row["source_value"]): row["target_value"]
        for row in _read("source_value_mappings")
        if row["source_id"] == source_id and row["field"] == field
    }


def size_band(capacity_mw: float) -> str:
    for band in _read("size_bands"):
        if float(band["min_mw"]) <= capacity_mw < float(band["max_mw"]):
            return band["size_band"]
    raise ValueError(f"capacity {capacity_mw} MW falls in no size band")


SCHEMA: dict[str, tuple[str, ...]] = {
    "markets": ("market_id", "market_name", "operator_id", "operator_name", "market_kind"),
    "standard_products": (
        "standard_product",
        "standard_product_name",
        "family",
        "payment_structure",
        "description",
    ),
    "products": ("product_id", "market_id", "product_name", "service_type", "direction", "standard_product"),
    "asset_types": ("asset_type", "asset_type_name", "is_storage", "description"),
    "size_bands": ("size_band", "size_band_name", "min_mw", "max_mw"),
    "dno_areas": ("gsp_group", "dno_area", "dno_area_name", "operator_id", "market_id"),
    "source_value_mappings": ("source_id", "field", "source_value", "target_kind", "target_value"),
    "operators": ("operator_id", "operator_name", "default_market_id", "asset_ref_type", "role"),
    "mpan_distributors": ("distributor_id", "gsp_group", "distributor_name"),
}
KEYS = {
    "markets": "market_id",
    "standard_products": "standard_product",
    "products": "product_id",
    "asset_types": "asset_type",
    "size_bands": "size_band",
    "dno_areas": "gsp_group",
    "operators": "operator_id",
    "mpan_distributors": "distributor_id",
}
MARKET_KINDS = {
    "ancillary_services",
    "balancing_mechanism",
    "imbalance",
    "local_flexibility",
    "secondary_market",
    "capacity_market",
}
DIRECTIONS = {"up", "down", "both"}
TARGET_KINDS = {"product_id": "products", "asset_type": "asset_types"}
# Kinds of id an operator knows units by (the asset crosswalk's namespaces).
ASSET_REF_TYPES = {"eac_unit_name", "ukpn_fu_id", "competition_asset_ref", "bm_unit", "mpan"}
OPERATOR_ROLES = {"system_operator", "settlement_body", "platform"}


def validate(directory: Path = TAXONOMY_DIR) -> list[str]:
    """Every problem in the taxonomy files, as 'file:row: message'; empty when valid."""
    problems: list[str] = []
    tables: dict[str, list[dict[str, str]]] = {}
    for name, columns in SCHEMA.items():
        path = directory / f"{name}.csv"
        if not path.exists():
            problems.append(f"{name}.csv: missing file")
            continue
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = tuple(reader.fieldnames or ())
            if header != columns:
                problems.append(f"{name}.csv: header {','.join(header)} should be {','.join(columns)}")
                continue
            rows = list(reader)
        tables[name] = rows
        for i, row in enumerate(rows, start=2):
            for column in columns:
                if column != "description" and not (row.get(column) or "").strip():
                    problems.append(f"{name}.csv:{i}: {column} is empty")
        if name in KEYS:
            seen: set[str] = set()
            for i, row in enumerate(rows, start=2):
                key = row[KEYS[name]]
                if key in seen:
                    problems.append(f"{name}.csv:{i}: duplicate {KEYS[name]} {key!r}")
                seen.add(key)
    if problems:
        return problems

    def ids(name: str) -> set[str]:
        return {row[KEYS[name]] for row in tables[name]}

    for i, row in enumerate(tables["markets"], start=2):
        if row["market_kind"] not in MARKET_KINDS:
            problems.append(
                f"markets.csv:{i}: market_kind {row['market_kind']!r} not one of {sorted(MARKET_KINDS)}"
            )
    for i, row in enumerate(tables["products"], start=2):
        if row["market_id"] not in ids("markets"):
            problems.append(f"products.csv:{i}: unknown market_id {row['market_id']!r}")
        if row["standard_product"] not in ids("standard_products"):
            problems.append(f"products.csv:{i}: unknown standard_product {row['standard_product']!r}")
        if row["direction"] not in DIRECTIONS:
            problems.append(f"products.csv:{i}: direction {row['direction']!r} not one of up/down/both")
    for i, row in enumerate(tables["dno_areas"], start=2):
        if row["market_id"] not in ids("markets"):
            problems.append(f"dno_areas.csv:{i}: unknown market_id {row['market_id']!r}")
    market_operator = {row["market_id"]: row["operator_id"] for row in tables["markets"]}
    for i, row in enumerate(tables["operators"], start=2):
        market = row["default_market_id"]
        if market not in market_operator:
            problems.append(f"operators.csv:{i}: unknown default_market_id {market!r}")
        elif market_operator[market] != row["operator_id"]:
            problems.append(
                f"operators.csv:{i}: default_market_id {market!r} is operated by {market_operator[market]!r}, "
                f"not {row['operator_id']!r}"
            )
        if row["asset_ref_type"] not in ASSET_REF_TYPES:
            problems.append(
                f"operators.csv:{i}: asset_ref_type {row['asset_ref_type']!r} not one of {sorted(ASSET_REF_TYPES)}"
            )
        if row["role"] not in OPERATOR_ROLES:
            problems.append(f"operators.csv:{i}: role {row['role']!r} not one of {sorted(OPERATOR_ROLES)}")
    for i, row in enumerate(tables["markets"], start=2):
        if row["operator_id"] not in ids("operators"):
            problems.append(f"markets.csv:{i}: operator_id {row['operator_id']!r} is not in operators.csv")
    for i, row in enumerate(tables["mpan_distributors"], start=2):
        if not re.fullmatch(r"\d{2}", row["distributor_id"]):
            problems.append(
                f"mpan_distributors.csv:{i}: distributor_id {row['distributor_id']!r} is not two digits"
            )
        if row["gsp_group"] not in ids("dno_areas"):
            problems.append(f"mpan_distributors.csv:{i}: unknown gsp_group {row['gsp_group']!r}")
    bands = []
    for i, row in enumerate(tables["size_bands"], start=2):
        try:
            bands.append((float(row["min_mw"]), float(row["max_mw"]), i))
        except ValueError:
            problems.append(f"size_bands.csv:{i}: min_mw/max_mw must be numbers")
    bands.sort()
    if bands and bands[0][0] != 0:
        problems.append("size_bands.csv: the smallest band must start at 0 MW")
    for (_lo1, hi1, i1), (lo2, _hi2, i2) in zip(bands, bands[1:], strict=False):
        if hi1 != lo2:
            problems.append(f"size_bands.csv:{i1}/{i2}: bands must be contiguous ({hi1} MW vs {lo2} MW)")
    mapped: dict[tuple[str, str, str], str] = {}
    for i, row in enumerate(tables["source_value_mappings"], start=2):
        kind = row["target_kind"]
        if kind not in TARGET_KINDS:
            problems.append(
                f"source_value_mappings.csv:{i}: target_kind {kind!r} not one of {sorted(TARGET_KINDS)}"
            )
            continue
        if row["target_value"] not in ids(TARGET_KINDS[kind]):
            problems.append(f"source_value_mappings.csv:{i}: {kind} {row['target_value']!r} does not exist")
        key = (row["source_id"], row["field"], normalise_value(row["source_value"]))
        if key in mapped and mapped[key] != row["target_value"]:
            problems.append(
                f"source_value_mappings.csv:{i}: {row['source_value']!r} maps to {row['target_value']!r} but an "
                f"equivalent spelling already maps to {mapped[key]!r}"
            )
        mapped.setdefault(key, row["target_value"])
    return problems
