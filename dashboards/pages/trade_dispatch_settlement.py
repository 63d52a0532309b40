"""Trade, dispatch and settlement (UC 10): bids -> won -> dispatched -> metered delivery -> settled.

A flexibility provider sees its own registered assets (by product and month, and one asset at a
time); everyone sees the same measures aggregated by asset type and product, with cells that rest on
fewer than three providers suppressed so that no single provider's figures can be read off.
Reads mart_asset_performance (pre-aggregated per asset x product x month)."""

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

from sfe.registry.access import Role  # noqa: E402

STAGES = (  # the funnel, in order: (column, label, unit)
    ("offered_mw_h", "Offered", "MW·h committed"),
    ("won_mw_h", "Won", "MW·h committed"),
    ("dispatched_mwh", "Dispatched", "MWh"),
    ("metered_delivery_mwh", "Metered delivery", "MWh"),
    ("settled_delivered_mwh", "Settled delivery", "MWh"),
)
PAYMENTS = (
    ("availability_payment_gbp", "Availability"),
    ("utilisation_payment_gbp", "Utilisation"),
    ("penalty_gbp", "Penalties"),
)
MONEY = {"format": "£%.0f"}

st.title("Trade, dispatch and settlement")
st.caption(
    "From offer to payment: what was offered and won (MW x hours committed), what the system operators "
    "dispatched (MWh instructed), what the meters show was delivered against a baseline, and what was "
    "settled and paid. Months are UTC calendar months."
)

me = auth.principal()
with data.stop_if_unavailable():
    options = data.asset_performance_options()

if options.first_month is None:
    st.info("The warehouse has no trades, dispatches or settlements yet.")
    st.stop()

months = pl.date_range(options.first_month, options.last_month, interval="1mo", eager=True).to_list()
product_labels = dict(options.products.select("product_id", "product_label").iter_rows())
asset_type_labels = dict(options.asset_types.iter_rows())

with st.container(border=True):
    col_months, col_products = st.columns([2, 3])
    with col_months:
        if len(months) > 1:
            month_from, month_to = st.select_slider(
                "Months",
                options=months,
                value=(months[0], months[-1]),
                format_func=lambda m: f"{m:%b %Y}",
                key="tds_months",
            )
        else:
            month_from = month_to = months[0]
            st.markdown(f"**Month:** {month_from:%b %Y}")
    with col_products:
        if "tds_products" in st.session_state:  # a new publish may have dropped a product
            st.session_state["tds_products"] = [
                p for p in st.session_state["tds_products"] if p in product_labels
            ]
        products = st.multiselect(
            "Products",
            list(product_labels),
            format_func=lambda p: product_labels.get(p, p),
            placeholder="All products",
            key="tds_products",
        )
product_filter = products or None


def _download(frame: pl.DataFrame, name: str, key: str) -> None:
    st.download_button(
        "Download this table (CSV)",
        data.csv_bytes(frame),
        file_name=f"sfe_{name}_{month_from:%Y%m}_{month_to:%Y%m}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
        icon=":material/download:",
    )


def _totals(frame: pl.DataFrame) -> dict:
    sums = frame.select(
        [pl.col(c).sum() for c, _, _ in STAGES]
        + [pl.col(c).sum() for c, _ in PAYMENTS]
        + [
            pl.col("total_gbp").sum(),
            pl.col("metered_dispatched_mwh").sum(),
            pl.col("settled_instructed_mwh").sum(),
        ]
    ).row(0, named=True)
    sums["delivery_pct"] = (
        100 * sums["metered_delivery_mwh"] / sums["metered_dispatched_mwh"]
        if sums["metered_dispatched_mwh"]
        else None
    )
    return sums


def _kpis(totals: dict) -> None:
    cols = st.columns(4)
    cols[0].metric("Won, MW·h committed", f"{totals['won_mw_h'] or 0:,.0f}")
    cols[1].metric("Dispatched, MWh", f"{totals['dispatched_mwh'] or 0:,.1f}")
    cols[2].metric(
        "Delivered (metered)", "n/a" if totals["delivery_pct"] is None else f"{totals['delivery_pct']:.1f} %"
    )
    cols[3].metric("Settled, net", f"£{totals['total_gbp'] or 0:,.0f}")


def _stage_chart(totals: dict, stages: tuple, unit: str, colour: str) -> alt.Chart:
    """One bar per stage, in order, with its value written at the end of the bar."""
    frame = pl.DataFrame(
        {"stage": [label for _, label, _ in stages], "value": [float(totals[c] or 0) for c, _, _ in stages]}
    )
    order = [label for _, label, _ in stages]
    base = alt.Chart(frame).encode(
        y=alt.Y("stage:N", sort=order, title=None),
        x=alt.X("value:Q", title=unit, axis=alt.Axis(format="~s")),
        tooltip=[alt.Tooltip("stage:N", title="Stage"), alt.Tooltip("value:Q", title=unit, format=",.1f")],
    )
    bars = base.mark_bar(cornerRadiusEnd=4, color=colour)
    labels = base.mark_text(align="left", dx=4, color="#343a40").encode(
        text=alt.Text("value:Q", format=",.0f")
    )
    return (bars + labels).properties(height=alt.Step(30))


