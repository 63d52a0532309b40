"""UK Power Networks open data: flexibility dispatches (CSV with a UTF-8 byte-order mark)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sfe import taxonomy
from sfe.sources.base import PARTITION_COLUMN, Field, Kind, RowCheck, Source, on_distinct


def _standard_product_key() -> pl.Expr:
    """The standard product a row's product maps to, or 'unmapped:<normalised text>'."""
    to_product = taxonomy.value_mapping("ukpn_flexibility_dispatches", "product")
    to_standard = {row["product_id"]: row["standard_product"] for row in taxonomy.table("products")}
    mapping = {value: to_standard[product] for value, product in to_product.items()}
    normalised = pl.col("product").str.to_lowercase().str.replace_all(r"[^0-9a-z]+", " ").str.strip_chars()
    return normalised.replace_strict(
        mapping, default=pl.lit("unmapped:") + normalised, return_dtype=pl.String
    )


@dataclass(frozen=True)
class UkpnFlexibilityDispatches(Source):
    source_id: str = "ukpn_flexibility_dispatches"
    title: str = "UK Power Networks flexibility dispatches (CSV)"
    fields: tuple[Field, ...] = (
        Field(
            "company_name",
            Kind.TEXT,
            "Flexibility service provider; casing varies between publications",
            nullable=False,
        ),
        Field("fu_id", Kind.TEXT, "Flexible unit id (may contain spaces)", nullable=False),
        Field("zone", Kind.TEXT, "Flexibility zone"),
        Field(
            "product",
            Kind.TEXT,
            "Product as published (vocabulary varies; mapped through the taxonomy)",
            nullable=False,
        ),
        Field("start_time_local", Kind.UTC_ISO, "Start, ISO 8601 local time with offset", nullable=False),
        Field(
            "end_time_local", Kind.UTC_ISO, "End (exclusive), ISO 8601 local time with offset", nullable=False
        ),
        Field("availability_mw_req", Kind.DECIMAL, "Availability requested; 0 = not applicable", unit="MW"),
        Field("utilisation_mw_req", Kind.DECIMAL, "Utilisation requested", unit="MW"),
        Field("availability_price", Kind.DECIMAL, "Availability price; 0 = not applicable", unit="GBP/MW/h"),
        Field("utilisation_price", Kind.DECIMAL, "Utilisation price; 0 = not applicable", unit="GBP/MWh"),
        Field("availability_mwh_req", Kind.DECIMAL, "Availability energy, rounded to 2 dp", unit="MWh"),
        Field("utilisation_mwh_req", Kind.DECIMAL, "Utilisation energy, rounded to 2 dp", unit="MWh"),
        Field("technology", Kind.TEXT, "Technology as published, e.g. EV Charger DSR"),
        Field("dispatch_type", Kind.TEXT, "e.g. demand_turn_down"),
        Field("hours_requested", Kind.DECIMAL, "Duration", unit="h"),
        Field("dispatch_method", Kind.TEXT, "How the dispatch was made, e.g. epex"),
        Field("start_time_utc", Kind.UTC_ISO, "Start in UTC ('YYYY-MM-DD HH:MM:SS+00:00')"),
        Field("end_time_utc", Kind.UTC_ISO, "End in UTC ('YYYY-MM-DD HH:MM:SS+00:00')"),
        Field("time_utc", Kind.TIME_OF_DAY, "Start time of day in UTC"),
    )
    # No row id and no unique natural key: only rows identical after normalisation are merged.
    natural_key: tuple[str, ...] = ()
    time_convention: str = (
        "start/end_time_local carry their offset (+00:00 or +01:00, changing inside one file); "
        "start/end_time_utc must denote the same instants"
    )

    def derive(self, typed: pl.DataFrame) -> pl.DataFrame:
        # Few distinct companies and products: normalise each once, not once per row.
        company_key = pl.col("company_name").str.to_lowercase().str.strip_chars()
        return typed.with_columns(
            pl.col("start_time_local").alias("interval_start_utc"),
            pl.col("end_time_local").alias("interval_end_utc"),
            on_distinct(typed, "company_name", company_key).alias("company_key"),
            on_distinct(typed, "product", _standard_product_key()).alias("standard_product_key"),
            pl.col("start_time_local").dt.date().alias(PARTITION_COLUMN),
        )

    def row_checks(self) -> list[RowCheck]:
        return [
            RowCheck(
                "end_time_local",
                "end_time_local is not after start_time_local",
                lambda: pl.col("interval_end_utc") <= pl.col("interval_start_utc"),
            ),
            RowCheck(
                "start_time_utc",
                "start_time_utc and start_time_local denote different instants",
                lambda: (
                    pl.col("start_time_utc").is_not_null()
                    & (pl.col("start_time_utc") != pl.col("interval_start_utc"))
                ),
            ),
            RowCheck(
                "end_time_utc",
                "end_time_utc and end_time_local denote different instants",
                lambda: (
                    pl.col("end_time_utc").is_not_null()
                    & (pl.col("end_time_utc") != pl.col("interval_end_utc"))
                ),
            ),
            RowCheck(
                "utilisation_mw_req",
                "negative volume",
                lambda: (pl.col("utilisation_mw_req") < 0) | (pl.col("availability_mw_req") < 0),
            ),
        ]

    def dedupe_columns(self) -> tuple[str, ...]:
        return (
            "company_key",
            "fu_id",
            "standard_product_key",
            "interval_start_utc",
            "interval_end_utc",
            "availability_mw_req",
            "utilisation_mw_req",
            "availability_price",
            "utilisation_price",
            "availability_mwh_req",
            "utilisation_mwh_req",
        )
