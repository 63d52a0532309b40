"""Market trends (UC 6): prices and volumes by market, product, asset type and size band over time,
and which markets are growing year on year. Reads mart_market_trends (pre-aggregated)."""

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

GRANULARITY_LABELS = {"month": "Monthly", "day": "Daily"}
BREAKDOWN_LABELS = {
    "product": "Product",
    "market": "Market",
    "asset_type": "Asset type",
    "size_band": "Size band",
}
# Column names of the breakdown group in the tables and CSVs: (id column, label column).
BREAKDOWN_COLUMNS = {
    "product": ("product_id", "product"),
    "market": ("market_id", "market"),
    "asset_type": ("asset_type", "asset_type_name"),
    "size_band": ("size_band", "size_band_name"),
}
ACTIVITIES = {
    "auction_result": (
        "Auction results",
        "NESO EAC unit results: MW cleared in each delivery window (MWh = MW x window hours) at the "
        "clearing (availability) price, £/MW/h.",
    ),
    "dispatch": (
        "Dispatches",
        "Dispatch instructions from every SO: MWh delivered on instruction at the utilisation price, £/MWh "
        "(and the availability price where the source publishes one).",
    ),
    "contract": (
        "Contracts",
        "Accepted DNO competition bids, per service day: MW contracted for the service window, with "
        "contracted availability (£/MW/h) and utilisation (£/MWh) prices.",
    ),
}
GROWTH_CHART_ENDS = 10  # bars at each end of the growth chart
GROWTH_METRICS = {
    "volume_change": "Volume (MWh)",
    "availability_price_change": "Availability price",
    "utilisation_price_change": "Utilisation price",
}

st.title("Market trends")
st.caption(
    "Historic prices and volumes from every market SFE collects, broken down by market, product, asset "
    "type and asset size. Asset type and size band are the warehouse's view of each asset (size bands "
    "are estimated from the largest MW observed). Days are UTC days of the window start. Prices of a "
    f"group resting on fewer than {data.MIN_PARTICIPANTS} providers or units are withheld (and left out "
    "of the averages), so that no one's revenue can be read off; their volumes are shown."
)

with data.stop_if_unavailable():
    options = data.market_trend_options()

if options.first_day is None:
    st.info("The warehouse has no auction results, dispatches or contracts yet.")
    st.stop()

span = (options.first_day, options.last_day)
market_labels = dict(options.markets.select("market_id", "market_name").iter_rows())
product_labels = dict(options.products.select("product_id", "product_label").iter_rows())
product_market = dict(options.products.select("product_id", "market_id").iter_rows())
asset_type_labels = dict(options.asset_types.iter_rows())
size_band_labels = dict(options.size_bands.iter_rows())


