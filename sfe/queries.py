"""The data-access functions shared by the HTTP API and the Streamlit pages.

Pages and routes contain no SQL: they call these functions, which read the published warehouse
through ``sfe.serving`` with parameterised SQL only (every statement below is a constant; values are
bound as parameters, optional filters use ``$param IS NULL OR ...``).

Conventions
- Time filters are half-open on the start instant: ``from <= start < to``. Instants are UTC;
  naive datetimes are taken as UTC.
- Trend periods are Great Britain local (Europe/London) calendar days or months of the start
  instant, so a day is the 23/24/25-hour local day a GB user means, not a UTC day. Trend date
  filters are half-open on those local dates: ``date_from <= local date < date_to``.
- Paged results have a stable order (start instant, then ids) so limit/offset pages never overlap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

import polars as pl

from sfe.serving import ReadSession, ServingDB, get_db

GB_TZ = ZoneInfo("Europe/London")
Granularity = Literal["day", "month"]
GRANULARITIES: tuple[str, ...] = ("day", "month")

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000

AUCTION_RESULT_COLUMNS = (
    "auction_result_id",
    "market_id",
    "product_id",
    "auction_id",
    "delivery_start_utc",
    "delivery_end_utc",
    "cleared_volume_mw",
    "clearing_price_gbp_per_mw_h",
    "source_id",
)

DISPATCH_COLUMNS = (
    "dispatch_id",
    "market_id",
    "product_id",
    "participant_id",
    "asset_id",
    "source_asset_ref",
    "start_utc",
    "end_utc",
    "power_mw",
    "energy_mwh",
    "utilisation_price_gbp_per_mwh",
    "availability_price_gbp_per_mw_h",
    "direction",
    "instruction_source",
    "source_id",
)


# -- helpers ------------------------------------------------------------------------------------
def _db(db: ServingDB | None) -> ServingDB:
    return db if db is not None else get_db()


def to_utc(value: datetime | date | None) -> datetime | None:
    """An aware UTC datetime; naive datetimes and plain dates are taken as UTC (dates at 00:00)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def gb_midnight_utc(day: date | None) -> datetime | None:
    """The UTC instant at which a Europe/London local day starts."""
    if day is None:
        return None
    return datetime.combine(day, time(0), tzinfo=GB_TZ).astimezone(UTC)


def _product_list(product_ids: Iterable[str] | None) -> list[str] | None:
    if product_ids is None:
        return None
    ids = sorted({p for p in product_ids if p})
    return ids or None


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise ValueError(
            f"the range is empty: from ({start.isoformat()}) must be before to ({end.isoformat()})"
        )


def _table_exists(s: ReadSession, name: str, schema: str = "main") -> bool:
    return bool(
        s.scalar(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = $schema AND table_name = $name",
            {"name": name, "schema": schema},
        )
    )


# -- freshness ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Freshness:
    published_at: datetime | None
    build_started_at: datetime | None
    sfe_version: str | None
    dbt_tests_passed: bool | None
    sources: pl.DataFrame  # one row per ingested source (meta_source_rows)
    publish_version: str

    @property
    def total_rows(self) -> int:
        if self.sources.is_empty() or "rows_loaded" not in self.sources.columns:
            return 0
        return int(self.sources["rows_loaded"].sum() or 0)


_EMPTY_SOURCES_SCHEMA = {
    "source_id": pl.String,
    "files": pl.Int32,
    "rows_loaded": pl.Int64,
    "last_ingested_at": pl.Datetime("us", "UTC"),
    "min_date": pl.Date,
    "max_date": pl.Date,
}


def freshness(db: ServingDB | None = None) -> Freshness:
    """When the warehouse was last published and how many rows each source contributed."""
    with _db(db).session() as s:
        published_at = build_started_at = version = tests_passed = None
        if _table_exists(s, "meta_publish"):
            meta = s.query(
                "SELECT published_at, build_started_at, sfe_version, dbt_tests_passed "
                "FROM main.meta_publish ORDER BY published_at DESC LIMIT 1"
            )
            if meta.height:
                row = meta.row(0, named=True)
                published_at = row["published_at"]
                build_started_at = row["build_started_at"]
                version = row["sfe_version"]
                tests_passed = None if row["dbt_tests_passed"] is None else bool(row["dbt_tests_passed"])
        if _table_exists(s, "meta_source_rows"):
            sources = s.query("SELECT * FROM main.meta_source_rows ORDER BY source_id")
        else:
            sources = pl.DataFrame(schema=_EMPTY_SOURCES_SCHEMA)
        return Freshness(published_at, build_started_at, version, tests_passed, sources, s.publish_version)


