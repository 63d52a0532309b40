"""sfe.csv_safe: the column fast path (only text columns holding a risky cell are rewritten) must
escape exactly what the cell-by-cell rule escapes, in every text column and dtype."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import polars as pl
import pytest

from sfe import csv_safe

SAFE = ["plain", "a=b", "-12.5", "+3", "1e-3", None, "x-y", " =not first"]
TEXT_DTYPES = {
    "string": pl.String,
    "categorical": pl.Categorical,
    "enum": None,  # an Enum of the column's own values, built per frame
}


def _frame(columns: dict[str, list], dtypes: dict[str, str]) -> pl.DataFrame:
    series = []
    for name, values in columns.items():
        kind = dtypes.get(name)
        if kind == "enum":
            dtype = pl.Enum(sorted({v for v in values if v is not None}))
        else:
            dtype = TEXT_DTYPES.get(kind, None) if kind else None
        series.append(pl.Series(name, values, dtype=dtype))
    return pl.DataFrame(series)


def _parsed(frame: pl.DataFrame) -> list[list[str]]:
    return list(csv.reader(io.StringIO(csv_safe.to_csv(frame), newline="")))


def _expected(columns: dict[str, list]) -> list[list[str]]:
    """The cell-by-cell rule (``escape_cell``), as csv.reader reads the cells back."""
    header = [str(csv_safe.escape_cell(name)) for name in columns]
    rows = []
    for i in range(len(next(iter(columns.values())))):
        row = []
        for values in columns.values():
            value = values[i]
            row.append("" if value is None else str(csv_safe.escape_cell(value)))
        rows.append(row)
    return [header, *rows]


@pytest.mark.parametrize("kind", ["string", "categorical", "enum"])
@pytest.mark.parametrize("prefix", csv_safe.FORMULA_PREFIXES)
@pytest.mark.parametrize("position", [0, 2, 4])
def test_a_single_risky_cell_in_any_text_column_is_escaped(kind, prefix, position):
    """Many safe rows and text columns; one risky cell, in one column, on the last row."""
    names = [f"text_{i}" for i in range(5)]
    columns: dict[str, list] = {name: SAFE * 20 for name in names}
    risky_cell = f'{prefix}HYPERLINK("http://evil")'
    columns[names[position]] = [*columns[names[position]][:-1], risky_cell]
    columns["number"] = [-1.5] * len(SAFE) * 20
    frame = _frame(columns, {names[position]: kind})

    rows = _parsed(frame)

    expected = _expected({k: v for k, v in columns.items() if k != "number"})
    assert [row[:-1] for row in rows] == expected
    assert rows[-1][position] == "'" + risky_cell
    assert {row[-1] for row in rows[1:]} == {"-1.5"}  # numbers are never escaped


def test_every_risky_cell_of_a_column_is_escaped_and_plain_numbers_are_not():
    values = [*SAFE, "=1+2", "-x", "+44 20", "-12.5", "@SUM(A1)", "\tcmd", "\rcmd", "\uff0dfull", None]
    columns = {"safe": (SAFE * 3)[: len(values)], "mixed": values}
    assert _parsed(_frame(columns, {"mixed": "string"})) == _expected(columns)


def test_frames_without_risky_cells_are_written_unchanged():
    utc = datetime(2024, 3, 31, 22, 30, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "id": ["a", "b", None],
            "kind": pl.Series(["x", "y", "x"], dtype=pl.Categorical),
            "price": [-1.5, 2.0, None],
            "delivery_start_utc": [utc, utc, utc],
            "signed_text": ["-12.5", "+3", "1e5"],
        }
    )
    assert csv_safe.to_csv(frame) == frame.with_columns(pl.col("kind").cast(pl.String)).write_csv(
        datetime_format=csv_safe.DATETIME_FORMAT, date_format="%Y-%m-%d"
    )
    assert csv_safe.escape_frame(frame).schema["kind"] == pl.String  # categoricals come out as text


def test_bytes_equal_the_text_and_null_only_or_empty_columns_pass():
    frame = pl.DataFrame({"empty": pl.Series([None, None], dtype=pl.String), "cmd": ["=cmd", "ok"]})
    assert csv_safe.to_csv_bytes(frame) == csv_safe.to_csv(frame).encode("utf-8")
    assert csv_safe.to_csv(frame).splitlines() == ["empty,cmd", ",'=cmd", ",ok"]
    no_rows = frame.clear()
    assert csv_safe.to_csv(no_rows).splitlines() == ["empty,cmd"]
