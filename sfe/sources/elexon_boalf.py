"""Elexon bid-offer acceptance levels (BOALF): MW target levels per acceptance time segment."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sfe.sources.base import PARTITION_COLUMN, Field, Kind, RowCheck, Source


@dataclass(frozen=True)
class ElexonBoalf(Source):
    source_id: str = "elexon_boalf"
    title: str = "Elexon bid-offer acceptance levels, BOALF (CSV)"
    fields: tuple[Field, ...] = (
        Field("dataset", Kind.TEXT, "Dataset name (BOALF)"),
        Field("settlementDate", Kind.DATE, "Settlement day of the segment start", nullable=False),
        Field("settlementPeriodFrom", Kind.INTEGER, "Settlement period at timeFrom"),
        Field("settlementPeriodTo", Kind.INTEGER, "Settlement period at timeTo (may wrap from 48 to 1)"),
        Field("timeFrom", Kind.UTC_ISO, "Segment start, UTC", nullable=False),
        Field("timeTo", Kind.UTC_ISO, "Segment end, UTC", nullable=False),
        Field(
            "levelFrom",
            Kind.DECIMAL,
            "Target level at timeFrom (not a volume; negative = import)",
            unit="MW",
            nullable=False,
        ),
        Field("levelTo", Kind.DECIMAL, "Target level at timeTo", unit="MW", nullable=False),
        Field("acceptanceNumber", Kind.TEXT, "Acceptance number (per BM unit)", nullable=False),
        Field("acceptanceTime", Kind.UTC_ISO, "When the acceptance was issued, UTC"),
        Field("deemedBoFlag", Kind.BOOLEAN, "Deemed bid-offer flag"),
        Field("soFlag", Kind.BOOLEAN, "System (not energy) flagged"),
        Field("amendmentFlag", Kind.TEXT, "ORI original, or an amendment code"),
        Field("storFlag", Kind.BOOLEAN, "Short-term operating reserve flag"),
        Field("rrFlag", Kind.BOOLEAN, "Replacement reserve flag"),
        Field("nationalGridBmUnit", Kind.TEXT, "NESO's BM unit id"),
        Field("bmUnit", Kind.TEXT, "Elexon BM unit id", nullable=False),
    )
    natural_key: tuple[str, ...] = ("bmUnit", "acceptanceNumber", "timeFrom")
    version_column: str | None = None
    time_convention: str = "all instants UTC (Z); files may be sorted newest first"

    def derive(self, typed: pl.DataFrame) -> pl.DataFrame:
        return typed.with_columns(
            pl.col("timeFrom").alias("interval_start_utc"),
            pl.col("timeTo").alias("interval_end_utc"),
            pl.col("timeFrom").dt.date().alias(PARTITION_COLUMN),
        )

    def row_checks(self) -> list[RowCheck]:
        return [
            RowCheck("timeTo", "timeTo is before timeFrom", lambda: pl.col("timeTo") < pl.col("timeFrom")),
            RowCheck(
                "settlementPeriodFrom",
                "settlement period outside 1..50",
                lambda: (
                    ~pl.col("settlementPeriodFrom").is_between(1, 50)
                    | ~pl.col("settlementPeriodTo").is_between(1, 50)
                ),
            ),
        ]
