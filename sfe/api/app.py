"""The SFE HTTP API: ``uvicorn sfe.api.app:app``.

JSON/CSV/Parquet access to the published warehouse (read-only: prices, volumes, dispatches and the
analytics marts in the standard taxonomy) and the registry (assets, products, consultations,
prequalification, contracts). ``create_app`` wires the error handlers, the rate limit and the routers
of ``sfe.api.routes``; warehouse reads go through ``sfe.queries``, registry changes through
``sfe.registry`` services.
"""

from __future__ import annotations

import logging

import duckdb
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import sfe
from sfe import queries
from sfe.api import security
from sfe.api.common import ApiError, error_response
from sfe.api.ratelimit import RateLimitConfig, RateLimitMiddleware
from sfe.api.routes import (
    analytics,
    eligibility,
    forecasts,
    market_data,
    own_data,
    prequalification,
    registry,
    status,
    taxonomy,
)
from sfe.serving import WarehouseNotBuilt

log = logging.getLogger(__name__)

DESCRIPTION = """
The **System-wide Flexibility Exchange**: harmonised prices, volumes, dispatches, settlements and
analytics from Great Britain's flexibility markets in the SFE standard taxonomy (read-only, from the
published warehouse), and the registry where assets and products are registered once for all markets.

* Every instant is UTC (ISO 8601). `from`/`to` accept a date (`2024-04-01`) or a datetime
  (`2024-04-01T22:00:00Z`, `2024-04-01T23:00:00+01:00`); a value without an offset is UTC.
* Time ranges are half-open on the start instant: `from <= start < to`. So `to=2024-04-01` returns
  everything that starts before 1 April 00:00 UTC. Tables keyed by day compare the day's midnight UTC.
* Filters (`product_id`, `market_id`, `operator_id`, `asset_type`, `size_band`, ...) can be repeated
  or take comma-separated values; values of one filter are alternatives, different filters all apply.
* Lists are paged: `limit` (default 1000, at most 10000) and `offset`. JSON carries `total` and
  `next`; every list also sends `X-Total-Count` and an RFC 8288 `Link` header.
* `format=csv` returns the same rows as CSV, safe to open in a spreadsheet (text that would be read as
  a formula is prefixed with `'`); `format=parquet` returns a Parquet file.
* **Public data** (market data, taxonomy, aggregates) needs no key. **Own data** (bids, settlements,
  metering) needs an API key (`Authorization: Bearer <key>` or `X-API-Key: <key>`): a provider sees
  its own assets, a system operator its markets and area, an admin everything. The registry routes
  (assets, products, consultations, prequalification, contracts) need credentials too.
* Each client may make `SFE_API_RATE_PER_MIN` requests a minute (default 600, bursts of
  `SFE_API_RATE_BURST`; per API key, else per address; loopback is not limited unless
  `SFE_API_RATE_LIMIT_LOOPBACK=1`); over it the answer is 429 with `Retry-After`.
* Errors are JSON: `{"error": code, "message": text}` with 400 for inconsistent parameters, 401/403
  for missing or insufficient keys, 422 for invalid parameters, 429 over the rate limit and 503 while
  the warehouse (or the table a route reads) has not been published.
"""

TAGS = [
    {"name": "status", "description": "Is the data there, and how fresh is it?"},
    {"name": "market data", "description": "Public market data: auction results, dispatches, prices."},
    {"name": "own data", "description": "Per-asset data, scoped to the API key's organisation or area."},
    {
        "name": "taxonomy",
        "description": "Products, markets, assets, participants and the settlement calendar.",
    },
    {"name": "analytics", "description": "Aggregated marts and inputs for third-party forecasts."},
    {"name": "forecasts", "description": "Third-party revenue forecasts shown beside the history (UC28)."},
    {"name": "metadata", "description": "The data dictionary."},
    {
        "name": "registry: assets",
        "description": "Register assets once for all markets, alone or in bulk; groups.",
    },
    {"name": "registry: products", "description": "Products system operators register, and their lifecycle."},
    {"name": "registry: consultations", "description": "Market testing of draft products."},
    {"name": "registry: prequalification", "description": "Dossiers, evidence and applications to products."},
    {
        "name": "registry: contracts",
        "description": "Contract templates and the contracts generated from them.",
    },
]


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict]]:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = f"{loc[0]} parameter '{'.'.join(loc[1:])}'" if len(loc) > 1 else ".".join(loc) or "request"
        details.append(
            {
                "parameter": ".".join(loc[1:]) or None,
                "location": loc[0] if loc else None,
                "message": f"{where}: {err.get('msg')}",
                "input": err.get("input"),
            }
        )
    return "; ".join(d["message"] for d in details) or "invalid request", details


def create_app(rate_limit: RateLimitConfig | None = None) -> FastAPI:
    """The API application. ``rate_limit`` defaults to the SFE_API_RATE_* environment."""
    app = FastAPI(
        title="SFE API",
        summary="Prices, volumes and dispatches from GB flexibility markets, harmonised.",
        description=DESCRIPTION,
        version=sfe.__version__,
        openapi_tags=TAGS,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )

    security.install(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status_code, exc.error, exc.message, exc.details, exc.headers)

    @app.exception_handler(WarehouseNotBuilt)
    async def _not_built(request: Request, exc: WarehouseNotBuilt) -> Response:
        return error_response(503, "warehouse_not_built", str(exc), status="unavailable")

    @app.exception_handler(queries.TableNotPublished)
    async def _not_published(request: Request, exc: queries.TableNotPublished) -> Response:
        return error_response(
            503, "not_published", f"{request.url.path} is not available yet: {exc}", table=exc.table
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        message, details = _validation_message(exc)
        return error_response(422, "invalid_request", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:  # FastAPI could not parse the request body: an invalid request
            message = f"the request body could not be read: {exc.detail}"
            return error_response(422, "invalid_request", message)
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no such endpoint: {request.url.path} (see /docs or /openapi.json)"
        return error_response(exc.status_code, error, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> Response:
        # An id or number beyond 64 bits reaches no database row: the request is invalid, not the server.
        return error_response(422, "invalid_request", "a number in the request is out of range")

    @app.exception_handler(duckdb.Error)
    async def _db_error(request: Request, exc: duckdb.Error) -> Response:
        log.exception("query failed", exc_info=exc)
        return error_response(500, "query_failed", "the warehouse query failed; see the server log")

    for module in (
        status,
        market_data,
        own_data,
        taxonomy,
        analytics,
        registry,
        eligibility,
        prequalification,
        forecasts,
    ):
        app.include_router(module.router)
    app.add_middleware(RateLimitMiddleware, config=rate_limit or RateLimitConfig.from_env())
    return app


app = create_app()
