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

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import polars as pl

from sfe.serving import ReadSession, ServingDB, get_db

GB_TZ = ZoneInfo("Europe/London")
T = TypeVar("T")
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


# -- published tables, declaratively (the API's /v1 dataset routes) -----------------------------
# SQL below is assembled from identifiers declared in TableSpec/ListFilter objects in code (checked
# against _IDENTIFIER when the spec is created) and from the published catalog; request values are
# only ever bound as parameters.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _ident(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain lower-case SQL identifier")
    return f'"{name}"'


def _in_dimension(column: str | None, dimension: str, key: str, condition: str) -> str:
    """``t.<column> IN (SELECT <key> FROM main.<dimension> WHERE <condition>)``.

    Every name comes from a spec, never from a request; values in ``condition`` are bound parameters.
    """
    return (
        f"t.{_ident(column or '')} IN (SELECT {_ident(key)} FROM main.{_ident(dimension)} WHERE {condition})"  # noqa: S608 - identifiers from specs
    )


class TableNotPublished(LookupError):
    """A table (or columns of it) that a query needs is not in the published warehouse yet."""

    def __init__(self, table: str, missing_columns: Iterable[str] = ()):
        self.table = table
        self.missing_columns = tuple(missing_columns)
        if self.missing_columns:
            message = (
                f"the published warehouse's {table} lacks the column(s) "
                f"{', '.join(self.missing_columns)}; a newer build publishes them"
            )
        else:
            message = f"the published warehouse has no table {table} yet; a newer build publishes it"
        super().__init__(message)


@dataclass(frozen=True)
class ListFilter:
    """Rows whose value is one of the requested ones, for one query parameter.

    ``via`` says where the value is looked up: ``self`` = a column of the table; ``market`` = the
    operator of the row's market (``dim_market.<column>`` for the table's ``market_id``);
    ``asset`` = an attribute of the row's asset (``dim_asset.<column>`` for the table's ``asset_id``).
    """

    param: str
    column: str
    via: Literal["self", "market", "asset"] = "self"

    def __post_init__(self) -> None:
        _ident(self.param)
        _ident(self.column)

    def predicate(self, spec: TableSpec, placeholder: str) -> str:
        values = f"CAST(${placeholder} AS VARCHAR[])"
        if self.via == "market":
            condition = f"list_contains({values}, {_ident(self.column)})"
            return _in_dimension(spec.market_column, "dim_market", "market_id", condition)
        if self.via == "asset":
            condition = f"list_contains({values}, {_ident(self.column)})"
            return _in_dimension(spec.asset_column, "dim_asset", "asset_id", condition)
        return f"list_contains({values}, t.{_ident(self.column)})"

    def needs(self, spec: TableSpec) -> dict[str, tuple[str, ...]]:
        """Tables and columns this filter reads (checked against the published catalog)."""
        if self.via == "market":
            return {spec.table: (spec.market_column or "",), "dim_market": ("market_id", self.column)}
        if self.via == "asset":
            return {spec.table: (spec.asset_column or "",), "dim_asset": ("asset_id", self.column)}
        return {spec.table: (self.column,)}


@dataclass(frozen=True)
class RowScope:
    """Which rows of per-asset data a caller may read. ``everything`` for admins.

    - ``organisation_id``: an FSP sees rows of the assets its organisation registered
      (``dim_asset.organisation_id``).
    - ``operator_id``: a system operator sees rows in the markets it operates and rows of assets in
      its area (``dno_areas``; ``None`` = a national operator, whose area is all of Great Britain).
    """

    everything: bool = False
    organisation_id: int | None = None
    operator_id: str | None = None
    dno_areas: tuple[str, ...] | None = None


OWNERSHIP_COLUMN = "organisation_id"  # dim_asset column naming the registering organisation