# -- paged facts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    rows: pl.DataFrame
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        nxt = self.offset + self.limit
        return nxt if nxt < self.total else None

    @property
    def prev_offset(self) -> int | None:
        return max(self.offset - self.limit, 0) if self.offset > 0 else None


_AUCTION_FILTER = """
FROM main.fct_auction_result AS a
WHERE (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), a.product_id))
  AND (CAST($start AS TIMESTAMPTZ) IS NULL OR a.delivery_start_utc >= CAST($start AS TIMESTAMPTZ))
  AND (CAST($end AS TIMESTAMPTZ) IS NULL OR a.delivery_start_utc < CAST($end AS TIMESTAMPTZ))
"""

_AUCTION_ROWS_SQL = (
    "SELECT a.auction_result_id, a.market_id, a.product_id, a.auction_id, a.delivery_start_utc, "
    "a.delivery_end_utc, a.cleared_volume_mw, a.clearing_price_gbp_per_mw_h, a.source_id"
    + _AUCTION_FILTER
    + "ORDER BY a.delivery_start_utc, a.product_id, a.auction_result_id LIMIT $limit OFFSET $offset"
)
_AUCTION_COUNT_SQL = "SELECT count(*) AS n" + _AUCTION_FILTER

_DISPATCH_FILTER = """
FROM main.fct_dispatch AS d
WHERE (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), d.product_id))
  AND (CAST($start AS TIMESTAMPTZ) IS NULL OR d.start_utc >= CAST($start AS TIMESTAMPTZ))
  AND (CAST($end AS TIMESTAMPTZ) IS NULL OR d.start_utc < CAST($end AS TIMESTAMPTZ))
"""

_DISPATCH_ROWS_SQL = (
    "SELECT d.dispatch_id, d.market_id, d.product_id, d.participant_id, d.asset_id, d.source_asset_ref, "
    "d.start_utc, d.end_utc, d.power_mw, d.energy_mwh, d.utilisation_price_gbp_per_mwh, "
    "d.availability_price_gbp_per_mw_h, d.direction, d.instruction_source, d.source_id"
    + _DISPATCH_FILTER
    + "ORDER BY d.start_utc, d.dispatch_id LIMIT $limit OFFSET $offset"
)
_DISPATCH_COUNT_SQL = "SELECT count(*) AS n" + _DISPATCH_FILTER


def _page(
    rows_sql: str,
    count_sql: str,
    product_ids: Iterable[str] | None,
    start: datetime | date | None,
    end: datetime | date | None,
    limit: int,
    offset: int,
    db: ServingDB | None,
) -> Page:
    _check_page(limit, offset)
    start_utc, end_utc = to_utc(start), to_utc(end)
    _check_range(start_utc, end_utc)
    params = {"product_ids": _product_list(product_ids), "start": start_utc, "end": end_utc}
    with _db(db).session() as s:  # one cursor: rows and total come from the same publish
        total = int(s.scalar(count_sql, params))
        rows = s.query(rows_sql, {**params, "limit": limit, "offset": offset})
    return Page(rows=rows, total=total, limit=limit, offset=offset)


def auction_results(
    product_ids: Iterable[str] | None = None,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    db: ServingDB | None = None,
) -> Page:
    """Auction results (fct_auction_result) with delivery_start_utc in [start, end), stable order."""
    return _page(_AUCTION_ROWS_SQL, _AUCTION_COUNT_SQL, product_ids, start, end, limit, offset, db)


def dispatches(
    product_ids: Iterable[str] | None = None,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    db: ServingDB | None = None,
) -> Page:
    """Dispatches (fct_dispatch) with start_utc in [start, end), stable order."""
    return _page(_DISPATCH_ROWS_SQL, _DISPATCH_COUNT_SQL, product_ids, start, end, limit, offset, db)


