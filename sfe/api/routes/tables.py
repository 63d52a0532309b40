"""Turns each declared ``Dataset`` (``sfe.api.datasets``) into a paged GET route.

Every table route has the same parameters (time range when the table has a time column, the
dataset's filters, ``limit``/``offset``, ``format``) and the same answers (JSON page, CSV or
Parquet; 400/401/403/422/429/503 as JSON errors).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from sfe import csv_safe, queries
from sfe.api import schemas, scoping, security
from sfe.api.common import (
    DB,
    FORMATS,
    ApiError,
    Format,
    From,
    Limit,
    Offset,
    To,
    check_known,
    error_responses,
    list_values,
    page_response,
    serving_db,
    tabular_content,
    time_range,
)
from sfe.api.datasets import FILTER_DOCS, Dataset
from sfe.serving import ServingDB


def filter_param(param: str, extra_description: str = "") -> Any:
    """The annotation of a filter query parameter: a repeatable string, items from ``values`` when
    the filter has a fixed vocabulary (listed as an enum in the OpenAPI document)."""
    doc = FILTER_DOCS[param]
    items: dict[str, Any] = {"type": "string"}
    if doc.values is not None:
        items["enum"] = list(doc.values)
    return Annotated[
        list[str],
        Query(
            description=doc.description + extra_description,
            examples=[[doc.example]],
            json_schema_extra={"items": items},
        ),
    ]


def checked_values(param: str, given: list[str] | None, db: ServingDB) -> list[str]:
    """The values of a filter parameter, 422 for a value outside its vocabulary."""
    requested = list_values(given)
    doc = FILTER_DOCS[param]
    if doc.values is None:
        return requested
    if any(not value.strip() for value in given or ()):
        raise ApiError(422, "invalid_request", f"query parameter '{param}': a value is empty")
    known, listed_at = set(doc.values), "known: " + ", ".join(doc.values)
    if known.issuperset(requested):  # nothing to look up in the warehouse (no values, or listed ones)
        return requested
    if doc.vocabulary == "product":
        known |= queries.known_product_ids(db)
        listed_at = "GET /v1/products lists the products"
    elif doc.vocabulary in ("market", "operator"):
        column = "market_id" if doc.vocabulary == "market" else "operator_id"
        known |= {v for v in queries.known_markets(db)[column].to_list() if v}
        listed_at = "GET /v1/markets lists the markets and their operators"
    check_known(param, requested, known, listed_at)
    return requested


def _filter_values(dataset: Dataset, given: dict[str, Any], db: ServingDB) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for f in dataset.list_filters:
        requested = checked_values(f.param, given.get(f.param), db)
        if requested:
            values[f.param] = requested
    for choice in dataset.choices:
        values[choice.param] = [given.get(choice.param) or choice.default]
    return values


def _example_csv(dataset: Dataset) -> str:
    import polars as pl

    row = dataset.example_row()
    return csv_safe.to_csv(pl.DataFrame({k: [v] for k, v in row.items()}))


def _endpoint(dataset: Dataset):
    has_time = dataset.spec.time_column is not None

    def endpoint(request: Request, db: ServingDB, **params: Any) -> Response:
        principal = params.pop("principal", None)
        scope = scoping.row_scope(principal) if dataset.access == "own" else None
        start, end = (
            time_range(params.pop("from_", None), params.pop("to", None)) if has_time else (None, None)
        )
        filters = _filter_values(dataset, params, db)
        page = queries.table_page(
            dataset.spec, filters, start, end, params["limit"], params["offset"], scope=scope, db=db
        )
        return page_response(request, page, params["format"], dataset.name)

    keyword = inspect.Parameter.KEYWORD_ONLY
    signature = [
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("db", keyword, annotation=DB),
    ]
    if dataset.access == "own":
        signature.append(inspect.Parameter("principal", keyword, annotation=scoping.Caller))
    if has_time:
        signature += [
            inspect.Parameter("from_", keyword, annotation=From, default=None),
            inspect.Parameter("to", keyword, annotation=To, default=None),
        ]
    for f in dataset.list_filters:
        signature.append(inspect.Parameter(f.param, keyword, annotation=filter_param(f.param), default=None))
    for choice in dataset.choices:
        annotation = Annotated[
            Literal[choice.values],  # type: ignore[valid-type]
            Query(description=choice.description, examples=[choice.default]),
        ]
        signature.append(
            inspect.Parameter(choice.param, keyword, annotation=annotation, default=choice.default)
        )
    signature += [
        inspect.Parameter("limit", keyword, annotation=Limit, default=queries.DEFAULT_LIMIT),
        inspect.Parameter("offset", keyword, annotation=Offset, default=0),
        inspect.Parameter("format", keyword, annotation=Format, default="json"),
    ]
    endpoint.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    endpoint.__name__ = dataset.name.replace("-", "_")
    endpoint.__doc__ = dataset.description
    endpoint.plain_params = _plain_params(dataset)  # type: ignore[attr-defined]
    return endpoint


_DIGITS = re.compile(r"[0-9]{1,19}")


def _bounded_int(text: str | None, default: int, low: int, high: int) -> int | None:
    if text is None:
        return default
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def _plain_params(dataset: Dataset) -> Callable[[QueryParams], dict[str, Any] | None]:
    """The endpoint's keyword arguments read from the query string as FastAPI reads them (last value
    of a single parameter, every value of a list, an absent list is None), or None when a parameter
    needs FastAPI's validation: a limit/offset that is not plain digits in range, a format or choice
    outside its values. Only values every check would accept pass here; all else goes to FastAPI."""
    has_time = dataset.spec.time_column is not None

    def parse(query: QueryParams) -> dict[str, Any] | None:
        params: dict[str, Any] = {}
        if has_time:
            params["from_"], params["to"] = query.get("from"), query.get("to")
        for f in dataset.list_filters:
            params[f.param] = query.getlist(f.param) or None
        for choice in dataset.choices:
            params[choice.param] = query.get(choice.param, choice.default)
            if params[choice.param] not in choice.values:
                return None
        params["limit"] = _bounded_int(query.get("limit"), queries.DEFAULT_LIMIT, 1, queries.MAX_LIMIT)
        params["offset"] = _bounded_int(query.get("offset"), 0, 0, 2**62)
        params["format"] = query.get("format", "json")
        if params["limit"] is None or params["offset"] is None or params["format"] not in FORMATS:
            return None
        return params

    return parse


class TableRoute(APIRoute):
    """A table route that skips FastAPI's per-parameter validation when the query is plainly valid.

    FastAPI validates each declared parameter through pydantic on every request (~0.4 ms for a
    route with a dozen filters, a tenth of a small query). When ``plain_params`` can read every
    parameter as FastAPI would, the endpoint is called with those values directly (credentials and
    the warehouse resolved by the same dependencies, called in turn); anything else (a value FastAPI
    would reject or coerce, or a test's dependency override) takes FastAPI's own handler, so errors
    and the OpenAPI document (built from the endpoint's signature) are exactly FastAPI's.
    """

    def get_route_handler(self) -> Callable[[Request], Any]:
        standard = super().get_route_handler()
        endpoint = self.endpoint
        plain_params = endpoint.plain_params  # type: ignore[attr-defined]
        scoped = "principal" in inspect.signature(endpoint).parameters

        async def handler(request: Request) -> Response:
            params = None if request.app.dependency_overrides else plain_params(request.query_params)
            if params is None:
                return await standard(request)
            if scoped:
                bearer = await security.bearer_scheme(request)
                header_key = await security.api_key_scheme(request)
                params["principal"] = await scoping.current_principal(
                    await security.optional_principal(request, bearer, header_key)
                )
            db = await serving_db()
            return await run_in_threadpool(endpoint, request=request, db=db, **params)

        return handler


def add_table_routes(router: APIRouter, datasets: Iterable[Dataset]) -> None:
    for dataset in datasets:
        codes = [400, 422, 429, 503] if dataset.spec.time_column else [422, 429, 503]
        if dataset.access == "own":
            codes[1:1] = [401, 403]
        example = {"total": 1, "limit": 1000, "offset": 0, "next": None, "data": [dataset.example_row()]}
        router.add_api_route(
            dataset.path,
            _endpoint(dataset),
            methods=["GET"],
            tags=[dataset.tag],
            summary=dataset.summary,
            description=dataset.description,
            response_model=schemas.page_model(dataset),
            responses={200: tabular_content(example, _example_csv(dataset)), **error_responses(*codes)},
            operation_id=dataset.name.replace("-", "_"),
            route_class_override=TableRoute,
        )
