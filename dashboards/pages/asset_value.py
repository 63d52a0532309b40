"""Asset value (UC 8, UC 28): what an asset would have earned in past years, per market and stacked,
with the p10-p90 band of comparable real assets, beside third-party forecasts. Reads mart_asset_value."""

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

from sfe import forecasts as forecast_store  # noqa: E402
from sfe.registry.access import AccessDenied  # noqa: E402

PLANNED, REGISTERED, GROUP = "planned", "registered", "group"
SUBJECTS = {PLANNED: "A planned asset", REGISTERED: "A registered asset", GROUP: "An asset group"}
ANYWHERE = "__gb__"
NO_ZONE = "__none__"
HISTORY_COLOUR = "#264653"
AVAILABILITY_COLOUR, UTILISATION_COLOUR = "#457b9d", "#2a9d8f"

st.title("Asset value")
st.caption(
    "What an asset would have earned in past years in each market it could have joined, and stacked "
    "across them — worked out from what comparable real assets actually earned, with the range between "
    "the weaker (p10) and the stronger (p90) of them. A first business case, not a forecast."
)

me = auth.principal()
with data.stop_if_unavailable():
    options = data.asset_value_options()

if options.asset_types.is_empty():
    st.info("The warehouse has no asset revenue yet, so there is nothing to compare an asset with.")
    st.stop()

type_labels = dict(options.asset_types.select("asset_type", "asset_type_label").iter_rows())
storage_types = set(options.asset_types.filter(pl.col("is_storage"))["asset_type"].to_list())
area_labels = {
    r["dno_area"]: f"{r['dno_area_name']} ({r['dno_area']})" for r in options.dno_areas.iter_rows(named=True)
}
zone_area = dict(options.flex_zones.iter_rows())

registered = []
groups = []
if me is not None:
    try:
        registered = data.registered_assets(me)
        groups = data.asset_groups(me)
    except AccessDenied:  # investors and analysts see no individual assets
        registered, groups = [], []
subjects = [PLANNED] + ([REGISTERED] if registered else []) + ([GROUP] if groups else [])