@dataclass(frozen=True)
class TableSpec:
    """What the API may read from one published table, and how it is filtered and ordered."""

    table: str
    columns: tuple[str, ...]
    order_by: tuple[str, ...]
    time_column: str | None = None
    time_kind: Literal["instant", "date"] = "instant"
    filters: tuple[ListFilter, ...] = ()
    asset_column: str | None = None
    market_column: str | None = None

    def __post_init__(self) -> None:
        for name in (self.table, *self.columns, *self.order_by):
            _ident(name)
        for name in (self.time_column, self.asset_column, self.market_column):
            if name is not None:
                _ident(name)
        params = [f.param for f in self.filters]
        if len(set(params)) != len(params):
            raise ValueError(f"{self.table}: duplicate filter parameters {params}")

    def filter(self, param: str) -> ListFilter:
        return next(f for f in self.filters if f.param == param)

    def needs(self, filters: Iterable[str] = (), scope: RowScope | None = None) -> dict[str, set[str]]:
        needed: dict[str, set[str]] = {self.table: {*self.columns, *self.order_by}}
        if self.time_column:
            needed[self.table].add(self.time_column)
        for param in filters:
            for table, columns in self.filter(param).needs(self).items():
                needed.setdefault(table, set()).update(columns)
        if scope is not None and not scope.everything:
            for table, columns in self._scope_needs(scope).items():
                needed.setdefault(table, set()).update(columns)
        return needed

    def _scope_needs(self, scope: RowScope) -> dict[str, tuple[str, ...]]:
        if scope.organisation_id is not None:
            return {self.table: (self.asset_column or "",), "dim_asset": ("asset_id", OWNERSHIP_COLUMN)}
        needs: dict[str, tuple[str, ...]] = {}
        if self.market_column:
            needs["dim_market"] = ("market_id", "operator_id")
        if self.asset_column and scope.dno_areas is not None:
            needs["dim_asset"] = ("asset_id", "dno_area")
        needs[self.table] = tuple(c for c in (self.market_column, self.asset_column) if c)
        return needs

    def scope_predicate(self, scope: RowScope | None) -> tuple[str | None, dict[str, Any]]:
        """SQL restricting the rows to the scope (None = no restriction) and its parameters."""
        if scope is None or scope.everything:
            return None, {}
        if self.asset_column is None and self.market_column is None:
            raise ValueError(f"{self.table} has neither an asset nor a market column to scope rows by")
        if scope.organisation_id is not None:
            if self.asset_column is None:
                return "FALSE", {}
            return (
                _in_dimension(
                    self.asset_column,
                    "dim_asset",
                    "asset_id",
                    f"{_ident(OWNERSHIP_COLUMN)} = $scope_organisation_id",
                ),
                {"scope_organisation_id": scope.organisation_id},
            )
        if scope.operator_id is None:
            return "FALSE", {}  # a scope naming nobody sees nothing
        if scope.dno_areas is None and self.asset_column is not None:
            return None, {}  # a national operator: every asset is in its area
        parts, params = [], {}
        if self.market_column is not None:
            parts.append(
                _in_dimension(
                    self.market_column, "dim_market", "market_id", "operator_id = $scope_operator_id"
                )
            )
            params["scope_operator_id"] = scope.operator_id
        if self.asset_column is not None and scope.dno_areas is not None:
            parts.append(
                _in_dimension(
                    self.asset_column,
                    "dim_asset",
                    "asset_id",
                    "list_contains(CAST($scope_dno_areas AS VARCHAR[]), dno_area)",
                )
            )
            params["scope_dno_areas"] = list(scope.dno_areas)
        return "(" + " OR ".join(parts) + ")", params


_publish_cache_lock = threading.Lock()
_publish_cache: dict[tuple[str, str], Any] = {}


def _per_publish(s: ReadSession, key: str, compute: Callable[[], T]) -> T:
    """``compute()`` once per publish (the file identity changes with every publish)."""
    cache_key = (s.publish_version, key)
    try:
        return _publish_cache[cache_key]
    except KeyError:
        pass
    value = compute()
    with _publish_cache_lock:
        if len(_publish_cache) > 256:  # entries of replaced publishes
            _publish_cache.clear()
        _publish_cache[cache_key] = value
    return value


def published_columns(s: ReadSession) -> dict[str, tuple[str, ...]]:
    """Table -> column names in the ``main`` schema of the publish ``s`` reads."""

    def load() -> dict[str, tuple[str, ...]]:
        frame = s.query(
            "SELECT table_name, list(column_name ORDER BY column_index) AS columns FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'main' GROUP BY table_name"
        )
        return {row[0]: tuple(row[1]) for row in frame.iter_rows()}

    return _per_publish(s, "catalog", load)