# -- products -----------------------------------------------------------------------------------
_PRODUCTS_SQL = """
WITH usage AS (
    SELECT product_id, count(*) AS auction_result_rows, CAST(0 AS BIGINT) AS dispatch_rows,
           min(delivery_start_utc) AS first_start_utc, max(delivery_start_utc) AS last_start_utc
    FROM main.fct_auction_result GROUP BY product_id
    UNION ALL
    SELECT product_id, CAST(0 AS BIGINT), count(*), min(start_utc), max(start_utc)
    FROM main.fct_dispatch GROUP BY product_id
),
per_product AS (
    SELECT product_id,
           CAST(sum(auction_result_rows) AS BIGINT) AS auction_result_rows,
           CAST(sum(dispatch_rows) AS BIGINT) AS dispatch_rows,
           min(first_start_utc) AS first_start_utc,
           max(last_start_utc) AS last_start_utc
    FROM usage GROUP BY product_id
)
SELECT u.product_id,
       coalesce(p.product_name, u.product_id) AS product_name,
       p.market_id,
       m.market_name,
       p.service_type,
       p.direction,
       p.standard_product,
       u.auction_result_rows,
       u.dispatch_rows,
       u.first_start_utc,
       u.last_start_utc
FROM per_product AS u
LEFT JOIN main.dim_product AS p ON p.product_id = u.product_id
LEFT JOIN main.dim_market AS m ON m.market_id = p.market_id
ORDER BY p.market_id NULLS LAST, u.product_id
"""


def products_with_data(db: ServingDB | None = None) -> pl.DataFrame:
    """Products that have auction results or dispatches, with their taxonomy and row counts."""
    return _db(db).query(_PRODUCTS_SQL)


def known_product_ids(db: ServingDB | None = None) -> set[str]:
    """Every product id in the taxonomy (dim_product) or in the facts."""
    frame = _db(db).query(
        "SELECT product_id FROM main.dim_product UNION SELECT product_id FROM main.fct_auction_result "
        "UNION SELECT product_id FROM main.fct_dispatch"
    )
    return {p for p in frame["product_id"].to_list() if p is not None}


def data_date_range(db: ServingDB | None = None) -> tuple[date, date] | None:
    """First and last GB local date with auction results or dispatches (None when both are empty)."""
    frame = _db(db).query(
        "SELECT min(t) AS first_utc, max(t) AS last_utc FROM ("
        "SELECT delivery_start_utc AS t FROM main.fct_auction_result "
        "UNION ALL SELECT start_utc FROM main.fct_dispatch)"
    )
    first, last = frame.row(0)
    if first is None:
        return None
    return first.astimezone(GB_TZ).date(), last.astimezone(GB_TZ).date()


# -- market trends ------------------------------------------------------------------------------
_AUCTION_TRENDS_SQL = """
WITH base AS (
    SELECT a.product_id,
           CAST(timezone('Europe/London', a.delivery_start_utc) AS DATE) AS local_date,
           CAST(a.cleared_volume_mw AS DOUBLE) AS mw,
           CAST(a.cleared_volume_mw AS DOUBLE) * (epoch(a.delivery_end_utc) - epoch(a.delivery_start_utc)) / 3600.0
               AS mwh,
           CAST(a.clearing_price_gbp_per_mw_h AS DOUBLE) AS price
    FROM main.fct_auction_result AS a
    WHERE (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), a.product_id))
      AND (CAST($start AS TIMESTAMPTZ) IS NULL OR a.delivery_start_utc >= CAST($start AS TIMESTAMPTZ))
      AND (CAST($end AS TIMESTAMPTZ) IS NULL OR a.delivery_start_utc < CAST($end AS TIMESTAMPTZ))
),
periods AS (
    SELECT CASE WHEN $granularity = 'month' THEN CAST(date_trunc('month', local_date) AS DATE)
                ELSE local_date END AS period_start,
           product_id, mw, mwh, price
    FROM base
)
SELECT t.period_start,
       t.product_id,
       coalesce(p.product_name, t.product_id) AS product_name,
       p.market_id,
       count(*) AS results,
       sum(t.mw) AS cleared_volume_mw,
       sum(t.mwh) AS cleared_volume_mwh,
       sum(t.price * t.mwh) FILTER (WHERE t.price IS NOT NULL AND t.mwh IS NOT NULL)
           / nullif(sum(t.mwh) FILTER (WHERE t.price IS NOT NULL AND t.mwh IS NOT NULL), 0)
           AS vwap_clearing_price_gbp_per_mw_h,
       avg(t.price) AS mean_clearing_price_gbp_per_mw_h,
       min(t.price) AS min_clearing_price_gbp_per_mw_h,
       max(t.price) AS max_clearing_price_gbp_per_mw_h
FROM periods AS t
LEFT JOIN main.dim_product AS p ON p.product_id = t.product_id
GROUP BY t.period_start, t.product_id, p.product_name, p.market_id
ORDER BY t.period_start, t.product_id
"""