def _funnel(totals: dict) -> None:
    """Commitments (MW x hours) and energy (MWh) are different quantities: two charts, not one axis."""
    left, right = st.columns(2)
    with left:
        st.markdown("**Committed** — offered and won, MW·h")
        st.altair_chart(_stage_chart(totals, STAGES[:2], "MW·h", "#457b9d"), width="stretch")
        if not totals["offered_mw_h"] and totals["won_mw_h"]:
            st.caption("Offers are only published by DNO competitions (NESO publishes what cleared).")
    with right:
        st.markdown("**Delivered** — dispatched, metered and settled, MWh")
        st.altair_chart(_stage_chart(totals, STAGES[2:], "MWh", "#2a9d8f"), width="stretch")


def _monthly_money(frame: pl.DataFrame) -> alt.LayerChart:
    """Payments per month (penalties below zero) with the metered delivery % on a second axis."""
    monthly = frame.group_by("month").agg(
        [pl.col(c).sum() for c, _ in PAYMENTS]
        + [pl.col("metered_delivery_mwh").sum(), pl.col("metered_dispatched_mwh").sum()]
    )
    money = (
        monthly.with_columns(-pl.col("penalty_gbp"))
        .unpivot(index="month", on=[c for c, _ in PAYMENTS], variable_name="kind", value_name="gbp")
        .with_columns(pl.col("kind").replace_strict(dict(PAYMENTS)))
    )
    delivery = monthly.with_columns(
        (100 * pl.col("metered_delivery_mwh") / pl.col("metered_dispatched_mwh")).alias("delivery_pct")
    ).filter(pl.col("delivery_pct").is_not_null() & pl.col("delivery_pct").is_finite())
    x = alt.X("month:T", timeUnit="yearmonth", title="Month")
    bars = (
        alt.Chart(money)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("gbp:Q", title="£ settled", stack=True),
            color=alt.Color(
                "kind:N",
                title=None,
                scale=alt.Scale(
                    domain=[label for _, label in PAYMENTS], range=["#457b9d", "#2a9d8f", "#e76f51"]
                ),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("month:T", timeUnit="yearmonth", title="Month"),
                "kind:N",
                alt.Tooltip("gbp:Q", format=",.0f", title="£"),
            ],
        )
    )
    line = (
        alt.Chart(delivery)
        .mark_line(point=True, color="#264653", strokeDash=[4, 2])
        .encode(
            x=x,
            y=alt.Y("delivery_pct:Q", title="Metered delivery %", scale=alt.Scale(domain=[0, 120])),
            tooltip=[
                alt.Tooltip("month:T", timeUnit="yearmonth", title="Month"),
                alt.Tooltip("delivery_pct:Q", format=".1f", title="Delivered %"),
            ],
        )
    )
    return alt.layer(bars, line).resolve_scale(y="independent").properties(height=300)


def _performance_table(frame: pl.DataFrame) -> None:
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "month": st.column_config.DateColumn("month", format="MMM YYYY"),
            "delivery_pct": st.column_config.NumberColumn("delivery_pct", format="%.1f %%"),
            "settled_delivery_pct": st.column_config.NumberColumn("settled_delivery_pct", format="%.1f %%"),
            **{c: st.column_config.NumberColumn(c, **MONEY) for c, _ in PAYMENTS},
            "total_gbp": st.column_config.NumberColumn("total_gbp", **MONEY),
        },
    )


def _report(frame: pl.DataFrame, name: str, key: str) -> None:
    totals = _totals(frame)
    _kpis(totals)
    _funnel(totals)
    st.markdown("**Payments per month** and metered delivery")
    st.altair_chart(_monthly_money(frame), width="stretch")
    _performance_table(frame)
    _download(frame, name, key)


