"""NESO Enduring Auction Capability (EAC): auction results summary, one row per product per window."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sfe.sources.base import PARTITION_COLUMN, Field, Kind, RowCheck, Source


@dataclass(frozen=True)
class NesoEacResults(Source):
    source_id: str = "neso_eac_results"
    title: str = "NESO EAC auction results summary (CSV)"
    fields: tuple[Field, ...] = (
        Field(
            "_id",
            Kind.INTEGER,
            "Row number in the publisher's file; restarts every financial year, not a key",
            required=False,
        ),
        Field("auctionID", Kind.TEXT, "Auction identifier (not in date order)", nullable=False),
        Field(
            "auctionProduct",
            Kind.TEXT,
            "Product code: DCH/DCL/DMH/DML/DRH/DRL (EFA blocks), PBR/NBR/PQR/NQR/PSR (30 min)",
            nullable=False,
        ),
        Field("serviceType", Kind.TEXT, "Service family, e.g. Response, Reserve"),
        Field(
            "deliveryStart",
            Kind.UTC_NAIVE,
            "Start of the delivery window (naive timestamp meaning UTC)",
            nullable=False,
        ),
        Field(
            "deliveryEnd",
            Kind.UTC_NAIVE,
            "End of the delivery window, exclusive (naive, UTC)",
            nullable=False,
        ),
        Field("clearedVolume", Kind.DECIMAL, "Volume cleared in the window", unit="MW", nullable=False),
        Field(
            "clearingPrice",
            Kind.DECIMAL,
            "Availability clearing price; may be negative",
            unit="GBP/MW/h",
            nullable=False,
        ),
        Field(
            "linkedServiceWindowID",
            Kind.INTEGER,
            "Linked service window (Slow Reserve only); blank or a float like 1.0",
            required=False,
        ),
    )
    natural_key: tuple[str, ...] = ("auctionID", "auctionProduct", "deliveryStart")
    version_column: str | None = None  # a republished file replaces the earlier value
    time_convention: str = "deliveryStart/deliveryEnd are naive ISO timestamps meaning UTC"

    def derive(self, typed: pl.DataFrame) -> pl.DataFrame:
        return typed.with_columns(
            pl.col("deliveryStart").alias("interval_start_utc"),
            pl.col("deliveryEnd").alias("interval_end_utc"),
            pl.col("auctionProduct").str.to_uppercase().alias("auctionProduct"),
            pl.col("deliveryStart").dt.date().alias(PARTITION_COLUMN),
        )

    def row_checks(self) -> list[RowCheck]:
        return [
            RowCheck(
                "deliveryEnd",
                "deliveryEnd is not after deliveryStart",
                lambda: pl.col("interval_end_utc") <= pl.col("interval_start_utc"),
            ),
            RowCheck("clearedVolume", "clearedVolume is negative", lambda: pl.col("clearedVolume") < 0),
            RowCheck(
                "deliveryEnd",
                "delivery window longer than 6 hours",
                lambda: (pl.col("interval_end_utc") - pl.col("interval_start_utc")) > pl.duration(hours=6),
            ),
        ]

    def dedupe_columns(self) -> tuple[str, ...]:
        # _id restarts per file and differs between republications of the same row.
        return tuple(f.name for f in self.fields if f.name != "_id")
