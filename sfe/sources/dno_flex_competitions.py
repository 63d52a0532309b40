"""DNO flexibility competitions, bids and resales (our XLSX workbook, docs/sources/dno_flex_competitions.md).

The shared base reads one table per file, and a workbook holds three. The connector reads all three
sheets into one long table: one row per record, ``record_type`` = competition / bid / resale, the union
of the three sheets' columns as fields (a column a record type does not have is null), and per-type
required values enforced by row checks. Nothing of any sheet is lost, and one file report still
accounts for every row of every sheet.

* ``source_row`` is a running number over the workbook (competitions, then bids, then resales) so it is
  unique per file; ``sheet_row`` is the row number Excel shows in the record's own sheet (header = 1).
* ``record_key`` = ``<record_type>:<id>`` is the natural key; a workbook received later replaces a
  record with the same key.
* Local date-times (Excel date-time cells, no offset) are Europe/London wall-clock times: a time in
  the spring-forward gap does not exist and is quarantined; a time in the repeated autumn hour takes
  the first (BST) occurrence.
* The UTC interval: a competition's service envelope (service_start_date at window_start_local to
  service_end_date at window_end_local; the next day when the window crosses midnight); a bid's
  submission instant (start = end); a resale's period [start_local, end_local).
"""

from __future__ import annotations

import datetime as dt
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sfe.sources.base import (
    LONDON,
    PARTITION_COLUMN,
    Field,
    FileRejected,
    Kind,
    RowCheck,
    Source,
    canonical_text,
)

RECORD_TYPES = {"competitions": "competition", "bids": "bid", "resales": "resale"}
ID_COLUMN = {"competition": "competition_id", "bid": "bid_id", "resale": "resale_id"}

# Columns of each sheet and whether the header must have them.
SHEET_COLUMNS: dict[str, dict[str, bool]] = {
    "competitions": {
        "competition_id": True, "dno": True, "licence_area": False, "zone": False, "product": True,
        "direction": False, "service_start_date": True, "service_end_date": True, "days_of_week": False,
        "window_start_local": True, "window_end_local": True, "required_mw": True,
        "ceiling_availability_price_gbp_per_mw_h": False, "ceiling_utilisation_price_gbp_per_mwh": False,
        "opens_local": False, "closes_local": False, "status": False,
    },
    "bids": {
        "bid_id": True, "competition_id": True, "company_name": True, "asset_ref": True, "offered_mw": True,
        "availability_price_gbp_per_mw_h": False, "utilisation_price_gbp_per_mwh": False,
        "submitted_local": True, "status": True,
    },
    "resales": {
        "resale_id": True, "original_bid_id": True, "competition_id": True, "seller_company": True,
        "seller_asset_ref": False, "buyer_company": True, "buyer_asset_ref": True, "resold_mw": True,
        "start_local": True, "end_local": True, "price_gbp_per_mw_h": False, "agreed_local": False,
    },
}  # fmt: skip

# Values every record of a type must have (a blank one quarantines the row).
REQUIRED_VALUES = {
    "competition": ("competition_id", "dno", "service_start_date", "service_end_date"),
    "bid": ("bid_id", "competition_id", "offered_mw", "submitted_local"),
    "resale": ("resale_id", "original_bid_id", "competition_id", "buyer_asset_ref", "resold_mw", "start_local",
               "end_local"),
}  # fmt: skip
BID_STATUSES = ("accepted", "rejected", "withdrawn")
COMPETITION_STATUSES = ("awarded", "no_award")
TIME_COLUMNS = ("window_start_local", "window_end_local")


