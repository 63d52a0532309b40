"""Dispatch instructions from SO systems (our JSON Lines format, docs/sources/so_dispatch_instructions.md).

Also home of the JSON Lines reader shared with ``so_settlement_statements``:

* every non-blank line must be one JSON object; its keys are the columns (matched case-insensitively,
  the union over all lines, a key absent from a line is null there);
* JSON values become text for the shared typed parse (numbers as written by Python's ``repr``,
  booleans ``true``/``false``, nested arrays/objects as JSON text);
* a line that is not a JSON object is kept as a row of nulls, so the base quarantines it (its
  required fields are empty) and :func:`explain_invalid_lines` then rewrites that quarantine entry to say
  ``invalid JSON: …`` with the line's text. Counts stay exact: the line is one row in, one row
  quarantined.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from sfe.sources.base import (
    PARTITION_COLUMN,
    Field,
    FileRejected,
    Kind,
    ParsedFile,
    RowCheck,
    Source,
    canonical_text,
)

MAX_QUARANTINED_LINE = 2000  # characters of an invalid line kept in the quarantine record


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _json_object(line: str) -> tuple[dict | None, str | None]:
    """The line's object, or None and the reason it is not one."""
    try:
        value = json.loads(line, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    except (ValueError, RecursionError) as exc:
        return None, f"invalid JSON: {exc}"
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(value), "a number"
        )
        return None, f"invalid JSON: the line is {kind}, not a JSON object"
    return value, None


def _as_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """(physical line number, text) of every non-blank line; rejects files that are not UTF-8 text."""
    raw = path.read_bytes()
    if not raw.strip(b"\xef\xbb\xbf \r\n\t"):
        raise FileRejected("the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected(
            f"the file is not valid UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 4]!r}); "
            "expected UTF-8 JSON Lines"
        ) from None
    if "\x00" in text:
        raise FileRejected("the file contains NUL bytes: it is binary, not JSON Lines")
    # Split on '\n' only: str.splitlines() would also split inside JSON strings holding U+2028 etc.
    lines = (line.removesuffix("\r") for line in text.split("\n"))
    return [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]


def read_jsonl_text(path: Path) -> pl.DataFrame:
    """A JSON Lines file as a table of text columns, one row per non-blank line (see module docstring)."""
    lines = _data_lines(path)
    spelling: dict[str, str] = {}  # lower-cased key -> first spelling seen
    records: list[dict[str, str | None]] = []
    first_error = None
    for number, line in lines:
        obj, error = _json_object(line)
        if obj is None:
            first_error = first_error or f"line {number}: {error}"
            records.append({})
            continue
        record = {}
        for key, value in obj.items():
            column = spelling.setdefault(key.strip().lower(), key)
            record[column] = _as_text(value)
        records.append(record)
    if not spelling:
        raise FileRejected(f"not JSON Lines: no line is a JSON object ({first_error})")
    schema = {column: pl.String for column in spelling.values()}
    return canonical_text(pl.from_dicts(records, schema=schema) if records else pl.DataFrame(schema=schema))


def explain_invalid_lines(parsed: ParsedFile, path: Path) -> ParsedFile:
    """Give the rows that came from invalid lines their true quarantine reason ('invalid JSON: …')."""
    q = parsed.quarantined
    if q.is_empty():
        return parsed
    lines = _data_lines(path)
    fields, values, reasons, records = [], [], [], []
    for source_row, field, value, reason, record in q.select(
        "source_row", "field", "value", "reason", "record"
    ).iter_rows():
        number, line = lines[source_row - 1]
        _obj, error = _json_object(line)
        if error is not None:  # the row came from a line that is not a JSON object
            field, value = "(line)", line[:MAX_QUARANTINED_LINE]
            reason = f"{error} (line {number})"
            record = json.dumps({"line": number, "text": value}, ensure_ascii=False)
        fields.append(field)
        values.append(value)
        reasons.append(reason)
        records.append(record)
    fixed = q.with_columns(
        pl.Series("field", fields, pl.String),
        pl.Series("value", values, pl.String),
        pl.Series("reason", reasons, pl.String),
        pl.Series("record", records, pl.String),
    )
    return replace(parsed, quarantined=fixed)


