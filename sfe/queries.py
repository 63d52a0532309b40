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
    as_text: bool = False  # a number, date or boolean column, compared as text (e.g. year=2025)

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
        if self.as_text:  # only then: a cast on a text column would cost a scan of conversions
            return f"list_contains({values}, CAST(t.{_ident(self.column)} AS VARCHAR))"
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

    - ``organisation_id``: an FSP sees the rows of the assets its organisation registered
      (``registry_asset_ids``, matched to ``dim_asset.registry_asset_id``) and rows naming its
      organisation.
    - ``operator_id``: a system operator sees rows in the markets it operates and rows of assets in
      its area (``dno_areas``; ``None`` = a national operator, whose area is all of Great Britain).
    """

    everything: bool = False
    organisation_id: int | None = None
    registry_asset_ids: tuple[str, ...] = ()
    operator_id: str | None = None
    dno_areas: tuple[str, ...] | None = None


REGISTRY_ID_COLUMN = "registry_asset_id"  # dim_asset: the asset's id in the registry, when registered


@dataclass(frozen=True)
class Ownership:
    """How the rows of a per-asset table belong to providers and system operators (any column may
    match). A provider (FSP) sees the rows of ``asset_columns`` whose asset its organisation
    registered, and rows whose ``organisation_column`` is its organisation. A system operator sees
    rows in the markets it runs (``market_columns``), rows naming it (``operator_columns``), and
    rows of assets in its area (``asset_columns`` via dim_asset.dno_area, ``area_column`` directly).
    """

    asset_columns: tuple[str, ...] = ()
    organisation_column: str | None = None
    market_columns: tuple[str, ...] = ()
    operator_columns: tuple[str, ...] = ()
    area_column: str | None = None

    def __post_init__(self) -> None:
        for name in (*self.asset_columns, *self.market_columns, *self.operator_columns):
            _ident(name)
        for name in (self.organisation_column, self.area_column):
            if name is not None:
                _ident(name)

    @property
    def has_area(self) -> bool:
        return bool(self.asset_columns) or self.area_column is not None

    def predicate(self, scope: RowScope) -> tuple[str | None, dict[str, Any], dict[str, set[str]]]:
        """SQL restricting rows to ``scope`` (None = every row), its parameters, and the columns it
        reads (table '' = the scoped table itself)."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        needs: dict[str, set[str]] = {"": set()}
        if scope.everything:
            return None, params, needs
        if scope.organisation_id is not None:
            if self.asset_columns:
                params["scope_registry_ids"] = list(scope.registry_asset_ids)
                condition = (
                    f"list_contains(CAST($scope_registry_ids AS VARCHAR[]), {_ident(REGISTRY_ID_COLUMN)})"
                )
            for column in self.asset_columns:
                parts.append(_in_dimension(column, "dim_asset", "asset_id", condition))
                needs[""].add(column)
                needs.setdefault("dim_asset", set()).update({"asset_id", REGISTRY_ID_COLUMN})
            if self.organisation_column is not None:
                params["scope_organisation_id"] = scope.organisation_id
                parts.append(f"t.{_ident(self.organisation_column)} = $scope_organisation_id")
                needs[""].add(self.organisation_column)
        elif scope.operator_id is not None:
            if scope.dno_areas is None and self.has_area:
                return None, {}, needs  # a national operator: every asset is in its area
            if self.market_columns or self.operator_columns:
                params["scope_operator_id"] = scope.operator_id
            for column in self.market_columns:
                parts.append(
                    _in_dimension(column, "dim_market", "market_id", "operator_id = $scope_operator_id")
                )
                needs[""].add(column)
                needs.setdefault("dim_market", set()).update({"market_id", "operator_id"})
            for column in self.operator_columns:
                parts.append(f"t.{_ident(column)} = $scope_operator_id")
                needs[""].add(column)
            if scope.dno_areas is not None and self.has_area:
                params["scope_dno_areas"] = list(scope.dno_areas)
                areas = "CAST($scope_dno_areas AS VARCHAR[])"
                for column in self.asset_columns:
                    parts.append(
                        _in_dimension(column, "dim_asset", "asset_id", f"list_contains({areas}, dno_area)")
                    )
                    needs[""].add(column)
                    needs.setdefault("dim_asset", set()).update({"asset_id", "dno_area"})
                if self.area_column is not None:
                    parts.append(f"list_contains({areas}, t.{_ident(self.area_column)})")
                    needs[""].add(self.area_column)
        if not parts:
            return "FALSE", {}, needs  # nothing of this table belongs to the caller
        return "(" + " OR ".join(parts) + ")", params, needs


@dataclass(frozen=True)
class TableSpec:
    """What the API may read from one published table, and how it is filtered and ordered.

    ``asset_column``/``market_column`` serve the asset and market filters (and, without an explicit
    ``ownership``, say whose rows they are). ``min_count`` = (column, n) publishes only rows whose
    column is at least n (aggregates resting on fewer members would reveal one member).
    """

    table: str
    columns: tuple[str, ...]
    order_by: tuple[str, ...]
    time_column: str | None = None
    time_kind: Literal["instant", "date"] = "instant"
    filters: tuple[ListFilter, ...] = ()
    asset_column: str | None = None
    market_column: str | None = None
    ownership: Ownership | None = None
    min_count: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        for name in (self.table, *self.columns, *self.order_by):
            _ident(name)
        for name in (self.time_column, self.asset_column, self.market_column):
            if name is not None:
                _ident(name)
        if self.min_count is not None:
            _ident(self.min_count[0])
        params = [f.param for f in self.filters]
        if len(set(params)) != len(params):
            raise ValueError(f"{self.table}: duplicate filter parameters {params}")

    @property
    def owners(self) -> Ownership:
        if self.ownership is not None:
            return self.ownership
        return Ownership(
            asset_columns=(self.asset_column,) if self.asset_column else (),
            market_columns=(self.market_column,) if self.market_column else (),
        )

    def filter(self, param: str) -> ListFilter:
        return next(f for f in self.filters if f.param == param)

    def needs(self, filters: Iterable[str] = (), scope: RowScope | None = None) -> dict[str, set[str]]:
        needed: dict[str, set[str]] = {self.table: {*self.columns, *self.order_by}}
        if self.time_column:
            needed[self.table].add(self.time_column)
        if self.min_count is not None:
            needed[self.table].add(self.min_count[0])
        for param in filters:
            for table, columns in self.filter(param).needs(self).items():
                needed.setdefault(table, set()).update(columns)
        if scope is not None:
            for table, columns in self.owners.predicate(scope)[2].items():
                needed.setdefault(table or self.table, set()).update(columns)
        return needed

    def scope_predicate(self, scope: RowScope | None) -> tuple[str | None, dict[str, Any]]:
        """SQL restricting the rows to the scope (None = no restriction) and its parameters."""
        if scope is None:
            return None, {}
        sql, params, _ = self.owners.predicate(scope)
        return sql, params


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


@dataclass(frozen=True)
class PageQuery:
    """The statements behind one page of a table: the total, and the rows (``rows_params`` adds
    limit and offset). ``needs`` = the tables and columns they read."""

    count_sql: str
    rows_sql: str
    params: dict[str, Any]
    rows_params: dict[str, Any]
    needs: dict[str, set[str]]