with st.container(border=True):
    subject = (
        st.segmented_control(
            "Value", subjects, format_func=SUBJECTS.get, default=PLANNED, key="value_subject"
        )
        or PLANNED
    )
    described: list[dict] = []  # the assets to value: name, asset_type, capacity_mw, energy_mwh, dno_area
    if subject == PLANNED:
        col_type, col_mw, col_mwh, col_zone, col_area = st.columns([3, 2, 2, 3, 3])
        with col_type:
            default_type = "battery" if "battery" in type_labels else next(iter(type_labels))
            asset_type = st.selectbox(
                "Asset type",
                list(type_labels),
                index=list(type_labels).index(default_type),
                format_func=type_labels.get,
                key="value_type",
            )
        with col_mw:
            capacity_mw = st.number_input(
                "Power (MW)", min_value=0.01, max_value=2000.0, value=2.0, step=0.5, key="value_mw"
            )
        with col_mwh:
            energy_mwh = st.number_input(
                "Energy (MWh)",
                min_value=0.0,
                max_value=20000.0,
                value=4.0,
                step=0.5,
                key="value_mwh",
                disabled=asset_type not in storage_types,
                help="Storage only. Shown with the result; not used to pick comparables (no market publishes it).",
            )
        with col_zone:
            zones = [NO_ZONE, *zone_area]
            zone = st.selectbox(
                "Flexibility zone",
                zones,
                format_func=lambda z: "— not in a zone —" if z == NO_ZONE else z,
                key="value_zone",
                help="Picking a zone sets the DNO area it is in.",
            )
        with col_area:
            if zone != NO_ZONE and zone_area.get(zone):
                dno_area = zone_area[zone]
                st.selectbox(
                    "DNO area", [dno_area], format_func=area_labels.get, disabled=True, key="value_area_zone"
                )
            else:
                dno_area = st.selectbox(
                    "DNO area",
                    [ANYWHERE, *area_labels],
                    format_func=lambda a: "Anywhere in GB" if a == ANYWHERE else area_labels.get(a, a),
                    key="value_area",
                )
                dno_area = None if dno_area == ANYWHERE else dno_area
        described.append(
            {
                "name": "Planned asset",
                "registry_asset_id": None,
                "asset_type": asset_type,
                "capacity_mw": float(capacity_mw),
                "energy_mwh": float(energy_mwh) if asset_type in storage_types and energy_mwh else None,
                "dno_area": dno_area,
            }
        )
    elif subject == REGISTERED:
        by_id = {a.registry_asset_id: a for a in registered}
        picked = st.selectbox(
            "Registered asset",
            list(by_id),
            format_func=lambda r: (
                f"{by_id[r].asset_name} · {r} · {by_id[r].asset_type} · {by_id[r].capacity_mw:g} MW"
            ),
            key="value_registered",
        )
        a = by_id[picked]
        described.append(
            {
                "name": a.asset_name,
                "registry_asset_id": a.registry_asset_id,
                "asset_type": a.asset_type,
                "capacity_mw": float(a.capacity_mw),
                "energy_mwh": a.energy_mwh,
                "dno_area": a.dno_area,
            }
        )
    else:
        group_by_id = {g.group_id: (g, members) for g, members in groups}
        picked = st.selectbox(
            "Asset group",
            list(group_by_id),
            format_func=lambda g: f"{group_by_id[g][0].group_name} ({len(group_by_id[g][1])} assets)",
            key="value_group",
        )
        members = set(group_by_id[picked][1])
        visible = {a.registry_asset_id: a for a in registered}
        for rid in sorted(members):
            a = visible.get(rid)
            if a is not None:
                described.append(
                    {
                        "name": a.asset_name,
                        "registry_asset_id": rid,
                        "asset_type": a.asset_type,
                        "capacity_mw": float(a.capacity_mw),
                        "energy_mwh": a.energy_mwh,
                        "dno_area": a.dno_area,
                    }
                )
        if not described:
            st.info("This group has no current members. Add assets to it on the **Assets** page.")
            st.stop()

with data.stop_if_unavailable():
    estimates = []
    not_valued = []
    for asset in described:
        if asset["asset_type"] not in type_labels:
            not_valued.append(asset)
            continue
        rows = data.asset_value_estimate(asset["asset_type"], asset["capacity_mw"], asset["dno_area"])
        if rows.is_empty():
            not_valued.append(asset)
            continue
        estimates.append(
            rows.with_columns(
                pl.lit(asset["name"]).alias("asset"),
                pl.lit(asset["registry_asset_id"], dtype=pl.String).alias("registry_asset_id"),
            )
        )

for asset in not_valued:
    st.warning(
        f"**{asset['name']}**: no real {type_labels.get(asset['asset_type'], asset['asset_type']).lower()} "
        f"of a size like {asset['capacity_mw']:g} MW has earned anything in SFE's data, so there is no history "
        "to value it with.",
        icon=":material/search_off:",
    )
if not estimates:
    st.stop()

detail = pl.concat(estimates, how="vertical")
total_mw = sum(a["capacity_mw"] for a in described if a not in not_valued)
MEASURES = [
    "net_gbp_p10",
    "net_gbp_p50",
    "net_gbp_p90",
    "net_gbp_mean",
    "availability_gbp_p50",
    "utilisation_gbp_p50",
]

# One asset: its rows as they are. A group: each member's figures added up per year (and product).
stacked = (
    detail.filter(pl.col("row_kind") == "stacked_total")
    .group_by("year")
    .agg(
        [pl.col(c).sum() for c in MEASURES]
        + [
            pl.col("n_comparable_assets").max(),
            pl.col("region").unique().sort().str.join(", ").alias("regions"),
            pl.col("data_days").max(),
            pl.col("year_days").max(),
            pl.col("avg_products_held").mean(),
        ]
    )
    .sort("year")
    .with_columns((pl.col("data_days") < pl.col("year_days")).alias("partial_year"))
)
per_product = (
    detail.filter(pl.col("row_kind") == "product")
    .group_by("year", "product_id", "product_label", "market_id")
    .agg(
        [pl.col(c).sum() for c in MEASURES]
        + [pl.col("share_of_comparables").mean(), pl.col("n_assets").max()]
    )
    .sort("year", "net_gbp_p50", descending=[False, True])
)

