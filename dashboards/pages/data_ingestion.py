"""Data ingestion: what every landing file contributed, what was quarantined and why, data quality.

For data engineers: rows in = loaded + duplicates + superseded + quarantined for every file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import altair as alt
import polars as pl
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)
import data  # noqa: E402  (dashboards/data.py)

auth.require()  # every page checks access itself: a page file can be opened without the menu

st.title("Data ingestion")
st.caption(
    "Every landing file is parsed once; each row is loaded, counted as a duplicate, superseded by a "
    "later version, or quarantined with its reason. Files that cannot be read at all are quarantined "
    "whole. Schedules, sensors, run history and asset checks: Dagster UI (port 3000)."
)

build = data.latest_build()
try:
    fresh = data.freshness()
except data.WarehouseNotBuilt as exc:
    data.not_built(exc)
    if build and build.status == "failed":
        st.error(f"The latest build failed at {build.finished_at}:\n\n```\n{build.message}\n```")
    st.stop()

if build and build.status == "failed":
    st.error(
        f"**A newer load failed** ({build.finished_at} UTC); the data shown is the last good publish "
        f"({fresh.published_at:%Y-%m-%d %H:%M} UTC).\n\n```\n{build.message}\n```",
        icon=":material/error:",
    )
elif build and build.status == "running":
    st.info(f"A build is running (started {build.started_at} UTC); this page shows the last publish.")

summary = data.ingest_summary()
if summary.is_empty():
    st.info("No ingest records in this publish.")
    st.stop()

cols = st.columns(5)
cols[0].metric("Files", f"{int(summary['files'].sum()):,}")
cols[1].metric("Files quarantined", f"{int(summary['files_rejected'].sum()):,}")
cols[2].metric("Rows in", f"{int(summary['rows_in'].sum()):,}")
cols[3].metric("Rows loaded", f"{int(summary['loaded'].sum()):,}")
cols[4].metric("Rows quarantined", f"{int(summary['quarantined'].sum()):,}")
if not summary["all_balanced"].all():
    st.error("Some files' counts do not add up; see the files table (balanced = false).")

st.subheader("By source")
outcomes = summary.unpivot(
    index="source_id",
    on=["loaded", "duplicates", "superseded", "quarantined"],
    variable_name="outcome",
    value_name="rows",
)
st.altair_chart(
    alt.Chart(outcomes)
    .mark_bar()
    .encode(
        x=alt.X("rows:Q", title="Rows", stack="normalize", axis=alt.Axis(format="%")),
        y=alt.Y("source_id:N", title=None),
        color=alt.Color(
            "outcome:N",
            scale=alt.Scale(
                domain=["loaded", "duplicates", "superseded", "quarantined"],
                range=["#2e7d32", "#90a4ae", "#ffb300", "#c62828"],
            ),
        ),
        tooltip=["source_id", "outcome", alt.Tooltip("rows:Q", format=",")],
    )
    .properties(height=max(120, 32 * summary.height)),
    width="stretch",
)
st.dataframe(summary, hide_index=True)
st.download_button(
    "Download CSV", data.csv_bytes(summary), "sfe_ingest_by_source.csv", "text/csv", key="dl_summary"
)

st.subheader("Files")
files = data.ingest_files()
left, right = st.columns(2)
source_choice = left.multiselect("Source", sorted(files["source_id"].unique().to_list()), key="files_source")
status_choice = right.multiselect("Status", sorted(files["status"].unique().to_list()), key="files_status")
shown = files
if source_choice:
    shown = shown.filter(pl.col("source_id").is_in(source_choice))
if status_choice:
    shown = shown.filter(pl.col("status").is_in(status_choice))
st.dataframe(shown, hide_index=True)
st.download_button("Download CSV", data.csv_bytes(shown), "sfe_ingest_files.csv", "text/csv", key="dl_files")

st.subheader("Quarantined rows")
sources_with_rows = sorted(summary.filter(pl.col("quarantined") > 0)["source_id"].to_list())
if not sources_with_rows:
    st.success("No row has been quarantined.")
else:
    pick = st.selectbox("Source", ["(all)", *sources_with_rows], key="quarantine_source")
    rows = data.quarantined_rows(None if pick == "(all)" else pick)
    st.dataframe(rows, hide_index=True)
    st.download_button(
        "Download CSV", data.csv_bytes(rows), "sfe_quarantined_rows.csv", "text/csv", key="dl_quarantine"
    )

st.subheader("Unmapped source values")
unmapped = data.unmapped_source_values()
if unmapped.is_empty():
    st.success("Every product value in the sources maps to a product of the taxonomy.")
else:
    st.warning(
        f"{unmapped.height} source value(s) have no mapping yet. Their rows are kept under a placeholder "
        "product (standard product 'unmapped'); add a row to taxonomy/source_value_mappings.csv and rebuild."
    )
    st.dataframe(unmapped, hide_index=True)
    st.download_button(
        "Download CSV", data.csv_bytes(unmapped), "sfe_unmapped_values.csv", "text/csv", key="dl_unmapped"
    )

st.subheader("Asset ids that match nothing")
unmatched = data.unmatched_source_ids()
if unmatched.is_empty():
    st.success("Every per-market asset id is tied to a physical asset through another id.")
else:
    st.caption(
        "Each row is a per-market id (EAC unit, DNO unit, competition asset ref, BM unit, MPAN) that no "
        "other id links to a physical asset, or links ambiguously. It is kept as an asset of its own until "
        "a registration or a settlement line ties it to its MPAN."
    )
    st.dataframe(unmatched, hide_index=True)
    st.download_button(
        "Download CSV",
        data.csv_bytes(unmatched),
        "sfe_unmatched_asset_ids.csv",
        "text/csv",
        key="dl_unmatched",
    )

st.subheader("Data quality (Great Expectations)")
quality = data.quality_results()
if quality.is_empty():
    st.info("No expectation results in this publish.")
else:
    failed = quality.filter(~pl.col("success"))
    if failed.is_empty():
        st.success(f"All {quality.height} expectations passed on the latest ingest of each source.")
    else:
        st.error(f"{failed.height} expectation(s) failed on the latest ingest.")
    st.dataframe(quality, hide_index=True)
    st.download_button(
        "Download CSV", data.csv_bytes(quality), "sfe_quality_results.csv", "text/csv", key="dl_quality"
    )
