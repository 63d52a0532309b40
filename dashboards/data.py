"""Data access for the Streamlit pages: the only module the pages call for data (no SQL in pages).

- One read-only connection per process: ``st.cache_resource`` holds the process-wide ServingDB of the
  current lake (``sfe.serving.get_db``), which reconnects by itself when a new publish lands.
- Query results are cached with ``st.cache_data(ttl=...)`` and keyed on the publish version (a token
  of the published file's identity), so a new publish is picked up on the next rerun without a
  restart, and an unchanged warehouse is not queried again.
- Every function raises ``sfe.serving.WarehouseNotBuilt`` when nothing has been published; pages
  catch it and call ``not_built()`` to show a clear message instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
import streamlit as st

from sfe import csv_safe, queries
from sfe.config import lake
from sfe.serving import ServingDB, WarehouseNotBuilt, get_db

CACHE_TTL_S = 15 * 60

__all__ = [
    "WarehouseNotBuilt",
    "auction_trends",
    "csv_bytes",
    "date_range",
    "db",
    "dispatch_trends",
    "freshness",
    "not_built",
    "stop_if_unavailable",
    "products",
    "ingest_files",
    "ingest_summary",
    "quarantined_rows",
    "quality_results",
    "latest_build",
    "unmapped_source_values",
    "unmatched_source_ids",
]


@st.cache_resource(show_spinner=False)
def _serving_db(path: str) -> ServingDB:
    return get_db(path)


def db() -> ServingDB:
    """The cached read-only warehouse of the lake SFE_LAKE_DIR points at."""
    return _serving_db(str(lake().serving_db))


def _key() -> tuple[str, str]:
    d = db()
    return str(d.path), d.publish_version()  # raises WarehouseNotBuilt


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _freshness(path: str, version: str) -> queries.Freshness:
    return queries.freshness(_serving_db(path))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _products(path: str, version: str) -> pl.DataFrame:
    return queries.products_with_data(_serving_db(path))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _date_range(path: str, version: str) -> tuple[date, date] | None:
    return queries.data_date_range(_serving_db(path))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Loading auction results…")
def _auction_trends(
    path: str, version: str, granularity: str, product_ids: tuple[str, ...], first: date, last: date
) -> pl.DataFrame:
    return queries.auction_trends(
        granularity, product_ids, first, last + timedelta(days=1), db=_serving_db(path)
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Loading dispatches…")
def _dispatch_trends(
    path: str, version: str, granularity: str, product_ids: tuple[str, ...], first: date, last: date
) -> pl.DataFrame:
    return queries.dispatch_trends(
        granularity, product_ids, first, last + timedelta(days=1), db=_serving_db(path)
    )


def freshness() -> queries.Freshness:
    return _freshness(*_key())


def products() -> pl.DataFrame:
    return _products(*_key())


def date_range() -> tuple[date, date] | None:
    """First and last GB local day with data."""
    return _date_range(*_key())


def auction_trends(granularity: str, product_ids: list[str], first: date, last: date) -> pl.DataFrame:
    """Auction trends for GB local days ``first``..``last`` (both inclusive, as a date picker gives them)."""
    return _auction_trends(*_key(), granularity, tuple(sorted(product_ids)), first, last)


def dispatch_trends(granularity: str, product_ids: list[str], first: date, last: date) -> pl.DataFrame:
    """Dispatch trends for GB local days ``first``..``last`` (both inclusive)."""
    return _dispatch_trends(*_key(), granularity, tuple(sorted(product_ids)), first, last)


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """The formula-injection-safe CSV of exactly this table (same as the API's ?format=csv)."""
    return csv_safe.to_csv_bytes(frame)


def not_built(exc: WarehouseNotBuilt) -> None:
    """Tell the user that there is no data yet and how to build it (instead of a traceback)."""
    st.warning(
        "**No data yet: the SFE warehouse has not been built.**\n\n"
        f"The published warehouse `{exc.path}` does not exist. Build and publish it with "
        "`make build` (or `sfe build`), then reload this page; the app picks up every new publish "
        "without a restart.",
        icon=":material/construction:",
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _ingest_files(path: str, version: str) -> pl.DataFrame:
    return queries.ingest_files(_serving_db(path))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _ingest_summary(path: str, version: str) -> pl.DataFrame:
    return queries.ingest_summary(_serving_db(path))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _quarantined_rows(path: str, version: str, source_id: str | None) -> pl.DataFrame:
    return queries.quarantined_rows(source_id, limit=5000, db=_serving_db(path))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _quality_results(path: str, version: str) -> pl.DataFrame:
    return queries.quality_results(_serving_db(path))


def ingest_files() -> pl.DataFrame:
    return _ingest_files(*_key())


def ingest_summary() -> pl.DataFrame:
    return _ingest_summary(*_key())


def quarantined_rows(source_id: str | None = None) -> pl.DataFrame:
    return _quarantined_rows(*_key(), source_id)


def quality_results() -> pl.DataFrame:
    return _quality_results(*_key())


def latest_build():
    """The latest build attempt (may be newer than the publish being served, and may have failed)."""
    from sfe import build_status

    return build_status.read()


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _unmapped(path: str, version: str) -> pl.DataFrame:
    return queries.unmapped_source_values(_serving_db(path))


def unmapped_source_values() -> pl.DataFrame:
    return _unmapped(*_key())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _unmatched(path: str, version: str) -> pl.DataFrame:
    return queries.unmatched_source_ids(_serving_db(path))


def unmatched_source_ids() -> pl.DataFrame:
    return _unmatched(*_key())


# -- analytics pages (market trends, asset value, trade/dispatch/settlement, DER positions, dispatch
# transparency). One cached entry point for the sfe.queries functions these pages use: the cache key
# is the publish version plus the query's name and arguments (lists are frozen to sorted tuples).
TableNotPublished = queries.TableNotPublished


def _freeze(value):
    if isinstance(value, list | set | frozenset | tuple):
        return tuple(sorted(value, key=str)) if not isinstance(value, tuple) else value
    return value


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _analytics(path: str, version: str, name: str, args: tuple, kwargs: tuple):
    return getattr(queries, name)(*args, **dict(kwargs), db=_serving_db(path))


def _run(name: str, *args, **kwargs):
    frozen = tuple(sorted((k, _freeze(v)) for k, v in kwargs.items()))
    return _analytics(*_key(), name, tuple(_freeze(a) for a in args), frozen)


def _exclusive(last: date | None) -> date | None:
    return None if last is None else last + timedelta(days=1)


def not_published(exc: queries.TableNotPublished) -> None:
    """The published warehouse is older than the mart a page needs: say which, and how to fix it."""
    st.warning(
        f"**This page needs `{exc.table}`, which the published warehouse does not have yet.**\n\n"
        "It was published by an older build. Run `make build` (or `sfe build`) to build and publish "
        "the current warehouse, then reload this page.",
        icon=":material/update:",
    )


@contextmanager
def stop_if_unavailable() -> Iterator[None]:
    """Around a page's data calls: no warehouse, or one without the page's mart, ends the page with
    the reason and the fix instead of a traceback."""
    try:
        yield
    except WarehouseNotBuilt as exc:
        not_built(exc)
        st.stop()
    except queries.TableNotPublished as exc:
        not_published(exc)
        st.stop()


def market_trend_options() -> queries.TrendOptions:
    """Markets, products, asset types, size bands and days present in mart_market_trends."""
    return _run("market_trend_options")


def market_trends_by(
    granularity: str,
    breakdown: str,
    first: date | None,
    last: date | None,
    market_ids: list[str] | None = None,
    product_ids: list[str] | None = None,
    asset_types: list[str] | None = None,
    size_bands: list[str] | None = None,
) -> pl.DataFrame:
    """Trends for days ``first``..``last`` (both inclusive); filters: None = all."""
    return _run(
        "market_trends_by",
        granularity,
        breakdown,
        first,
        _exclusive(last),
        market_ids=market_ids,
        product_ids=product_ids,
        asset_types=asset_types,
        size_bands=size_bands,
    )


def market_growth(
    breakdown: str,
    first: date | None,
    last: date | None,
    market_ids: list[str] | None = None,
    product_ids: list[str] | None = None,
    asset_types: list[str] | None = None,
    size_bands: list[str] | None = None,
) -> pl.DataFrame:
    """Year-on-year change per group for the months of ``first``..``last`` (both inclusive)."""
    return _run(
        "market_growth",
        breakdown,
        first,
        _exclusive(last),
        market_ids=market_ids,
        product_ids=product_ids,
        asset_types=asset_types,
        size_bands=size_bands,
    )


MIN_PARTICIPANTS = queries.MIN_PARTICIPANTS


def asset_performance_options() -> queries.PerformanceOptions:
    return _run("asset_performance_options")


def asset_performance_aggregate(
    month_from: date | None,
    month_to: date | None,
    product_ids: list[str] | None = None,
    asset_types: list[str] | None = None,
    by_month: bool = True,
) -> pl.DataFrame:
    """Trade, dispatch and settlement by asset type x product (x month), small groups suppressed."""
    return _run(
        "asset_performance_aggregate",
        month_from,
        month_to,
        product_ids=product_ids,
        asset_types=asset_types,
        by_month=by_month,
    )


def registered_asset_ids(principal) -> list[str]:
    """Registry ids of the assets the registry lets ``principal`` see (an FSP: its organisation's own;
    a system operator: those in its area; admins: all). Read live from the registry, not cached."""
    from sfe.registry import assets as registry_assets
    from sfe.registry import db as registry_db

    if principal is None:
        return []
    with registry_db.session() as s:
        return [a.registry_asset_id for a in registry_assets.list_assets(s, principal) if a.registry_asset_id]


def asset_performance_own(
    registry_asset_ids: list[str],
    month_from: date | None,
    month_to: date | None,
    product_ids: list[str] | None = None,
    asset_id: str | None = None,
    by: str = "month_product",
) -> pl.DataFrame:
    """Trade, dispatch and settlement of these registered assets (from ``registered_asset_ids``)."""
    return _run(
        "asset_performance_own",
        registry_asset_ids,
        month_from,
        month_to,
        product_ids=product_ids,
        asset_id=asset_id,
        by=by,
    )


MIN_REGIONAL_ASSETS = queries.MIN_REGIONAL_ASSETS


def asset_value_options() -> queries.AssetValueOptions:
    return _run("asset_value_options")


def asset_value_estimate(asset_type: str, capacity_mw: float, dno_area: str | None = None) -> pl.DataFrame:
    """Per year: what comparable real assets earned, stacked and per product, scaled to ``capacity_mw``."""
    return _run("asset_value_estimate", asset_type, float(capacity_mw), dno_area)


def registered_assets(principal) -> list:
    """The registry's AssetRecords ``principal`` may see (live, not cached)."""
    from sfe.registry import assets as registry_assets
    from sfe.registry import db as registry_db

    if principal is None:
        return []
    with registry_db.session() as s:
        return registry_assets.list_assets(s, principal)


def asset_groups(principal) -> list:
    """The registry's asset groups ``principal`` may see, each with its current members' registry ids."""
    from sfe.registry import db as registry_db
    from sfe.registry import groups as registry_groups
    from sfe.registry.access import AccessDenied

    if principal is None:
        return []
    with registry_db.session() as s:
        try:
            groups = registry_groups.list_groups(s, principal)
        except AccessDenied:  # roles without groups (groups are an FSP's)
            return []
        return [
            (
                group,
                [
                    m.registry_asset_id
                    for m in registry_groups.group_members(s, principal, group.group_id, include_past=False)
                ],
            )
            for group in groups
        ]


def forecasts():
    """Every stored third-party forecast (lake/forecasts), read fresh on each call (uploads are rare)."""
    from sfe import forecasts as forecast_store

    return forecast_store.load()


def dispatch_rationale_options() -> queries.RationaleOptions:
    return _run("dispatch_rationale_options")


def dispatch_rationale_summary(
    group: str,
    date_from: date | None = None,
    date_to: date | None = None,
    operator_ids: list[str] | None = None,
    product_ids: list[str] | None = None,
) -> pl.DataFrame:
    """Merit order and skip rate per SO and ``group`` (product | reason | rank | month); date_to exclusive."""
    return _run(
        "dispatch_rationale_summary",
        group,
        date_from,
        date_to,
        operator_ids=operator_ids,
        product_ids=product_ids,
    )


def out_of_merit_instructions(
    date_from: date | None,
    date_to: date | None,
    operator_ids: list[str],
    product_ids: list[str] | None = None,
) -> pl.DataFrame:
    """Out-of-merit instructions of ``operator_ids`` (pass only the signed-in SO's own); date_to exclusive."""
    return _run(
        "out_of_merit_instructions", date_from, date_to, operator_ids=operator_ids, product_ids=product_ids
    )


@dataclass(frozen=True)
class PositionScope:
    """Whose DER positions a principal may see (sfe.queries.der_positions' scope parameters)."""

    everything: bool = False
    registry_asset_ids: tuple[str, ...] = ()
    dno_areas: tuple[str, ...] = ()
    operator_id: str | None = None

    def params(self) -> dict:
        return {
            "everything": self.everything,
            "registry_asset_ids": list(self.registry_asset_ids),
            "dno_areas": list(self.dno_areas),
            "operator_id": self.operator_id,
        }


def position_scope(principal) -> PositionScope:
    """Admins and the national SO: everything; a DNO: its licence areas and its own positions; an FSP:
    the assets the registry says it registered. Anyone else: nothing."""
    from sfe.registry.access import Role
    from sfe.registry.assets import operator_areas

    if principal is None:
        return PositionScope()
    if principal.is_admin:
        return PositionScope(everything=True)
    if principal.role == Role.SYSTEM_OPERATOR:
        areas = operator_areas(principal.operator_id)
        if areas is None:  # the national system operator: all of Great Britain
            return PositionScope(everything=True)
        return PositionScope(dno_areas=tuple(sorted(areas)), operator_id=principal.operator_id)
    if principal.role == Role.FSP:
        return PositionScope(registry_asset_ids=tuple(sorted(registered_asset_ids(principal))))
    return PositionScope()


def der_position_days(scope: PositionScope) -> tuple[date, date] | None:
    return _run("der_position_days", **scope.params())


def der_position_zones(day: date, scope: PositionScope) -> pl.DataFrame:
    return _run("der_position_zones", day, **scope.params())


def der_positions(day: date, flex_zone: str | None, scope: PositionScope) -> pl.DataFrame:
    """Commitments and dispatches overlapping GB local ``day`` that ``scope`` may see."""
    return _run("der_positions", day, flex_zone, **scope.params())
