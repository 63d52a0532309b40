"""Status routes: is the data there and how fresh is it, and the data dictionary (dbt docs)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response

from sfe import build_status, queries
from sfe.api import schemas
from sfe.api.common import DB, JSON_MEDIA_TYPE, error_response, error_responses, records
from sfe.config import lake

DBT_DOCS_FILES = ("index.html", "manifest.json", "catalog.json")

router = APIRouter()


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/docs")


@router.get("/dbt-docs", include_in_schema=False)
def dbt_docs_root() -> RedirectResponse:
    return RedirectResponse("/dbt-docs/")


@router.get(
    "/dbt-docs/{name}",
    tags=["metadata"],
    summary="Data dictionary of the published warehouse (dbt docs site)",
    responses={404: {"model": schemas.ErrorBody, "description": "Not published yet, or no such file."}},
)
def dbt_docs(name: str = "index.html") -> Response:
    """The dbt docs site of the current publish: every model, column, test and its lineage.
    Open `/dbt-docs/` in a browser."""
    name = name or "index.html"
    if name not in DBT_DOCS_FILES:  # a fixed set: no path from the URL reaches the filesystem
        return error_response(404, "not_found", f"no such file {name!r}; open /dbt-docs/")
    path = lake().warehouse / "dbt_docs" / name
    if not path.exists():
        return error_response(
            404, "not_published", "the data dictionary is published with the next `sfe build`"
        )
    return FileResponse(path)


@router.get("/dbt-docs/", include_in_schema=False)
def dbt_docs_index() -> Response:
    return dbt_docs("index.html")


def _latest_build() -> dict | None:
    status = build_status.read()
    return asdict(status) if status else None


@router.get(
    "/v1/health",
    tags=["status"],
    summary="Warehouse status and freshness",
    response_model=schemas.Health,
    responses={
        503: {"model": schemas.HealthUnavailable, "description": "Not built yet."},
        **error_responses(429),
    },
)
def health(db: DB) -> Response:
    """Whether the published warehouse can be read, when it was published and rows per source."""
    fresh = queries.freshness(db)
    body = {
        "status": "ok",
        "published_at": fresh.published_at.astimezone(UTC).isoformat() if fresh.published_at else None,
        "build_started_at": fresh.build_started_at.astimezone(UTC).isoformat()
        if fresh.build_started_at
        else None,
        "sfe_version": fresh.sfe_version,
        "dbt_tests_passed": fresh.dbt_tests_passed,
        "publish_version": fresh.publish_version,
        "total_rows": fresh.total_rows,
        "sources": records(fresh.sources),
        "latest_build": _latest_build(),
    }
    return Response(json.dumps(body, default=str), media_type=JSON_MEDIA_TYPE)
