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
