"""Dispatch transparency (UC 22): did each system operator dispatch in merit order, how often were
cheaper available offers skipped, and what reasons did the SOs disclose. Reads mart_dispatch_rationale."""

from __future__ import annotations

import sys
from datetime import timedelta
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

SO_COLOURS = alt.Scale(scheme="tableau10")
RANK_ORDER = ["1", "2", "3", "4", "5+", "unranked"]
RANK_COLOURS = ["#2a9d8f", "#8ab17d", "#e9c46a", "#f4a261", "#e76f51", "#adb5bd"]

st.title("Dispatch transparency")
st.caption(
    "For every instruction a system operator (SO) sent: the offers it could have used for that product "
    "and window, ranked by price (the merit order), and whether cheaper ones were left unused. The **skip "
    "rate** is the share of instructions for which at least one cheaper available offer was not "
    "dispatched. Skipping can be right — a constraint, location or response time can rule an offer out — "
    "which is why the reasons the SOs disclosed are shown beside it. Days are GB local days."
)

me = auth.principal()
with data.stop_if_unavailable():
    options = data.dispatch_rationale_options()

if options.first_day is None:
    st.info("The warehouse has no SO dispatch instructions with an offer book yet.")
    st.stop()

span = (options.first_day, options.last_day)
operator_labels = dict(options.operators.iter_rows())
product_labels = dict(options.products.select("product_id", "product_label").iter_rows())
product_operator = dict(options.products.select("product_id", "operator_id").iter_rows())
own_operator = me.operator_id if me is not None and me.role == Role.SYSTEM_OPERATOR else None

if st.session_state.get("dt_dates_span") != span:  # a new publish: start from all its days
    st.session_state["dt_dates"] = span
    st.session_state["dt_dates_span"] = span
for key, known in (("dt_operators", operator_labels), ("dt_products", product_labels)):
    if key in st.session_state:
        st.session_state[key] = [v for v in st.session_state[key] if v in known]

with st.container(border=True):
    col_dates, col_ops, col_products = st.columns([2, 2, 3])
    with col_dates:
        picked = st.date_input("Dates", min_value=span[0], max_value=span[1], key="dt_dates")
    with col_ops:
        operators = st.multiselect(
            "System operators",
            list(operator_labels),
            format_func=lambda o: operator_labels.get(o, o),
            placeholder="All SOs",
            key="dt_operators",
        )
    product_options = [p for p in product_labels if not operators or product_operator.get(p) in operators]
    if "dt_products" in st.session_state:
        st.session_state["dt_products"] = [p for p in st.session_state["dt_products"] if p in product_options]
    with col_products:
        products = st.multiselect(
            "Products",
            product_options,
            format_func=lambda p: product_labels.get(p, p),
            placeholder="All products" + (" of these SOs" if operators else ""),
            key="dt_products",
        )

if not isinstance(picked, tuple | list) or len(picked) != 2:
    st.info("Pick the last day of the range.")
    st.stop()
first, last = picked
filters = {
    "date_from": first,
    "date_to": last + timedelta(days=1),
    "operator_ids": operators or None,
    "product_ids": products or (product_options if operators else None),
}

with data.stop_if_unavailable():
    by_product = data.dispatch_rationale_summary("product", **filters)
    by_rank = data.dispatch_rationale_summary("rank", **filters)
    by_reason = data.dispatch_rationale_summary("reason", **filters)
    by_month = data.dispatch_rationale_summary("month", **filters)

if by_product.is_empty():
    st.info(
        "No instructions match these filters. Widen the dates, SOs or products (an empty filter means all).",
        icon=":material/filter_alt_off:",
    )
    st.stop()


def _download(frame: pl.DataFrame, name: str, key: str) -> None:
    st.download_button(
        "Download this table (CSV)",
        data.csv_bytes(frame),
        file_name=f"sfe_dispatch_{name}_{first:%Y%m%d}_{last:%Y%m%d}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
        icon=":material/download:",
    )


PERCENT = st.column_config.NumberColumn(format="percent")
MONEY = st.column_config.NumberColumn(format="£%.0f")
column_config = {
    "skip_rate": PERCENT,
    "reason_disclosed_share": PERCENT,
    "so_report_agreement": PERCENT,
    "out_of_merit_cost_gbp": MONEY,
}

instructions = int(by_product["instructions"].sum())
out_of_merit = int(by_product["out_of_merit_instructions"].sum())
cost = by_product["out_of_merit_cost_gbp"].sum() or 0.0
disclosed = (by_product["reason_disclosed_share"] * by_product["instructions"]).sum() / instructions
cols = st.columns(4)
cols[0].metric("Instructions", f"{instructions:,}")
cols[1].metric(
    "Skip rate",
    f"{out_of_merit / instructions:.1%}",
    help="Instructions that skipped a cheaper available offer",
)
cols[2].metric(
    "Premium paid over skipped offers", f"£{cost:,.0f}", help="Sum of (price - cheapest skipped price) x MWh"
)
cols[3].metric("Reasons disclosed", f"{disclosed:.0%}")

