"""The SFE HTTP API: ``uvicorn sfe.api.app:app``.

Read-only JSON/CSV access to the published warehouse (prices, volumes and dispatches in the
standard taxonomy). Data access goes through ``sfe.queries``; nothing here writes anywhere.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import duckdb
import polars as pl
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import sfe
from sfe import csv_safe, queries
from sfe.api import schemas
from sfe.config import lake
from sfe.serving import ServingDB, WarehouseNotBuilt, get_db

DBT_DOCS_FILES = ("index.html", "manifest.json", "catalog.json")

log = logging.getLogger(__name__)

DESCRIPTION = """
Read-only access to the **System-wide Flexibility Exchange** warehouse: harmonised prices, volumes
and dispatches from Great Britain's flexibility markets, in the SFE standard taxonomy.

* Every instant is UTC (ISO 8601). `from`/`to` accept a date (`2024-04-01`) or a datetime
  (`2024-04-01T22:00:00Z`, `2024-04-01T23:00:00+01:00`); a value without an offset is UTC.
* Time ranges are half-open on the start instant: `from <= start < to`. So `to=2024-04-01` returns
  everything that starts before 1 April 00:00 UTC.
* Lists are paged: `limit` (default 1000, at most 10000) and `offset`. JSON carries `total` and
  `next`; every list also sends `X-Total-Count` and an RFC 8288 `Link` header.
* `format=csv` returns the same rows as CSV, safe to open in a spreadsheet (text that would be read as
  a formula is prefixed with `'`).
* Errors are JSON: `{"error": code, "message": text}` with 422 for invalid parameters, 400 for
  inconsistent ones and 503 while no warehouse has been published.
"""

TAGS = [
    {"name": "status", "description": "Is the data there, and how fresh is it?"},
    {"name": "market data", "description": "Auction results and dispatches in the standard taxonomy."},
    {"name": "taxonomy", "description": "Products and markets that have data."},
]

DATE_HELP = "ISO 8601 date or datetime; without an offset it is UTC."
CSV_RESPONSE = {
    "content": {"text/csv": {"schema": {"type": "string"}}},
    "description": "Rows as JSON or CSV.",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "model": schemas.ErrorBody,
        "description": "Inconsistent parameters (e.g. `from` not before `to`).",
    },
    422: {"model": schemas.ErrorBody, "description": "Invalid parameter."},
    503: {"model": schemas.ErrorBody, "description": "The warehouse has not been built yet."},
}


class ApiError(Exception):
    def __init__(self, status_code: int, error: str, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message
        self.details = details


def _error(status_code: int, error: str, message: str, details: list | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {**extra, "error": error, "message": message}
    if details:
        body["details"] = details
    return Response(json.dumps(body, default=str), status_code=status_code, media_type="application/json")


# -- parameters ---------------------------------------------------------------------------------
_SPACE_FOR_PLUS = re.compile(r" (\d{2}:?\d{2})$")


def parse_instant(name: str, value: str | None) -> datetime | None:
    """ISO date or datetime -> aware UTC datetime (naive = UTC). Raises ApiError(422)."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    # An unencoded '+' in a query string arrives as a space: '...T23:00:00 01:00' meant '+01:00'.
    text = _SPACE_FOR_PLUS.sub(r"+\1", text)
    try:
        if len(text) == 10:
            return queries.to_utc(date.fromisoformat(text))
        return queries.to_utc(datetime.fromisoformat(text))
    except ValueError:
        raise ApiError(
            422,
            "invalid_request",
            f"query parameter '{name}': {value!r} is not an ISO 8601 date or datetime "
            "(examples: 2024-04-01, 2024-04-01T22:00:00Z, 2024-04-01T23:00:00+01:00)",
        ) from None


def _product_ids(values: list[str] | None, db: ServingDB) -> list[str] | None:
    if not values:
        return None
    ids = [p.strip() for v in values for p in v.split(",") if p.strip()]
    if not ids:
        return None
    unknown = sorted(set(ids) - queries.known_product_ids(db))
    if unknown:
        raise ApiError(
            422,
            "unknown_product",
            f"query parameter 'product_id': unknown product id(s) {', '.join(map(repr, unknown))}; "
            "GET /v1/products lists the products with data",
        )
    return ids


def _range(from_: str | None, to: str | None) -> tuple[datetime | None, datetime | None]:
    start, end = parse_instant("from", from_), parse_instant("to", to)
    if start is not None and end is not None and start >= end:
        raise ApiError(
            400,
            "empty_range",
            f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()}): the range is half-open, "
            "from <= start < to",
        )
    return start, end