years = stacked["year"].to_list()
full_years = stacked.filter(~pl.col("partial_year"))["year"].to_list()
default_year = (full_years or years)[-1]
if st.session_state.get("value_year") not in years:
    st.session_state["value_year"] = default_year
year = st.select_slider("Year", options=years, key="value_year") if len(years) > 1 else years[0]
this_year = stacked.filter(pl.col("year") == year).row(0, named=True)


def _compact(gbp: float) -> str:
    """£12.3k / £1.2m: short enough for a metric tile."""
    sign, value = ("-" if gbp < 0 else ""), abs(gbp)
    if value >= 1e6:
        return f"{sign}£{value / 1e6:.1f}m"
    if value >= 1e4:
        return f"{sign}£{value / 1e3:.1f}k"
    return f"{sign}£{value:,.0f}"


# Headline figures
subject_text = (
    f"{described[0]['capacity_mw']:g} MW"
    + (f" / {described[0]['energy_mwh']:g} MWh" if described[0].get("energy_mwh") else "")
    + f" {type_labels.get(described[0]['asset_type'], described[0]['asset_type']).lower()}"
    if len(described) == 1
    else f"{len(described) - len(not_valued)} assets, {total_mw:g} MW in all"
)
st.subheader(f"{subject_text}: what it would have earned in {year}")
cols = st.columns(4)
cols[0].metric("Stacked revenue, median (p50)", f"£{this_year['net_gbp_p50']:,.0f}")
cols[1].metric(
    "Range of comparables (p10 – p90)",
    f"{_compact(this_year['net_gbp_p10'])} – {_compact(this_year['net_gbp_p90'])}",
    help=f"£{this_year['net_gbp_p10']:,.0f} to £{this_year['net_gbp_p90']:,.0f}",
)
cols[2].metric("Per MW, median", f"£{this_year['net_gbp_p50'] / total_mw:,.0f}/MW")
cols[3].metric(
    "Comparable real assets", f"{this_year['n_comparable_assets']}", help=f"Region: {this_year['regions']}"
)
if this_year["partial_year"]:
    st.caption(
        f"{year} is only partly in the data ({this_year['data_days']} of {this_year['year_days']} days): its "
        "figures cover those days, not a full year."
    )

# Third-party forecasts that fit this asset (UC 28)
shown_products = set(per_product["product_id"].to_list())
all_forecasts = data.forecasts()
asset_type0 = described[0]["asset_type"]
duration = (
    described[0]["energy_mwh"] / described[0]["capacity_mw"]
    if len(described) == 1 and described[0].get("energy_mwh")
    else None
)
fitting = all_forecasts.filter(
    (pl.col("asset_type").is_null() | (pl.col("asset_type") == asset_type0))
    & (
        pl.col("duration_h").is_null()
        | (duration is None)
        | ((pl.col("duration_h") - (duration or 0)).abs() <= 0.25)
    )
)
forecast_totals = fitting.filter(pl.col("product") == forecast_store.TOTAL_PRODUCT).with_columns(
    (pl.col("provider") + " · " + pl.col("scenario")).alias("series"),
    (pl.col("revenue_gbp_per_mw_year") * total_mw).alias("gbp"),
    (pl.col("p10_gbp_per_mw_year") * total_mw).alias("gbp_p10"),
    (pl.col("p90_gbp_per_mw_year") * total_mw).alias("gbp_p90"),
)

