"""What every route shares: errors, query parameters, the warehouse dependency and rendering.

One way to do each thing: routes parse time ranges with ``time_range``, list filters with
``list_values``, and answer with ``page_response`` (paged lists) or ``table_response`` (whole
tables) in JSON, CSV (formula-safe, via ``sfe.csv_safe``) or Parquet.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import Depends, Query, Request
from fastapi.responses import Response

from sfe import csv_safe, queries
from sfe.api import schemas
from sfe.serving import ServingDB, get_db

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
JSON_MEDIA_TYPE = "application/json"
FORMATS = ("json", "csv", "parquet")
DATE_HELP = "ISO 8601 date or datetime; without an offset it is UTC."


class ApiError(Exception):
    """An error answered as ``{"error": code, "message": text}`` with ``status_code``."""

    def __init__(
        self,
        status_code: int,
        error: str,
        message: str,
        details: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status_code: int,
    error: str,
    message: str,
    details: list | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {**extra, "error": error, "message": message}
    if details:
        body["details"] = details
    return Response(
        json.dumps(body, default=str), status_code=status_code, media_type=JSON_MEDIA_TYPE, headers=headers
    )


# -- the warehouse ------------------------------------------------------------------------------
async def serving_db() -> ServingDB:
    """The process-wide read-only warehouse for the current SFE_LAKE_DIR (a FastAPI dependency)."""
    return get_db()


DB = Annotated[ServingDB, Depends(serving_db)]


# -- parameters ---------------------------------------------------------------------------------
_SPACE_FOR_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")
_LEAP_SECOND = re.compile(r"T\d{2}:\d{2}:(60)")


def parse_instant(name: str, value: str | None) -> datetime | None:
    """ISO 8601 / RFC 3339 date or datetime -> aware UTC datetime (naive = UTC). Raises ApiError(422).

    Instants beyond what Python can hold in UTC (year 1 or 9999 with an offset) are clamped to the
    first/last representable instant: as range bounds they select the same rows.
    """
    if value is None or value.strip() == "":
        return None
    # RFC 3339 allows lower-case 't' and 'z'; an unencoded '+' in a query string arrives as a space.
    text = _SPACE_FOR_PLUS.sub(r"\1+\2", value.strip().upper())
    leap = _LEAP_SECOND.search(text)  # 23:59:60 (a leap second) is the next minute's start
    if leap:
        text = text[: leap.start(1)] + "59" + text[leap.end(1) :]
    try:
        if len(text) == 10:
            return queries.to_utc(date.fromisoformat(text))
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(
            422,
            "invalid_request",
            f"query parameter '{name}': {value!r} is not an ISO 8601 date or datetime "
            "(examples: 2024-04-01, 2024-04-01T22:00:00Z, 2024-04-01T23:00:00+01:00)",
        ) from None
    try:
        instant = queries.to_utc(parsed)
        return instant + timedelta(seconds=1) if leap else instant
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC) if parsed.year == 1 else datetime.max.replace(tzinfo=UTC)


def time_range(from_: str | None, to: str | None) -> tuple[datetime | None, datetime | None]:
    """The half-open range [from, to) of two query parameters; 400 when it is empty."""
    start, end = parse_instant("from", from_), parse_instant("to", to)
    if start is not None and end is not None and start >= end:
        raise ApiError(
            400,
            "empty_range",
            f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()}): the range is half-open, "
            "from <= start < to",
        )
    return start, end


def list_values(values: Iterable[str] | None) -> list[str]:
    """A repeatable, comma-separable query parameter as a list of non-empty values."""
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


def check_known(param: str, values: list[str], known: Iterable[str], listed_at: str) -> None:
    """422 naming the unknown values of a filter, and where the known ones are listed."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        error = "unknown_product" if param == "product_id" else "unknown_value"
        raise ApiError(
            422,
            error,
            f"query parameter '{param}': unknown value(s) {', '.join(map(repr, unknown))}; {listed_at}",
        )


# A date or a date-time (RFC 3339), as the OpenAPI document says (empty = no bound); parse_instant
# reads all three.
_INSTANT_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "maxLength": 0},
    ]
}
From = Annotated[
    str | None,
    Query(
        alias="from",
        description=f"Start instant, inclusive. {DATE_HELP}",
        examples=["2025-06-01"],
        json_schema_extra=_INSTANT_SCHEMA,
    ),
]
To = Annotated[
    str | None,
    Query(
        description=f"End instant, exclusive. {DATE_HELP}",
        examples=["2025-07-01T00:00:00Z"],
        json_schema_extra=_INSTANT_SCHEMA,
    ),
]
Limit = Annotated[
    int,
    Query(ge=1, le=queries.MAX_LIMIT, description=f"Rows per page (1-{queries.MAX_LIMIT}).", examples=[1000]),
]
Offset = Annotated[int, Query(ge=0, le=2**62, description="Rows to skip (for paging).", examples=[0])]
Format = Annotated[
    Literal["json", "csv", "parquet"],
    Query(description="Response format: JSON, CSV (formula-safe) or Parquet.", examples=["csv"]),
]


