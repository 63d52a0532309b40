"""Settlement statements from SOs (our format, CSV or JSON Lines: docs/sources/so_settlement_statements.md).

Both encodings carry the same fields and load into one table; the reader is chosen by the file suffix.
A revision file carries only the lines that changed: for each (statement_id, line_id) the highest
``revision`` is in force. Revisions keep the settled period, so the UTC day of ``period_start_utc``
places every revision of a line in the same daily partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sfe.sources.base import PARTITION_COLUMN, Field, Kind, ParsedFile, RowCheck, Source, read_csv_text
from sfe.sources.so_dispatch_instructions import explain_invalid_lines, read_jsonl_text

PENNY = 0.01 + 1e-6  # tolerance of the money checks (amounts are rounded to the penny)


def _money(name: str, meaning: str, **kw) -> Field:
    return Field(name, Kind.DECIMAL, meaning, unit="GBP", **kw)


@dataclass(frozen=True)
class SoSettlementStatements(Source):
    source_id: str = "so_settlement_statements"
    title: str = "Settlement statements from SOs (CSV or JSON Lines)"
    file_format: str = "csv|jsonl"
    file_extensions: tuple[str, ...] = (".csv", ".jsonl")
    fields: tuple[Field, ...] = (
        Field("statement_id", Kind.TEXT, "Statement (SO, delivery month, FSP), e.g. NESO-ST-202510-BRTA", nullable=False),
        Field("revision", Kind.INTEGER, "1 = initial statement; a higher revision supersedes the line", nullable=False),
        Field("statement_date", Kind.DATE, "Date this revision was issued"),
        Field("system_operator", Kind.TEXT, "NESO, UKPN, NGED, SSEN, ENWL, NPG, SPEN", nullable=False),
        Field("participant", Kind.TEXT, "FSP company name"),
        Field("product", Kind.TEXT, "SO's product (EAC code, UKPN product as published, DNO product name)"),
        Field("line_id", Kind.TEXT, "Line within the statement, e.g. L000017", nullable=False),
        Field("line_type", Kind.TEXT, "availability or utilisation"),
        Field("contract_ref", Kind.TEXT, "EAC-<auctionID>-<product> (NESO) or DNO bid_id; blank for UKPN"),
        Field("dispatch_ref", Kind.TEXT, "instruction_id of the settled instruction (utilisation lines)"),
        Field("asset_ref", Kind.TEXT, "Unit reference at the SO"),
        Field("asset_ref_type", Kind.TEXT, "eac_unit_name, ukpn_fu_id or competition_asset_ref"),
        Field("mpan", Kind.TEXT, "Metering point of the unit (13 digits, text)"),
        Field("direction", Kind.TEXT, "up or down"),
        Field("period_start_utc", Kind.UTC_ISO, "Start of the settled window, UTC", nullable=False),
        Field("period_end_utc", Kind.UTC_ISO, "End of the settled window, exclusive, UTC", nullable=False),
        Field("availability_mw", Kind.DECIMAL, "Contracted availability (availability lines)", unit="MW"),
        Field("availability_hours", Kind.DECIMAL, "Real length of the window (3 h / 5 h EFA blocks on clock-change days)",
              unit="h"),
        Field("availability_price_gbp_per_mw_h", Kind.DECIMAL, "Availability price; may be negative", unit="GBP/MW/h"),
        _money("availability_payment_gbp", "availability_mw x price x hours, rounded to the penny; 0 on utilisation lines"),
        Field("instructed_mwh", Kind.DECIMAL, "Instructed energy: setpoint x hours (utilisation lines)", unit="MWh"),
        Field("delivered_mwh", Kind.DECIMAL, "Metered delivery against the instruction", unit="MWh"),
        Field("utilisation_price_gbp_per_mwh", Kind.DECIMAL, "Utilisation price", unit="GBP/MWh"),
        _money("utilisation_payment_gbp", "min(delivered, instructed) x price, rounded; 0 on availability lines"),
        _money("penalty_gbp", "Under-delivery penalty (>= 0)"),
        _money("total_gbp", "availability + utilisation - penalty", nullable=False),
        Field("currency", Kind.TEXT, "GBP (the only currency accepted)"),
    )  # fmt: skip
    natural_key: tuple[str, ...] = ("statement_id", "line_id")
    version_column: str | None = "revision"
    time_convention: str = (
        "period_start_utc/period_end_utc are ISO 8601 UTC (Z); partition = UTC day of period_start_utc "
        "(revisions keep the period)"
    )

    def read_text_table(self, path: Path, data: bytes | None = None) -> pl.DataFrame:
        if path.suffix.lower() == ".jsonl":
            return read_jsonl_text(path)
        return read_csv_text(path, data)

    def parse(
        self, path: Path, *, source_file: str, sha256: str, ingested_at, data: bytes | None = None
    ) -> ParsedFile:
        parsed = super().parse(
            path, source_file=source_file, sha256=sha256, ingested_at=ingested_at, data=data
        )
        return explain_invalid_lines(parsed, path) if path.suffix.lower() == ".jsonl" else parsed

    def derive(self, typed: pl.DataFrame) -> pl.DataFrame:
        return typed.with_columns(
            pl.col("period_start_utc").alias("interval_start_utc"),
            pl.col("period_end_utc").alias("interval_end_utc"),
            pl.col("system_operator").str.strip_chars().str.to_lowercase().alias("operator_id"),
            pl.col("period_start_utc").dt.date().alias(PARTITION_COLUMN),
        )

    def row_checks(self) -> list[RowCheck]:
        def amount(name: str) -> pl.Expr:
            return pl.col(name).fill_null(0.0)

        expected_total = (
            amount("availability_payment_gbp") + amount("utilisation_payment_gbp") - amount("penalty_gbp")
        )
        expected_availability = (
            pl.col("availability_mw")
            * pl.col("availability_price_gbp_per_mw_h")
            * pl.col("availability_hours")
        )
        return [
            RowCheck("period_end_utc", "period_end_utc is not after period_start_utc",
                     lambda: pl.col("period_end_utc") <= pl.col("period_start_utc")),
            RowCheck("revision", "revision is below 1", lambda: pl.col("revision") < 1),
            RowCheck("currency", "currency is not GBP",
                     lambda: pl.col("currency").is_not_null() & (pl.col("currency").str.to_uppercase() != "GBP")),
            RowCheck("mpan", "mpan is not 13 digits",
                     lambda: pl.col("mpan").is_not_null() & ~pl.col("mpan").str.contains(r"^\d{13}$")),
            RowCheck("penalty_gbp", "penalty_gbp is negative", lambda: pl.col("penalty_gbp") < 0),
            RowCheck("availability_payment_gbp",
                     "availability_payment_gbp differs from availability_mw x price x hours by more than 0.01",
                     lambda: (pl.col("availability_payment_gbp") - expected_availability).abs() > PENNY),
            RowCheck("total_gbp", "total_gbp differs from availability + utilisation - penalty by more than 0.01",
                     lambda: (pl.col("total_gbp") - expected_total).abs() > PENNY),
        ]  # fmt: skip