_DISPATCH_TRENDS_SQL = """
WITH base AS (
    SELECT d.product_id,
           CAST(timezone('Europe/London', d.start_utc) AS DATE) AS local_date,
           CAST(d.energy_mwh AS DOUBLE) AS mwh,
           CAST(d.utilisation_price_gbp_per_mwh AS DOUBLE) AS price,
           CAST(d.availability_price_gbp_per_mw_h AS DOUBLE) AS availability_price
    FROM main.fct_dispatch AS d
    WHERE (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), d.product_id))
      AND (CAST($start AS TIMESTAMPTZ) IS NULL OR d.start_utc >= CAST($start AS TIMESTAMPTZ))
      AND (CAST($end AS TIMESTAMPTZ) IS NULL OR d.start_utc < CAST($end AS TIMESTAMPTZ))
),
periods AS (
    SELECT CASE WHEN $granularity = 'month' THEN CAST(date_trunc('month', local_date) AS DATE)
                ELSE local_date END AS period_start,
           product_id, mwh, price, availability_price
    FROM base
)
SELECT t.period_start,
       t.product_id,
       coalesce(p.product_name, t.product_id) AS product_name,
       p.market_id,
       count(*) AS dispatches,
       sum(t.mwh) AS utilisation_mwh,
       sum(t.price * t.mwh) FILTER (WHERE t.price IS NOT NULL AND t.mwh IS NOT NULL)
           / nullif(sum(t.mwh) FILTER (WHERE t.price IS NOT NULL AND t.mwh IS NOT NULL), 0)
           AS vwap_utilisation_price_gbp_per_mwh,
       avg(t.price) AS mean_utilisation_price_gbp_per_mwh,
       avg(t.availability_price) AS mean_availability_price_gbp_per_mw_h
FROM periods AS t
LEFT JOIN main.dim_product AS p ON p.product_id = t.product_id
GROUP BY t.period_start, t.product_id, p.product_name, p.market_id
ORDER BY t.period_start, t.product_id
"""


def _trend_params(
    granularity: str,
    product_ids: Iterable[str] | None,
    date_from: date | None,
    date_to: date | None,
) -> dict:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    if date_from is not None and date_to is not None and date_from >= date_to:
        raise ValueError(
            f"the date range is empty: date_from ({date_from}) must be before date_to ({date_to})"
        )
    return {
        "granularity": granularity,
        "product_ids": _product_list(product_ids),
        # Local-day bounds as exact UTC instants: half-open and able to use the start column's zonemaps.
        "start": gb_midnight_utc(date_from),
        "end": gb_midnight_utc(date_to),
    }