left, right = st.columns([3, 2])
with left:
    st.markdown("**Stacked revenue per year** — median with the p10–p90 band of comparable assets")
    history = stacked.with_columns(
        pl.when(pl.col("partial_year"))
        .then(pl.format("partial: {} of {} days", pl.col("data_days"), pl.col("year_days")))
        .otherwise(pl.lit(""))
        .alias("coverage_note"),
        pl.lit("SFE history (comparable assets)").alias("series"),
        pl.when(pl.col("partial_year"))
        .then(pl.lit("partial year"))
        .otherwise(pl.lit("full year"))
        .alias("coverage"),
    )
    x = alt.X("year:O", title="Year", axis=alt.Axis(labelAngle=0))
    band = (
        alt.Chart(history)
        .mark_bar(size=34, opacity=0.25, color=HISTORY_COLOUR)
        .encode(x=x, y=alt.Y("net_gbp_p10:Q", title="£ per year"), y2="net_gbp_p90:Q")
    )
    median = (
        alt.Chart(history)
        .mark_tick(thickness=3, size=34, color=HISTORY_COLOUR)
        .encode(
            x=x,
            y="net_gbp_p50:Q",
            tooltip=[
                alt.Tooltip("year:O", title="Year"),
                alt.Tooltip("net_gbp_p50:Q", title="Median £", format=",.0f"),
                alt.Tooltip("net_gbp_p10:Q", title="p10 £", format=",.0f"),
                alt.Tooltip("net_gbp_p90:Q", title="p90 £", format=",.0f"),
                alt.Tooltip("n_comparable_assets:Q", title="Comparable assets"),
                alt.Tooltip("regions:N", title="Region"),
                alt.Tooltip("coverage:N", title="Data"),
            ],
        )
    )
    notes = (
        alt.Chart(history)
        .mark_text(dy=-10, fontSize=11, color="#6c757d")
        .encode(x=x, y=alt.Y("max_gbp:Q"), text="coverage_note:N")
        .transform_calculate(max_gbp="max(datum.net_gbp_p90, datum.net_gbp_p50)")
    )
    layers = [band, median, notes]
    if not forecast_totals.is_empty():
        points = (
            alt.Chart(forecast_totals)
            .mark_point(filled=True, size=90, shape="diamond")
            .encode(
                x=alt.X("year:O"),
                y="gbp:Q",
                color=alt.Color(
                    "series:N", title="Forecast (provider · scenario)", legend=alt.Legend(orient="bottom")
                ),
                tooltip=[
                    alt.Tooltip("provider:N"),
                    alt.Tooltip("scenario:N"),
                    alt.Tooltip("year:O"),
                    alt.Tooltip("gbp:Q", title="Forecast £", format=",.0f"),
                    alt.Tooltip("gbp_p10:Q", title="p10 £", format=",.0f"),
                    alt.Tooltip("gbp_p90:Q", title="p90 £", format=",.0f"),
                ],
            )
        )
        ranges = (
            alt.Chart(
                forecast_totals.filter(pl.col("gbp_p10").is_not_null() & pl.col("gbp_p90").is_not_null())
            )
            .mark_rule(strokeWidth=2)
            .encode(x="year:O", y="gbp_p10:Q", y2="gbp_p90:Q", color=alt.Color("series:N", legend=None))
        )
        layers += [ranges, points]
    st.altair_chart(alt.layer(*layers).properties(height=320), width="stretch")