def _require(s: ReadSession, needed: dict[str, set[str]]) -> None:
    catalog = published_columns(s)
    for table, columns in needed.items():
        have = catalog.get(table)
        if have is None:
            raise TableNotPublished(table)
        missing = sorted(set(columns) - set(have))
        if missing:
            raise TableNotPublished(table, missing)


def is_published(table: str, db: ServingDB | None = None) -> bool:
    with _db(db).session() as s:
        return table in published_columns(s)


def _ceil_day(instant: datetime | None) -> date | None:
    """The first UTC day whose midnight is at or after ``instant``."""
    if instant is None:
        return None
    day = instant.date()
    return day if instant.timetz() == time(0, tzinfo=UTC) else day + timedelta(days=1)


def _time_bounds(
    spec: TableSpec, start: datetime | None, end: datetime | None
) -> tuple[list[str], dict[str, Any]]:
    if spec.time_column is None or (start is None and end is None):
        return [], {}
    col = f"t.{_ident(spec.time_column)}"
    where, params = [], {}
    if spec.time_kind == "date":
        # A date column holds UTC days; the day's instant is its midnight, so [from, to) keeps the
        # days whose midnight falls inside: day >= ceil(from) and day < ceil(to).
        if start is not None:
            where.append(f"{col} >= CAST($start AS DATE)")
            params["start"] = _ceil_day(start)
        if end is not None:
            where.append(f"{col} < CAST($end AS DATE)")
            params["end"] = _ceil_day(end)
        return where, params
    if start is not None:
        where.append(f"{col} >= CAST($start AS TIMESTAMPTZ)")
        params["start"] = start
    if end is not None:
        where.append(f"{col} < CAST($end AS TIMESTAMPTZ)")
        params["end"] = end
    return where, params


def table_page(
    spec: TableSpec,
    filters: dict[str, Iterable[str]] | None = None,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    scope: RowScope | None = None,
    db: ServingDB | None = None,
) -> Page:
    """One page of ``spec.table``: the spec's columns, rows with the time column in [start, end),
    matching every given filter (values of one filter are alternatives) and inside ``scope``.

    Raises TableNotPublished when the publish lacks the table or a column the query needs.
    """
    _check_page(limit, offset)
    start_utc, end_utc = to_utc(start), to_utc(end)
    _check_range(start_utc, end_utc)
    given = {p: sorted({v for v in values if v}) for p, values in (filters or {}).items() if values}
    given = {p: v for p, v in given.items() if v}
    where, params = _time_bounds(spec, start_utc, end_utc)
    for i, (param, values) in enumerate(sorted(given.items())):
        where.append(spec.filter(param).predicate(spec, f"f{i}"))
        params[f"f{i}"] = values
    scope_sql, scope_params = spec.scope_predicate(scope)
    if scope_sql:
        where.append(scope_sql)
        params.update(scope_params)
    body = f" FROM main.{_ident(spec.table)} AS t" + (" WHERE " + " AND ".join(where) if where else "")
    columns = ", ".join(f"t.{_ident(c)}" for c in spec.columns)
    order = ", ".join(f"t.{_ident(c)}" for c in spec.order_by)
    with _db(db).session() as s:  # one cursor: rows and total come from the same publish
        _require(s, spec.needs(given, scope))
        total = int(s.scalar("SELECT count(*)" + body, params or None))
        rows = s.query(
            f"SELECT {columns}{body} ORDER BY {order} LIMIT $limit OFFSET $offset",  # noqa: S608 - identifiers from the spec
            {**params, "limit": limit, "offset": offset},
        )
    return Page(rows=rows, total=total, limit=limit, offset=offset)


AUCTION_RESULTS = TableSpec(
    table="fct_auction_result",
    columns=AUCTION_RESULT_COLUMNS,
    order_by=("delivery_start_utc", "product_id", "auction_result_id"),
    time_column="delivery_start_utc",
    filters=(
        ListFilter("product_id", "product_id"),
        ListFilter("market_id", "market_id"),
        ListFilter("operator_id", "operator_id", via="market"),
    ),
    market_column="market_id",
)

