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
