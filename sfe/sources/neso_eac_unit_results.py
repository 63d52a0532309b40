"""NESO Enduring Auction Capability (EAC): per-unit auction results (CSV).

No real file of this dataset was at hand; the field names are known only approximately, so headers
match case-insensitively and common spellings are accepted as aliases (docs/sources/neso_eac_unit_results.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sfe.sources.base import PARTITION_COLUMN, Field, Kind, RowCheck, Source


@dataclass(frozen=True)
class NesoEacUnitResults(Source):
    source_id: str = "neso_eac_unit_results"
    title: str = "NESO EAC auction results per unit (CSV)"
    fields: tuple[Field, ...] = (
        Field("_id", Kind.INTEGER, "Row number in the publisher's file; restarts every file, not a key",
              required=False, aliases=("id",)),
        Field("auctionID", Kind.TEXT, "Auction identifier (not in date order)", nullable=False,
              aliases=("auction_id",)),
        Field("auctionProduct", Kind.TEXT,
              "Product code, upper-cased: DCH/DCL/DMH/DML/DRH/DRL (EFA blocks), PBR/NBR/PQR/NQR/PSR (30 min)",
              nullable=False, aliases=("auction_product", "product")),
        Field("serviceType", Kind.TEXT, "Service family, e.g. Response, Reserve", required=False,
              aliases=("service_type",)),
        Field("unitName", Kind.TEXT, "BM unit id (T_…, E_…) or non-BM unit id that cleared", nullable=False,
              aliases=("unit_name", "unitId", "unit_id", "bmUnit", "bm_unit")),
        Field("companyName", Kind.TEXT, "Company owning the unit, as NESO spells it", nullable=False,
              aliases=("company_name", "company", "participant")),
        Field("technologyType", Kind.TEXT, "Technology as published, e.g. Batteries", required=False,
              aliases=("technology_type", "technology")),
        Field("deliveryStart", Kind.UTC_NAIVE, "Start of the delivery window (naive timestamp meaning UTC)",
              nullable=False, aliases=("delivery_start",)),
        Field("deliveryEnd", Kind.UTC_NAIVE, "End of the delivery window, exclusive (naive, UTC)",
              nullable=False, aliases=("delivery_end",)),
        Field("executedVolume", Kind.DECIMAL, "Volume this unit cleared in the window", unit="MW",
              nullable=False,
              aliases=("executed_volume", "clearedVolume", "cleared_volume", "volume", "volume_mw")),
        Field("clearingPrice", Kind.DECIMAL, "Clearing price of the window (pay-as-clear); may be negative",
              unit="GBP/MW/h", nullable=False, aliases=("clearing_price", "price")),
        Field("source", Kind.TEXT, "Financial-year label of the publication, e.g. FY2025", required=False),
    )  # fmt: skip
    natural_key: tuple[str, ...] = ("auctionID", "auctionProduct", "unitName", "deliveryStart")
    version_column: str | None = None  # a republished file replaces the earlier value
    time_convention: str = (
        "deliveryStart/deliveryEnd are naive ISO timestamps meaning UTC (EFA block 1 starts 22:00 UTC in "
        "summer, 23:00 UTC in winter)"
    )

    def derive(self, typed: pl.DataFrame) -> pl.DataFrame:
        return typed.with_columns(
            pl.col("deliveryStart").alias("interval_start_utc"),
            pl.col("deliveryEnd").alias("interval_end_utc"),
            pl.col("auctionProduct").str.to_uppercase().alias("auctionProduct"),
            pl.col("deliveryStart").dt.date().alias(PARTITION_COLUMN),
        )

    def row_checks(self) -> list[RowCheck]:
        return [
            RowCheck("deliveryEnd", "deliveryEnd is not after deliveryStart",
                     lambda: pl.col("interval_end_utc") <= pl.col("interval_start_utc")),
            RowCheck("deliveryEnd", "delivery window longer than 6 hours",
                     lambda: (pl.col("interval_end_utc") - pl.col("interval_start_utc")) > pl.duration(hours=6)),
            RowCheck("executedVolume", "executedVolume is negative", lambda: pl.col("executedVolume") < 0),
        ]  # fmt: skip

    def dedupe_columns(self) -> tuple[str, ...]:
        # _id restarts per file and `source` labels the publication, not the record.
        return tuple(f.name for f in self.fields if f.name not in ("_id", "source"))