def own_view(registry_asset_ids: list[str]) -> None:
    if not registry_asset_ids:
        st.info(
            "Your organisation has no registered assets yet. Register them once, with the ids they have in "
            "each market, on the **Assets** page: their bids, dispatches and payments then appear here "
            "after the next warehouse build.",
            icon=":material/battery_unknown:",
        )
        return
    try:
        own = data.asset_performance_own(registry_asset_ids, month_from, month_to, product_filter)
        assets = data.asset_performance_own(
            registry_asset_ids, month_from, month_to, product_filter, by="asset"
        )
    except data.TableNotPublished as exc:
        st.info(
            "Your own assets appear here once the warehouse links registered assets to the registry "
            f"(the published warehouse lacks `{exc.table}.{', '.join(exc.missing_columns) or '?'}`). "
            "A build that includes the asset registry publishes it.",
            icon=":material/link_off:",
        )
        return
    if own.is_empty():
        st.info(
            "None of your organisation's registered assets has bids, commitments, dispatches or settlements "
            "in these months and products. Register assets (with the ids they have in each market) on the "
            "**Assets** page, or widen the filters.",
            icon=":material/filter_alt_off:",
        )
        return
    _report(own, "own_trade_dispatch_settlement", "download_own")

    st.markdown("#### One asset")
    names = dict(assets.select("asset_id", "asset_name").iter_rows())
    picked = st.selectbox(
        "Asset",
        list(names),
        format_func=lambda a: names.get(a, a),
        key="tds_asset",
        help="Your registered assets with activity in these months and products.",
    )
    if picked is None:
        return
    one = data.asset_performance_own(
        registry_asset_ids, month_from, month_to, product_filter, asset_id=picked
    )
    _report(one, f"asset_{picked}_trade_dispatch_settlement", "download_asset")
    st.markdown("**All your assets over these months**")
    _performance_table(assets)
    _download(assets, "own_assets_summary", "download_assets")


def market_view() -> None:
    st.caption(
        f"Aggregated by asset type and product over every provider's assets. To keep each provider's "
        f"business private, a cell that rests on fewer than {data.MIN_PARTICIPANTS} distinct providers is "
        "suppressed: it is listed, marked suppressed, and its figures are left blank (and left out of the "
        "totals and charts)."
    )
    col_types, col_grain = st.columns([3, 2])
    with col_types:
        if "tds_asset_types" in st.session_state:
            st.session_state["tds_asset_types"] = [
                a for a in st.session_state["tds_asset_types"] if a in asset_type_labels
            ]
        asset_types = st.multiselect(
            "Asset types",
            list(asset_type_labels),
            format_func=lambda a: asset_type_labels.get(a, a),
            placeholder="All asset types",
            key="tds_asset_types",
        )
    with col_grain:
        grain = st.segmented_control(
            "Cells", ["period", "month"], format_func={"period": "Whole period", "month": "Per month"}.get,
            default="period", key="tds_grain",
        )  # fmt: skip
    by_month = grain == "month"
    table = data.asset_performance_aggregate(
        month_from, month_to, product_filter, asset_types or None, by_month=by_month
    )
    if table.is_empty():
        st.info("No activity for these months, products and asset types.", icon=":material/filter_alt_off:")
        return
    if not by_month:
        table = table.drop("month")
    visible = table.filter(~pl.col("suppressed"))
    hidden = table.height - visible.height
    if hidden:
        st.caption(
            f"{hidden} of {table.height} cells are suppressed (fewer than {data.MIN_PARTICIPANTS} providers)."
        )
    if visible.is_empty():
        st.info(
            f"Every cell rests on fewer than {data.MIN_PARTICIPANTS} providers, so none can be shown. Pick "
            "'Whole period', more months or more products.",
            icon=":material/visibility_off:",
        )
    else:
        totals = _totals(visible)
        _kpis(totals)
        _funnel(totals)
        st.markdown("**Settled payments by product and asset type** (cells shown)")
        by_product = visible.group_by("product_label", "asset_type_label").agg(
            pl.col("total_gbp").sum(), pl.col("dispatched_mwh").sum(), pl.col("participants").max()
        )
        settled = (
            alt.Chart(by_product)
            .mark_bar()
            .encode(
                y=alt.Y("product_label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=320)),
                x=alt.X("total_gbp:Q", title="£ settled", stack=True, axis=alt.Axis(format="~s")),
                color=alt.Color(
                    "asset_type_label:N",
                    title="Asset type",
                    scale=alt.Scale(scheme="tableau10"),
                    legend=alt.Legend(orient="bottom"),
                ),
                tooltip=[
                    alt.Tooltip("product_label:N", title="Product"),
                    alt.Tooltip("asset_type_label:N", title="Asset type"),
                    alt.Tooltip("total_gbp:Q", title="£ settled", format=",.0f"),
                    alt.Tooltip("dispatched_mwh:Q", title="MWh dispatched", format=",.1f"),
                    alt.Tooltip("participants:Q", title="Providers (most in a cell)"),
                ],
            )
            .properties(height=alt.Step(22))
        )
        st.altair_chart(settled, width="stretch")
    _performance_table(table)
    _download(table, "market_trade_dispatch_settlement", "download_market")


is_fsp = me is not None and me.role == Role.FSP
if is_fsp:
    tab_own, tab_market = st.tabs(
        [f"My assets · {me.organisation_name}", "Market (all providers, aggregated)"]
    )
    with tab_own:
        own_view(data.registered_asset_ids(me))
    with tab_market:
        market_view()
else:
    if me is None:
        st.caption("Flexibility providers: sign in to see your own assets' bids, dispatches and payments.")
    market_view()