DISPATCHES = TableSpec(
    table="fct_dispatch",
    columns=DISPATCH_COLUMNS,
    order_by=("start_utc", "dispatch_id"),
    time_column="start_utc",
    filters=(
        ListFilter("product_id", "product_id"),
        ListFilter("market_id", "market_id"),
        ListFilter("operator_id", "operator_id", via="market"),
        ListFilter("asset_id", "asset_id"),
        ListFilter("participant_id", "participant_id"),
        ListFilter("asset_type", "asset_type", via="asset"),
        ListFilter("size_band", "size_band", via="asset"),
    ),
    asset_column="asset_id",
    market_column="market_id",
)


def auction_results(
    product_ids: Iterable[str] | None = None,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    db: ServingDB | None = None,
) -> Page:
    """Auction results (fct_auction_result) with delivery_start_utc in [start, end), stable order."""
    return table_page(AUCTION_RESULTS, {"product_id": product_ids or ()}, start, end, limit, offset, db=db)


def dispatches(
    product_ids: Iterable[str] | None = None,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    db: ServingDB | None = None,
) -> Page:
    """Dispatches (fct_dispatch) with start_utc in [start, end), stable order."""
    return table_page(DISPATCHES, {"product_id": product_ids or ()}, start, end, limit, offset, db=db)


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
    """Every product id in the taxonomy (dim_product) or in the facts (cached per publish)."""

    def load(s: ReadSession) -> frozenset[str]:
        frame = s.query(
            "SELECT product_id FROM main.dim_product UNION SELECT product_id FROM main.fct_auction_result "
            "UNION SELECT product_id FROM main.fct_dispatch"
        )
        return frozenset(p for p in frame["product_id"].to_list() if p is not None)

    with _db(db).session() as s:
        return set(_per_publish(s, "product_ids", lambda: load(s)))


def known_markets(db: ServingDB | None = None) -> pl.DataFrame:
    """dim_market's market_id and operator_id (cached per publish)."""
    with _db(db).session() as s:
        return _per_publish(
            s,
            "markets",
            lambda: s.query("SELECT market_id, operator_id FROM main.dim_market ORDER BY market_id"),
        )


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


# -- forecast inputs (UC25, UC28) ---------------------------------------------------------------
ForecastGranularity = Literal["window", "day", "month"]
FORECAST_GRANULARITIES: tuple[str, ...] = ("window", "day", "month")

_FORECAST_MART_SQL = """
WITH m AS (
    SELECT period_start, product_id, market_id, activity, record_count, n_units, volume_mw, volume_mwh,
           vwap_availability_price_gbp_per_mw_h AS pa, vwap_utilisation_price_gbp_per_mwh AS pu
    FROM main.mart_market_trends
    WHERE period_grain = $granularity
      AND (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), product_id))
      AND (CAST($asset_types AS VARCHAR[]) IS NULL OR list_contains(CAST($asset_types AS VARCHAR[]), asset_type))
      AND (CAST($size_bands AS VARCHAR[]) IS NULL OR list_contains(CAST($size_bands AS VARCHAR[]), size_band))
      AND (CAST($start_day AS DATE) IS NULL OR period_start >= CAST($start_day AS DATE))
      AND (CAST($end_day AS DATE) IS NULL OR period_start < CAST($end_day AS DATE))
)
SELECT timezone('UTC', CAST(period_start AS TIMESTAMP)) AS period_start_utc,
       timezone('UTC', CAST(period_start AS TIMESTAMP)
           + CASE WHEN $granularity = 'month' THEN INTERVAL 1 MONTH ELSE INTERVAL 1 DAY END) AS period_end_utc,
       product_id,
       market_id,
       activity,
       CAST(sum(record_count) AS BIGINT) AS records,
       CAST(sum(n_units) AS BIGINT) AS units,
       sum(volume_mw) AS volume_mw,
       sum(volume_mwh) AS volume_mwh,
       sum(pa * volume_mwh) FILTER (WHERE pa IS NOT NULL AND volume_mwh IS NOT NULL)
           / nullif(sum(volume_mwh) FILTER (WHERE pa IS NOT NULL AND volume_mwh IS NOT NULL), 0)
           AS availability_price_gbp_per_mw_h,
       sum(pu * volume_mwh) FILTER (WHERE pu IS NOT NULL AND volume_mwh IS NOT NULL)
           / nullif(sum(volume_mwh) FILTER (WHERE pu IS NOT NULL AND volume_mwh IS NOT NULL), 0)
           AS utilisation_price_gbp_per_mwh
FROM m
GROUP BY period_start, product_id, market_id, activity
ORDER BY period_start_utc, product_id, activity
"""

