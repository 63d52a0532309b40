"""DER positions (UC 18): for a day and a flexibility zone, each asset's commitments and dispatches
across every market on one timeline. A system operator sees the assets in its area (and whatever it
committed or dispatched itself); a flexibility provider sees its own registered assets.
Reads mart_der_positions."""

from __future__ import annotations

import re
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

from sfe.registry.access import Role  # noqa: E402

ALL_ZONES = "__all__"
KIND_LABELS = {"commitment": "Committed", "dispatch": "Dispatched"}

st.title("DER positions")
st.caption(
    "Every commitment (auction wins, DNO contracts, availability windows) and every dispatch "
    "(SO instructions, utilisation, Balancing Mechanism acceptances) of each asset, across all markets, on "
    "one timeline in GB local time. Wide pale bars are commitments, narrow solid bars dispatches; a red "
    "outline marks a position that overlaps one in another market."
)

me = auth.require(Role.SYSTEM_OPERATOR, Role.FSP)
scope = data.position_scope(me)
if scope.everything:
    st.caption("You see every asset's positions.")
elif me.role == Role.SYSTEM_OPERATOR:
    st.caption(
        f"You see the assets in {me.organisation_name}'s area ({', '.join(scope.dno_areas) or 'none'}) "
        "and every position your organisation committed or dispatched."
    )
else:
    st.caption(f"You see {me.organisation_name}'s registered assets ({len(scope.registry_asset_ids)}).")

with data.stop_if_unavailable():
    days = data.der_position_days(scope)

if days is None:
    if me.role == Role.FSP:
        st.info(
            "None of your registered assets has a commitment or dispatch in SFE's data. Register your assets "
            "with the ids they have in each market on the **Assets** page; they appear here after the next "
            "warehouse build.",
            icon=":material/battery_unknown:",
        )
    else:
        st.info("No positions of assets in your area are in SFE's data yet.", icon=":material/search_off:")
    st.stop()

if st.session_state.get("der_days") != days:  # first visit or a new publish: start at the latest day
    st.session_state["der_day"] = days[1]
    st.session_state["der_days"] = days

col_day, col_zone, col_kinds = st.columns([2, 3, 2])
with col_day:
    day = st.date_input("Day (GB)", min_value=days[0], max_value=days[1], key="der_day")
zones = data.der_position_zones(day, scope)
zone_options = [ALL_ZONES, *zones["flex_zone"].to_list()]
zone_assets = dict(zones.iter_rows())
if st.session_state.get("der_zone") not in zone_options:
    # Start with the zone with the most assets: a readable timeline rather than every asset at once.
    st.session_state["der_zone"] = (
        zones.sort("assets", descending=True)["flex_zone"][0] if zones.height else ALL_ZONES
    )
with col_zone:
    zone = st.selectbox(
        "Flexibility zone",
        zone_options,
        format_func=lambda z: "All zones" if z == ALL_ZONES else f"{z} ({zone_assets.get(z, 0)} assets)",
        key="der_zone",
    )
with col_kinds:
    kinds = st.segmented_control(
        "Show",
        list(KIND_LABELS),
        format_func=KIND_LABELS.get,
        selection_mode="multi",
        default=list(KIND_LABELS),
        key="der_kinds",
    )

positions = data.der_positions(day, None if zone == ALL_ZONES else zone, scope)
positions = positions.filter(pl.col("position_kind").is_in(kinds or []))
if positions.is_empty():
    st.info(
        "No commitments or dispatches for this day and zone"
        + ("" if kinds else " (pick Committed and/or Dispatched)")
        + ". Pick another day or zone.",
        icon=":material/event_busy:",
    )
    st.stop()

assets = positions["asset_id"].n_unique()
cols = st.columns(4)
cols[0].metric("Assets", f"{assets:,}")
cols[1].metric("Commitments", f"{positions.filter(pl.col('position_kind') == 'commitment').height:,}")
cols[2].metric("Dispatches", f"{positions.filter(pl.col('position_kind') == 'dispatch').height:,}")
cols[3].metric(
    "Overlapping another market",
    f"{positions.filter(pl.col('overlaps_other_market'))['asset_id'].n_unique():,} assets",
)

chart_rows = positions.with_columns(pl.col("position_kind").replace_strict(KIND_LABELS).alias("kind"))
y = alt.Y("asset_label:N", title=None, sort=None, axis=alt.Axis(labelLimit=260))
x = alt.X("shown_from_local:T", title=f"{day:%a %d %b %Y} (GB time)", axis=alt.Axis(format="%H:%M"))
colour = alt.Color(
    "market_name:N", title="Market", legend=alt.Legend(orient="bottom", columns=3, labelLimit=300)
)
tooltip = [
    alt.Tooltip("asset_label:N", title="Asset"),
    alt.Tooltip("kind:N", title="Position"),
    alt.Tooltip("position_type:N", title="Type"),
    alt.Tooltip("product_label:N", title="Product"),
    alt.Tooltip("operator_id:N", title="SO"),
    alt.Tooltip("shown_from_local:T", title="From", format="%H:%M"),
    alt.Tooltip("shown_to_local:T", title="To", format="%H:%M"),
    alt.Tooltip("mw:Q", title="MW", format=",.2f"),
    alt.Tooltip("direction:N", title="Direction"),
    alt.Tooltip("overlaps_other_market:N", title="Overlaps another market"),
]
outline = {
    "stroke": alt.condition("datum.overlaps_other_market", alt.value("#d62828"), alt.value(None)),
    "strokeWidth": alt.condition("datum.overlaps_other_market", alt.value(1.5), alt.value(0)),
}
committed = (
    alt.Chart(chart_rows.filter(pl.col("position_kind") == "commitment"))
    .mark_bar(opacity=0.45, cornerRadius=2)
    .encode(y=y, x=x, x2="shown_to_local:T", color=colour, tooltip=tooltip, **outline)
)
dispatched = (
    alt.Chart(chart_rows.filter(pl.col("position_kind") == "dispatch"))
    .mark_bar(height={"band": 0.4}, cornerRadius=2)
    .encode(y=y, x=x, x2="shown_to_local:T", color=colour, tooltip=tooltip, **outline)
)
timeline = alt.layer(committed, dispatched).properties(height=alt.Step(26)).interactive(bind_y=False)
st.altair_chart(timeline, width="stretch")

table = positions.select(
    "asset_id", "asset_label", "position_kind", "position_type", "market_id", "product_id", "operator_id",
    "start_utc", "end_utc", "mw", "direction", "availability_price_gbp_per_mw_h", "utilisation_price_gbp_per_mwh",
    "flex_zone", "dno_area", "overlaps_other_market", "source_ref",
)  # fmt: skip
st.dataframe(table, hide_index=True)
st.download_button(
    "Download this table (CSV)",
    data.csv_bytes(table),
    file_name=f"sfe_der_positions_{day:%Y%m%d}{'' if zone == ALL_ZONES else '_' + re.sub(r'[^A-Za-z0-9]+', '_', zone)}.csv",
    mime="text/csv",
    key="download_der",
    on_click="ignore",
    icon=":material/download:",
)
