"""Analytics: the aggregated marts (market trends, ...) and the inputs a third-party forecaster
needs (``/v1/forecast-inputs``, UC25 and UC28)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from sfe import queries
from sfe.api import datasets, schemas
from sfe.api.common import (
    DB,
    JSON_MEDIA_TYPE,
    ApiError,
    Format,
    From,
    To,
    error_responses,
    json_rows,
    table_response,
    tabular_content,
    time_range,
)
from sfe.api.routes.tables import add_table_routes, checked_values, filter_param

router = APIRouter()
add_table_routes(router, datasets.by_tag(datasets.ANALYTICS))

FORECAST_METHOD = (
    "price_history: for granularity 'window', every cleared auction result (clearing price in £/MW/h and "
    "cleared volume per delivery window); for 'day' and 'month', the market-trends mart summed over asset "
    "types and size bands (or only those asked for) per UTC day or month, product and activity, with "
    "prices weighted by MWh. asset_features: every asset with public activity in these products and this "
    "range (NESO auction unit results and dispatches; bids are private and not included), with its type, "
    "size band, capacity and area from the asset register, and its records and volume per product."
)

_NARROWS = " Narrows the day/month price history and the assets."
_ProductIds = filter_param("product_id", " Default: every product.")
_AssetTypes = filter_param("asset_type", _NARROWS)
_SizeBands = filter_param("size_band", _NARROWS)

_Granularity = Annotated[
    Literal["window", "day", "month"],
    Query(
        description="Price history per auction delivery `window` (auction products only), UTC `day` or `month`.",
        examples=["day"],
    ),
]
_Table = Annotated[
    Literal["price_history", "asset_features", "products"],
    Query(
        description="For `format=csv|parquet`: which of the three tables to download (JSON has all three).",
        examples=["price_history"],
    ),
]


@router.get(
    "/v1/forecast-inputs",
    tags=[datasets.ANALYTICS],
    summary="Price history and asset features for third-party forecasts (UC25, UC28)",
    response_model=schemas.ForecastInputsBody,
    responses={
        200: {
            **tabular_content(),
            "description": "JSON with the products, the price history and the asset features; CSV or Parquet "
            "of one of them (`table`).",
        },
        **error_responses(400, 422, 429, 503),
    },
)
def forecast_inputs(
    db: DB,
    product_id: _ProductIds = None,
    from_: From = None,
    to: To = None,
    granularity: _Granularity = "month",
    asset_type: _AssetTypes = None,
    size_band: _SizeBands = None,
    format: Format = "json",
    table: _Table = "price_history",
) -> Response:
    """What a forecaster (or a bid adviser) needs in one call: per product the history of clearing /
    availability and utilisation prices and volumes (per auction window, day or month), and the features
    of the assets active in those products (type, size band, capacity, DNO area, zone) with their
    activity. Periods start in `[from, to)`. The price history is at most 10,000 rows: narrow `product_id`
    or the range, or choose a coarser `granularity`.
    """
    start, end = time_range(from_, to)
    try:
        inputs = queries.forecast_inputs(
            granularity,
            checked_values("product_id", product_id, db),
            start,
            end,
            checked_values("asset_type", asset_type, db),
            checked_values("size_band", size_band, db),
            db=db,
        )
    except ValueError as exc:
        raise ApiError(400, "invalid_selection", str(exc)) from None
    if format != "json":
        return table_response(getattr(inputs, table), format, f"forecast-inputs-{table}")
    head = json.dumps(
        {
            "granularity": granularity,
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
            "method": FORECAST_METHOD,
        }
    )
    parts = [
        f'"{name}": {json_rows(getattr(inputs, name))}'
        for name in ("products", "price_history", "asset_features")
    ]
    body = head[:-1] + ", " + ", ".join(parts) + "}"
    headers = {"X-Total-Count": str(inputs.price_history.height)}
    return Response(body, media_type=JSON_MEDIA_TYPE, headers=headers)