st.subheader("Skip rate per SO and product")
chart_rows = by_product.with_columns(
    (pl.col("operator_name") + " · " + pl.col("product_name")).alias("row_label")
).sort("skip_rate", descending=True)
skip_chart = (
    alt.Chart(chart_rows)
    .mark_bar(cornerRadiusEnd=3)
    .encode(
        y=alt.Y("row_label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=320)),
        x=alt.X("skip_rate:Q", title="Share of instructions that skipped a cheaper offer", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("operator_name:N", title="SO", scale=SO_COLOURS, legend=alt.Legend(orient="bottom", labelLimit=320)),
        tooltip=[
            alt.Tooltip("operator_name:N", title="SO"),
            alt.Tooltip("product_name:N", title="Product"),
            alt.Tooltip("skip_rate:Q", title="Skip rate", format=".1%"),
            alt.Tooltip("instructions:Q", title="Instructions", format=","),
            alt.Tooltip("out_of_merit_instructions:Q", title="Out of merit", format=","),
            alt.Tooltip("cheaper_offers_skipped:Q", title="Cheaper offers skipped", format=","),
            alt.Tooltip("avg_out_of_merit_premium_gbp_per_mwh:Q", title="Avg premium £/MWh", format=",.2f"),
        ],
    )
    .properties(height=alt.Step(22))
)  # fmt: skip
st.altair_chart(skip_chart, width="stretch")
st.dataframe(by_product, hide_index=True, column_config=column_config)
_download(by_product, "skip_rate_by_product", "download_dt_product")

st.subheader("Dispatched volume by position in the merit order")
st.caption(
    "1 = the cheapest offer available for that product and window. 'unranked' = the dispatched offer had "
    "no known price, so it could not be placed."
)
rank_chart = (
    alt.Chart(by_rank)
    .mark_bar()
    .encode(
        y=alt.Y("operator_name:N", title=None, axis=alt.Axis(labelLimit=320)),
        x=alt.X("dispatched_mwh:Q", title="MWh dispatched", stack="normalize", axis=alt.Axis(format="%")),
        color=alt.Color(
            "merit_order_position:N",
            title="Merit order position",
            sort=RANK_ORDER,
            scale=alt.Scale(domain=RANK_ORDER, range=RANK_COLOURS),
            legend=alt.Legend(orient="bottom"),
        ),
        order=alt.Order("merit_order_position:N", sort="ascending"),
        tooltip=[
            alt.Tooltip("operator_name:N", title="SO"),
            alt.Tooltip("merit_order_position:N", title="Position"),
            alt.Tooltip("dispatched_mwh:Q", title="MWh", format=",.1f"),
            alt.Tooltip("instructions:Q", title="Instructions", format=","),
        ],
    )
    .properties(height=alt.Step(30))
)
st.altair_chart(rank_chart, width="stretch")
st.dataframe(by_rank, hide_index=True, column_config=column_config)
_download(by_rank, "volume_by_merit_order", "download_dt_rank")

st.subheader("Reasons the SOs disclosed")
reason_chart = (
    alt.Chart(by_reason)
    .mark_bar()
    .encode(
        y=alt.Y("reason_code:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("out_of_merit_instructions:Q", title="Instructions that skipped a cheaper offer"),
        color=alt.Color(
            "operator_name:N",
            title="SO",
            scale=SO_COLOURS,
            legend=alt.Legend(orient="bottom", labelLimit=320),
        ),
        tooltip=[
            alt.Tooltip("operator_name:N", title="SO"),
            alt.Tooltip("reason_code:N", title="Reason"),
            alt.Tooltip("out_of_merit_instructions:Q", title="Out of merit", format=","),
            alt.Tooltip("instructions:Q", title="All instructions", format=","),
            alt.Tooltip("skip_rate:Q", title="Skip rate", format=".1%"),
            alt.Tooltip("typical_out_of_merit_rationale:N", title="Typical rationale"),
        ],
    )
    .properties(height=alt.Step(24))
)
st.altair_chart(reason_chart, width="stretch")
st.dataframe(by_reason, hide_index=True, column_config=column_config)
_download(by_reason, "reasons", "download_dt_reason")

if by_month.height > by_month["operator_id"].n_unique():  # more than one month: show the trend
    st.subheader("Skip rate over time")
    trend = (
        alt.Chart(by_month)
        .mark_line(point=True)
        .encode(
            x=alt.X("month:T", timeUnit="yearmonth", title="Month (GB)"),
            y=alt.Y("skip_rate:Q", title="Skip rate", axis=alt.Axis(format="%")),
            color=alt.Color(
                "operator_name:N",
                title="SO",
                scale=SO_COLOURS,
                legend=alt.Legend(orient="bottom", labelLimit=320),
            ),
            tooltip=[
                alt.Tooltip("month:T", timeUnit="yearmonth", title="Month"),
                alt.Tooltip("operator_name:N", title="SO"),
                alt.Tooltip("skip_rate:Q", format=".1%"),
                alt.Tooltip("instructions:Q", format=","),
            ],
        )
        .properties(height=260)
    )
    st.altair_chart(trend, width="stretch")
    st.dataframe(by_month, hide_index=True, column_config=column_config)
    _download(by_month, "skip_rate_by_month", "download_dt_month")

# Instruction-level detail names units and the prices of competing offers: for the SO's own
# instructions (and SFE administrators) only.
detail_operators = (
    list(operator_labels) if me is not None and me.is_admin else [own_operator] if own_operator else []
)
st.subheader("Out-of-merit instructions")
if not detail_operators:
    st.caption(
        "Instruction by instruction — with the merit order and the SO's stated reason — is shown to each "
        "system operator for its own instructions."
    )
else:
    scoped = [o for o in (operators or detail_operators) if o in detail_operators]
    detail = data.out_of_merit_instructions(
        filters["date_from"], filters["date_to"], scoped or ["__none__"], filters["product_ids"]
    )
    if detail.is_empty():
        st.info("None of your instructions in these dates and products skipped a cheaper offer.")
    else:
        st.caption(
            f"The {detail.height:,} with the largest premium (price above the cheapest skipped offer x MWh)."
        )
        st.dataframe(detail, hide_index=True)
        _download(detail, "out_of_merit_instructions", "download_dt_detail")