def _cell_text(value) -> str | None:
    """An Excel cell value as the text the typed parse reads (ISO date-times, Python number reprs)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        # Excel stores date-times as day fractions: snap float noise (a few ms) to the second.
        snapped = (value + dt.timedelta(milliseconds=500)).replace(microsecond=0)
        if abs((snapped - value).total_seconds()) < 0.01:
            value = snapped
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _open_workbook(path: Path):
    from openpyxl import load_workbook

    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise FileRejected("the file is empty")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRejected("legacy binary .xls workbook (or other OLE file), not XLSX: save it as .xlsx")
    if not head.startswith(b"PK"):
        raise FileRejected(
            f"not an XLSX workbook: the file is not a zip archive (it starts with {head!r}; e.g. CSV text "
            "saved under a .xlsx name)"
        )
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except zipfile.BadZipFile as exc:
        raise FileRejected(f"not a readable XLSX workbook: damaged zip archive ({exc})") from None
    except Exception as exc:  # openpyxl raises many types (KeyError, InvalidFileException, ...)
        raise FileRejected(f"not a readable XLSX workbook: {type(exc).__name__}: {exc}") from None


def _read_sheet(ws, sheet: str) -> pl.DataFrame:
    """One sheet as text columns named by SHEET_COLUMNS, plus record_type and sheet_row."""
    ws.reset_dimensions()  # the stored dimension may be wrong (some writers omit it): read every cell
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None or all(v is None or not str(v).strip() for v in header):
        raise FileRejected(f"sheet {sheet!r} has no header row")
    position: dict[str, int] = {}
    for i, name in enumerate(header):
        key = str(name).strip().lower() if name is not None else ""
        if not key:
            continue
        if key in position:
            raise FileRejected(f"sheet {sheet!r}: the header repeats column {name!r}")
        position[key] = i
    expected = SHEET_COLUMNS[sheet]
    missing = [c for c, required in expected.items() if required and c not in position]
    if missing:
        raise FileRejected(f"sheet {sheet!r}: missing required column(s): {', '.join(missing)}")
    present = [c for c in expected if c in position]
    columns: dict[str, list[str | None]] = {c: [] for c in present}
    sheet_rows: list[int] = []
    for excel_row, values in enumerate(rows, start=2):
        texts = [_cell_text(v) for v in values]
        if all(t is None or not t.strip() for t in texts):
            continue  # an empty row is not a record
        for c in present:
            i = position[c]
            columns[c].append(texts[i] if i < len(texts) else None)
        sheet_rows.append(excel_row)
    table = pl.DataFrame(columns, schema={c: pl.String for c in present})
    return table.with_columns(
        pl.lit(RECORD_TYPES[sheet]).alias("record_type"),
        pl.Series("sheet_row", [str(r) for r in sheet_rows], dtype=pl.String),
    )


def read_workbook_text(path: Path) -> pl.DataFrame:
    """The three sheets as one long text table (see the module docstring)."""
    wb = _open_workbook(path)
    try:
        sheets = {ws.title.strip().lower(): ws for ws in wb.worksheets}
        missing = [s for s in SHEET_COLUMNS if s not in sheets]
        if missing:
            found = ", ".join(repr(ws.title) for ws in wb.worksheets) or "none"
            raise FileRejected(
                f"workbook has no {' / '.join(repr(s) for s in missing)} sheet (found {found}); "
                "expected sheets competitions, bids and resales"
            )
        tables = [_read_sheet(sheets[s], s) for s in SHEET_COLUMNS]
    finally:
        wb.close()
    table = pl.concat(tables, how="diagonal")
    # Window times: 'H:MM' / 'HH:MM' / 'HH:MM:SS' text or Excel time cells -> 'HH:MM:SS'.
    times = [
        pl.col(c).str.strip_chars()
        .str.replace(r"^\d{4}-\d{2}-\d{2}[T ]", "")  # a time cell Excel stored as a date-time
        .str.replace(r"^24:00(:00)?$", "00:00:00")
        .str.replace(r"^(\d):", "0${1}:")
        .str.replace(r"^(\d{2}:\d{2})$", "${1}:00")
        .alias(c)
        for c in TIME_COLUMNS if c in table.columns
    ]  # fmt: skip
    return canonical_text(table.with_columns(times) if times else table)


def _local_to_utc(naive: pl.Expr) -> pl.Expr:
    return naive.dt.replace_time_zone(LONDON, ambiguous="earliest", non_existent="null").dt.convert_time_zone(
        "UTC"
    )


@dataclass(frozen=True)
class DnoFlexCompetitions(Source):
    source_id: str = "dno_flex_competitions"
    title: str = "DNO flexibility competitions, bids and resales (XLSX, three sheets)"
    file_format: str = "xlsx"
    file_extensions: tuple[str, ...] = (".xlsx",)
    fields: tuple[Field, ...] = (
        Field("record_type", Kind.TEXT, "Sheet the record comes from: competition, bid or resale", nullable=False),
        Field("sheet_row", Kind.INTEGER, "Row number in the record's own sheet as Excel shows it (header = 1)",
              nullable=False),
        Field("competition_id", Kind.TEXT, "Competition (key of competitions; the competition of a bid or resale)",
              required=False),
        # competitions
        Field("dno", Kind.TEXT, "DNO: NGED, SSEN, ENWL, NPg, SPEN (competitions)", required=False),
        Field("licence_area", Kind.TEXT, "DNO licence area code, e.g. EMID (competitions)", required=False),
        Field("zone", Kind.TEXT, "Flexibility zone (competitions)", required=False),
        Field("product", Kind.TEXT, "DNO product name (competitions)", required=False),
        Field("direction", Kind.TEXT, "up or down (competitions)", required=False),
        Field("service_start_date", Kind.DATE, "First day of the service period (competitions)", required=False),
        Field("service_end_date", Kind.DATE, "Last day of the service period, inclusive (competitions)",
              required=False),
        Field("days_of_week", Kind.TEXT, "Mon-Fri or Mon-Sun (competitions)", required=False),
        Field("window_start_local", Kind.TIME_OF_DAY, "Daily service window start, Europe/London (competitions)",
              required=False),
        Field("window_end_local", Kind.TIME_OF_DAY, "Daily service window end, exclusive, Europe/London (competitions)",
              required=False),
        Field("required_mw", Kind.DECIMAL, "Volume sought (competitions)", unit="MW", required=False),
        Field("ceiling_availability_price_gbp_per_mw_h", Kind.DECIMAL,
              "Availability price ceiling; blank when the product has no availability payment (competitions)",
              unit="GBP/MW/h", required=False),
        Field("ceiling_utilisation_price_gbp_per_mwh", Kind.DECIMAL, "Utilisation price ceiling (competitions)",
              unit="GBP/MWh", required=False),
        Field("opens_local", Kind.LOCAL_NAIVE, "Bidding opens (Europe/London wall clock, stored UTC; competitions)",
              required=False),
        Field("closes_local", Kind.LOCAL_NAIVE, "Bidding closes (Europe/London wall clock, stored UTC; competitions)",
              required=False),
        Field("status", Kind.TEXT, "competitions: awarded / no_award; bids: accepted / rejected / withdrawn",
              required=False),
        # bids
        Field("bid_id", Kind.TEXT, "Bid (key of bids)", required=False),
        Field("company_name", Kind.TEXT, "Bidding FSP (bids)", required=False),
        Field("asset_ref", Kind.TEXT, "The unit's reference at the DNO (bids)", required=False),
        Field("offered_mw", Kind.DECIMAL, "Volume offered (bids)", unit="MW", required=False),
        Field("availability_price_gbp_per_mw_h", Kind.DECIMAL, "Availability price offered (bids)",
              unit="GBP/MW/h", required=False),
        Field("utilisation_price_gbp_per_mwh", Kind.DECIMAL, "Utilisation price offered (bids)", unit="GBP/MWh",
              required=False),
        Field("submitted_local", Kind.LOCAL_NAIVE, "When the bid was submitted (Europe/London wall clock, stored UTC)",
              required=False),
        # resales
        Field("resale_id", Kind.TEXT, "Resale (key of resales)", required=False),
        Field("original_bid_id", Kind.TEXT, "The won bid being resold (resales)", required=False),
        Field("seller_company", Kind.TEXT, "FSP selling the contract (resales)", required=False),
        Field("seller_asset_ref", Kind.TEXT, "Seller's unit (resales)", required=False),
        Field("buyer_company", Kind.TEXT, "FSP buying the contract (resales)", required=False),
        Field("buyer_asset_ref", Kind.TEXT, "Buyer's unit, which takes over the obligation (resales)", required=False),
        Field("resold_mw", Kind.DECIMAL, "Volume resold (resales)", unit="MW", required=False),
        Field("start_local", Kind.LOCAL_NAIVE, "Resale period start (Europe/London wall clock, stored UTC)",
              required=False),
        Field("end_local", Kind.LOCAL_NAIVE, "Resale period end, exclusive (Europe/London wall clock, stored UTC)",
              required=False),
        Field("price_gbp_per_mw_h", Kind.DECIMAL, "Price the buyer pays the seller (resales)", unit="GBP/MW/h",
              required=False),
        Field("agreed_local", Kind.LOCAL_NAIVE, "When the resale was agreed (Europe/London wall clock, stored UTC)",
              required=False),
    )  # fmt: skip
    natural_key: tuple[str, ...] = ("record_key",)
    version_column: str | None = None  # the workbook received later replaces the record
    time_convention: str = (
        "Excel date-times are Europe/London wall clock without offset, stored as UTC (spring-gap times "
        "quarantined, autumn-ambiguous times take the first/BST occurrence); interval = competition service "
        "envelope, bid submission instant, resale period; partition = UTC day of the interval start"
    )

    def read_text_table(self, path: Path, data: bytes | None = None) -> pl.DataFrame:
        return read_workbook_text(path)

    def derive(self, typed: pl.DataFrame) -> pl.DataFrame:
        kind = pl.col("record_type")
        midnight = pl.lit(dt.time(0, 0))
        window_start = pl.col("window_start_local").fill_null(midnight)
        window_end = pl.col("window_end_local").fill_null(midnight)
        # A window ending at or before its start ends the next day (overnight, or a whole day 00:00-00:00).
        crosses_midnight = window_end <= window_start
        end_day = pl.col("service_end_date") + pl.when(crosses_midnight).then(pl.duration(days=1)).otherwise(
            pl.duration(days=0)
        )
        competition_start = _local_to_utc(pl.col("service_start_date").dt.combine(window_start))
        competition_end = _local_to_utc(end_day.dt.combine(window_end))
        start = (
            pl.when(kind == "competition").then(competition_start)
            .when(kind == "bid").then(pl.col("submitted_local"))
            .when(kind == "resale").then(pl.col("start_local"))
        )  # fmt: skip
        end = (
            pl.when(kind == "competition").then(competition_end)
            .when(kind == "bid").then(pl.col("submitted_local"))
            .when(kind == "resale").then(pl.col("end_local"))
        )  # fmt: skip
        record_id = (
            pl.when(kind == "competition").then(pl.col("competition_id"))
            .when(kind == "bid").then(pl.col("bid_id"))
            .when(kind == "resale").then(pl.col("resale_id"))
        )  # fmt: skip
        out = typed.with_columns(
            start.cast(pl.Datetime("us", "UTC")).alias("interval_start_utc"),
            end.cast(pl.Datetime("us", "UTC")).alias("interval_end_utc"),
            pl.concat_str([kind, pl.lit(":"), record_id]).alias("record_key"),
            pl.col("dno").str.strip_chars().str.to_lowercase().alias("operator_id"),
        )
        # A record repeated within one workbook stays in the partition of its first occurrence, so
        # the later row can supersede it.
        return out.with_columns(
            pl.col("interval_start_utc").dt.date().sort_by("source_row").drop_nulls().first().over("record_key")
            .alias(PARTITION_COLUMN)
        )  # fmt: skip

    def row_checks(self) -> list[RowCheck]:
        kind = pl.col("record_type")
        checks = [
            RowCheck("record_type", "record_type is not competition, bid or resale",
                     lambda: ~kind.is_in(list(ID_COLUMN))),
        ]  # fmt: skip
        for record_type, required in REQUIRED_VALUES.items():
            for name in required:
                checks.append(
                    RowCheck(
                        name,
                        f"missing required value for {name} (a {record_type} row)",
                        lambda rt=record_type, c=name: (kind == rt) & pl.col(c).is_null(),
                    )
                )
        is_comp, is_bid, is_resale = kind == "competition", kind == "bid", kind == "resale"
        checks += [
            RowCheck("service_end_date", "service_end_date is before service_start_date",
                     lambda: is_comp & (pl.col("service_end_date") < pl.col("service_start_date"))),
            RowCheck("window_start_local",
                     "service window start does not exist in Europe/London (spring-forward gap)",
                     lambda: is_comp & pl.col("interval_start_utc").is_null()),
            RowCheck("window_end_local",
                     "service window end does not exist in Europe/London (spring-forward gap)",
                     lambda: is_comp & pl.col("interval_end_utc").is_null()),
            RowCheck("required_mw", "required_mw is negative", lambda: is_comp & (pl.col("required_mw") < 0)),
            RowCheck("status", "competition status is not awarded or no_award",
                     lambda: is_comp & pl.col("status").is_not_null()
                     & ~pl.col("status").str.to_lowercase().is_in(COMPETITION_STATUSES)),
            RowCheck("offered_mw", "offered_mw is negative", lambda: is_bid & (pl.col("offered_mw") < 0)),
            RowCheck("status", "bid status is not accepted, rejected or withdrawn",
                     lambda: is_bid & ~pl.col("status").str.to_lowercase().is_in(BID_STATUSES).fill_null(False)),
            RowCheck("end_local", "resale end_local is not after start_local",
                     lambda: is_resale & (pl.col("end_local") <= pl.col("start_local"))),
            RowCheck("resold_mw", "resold_mw is negative", lambda: is_resale & (pl.col("resold_mw") < 0)),
        ]  # fmt: skip
        return checks

    def dedupe_columns(self) -> tuple[str, ...]:
        # The same record at another row of a later workbook is still the same record.
        return tuple(f.name for f in self.fields if f.name != "sheet_row")
