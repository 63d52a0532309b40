"""Third-party revenue forecasts (UC28): validated CSV uploads kept beside the warehouse.

A forecast provider (or a user who bought a forecast) uploads a CSV; it is shown on the asset-value
page next to the history SFE computed, labelled with its provider. Forecasts are not warehouse
facts and are not registry records: each provider's latest upload is one Parquet file,
``lake/forecasts/<provider slug>.parquet``, replaced atomically by the next upload of that provider.
The Streamlit upload form and the API's POST route both go through :func:`upload`.

CSV columns (header row required, UTF-8, comma-separated; column names are case-insensitive):

==========================  ========  =============================================================
column                      required  meaning
==========================  ========  =============================================================
provider                    yes       who made the forecast; the label shown with it (same in every
                                      row of one upload)
product                     yes       an SFE product id (``neso_eac_dch``), a standard product id
                                      (``dynamic_containment_high``) or ``total`` (all markets,
                                      stacked)
year                        yes       calendar year the forecast is for (2000-2100)
revenue_gbp_per_mw_year     yes       forecast revenue per MW of capacity per year, GBP/MW/year
scenario                    no        e.g. ``central``, ``high``, ``low`` (default ``central``)
asset_type                  no        taxonomy asset type the forecast is for (blank: any)
duration_h                  no        storage duration in hours (MWh / MW; blank: any)
p10_gbp_per_mw_year         no        low end of the forecast's range (must be <= revenue)
p90_gbp_per_mw_year         no        high end of the forecast's range (must be >= revenue)
published_on                no        date the provider published it, YYYY-MM-DD
notes                       no        free text (up to 500 characters)
==========================  ========  =============================================================

Every problem is reported with the CSV line number, the field and the value, all at once, so a
provider can fix a file in one go. Nothing is stored unless every row is valid.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from sfe import taxonomy
from sfe.config import LakePaths, lake
from sfe.registry.access import AccessDenied, NotFound, Principal, Role

# Roles that may upload forecasts (admins always may): the people who buy or make them.
UPLOAD_ROLES = (Role.FSP, Role.INVESTOR, Role.ANALYST)

TOTAL_PRODUCT = "total"
DEFAULT_SCENARIO = "central"
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_REPORTED_ERRORS = 200
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_ABS_REVENUE = 100_000_000.0  # GBP/MW/year: far above any real flexibility revenue
MAX_TEXT = {"provider": 100, "product": 100, "scenario": 50, "notes": 500}

REQUIRED_COLUMNS = ("provider", "product", "year", "revenue_gbp_per_mw_year")
OPTIONAL_COLUMNS = (
    "scenario",
    "asset_type",
    "duration_h",
    "p10_gbp_per_mw_year",
    "p90_gbp_per_mw_year",
    "published_on",
    "notes",
)
CSV_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# What is stored (and what load() returns): the CSV columns plus where each row came from.
SCHEMA: dict[str, pl.DataType] = {
    "provider": pl.String(),
    "product": pl.String(),
    "year": pl.Int32(),
    "scenario": pl.String(),
    "asset_type": pl.String(),
    "duration_h": pl.Float64(),
    "revenue_gbp_per_mw_year": pl.Float64(),
    "p10_gbp_per_mw_year": pl.Float64(),
    "p90_gbp_per_mw_year": pl.Float64(),
    "published_on": pl.Date(),
    "notes": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int32(),
    "uploaded_at_utc": pl.Datetime("us", "UTC"),
    "uploaded_by_organisation_id": pl.Int64(),
    "uploaded_by_organisation": pl.String(),
}

EXAMPLE_CSV = (
    "provider,product,year,revenue_gbp_per_mw_year,scenario,asset_type,duration_h,"
    "p10_gbp_per_mw_year,p90_gbp_per_mw_year,published_on,notes\n"
    "Example Analytics,neso_eac_dch,2027,42000,central,battery,2,31000,55000,2026-05-01,\n"
    "Example Analytics,total,2027,86000,central,battery,2,64000,110000,2026-05-01,all markets stacked\n"
)


# -- errors ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowError:
    """One problem in an uploaded file. ``line`` is the CSV line (the header is line 1; 0 = the file)."""

    line: int
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = "file" if self.line == 0 else f"line {self.line}"
        shown = f" {self.value!r}" if self.value else ""
        return f"{where}, {self.field}{shown}: {self.reason}"


class ForecastRejected(ValueError):
    """The upload was not stored; ``errors`` lists every problem found (file-level ones have line 0)."""

    def __init__(self, source_file: str, errors: list[RowError], total_errors: int | None = None):
        self.source_file = source_file
        self.errors = errors
        self.total_errors = total_errors if total_errors is not None else len(errors)
        shown = "; ".join(str(e) for e in errors[:5])
        tail = f" (and {self.total_errors - 5} more)" if self.total_errors > 5 else ""
        super().__init__(f"{source_file}: forecast rejected, {self.total_errors} problem(s): {shown}{tail}")

    def as_frame(self) -> pl.DataFrame:
        """The problems as a table (line, field, value, reason) for a page or an API response."""
        return pl.DataFrame(
            [(e.line, e.field, e.value, e.reason) for e in self.errors],
            schema={"line": pl.Int64, "field": pl.String, "value": pl.String, "reason": pl.String},
            orient="row",
        )


@dataclass(frozen=True)
class UploadResult:
    provider: str
    path: Path
    rows: int
    replaced_rows: int  # rows of the provider's previous forecast that this upload replaced


# -- parsing ---------------------------------------------------------------------------------------
def provider_slug(provider: str) -> str:
    """File-name-safe, case-insensitive key of a provider: 'Acme Ltd.' and 'acme ltd' are one provider."""
    slug = re.sub(r"[^a-z0-9]+", "_", provider.strip().lower()).strip("_")
    if not slug:
        raise ValueError(f"provider {provider!r} has no letters or digits")
    return slug[:80]


def known_products(extra: Iterable[str] = ()) -> set[str]:
    """Product values a forecast may name: taxonomy products, standard products, ``total`` and ``extra``."""
    ids = {row["product_id"] for row in taxonomy.table("products")}
    ids |= {row["standard_product"] for row in taxonomy.table("standard_products")}
    return ids | {TOTAL_PRODUCT} | {p for p in extra if p}


def _number(text: str) -> float:
    value = float(text.replace(",", "").replace("£", "").strip())
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def parse_csv(
    data: bytes, source_file: str = "upload.csv", extra_products: Iterable[str] = ()
) -> pl.DataFrame:
    """Validate a forecast CSV and return its rows (SCHEMA minus the upload columns).

    Raises ForecastRejected listing every problem (line, field, value, reason) when anything is wrong.
    """
    if len(data) > MAX_BYTES:
        raise ForecastRejected(
            source_file, [RowError(0, "file", "", f"larger than {MAX_BYTES // (1024 * 1024)} MB")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ForecastRejected(
            source_file, [RowError(0, "file", "", f"not UTF-8 text (byte {exc.start})")]
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise ForecastRejected(source_file, [RowError(0, "header", "", "the file is empty (no header row)")])
    columns = [h.strip().lower() for h in header]
    file_errors = []
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        file_errors.append(
            RowError(1, "header", ", ".join(unknown), f"unknown column(s); allowed: {', '.join(CSV_COLUMNS)}")
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        file_errors.append(RowError(1, "header", ", ".join(repeated), "column(s) given more than once"))
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        file_errors.append(RowError(1, "header", ", ".join(missing), "required column(s) missing"))
    if file_errors:
        raise ForecastRejected(source_file, file_errors)

    products = known_products(extra_products)
    asset_types = {row["asset_type"] for row in taxonomy.table("asset_types")}
    errors: list[RowError] = []
    rows: list[dict] = []
    seen: dict[tuple, int] = {}
    first_provider: tuple[int, str] | None = None  # (line, provider) of the first valid row
    for line, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines (e.g. a trailing newline from a spreadsheet)
        if len(rows) >= MAX_ROWS:
            errors.append(RowError(line, "file", "", f"more than {MAX_ROWS} rows"))
            break
        if len(record) != len(columns):
            errors.append(
                RowError(line, "row", "", f"has {len(record)} fields, the header has {len(columns)}")
            )
            continue
        cells = {c: v.strip() for c, v in zip(columns, record, strict=True)}
        row, row_errors = _parse_row(line, cells, products, asset_types)
        if row_errors:
            errors.extend(row_errors)
            continue
        if first_provider is None:
            first_provider = (line, row["provider"])
        elif provider_slug(row["provider"]) != provider_slug(first_provider[1]):
            errors.append(
                RowError(
                    line,
                    "provider",
                    row["provider"],
                    f"one upload is one provider's forecast; line {first_provider[0]} names "
                    f"{first_provider[1]!r}",
                )
            )
            continue
        key = (row["product"], row["year"], row["scenario"], row["asset_type"], row["duration_h"])
        if key in seen:
            errors.append(
                RowError(
                    line,
                    "row",
                    "",
                    f"repeats line {seen[key]} (same product, year, scenario, asset_type and duration_h)",
                )
            )
            continue
        seen[key] = line
        row["source_line"] = line
        rows.append(row)
    if not rows and not errors:
        errors.append(RowError(0, "file", "", "no data rows under the header"))
    if errors:
        raise ForecastRejected(source_file, errors[:MAX_REPORTED_ERRORS], total_errors=len(errors))
    frame = pl.from_dicts(rows, schema={k: v for k, v in SCHEMA.items() if k in rows[0]})
    return frame.with_columns(pl.lit(source_file).alias("source_file"))


def _parse_row(
    line: int, cells: dict[str, str], products: set[str], asset_types: set[str]
) -> tuple[dict, list[RowError]]:
    errors: list[RowError] = []

    def fail(field: str, reason: str) -> None:
        errors.append(RowError(line, field, cells.get(field, ""), reason))

    row: dict = {}
    for field in ("provider", "product", "scenario", "notes"):
        value = cells.get(field, "")
        if len(value) > MAX_TEXT[field]:
            fail(field, f"longer than {MAX_TEXT[field]} characters")
        row[field] = value or None
    if not row["provider"]:
        fail("provider", "required")
    elif not re.search(r"[A-Za-z0-9]", row["provider"]):
        fail("provider", "must contain letters or digits")
    if not row["product"]:
        fail("product", "required")
    else:
        row["product"] = row["product"].lower()
        if row["product"] not in products:
            fail("product", "not an SFE product id, a standard product id or 'total'")
    row["scenario"] = (row["scenario"] or DEFAULT_SCENARIO).lower()

    year = cells.get("year", "")
    row["year"] = None
    if not year:
        fail("year", "required")
    elif not re.fullmatch(r"\d{4}", year):
        fail("year", "must be a four-digit year")
    elif not MIN_YEAR <= int(year) <= MAX_YEAR:
        fail("year", f"must be between {MIN_YEAR} and {MAX_YEAR}")
    else:
        row["year"] = int(year)

    for field in ("revenue_gbp_per_mw_year", "p10_gbp_per_mw_year", "p90_gbp_per_mw_year", "duration_h"):
        text = cells.get(field, "")
        row[field] = None
        if not text:
            if field == "revenue_gbp_per_mw_year":
                fail(field, "required")
            continue
        try:
            value = _number(text)
        except ValueError:
            fail(field, "not a number")
            continue
        if field == "duration_h" and not 0 < value <= 24:
            fail(field, "must be more than 0 and at most 24 hours")
        elif abs(value) > MAX_ABS_REVENUE:
            fail(field, f"implausible: more than {MAX_ABS_REVENUE:,.0f} GBP/MW/year")
        else:
            row[field] = value
    revenue, p10, p90 = row["revenue_gbp_per_mw_year"], row["p10_gbp_per_mw_year"], row["p90_gbp_per_mw_year"]
    if revenue is not None and p10 is not None and p10 > revenue:
        fail("p10_gbp_per_mw_year", f"is above revenue_gbp_per_mw_year ({revenue:g})")
    if revenue is not None and p90 is not None and p90 < revenue:
        fail("p90_gbp_per_mw_year", f"is below revenue_gbp_per_mw_year ({revenue:g})")

    asset_type = cells.get("asset_type", "").lower()
    row["asset_type"] = asset_type or None
    if asset_type and asset_type not in asset_types:
        fail("asset_type", f"not a taxonomy asset type ({', '.join(sorted(asset_types))})")

    published = cells.get("published_on", "")
    row["published_on"] = None
    if published:
        try:
            row["published_on"] = date.fromisoformat(published)
        except ValueError:
            fail("published_on", "must be a date written YYYY-MM-DD")
    return row, errors


# -- storage ---------------------------------------------------------------------------------------
def forecasts_dir(paths: LakePaths | None = None) -> Path:
    return (paths or lake()).root / "forecasts"


def _path(provider: str, paths: LakePaths | None) -> Path:
    return forecasts_dir(paths) / f"{provider_slug(provider)}.parquet"


def _write_atomically(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_may_replace(existing: pl.DataFrame, principal: Principal) -> None:
    owners = set(existing["uploaded_by_organisation_id"].drop_nulls().to_list())
    if owners and owners != {principal.organisation_id} and not principal.is_admin:
        provider = existing["provider"][0]
        raise AccessDenied(
            f"The forecast of {provider!r} was uploaded by another organisation; only that organisation "
            "or an SFE administrator can replace or delete it."
        )


def upload(
    data: bytes,
    principal: Principal,
    source_file: str = "upload.csv",
    extra_products: Iterable[str] = (),
    paths: LakePaths | None = None,
) -> UploadResult:
    """Validate ``data`` (a forecast CSV) and store it as its provider's forecast, replacing the last one.

    Raises AccessDenied for roles that may not upload, or when another organisation owns the
    provider's forecast; ForecastRejected (nothing stored) when the file has problems.
    """
    principal.require(*UPLOAD_ROLES, action="upload forecasts")
    source_name = Path(source_file).name or "upload.csv"
    frame = parse_csv(data, source_name, extra_products)
    provider = frame["provider"][0]
    path = _path(provider, paths)
    replaced = 0
    if path.exists():
        existing = pl.read_parquet(path)
        _check_may_replace(existing, principal)
        replaced = existing.height
    stored = frame.with_columns(
        pl.lit(datetime.now(UTC)).cast(SCHEMA["uploaded_at_utc"]).alias("uploaded_at_utc"),
        pl.lit(principal.organisation_id, dtype=pl.Int64).alias("uploaded_by_organisation_id"),
        pl.lit(principal.organisation_name).alias("uploaded_by_organisation"),
    )
    stored = _conform(stored).sort("product", "scenario", "year")
    _write_atomically(stored, path)
    return UploadResult(provider=provider, path=path, rows=stored.height, replaced_rows=replaced)


def _conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Exactly SCHEMA's columns, in order, with its types (absent optional columns become null)."""
    return frame.select(
        [
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in SCHEMA.items()
        ]
    )