# -- rendering ----------------------------------------------------------------------------------
def _json_ready(df: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            fmt = csv_safe.DATETIME_FORMAT if dtype.time_zone else csv_safe.NAIVE_DATETIME_FORMAT
            exprs.append(col.dt.to_string(fmt))
        elif dtype == pl.Date:
            exprs.append(col.dt.to_string("%Y-%m-%d"))
        elif dtype.is_float():
            exprs.append(col.fill_nan(None))
        elif isinstance(dtype, pl.Decimal):  # JSON has no decimal type
            exprs.append(col.cast(pl.Float64))
    return df.with_columns(exprs) if exprs else df


def records(df: pl.DataFrame) -> list[dict[str, Any]]:
    return _json_ready(df).to_dicts()


def _links(request: Request, page: queries.Page) -> tuple[str | None, str]:
    def url(offset: int) -> str:
        return str(request.url.include_query_params(offset=offset, limit=page.limit))

    links = []
    next_url = None
    if page.next_offset is not None:
        next_url = url(page.next_offset)
        links.append(f'<{next_url}>; rel="next"')
    if page.prev_offset is not None:
        links.append(f'<{url(page.prev_offset)}>; rel="prev"')
    links.append(f'<{url(0)}>; rel="first"')
    last = ((page.total - 1) // page.limit) * page.limit if page.total else 0
    links.append(f'<{url(last)}>; rel="last"')
    return next_url, ", ".join(links)


def _page_response(request: Request, page: queries.Page, fmt: str, name: str) -> Response:
    next_url, link = _links(request, page)
    headers = {"X-Total-Count": str(page.total), "Link": link}
    if fmt == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return Response(
            csv_safe.to_csv_bytes(page.rows), media_type="text/csv; charset=utf-8", headers=headers
        )
    body = {
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
        "next": next_url,
        "data": records(page.rows),
    }
    return Response(json.dumps(body), media_type="application/json", headers=headers)


# -- app ----------------------------------------------------------------------------------------
def serving_db() -> ServingDB:
    """The process-wide read-only warehouse for the current SFE_LAKE_DIR (a FastAPI dependency)."""
    return get_db()


DB = Annotated[ServingDB, Depends(serving_db)]
ProductIds = Annotated[
    list[str] | None,
    Query(
        description="Only these products (repeat the parameter or separate ids by commas). "
        "See `GET /v1/products`.",
        examples=[["neso_eac_dch", "neso_eac_dcl"]],
    ),
]
From = Annotated[
    str | None,
    Query(alias="from", description=f"Start instant, inclusive. {DATE_HELP}", examples=["2024-04-01"]),
]
To = Annotated[
    str | None,
    Query(description=f"End instant, exclusive. {DATE_HELP}", examples=["2024-05-01T00:00:00Z"]),
]
Limit = Annotated[
    int,
    Query(ge=1, le=queries.MAX_LIMIT, description=f"Rows per page (1-{queries.MAX_LIMIT}).", examples=[1000]),
]
Offset = Annotated[int, Query(ge=0, description="Rows to skip (for paging).", examples=[0])]
Format = Annotated[Literal["json", "csv"], Query(description="Response format.", examples=["csv"])]


def _latest_build() -> dict | None:
    from dataclasses import asdict

    from sfe import build_status

    status = build_status.read()
    return asdict(status) if status else None


def create_app() -> FastAPI:
    app = FastAPI(
        title="SFE API",
        summary="Prices, volumes and dispatches from GB flexibility markets, harmonised.",
        description=DESCRIPTION,
        version=sfe.__version__,
        openapi_tags=TAGS,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _error(exc.status_code, exc.error, exc.message, exc.details)

    @app.exception_handler(WarehouseNotBuilt)
    async def _not_built(request: Request, exc: WarehouseNotBuilt) -> Response:
        return _error(503, "warehouse_not_built", str(exc), status="unavailable")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        details = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            where = (
                f"{loc[0]} parameter '{'.'.join(loc[1:])}'" if len(loc) > 1 else ".".join(loc) or "request"
            )
            details.append(
                {
                    "parameter": ".".join(loc[1:]) or None,
                    "location": loc[0] if loc else None,
                    "message": f"{where}: {err.get('msg')}",
                    "input": err.get("input"),
                }
            )
        message = "; ".join(d["message"] for d in details) or "invalid request"
        return _error(422, "invalid_request", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no such endpoint: {request.url.path} (see /docs or /openapi.json)"
        return _error(exc.status_code, error, message)

    @app.exception_handler(duckdb.Error)
    async def _db_error(request: Request, exc: duckdb.Error) -> Response:
        log.exception("query failed", exc_info=exc)
        return _error(500, "query_failed", "the warehouse query failed; see the server log")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/dbt-docs", include_in_schema=False)
    def dbt_docs_root() -> RedirectResponse:
        return RedirectResponse("/dbt-docs/")

    @app.get(
        "/dbt-docs/{name}",
        tags=["metadata"],
        summary="Data dictionary of the published warehouse (dbt docs site)",
        responses={404: {"description": "not published yet"}},
    )
    def dbt_docs(name: str = "index.html") -> Response:
        """The dbt docs site of the current publish: every model, column, test and its lineage.
        Open `/dbt-docs/` in a browser."""
        name = name or "index.html"
        if name not in DBT_DOCS_FILES:  # a fixed set: no path from the URL reaches the filesystem
            return _error(404, "not_found", f"no such file {name!r}; open /dbt-docs/")
        path = lake().warehouse / "dbt_docs" / name
        if not path.exists():
            return _error(404, "not_published", "the data dictionary is published with the next `sfe build`")
        return FileResponse(path)

    @app.get("/dbt-docs/", include_in_schema=False)
    def dbt_docs_index() -> Response:
        return dbt_docs("index.html")

    @app.get(
        "/v1/health",
        tags=["status"],
        summary="Warehouse status and freshness",
        response_model=schemas.Health,
        responses={503: {"model": schemas.HealthUnavailable, "description": "Not built yet."}},
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
        return Response(json.dumps(body), media_type="application/json")

    @app.get(
        "/v1/auction-results",
        tags=["market data"],
        summary="Auction results (cleared volumes and prices)",
        response_model=schemas.AuctionResultsPage,
        responses={200: CSV_RESPONSE, **ERROR_RESPONSES},
    )
    def auction_results(
        request: Request,
        db: DB,
        product_id: ProductIds = None,
        from_: From = None,
        to: To = None,
        limit: Limit = queries.DEFAULT_LIMIT,
        offset: Offset = 0,
        format: Format = "json",
    ) -> Response:
        """Cleared auction results (e.g. NESO response and reserve auctions, per EFA block or 30-minute
        window) with `delivery_start_utc` in `[from, to)`, ordered by delivery start, product and id."""
        start, end = _range(from_, to)
        page = queries.auction_results(_product_ids(product_id, db), start, end, limit, offset, db=db)
        return _page_response(request, page, format, "auction-results")

    @app.get(
        "/v1/dispatches",
        tags=["market data"],
        summary="Dispatches (utilisation instructions)",
        response_model=schemas.DispatchesPage,
        responses={200: CSV_RESPONSE, **ERROR_RESPONSES},
    )
    def dispatches(
        request: Request,
        db: DB,
        product_id: ProductIds = None,
        from_: From = None,
        to: To = None,
        limit: Limit = queries.DEFAULT_LIMIT,
        offset: Offset = 0,
        format: Format = "json",
    ) -> Response:
        """Flexibility dispatches (e.g. UKPN local flexibility) with `start_utc` in `[from, to)`,
        ordered by start and id."""
        start, end = _range(from_, to)
        page = queries.dispatches(_product_ids(product_id, db), start, end, limit, offset, db=db)
        return _page_response(request, page, format, "dispatches")

    @app.get(
        "/v1/products",
        tags=["taxonomy"],
        summary="Products with data",
        response_model=schemas.ProductsList,
        responses={200: CSV_RESPONSE, 503: ERROR_RESPONSES[503]},
    )
    def products(db: DB, format: Format = "json") -> Response:
        """Every product that has auction results or dispatches, with its market, standard product and
        row counts."""
        frame = queries.products_with_data(db)
        if format == "csv":
            return Response(
                csv_safe.to_csv_bytes(frame),
                media_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": 'attachment; filename="products.csv"',
                    "X-Total-Count": str(frame.height),
                },
            )
        body = {"total": frame.height, "data": records(frame)}
        return Response(
            json.dumps(body), media_type="application/json", headers={"X-Total-Count": str(frame.height)}
        )

    return app


app = create_app()