with right:
    st.markdown(f"**Availability vs utilisation** per product in {year} (medians)")
    year_products = per_product.filter(pl.col("year") == year)
    if year_products.is_empty():
        st.info(f"No comparable asset held a product in {year}.")
    else:
        split = year_products.unpivot(
            index=["product_label", "net_gbp_p50", "share_of_comparables"],
            on=["availability_gbp_p50", "utilisation_gbp_p50"],
            variable_name="kind",
            value_name="gbp",
        ).with_columns(
            pl.col("kind").replace_strict(
                {"availability_gbp_p50": "Availability", "utilisation_gbp_p50": "Utilisation"}
            )
        )
        bars = (
            alt.Chart(split)
            .mark_bar()
            .encode(
                y=alt.Y("product_label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),
                x=alt.X("gbp:Q", title="£ per year (median)", stack=True),
                color=alt.Color(
                    "kind:N",
                    title=None,
                    scale=alt.Scale(
                        domain=["Availability", "Utilisation"],
                        range=[AVAILABILITY_COLOUR, UTILISATION_COLOUR],
                    ),
                    legend=alt.Legend(orient="bottom"),
                ),
                tooltip=[
                    alt.Tooltip("product_label:N", title="Product"),
                    alt.Tooltip("kind:N", title="Payment"),
                    alt.Tooltip("gbp:Q", title="£", format=",.0f"),
                    alt.Tooltip("net_gbp_p50:Q", title="Net median £", format=",.0f"),
                    alt.Tooltip(
                        "share_of_comparables:Q", title="Share of comparables holding it", format=".0%"
                    ),
                ],
            )
            .properties(height=alt.Step(24))
        )
        st.altair_chart(bars, width="stretch")

st.subheader("Per product and year")
table = detail.select(
    "asset", "registry_asset_id", "year", "region", "row_kind", "product_id", "product_label", "market_id",
    "capacity_mw", "net_gbp_p10", "net_gbp_p50", "net_gbp_p90", "net_gbp_mean", "availability_gbp_p50",
    "utilisation_gbp_p50", "penalty_gbp_mean", "n_assets", "n_comparable_assets", "share_of_comparables",
    "net_gbp_per_mw_p10", "net_gbp_per_mw_p50", "net_gbp_per_mw_p90", "settled_share", "data_days", "year_days",
)  # fmt: skip
if len(described) == 1:
    table = table.drop("asset", "registry_asset_id") if described[0]["registry_asset_id"] is None else table
money = {"format": "£%.0f"}
st.dataframe(
    table,
    hide_index=True,
    column_config={
        **{
            c: st.column_config.NumberColumn(c, **money)
            for c in table.columns
            if c.startswith("net_gbp_p") and "per_mw" not in c
        },
        "net_gbp_mean": st.column_config.NumberColumn("net_gbp_mean", **money),
        "availability_gbp_p50": st.column_config.NumberColumn("availability_gbp_p50", **money),
        "utilisation_gbp_p50": st.column_config.NumberColumn("utilisation_gbp_p50", **money),
        "share_of_comparables": st.column_config.NumberColumn("share_of_comparables", format="percent"),
        "settled_share": st.column_config.NumberColumn("settled_share", format="percent"),
    },
)
st.download_button(
    "Download this table (CSV)",
    data.csv_bytes(table),
    file_name=f"sfe_asset_value_{asset_type0}_{total_mw:g}mw.csv",
    mime="text/csv",
    key="download_value",
    on_click="ignore",
    icon=":material/download:",
)

with st.expander("How this is worked out", expanded=False, icon=":material/function:"):
    first = described[0]
    band_label = detail["size_band"][0]
    st.markdown(
        f"""
1. **Comparable real assets.** Assets in SFE's data of the same type
   (*{type_labels.get(first["asset_type"], first["asset_type"])}*) and size band (*{band_label}*, by power).
   In each year we use those in the asset's DNO area when there are at least {data.MIN_REGIONAL_ASSETS} of
   them, else all of Great Britain (the *region* column says which).
2. **What each of them earned.** Per product and month: what the system operator actually paid on its
   settlement statements (penalties deducted); where an asset has no settlement lines, what the market
   published or instructed (NESO cleared MW x hours x clearing price, DNO availability and utilisation
   payments, instructed energy x utilisation price). A contract that paid nothing still counts, with £0.
3. **Per MW per year.** Each asset's money per calendar year (UTC) is divided by its capacity (registered,
   else the largest MW the markets saw).
4. **Stacked.** An asset's stacked revenue is the sum over the products it actually held that year. The
   headline is the median (p50) across the comparables, with the 10th–90th percentile range; the
   percentiles of the parts do not add up to the percentile of the total.
5. **Scaled to this asset.** Per-MW figures x {total_mw:g} MW. Markets it could join: the national markets
   and the local flexibility market of its own DNO area
   ({area_labels.get(first["dno_area"], "none picked: national markets only") if first["dno_area"] else "none picked: national markets only"}).
6. **Not used:** storage energy (MWh) and duration — no market publishes them, so a 2 MW / 4 MWh and a
   2 MW / 2 MWh battery get the same figures. Years at the edge of the data are partial (see data_days).
   """
        + (
            "\n7. **A group** adds up its members' figures; adding up p10s and p90s assumes the assets do well "
            "or badly together, so the group's range is on the wide side."
            if len(described) > 1
            else ""
        )
    )

st.subheader("Third-party forecasts")
if all_forecasts.is_empty():
    st.caption("No forecast has been uploaded yet.")
elif fitting.is_empty():
    st.caption(
        f"No uploaded forecast fits a {type_labels.get(asset_type0, asset_type0).lower()}"
        + (f" of {duration:g} h" if duration else "")
        + f" ({all_forecasts['provider'].n_unique()} provider(s) uploaded forecasts for other assets)."
    )
else:
    forecast_table = fitting.with_columns(
        (pl.col("revenue_gbp_per_mw_year") * total_mw).alias("forecast_gbp"),
        (pl.col("p10_gbp_per_mw_year") * total_mw).alias("forecast_gbp_p10"),
        (pl.col("p90_gbp_per_mw_year") * total_mw).alias("forecast_gbp_p90"),
    ).select(
        "provider", "scenario", "product", "year", "forecast_gbp", "forecast_gbp_p10", "forecast_gbp_p90",
        "revenue_gbp_per_mw_year", "asset_type", "duration_h", "published_on", "notes", "uploaded_at_utc",
    )  # fmt: skip
    st.caption(
        "Shown as the providers made them, scaled to this asset's MW; SFE has not checked them. Forecasts for "
        "'total' are the diamonds on the chart above."
    )
    st.dataframe(forecast_table, hide_index=True)
    st.download_button(
        "Download this table (CSV)",
        data.csv_bytes(forecast_table),
        file_name="sfe_forecasts.csv",
        mime="text/csv",
        key="download_forecasts",
        on_click="ignore",
        icon=":material/download:",
    )

stored_message = st.session_state.pop("forecast_stored", None)
with st.expander(
    "Upload a forecast (CSV)", icon=":material/upload_file:", expanded=stored_message is not None
):
    if stored_message:
        st.success(stored_message, icon=":material/check_circle:")
    st.markdown(
        "One provider per file; an upload replaces that provider's previous forecast. Columns: "
        + ", ".join(f"`{c}`" for c in forecast_store.REQUIRED_COLUMNS)
        + " (required), "
        + ", ".join(f"`{c}`" for c in forecast_store.OPTIONAL_COLUMNS)
        + " (optional). `product` is an SFE product id, a standard product id or `total` (all markets "
        "stacked); revenue is GBP per MW per year. The same upload is available to programs at the API."
    )
    st.download_button(
        "Download an example file",
        forecast_store.EXAMPLE_CSV.encode(),
        file_name="sfe_forecast_example.csv",
        mime="text/csv",
        key="download_forecast_example",
        on_click="ignore",
    )
    if me is None or not (me.is_admin or me.role in forecast_store.UPLOAD_ROLES):
        st.caption("Sign in as a flexibility provider, investor or analyst to upload a forecast.")
    else:
        uploaded = st.file_uploader("Forecast CSV", type=["csv"], key="forecast_file")
        if uploaded is not None and st.button(
            "Upload forecast", key="forecast_upload", icon=":material/upload:"
        ):
            try:
                result = forecast_store.upload(
                    uploaded.getvalue(), me, uploaded.name, extra_products=shown_products
                )
            except forecast_store.ForecastRejected as rejected:
                st.error(
                    f"**{uploaded.name} was not stored:** {rejected.total_errors} problem(s). Fix them and upload "
                    "again.",
                    icon=":material/error:",
                )
                st.dataframe(rejected.as_frame(), hide_index=True)
            except AccessDenied as denied:
                st.error(str(denied), icon=":material/block:")
            else:
                st.session_state["forecast_stored"] = (
                    f"Stored {result.rows} rows of {result.provider}'s forecast"
                    + (f" (replacing {result.replaced_rows})." if result.replaced_rows else ".")
                )
                st.rerun()  # show the new forecast beside the history
