"""Market trends (UC 6): historic prices and volumes by product over a selected timeline."""

from __future__ import annotations

import sys
from pathlib import Path

import altair as alt
import polars as pl
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import data  # noqa: E402  (dashboards/data.py)

GRANULARITY_LABELS = {"day": "Daily", "month": "Monthly"}

st.title("Market trends")
st.caption(
    "Historic clearing prices, cleared volumes and dispatches by product. Days and months are GB local "
    "(Europe/London) days of each delivery or dispatch start, so clock changes are handled."
)

try:
    span = data.date_range()
    catalogue = data.products()
except data.WarehouseNotBuilt as exc:
    data.not_built(exc)
    st.stop()

if span is None or catalogue.is_empty():
    st.info("The warehouse has no auction results or dispatches yet.")
    st.stop()

labels = {
    row["product_id"]: f"{row['product_name']} · {row['market_name'] or row['market_id'] or 'unknown market'}"
    for row in catalogue.iter_rows(named=True)
}

product_ids = list(labels)


def _follow_the_data(key: str, default, clamp) -> None:
    """Initialise a filter widget's state with the data's default and keep it valid across publishes.

    A filter the user never changed follows the data (a new publish with more days or products
    widens it); a filter the user changed is kept, clamped to what the new publish still has.
    """
    marker = f"_{key}_default"
    previous = st.session_state.get(marker)
    if previous == default and key in st.session_state:
        return
    current = st.session_state.get(key)
    st.session_state[key] = default if current is None or current == previous else clamp(current)
    st.session_state[marker] = default


def _clamp_dates(value):
    if not isinstance(value, tuple | list) or len(value) != 2:
        return span
    first_day, last_day = (min(max(d, span[0]), span[1]) for d in value)
    return (first_day, last_day)


_follow_the_data("trends_dates", tuple(span), _clamp_dates)
_follow_the_data("trends_products", product_ids, lambda value: [p for p in value if p in labels])

col_dates, col_products, col_granularity = st.columns([2, 5, 1])
with col_dates:
    picked = st.date_input(
        "Dates (GB local days)",
        min_value=span[0],
        max_value=span[1],
        key="trends_dates",
        help="Defaults to every day with data.",
    )
with col_products:
    selected = st.multiselect(
        "Products",
        options=product_ids,
        format_func=lambda product_id: labels.get(product_id, product_id),
        key="trends_products",
    )
with col_granularity:
    granularity = st.radio(
        "Granularity",
        list(GRANULARITY_LABELS),
        format_func=GRANULARITY_LABELS.get,
        key="trends_granularity",
    )

if not isinstance(picked, tuple | list) or len(picked) != 2:
    st.info("Pick the last day of the range.")
    st.stop()
first, last = picked
if not selected:
    st.info("Pick at least one product.")
    st.stop()

try:
    auctions = data.auction_trends(granularity, selected, first, last)
    dispatches = data.dispatch_trends(granularity, selected, first, last)
except data.WarehouseNotBuilt as exc:
    data.not_built(exc)
    st.stop()

period = "Month" if granularity == "month" else "Day"
x_axis = alt.X(
    "period_start:T", title=period, timeUnit="yearmonth" if granularity == "month" else "yearmonthdate"
)
product_colour = alt.Color("product_id:N", title="Product")


def _chart(frame: pl.DataFrame, mark: str, field: str, title: str, fmt: str, extra: list[str]) -> alt.Chart:
    base = alt.Chart(frame)
    base = base.mark_line(point=True) if mark == "line" else base.mark_bar()
    return (
        base.encode(
            x=x_axis,
            y=alt.Y(f"{field}:Q", title=title, stack=True if mark == "bar" else None),
            color=product_colour,
            tooltip=[
                alt.Tooltip("period_start:T", title=period),
                alt.Tooltip("product_name:N", title="Product"),
                alt.Tooltip(f"{field}:Q", title=title, format=fmt),
                *[alt.Tooltip(f"{c}:Q", format=",.2f") for c in extra],
            ],
        )
        .properties(height=300)
        .interactive(bind_y=False)
    )


st.subheader("Auction results")
if auctions.is_empty():
    st.info("No auction results for these products and dates.")
else:
    left, right = st.columns(2)
    with left:
        st.markdown("**Clearing price** (volume-weighted, £/MW/h)")
        st.altair_chart(
            _chart(
                auctions,
                "line",
                "vwap_clearing_price_gbp_per_mw_h",
                "£/MW/h (volume-weighted)",
                ",.2f",
                ["mean_clearing_price_gbp_per_mw_h"],
            ),
            width="stretch",
        )
    with right:
        st.markdown("**Cleared volume** (MWh = MW × block hours)")
        st.altair_chart(
            _chart(auctions, "bar", "cleared_volume_mwh", "Cleared MWh", ",.0f", ["cleared_volume_mw"]),
            width="stretch",
        )

st.subheader("Dispatches")
if dispatches.is_empty():
    st.info("No dispatches for these products and dates.")
else:
    left, right = st.columns(2)
    with left:
        st.markdown("**Utilisation volume** (MWh)")
        st.altair_chart(
            _chart(dispatches, "bar", "utilisation_mwh", "Utilisation MWh", ",.1f", ["dispatches"]),
            width="stretch",
        )
    with right:
        st.markdown("**Utilisation price** (volume-weighted, £/MWh)")
        st.altair_chart(
            _chart(
                dispatches,
                "line",
                "vwap_utilisation_price_gbp_per_mwh",
                "£/MWh (volume-weighted)",
                ",.2f",
                ["mean_utilisation_price_gbp_per_mwh"],
            ),
            width="stretch",
        )

st.subheader("Data")
if granularity == "month":
    st.caption("The first and last months only cover the selected days.")
tab_auctions, tab_dispatches = st.tabs(["Auction results", "Dispatches"])
for tab, frame, name in (
    (tab_auctions, auctions, "auction_trends"),
    (tab_dispatches, dispatches, "dispatch_trends"),
):
    with tab:
        if frame.is_empty():
            st.info("Nothing to show for these products and dates.")
            continue
        st.dataframe(frame, hide_index=True)
        st.download_button(
            "Download this table (CSV)",
            data.csv_bytes(frame),
            file_name=f"sfe_{name}_{granularity}_{first:%Y%m%d}_{last:%Y%m%d}.csv",
            mime="text/csv",
            key=f"download_{name}",
            on_click="ignore",
            icon=":material/download:",
        )