# -- OpenAPI fragments --------------------------------------------------------------------------
_ERROR_TEXT: dict[int, str] = {
    400: "Inconsistent parameters (e.g. `from` not before `to`).",
    401: "No API key, or a key that is not valid.",
    403: "The API key's role may not read this data.",
    422: "Invalid parameter.",
    429: "Too many requests: retry after `Retry-After` seconds.",
    503: "The warehouse (or the table this route reads) has not been published yet.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": schemas.ErrorBody, "description": _ERROR_TEXT[code]} for code in codes
    }
    if 429 in responses:
        responses[429]["headers"] = {
            "Retry-After": {
                "description": "Seconds until a request is allowed.",
                "schema": {"type": "integer"},
            }
        }
    return responses


def tabular_content(json_example: Any = None, csv_example: str | None = None) -> dict[str, Any]:
    """The 200 response's CSV and Parquet media types (JSON comes from the response model)."""
    csv_media: dict[str, Any] = {"schema": {"type": "string"}}
    if csv_example:
        csv_media["example"] = csv_example
    content: dict[str, Any] = {
        "text/csv": csv_media,
        PARQUET_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
    }
    if json_example is not None:
        content[JSON_MEDIA_TYPE] = {"example": json_example}
    return {
        "description": "Rows as JSON, CSV or Parquet (`format`). Lists send `X-Total-Count` and a `Link` header.",
        "content": content,
        "headers": {
            "X-Total-Count": {"description": "Rows matching the filters.", "schema": {"type": "integer"}},
            "Link": {
                "description": "RFC 8288 links to the next, previous, first and last page.",
                "schema": {"type": "string"},
            },
        },
    }


# -- rendering ----------------------------------------------------------------------------------
def json_ready(df: pl.DataFrame) -> pl.DataFrame:
    """What Polars' JSON writer does not already write as the API documents: local (naive) instants
    as ISO 8601 with a 'T', times of day as HH:MM:SS, decimals as numbers. (Instants with a zone come
    out as ISO 8601 with their offset, dates as YYYY-MM-DD and NaN as null without help.)"""
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            exprs.append(col.dt.to_string(csv_safe.NAIVE_DATETIME_FORMAT))
        elif dtype == pl.Time:
            exprs.append(col.dt.to_string("%H:%M:%S"))
        elif isinstance(dtype, pl.Decimal):  # JSON has no decimal type
            exprs.append(col.cast(pl.Float64))
    return df.with_columns(exprs) if exprs else df


def json_rows_bytes(df: pl.DataFrame) -> bytes:
    """The rows as a JSON array of objects, UTF-8 (Polars writes it into a buffer: no Python object
    per cell, no intermediate str)."""
    if df.width == 0:
        return b"[]"
    buffer = io.BytesIO()
    json_ready(df).write_json(buffer)
    return buffer.getvalue()


def json_rows(df: pl.DataFrame) -> str:
    """``json_rows_bytes`` as text."""
    return json_rows_bytes(df).decode()


def _json_body(head: dict[str, Any], df: pl.DataFrame) -> bytes:
    """``{**head, "data": rows}`` as bytes: the rows' JSON is spliced in, never parsed again."""
    return b"".join((json.dumps(head)[:-1].encode(), b', "data": ', json_rows_bytes(df), b"}"))


def records(df: pl.DataFrame) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts (the same text as ``json_rows``, parsed)."""
    return json.loads(json_rows_bytes(df))


def parquet_bytes(df: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    df.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def _file_response(df: pl.DataFrame, fmt: str, name: str, headers: dict[str, str]) -> Response:
    if fmt == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return Response(csv_safe.to_csv_bytes(df), media_type=CSV_MEDIA_TYPE, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{name}.parquet"'
    return Response(parquet_bytes(df), media_type=PARQUET_MEDIA_TYPE, headers=headers)


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


def page_response(request: Request, page: queries.Page, fmt: str, name: str) -> Response:
    """One page of rows: JSON ``{total, limit, offset, next, data}``, CSV or Parquet, with paging headers."""
    next_url, link = _links(request, page)
    headers = {"X-Total-Count": str(page.total), "Link": link}
    if fmt != "json":
        return _file_response(page.rows, fmt, name, headers)
    head = {"total": page.total, "limit": page.limit, "offset": page.offset, "next": next_url}
    return Response(_json_body(head, page.rows), media_type=JSON_MEDIA_TYPE, headers=headers)


def table_response(frame: pl.DataFrame, fmt: str, name: str, **extra: Any) -> Response:
    """A whole (small) table: JSON ``{total, data}`` plus ``extra`` fields, CSV or Parquet."""
    headers = {"X-Total-Count": str(frame.height)}
    if fmt != "json":
        return _file_response(frame, fmt, name, headers)
    body = _json_body({**extra, "total": frame.height}, frame)
    return Response(body, media_type=JSON_MEDIA_TYPE, headers=headers)