def _follow_the_data(key: str, default, clamp) -> None:
    """Initialise a filter widget's state with the data's default and keep it valid across publishes.

    A filter the user never changed follows the data (a new publish with more days widens it); a
    filter the user changed is kept, clamped to what the new publish still has.
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


def _keep_known(key: str, known) -> None:
    """Drop selections that are no longer options (another filter or a new publish removed them)."""
    if key in st.session_state:
        st.session_state[key] = [v for v in st.session_state[key] if v in known]


_follow_the_data("trends_dates", span, _clamp_dates)

with st.container(border=True):
    col_dates, col_granularity, col_breakdown = st.columns([3, 2, 2])
    with col_dates:
        picked = st.date_input(
            "Timeline",
            min_value=span[0],
            max_value=span[1],
            key="trends_dates",
            help="Defaults to every day with data. Monthly figures cover the whole months the timeline touches.",
        )
    with col_granularity:
        granularity = st.segmented_control(
            "Granularity",
            list(GRANULARITY_LABELS),
            format_func=GRANULARITY_LABELS.get,
            default="month",
            key="trends_granularity",
        )
    with col_breakdown:
        breakdown = st.selectbox(
            "Break down by",
            list(BREAKDOWN_LABELS),
            format_func=BREAKDOWN_LABELS.get,
            key="trends_breakdown",
        )
    col_markets, col_products, col_types, col_sizes = st.columns(4)
    _keep_known("trends_markets", market_labels)
    with col_markets:
        markets = st.multiselect(
            "Markets",
            list(market_labels),
            format_func=lambda m: market_labels.get(m, m),
            placeholder="All markets",
            key="trends_markets",
        )
    product_options = [p for p in product_labels if not markets or product_market.get(p) in markets]
    _keep_known("trends_products", product_options)
    with col_products:
        products = st.multiselect(
            "Products",
            product_options,
            format_func=lambda p: product_labels.get(p, p),
            placeholder="All products" + (" of these markets" if markets else ""),
            key="trends_products",
        )
    _keep_known("trends_asset_types", asset_type_labels)
    with col_types:
        asset_types = st.multiselect(
            "Asset types",
            list(asset_type_labels),
            format_func=lambda a: asset_type_labels.get(a, a),
            placeholder="All asset types",
            key="trends_asset_types",
        )
    _keep_known("trends_size_bands", size_band_labels)
    with col_sizes:
        size_bands = st.multiselect(
            "Size bands",
            list(size_band_labels),
            format_func=lambda b: size_band_labels.get(b, b),
            placeholder="All sizes",
            key="trends_size_bands",
        )

if not isinstance(picked, tuple | list) or len(picked) != 2:
    st.info("Pick the last day of the timeline.")
    st.stop()
first, last = picked
granularity = granularity or "month"  # a segmented control can be cleared; fall back to months
filters = {
    "market_ids": markets or None,
    "product_ids": products or (product_options if markets else None),
    "asset_types": asset_types or None,
    "size_bands": size_bands or None,
}

with data.stop_if_unavailable():
    trends = data.market_trends_by(granularity, breakdown, first, last, **filters)
    growth = data.market_growth(breakdown, first, last, **filters)

if trends.is_empty():
    st.info(
        "Nothing matches these filters: no market activity for this combination of timeline, markets, "
        "products, asset types and size bands. Widen a filter (an empty filter means all).",
        icon=":material/filter_alt_off:",
    )
    st.stop()

id_col, label_col = BREAKDOWN_COLUMNS[breakdown]
group_title = BREAKDOWN_LABELS[breakdown]
period_title = "Month" if granularity == "month" else "Day (UTC)"
time_unit = "yearmonth" if granularity == "month" else "yearmonthdate"

# Headline numbers for the selection.
totals = trends.group_by("activity").agg(pl.col("volume_mwh").sum())
volume = dict(totals.iter_rows())
metric_cols = st.columns(len(ACTIVITIES))
for col, (activity, (title, _)) in zip(metric_cols, ACTIVITIES.items(), strict=True):
    col.metric(f"{title}, MWh", f"{volume.get(activity, 0):,.0f}")

legend = alt.Legend(orient="right", labelLimit=320, title=None, symbolLimit=60)


def _volume_chart(frame: pl.DataFrame) -> alt.Chart:
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("period_start:T", title=period_title, timeUnit=time_unit),
            y=alt.Y("volume_mwh:Q", title="MWh", stack=True),
            color=alt.Color("group_label:N", title=group_title, legend=legend),
            tooltip=[
                alt.Tooltip("period_start:T", title=period_title, timeUnit=time_unit),
                alt.Tooltip("group_label:N", title=group_title),
                alt.Tooltip("volume_mwh:Q", title="MWh", format=",.1f"),
                alt.Tooltip("volume_mw:Q", title="MW (summed over windows)", format=",.1f"),
                alt.Tooltip("units:Q", title="Assets active"),
            ],
        )
        .properties(height=300)
    )


def _price_chart(frame: pl.DataFrame, field: str, unit: str) -> alt.Chart:
    hover = alt.selection_point(fields=["group_label"], on="pointerover", bind="legend")
    return (
        alt.Chart(frame.filter(pl.col(field).is_not_null()))
        .mark_line(point=alt.OverlayMarkDef(size=30), interpolate="monotone")
        .encode(
            x=alt.X("period_start:T", title=period_title, timeUnit=time_unit),
            y=alt.Y(f"{field}:Q", title=unit, scale=alt.Scale(zero=False)),
            color=alt.Color("group_label:N", title=group_title, legend=legend),
            opacity=alt.condition(hover, alt.value(1.0), alt.value(0.25)),
            tooltip=[
                alt.Tooltip("period_start:T", title=period_title, timeUnit=time_unit),
                alt.Tooltip("group_label:N", title=group_title),
                alt.Tooltip(f"{field}:Q", title=unit, format=",.2f"),
                alt.Tooltip("volume_mwh:Q", title="MWh", format=",.1f"),
            ],
        )
        .add_params(hover)
        .properties(height=300)
        .interactive(bind_y=False)
    )


def _table(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows behind the charts, with the breakdown columns named after what they are."""
    return frame.rename({"group_id": id_col, "group_label": label_col})


