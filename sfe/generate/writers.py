"""Byte-exact, deterministic file writers and number formatting used by the generator."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

BOM = b"\xef\xbb\xbf"
_FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
_FIXED_XLSX_STAMP = "2020-01-01T00:00:00Z"


def py_float_strings(values: np.ndarray | Sequence[float | None]) -> list[str]:
    """Python's repr of each float (``1195.0``, ``116.54999999999998``, ``7.57e-07``); '' for None/NaN."""
    out = []
    for v in values.tolist() if isinstance(values, np.ndarray) else values:
        if v is None or v != v:
            out.append("")
        else:
            out.append(repr(float(v)))
    return out


def float_expr(col: str | pl.Expr) -> pl.Expr:
    """Polars float -> shortest round-trip string, with Python-style exponents (``e-07``)."""
    expr = pl.col(col) if isinstance(col, str) else col
    return (
        expr.cast(pl.Float64)
        .cast(pl.String)
        .str.replace(r"e([+-]?)(\d)$", "e${1}0${2}")
        .str.replace(r"e(\d)", "e+$1")
    )


def fixed18(values: list[str]) -> list[str]:
    """Python float reprs rewritten with exactly 18 decimals, as Elexon's website export shows them."""
    out = []
    for s in values:
        if s == "":
            out.append("")
            continue
        if "e" in s or "E" in s:
            from decimal import Decimal

            out.append(f"{Decimal(s):.18f}")
            continue
        if "." not in s:
            s = s + ".0"
        whole, frac = s.split(".")
        out.append(f"{whole}.{frac.ljust(18, '0')}")
    return out


def write_csv(df: pl.DataFrame, path: Path, *, bom: bool = False, separator: str = ",") -> int:
    """Write a frame of (mostly string) columns exactly; returns the number of data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blanks = [pl.col(c).replace("", None) for c, t in df.schema.items() if t == pl.String]
    if blanks:
        df = df.with_columns(blanks)
    buf = io.BytesIO()
    df.write_csv(buf, separator=separator, line_terminator="\n", quote_style="necessary")
    data = buf.getvalue()
    path.write_bytes((BOM if bom else b"") + data)
    return df.height


def write_jsonl(records: Iterable[dict], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False, separators=(", ", ": ")))
            fh.write("\n")
            n += 1
    return n


def deterministic_xlsx(workbook, path: Path) -> None:
    """Save an openpyxl workbook with fixed timestamps so the bytes depend only on its content."""
    import datetime as dt

    fixed = dt.datetime(2020, 1, 1)
    workbook.properties.created = fixed
    workbook.properties.modified = fixed
    workbook.properties.creator = "SFE demo-data generator"
    raw = io.BytesIO()
    workbook.save(raw)
    raw.seek(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = data.decode("utf-8")
                text = re.sub(
                    r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rf"\g<1>{_FIXED_XLSX_STAMP}\g<3>",
                    text,
                )
                data = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, data)
    path.write_bytes(out.getvalue())


def strs(values: np.ndarray) -> pl.Series:
    return pl.Series(values.astype(str))