def load(provider: str | None = None, paths: LakePaths | None = None) -> pl.DataFrame:
    """Every stored forecast (or one provider's), with SCHEMA's columns; empty when there is none."""
    directory = forecasts_dir(paths)
    if provider is not None:
        files = [_path(provider, paths)]
        files = [f for f in files if f.exists()]
    else:
        files = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    if not files:
        return pl.DataFrame(schema=SCHEMA)
    return pl.concat([_conform(pl.read_parquet(f)) for f in files], how="vertical").sort(
        "provider", "product", "scenario", "year"
    )


def providers(paths: LakePaths | None = None) -> pl.DataFrame:
    """One row per provider: rows, products, years covered and when it was uploaded, by whom."""
    frame = load(paths=paths)
    return (
        frame.group_by("provider")
        .agg(
            pl.len().alias("rows"),
            pl.col("product").n_unique().alias("products"),
            pl.col("year").min().alias("first_year"),
            pl.col("year").max().alias("last_year"),
            pl.col("uploaded_at_utc").max().alias("uploaded_at_utc"),
            pl.col("uploaded_by_organisation").first().alias("uploaded_by_organisation"),
            pl.col("source_file").first().alias("source_file"),
        )
        .sort("provider")
    )


def delete(provider: str, principal: Principal, paths: LakePaths | None = None) -> int:
    """Remove a provider's forecast (the uploading organisation or an admin); returns the rows removed."""
    principal.require(*UPLOAD_ROLES, action="delete forecasts")
    path = _path(provider, paths)
    if not path.exists():
        raise NotFound(f"No forecast from provider {provider!r}.")
    existing = pl.read_parquet(path)
    _check_may_replace(existing, principal)
    path.unlink()
    return existing.height