def page_query(
    spec: TableSpec,
    filters: dict[str, Iterable[str]] | None = None,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    scope: RowScope | None = None,
) -> PageQuery:
    """The parameterised SQL of ``table_page`` (benchmarks run the same statements directly)."""
    _check_page(limit, offset)
    start_utc, end_utc = to_utc(start), to_utc(end)
    _check_range(start_utc, end_utc)
    given = {p: sorted({v for v in values if v}) for p, values in (filters or {}).items() if values}
    given = {p: v for p, v in given.items() if v}
    where, params = _time_bounds(spec, start_utc, end_utc)
    for i, (param, values) in enumerate(sorted(given.items())):
        where.append(spec.filter(param).predicate(spec, f"f{i}"))
        params[f"f{i}"] = values
    if spec.min_count is not None:
        where.append(f"t.{_ident(spec.min_count[0])} >= $min_count")
        params["min_count"] = spec.min_count[1]
    scope_sql, scope_params = spec.scope_predicate(scope)
    if scope_sql:
        where.append(scope_sql)
        params.update(scope_params)
    body = f" FROM main.{_ident(spec.table)} AS t" + (" WHERE " + " AND ".join(where) if where else "")
    columns = ", ".join(f"t.{_ident(c)}" for c in spec.columns)
    order = ", ".join(f"t.{_ident(c)}" for c in spec.order_by)
    return PageQuery(
        count_sql="SELECT count(*)" + body,
        rows_sql=f"SELECT {columns}{body} ORDER BY {order} LIMIT $limit OFFSET $offset",  # noqa: S608 - identifiers from the spec
        params=params,
        rows_params={**params, "limit": limit, "offset": offset},
        needs=spec.needs(given, scope),
    )


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
    query = page_query(spec, filters, start, end, limit, offset, scope)
    with _db(db).session() as s:  # one cursor: rows and total come from the same publish
        _require(s, query.needs)
        rows = s.query(query.rows_sql, query.rows_params)
        total = total_of_page(rows.height, limit, offset)
        if total is None:
            total = int(s.scalar(query.count_sql, query.params or None))
    return Page(rows=rows, total=total, limit=limit, offset=offset)


def total_of_page(rows: int, limit: int, offset: int) -> int | None:
    """The total a page implies without counting: a page that is not full is the last one (or the
    only one). None when it cannot tell (a full page, or an empty one past the end)."""
    if rows < limit and (rows > 0 or offset == 0):
        return offset + rows
    return None


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


# ================================================================================================
# Analytics pages (dashboards/pages: market trends, asset value, trade/dispatch/settlement, DER
# positions, dispatch transparency). They read the pre-aggregated analytics marts (mart_*); a mart
# that an older publish lacks raises TableNotPublished. Grouping/ordering choices below are picked
# from constant SQL fragments by key, never built from request values.
# ================================================================================================
TREND_ACTIVITIES: tuple[str, ...] = ("auction_result", "dispatch", "contract")
TREND_BREAKDOWNS: tuple[str, ...] = ("product", "market", "asset_type", "size_band")

# breakdown -> (key expression, label expression, sort expression) over mart_market_trends AS t
# joined with dim_product p, dim_market m, taxonomy.asset_types a, taxonomy.size_bands b.
_TREND_GROUPS = {
    "product": (
        "t.product_id",
        "coalesce(p.product_name, t.product_id) || ' (' || upper(coalesce(m.operator_id, t.market_id)) || ')'",
        "t.market_id || '|' || t.product_id",
    ),
    "market": ("t.market_id", "coalesce(m.market_name, t.market_id)", "t.market_id"),
    "asset_type": (
        "t.asset_type",
        "coalesce(a.asset_type_name, t.asset_type)",
        "CASE WHEN t.asset_type IN ('unknown', 'other') THEN 'zz' || t.asset_type ELSE t.asset_type END",
    ),
    "size_band": (
        "t.size_band",
        "coalesce(b.size_band_name, t.size_band)",
        "lpad(CAST(CAST(coalesce(b.min_mw, 1e9) * 1000 AS BIGINT) AS VARCHAR), 16, '0')",
    ),
}

_TREND_JOINS = """
FROM main.mart_market_trends AS t
LEFT JOIN main.dim_product AS p ON p.product_id = t.product_id
LEFT JOIN main.dim_market AS m ON m.market_id = t.market_id
LEFT JOIN taxonomy.asset_types AS a ON a.asset_type = t.asset_type
LEFT JOIN taxonomy.size_bands AS b ON b.size_band = t.size_band
"""

_TREND_FILTER = """
WHERE t.period_grain = $grain
  AND (CAST($market_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($market_ids AS VARCHAR[]), t.market_id))
  AND (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), t.product_id))
  AND (CAST($asset_types AS VARCHAR[]) IS NULL OR list_contains(CAST($asset_types AS VARCHAR[]), t.asset_type))
  AND (CAST($size_bands AS VARCHAR[]) IS NULL OR list_contains(CAST($size_bands AS VARCHAR[]), t.size_band))
"""

# Prices are re-weighted by MWh when rows of the mart are combined (the mart's own weights: MWh).
_TREND_MEASURES = """
       CAST(sum(t.record_count) AS BIGINT) AS records,
       CAST(sum(t.n_units) AS BIGINT) AS units,
       sum(t.volume_mw) AS volume_mw,
       sum(t.volume_mwh) AS volume_mwh,
       sum(t.vwap_availability_price_gbp_per_mw_h * t.volume_mwh)
           / nullif(sum(t.volume_mwh) FILTER (WHERE t.vwap_availability_price_gbp_per_mw_h IS NOT NULL), 0)
           AS vwap_availability_price_gbp_per_mw_h,
       sum(t.vwap_utilisation_price_gbp_per_mwh * t.volume_mwh)
           / nullif(sum(t.volume_mwh) FILTER (WHERE t.vwap_utilisation_price_gbp_per_mwh IS NOT NULL), 0)
           AS vwap_utilisation_price_gbp_per_mwh
"""


def _require_tables(s: ReadSession, *tables: str) -> None:
    catalog = published_columns(s)
    for table in tables:
        if table not in catalog:
            raise TableNotPublished(table)


