"""Response models of the SFE API: they document the JSON (OpenAPI) and hold its examples.

Routes build their JSON directly from Polars frames for speed; these models describe that JSON.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


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


class AuctionResult(BaseModel):
    auction_result_id: str = Field(examples=["a4924c0a250f504a2837ab1d7eb161d2"])
    market_id: str = Field(examples=["neso_eac"])
    product_id: str = Field(examples=["neso_eac_dch"])
    auction_id: str | None = Field(examples=["EAC-20240401"])
    delivery_start_utc: datetime = Field(
        description="Start of delivery (UTC). Filters apply to this instant.",
        examples=["2024-03-31T22:00:00+00:00"],
    )
    delivery_end_utc: datetime = Field(examples=["2024-04-01T02:00:00+00:00"])
    cleared_volume_mw: float | None = Field(description="Cleared volume, MW.", examples=[160.0])
    clearing_price_gbp_per_mw_h: float | None = Field(description="Clearing price, £/MW/h.", examples=[5.8])
    source_id: str = Field(examples=["neso_eac_results"])


class Dispatch(BaseModel):
    dispatch_id: str = Field(examples=["593de2eef6aa11825b6e0cae19b730aa"])
    market_id: str = Field(examples=["ukpn_flex"])
    product_id: str = Field(examples=["ukpn_dynamic"])
    participant_id: str | None = Field(examples=["kiwi-power"])
    asset_id: str | None = Field(description="SFE asset id, null until the asset crosswalk resolves it.")
    source_asset_ref: str | None = Field(description="The asset's id in the source.", examples=["FU-DYN-3"])
    start_utc: datetime = Field(description="Dispatch start (UTC). Filters apply to this instant.")
    end_utc: datetime
    power_mw: float | None = Field(description="Utilisation power requested, MW.", examples=[1.25])
    energy_mwh: float | None = Field(description="Utilisation energy requested, MWh.", examples=[1.875])
    utilisation_price_gbp_per_mwh: float | None = Field(examples=[250.0])
    availability_price_gbp_per_mw_h: float | None = Field(examples=[5.5])
    direction: str | None = Field(examples=["up"])
    instruction_source: str | None = Field(examples=["automatic"])
    source_id: str = Field(examples=["ukpn_flexibility_dispatches"])


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


class _Paged(BaseModel):
    total: int = Field(description="Rows matching the filters (all pages).", examples=[1246])
    limit: int = Field(examples=[1000])
    offset: int = Field(examples=[0])
    next: str | None = Field(description="URL of the next page, null on the last page.")


class AuctionResultsPage(_Paged):
    data: list[AuctionResult]


class DispatchesPage(_Paged):
    data: list[Dispatch]


class ProductsList(BaseModel):
    total: int
    data: list[Product]
