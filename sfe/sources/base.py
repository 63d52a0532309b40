"""The shared base of every source connector.

A connector is a declaration, not a parser: it names the columns it expects, the type and time
convention of each, the natural key, the duplicate and supersede rule and the units. The base turns
that declaration into a vectorised Polars parse that never drops a row silently:

* a file that cannot be read as this source at all raises :class:`FileRejected` (the whole file is
  quarantined with the reason);
* a row whose field cannot be parsed, is missing, or fails a row check goes to quarantine with the
  file, row, field, value and reason;
* every other row is kept, typed, with lineage columns.

Raw rows always start with the UTC interval columns (``interval_start_utc``, ``interval_end_utc``),
followed by the source's own columns (typed, names as published), derived columns, and lineage.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np
import polars as pl

LONDON = "Europe/London"
INTERVAL_COLUMNS = ("interval_start_utc", "interval_end_utc")
LINEAGE_COLUMNS = ("source_file", "source_row", "source_file_sha256", "ingested_at")
PARTITION_COLUMN = "partition_date"


class FileRejected(Exception):
    """The whole file cannot be ingested as this source; the message says why."""


class Kind(Enum):
    """How a text field is read. Timestamp kinds say how the instant is interpreted."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    UTC_NAIVE = "timestamp, naive, meaning UTC"
    UTC_ISO = "timestamp with offset or Z (any layout: T or space separator)"
    LOCAL_NAIVE = "timestamp, naive, meaning Europe/London local time"
    TIME_OF_DAY = "time of day (an offset suffix is ignored)"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    description: str
    unit: str | None = None
    required: bool = True  # the column must be in the header
    nullable: bool = True  # a blank value is allowed
    aliases: tuple[str, ...] = ()  # other accepted header spellings (matched case-insensitively)

    @property
    def dtype(self) -> pl.DataType:
        return _DTYPES[self.kind]


_DTYPES: dict[Kind, pl.DataType] = {
    Kind.TEXT: pl.String(),
    Kind.INTEGER: pl.Int64(),
    Kind.DECIMAL: pl.Float64(),
    Kind.BOOLEAN: pl.Boolean(),
    Kind.DATE: pl.Date(),
    Kind.UTC_NAIVE: pl.Datetime("us", "UTC"),
    Kind.UTC_ISO: pl.Datetime("us", "UTC"),
    Kind.LOCAL_NAIVE: pl.Datetime("us", "UTC"),
    Kind.TIME_OF_DAY: pl.Time(),
}


@dataclass(frozen=True)
class RowCheck:
    """A rule every parsed row must satisfy; ``invalid`` is True for rows that break it.

    The expression must be row-wise (no window or aggregate): it may be evaluated on a subset.
    """

    field: str
    reason: str
    invalid: Callable[[], pl.Expr]


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    # replace() is several times cheaper than when/then/otherwise on text.
    return text.str.strip_chars().replace("", None)


