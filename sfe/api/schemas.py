"""Response models of the SFE API: they document the JSON (OpenAPI) and hold its examples.

Routes build their JSON directly from Polars frames for speed; these models describe that JSON.
The models of the table routes are built from their declaration in ``sfe.api.datasets``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

if TYPE_CHECKING:
    from sfe.api.datasets import Dataset


class ErrorBody(BaseModel):
    error: str = Field(description="Machine-readable error code.", examples=["invalid_request"])
    message: str = Field(
        description="What went wrong and how to fix it.",
        examples=["query parameter 'limit': Input should be less than or equal to 10000"],
    )
    details: list[dict] | None = Field(
        default=None, description="Per-parameter problems, when there are several."
    )


class SourceRows(BaseModel):
    model_config = ConfigDict(extra="allow")

    source_id: str = Field(examples=["neso_eac_results"])
    files: int | None = Field(default=None, description="Source files ingested.", examples=[92])
    rows_loaded: int | None = Field(
        default=None, description="Rows loaded into the raw layer.", examples=[1104]
    )
    last_ingested_at: datetime | None = Field(default=None, examples=["2024-06-01T05:50:00+00:00"])
    min_date: date | None = Field(default=None, examples=["2024-03-01"])
    max_date: date | None = Field(default=None, examples=["2024-05-31"])


class Health(BaseModel):
    status: str = Field(description="`ok` when the published warehouse can be read.", examples=["ok"])
    published_at: datetime | None = Field(description="When the current warehouse was published (UTC).")
    build_started_at: datetime | None = None
    sfe_version: str | None = Field(default=None, examples=["0.1.0"])
    dbt_tests_passed: bool | None = None
    publish_version: str = Field(description="Changes whenever a new publish replaces the warehouse.")
    total_rows: int = Field(description="Rows loaded over all sources.")
    sources: list[SourceRows]
    latest_build: dict | None = Field(
        default=None,
        description="The latest build attempt (status running/succeeded/failed, times, message). A failed "
        "build newer than the publish means the data served is the last good publish.",
    )


class HealthUnavailable(BaseModel):
    status: str = Field(examples=["unavailable"])
    error: str = Field(examples=["warehouse_not_built"])
    message: str = Field(
        examples=[
            "The SFE warehouse has not been built yet: lake/warehouse/sfe.duckdb does not exist. "
            "Run `make build` (or `sfe build`) ..."
        ]
    )


class Product(BaseModel):
    product_id: str = Field(examples=["neso_eac_dch"])
    product_name: str = Field(examples=["Dynamic Containment High"])
    market_id: str | None = Field(examples=["neso_eac"])
    market_name: str | None = Field(examples=["NESO Enduring Auction Capability (response and reserve)"])
    service_type: str | None = Field(examples=["Response"])
    direction: str | None = Field(examples=["up"])
    standard_product: str | None = Field(examples=["dynamic_containment_high"])
    auction_result_rows: int = Field(examples=[552])
    dispatch_rows: int = Field(examples=[0])
    first_start_utc: datetime | None = None
    last_start_utc: datetime | None = None


class Paged(BaseModel):
    total: int = Field(description="Rows matching the filters (all pages).", examples=[1246])
    limit: int = Field(examples=[1000])
    offset: int = Field(examples=[0])
    next: str | None = Field(description="URL of the next page, null on the last page.")


class ProductsList(BaseModel):
    total: int
    data: list[Product]


_PYTHON_TYPES: dict[str, Any] = {
    "string": str,
    "number": float,
    "integer": int,
    "boolean": bool,
    "date": date,
    "instant": datetime,
}


_LOCAL_PATTERNS = {"time": r"^\d{2}:\d{2}:\d{2}$", "local": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$"}


def item_model(dataset: Dataset) -> type[BaseModel]:
    """One row of a table route: every declared column, always present, null where unknown."""
    fields: dict[str, Any] = {}
    for c in dataset.columns:
        # Local times carry no offset, so they are not RFC 3339 "time"/"date-time": text of a pattern.
        pattern = _LOCAL_PATTERNS.get(c.type)
        python_type = str if pattern else _PYTHON_TYPES[c.type]
        fields[c.name] = (
            python_type | None,
            Field(description=c.doc or None, examples=[c.example], pattern=pattern),
        )
    return create_model(dataset.item_schema, __config__=ConfigDict(extra="forbid"), **fields)


def page_model(dataset: Dataset) -> type[BaseModel]:
    return create_model(
        dataset.page_schema, __base__=Paged, data=(list[item_model(dataset)], Field(description="The rows."))
    )


# -- forecast inputs ------------------------------------------------------------------------------
class ForecastProduct(BaseModel):
    product_id: str = Field(examples=["neso_eac_dch"])
    product_name: str | None = Field(examples=["Dynamic Containment High"])
    market_id: str | None = Field(examples=["neso_eac"])
    operator_id: str | None = Field(examples=["neso"])
    service_type: str | None = Field(examples=["Response"])
    direction: str | None = Field(examples=["up"])
    standard_product: str | None = Field(examples=["dynamic_containment_high"])


class PriceHistoryRow(BaseModel):
    period_start_utc: datetime = Field(
        description="Start of the window, day or month (UTC).", examples=["2025-06-01T00:00:00+00:00"]
    )
    period_end_utc: datetime = Field(
        description="End (UTC), exclusive.", examples=["2025-06-02T00:00:00+00:00"]
    )
    product_id: str = Field(examples=["neso_eac_dch"])
    market_id: str | None = Field(examples=["neso_eac"])
    activity: str = Field(
        description="`auction_result` (auction clearing; per unit for day/month), `dispatch` (utilisation) or "
        "`contract` (accepted DNO competition bids).",
        examples=["auction_result"],
    )
    records: int | None = Field(description="Results, dispatches or contract-days aggregated.", examples=[83])
    units: int | None = Field(description="Distinct assets (null for `window`).", examples=[18])
    volume_mw: float | None = Field(description="Sum of the records' MW.", examples=[5140.6])
    volume_mwh: float | None = Field(
        description="MW x hours (capacity-hours or energy), MWh.", examples=[20562.4]
    )
    availability_price_gbp_per_mw_h: float | None = Field(
        description="Clearing / availability price, MWh-weighted over the period, £/MW/h.", examples=[3.02]
    )
    utilisation_price_gbp_per_mwh: float | None = Field(
        description="Utilisation price, MWh-weighted over the period, £/MWh.", examples=[173.72]
    )


class AssetFeatureRow(BaseModel):
    asset_id: str = Field(examples=["ast_6b70d55e1649b11c"])
    asset_type: str | None = Field(examples=["battery"])
    size_band: str | None = Field(examples=["5_20mw"])
    capacity_mw: float | None = Field(examples=[12.5])
    dno_area: str | None = Field(description="DNO licence area.", examples=["EPN"])
    gsp_group: str | None = Field(examples=["_A"])
    flex_zone: str | None = Field(examples=["Takeley"])
    product_id: str = Field(examples=["neso_eac_dch"])
    activity: str = Field(
        description="`auction_result` (won in an auction) or `dispatch`.", examples=["dispatch"]
    )
    records: int = Field(description="Results or dispatches in the range.", examples=[412])
    volume_mwh: float | None = Field(description="Their volume, MWh.", examples=[1830.5])
    first_active_utc: datetime = Field(examples=["2025-01-01T03:30:00+00:00"])
    last_active_utc: datetime = Field(examples=["2025-06-30T18:30:00+00:00"])


class ForecastInputsBody(BaseModel):
    granularity: str = Field(examples=["day"])
    period_from: datetime | None = Field(
        alias="from",
        description="The `from` of the request (UTC), null when open.",
        examples=["2025-01-01T00:00:00+00:00"],
    )
    period_to: datetime | None = Field(
        alias="to", description="The `to` of the request (UTC), null when open."
    )
    method: str = Field(description="How the tables are computed, in plain words.")
    products: list[ForecastProduct]
    price_history: list[PriceHistoryRow]
    asset_features: list[AssetFeatureRow]