def auction_trends(
    granularity: Granularity = "day",
    product_ids: Iterable[str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """Auction prices and volumes per GB local day or month and product.

    ``date_to`` is exclusive. Columns: period_start, product_id, product_name, market_id, results,
    cleared_volume_mw (sum of MW over the results), cleared_volume_mwh (MW x block hours),
    vwap_clearing_price_gbp_per_mw_h (weighted by cleared MWh), mean/min/max clearing price.
    """
    params = _trend_params(granularity, product_ids, date_from, date_to)
    return _db(db).query(_AUCTION_TRENDS_SQL, params)


def dispatch_trends(
    granularity: Granularity = "day",
    product_ids: Iterable[str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """Dispatch volumes and prices per GB local day or month and product.

    ``date_to`` is exclusive. Columns: period_start, product_id, product_name, market_id,
    dispatches, utilisation_mwh, vwap_utilisation_price_gbp_per_mwh (weighted by MWh),
    mean_utilisation_price_gbp_per_mwh, mean_availability_price_gbp_per_mw_h.
    """
    params = _trend_params(granularity, product_ids, date_from, date_to)
    return _db(db).query(_DISPATCH_TRENDS_SQL, params)


# -- data ingestion (for data engineers) ---------------------------------------------------------
_INGEST_FILE_COLUMNS = (
    "source_id, file_name, status, reason, first_seen_at, rows_in, loaded, duplicates, superseded, "
    "quarantined, balanced"
)


def ingest_files(db: ServingDB | None = None) -> pl.DataFrame:
    """One row per landing file ever ingested: status, reason and the row-count identity."""
    with _db(db).session() as s:
        if not _table_exists(s, "meta_ingest_files"):
            return pl.DataFrame()
        return s.query(
            f"SELECT {_INGEST_FILE_COLUMNS} FROM main.meta_ingest_files "  # noqa: S608 - constant column list
            "ORDER BY source_id, first_seen_at, file_name"
        )


def ingest_summary(db: ServingDB | None = None) -> pl.DataFrame:
    """Per source: files, rejected files, rows in / loaded / duplicates / superseded / quarantined."""
    with _db(db).session() as s:
        if not _table_exists(s, "meta_ingest_files"):
            return pl.DataFrame()
        return s.query(
            "SELECT source_id, count(*) AS files, count(*) FILTER (WHERE status = 'rejected') AS files_rejected, "
            "sum(rows_in) AS rows_in, sum(loaded) AS loaded, sum(duplicates) AS duplicates, "
            "sum(superseded) AS superseded, sum(quarantined) AS quarantined, "
            "bool_and(balanced OR status = 'rejected') AS all_balanced "
            "FROM main.meta_ingest_files GROUP BY source_id ORDER BY source_id"
        )


def quarantined_rows(
    source_id: str | None = None, limit: int = 1000, db: ServingDB | None = None
) -> pl.DataFrame:
    """Rows sent to quarantine, with file, row, field, value and reason (newest files first)."""
    _check_page(limit, 0)
    with _db(db).session() as s:
        if not _table_exists(s, "meta_quarantined_rows"):
            return pl.DataFrame()
        return s.query(
            "SELECT source_id, source_file, source_row, field, value, reason, record "
            "FROM main.meta_quarantined_rows WHERE ($source_id IS NULL OR source_id = $source_id) "
            "ORDER BY source_id, source_file, source_row LIMIT $limit",
            {"source_id": source_id, "limit": limit},
        )


def quality_results(db: ServingDB | None = None) -> pl.DataFrame:
    """The latest Great Expectations result per source and expectation."""
    with _db(db).session() as s:
        if not _table_exists(s, "meta_quality_results"):
            return pl.DataFrame()
        return s.query(
            "SELECT source_id, validated_at, rows_validated, expectation, arguments, success, unexpected_count "
            "FROM main.meta_quality_results ORDER BY source_id, success, expectation"
        )


def unmapped_source_values(db: ServingDB | None = None) -> pl.DataFrame:
    """Source vocabulary the taxonomy does not map yet: kept under placeholder products, never dropped."""
    with _db(db).session() as s:
        if not _table_exists(s, "int_source_products_mapped", schema="intermediate"):
            return pl.DataFrame()
        return s.query(
            "SELECT source_id, field, market_id, source_value, product_id AS placeholder_product_id, row_count "
            "FROM intermediate.int_source_products_mapped WHERE NOT is_mapped ORDER BY row_count DESC, source_value"
        )


def unmatched_source_ids(db: ServingDB | None = None) -> pl.DataFrame:
    """Per-market asset ids the crosswalk could not tie to another id of the same physical asset."""
    with _db(db).session() as s:
        if not _table_exists(s, "int_unmatched_source_ids", schema="intermediate"):
            return pl.DataFrame()
        return s.query(
            "SELECT reason, ref_type, source_asset_ref, asset_id, detail, candidate_mpans, first_source_id, "
            "row_count FROM intermediate.int_unmatched_source_ids ORDER BY reason, ref_type, source_asset_ref"
        )