def canonical_text(table: pl.DataFrame, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Text columns as every reader returns them: values stripped, blank values null.

    ``columns`` limits the work to the columns that may need it (default: all).
    """
    names = table.columns if columns is None else [c for c in table.columns if c in set(columns)]
    return table.with_columns(_blank_to_null(pl.col(c).cast(pl.String)).alias(c) for c in names)


def _parse_iso_utc(text: pl.Expr) -> pl.Expr:
    # One layout for every ISO variant: 'T' separator, explicit offset instead of 'Z'.
    normalised = text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T").str.replace(r"Z$", "+00:00")
    # %.f also matches no fraction at all, so one layout covers both.
    return normalised.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC")


def _parse_naive(text: pl.Expr) -> pl.Expr:
    normalised = text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
    return pl.coalesce(
        normalised.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False),  # with or without a fraction
        normalised.str.to_datetime("%Y-%m-%dT%H:%M", strict=False),
    )


def on_distinct(df: pl.DataFrame, column: str, expr: pl.Expr) -> pl.Expr:
    """``expr`` (over ``column``) evaluated once per distinct value and mapped back onto the rows.

    For text normalisation (regexes, case folding) of low-cardinality columns such as products or
    company names: the result equals evaluating ``expr`` on every row; nulls map to null.
    """
    distinct = df.select(pl.col(column).drop_nulls().unique())
    values = distinct.select(expr).to_series()
    return pl.col(column).replace_strict(
        distinct.to_series(), values, default=None, return_dtype=values.dtype
    )


_NUMBER_KINDS = (Kind.INTEGER, Kind.DECIMAL)


def _number_expr(kind: Kind, number: pl.Expr) -> pl.Expr:
    """parse_expr for a number the CSV reader has read as Float64 already."""
    if kind is Kind.INTEGER:
        # '1.0' is an integer written by a float-minded tool; '1.5' is not.
        return pl.when(number == number.round(0)).then(number.cast(pl.Int64, strict=False))
    return number


def parse_expr(kind: Kind, text: pl.Expr) -> pl.Expr:
    """Typed value of a (blank-normalised) text column; null where the text does not parse."""
    if kind is Kind.TEXT:
        return text
    if kind in _NUMBER_KINDS:
        return _number_expr(kind, text.cast(pl.Float64, strict=False))
    if kind is Kind.BOOLEAN:
        lowered = text.str.to_lowercase()
        return (
            pl.when(lowered.is_in(["true", "1", "yes"]))
            .then(True)
            .when(lowered.is_in(["false", "0", "no"]))
            .then(False)
        )
    if kind is Kind.DATE:
        return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    if kind is Kind.UTC_NAIVE:
        return _parse_naive(text).dt.replace_time_zone("UTC")
    if kind is Kind.UTC_ISO:
        return _parse_iso_utc(text)
    if kind is Kind.LOCAL_NAIVE:
        # The repeated autumn hour is ambiguous in a naive local time: take the first (BST)
        # occurrence; a time inside the spring gap does not exist and is quarantined.
        return (
            _parse_naive(text)
            .dt.replace_time_zone(LONDON, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
        )
    if kind is Kind.TIME_OF_DAY:
        return text.str.slice(0, 8).str.to_time("%H:%M:%S", strict=False)
    raise ValueError(kind)


def _quick_parse_expr(kind: Kind, text: pl.Expr, sample: str) -> pl.Expr | None:
    """A cheaper parse for the layout of ``sample`` (a typical value), or None if there is none.

    Where it yields a value, that value equals :func:`parse_expr`'s; where it yields null the row
    is parsed again with :func:`parse_expr`, so it only has to be exact, not complete.
    """
    if kind not in (Kind.UTC_NAIVE, Kind.LOCAL_NAIVE, Kind.UTC_ISO) or len(sample) < 19:
        return None
    separator = sample[10]
    if separator not in ("T", " "):
        return None
    layout = f"%Y-%m-%d{separator}%H:%M:%S"
    # Polars reads a one-digit month or day too; the full parse only normalises \d{4}-\d{2}-\d{2}.
    shape_ok = text.str.contains(r"^\d{4}-\d{2}-\d{2} ") if separator == " " else pl.lit(True)
    if kind is Kind.UTC_ISO:
        if sample.endswith("Z"):
            parsed = text.str.to_datetime(layout + "%.fZ", strict=False).dt.replace_time_zone("UTC")
            shape_ok = shape_ok & text.str.ends_with("Z")
        else:
            parsed = text.str.to_datetime(layout + "%.f%:z", strict=False, time_zone="UTC")
        return pl.when(shape_ok).then(parsed)
    # %.f is three times slower than a plain seconds layout on naive timestamps.
    naive = text.str.to_datetime(layout + ("%.f" if "." in sample[19:] else ""), strict=False)
    if kind is Kind.UTC_NAIVE:
        return pl.when(shape_ok).then(naive.dt.replace_time_zone("UTC"))
    local = naive.dt.replace_time_zone(LONDON, ambiguous="earliest", non_existent="null")
    return pl.when(shape_ok).then(local.dt.convert_time_zone("UTC"))


def _typed_columns(fields: Sequence[Field], canon: pl.DataFrame) -> pl.DataFrame:
    """``canon`` plus ``__typed_<field>`` for every field: :func:`parse_expr` of the text.

    Timestamps are first read with a quick layout; only the rows where that leaves a
    non-blank value unread go through the full parse.
    """
    quick, retry = [], []
    for f in fields:
        sample = canon.get_column(f.name).drop_nulls().head(1).to_list()
        expr = _quick_parse_expr(f.kind, pl.col(f.name), sample[0]) if sample else None
        if expr is None:
            quick.append(parse_expr(f.kind, pl.col(f.name)).cast(f.dtype).alias(f"__typed_{f.name}"))
        else:
            quick.append(expr.cast(f.dtype).alias(f"__typed_{f.name}"))
            retry.append(pl.col(f.name).is_not_null() & pl.col(f"__typed_{f.name}").is_null())
    typed = canon.with_columns(quick)
    if not retry:
        return typed
    again = typed.select(pl.any_horizontal(retry)).to_series()
    if not again.any():
        return typed
    full = canon.filter(again).with_columns(
        [parse_expr(f.kind, pl.col(f.name)).cast(f.dtype).alias(f"__typed_{f.name}") for f in fields]
    )
    return pl.concat([typed.filter(~again), full]).sort("source_row")


@dataclass
class ParsedFile:
    rows: pl.DataFrame  # typed rows, raw layout, lineage included
    quarantined: pl.DataFrame  # one row per rejected row: source_row, field, value, reason, record
    rows_in: int


QUARANTINE_SCHEMA = {
    "source_file": pl.String,
    "source_row": pl.Int64,
    "field": pl.String,
    "value": pl.String,
    "reason": pl.String,
    "record": pl.String,
}


@dataclass(frozen=True)
class Source:
    """Declaration of one source format. Subclass per source and fill in the class attributes."""

    source_id: str = ""
    title: str = ""
    file_format: str = "csv"  # csv | jsonl | xlsx
    file_extensions: tuple[str, ...] = (".csv",)
    fields: tuple[Field, ...] = ()
    natural_key: tuple[str, ...] = ()
    # Rows with the same natural key: the one with the greatest version wins, the others are
    # 'superseded'. None = the row from the file ingested last wins (a republished file).
    version_column: str | None = None
    units: dict[str, str] = field(default_factory=dict)
    time_convention: str = ""
    # .csv files are read by read_csv_text, so its CSV reader may parse the numbers itself.
    csv_numbers_natively: bool = True

    # -- reading ---------------------------------------------------------------------------
    def read_text_table(self, path: Path, data: bytes | None = None) -> pl.DataFrame:
        """The file as a table of text columns named as in the header (before matching), in
        canonical form: values stripped, blank values null (see :func:`canonical_text`).

        ``data`` is the file's content when the caller has read it already.
        """
        if self.file_format != "csv":
            raise NotImplementedError(f"{self.source_id}: override read_text_table for {self.file_format}")
        return read_csv_text(path, data)

    # -- per-source hooks ------------------------------------------------------------------
    def derive(self, typed: pl.DataFrame) -> pl.DataFrame:
        """Add interval_start_utc / interval_end_utc / partition_date and any normalised columns."""
        raise NotImplementedError

    def row_checks(self) -> Sequence[RowCheck]:
        return ()

    def dedupe_columns(self) -> tuple[str, ...]:
        """Columns whose equality makes two rows the same record (after normalisation)."""
        return tuple(f.name for f in self.fields)

    # -- shared machinery ------------------------------------------------------------------
    def match_header(self, header: Sequence[str]) -> dict[str, str]:
        """Map the file's column names onto field names; reject the file if it is not this source."""
        if not header or all(not h.strip() for h in header):
            raise FileRejected("the file has no header row")
        seen: dict[str, str] = {}
        for column in header:
            key = column.strip().lstrip("\ufeff").lower()
            if key in seen and key:
                raise FileRejected(f"the header repeats column {column!r}")
            seen[key] = column
        if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
            raise FileRejected(
                "the header is a single column containing ';', tab or '|': the file uses the wrong "
                "delimiter (expected ',')"
            )
        mapping: dict[str, str] = {}
        missing = []
        for f in self.fields:
            spellings = (f.name.lower(), *(a.lower() for a in f.aliases))
            found = next((seen[s] for s in spellings if s in seen), None)
            if found is not None:
                mapping[f.name] = found
            elif f.required:
                missing.append(f.name)
        if not mapping:
            raise FileRejected(
                f"unknown header: none of the expected columns of {self.source_id} "
                f"({', '.join(f.name for f in self.fields)}) are present; found {', '.join(header)}"
            )
        if missing:
            raise FileRejected(f"missing required column(s): {', '.join(missing)}")
        return mapping

    def parse(
        self, path: Path, *, source_file: str, sha256: str, ingested_at, data: bytes | None = None
    ) -> ParsedFile:
        lineage = {"source_file": source_file, "sha256": sha256, "ingested_at": ingested_at}
        if self.csv_numbers_natively and path.suffix.lower() == ".csv":
            data = path.read_bytes() if data is None else data
            parsed = self._parse_csv_numbers_natively(path, data, **lineage)
            if parsed is not None:
                return parsed
        return self._parse_text(path, data, **lineage)

    def _parse_csv_numbers_natively(
        self, path: Path, data: bytes, *, source_file: str, sha256: str, ingested_at
    ) -> ParsedFile | None:
        """The parse of a CSV file whose every row is good, with the CSV reader parsing the
        numbers; None as soon as anything is not (the text parse then explains each bad row).

        Equal to the text parse wherever it returns a result: the CSV reader reads exactly the
        numbers the text parse reads, with the same values, and rejects the rest.
        """
        checked = _checked_csv(path, data)
        try:
            mapping = self.match_header(checked.header)
        except FileRejected:
            return None
        numbers = {
            f.name: mapping[f.name] for f in self.fields if f.name in mapping and f.kind in _NUMBER_KINDS
        }
        table = _read_csv_with_numbers(checked, set(numbers.values())) if numbers else None
        if table is None or table.is_empty():
            return None
        table = table.with_row_index("source_row", offset=1).with_columns(pl.col("source_row").cast(pl.Int64))
        canon = table.select(
            "source_row",
            *[
                pl.col(mapping[f.name]).alias(f.name)
                if f.name in mapping
                else pl.lit(None, pl.String).alias(f.name)
                for f in self.fields
            ],
        )
        text_fields = [f for f in self.fields if f.name not in numbers]
        typed = _typed_columns(text_fields, canon.select("source_row", *[f.name for f in text_fields]))
        typed = typed.with_columns(canon.get_column(name) for name in numbers).with_columns(
            _number_expr(f.kind, pl.col(f.name)).alias(f"__typed_{f.name}")
            for f in self.fields
            if f.name in numbers
        )
        if any(self._problems(typed)):
            return None
        good = typed.select("source_row", *[pl.col(f"__typed_{f.name}").alias(f.name) for f in self.fields])
        derived = self.derive(good)
        checks = [c.invalid().fill_null(False) for c in self.row_checks()]
        if checks and derived.select(pl.any_horizontal(checks).any()).item():
            return None
        rows = self._with_lineage(derived, source_file=source_file, sha256=sha256, ingested_at=ingested_at)
        return ParsedFile(rows=rows, quarantined=pl.DataFrame(schema=QUARANTINE_SCHEMA), rows_in=table.height)

    def _problems(self, typed: pl.DataFrame) -> list[bool]:
        """Whether any row misses a required value / has a value that does not parse, per check."""
        conditions = []
        for f in self.fields:
            if not f.nullable:
                conditions.append(pl.col(f.name).is_null().any())
            conditions.append((pl.col(f.name).is_not_null() & pl.col(f"__typed_{f.name}").is_null()).any())
        return list(typed.select(c.alias(f"c{i}") for i, c in enumerate(conditions)).row(0))

    def _with_lineage(
        self, derived: pl.DataFrame, *, source_file: str, sha256: str, ingested_at
    ) -> pl.DataFrame:
        return self.order_columns(
            derived.with_columns(
                pl.lit(source_file).alias("source_file"),
                pl.lit(sha256).alias("source_file_sha256"),
                pl.lit(ingested_at).cast(pl.Datetime("us", "UTC")).alias("ingested_at"),
            )
        )

    def _parse_text(
        self, path: Path, data: bytes | None, *, source_file: str, sha256: str, ingested_at
    ) -> ParsedFile:
        """The parse of any file: every value read as text, then typed; each bad row quarantined."""
        text = self.read_text_table(path, data)
        mapping = self.match_header(text.columns)
        rows_in = text.height
        if rows_in == 0:
            raise FileRejected("the file has a header but no data rows")
        text = text.with_row_index("source_row", offset=1).with_columns(pl.col("source_row").cast(pl.Int64))
        # The field columns (the reader has stripped them; absent optional columns become null).
        canon = text.select(
            "source_row",
            *[
                pl.col(mapping[f.name]).cast(pl.String).alias(f.name)
                if f.name in mapping
                else pl.lit(None, pl.String).alias(f.name)
                for f in self.fields
            ],
        )
        typed = _typed_columns(self.fields, canon)
        # First problem per row, in field order: missing required value, then unparseable value.
        problems: list[tuple[pl.Expr, str, str]] = []
        for f in self.fields:
            if not f.nullable:
                problems.append((pl.col(f.name).is_null(), f.name, f"missing required value for {f.name}"))
            problems.append(
                (
                    pl.col(f.name).is_not_null() & pl.col(f"__typed_{f.name}").is_null(),
                    f.name,
                    f"cannot read {f.name} as {f.kind.value}",
                )
            )
        parse_failed, good = _split_failed(typed, problems)
        good = good.select("source_row", *[pl.col(f"__typed_{f.name}").alias(f.name) for f in self.fields])
        derived = self.derive(good)
        checks = [(c.invalid(), c.field, c.reason) for c in self.row_checks()]
        if checks:
            check_failed, derived = _split_failed(derived, checks)
            check_failed_rows = check_failed.select("source_row", "__field", "__reason")
            derived = derived.drop("__field", "__reason")
        else:
            check_failed_rows = pl.DataFrame(
                schema={"source_row": pl.Int64, "__field": pl.String, "__reason": pl.String}
            )
        quarantined = _quarantine_frame(canon, parse_failed, check_failed_rows, source_file)
        rows = self._with_lineage(derived, source_file=source_file, sha256=sha256, ingested_at=ingested_at)
        return ParsedFile(rows=rows, quarantined=quarantined, rows_in=rows_in)

    def order_columns(self, df: pl.DataFrame) -> pl.DataFrame:
        """Contract order: interval columns first, source fields, derived, partition, lineage."""
        source_cols = [f.name for f in self.fields]
        fixed = {*INTERVAL_COLUMNS, *source_cols, PARTITION_COLUMN, *LINEAGE_COLUMNS}
        derived = [c for c in df.columns if c not in fixed]
        return df.select(*INTERVAL_COLUMNS, *source_cols, *derived, PARTITION_COLUMN, *LINEAGE_COLUMNS)

    def empty_frame(self) -> pl.DataFrame:
        """A zero-row frame with exactly the raw schema (so dbt can read a source with no data)."""
        typed = pl.DataFrame(schema={"source_row": pl.Int64, **{f.name: f.dtype for f in self.fields}})
        derived = self.derive(typed).with_columns(
            pl.lit(None, pl.String).alias("source_file"),
            pl.lit(None, pl.String).alias("source_file_sha256"),
            pl.lit(None).cast(pl.Datetime("us", "UTC")).alias("ingested_at"),
        )
        return self.order_columns(derived)

    def describe(self) -> str:
        """Markdown description of the column contract (used by docs and the contract test)."""
        lines = ["| column | type | unit | meaning |", "|---|---|---|---|"]
        for f in self.fields:
            lines.append(f"| `{f.name}` | {f.kind.value} | {f.unit or ''} | {f.description} |")
        return "\n".join(lines)


def _split_failed(
    df: pl.DataFrame, problems: list[tuple[pl.Expr, str, str]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows with a problem, with __field/__reason of the first one; rows without a problem).

    The first-problem chain is evaluated on the failing rows only (it is a long when/then chain);
    this relies on every condition being row-wise, which RowCheck requires.
    """
    failing = pl.any_horizontal([cond.fill_null(False) for cond, _, _ in problems])
    flagged = df.with_columns(failing.alias("__failing"))
    failed = flagged.filter("__failing").drop("__failing").with_columns(_first_problem(problems))
    passed = flagged.filter(~pl.col("__failing")).drop("__failing")
    return failed, passed.with_columns(
        pl.lit(None, pl.String).alias("__field"), pl.lit(None, pl.String).alias("__reason")
    )


def _first_problem(problems: list[tuple[pl.Expr, str, str]]) -> list[pl.Expr]:
    if not problems:
        return [pl.lit(None, pl.String).alias("__field"), pl.lit(None, pl.String).alias("__reason")]
    field_expr = pl.when(problems[0][0]).then(pl.lit(problems[0][1]))
    reason_expr = pl.when(problems[0][0]).then(pl.lit(problems[0][2]))
    for cond, name, reason in problems[1:]:
        field_expr = field_expr.when(cond).then(pl.lit(name))
        reason_expr = reason_expr.when(cond).then(pl.lit(reason))
    return [
        field_expr.otherwise(None).cast(pl.String).alias("__field"),
        reason_expr.otherwise(None).cast(pl.String).alias("__reason"),
    ]


def _quarantine_frame(
    canon: pl.DataFrame, parse_failed: pl.DataFrame, check_failed: pl.DataFrame, source_file: str
) -> pl.DataFrame:
    failed = pl.concat(
        [parse_failed.select("source_row", "__field", "__reason"), check_failed], how="vertical_relaxed"
    )
    if failed.is_empty():
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    joined = failed.join(canon, on="source_row", how="left").sort("source_row")
    text_cols = [c for c in canon.columns if c != "source_row"]
    records = [
        json.dumps({c: row[c] for c in text_cols}, ensure_ascii=False)
        for row in joined.select(text_cols).iter_rows(named=True)
    ]
    values = [
        row[f] if f in row else None
        for row, f in zip(joined.iter_rows(named=True), joined["__field"], strict=True)
    ]
    return pl.DataFrame(
        {
            "source_file": [source_file] * joined.height,
            "source_row": joined["source_row"],
            "field": joined["__field"],
            "value": values,
            "reason": joined["__reason"],
            "record": records,
        },
        schema=QUARANTINE_SCHEMA,
    )


_UTF8_BOM = b"\xef\xbb\xbf"
_NOT_BLANK = re.compile(rb"[^\xef\xbb\xbf \r\n\t]")


@dataclass(frozen=True)
class _CheckedCsv:
    raw: bytes
    bom: int  # length of the UTF-8 byte-order mark (0 or 3)
    header: list[str]
    ascii_only: bool


def _checked_csv(path: Path, data: bytes | None) -> _CheckedCsv:
    """The file's bytes and header, or FileRejected if it cannot be CSV at all."""
    raw = path.read_bytes() if data is None else data
    if _NOT_BLANK.search(raw) is None:
        raise FileRejected("the file is empty")
    # Scans below work on `raw` in place (a BOM holds no ',', '"', '\r' or NUL): copying a large
    # file costs as much as reading it.
    bom = len(_UTF8_BOM) if raw.startswith(_UTF8_BOM) else 0
    ascii_only = np.frombuffer(raw, dtype=np.uint8, offset=bom).max(initial=0) < 0x80
    if not ascii_only:
        _decoded(raw)  # decode to validate the UTF-8 and name the first bad byte
    if b"\x00" in raw:
        raise FileRejected("the file contains NUL bytes: it is binary, not CSV")
    newline = raw.find(b"\n")
    header_line = raw[bom : None if newline < 0 else newline].decode("utf-8")
    header = next(csv.reader([header_line]))
    seen: set[str] = set()
    for column in header:
        key = column.strip().lower()
        if key and key in seen:
            # Polars would rename the second copy silently (…_duplicated_0); say so instead.
            raise FileRejected(f"the header repeats column {column.strip()!r}")
        seen.add(key)
    return _CheckedCsv(raw, bom, header, ascii_only)


def read_csv_text(path: Path, data: bytes | None = None) -> pl.DataFrame:
    """Read a CSV file as text columns, rejecting files that are not well-formed CSV.

    Polars' native reader does the parsing; the checks around it are byte scans, and the exact
    line-by-line diagnosis runs only when a quick check cannot prove the file well formed.
    """
    checked = _checked_csv(path, data)
    raw, width = checked.raw, len(checked.header)
    try:
        # From the bytes (3x faster than from the decoded text); a UTF-8 BOM is skipped by Polars.
        table = pl.read_csv(raw, infer_schema=False, has_header=True)
    except pl.exceptions.PolarsError as exc:
        # A ragged line is the more useful diagnosis when there is one.
        _reject_ragged_lines(raw[checked.bom :], width)
        raise FileRejected(f"not readable as CSV: {exc}") from None
    if not _every_row_has_width(raw, width, table.height):
        _reject_ragged_lines(raw[checked.bom :], width)
    return _canonical_csv_text(checked, table)


def _canonical_csv_text(checked: _CheckedCsv, table: pl.DataFrame) -> pl.DataFrame:
    """The text columns of a CSV table in canonical form (other columns as they are)."""
    text = [c for c, dtype in table.schema.items() if dtype == pl.String]
    if not _only_spaces_can_pad_values(checked.raw, checked.ascii_only):
        return canonical_text(table, text)
    # Only a column with a value starting or ending in a space can need stripping; empty values
    # are null already.
    padded = table.select(
        (pl.col(c).str.starts_with(" ") | pl.col(c).str.ends_with(" ")).any().alias(c) for c in text
    ).row(0)
    return canonical_text(table, [c for c, is_padded in zip(text, padded, strict=True) if is_padded])


def _read_csv_with_numbers(checked: _CheckedCsv, numbers: set[str]) -> pl.DataFrame | None:
    """The table with the ``numbers`` columns read as Float64 by the CSV reader itself, or None
    when a value there is not a number (or the file is not provably well formed): the caller
    then reads it as text, which finds and explains the problem."""
    try:
        table = pl.read_csv(
            checked.raw,
            infer_schema=False,
            has_header=True,
            schema_overrides=dict.fromkeys(numbers, pl.Float64),
        )
    except pl.exceptions.PolarsError:
        return None
    if not _every_row_has_width(checked.raw, len(checked.header), table.height):
        return None
    return _canonical_csv_text(checked, table)


def _only_spaces_can_pad_values(raw: bytes, ascii_only: bool) -> bool:
    """True when the only whitespace a value can start or end with is ' '.

    Polars strips Unicode whitespace; in ASCII that is tab, LF, VT, FF, CR and space. Without
    quotes a value cannot hold a line end, a CR only ends lines ('\r\n', which the reader drops),
    and tab, VT and FF must not occur at all.
    """
    if not ascii_only or b'"' in raw or any(c in raw for c in (b"\t", b"\x0b", b"\x0c")):
        return False
    return b"\r" not in raw or raw.count(b"\r") == raw.count(b"\r\n")


def _decoded(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected(
            f"the file is not valid UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 4]!r}); "
            "expected UTF-8 CSV"
        ) from None


def _every_row_has_width(body: bytes, width: int, rows: int) -> bool:
    """True only if every line of ``body`` (the file, with or without its BOM) provably has ``width`` fields (False = look closer).

    Polars has read the file without error, so no line has more fields than the header. Without
    quotes every line is one row whose field count is its commas + 1, and with '\n' or '\r\n'
    line ends the rows are the lines; then a file-wide comma count equal to (width - 1) per line
    (header included) leaves no room for a line with fewer fields. Blank lines, quoted fields and
    stray '\r' fail the proof and go to the line-by-line check.
    """
    if b'"' in body:
        return False
    if b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
        return False
    return _count_byte(body, ord(",")) == (width - 1) * (rows + 1)


def _count_byte(data: bytes, byte: int, chunk: int = 16 << 20) -> int:
    """bytes.count for one byte, about twice as fast (NumPy, in chunks to bound the memory)."""
    array = np.frombuffer(data, dtype=np.uint8)
    return sum(int(np.count_nonzero(array[i : i + chunk] == byte)) for i in range(0, len(array), chunk))


_RAGGED_SCAN_BYTES = 64 << 20  # bounds the memory of the per-line comma count on very large files


def _comma_counts(body: bytes) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per '\n'-separated line: (index of the first line, line starts, line ends, comma counts),
    in chunks that end on a line end."""
    data = np.frombuffer(body, dtype=np.uint8)
    first_line, offset = 0, 0
    while offset < len(data):
        end = min(offset + _RAGGED_SCAN_BYTES, len(data))
        if end < len(data):
            cut = body.rfind(b"\n", offset, end)
            end = cut + 1 if cut >= offset else (body.find(b"\n", end) + 1 or len(data))
        chunk = data[offset:end]
        newlines = np.flatnonzero(chunk == ord("\n"))
        ends = np.append(newlines, len(chunk)) if end == len(data) else newlines
        starts = np.concatenate(([0], ends[:-1] + 1))
        commas = np.flatnonzero(chunk == ord(","))
        counts = np.diff(np.searchsorted(commas, ends), prepend=0)
        yield first_line, starts + offset, ends + offset, counts
        first_line += len(ends)
        offset = end


def _reject_ragged_lines(body: bytes, width: int) -> None:
    """Polars pads short rows with nulls silently; find rows whose field count is wrong.

    Commas are counted per line with NumPy; only lines whose count looks wrong (blank lines,
    quoted commas) are re-read with the csv module.
    """
    line_count = body.count(b"\n") + 1
    ends_with_newline = body.endswith(b"\n")
    for first_line, starts, ends, counts in _comma_counts(body):
        suspicious = np.flatnonzero(counts + 1 != width).tolist()
        lines = pl.Series([body[starts[k] : ends[k]] for k in suspicious], dtype=pl.Binary).cast(pl.String)
        blank = (lines.str.strip_chars() == "").to_list()
        for k, line, is_blank in zip(suspicious, lines.to_list(), blank, strict=True):
            if is_blank:
                continue
            fields = next(csv.reader([line]), [])
            if len(fields) == width:
                continue
            index = first_line + k
            line_no = index + 1
            is_last = index == line_count - 1 or (index == line_count - 2 and ends_with_newline)
            if is_last and not ends_with_newline and len(fields) < width:
                raise FileRejected(
                    f"truncated last line: line {line_no} has {len(fields)} of {width} fields and no line end"
                )
            raise FileRejected(
                f"wrong number of fields: line {line_no} has {len(fields)}, the header has {width}"
            )