_FORECAST_WINDOW_FILTER = """
FROM main.fct_auction_result AS a
WHERE (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), a.product_id))
  AND (CAST($start AS TIMESTAMPTZ) IS NULL OR a.delivery_start_utc >= CAST($start AS TIMESTAMPTZ))
  AND (CAST($end AS TIMESTAMPTZ) IS NULL OR a.delivery_start_utc < CAST($end AS TIMESTAMPTZ))
"""

_FORECAST_WINDOW_SQL = (
    """
SELECT a.delivery_start_utc AS period_start_utc,
       a.delivery_end_utc AS period_end_utc,
       a.product_id,
       a.market_id,
       'auction_result' AS activity,
       CAST(1 AS BIGINT) AS records,
       CAST(NULL AS BIGINT) AS units,
       CAST(a.cleared_volume_mw AS DOUBLE) AS volume_mw,
       CAST(a.cleared_volume_mw AS DOUBLE) * (epoch(a.delivery_end_utc) - epoch(a.delivery_start_utc)) / 3600.0
           AS volume_mwh,
       CAST(a.clearing_price_gbp_per_mw_h AS DOUBLE) AS availability_price_gbp_per_mw_h,
       CAST(NULL AS DOUBLE) AS utilisation_price_gbp_per_mwh"""
    + _FORECAST_WINDOW_FILTER
    + "ORDER BY a.delivery_start_utc, a.product_id, a.auction_result_id"
)
_FORECAST_WINDOW_COUNT_SQL = "SELECT count(*) AS n" + _FORECAST_WINDOW_FILTER

# Public participation only: NESO publishes its unit results and dispatches are public; bids are not.
_FORECAST_ASSETS_SQL = """
WITH activity AS (
    SELECT asset_id, product_id, 'auction_result' AS activity, count(*) AS records,
           sum(executed_volume_mwh) AS volume_mwh,
           min(delivery_start_utc) AS first_active_utc, max(delivery_start_utc) AS last_active_utc
    FROM main.fct_auction_unit_result
    WHERE asset_id IS NOT NULL
      AND (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), product_id))
      AND (CAST($start AS TIMESTAMPTZ) IS NULL OR delivery_start_utc >= CAST($start AS TIMESTAMPTZ))
      AND (CAST($end AS TIMESTAMPTZ) IS NULL OR delivery_start_utc < CAST($end AS TIMESTAMPTZ))
    GROUP BY asset_id, product_id
    UNION ALL
    SELECT asset_id, product_id, 'dispatch', count(*), sum(energy_mwh), min(start_utc), max(start_utc)
    FROM main.fct_dispatch
    WHERE asset_id IS NOT NULL
      AND (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), product_id))
      AND (CAST($start AS TIMESTAMPTZ) IS NULL OR start_utc >= CAST($start AS TIMESTAMPTZ))
      AND (CAST($end AS TIMESTAMPTZ) IS NULL OR start_utc < CAST($end AS TIMESTAMPTZ))
    GROUP BY asset_id, product_id
)
SELECT a.asset_id, d.asset_type, d.size_band, d.capacity_mw, d.dno_area, d.gsp_group, d.flex_zone,
       a.product_id, a.activity, a.records, a.volume_mwh, a.first_active_utc, a.last_active_utc
FROM activity AS a
JOIN main.dim_asset AS d ON d.asset_id = a.asset_id
WHERE (CAST($asset_types AS VARCHAR[]) IS NULL OR list_contains(CAST($asset_types AS VARCHAR[]), d.asset_type))
  AND (CAST($size_bands AS VARCHAR[]) IS NULL OR list_contains(CAST($size_bands AS VARCHAR[]), d.size_band))
ORDER BY a.asset_id, a.product_id, a.activity
"""

