"""Elexon system sell/buy (imbalance) prices, in both published encodings.

The API encoding uses camelCase headers; the website export uses PascalCase headers and writes
numbers with 18 fixed decimals. Headers match case-insensitively, so both load into one table with
the same values.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sfe.sources.base import PARTITION_COLUMN, Field, Kind, RowCheck, Source
from sfe.sources.gb_time import period_start_utc, periods_in_day

_VOLUMES = (
    ("netImbalanceVolume", "Net imbalance volume (positive = system short)"),
    ("replacementPriceReferenceVolume", "Volume used to derive the replacement price"),
    ("totalAcceptedOfferVolume", "Total accepted offer volume"),
    ("totalAcceptedBidVolume", "Total accepted bid volume"),
    ("totalAdjustmentSellVolume", "Total adjustment sell volume"),
    ("totalAdjustmentBuyVolume", "Total adjustment buy volume"),
    ("totalSystemTaggedAcceptedOfferVolume", "System-tagged accepted offer volume"),
    ("totalSystemTaggedAcceptedBidVolume", "System-tagged accepted bid volume"),
    ("totalSystemTaggedAdjustmentSellVolume", "System-tagged adjustment sell volume"),
    ("totalSystemTaggedAdjustmentBuyVolume", "System-tagged adjustment buy volume"),
)


@dataclass(frozen=True)
class ElexonSystemPrices(Source):
    source_id: str = "elexon_system_prices"
    title: str = "Elexon system sell/buy prices (CSV, API or website encoding)"
    fields: tuple[Field, ...] = (
        Field("settlementDate", Kind.DATE, "GB settlement day (Europe/London local day)", nullable=False),
        Field(
            "settlementPeriod",
            Kind.INTEGER,
            "Settlement period 1..48 (46/50 on clock-change days)",
            nullable=False,
        ),
        Field("startTime", Kind.UTC_ISO, "Start of the period in UTC (Z)", nullable=False),
        Field("createdDateTime", Kind.UTC_ISO, "When Elexon produced this version; later supersedes earlier"),
        Field("systemSellPrice", Kind.DECIMAL, "System sell price", unit="GBP/MWh"),
        Field("systemBuyPrice", Kind.DECIMAL, "System buy price", unit="GBP/MWh"),
        Field("bsadDefaulted", Kind.BOOLEAN, "Whether balancing services adjustment data was defaulted"),
        Field("priceDerivationCode", Kind.TEXT, "How the price was derived"),
        Field("reserveScarcityPrice", Kind.DECIMAL, "Reserve scarcity price", unit="GBP/MWh"),
        Field("sellPriceAdjustment", Kind.DECIMAL, "Sell price adjustment", unit="GBP/MWh"),
        Field("buyPriceAdjustment", Kind.DECIMAL, "Buy price adjustment", unit="GBP/MWh"),
        Field("replacementPrice", Kind.DECIMAL, "Replacement price", unit="GBP/MWh"),
        *(Field(name, Kind.DECIMAL, meaning, unit="MWh") for name, meaning in _VOLUMES),
    )
    natural_key: tuple[str, ...] = ("settlementDate", "settlementPeriod")
    version_column: str | None = "createdDateTime"
    time_convention: str = (
        "settlementDate + settlementPeriod is the GB local key; startTime is UTC and must match it"
    )

    def derive(self, typed: pl.DataFrame) -> pl.DataFrame:
        return typed.with_columns(
            pl.col("startTime").alias("interval_start_utc"),
            (pl.col("startTime") + pl.duration(minutes=30)).alias("interval_end_utc"),
            periods_in_day(pl.col("settlementDate")).alias("periods_in_day"),
            pl.col("settlementDate").alias(PARTITION_COLUMN),
        )

    def row_checks(self) -> list[RowCheck]:
        return [
            RowCheck(
                "settlementPeriod",
                "settlementPeriod is outside 1..periods in that settlement day (46/48/50)",
                lambda: (
                    (pl.col("settlementPeriod") < 1) | (pl.col("settlementPeriod") > pl.col("periods_in_day"))
                ),
            ),
            RowCheck(
                "startTime",
                "startTime does not match settlementDate and settlementPeriod",
                lambda: (
                    pl.col("startTime")
                    != period_start_utc(pl.col("settlementDate"), pl.col("settlementPeriod"))
                ),
            ),
        ]
