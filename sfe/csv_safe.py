"""CSV export that spreadsheet programs cannot turn into formulas (CSV / formula injection).

A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their
full-width forms) can be evaluated as a formula by Excel, LibreOffice or Google Sheets when a user
opens the file. Such text cells are prefixed with a single quote ``'``, which spreadsheets show as
text. Numeric columns are written unchanged (``-12.5`` stays ``-12.5``), and so are text cells that
are plain numbers (``"-12.5"``), which a spreadsheet reads as a number, never as a formula.

Used by the API's ``?format=csv`` and by every Streamlit download button, so both produce the same
bytes for the same table.
"""

from __future__ import annotations

import io
import re
from typing import Any

import polars as pl

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
ESCAPE = "'"

_TRIGGER_RE = "^[=+\\-@\\t\\r\uff1d\uff0b\uff0d\uff20]"  # the same set, as a Rust-regex class
_PLAIN_NUMBER_RE = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_PLAIN_NUMBER = re.compile(_PLAIN_NUMBER_RE)

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"  # ISO 8601 with offset: 2024-04-01T22:00:00+00:00
NAIVE_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"


def escape_cell(value: Any) -> Any:
    """Escape one value: text that a spreadsheet would read as a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.match(value):
        return ESCAPE + value
    return value


def _escape_expr(col: pl.Expr) -> pl.Expr:
    risky = col.str.contains(_TRIGGER_RE) & ~col.str.contains(_PLAIN_NUMBER_RE)
    return pl.when(risky).then(pl.lit(ESCAPE) + col).otherwise(col)


def _as_polars(frame: Any) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    return pl.from_pandas(frame)  # a pandas DataFrame (Streamlit widgets sometimes hand these back)


def _is_text(dtype: pl.DataType) -> bool:
    return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)


def _risky_text_columns(df: pl.DataFrame, text: list[str]) -> set[str]:
    """The text columns with at least one cell that begins with a formula trigger.

    One cheap anchored match per column; only these columns need the full rewrite (the
    plain-number check and the concatenation), which is most of the cost of escaping.
    """
    if not text:
        return set()
    found = df.select(pl.col(name).cast(pl.String).str.contains(_TRIGGER_RE).any() for name in text).row(0)
    return {name for name, risky in zip(text, found, strict=True) if risky}


def escape_frame(frame: Any) -> pl.DataFrame:
    """The same table with every text column (and the header) escaped; other columns unchanged."""
    df = _as_polars(frame)
    risky = _risky_text_columns(df, [name for name, dtype in df.schema.items() if _is_text(dtype)])
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if name in risky:
            exprs.append(_escape_expr(col.cast(pl.String)).alias(name))
        elif _is_text(dtype):
            if dtype != pl.String:  # categoricals come out as text, escaped or not
                exprs.append(col.cast(pl.String).alias(name))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            exprs.append(col.dt.to_string(NAIVE_DATETIME_FORMAT).alias(name))
        elif isinstance(dtype, pl.List | pl.Array | pl.Struct | pl.Object):
            raise TypeError(f"column {name!r} has a nested type ({dtype}) that CSV cannot hold")
    if exprs:
        df = df.with_columns(exprs)
    return df.rename({name: str(escape_cell(name)) for name in df.columns if escape_cell(name) != name})


def to_csv(frame: Any) -> str:
    """Formula-safe CSV text (UTF-8, header row, ISO 8601 timestamps with their UTC offset)."""
    return escape_frame(frame).write_csv(datetime_format=DATETIME_FORMAT, date_format="%Y-%m-%d")


def to_csv_bytes(frame: Any) -> bytes:
    """``to_csv`` as UTF-8 bytes, written straight into a buffer (no intermediate str)."""
    buffer = io.BytesIO()
    escape_frame(frame).write_csv(buffer, datetime_format=DATETIME_FORMAT, date_format="%Y-%m-%d")
    return buffer.getvalue()
