"""Home: what SFE is, and how fresh the published data is."""

from __future__ import annotations

import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import altair as alt
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import data  # noqa: E402  (dashboards/data.py)

GB_TZ = ZoneInfo("Europe/London")

st.title("SFE — System-wide Flexibility Exchange")
st.markdown(
    "SFE brings the data of Great Britain's electricity flexibility markets into one harmonised place: "
    "auction results, dispatches, trades and settlement from NESO and the distribution network "
    "operators, translated into one standard taxonomy of markets, products and assets. "
    "**Aggregators and flexibility service providers** see which products exist, what they have been "
    "worth and how their assets were dispatched; **investors** explore clean price and volume history "
    "by market and product to build a business case."
)
st.markdown(
    "**System operators** see positions and dispatches across markets, **analysts** query the same "
    "harmonised tables directly (read-only DuckDB, Parquet exports, or the HTTP API at `/v1/...`), and "
    "**data engineers** schedule and monitor the ingestion that keeps it current. Trading does not "
    "happen here: SFE ingests what happened elsewhere and makes it usable. Start with "
    "**Market trends** in the menu."
)
st.caption(
    "For analysts: the data dictionary of every table and column is at the API's `/dbt-docs/` "
    "(http://localhost:8000/dbt-docs/ with `make run`), Parquet exports in `lake/exports/`, and "
    "worked queries in docs/analysts.md."
)

st.header("Data freshness")
try:
    fresh = data.freshness()
except data.WarehouseNotBuilt as exc:
    data.not_built(exc)
    st.stop()

latest_build = data.latest_build()
if latest_build and latest_build.status == "failed":
    st.error(
        f"A newer load failed at {latest_build.finished_at} UTC: the data below is the last good publish. "
        "Details on the **Data ingestion** page.",
        icon=":material/error:",
    )

if fresh.published_at is None:
    st.info("The warehouse has no publish record (meta_publish); it was not published by `sfe build`.")
else:
    local = fresh.published_at.astimezone(GB_TZ)
    cols = st.columns(3)
    cols[0].metric("Last published (UK time)", local.strftime("%d %b %Y %H:%M"))
    cols[1].metric("Sources", fresh.sources.height)
    cols[2].metric("Rows loaded", f"{fresh.total_rows:,}")
    st.caption(
        f"Published {fresh.published_at.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        + (f" by SFE {fresh.sfe_version}" if fresh.sfe_version else "")
        + ("; all dbt tests passed." if fresh.dbt_tests_passed else ".")
    )

if fresh.sources.is_empty():
    st.info("No source has been ingested yet.")
else:
    st.subheader("Rows per source")
    left, right = st.columns([3, 2])
    left.dataframe(fresh.sources, hide_index=True)
    chart = (
        alt.Chart(fresh.sources)
        .mark_bar()
        .encode(
            x=alt.X("rows_loaded:Q", title="Rows loaded"),
            y=alt.Y("source_id:N", title=None, sort="-x"),
            tooltip=[
                c
                for c in ("source_id", "files", "rows_loaded", "min_date", "max_date")
                if c in fresh.sources.columns
            ],
        )
        .properties(height=max(80, 40 * fresh.sources.height))
    )
    right.altair_chart(chart, width="stretch")
