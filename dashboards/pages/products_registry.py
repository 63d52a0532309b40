"""Products: system operators register and manage their products; everyone sees the live catalogue."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)
import registry_data as rd  # noqa: E402  (dashboards/registry_data.py)

from sfe.registry import products  # noqa: E402
from sfe.registry.access import Role  # noqa: E402

me = auth.require()
is_so = me.role == Role.SYSTEM_OPERATOR or me.is_admin
DIRECTION_LABELS = {"up": "Up (more generation / less demand)", "down": "Down", "both": "Both"}
TRANSITION_LABELS = {"live": "Make live", "retired": "Retire", "draft": "Back to draft"}
STANDARD = rd.standard_product_labels()


def _money(value, unit: str) -> str:
    return "—" if value is None else f"£{value:,.2f}/{unit}"


def _number(value, unit: str) -> str:
    return "—" if value is None else f"{value:g} {unit}"


def _details(p: products.ProductRecord) -> None:
    st.markdown(
        f"**{p.product_name}** · `{p.product_id}` · {products.STATUS_LABELS[p.status]}  \n"
        f"{p.organisation_name} · market `{p.market_id}` · {p.service_type} · direction {p.direction}"
        + (
            f" · standard product {STANDARD.get(p.standard_product, p.standard_product)}"
            if p.standard_product
            else ""
        )
    )
    cols = st.columns(5)
    cols[0].metric("Minimum size", _number(p.min_size_mw, "MW"))
    cols[1].metric("Response time", _number(p.response_time_s, "s"))
    cols[2].metric("Minimum duration", _number(p.min_duration_min, "min"))
    cols[3].metric("Availability", _money(p.availability_price_gbp_per_mw_h, "MW/h"))
    cols[4].metric("Utilisation", _money(p.utilisation_price_gbp_per_mwh, "MWh"))
    if p.zones:
        st.markdown("**Zones**: " + ", ".join(p.zones))
    if p.service_windows:
        st.markdown("**Service windows** (UK local time)")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "days": w["days"],
                        "start": w["start"],
                        "end": w["end"],
                        "months": ", ".join(map(str, w["months"])) or "all year",
                    }
                    for w in p.service_windows
                ]
            ),
            hide_index=True,
        )
    if p.prequalification_requirements:
        st.markdown("**Prequalification requirements**")
        st.text(p.prequalification_requirements)
    if p.rules_text:
        with st.expander("Rules"):
            st.text(p.rules_text)


def _windows_from_editor(frame: pd.DataFrame) -> list[dict]:
    windows = []
    for row in frame.to_dict("records"):
        if not any(str(row.get(k) or "").strip() for k in ("days", "start", "end", "months")):
            continue
        months_text = str(row.get("months") or "").strip()
        parts = [m.strip() for m in months_text.replace(";", ",").split(",") if m.strip()]
        months = [int(m) if m.isdigit() else m for m in parts]
        windows.append(
            {
                "days": row.get("days") or "all",
                "start": row.get("start"),
                "end": row.get("end"),
                "months": months,
            }
        )
    return windows


def _product_form(prefix: str, current: products.ProductRecord | None = None) -> tuple[dict, bool]:
    markets = rd.operator_markets(me)
    labels = rd.market_labels(markets)

    def value(name, default=None):
        return getattr(current, name) if current is not None else default

    with st.form(f"{prefix}_form"):
        data: dict = {}
        left, right = st.columns(2)
        if current is None:
            data["product_id"] = left.text_input(
                "Product id (optional)",
                help="Lower-case slug, e.g. ukpn_peak_reduction_2027. Left empty, one is made from the name.",
                key=f"{prefix}_id",
            )
        data["market_id"] = right.selectbox(
            "Market",
            markets,
            index=markets.index(value("market_id")) if value("market_id") in markets else 0,
            format_func=lambda m: labels[m],
            key=f"{prefix}_market",
        )
        data["product_name"] = left.text_input(
            "Product name", value=value("product_name", ""), key=f"{prefix}_name"
        )
        service_types = rd.service_types()
        data["service_type"] = right.selectbox(
            "Service type",
            service_types,
            index=service_types.index(value("service_type")) if value("service_type") in service_types else 0,
            key=f"{prefix}_service",
        )
        directions = list(products.DIRECTIONS)
        data["direction"] = left.selectbox(
            "Direction",
            directions,
            index=directions.index(value("direction")) if value("direction") in directions else 0,
            format_func=lambda d: DIRECTION_LABELS[d],
            key=f"{prefix}_direction",
        )
        standards = [None, *STANDARD]
        data["standard_product"] = right.selectbox(
            "Standard product (optional)",
            standards,
            index=standards.index(value("standard_product")) if value("standard_product") in standards else 0,
            format_func=lambda s: "—" if s is None else STANDARD[s],
            key=f"{prefix}_standard",
        )
        data["zones"] = st.text_area(
            "Zones (one per line)", value="\n".join(value("zones", []) or []), key=f"{prefix}_zones"
        )
        st.markdown(
            "**Service windows** (UK local time; end before start crosses midnight; months e.g. 11,12,1,2)"
        )
        existing = value("service_windows", []) or []
        frame = pd.DataFrame(
            [{**w, "months": ",".join(map(str, w["months"]))} for w in existing],
            columns=["days", "start", "end", "months"],
        ).astype("string")
        edited = st.data_editor(
            frame,
            num_rows="dynamic",
            column_config={
                "days": st.column_config.SelectboxColumn("days", options=list(products.DAYS), required=True),
                "start": st.column_config.TextColumn("start", help="HH:MM"),
                "end": st.column_config.TextColumn("end", help="HH:MM"),
                "months": st.column_config.TextColumn(
                    "months", help="Month numbers, comma separated; empty = all"
                ),
            },
            key=f"{prefix}_windows",
            hide_index=True,
        )
        a, b, c = st.columns(3)
        data["min_size_mw"] = a.number_input(
            "Minimum size (MW)", min_value=0.0, value=value("min_size_mw"), format="%.3f", key=f"{prefix}_min"
        )
        data["response_time_s"] = b.number_input(
            "Response time (s)", min_value=0.0, value=value("response_time_s"), key=f"{prefix}_response"
        )
        data["min_duration_min"] = c.number_input(
            "Minimum duration (min)", min_value=0.0, value=value("min_duration_min"), key=f"{prefix}_duration"
        )
        a, b = st.columns(2)
        data["availability_price_gbp_per_mw_h"] = a.number_input(
            "Availability price (£/MW/h)",
            min_value=0.0,
            value=value("availability_price_gbp_per_mw_h"),
            key=f"{prefix}_availability",
        )
        data["utilisation_price_gbp_per_mwh"] = b.number_input(
            "Utilisation price (£/MWh)",
            min_value=0.0,
            value=value("utilisation_price_gbp_per_mwh"),
            key=f"{prefix}_utilisation",
        )
        data["prequalification_requirements"] = st.text_area(
            "Prequalification requirements",
            value=value("prequalification_requirements", "") or "",
            key=f"{prefix}_prequal",
        )
        data["rules_text"] = st.text_area(
            "Rules", value=value("rules_text", "") or "", height=160, key=f"{prefix}_rules"
        )
        submitted = st.form_submit_button("Save changes" if current else "Register product", type="primary")
    data["service_windows"] = _windows_from_editor(edited)
    return data, submitted


def _report_refusal(exc: Exception) -> None:
    if isinstance(exc, rd.InvalidInput):
        for error in exc.errors:
            st.error(f"**{error.field}**: {error.message}", icon=":material/error:")
    else:
        st.error(str(exc), icon=":material/error:")


def _catalogue() -> None:
    live = rd.list_products(me, scope="live")
    if not live:
        st.info("No system operator has published a product on SFE yet.", icon=":material/info:")
        return
    st.dataframe(rd.products_frame(live), hide_index=True)
    st.download_button(
        "Download as CSV",
        rd.products_csv(live),
        file_name="sfe_live_products.csv",
        mime="text/csv",
        key="live_csv",
    )
    by_id = {p.product_id: p for p in live}
    chosen = st.selectbox(
        "Product details",
        list(by_id),
        format_func=lambda pid: f"{by_id[pid].product_name} ({by_id[pid].organisation_name})",
        key="catalogue_choice",
    )
    _details(by_id[chosen])


if not is_so:
    st.title("Product catalogue")
    st.caption("Flexibility products that system operators have registered on SFE and made live.")
    _catalogue()
    st.stop()

# -- system operators --------------------------------------------------------------------------------
st.title("Products")
st.caption(
    f"Products of **{me.organisation_name}**: register them in full detail, market-test them in a "
    "consultation, then make them live. Live products appear in the catalogue and the warehouse."
)
tab_own, tab_new, tab_live = st.tabs(["Our products", "Register a product", "Live catalogue"])

with tab_new:
    data, submitted = _product_form("new")
    if submitted:
        try:
            record = rd.register_product(me, data)
            st.success(f"Registered **{record.product_id}** as a draft.", icon=":material/check_circle:")
        except rd.REFUSALS as exc:
            _report_refusal(exc)

with tab_own:
    own = rd.list_products(me, scope="own")
    if not own:
        st.info("No products yet: use **Register a product**.")
    else:
        st.dataframe(rd.products_frame(own), hide_index=True)
        by_id = {p.product_id: p for p in own}
        chosen = st.selectbox(
            "Product",
            list(by_id),
            format_func=lambda pid: (
                f"{by_id[pid].product_name} · {products.STATUS_LABELS[by_id[pid].status]}"
            ),
            key="own_choice",
        )
        product = by_id[chosen]
        _details(product)
        allowed = products.TRANSITIONS[product.status]
        if allowed:
            st.markdown("**Lifecycle**")
            note = st.text_input("Note for the history (optional)", key=f"note_{chosen}")
            cols = st.columns(len(allowed) + 1)
            for i, to_status in enumerate(allowed):
                if cols[i].button(TRANSITION_LABELS[to_status], key=f"move_{chosen}_{to_status}"):
                    try:
                        rd.transition(me, chosen, to_status, note)
                        st.rerun()
                    except rd.REFUSALS as exc:
                        _report_refusal(exc)
        if product.status == "draft":
            st.caption("To market-test this draft, open a consultation on the **Consultations** page.")
        if product.editable:
            with st.expander("Edit this product"):
                changes, saved = _product_form(f"edit_{chosen}", product)
                if saved:
                    try:
                        rd.update_product(me, chosen, changes)
                        st.success("Saved.")
                        st.rerun()
                    except rd.REFUSALS as exc:
                        _report_refusal(exc)
        st.markdown("**History**")
        st.dataframe(rd.status_history_frame(me, chosen), hide_index=True)

with tab_live:
    _catalogue()
