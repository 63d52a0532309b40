"""Per-asset data, scoped to the caller's organisation or area (bids, settlements, metering,
performance, positions, conflicts, resales, eligibility), declared in ``sfe.api.datasets``."""

from __future__ import annotations

from fastapi import APIRouter

from sfe.api import datasets
from sfe.api.routes.tables import add_table_routes

router = APIRouter()
add_table_routes(router, datasets.by_tag(datasets.OWN_DATA))