def _download(frame: pl.DataFrame, name: str, key: str) -> None:
    st.download_button(
        "Download this table (CSV)",
        data.csv_bytes(frame),
        file_name=f"sfe_{name}_{first:%Y%m%d}_{last:%Y%m%d}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
        icon=":material/download:",
    )


st.subheader("Prices and volumes over time")
tabs = st.tabs([title for title, _ in ACTIVITIES.values()])
for tab, (activity, (title, explanation)) in zip(tabs, ACTIVITIES.items(), strict=True):
    with tab:
        frame = trends.filter(pl.col("activity") == activity).drop("activity")
        st.caption(explanation)
        if frame.is_empty():
            st.info(f"No {title.lower()} for these filters.")
            continue
        st.markdown(f"**Volume** by {group_title.lower()} (MWh)")
        st.altair_chart(_volume_chart(frame), width="stretch")
        prices = [
            (field, unit, name)
            for field, unit, name in (
                ("vwap_availability_price_gbp_per_mw_h", "£/MW/h", "Availability price"),
                ("vwap_utilisation_price_gbp_per_mwh", "£/MWh", "Utilisation price"),
            )
            if frame[field].is_not_null().any()
        ]
        if not prices:
            st.info(
                "No prices for these rows: the sources publish none, or each group rests on fewer than "
                f"{data.MIN_PARTICIPANTS} providers or units."
            )
        for field, unit, name in prices:
            st.markdown(f"**{name}** (volume-weighted, {unit})")
            st.altair_chart(_price_chart(frame, field, unit), width="stretch")
        table = _table(frame)
        st.dataframe(
            table,
            hide_index=True,
            column_config={
                "period_start": st.column_config.DateColumn(
                    period_title, format="MMM YYYY" if granularity == "month" else "YYYY-MM-DD"
                ),
            },
        )
        _download(
            table, f"market_trends_{activity}_{granularity}_by_{breakdown}", f"download_trends_{activity}"
        )

st.subheader("Which markets are growing?")
st.caption(
    "Year on year, like for like: each month of the timeline in which a "
    f"{group_title.lower()} was active is compared with the same month a year earlier, counting only "
    "months active in both years; prices are volume-weighted over those months. "
    f"{group_title}s without a comparable month are not listed."
)
if growth.is_empty():
    st.info(
        "No year-on-year comparison is possible for these filters: nothing was active in the same "
        "months a year before the timeline. Widen the timeline or the filters.",
        icon=":material/history:",
    )
    st.stop()

activity_names = {a: title for a, (title, _) in ACTIVITIES.items()}
col_rank, col_activity = st.columns(2)
with col_rank:
    rank_by = st.segmented_control(
        "Rank by change in",
        list(GROWTH_METRICS),
        format_func=GROWTH_METRICS.get,
        default="volume_change",
        key="growth_rank_by",
    )