_FORECAST_PRODUCTS_SQL = """
SELECT p.product_id, p.product_name, p.market_id, m.operator_id, p.service_type, p.direction, p.standard_product
FROM main.dim_product AS p
LEFT JOIN main.dim_market AS m ON m.market_id = p.market_id
WHERE list_contains(CAST($product_ids AS VARCHAR[]), p.product_id)
ORDER BY p.product_id
"""


@dataclass(frozen=True)
class ForecastInputs:
    products: pl.DataFrame  # the taxonomy of the products in the price history
    price_history: pl.DataFrame  # per period x product x activity: volumes and volume-weighted prices
    asset_features: pl.DataFrame  # per asset x product x activity: features and public participation


def forecast_inputs(
    granularity: ForecastGranularity = "day",
    product_ids: Iterable[str] | None = None,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    asset_types: Iterable[str] | None = None,
    size_bands: Iterable[str] | None = None,
    max_rows: int = MAX_LIMIT,
    db: ServingDB | None = None,
) -> ForecastInputs:
    """What a third-party forecaster needs, from one publish.

    Price history: ``window`` = every auction result (clearing price and cleared volume per delivery
    window, fct_auction_result); ``day``/``month`` = mart_market_trends summed over asset types and
    size bands (or only the given ones), with MWh-weighted prices, per UTC day/month, product and
    activity. Periods start in [start, end). Asset features: every asset (dim_asset) with public
    activity in those products and that range: auction unit results and dispatches.

    Raises ValueError when the price history would exceed ``max_rows`` or the arguments conflict,
    TableNotPublished when a table it reads is missing.
    """
    if granularity not in FORECAST_GRANULARITIES:
        raise ValueError(
            f"granularity must be one of {', '.join(FORECAST_GRANULARITIES)}, got {granularity!r}"
        )
    start_utc, end_utc = to_utc(start), to_utc(end)
    _check_range(start_utc, end_utc)
    asset_type_list, size_band_list = _product_list(asset_types), _product_list(size_bands)
    if granularity == "window" and (asset_type_list or size_band_list):
        raise ValueError(
            "granularity 'window' is the market's clearing result, which has no asset type or size band; "
            "use granularity 'day' or 'month' to filter by asset_type or size_band"
        )
    params = {
        "product_ids": _product_list(product_ids),
        "start": start_utc,
        "end": end_utc,
        "asset_types": asset_type_list,
        "size_bands": size_band_list,
    }
    history_tables = (
        {"fct_auction_result": set()} if granularity == "window" else {"mart_market_trends": set()}
    )
    with _db(db).session() as s:
        _require(
            s,
            {
                **history_tables,
                "fct_auction_unit_result": set(),
                "fct_dispatch": set(),
                "dim_asset": set(),
                "dim_product": set(),
                "dim_market": set(),
            },
        )
        if granularity == "window":
            history_params = {k: params[k] for k in ("product_ids", "start", "end")}
            rows = int(s.scalar(_FORECAST_WINDOW_COUNT_SQL, history_params))
            if rows > max_rows:
                raise ValueError(
                    f"the price history has {rows} auction results, more than {max_rows}: narrow product_id "
                    "or from/to, use granularity 'day', or page through /v1/auction-results"
                )
            history = s.query(_FORECAST_WINDOW_SQL, history_params)
        else:
            history_params = {
                "granularity": granularity,
                "product_ids": params["product_ids"],
                "asset_types": asset_type_list,
                "size_bands": size_band_list,
                "start_day": _ceil_day(start_utc),
                "end_day": _ceil_day(end_utc),
            }
            history = s.query(_FORECAST_MART_SQL, history_params)
            if history.height > max_rows:
                raise ValueError(
                    f"the price history has {history.height} rows, more than {max_rows}: narrow product_id "
                    "or from/to, or use granularity 'month'"
                )
        assets = s.query(_FORECAST_ASSETS_SQL, params)
        in_use = sorted(set(history["product_id"].to_list()) | set(assets["product_id"].to_list()))
        products = s.query(_FORECAST_PRODUCTS_SQL, {"product_ids": in_use})
    return ForecastInputs(products=products, price_history=history, asset_features=assets)