def _choice(value: str, allowed: Iterable[str], what: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _id_list(values: Iterable[str] | None) -> list[str] | None:
    """None (no filter) for None; an explicit list otherwise (an empty list matches nothing)."""
    if values is None:
        return None
    return sorted({v for v in values if v is not None})


@dataclass(frozen=True)
class TrendOptions:
    """What the market-trends filters can offer: the values present in mart_market_trends."""

    markets: pl.DataFrame  # market_id, market_name
    products: pl.DataFrame  # product_id, product_label, market_id
    asset_types: pl.DataFrame  # asset_type, asset_type_label
    size_bands: pl.DataFrame  # size_band, size_band_label (smallest first)
    first_day: date | None
    last_day: date | None


def market_trend_options(db: ServingDB | None = None) -> TrendOptions:
    """Markets, products, asset types, size bands and the day range present in mart_market_trends."""
    with _db(db).session() as s:
        _require_tables(s, "mart_market_trends")
        groups = {}
        for name, (key, label, order) in _TREND_GROUPS.items():
            groups[name] = s.query(
                f"SELECT {key} AS value, any_value({label}) AS label, any_value(t.market_id) AS market_id "  # noqa: S608 - constant fragments
                f"{_TREND_JOINS} GROUP BY {key}, {order} ORDER BY {order}"
            )
        span = s.query(
            "SELECT min(period_start) AS first_day, max(period_start) AS last_day "
            "FROM main.mart_market_trends WHERE period_grain = 'day'"
        ).row(0)
    return TrendOptions(
        markets=groups["market"].select(market_id="value", market_name="label"),
        products=groups["product"].select(product_id="value", product_label="label", market_id="market_id"),
        asset_types=groups["asset_type"].select(asset_type="value", asset_type_label="label"),
        size_bands=groups["size_band"].select(size_band="value", size_band_label="label"),
        first_day=span[0],
        last_day=span[1],
    )


def _trend_filter_params(
    granularity: str,
    date_from: date | None,
    date_to: date | None,
    market_ids: Iterable[str] | None,
    product_ids: Iterable[str] | None,
    asset_types: Iterable[str] | None,
    size_bands: Iterable[str] | None,
) -> dict[str, Any]:
    _choice(granularity, GRANULARITIES, "granularity")
    if date_from is not None and date_to is not None and date_from >= date_to:
        raise ValueError(
            f"the date range is empty: date_from ({date_from}) must be before date_to ({date_to})"
        )
    if granularity == "month" and date_from is not None:
        date_from = date_from.replace(day=1)  # months are whole: the month the range starts in counts
    return {
        "grain": granularity,
        "date_from": date_from,
        "date_to": date_to,
        "market_ids": _id_list(market_ids),
        "product_ids": _id_list(product_ids),
        "asset_types": _id_list(asset_types),
        "size_bands": _id_list(size_bands),
    }


def market_trends_by(
    granularity: Granularity = "month",
    breakdown: str = "product",
    date_from: date | None = None,
    date_to: date | None = None,
    market_ids: Iterable[str] | None = None,
    product_ids: Iterable[str] | None = None,
    asset_types: Iterable[str] | None = None,
    size_bands: Iterable[str] | None = None,
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """Volumes and prices per period x activity x breakdown group, from mart_market_trends.

    ``granularity``: 'day' (UTC days of the window start, as the mart keeps them) or 'month' (whole
    calendar months: the month ``date_from`` falls in counts fully). ``date_to`` is exclusive.
    ``breakdown``: product | market | asset_type | size_band. Filters: None = all, [] = nothing.
    Columns: period_start, activity, group_id, group_label, records, units (distinct assets per
    product, summed over the groups combined), volume_mw, volume_mwh, and the MWh-weighted
    vwap_availability_price_gbp_per_mw_h and vwap_utilisation_price_gbp_per_mwh.
    """
    key, label, order = _TREND_GROUPS[_choice(breakdown, TREND_BREAKDOWNS, "breakdown")]
    params = _trend_filter_params(
        granularity, date_from, date_to, market_ids, product_ids, asset_types, size_bands
    )
    sql = (
        f"SELECT t.period_start, t.activity, {key} AS group_id, any_value({label}) AS group_label,"  # noqa: S608 - constant fragments
        + _TREND_MEASURES
        + _TREND_JOINS
        + _TREND_FILTER
        + "  AND (CAST($date_from AS DATE) IS NULL OR t.period_start >= CAST($date_from AS DATE))\n"
        + "  AND (CAST($date_to AS DATE) IS NULL OR t.period_start < CAST($date_to AS DATE))\n"
        + f"GROUP BY t.period_start, t.activity, {key}, {order} ORDER BY t.period_start, t.activity, {order}"
    )
    with _db(db).session() as s:
        _require_tables(s, "mart_market_trends")
        return s.query(sql, params)


def market_growth(
    breakdown: str = "product",
    date_from: date | None = None,
    date_to: date | None = None,
    market_ids: Iterable[str] | None = None,
    product_ids: Iterable[str] | None = None,
    asset_types: Iterable[str] | None = None,
    size_bands: Iterable[str] | None = None,
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """Which markets are growing: year-on-year change per breakdown group and activity.

    Like for like, month by month: every calendar month of [date_from, date_to) in which the group
    has activity is compared with the same month a year earlier, and only months with activity in
    both years count (``months_compared``), so a group that started trading recently is not
    "growing" just because its first year is missing. Groups with no comparable month are left out.
    Changes are fractions (0.25 = +25 %). Prices are MWh-weighted.
    """
    key, label, order = _TREND_GROUPS[_choice(breakdown, TREND_BREAKDOWNS, "breakdown")]
    params = _trend_filter_params(
        "month", date_from, date_to, market_ids, product_ids, asset_types, size_bands
    )
    sql = f"""
WITH monthly AS (
    SELECT t.period_start AS month, t.activity, {key} AS group_id, any_value({label}) AS group_label,
           any_value({order}) AS group_order, {_TREND_MEASURES}
    {_TREND_JOINS} {_TREND_FILTER}
    GROUP BY t.period_start, t.activity, {key}
),
compared AS (
    SELECT cur.*, prior.volume_mwh AS prior_volume_mwh,
           prior.vwap_availability_price_gbp_per_mw_h AS prior_availability_price,
           prior.vwap_utilisation_price_gbp_per_mwh AS prior_utilisation_price
    FROM monthly AS cur
    JOIN monthly AS prior
      ON prior.group_id = cur.group_id AND prior.activity = cur.activity
     AND prior.month = CAST(cur.month - INTERVAL 1 YEAR AS DATE)
    WHERE (CAST($date_from AS DATE) IS NULL OR cur.month >= CAST($date_from AS DATE))
      AND (CAST($date_to AS DATE) IS NULL OR cur.month < CAST($date_to AS DATE))
),
totals AS (
    SELECT group_id, activity, any_value(group_label) AS group_label, any_value(group_order) AS group_order,
           CAST(count(*) AS BIGINT) AS months_compared,
           min(month) AS first_month, max(month) AS last_month,
           sum(volume_mwh) AS volume_mwh,
           sum(prior_volume_mwh) AS prior_year_volume_mwh,
           sum(vwap_availability_price_gbp_per_mw_h * volume_mwh) FILTER (WHERE prior_availability_price IS NOT NULL)
               / nullif(sum(volume_mwh) FILTER (WHERE vwap_availability_price_gbp_per_mw_h IS NOT NULL
                                                AND prior_availability_price IS NOT NULL), 0)
               AS availability_price_gbp_per_mw_h,
           sum(prior_availability_price * prior_volume_mwh) FILTER (WHERE vwap_availability_price_gbp_per_mw_h IS NOT NULL)
               / nullif(sum(prior_volume_mwh) FILTER (WHERE vwap_availability_price_gbp_per_mw_h IS NOT NULL
                                                      AND prior_availability_price IS NOT NULL), 0)
               AS prior_year_availability_price_gbp_per_mw_h,
           sum(vwap_utilisation_price_gbp_per_mwh * volume_mwh) FILTER (WHERE prior_utilisation_price IS NOT NULL)
               / nullif(sum(volume_mwh) FILTER (WHERE vwap_utilisation_price_gbp_per_mwh IS NOT NULL
                                                AND prior_utilisation_price IS NOT NULL), 0)
               AS utilisation_price_gbp_per_mwh,
           sum(prior_utilisation_price * prior_volume_mwh) FILTER (WHERE vwap_utilisation_price_gbp_per_mwh IS NOT NULL)
               / nullif(sum(prior_volume_mwh) FILTER (WHERE vwap_utilisation_price_gbp_per_mwh IS NOT NULL
                                                      AND prior_utilisation_price IS NOT NULL), 0)
               AS prior_year_utilisation_price_gbp_per_mwh
    FROM compared
    GROUP BY group_id, activity
)
SELECT group_id, group_label, activity, months_compared, first_month, last_month,
       volume_mwh, prior_year_volume_mwh,
       (volume_mwh - prior_year_volume_mwh) / nullif(prior_year_volume_mwh, 0) AS volume_change,
       availability_price_gbp_per_mw_h, prior_year_availability_price_gbp_per_mw_h,
       (availability_price_gbp_per_mw_h - prior_year_availability_price_gbp_per_mw_h)
           / nullif(abs(prior_year_availability_price_gbp_per_mw_h), 0) AS availability_price_change,
       utilisation_price_gbp_per_mwh, prior_year_utilisation_price_gbp_per_mwh,
       (utilisation_price_gbp_per_mwh - prior_year_utilisation_price_gbp_per_mwh)
           / nullif(abs(prior_year_utilisation_price_gbp_per_mwh), 0) AS utilisation_price_change
FROM totals
ORDER BY volume_change DESC NULLS LAST, group_order, activity
"""  # noqa: S608 - constant fragments only
    with _db(db).session() as s:
        _require_tables(s, "mart_market_trends")
        return s.query(sql, params)


# -- trade, dispatch and settlement (UC10): mart_asset_performance --------------------------------
MIN_PARTICIPANTS = 3  # aggregate cells with fewer distinct participants are suppressed

_PERFORMANCE_MEASURES = """
       CAST(count(DISTINCT t.asset_id) AS BIGINT) AS assets,
       CAST(sum(t.bids) AS BIGINT) AS bids,
       sum(t.offered_mw_h) AS offered_mw_h,
       sum(t.won_mw_h) AS won_mw_h,
       CAST(sum(t.dispatches) AS BIGINT) AS dispatches,
       sum(t.dispatched_mwh) AS dispatched_mwh,
       sum(t.metered_dispatched_mwh) AS metered_dispatched_mwh,
       sum(t.metered_delivery_mwh) AS metered_delivery_mwh,
       100.0 * sum(t.metered_delivery_mwh) / nullif(sum(t.metered_dispatched_mwh), 0) AS delivery_pct,
       sum(t.settled_instructed_mwh) AS settled_instructed_mwh,
       sum(t.settled_delivered_mwh) AS settled_delivered_mwh,
       100.0 * sum(t.settled_delivered_mwh) / nullif(sum(t.settled_instructed_mwh), 0) AS settled_delivery_pct,
       sum(t.availability_payment_gbp) AS availability_payment_gbp,
       sum(t.utilisation_payment_gbp) AS utilisation_payment_gbp,
       sum(t.penalty_gbp) AS penalty_gbp,
       sum(t.total_gbp) AS total_gbp
"""
PERFORMANCE_MEASURES: tuple[str, ...] = (
    "assets", "bids", "offered_mw_h", "won_mw_h", "dispatches", "dispatched_mwh", "metered_dispatched_mwh",
    "metered_delivery_mwh", "delivery_pct", "settled_instructed_mwh", "settled_delivered_mwh",
    "settled_delivery_pct", "availability_payment_gbp", "utilisation_payment_gbp", "penalty_gbp", "total_gbp",
)  # fmt: skip

_PERFORMANCE_FILTER = """
WHERE (CAST($month_from AS DATE) IS NULL OR t.month >= CAST($month_from AS DATE))
  AND (CAST($month_to AS DATE) IS NULL OR t.month <= CAST($month_to AS DATE))
  AND (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), t.product_id))
  AND (CAST($asset_types AS VARCHAR[]) IS NULL OR list_contains(CAST($asset_types AS VARCHAR[]), t.asset_type))
"""


def _product_label(alias: str) -> str:
    """'Peak Reduction (UKPN)': product name and operator, over ``alias`` joined with dim_product p, dim_market m."""
    return (
        f"coalesce(p.product_name, {alias}.product_id) || ' (' "
        f"|| upper(coalesce(m.operator_id, {alias}.market_id, '?')) || ')'"
    )


_PRODUCT_LABEL = _product_label("t")


def _month_params(
    month_from: date | None,
    month_to: date | None,
    product_ids: Iterable[str] | None,
    asset_types: Iterable[str] | None,
) -> dict[str, Any]:
    month_from = month_from.replace(day=1) if month_from else None
    month_to = month_to.replace(day=1) if month_to else None
    if month_from and month_to and month_from > month_to:
        raise ValueError(f"the month range is empty: {month_from:%Y-%m} is after {month_to:%Y-%m}")
    return {
        "month_from": month_from,
        "month_to": month_to,
        "product_ids": _id_list(product_ids),
        "asset_types": _id_list(asset_types),
    }


@dataclass(frozen=True)
class PerformanceOptions:
    products: pl.DataFrame  # product_id, product_label, market_id
    asset_types: pl.DataFrame  # asset_type, asset_type_label
    first_month: date | None
    last_month: date | None


def asset_performance_options(db: ServingDB | None = None) -> PerformanceOptions:
    """Products, asset types and the months present in mart_asset_performance."""
    with _db(db).session() as s:
        _require_tables(s, "mart_asset_performance")
        products = s.query(
            f"SELECT t.product_id, any_value({_PRODUCT_LABEL}) AS product_label, any_value(t.market_id) AS market_id "  # noqa: S608 - constant fragments
            "FROM main.mart_asset_performance AS t "
            "LEFT JOIN main.dim_product AS p ON p.product_id = t.product_id "
            "LEFT JOIN main.dim_market AS m ON m.market_id = t.market_id "
            "GROUP BY t.product_id ORDER BY any_value(t.market_id), t.product_id"
        )
        asset_types = s.query(
            "SELECT t.asset_type, any_value(coalesce(a.asset_type_name, t.asset_type)) AS asset_type_label "
            "FROM main.mart_asset_performance AS t "
            "LEFT JOIN taxonomy.asset_types AS a ON a.asset_type = t.asset_type "
            "GROUP BY t.asset_type ORDER BY t.asset_type IN ('unknown', 'other'), t.asset_type"
        )
        first, last = s.query("SELECT min(month), max(month) FROM main.mart_asset_performance").row(0)
    return PerformanceOptions(products, asset_types, first, last)


def asset_performance_aggregate(
    month_from: date | None = None,
    month_to: date | None = None,
    product_ids: Iterable[str] | None = None,
    asset_types: Iterable[str] | None = None,
    by_month: bool = True,
    min_participants: int = MIN_PARTICIPANTS,
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """Trade, dispatch and settlement by asset type x product (x month), safe to show to anyone.

    A cell (row) resting on fewer than ``min_participants`` distinct participants (asset owners) is
    suppressed: ``suppressed`` is true and every measure is null, so no single FSP's figures can be
    read off. Assets whose owner is unknown do not count as a participant. Months are inclusive
    (first days of UTC months). Columns: month (null when ``by_month`` is false), asset_type,
    asset_type_label, product_id, product_label, market_id, participants, suppressed, then
    PERFORMANCE_MEASURES.
    """
    if min_participants < 1:
        raise ValueError("min_participants must be at least 1")
    params = {**_month_params(month_from, month_to, product_ids, asset_types), "by_month": by_month}
    params["min_participants"] = min_participants
    masked = ",\n".join(
        f"CASE WHEN g.participants >= $min_participants THEN g.{name} END AS {name}"
        for name in PERFORMANCE_MEASURES
    )
    sql = f"""
WITH g AS (
    SELECT CASE WHEN $by_month THEN t.month END AS month, t.asset_type, t.product_id,
           any_value(coalesce(a.asset_type_name, t.asset_type)) AS asset_type_label,
           any_value({_PRODUCT_LABEL}) AS product_label, any_value(t.market_id) AS market_id,
           CAST(count(DISTINCT t.owner_participant_id) AS BIGINT) AS participants,
           {_PERFORMANCE_MEASURES}
    FROM main.mart_asset_performance AS t
    LEFT JOIN main.dim_product AS p ON p.product_id = t.product_id
    LEFT JOIN main.dim_market AS m ON m.market_id = t.market_id
    LEFT JOIN taxonomy.asset_types AS a ON a.asset_type = t.asset_type
    {_PERFORMANCE_FILTER}
    GROUP BY CASE WHEN $by_month THEN t.month END, t.asset_type, t.product_id
)
SELECT g.month, g.asset_type, g.asset_type_label, g.product_id, g.product_label, g.market_id,
       CASE WHEN g.participants >= $min_participants THEN g.participants END AS participants,
       g.participants < $min_participants AS suppressed,
       {masked}
FROM g
ORDER BY g.month NULLS FIRST, g.asset_type, g.market_id, g.product_id
"""  # noqa: S608 - constant fragments only
    with _db(db).session() as s:
        _require_tables(s, "mart_asset_performance")
        return s.query(sql, params)


def _require_registry_link(s: ReadSession) -> None:
    if "registry_asset_id" not in published_columns(s).get("dim_asset", ()):
        raise TableNotPublished("dim_asset", ["registry_asset_id"])


def registered_assets_in_warehouse(
    registry_asset_ids: Iterable[str], db: ServingDB | None = None
) -> pl.DataFrame:
    """The warehouse assets of these registry ids (dim_asset.registry_asset_id), by name.

    Who may see which registered assets is the registry's decision (its scoped listing); callers pass
    the ids the registry gave the signed-in principal.
    """
    with _db(db).session() as s:
        _require_registry_link(s)
        return s.query(
            "SELECT asset_id, registry_asset_id, asset_name, asset_type, capacity_mw, size_band, dno_area, flex_zone "
            "FROM main.dim_asset WHERE list_contains(CAST($ids AS VARCHAR[]), registry_asset_id) "
            "ORDER BY asset_name, asset_id",
            {"ids": _id_list(registry_asset_ids) or []},
        )


def asset_performance_own(
    registry_asset_ids: Iterable[str],
    month_from: date | None = None,
    month_to: date | None = None,
    product_ids: Iterable[str] | None = None,
    asset_id: str | None = None,
    by: Literal["month_product", "asset"] = "month_product",
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """Trade, dispatch and settlement of the given registered assets only (an FSP's own assets).

    ``registry_asset_ids``: the registry ids the registry lets the caller see (its scoped listing).
    ``by='month_product'``: per month x product (optionally of one warehouse ``asset_id`` among them);
    ``by='asset'``: per asset over the whole period (for picking one to drill into). Columns: month /
    product_id, product_label, market_id (or asset_id, asset_name, asset_type), then PERFORMANCE_MEASURES.
    """
    group = _choice(by, ("month_product", "asset"), "by")
    params = {
        **_month_params(month_from, month_to, product_ids, None),
        "registry_asset_ids": _id_list(registry_asset_ids) or [],
        "asset_id": asset_id,
    }
    if group == "month_product":
        keys = f"t.month, t.product_id, any_value({_PRODUCT_LABEL}) AS product_label, any_value(t.market_id) AS market_id"
        group_by, order_by = "t.month, t.product_id", "t.month, market_id, t.product_id"
    else:
        keys = "t.asset_id, any_value(coalesce(t.asset_name, t.asset_id)) AS asset_name, any_value(t.asset_type) AS asset_type"
        group_by, order_by = "t.asset_id", "asset_name, t.asset_id"
    sql = f"""
SELECT {keys}, {_PERFORMANCE_MEASURES}
FROM main.mart_asset_performance AS t
LEFT JOIN main.dim_product AS p ON p.product_id = t.product_id
LEFT JOIN main.dim_market AS m ON m.market_id = t.market_id
{_PERFORMANCE_FILTER}
  AND t.asset_id IN (SELECT asset_id FROM main.dim_asset
                     WHERE list_contains(CAST($registry_asset_ids AS VARCHAR[]), registry_asset_id))
  AND ($asset_id IS NULL OR t.asset_id = $asset_id)
GROUP BY {group_by}
ORDER BY {order_by}
"""  # noqa: S608 - constant fragments only
    with _db(db).session() as s:
        _require_tables(s, "mart_asset_performance")
        _require_registry_link(s)
        return s.query(sql, {**params, "asset_types": None})


# -- asset value (UC8): mart_asset_value ------------------------------------------------------------
MIN_REGIONAL_ASSETS = 5  # fewer comparables in the DNO area than this: use all of GB for that year


@dataclass(frozen=True)
class AssetValueOptions:
    asset_types: pl.DataFrame  # asset_type, asset_type_label, is_storage (those with comparables)
    size_bands: pl.DataFrame  # size_band, size_band_label, min_mw, max_mw
    dno_areas: pl.DataFrame  # dno_area, dno_area_name, operator_id, market_id
    flex_zones: pl.DataFrame  # flex_zone, dno_area (the area most of the zone's assets are in)
    years: list[int]


def asset_value_options(db: ServingDB | None = None) -> AssetValueOptions:
    """What a planned asset can be described with: types with comparables, bands, areas, zones, years."""
    with _db(db).session() as s:
        _require_tables(s, "mart_asset_value")
        asset_types = s.query(
            "SELECT v.asset_type, any_value(coalesce(a.asset_type_name, v.asset_type)) AS asset_type_label, "
            "coalesce(any_value(a.is_storage), FALSE) AS is_storage "
            "FROM main.mart_asset_value AS v LEFT JOIN taxonomy.asset_types AS a ON a.asset_type = v.asset_type "
            "WHERE v.row_kind = 'stacked_total' GROUP BY v.asset_type "
            "ORDER BY v.asset_type IN ('unknown', 'other'), v.asset_type"
        )
        size_bands = s.query(
            "SELECT size_band, size_band_name AS size_band_label, min_mw, max_mw FROM taxonomy.size_bands ORDER BY min_mw"
        )
        dno_areas = s.query(
            "SELECT dno_area, dno_area_name, operator_id, market_id FROM taxonomy.dno_areas ORDER BY dno_area_name"
        )
        flex_zones = s.query(
            "SELECT flex_zone, arg_max(dno_area, n) AS dno_area FROM ("
            "  SELECT flex_zone, dno_area, count(*) AS n FROM main.dim_asset "
            "  WHERE flex_zone IS NOT NULL AND dno_area IS NOT NULL GROUP BY flex_zone, dno_area"
            ") GROUP BY flex_zone ORDER BY flex_zone"
        )
        years = s.query("SELECT DISTINCT year FROM main.mart_asset_value ORDER BY year")["year"].to_list()
    return AssetValueOptions(asset_types, size_bands, dno_areas, flex_zones, years)


_ASSET_VALUE_SQL = """
WITH band AS (
    SELECT size_band FROM taxonomy.size_bands
    WHERE CAST($capacity_mw AS DOUBLE) >= min_mw AND CAST($capacity_mw AS DOUBLE) < max_mw
    ORDER BY min_mw LIMIT 1
),
own_market AS (
    SELECT max(market_id) AS market_id FROM taxonomy.dno_areas WHERE dno_area = CAST($dno_area AS VARCHAR)
),
comparables AS (
    SELECT v.* FROM main.mart_asset_value AS v
    WHERE v.asset_type = $asset_type AND v.size_band = (SELECT size_band FROM band)
),
-- Per year: the DNO area's own comparables when there are enough of them, else all of GB.
region_of_year AS (
    SELECT year,
           CASE WHEN max(n_assets) FILTER (WHERE region = CAST($dno_area AS VARCHAR)) >= $min_regional THEN CAST($dno_area AS VARCHAR) ELSE 'GB' END
               AS region
    FROM comparables WHERE row_kind = 'stacked_total' GROUP BY year
),
chosen AS (
    SELECT c.* FROM comparables AS c JOIN region_of_year AS r ON r.year = c.year AND r.region = c.region
    -- Markets it could have joined: every market except the local flexibility markets of other DNO areas.
    WHERE c.row_kind = 'stacked_total' OR c.market_id IS NULL
       OR c.market_id NOT IN (SELECT market_id FROM taxonomy.dno_areas WHERE market_id IS NOT NULL)
       OR c.market_id = (SELECT market_id FROM own_market)
)
SELECT c.year, c.region, c.row_kind, c.asset_type, c.size_band, c.product_id,
       CASE WHEN c.row_kind = 'stacked_total' THEN 'All products held (stacked)'
            ELSE coalesce(p.product_name, c.product_id) || ' (' || upper(coalesce(m.operator_id, c.market_id, '?')) || ')'
       END AS product_label,
       c.market_id, m.market_name,
       c.n_assets, c.n_comparable_assets,
       CAST(c.n_assets AS DOUBLE) / nullif(c.n_comparable_assets, 0) AS share_of_comparables,
       c.avg_products_held,
       CAST($capacity_mw AS DOUBLE) AS capacity_mw,
       c.net_gbp_per_mw_p10 * $capacity_mw AS net_gbp_p10,
       c.net_gbp_per_mw_p50 * $capacity_mw AS net_gbp_p50,
       c.net_gbp_per_mw_p90 * $capacity_mw AS net_gbp_p90,
       c.net_gbp_per_mw_mean * $capacity_mw AS net_gbp_mean,
       c.availability_gbp_per_mw_p50 * $capacity_mw AS availability_gbp_p50,
       c.utilisation_gbp_per_mw_p50 * $capacity_mw AS utilisation_gbp_p50,
       c.penalty_gbp_per_mw_mean * $capacity_mw AS penalty_gbp_mean,
       c.net_gbp_per_mw_p10, c.net_gbp_per_mw_p50, c.net_gbp_per_mw_p90,
       c.availability_gbp_per_mw_p50, c.utilisation_gbp_per_mw_p50,
       c.settled_share, c.data_days, c.year_days
FROM chosen AS c
LEFT JOIN main.dim_product AS p ON p.product_id = c.product_id
LEFT JOIN main.dim_market AS m ON m.market_id = c.market_id
ORDER BY c.year, c.row_kind = 'product', c.net_gbp_per_mw_p50 DESC NULLS LAST, c.product_id
"""


def asset_value_estimate(
    asset_type: str,
    capacity_mw: float,
    dno_area: str | None = None,
    min_regional_assets: int = MIN_REGIONAL_ASSETS,
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """What an asset of this type and capacity would have earned per year, from real comparable assets.

    Comparables: the real assets of the same asset type and size band (mart_asset_value) in the DNO
    area, or in all of GB in a year with fewer than ``min_regional_assets`` of them there. Rows per
    year: one 'stacked_total' row (what comparables earned across every product they held) and one
    'product' row per product of the markets the asset could join (national markets and its own DNO
    area's; without a DNO area, national markets only). GBP figures are the per-MW percentiles of the
    mart times ``capacity_mw``; the *_per_mw columns are the mart's own figures. Empty when no real
    asset is comparable.
    """
    if not capacity_mw or capacity_mw <= 0 or capacity_mw != capacity_mw:
        raise ValueError(f"capacity_mw must be a positive number of MW, got {capacity_mw!r}")
    params = {
        "asset_type": asset_type,
        "capacity_mw": float(capacity_mw),
        "dno_area": dno_area,
        "min_regional": int(min_regional_assets),
    }
    with _db(db).session() as s:
        _require_tables(s, "mart_asset_value")
        return s.query(_ASSET_VALUE_SQL, params)


# -- dispatch transparency (UC22): mart_dispatch_rationale ------------------------------------------
_RATIONALE_FILTER = """
WHERE (CAST($start AS TIMESTAMPTZ) IS NULL OR r.start_utc >= CAST($start AS TIMESTAMPTZ))
  AND (CAST($end AS TIMESTAMPTZ) IS NULL OR r.start_utc < CAST($end AS TIMESTAMPTZ))
  AND (CAST($operator_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($operator_ids AS VARCHAR[]), r.operator_id))
  AND (CAST($product_ids AS VARCHAR[]) IS NULL OR list_contains(CAST($product_ids AS VARCHAR[]), r.product_id))
"""
_RATIONALE_JOINS = """
FROM main.mart_dispatch_rationale AS r
LEFT JOIN main.dim_product AS p ON p.product_id = r.product_id
LEFT JOIN main.dim_market AS m ON m.market_id = r.market_id
LEFT JOIN taxonomy.operators AS o ON o.operator_id = r.operator_id
"""
_RATIONALE_MEASURES = """
       CAST(count(*) AS BIGINT) AS instructions,
       sum(r.dispatched_mwh) AS dispatched_mwh,
       CAST(count(r.merit_order_rank) AS BIGINT) AS ranked_instructions,
       CAST(count(*) FILTER (WHERE r.is_out_of_merit) AS BIGINT) AS out_of_merit_instructions,
       avg(CASE WHEN r.is_out_of_merit THEN 1.0 ELSE 0.0 END) AS skip_rate,
       coalesce(sum(r.dispatched_mwh) FILTER (WHERE r.is_out_of_merit), 0) AS out_of_merit_mwh,
       CAST(sum(r.cheaper_offers_skipped) AS BIGINT) AS cheaper_offers_skipped,
       sum(r.cheaper_offers_skipped_mw) AS cheaper_offers_skipped_mw,
       avg(r.out_of_merit_premium_gbp_per_mwh) FILTER (WHERE r.is_out_of_merit) AS avg_out_of_merit_premium_gbp_per_mwh,
       sum(r.out_of_merit_premium_gbp_per_mwh * r.dispatched_mwh) FILTER (WHERE r.is_out_of_merit)
           AS out_of_merit_cost_gbp,
       avg(CASE WHEN r.rationale IS NOT NULL AND trim(r.rationale) <> '' THEN 1.0 ELSE 0.0 END) AS reason_disclosed_share,
       avg(CASE WHEN r.skips_match_so_report THEN 1.0 ELSE 0.0 END) FILTER (WHERE r.skips_match_so_report IS NOT NULL)
           AS so_report_agreement
"""
RATIONALE_GROUPS: tuple[str, ...] = ("product", "reason", "rank", "month")
_RATIONALE_GROUP_KEYS = {
    # group -> (select expressions, group by, order by); constants only
    "product": (
        "r.operator_id, any_value(coalesce(o.operator_name, r.operator_id)) AS operator_name, r.product_id, "
        "any_value(coalesce(p.product_name, r.product_id)) AS product_name, any_value(r.market_id) AS market_id",
        "r.operator_id, r.product_id",
        "r.operator_id, r.product_id",
    ),
    "reason": (
        "r.operator_id, any_value(coalesce(o.operator_name, r.operator_id)) AS operator_name, "
        "coalesce(r.reason_code, 'none given') AS reason_code, "
        "mode(r.rationale) FILTER (WHERE r.is_out_of_merit) AS typical_out_of_merit_rationale, "
        "mode(r.rationale) AS typical_rationale",
        "r.operator_id, coalesce(r.reason_code, 'none given')",
        "r.operator_id, instructions DESC",
    ),
    "rank": (
        "r.operator_id, any_value(coalesce(o.operator_name, r.operator_id)) AS operator_name, "
        "CASE WHEN r.merit_order_rank IS NULL THEN 'unranked' WHEN r.merit_order_rank >= 5 THEN '5+' "
        "ELSE CAST(r.merit_order_rank AS VARCHAR) END AS merit_order_position",
        "r.operator_id, 3",
        "r.operator_id, merit_order_position",
    ),
    "month": (
        "r.operator_id, any_value(coalesce(o.operator_name, r.operator_id)) AS operator_name, "
        "CAST(date_trunc('month', timezone('Europe/London', r.start_utc)) AS DATE) AS month",
        "r.operator_id, 3",
        "r.operator_id, month",
    ),
}


def _rationale_params(
    date_from: date | None,
    date_to: date | None,
    operator_ids: Iterable[str] | None,
    product_ids: Iterable[str] | None,
) -> dict[str, Any]:
    if date_from is not None and date_to is not None and date_from >= date_to:
        raise ValueError(
            f"the date range is empty: date_from ({date_from}) must be before date_to ({date_to})"
        )
    return {
        "start": gb_midnight_utc(date_from),
        "end": gb_midnight_utc(date_to),
        "operator_ids": _id_list(operator_ids),
        "product_ids": _id_list(product_ids),
    }


@dataclass(frozen=True)
class RationaleOptions:
    operators: pl.DataFrame  # operator_id, operator_name
    products: pl.DataFrame  # product_id, product_label, operator_id
    first_day: date | None  # GB local days of the first and last instruction
    last_day: date | None


def dispatch_rationale_options(db: ServingDB | None = None) -> RationaleOptions:
    with _db(db).session() as s:
        _require_tables(s, "mart_dispatch_rationale")
        operators = s.query(
            "SELECT r.operator_id, any_value(coalesce(o.operator_name, r.operator_id)) AS operator_name "  # noqa: S608 - constant fragments
            f"{_RATIONALE_JOINS} GROUP BY r.operator_id ORDER BY r.operator_id"
        )
        products = s.query(
            f"SELECT r.product_id, any_value({_product_label('r')}) AS product_label, "  # noqa: S608 - constant fragments
            f"any_value(r.operator_id) AS operator_id {_RATIONALE_JOINS} "
            "GROUP BY r.product_id ORDER BY any_value(r.operator_id), r.product_id"
        )
        first, last = s.query("SELECT min(start_utc), max(start_utc) FROM main.mart_dispatch_rationale").row(
            0
        )
    to_day = lambda t: None if t is None else t.astimezone(GB_TZ).date()  # noqa: E731
    return RationaleOptions(operators, products, to_day(first), to_day(last))


def dispatch_rationale_summary(
    group: str = "product",
    date_from: date | None = None,
    date_to: date | None = None,
    operator_ids: Iterable[str] | None = None,
    product_ids: Iterable[str] | None = None,
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """Merit order and skipped cheaper offers, per SO and ``group``.

    group: 'product' (per SO x product), 'reason' (per SO x disclosed reason code, with the most common
    rationale text), 'rank' (dispatched volume by position in the merit order: 1 = cheapest available,
    '5+', 'unranked' = no known price) or 'month' (GB local months). Dates are GB local days of the
    instruction start, ``date_to`` exclusive. skip_rate = share of instructions for which a cheaper
    available offer was not dispatched (is_out_of_merit); out_of_merit_cost_gbp = premium x MWh.
    """
    keys, group_by, order_by = _RATIONALE_GROUP_KEYS[_choice(group, RATIONALE_GROUPS, "group")]
    sql = (
        f"SELECT {keys}, {_RATIONALE_MEASURES} {_RATIONALE_JOINS} {_RATIONALE_FILTER} "  # noqa: S608 - constant fragments
        f"GROUP BY {group_by} ORDER BY {order_by}"
    )
    params = _rationale_params(date_from, date_to, operator_ids, product_ids)
    with _db(db).session() as s:
        _require_tables(s, "mart_dispatch_rationale")
        return s.query(sql, params)


def out_of_merit_instructions(
    date_from: date | None = None,
    date_to: date | None = None,
    operator_ids: Iterable[str] | None = None,
    product_ids: Iterable[str] | None = None,
    limit: int = 500,
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """The instructions that skipped cheaper offers, most expensive premium first, with the merit order
    and the SO's disclosed reason (unit names and prices of competing offers: for the SO's own view)."""
    _check_page(limit, 0)
    params = {**_rationale_params(date_from, date_to, operator_ids, product_ids), "limit": limit}
    sql = (
        "SELECT r.start_utc, r.end_utc, r.operator_id, r.product_id, r.source_asset_ref, r.dispatched_mw, "  # noqa: S608 - constant fragments
        "r.dispatched_mwh, r.utilisation_price_gbp_per_mwh, r.merit_order_rank, r.cheaper_offers_skipped, "
        "r.cheaper_offers_skipped_mw, r.cheapest_skipped_price_gbp_per_mwh, r.out_of_merit_premium_gbp_per_mwh, "
        "r.reason_code, r.rationale, r.so_reported_cheaper_offers_skipped, r.skips_match_so_report, "
        "r.merit_order, r.dispatch_id "
        f"{_RATIONALE_JOINS} {_RATIONALE_FILTER} AND r.is_out_of_merit "
        "ORDER BY r.out_of_merit_premium_gbp_per_mwh * r.dispatched_mwh DESC NULLS LAST, r.start_utc, r.dispatch_id "
        "LIMIT $limit"
    )
    with _db(db).session() as s:
        _require_tables(s, "mart_dispatch_rationale")
        return s.query(sql, params)


# -- DER positions (UC18): mart_der_positions -------------------------------------------------------
# Who sees which rows: everything (admins, the national SO), or the union of: the assets the registry
# lets the caller see (FSP: its own), assets located in the caller's DNO areas, and positions the
# caller's own SO committed or dispatched. All four are bound parameters; none given = nothing.
_POSITION_SCOPE = """
  AND (CAST($everything AS BOOLEAN)
       OR list_contains(CAST($registry_asset_ids AS VARCHAR[]), d.registry_asset_id)
       OR list_contains(CAST($dno_areas AS VARCHAR[]), p.dno_area)
       OR p.operator_id = CAST($operator_id AS VARCHAR))
"""


def _position_scope(
    everything: bool,
    registry_asset_ids: Iterable[str] | None,
    dno_areas: Iterable[str] | None,
    operator_id: str | None,
) -> dict[str, Any]:
    return {
        "everything": bool(everything),
        "registry_asset_ids": _id_list(registry_asset_ids) or [],
        "dno_areas": _id_list(dno_areas) or [],
        "operator_id": operator_id,
    }


def der_position_days(
    everything: bool = False,
    registry_asset_ids: Iterable[str] | None = None,
    dno_areas: Iterable[str] | None = None,
    operator_id: str | None = None,
    db: ServingDB | None = None,
) -> tuple[date, date] | None:
    """First and last GB local day with positions the caller may see (None: none)."""
    params = _position_scope(everything, registry_asset_ids, dno_areas, operator_id)
    with _db(db).session() as s:
        _require_tables(s, "mart_der_positions")
        _require_registry_link(s)
        first, last = s.query(
            "SELECT min(p.settlement_date), max(p.settlement_date) FROM main.mart_der_positions AS p "  # noqa: S608 - constant fragment
            "LEFT JOIN main.dim_asset AS d ON d.asset_id = p.asset_id WHERE TRUE" + _POSITION_SCOPE,
            params,
        ).row(0)
    return None if first is None else (first, last)


def der_positions(
    day: date,
    flex_zone: str | None = None,
    everything: bool = False,
    registry_asset_ids: Iterable[str] | None = None,
    dno_areas: Iterable[str] | None = None,
    operator_id: str | None = None,
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """Every commitment and dispatch overlapping one GB local day, clipped to it, for a timeline.

    Scope: see _POSITION_SCOPE. Columns: asset, market and product labels, position_kind
    (commitment | dispatch), position_type, operator_id, start_utc/end_utc (the whole interval),
    shown_from_local/shown_to_local (clipped to the day, naive GB wall-clock time for charts), mw,
    direction, prices, flex_zone, dno_area, and overlaps_other_market: the asset has another position
    in a different market at an overlapping time (a possible conflict, UC11).
    """
    params = {
        **_position_scope(everything, registry_asset_ids, dno_areas, operator_id),
        "day_start": gb_midnight_utc(day),
        "day_end": gb_midnight_utc(day + timedelta(days=1)),
        "flex_zone": flex_zone,
    }
    sql = f"""
WITH shown AS (
    SELECT p.*
    FROM main.mart_der_positions AS p
    LEFT JOIN main.dim_asset AS d ON d.asset_id = p.asset_id
    WHERE p.start_utc < CAST($day_end AS TIMESTAMPTZ) AND p.end_utc > CAST($day_start AS TIMESTAMPTZ)
      AND (CAST($flex_zone AS VARCHAR) IS NULL OR p.flex_zone = CAST($flex_zone AS VARCHAR))
      {_POSITION_SCOPE}
)
SELECT s.asset_id,
       coalesce(s.asset_name, s.asset_id) || ' · ' || coalesce(s.asset_type, 'unknown') AS asset_label,
       s.asset_type, s.size_band, s.participant_id, s.market_id, coalesce(m.market_name, s.market_id) AS market_name,
       s.product_id, {_product_label("s")} AS product_label, s.position_kind, s.position_type, s.operator_id,
       s.start_utc, s.end_utc,
       timezone('Europe/London', greatest(s.start_utc, CAST($day_start AS TIMESTAMPTZ))) AS shown_from_local,
       timezone('Europe/London', least(s.end_utc, CAST($day_end AS TIMESTAMPTZ))) AS shown_to_local,
       s.mw, s.direction, s.availability_price_gbp_per_mw_h, s.utilisation_price_gbp_per_mwh,
       s.flex_zone, s.dno_area,
       EXISTS (
           SELECT 1 FROM shown AS o
           WHERE o.asset_id = s.asset_id AND o.market_id <> s.market_id
             AND o.start_utc < s.end_utc AND o.end_utc > s.start_utc
       ) AS overlaps_other_market,
       s.source_ref, s.position_id
FROM shown AS s
LEFT JOIN main.dim_product AS p ON p.product_id = s.product_id
LEFT JOIN main.dim_market AS m ON m.market_id = s.market_id
ORDER BY asset_label, s.start_utc, s.position_kind, s.position_id
"""  # noqa: S608 - constant fragments only
    with _db(db).session() as s:
        _require_tables(s, "mart_der_positions")
        _require_registry_link(s)
        return s.query(sql, params)


def der_position_zones(
    day: date,
    everything: bool = False,
    registry_asset_ids: Iterable[str] | None = None,
    dno_areas: Iterable[str] | None = None,
    operator_id: str | None = None,
    db: ServingDB | None = None,
) -> pl.DataFrame:
    """Flexibility zones with visible positions on the day, with how many assets each has."""
    params = {
        **_position_scope(everything, registry_asset_ids, dno_areas, operator_id),
        "day_start": gb_midnight_utc(day),
        "day_end": gb_midnight_utc(day + timedelta(days=1)),
    }
    sql = (
        "SELECT p.flex_zone, CAST(count(DISTINCT p.asset_id) AS BIGINT) AS assets "  # noqa: S608 - constant fragment
        "FROM main.mart_der_positions AS p LEFT JOIN main.dim_asset AS d ON d.asset_id = p.asset_id "
        "WHERE p.flex_zone IS NOT NULL AND p.start_utc < CAST($day_end AS TIMESTAMPTZ) "
        "AND p.end_utc > CAST($day_start AS TIMESTAMPTZ)"
        + _POSITION_SCOPE
        + "GROUP BY p.flex_zone ORDER BY p.flex_zone"
    )
    with _db(db).session() as s:
        _require_tables(s, "mart_der_positions")
        _require_registry_link(s)
        return s.query(sql, params)
