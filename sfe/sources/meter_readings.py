"""Half-hourly meter readings per MPAN (our CSV format, docs/sources/meter_readings.md).

The largest source (millions of rows): everything here is a Polars expression over whole columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sfe.sources.base import (
    INTERVAL_COLUMNS,
    LINEAGE_COLUMNS,
    PARTITION_COLUMN,
    Field,
    Kind,
    RowCheck,
    Source,
)

QUALITIES = ("actual", "estimated", "missing")


@dataclass(frozen=True)
class MeterReadings(Source):
    source_id: str = "meter_readings"
    title: str = "Half-hourly meter readings per MPAN (CSV)"
    fields: tuple[Field, ...] = (
        Field("mpan", Kind.TEXT, "MPAN core, 13 digits, read as text (leading zeros kept)", nullable=False),
        Field("interval_start_utc", Kind.UTC_ISO,
              "Start of the 30-minute interval [start, start + 30 min), UTC, on the :00/:30 grid", nullable=False),
        Field("import_kwh", Kind.DECIMAL, "Energy imported from the grid in the interval; blank only when quality is missing",
              unit="kWh"),
        Field("export_kwh", Kind.DECIMAL, "Energy exported to the grid in the interval; blank only when quality is missing",
              unit="kWh"),
        Field("quality", Kind.TEXT, "actual, estimated or missing (lower-cased)", nullable=False),
    )  # fmt: skip
    natural_key: tuple[str, ...] = ("mpan", "interval_start_utc")
    version_column: str | None = None  # a reading arriving again in a later file replaces the earlier one
    time_convention: str = (
        "interval_start_utc is UTC (Z); every interval is 30 minutes; a local day has 46/48/50"
    )

    def derive(self, typed: pl.DataFrame) -> pl.DataFrame:
        return typed.with_columns(
            (pl.col("interval_start_utc") + pl.duration(minutes=30)).alias("interval_end_utc"),
            pl.col("quality").str.to_lowercase().alias("quality"),
            (pl.col("import_kwh") / 1000).alias("import_mwh"),
            (pl.col("export_kwh") / 1000).alias("export_mwh"),
            pl.col("interval_start_utc").dt.date().alias(PARTITION_COLUMN),
        )

    def row_checks(self) -> list[RowCheck]:
        not_missing = pl.col("quality") != "missing"
        return [
            RowCheck("mpan", "mpan is not 13 digits", lambda: ~pl.col("mpan").str.contains(r"^\d{13}$")),
            RowCheck("interval_start_utc", "interval_start_utc is not on the half-hour grid (:00 or :30)",
                     lambda: pl.col("interval_start_utc").dt.truncate("30m") != pl.col("interval_start_utc")),
            RowCheck("quality", "quality is not one of actual, estimated, missing",
                     lambda: ~pl.col("quality").is_in(QUALITIES)),
            RowCheck("import_kwh", "import_kwh is negative", lambda: pl.col("import_kwh") < 0),
            RowCheck("export_kwh", "export_kwh is negative", lambda: pl.col("export_kwh") < 0),
            RowCheck("import_kwh", "import_kwh is blank but quality is not 'missing'",
                     lambda: pl.col("import_kwh").is_null() & not_missing),
            RowCheck("export_kwh", "export_kwh is blank but quality is not 'missing'",
                     lambda: pl.col("export_kwh").is_null() & not_missing),
        ]  # fmt: skip

    def order_columns(self, df: pl.DataFrame) -> pl.DataFrame:
        # The published interval_start_utc *is* the raw interval column: keep it once.
        source_cols = [f.name for f in self.fields if f.name not in INTERVAL_COLUMNS]
        fixed = {*INTERVAL_COLUMNS, *source_cols, PARTITION_COLUMN, *LINEAGE_COLUMNS}
        derived = [c for c in df.columns if c not in fixed]
        return df.select(*INTERVAL_COLUMNS, *source_cols, *derived, PARTITION_COLUMN, *LINEAGE_COLUMNS)