@dataclass(frozen=True)
class SoDispatchInstructions(Source):
    source_id: str = "so_dispatch_instructions"
    title: str = "Dispatch instructions from SO systems (JSON Lines)"
    file_format: str = "jsonl"
    file_extensions: tuple[str, ...] = (".jsonl",)
    fields: tuple[Field, ...] = (
        Field("instruction_id", Kind.TEXT, "SO's instruction id; revisions reuse it", nullable=False),
        Field("issued_at", Kind.UTC_ISO, "When this version was issued (ISO 8601 with offset, stored UTC); the latest version is in force",
              nullable=False),
        Field("system_operator", Kind.TEXT, "Sending SO: NESO, NGED, SSEN, ENWL, NPG, SPEN", nullable=False),
        Field("product", Kind.TEXT, "SO's product: EAC code (NESO) or DNO product name", required=False),
        Field("contract_ref", Kind.TEXT, "What is called: DNO bid_id, or EAC-<auctionID>-<product> (NESO)", required=False),
        Field("competition_id", Kind.TEXT, "DNO competition (null for NESO)", required=False),
        Field("participant", Kind.TEXT, "FSP company name", required=False),
        Field("asset_ref", Kind.TEXT, "The unit as the SO knows it (EAC unit name or competition asset ref)", nullable=False),
        Field("direction", Kind.TEXT, "up (more export / less import) or down", required=False),
        Field("setpoint", Kind.DECIMAL, "Power to deliver as sent (magnitude), in the unit of `unit`", unit="kW or MW (see unit)",
              nullable=False),
        Field("unit", Kind.TEXT, "Unit of setpoint: kW or MW (case-insensitive)", nullable=False),
        Field("start", Kind.UTC_ISO, "Start of the instructed window (ISO 8601 with offset, stored UTC)", nullable=False),
        Field("end", Kind.UTC_ISO, "End of the instructed window, exclusive (ISO 8601 with offset, stored UTC)", nullable=False),
        Field("status", Kind.TEXT, "instructed or cancelled (a cancelled instruction has no delivery)", nullable=False),
        Field("reason_code", Kind.TEXT, "Reason code, e.g. FORECAST_THERMAL_CONSTRAINT", required=False),
        Field("rationale", Kind.TEXT, "Free-text disclosure of the decision (UC22)", required=False),
        Field("utilisation_price_gbp_per_mwh", Kind.DECIMAL, "Contracted utilisation price", unit="GBP/MWh", required=False),
        Field("merit_order_rank", Kind.INTEGER, "Rank by price among the units called for the window (1 = cheapest)",
              required=False),
        Field("cheaper_offers_skipped", Kind.INTEGER, "Cheaper contracted units for the window that were not called",
              required=False),
    )  # fmt: skip
    natural_key: tuple[str, ...] = ("instruction_id",)
    version_column: str | None = "issued_at"
    time_convention: str = (
        "start/end/issued_at are ISO 8601 with their offset (DNOs local +00:00/+01:00, NESO +00:00), stored "
        "as UTC; partition = UTC day of the start of the earliest-issued version of the instruction in the file"
    )

    def read_text_table(self, path: Path, data: bytes | None = None) -> pl.DataFrame:
        return read_jsonl_text(path)

    def parse(
        self, path: Path, *, source_file: str, sha256: str, ingested_at, data: bytes | None = None
    ) -> ParsedFile:
        parsed = super().parse(
            path, source_file=source_file, sha256=sha256, ingested_at=ingested_at, data=data
        )
        return explain_invalid_lines(parsed, path)

    def derive(self, typed: pl.DataFrame) -> pl.DataFrame:
        unit = pl.col("unit").str.strip_chars().str.to_lowercase()
        # Every version of an instruction must land in the partition of its first version, or a
        # revision that moves the start across UTC midnight could not supersede it (dedupe and
        # supersede run per daily partition).
        anchor = pl.col("start").sort_by("issued_at", "source_row").first().over("instruction_id")
        return typed.with_columns(
            pl.col("start").alias("interval_start_utc"),
            pl.col("end").alias("interval_end_utc"),
            pl.when(unit == "kw")
            .then(pl.col("setpoint") / 1000)
            .when(unit == "mw")
            .then(pl.col("setpoint"))
            .otherwise(None)
            .alias("setpoint_mw"),
            pl.col("system_operator").str.strip_chars().str.to_lowercase().alias("operator_id"),
            anchor.dt.date().alias(PARTITION_COLUMN),
        )

    def row_checks(self) -> list[RowCheck]:
        return [
            RowCheck("unit", "setpoint unit is neither kW nor MW", lambda: pl.col("setpoint_mw").is_null()),
            RowCheck("setpoint", "setpoint is negative (the sign is given by direction)",
                     lambda: pl.col("setpoint") < 0),
            RowCheck("end", "end is not after start", lambda: pl.col("end") <= pl.col("start")),
            RowCheck("status", "status is neither instructed nor cancelled",
                     lambda: ~pl.col("status").str.to_lowercase().is_in(["instructed", "cancelled"])),
            RowCheck("direction", "direction is neither up nor down",
                     lambda: pl.col("direction").is_not_null()
                     & ~pl.col("direction").str.to_lowercase().is_in(["up", "down"])),
        ]  # fmt: skip