with col_activity:
    growth_activities = st.segmented_control(
        "Activities",
        list(ACTIVITIES),
        format_func=activity_names.get,
        selection_mode="multi",
        default=list(ACTIVITIES),
        key="growth_activities",
    )
rank_by = rank_by or "volume_change"
growth = growth.filter(pl.col("activity").is_in(growth_activities or list(ACTIVITIES)))
ranked = growth.filter(pl.col(rank_by).is_not_null()).sort(rank_by, descending=True)
if ranked.is_empty():
    st.info(f"No {GROWTH_METRICS[rank_by].lower()} to compare for these filters (the sources publish none).")
else:
    # The chart shows the extremes (the table has every row), so a few outliers cannot hide the rest.
    if ranked.height > 2 * GROWTH_CHART_ENDS:
        charted = pl.concat([ranked.head(GROWTH_CHART_ENDS), ranked.tail(GROWTH_CHART_ENDS)])
        st.caption(
            f"The {GROWTH_CHART_ENDS} fastest-growing and {GROWTH_CHART_ENDS} fastest-shrinking of "
            f"{ranked.height}; every row is in the table below."
        )
    else:
        charted = ranked
    shown = charted.with_columns(
        pl.concat_str(
            [
                pl.col("group_label"),
                pl.col("activity").replace_strict(activity_names, default=pl.col("activity")),
            ],
            separator=" · ",
        ).alias("row_label"),
        pl.when(pl.col(rank_by) >= 0)
        .then(pl.lit("growing"))
        .otherwise(pl.lit("shrinking"))
        .alias("direction"),
    )
    # A log-like scale when some changes are several-fold, so the small ones stay visible.
    several_fold = shown[rank_by].abs().max() > 3
    growth_chart = (
        alt.Chart(shown)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X(
                f"{rank_by}:Q",
                title=f"{GROWTH_METRICS[rank_by]}: change on a year earlier"
                + (" (log scale)" if several_fold else ""),
                axis=alt.Axis(format="+%"),
                scale=alt.Scale(type="symlog") if several_fold else alt.Scale(),
            ),
            y=alt.Y("row_label:N", sort=None, title=None, axis=alt.Axis(labelLimit=360)),
            color=alt.Color(
                "direction:N",
                scale=alt.Scale(domain=["growing", "shrinking"], range=["#2a9d8f", "#e76f51"]),
                legend=None,
            ),
            tooltip=[
                alt.Tooltip("row_label:N", title=group_title),
                alt.Tooltip(f"{rank_by}:Q", title="Change", format="+.1%"),
                alt.Tooltip("volume_mwh:Q", title="MWh (months compared)", format=",.0f"),
                alt.Tooltip("prior_year_volume_mwh:Q", title="MWh a year earlier", format=",.0f"),
                alt.Tooltip("months_compared:Q", title="Months compared"),
            ],
        )
        .properties(height=alt.Step(22))
    )
    rule = alt.Chart(pl.DataFrame({"zero": [0.0]})).mark_rule(color="#666").encode(x="zero:Q")
    st.altair_chart(growth_chart + rule, width="stretch")

growth_table = _table(growth.sort(rank_by, descending=True, nulls_last=True))
if growth_table.is_empty():
    st.info("Pick at least one activity.")
    st.stop()
percent = {"format": "percent"}
st.dataframe(
    growth_table,
    hide_index=True,
    column_config={
        "volume_change": st.column_config.NumberColumn("volume_change", **percent),
        "availability_price_change": st.column_config.NumberColumn("availability_price_change", **percent),
        "utilisation_price_change": st.column_config.NumberColumn("utilisation_price_change", **percent),
        "first_month": st.column_config.DateColumn("first_month", format="MMM YYYY"),
        "last_month": st.column_config.DateColumn("last_month", format="MMM YYYY"),
    },
)
st.caption("Click a column header to sort. Changes are fractions of the year-earlier value (0.25 = +25 %).")
_download(growth_table, f"market_growth_by_{breakdown}", "download_growth")
