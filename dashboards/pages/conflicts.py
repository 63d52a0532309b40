"""Conflicts control room (UC11, UC5): the market conflicts an organisation sees, found by the
warehouse (mart_market_conflicts): an asset committed or dispatched by two system operators at once,
or stacked against a product's rule. A system operator sees every conflict on an asset connected in its
control area (a DNO its licence areas, NESO all of GB) and those it is a side of; a flexibility
provider those on its registered assets and portfolios; an administrator all. Only the parties
acknowledge and resolve them (who, when and why is kept). The rule breaches tab lists commitments and
dispatches that broke a product's rule when they arrived. The organisation's notices are on the Inbox page."""

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
import ui  # noqa: E402  (dashboards/ui.py)

from sfe import conflicts, queries  # noqa: E402
from sfe.registry.access import AccessDenied, NotFound, Role  # noqa: E402
from sfe.rules import arrivals  # noqa: E402

SEVERITIES = ("high", "medium", "low")
SEVERITY_COLOURS = {"high": "#c0392b", "medium": "#e67e22", "low": "#f1c40f"}
TABLE_COLUMNS = {
    "conflict_id": "Conflict",
    "severity": "Severity",
    "state": "State",
    "party": "Your side",
    "dno_area": "DNO area",
    "overlap_start_utc": "Overlap from (UTC)",
    "overlap_end_utc": "Overlap to (UTC)",
    "asset_id": "Asset",
    "registry_asset_id": "Registry asset",
    "registry_group_names": "Portfolios",
    "operator_id_a": "SO a",
    "product_id_a": "Product a",
    "source_ref_a": "Reference a",
    "operator_id_b": "SO b",
    "product_id_b": "Product b",
    "source_ref_b": "Reference b",
    "conflict_kind": "Kind",
    "detected_rule_name": "Rule broken",
    "state_by": "State set by",
    "state_at_utc": "State set at (UTC)",
    "state_note": "Note",
    "explanation": "Explanation",
}

st.title("Conflicts control room")
st.caption(
    "Market conflicts SFE found in the published data: one asset committed or dispatched by two system "
    "operators in overlapping windows, or products stacked on it that a rule forbids. Acknowledge a "
    "conflict you are dealing with; resolve it saying how. Every party sees who did what."
)

me = auth.require(Role.SYSTEM_OPERATOR, Role.FSP)
if me.is_admin:
    st.caption("You see every conflict (administrator).")
elif me.role == Role.SYSTEM_OPERATOR:
    area = conflicts.control_area(me)
    where = (
        "all of Great Britain (a transmission system operator's control area)"
        if area is conflicts.GB_WIDE
        else (
            "DNO licence area(s) " + ", ".join(sorted(a.upper() for a in area)) if area else "no licence area"
        )
    )
    st.caption(
        f"You see the conflicts in which {me.organisation_name} ({me.operator_id or 'no operator'}) is a side, "
        f"and every conflict on an asset connected in your control area: {where}. The asset's area is the "
        "one its owner registered, else the one its grid supply point lies in. You can acknowledge and "
        "resolve only those you are a side of (**Your side** ✓); the others are for awareness."
    )
else:
    st.caption(f"You see the conflicts on {me.organisation_name}'s registered assets and portfolios.")

ui.page_link("pages/inbox.py", "The notices sent to your organisation are in the Inbox")
tab_conflicts, tab_breaches = st.tabs(["Conflicts", "Rule breaches"])

with tab_conflicts:
    # Without published conflicts the page still shows the breaches (registry data).
    visible = None
    try:
        visible = conflicts.visible_conflicts(me, data.db())
    except data.WarehouseNotBuilt as exc:
        data.not_built(exc)
    except queries.TableNotPublished as exc:
        data.not_published(exc)
    if visible is None:
        pass
    elif visible.is_empty():
        st.info(
            "No conflict involves your organisation (or your control area) in the published data."
            + (
                " Register your assets with the ids they have in each market on the **Assets** page; "
                "conflicts on them appear here after the next build."
                if me.role == Role.FSP
                else ""
            ),
            icon=":material/check_circle:",
        )
    else:
        days = visible.get_column("overlap_start_utc").dt.date()
        first_day, last_day = days.min(), days.max()
        c1, c2, c3 = st.columns([1, 1, 2])
        severities = c1.multiselect("Severity", SEVERITIES, default=list(SEVERITIES), key="f_severity")
        states = c2.multiselect(
            "State", conflicts.STATES, default=[conflicts.OPEN, conflicts.ACKNOWLEDGED], key="f_state"
        )
        period = c3.date_input(
            "Overlap starts between (UTC days)",
            value=(first_day, last_day),
            min_value=first_day,
            max_value=last_day,
            key="f_period",
        )
        start_day, end_day = (
            (period[0], period[-1]) if isinstance(period, tuple) and period else (first_day, last_day)
        )
        shown = visible.filter(
            pl.col("severity").is_in(severities)
            & pl.col("state").is_in(states)
            & pl.col("overlap_start_utc").dt.date().is_between(start_day, end_day)
        )
        counts = shown.group_by("state").len()
        open_count = dict(counts.iter_rows()).get(conflicts.OPEN, 0)
        m1, m2, m3 = st.columns(3)
        m1.metric("Conflicts shown", shown.height)
        m2.metric("Open", open_count)
        m3.metric("High severity", shown.filter(pl.col("severity") == "high").height)

        if shown.is_empty():
            st.info("No conflict matches these filters.")
        else:
            per_day = (
                shown.with_columns(pl.col("overlap_start_utc").dt.date().alias("day"))
                .group_by("day", "severity")
                .len("conflicts")
                .sort("day")
            )
            chart = (
                alt.Chart(per_day.to_pandas())
                .mark_bar()
                .encode(
                    x=alt.X("day:T", title="Overlap starts (UTC day)"),
                    y=alt.Y("conflicts:Q", title="Conflicts"),
                    color=alt.Color(
                        "severity:N",
                        scale=alt.Scale(domain=list(SEVERITY_COLOURS), range=list(SEVERITY_COLOURS.values())),
                        title="Severity",
                    ),
                    tooltip=["day:T", "severity:N", "conflicts:Q"],
                )
                .properties(height=220)
            )
            st.altair_chart(chart, width="stretch")
            table = shown.select(list(TABLE_COLUMNS)).rename(TABLE_COLUMNS)
            st.dataframe(table, hide_index=True)
            st.download_button(
                "Download these conflicts (CSV)",
                data.csv_bytes(table),
                file_name=f"sfe_conflicts_{start_day:%Y%m%d}_{end_day:%Y%m%d}.csv",
                mime="text/csv",
                key="download_conflicts",
                on_click="ignore",
            )

        st.subheader("Acknowledge or resolve")
        ids = visible.get_column("conflict_id").to_list()
        linked = st.query_params.get("conflict")  # the link in a notice email
        chosen = st.selectbox(
            "Conflict",
            ids,
            index=ids.index(linked) if linked in ids else 0,
            format_func=lambda cid: (
                lambda r: (
                    f"{cid} · {r['severity']} · {r['state']} · {r['overlap_start_utc']:%Y-%m-%d %H:%M} UTC"
                )
            )(visible.row(ids.index(cid), named=True)),
            key="chosen_conflict",
        )
        row = visible.row(ids.index(chosen), named=True)
        st.markdown(f"**{row['severity'].capitalize()}** · state **{row['state']}**")
        st.write(row["explanation"])
        try:
            past = conflicts.history(me, chosen, data.db())
        except NotFound as exc:
            st.error(str(exc))
            past = []
        if past:
            st.dataframe(
                pl.DataFrame(past).rename(
                    {
                        "at_utc": "At (UTC)",
                        "state": "State",
                        "by": "By",
                        "organisation": "Organisation",
                        "note": "Note",
                    }
                ),
                hide_index=True,
                key="history",
            )
        if row["state"] == conflicts.RESOLVED:
            st.success("This conflict is resolved.", icon=":material/task_alt:")
        elif not row["party"]:
            st.info(
                "This conflict is in your control area, but your organisation is not a side of it: the "
                "parties acknowledge and resolve it.",
                icon=":material/visibility:",
            )
        else:
            with st.form("conflict_action", clear_on_submit=True):
                note = st.text_area(
                    "Note", max_chars=conflicts.MAX_NOTE, help="Required to resolve: say how it was resolved."
                )
                b1, b2 = st.columns(2)
                ack = b1.form_submit_button("Acknowledge", disabled=row["state"] != conflicts.OPEN)
                res = b2.form_submit_button("Resolve", type="primary")
            if ack or res:
                try:
                    if res:
                        conflicts.resolve(me, chosen, note, data.db())
                    else:
                        conflicts.acknowledge(me, chosen, note, data.db())
                except (conflicts.ConflictError, AccessDenied, NotFound) as exc:
                    st.error(str(exc))
                else:
                    st.session_state["conflict_flash"] = (
                        f"Conflict {chosen} {'resolved' if res else 'acknowledged'}."
                    )
                    st.rerun()
        flash = st.session_state.pop("conflict_flash", None)
        if flash:
            st.success(flash, icon=":material/check:")


with tab_breaches:
    st.caption(
        "Commitments and dispatches that broke a product's rule when they arrived (judged once, after the "
        "build that brought them). They already happened, so SFE did not refuse them: it tells the asset's "
        "organisation and the product's system operator. A block-mode rule's breach is high severity, a "
        "notify-mode rule's medium. "
        + (
            "You see the breaches in the products you run."
            if me.role == Role.SYSTEM_OPERATOR and not me.is_admin
            else "You see the breaches on your registered assets."
            if not me.is_admin
            else "You see every breach (administrator)."
        )
    )
    breaches = arrivals.visible_breaches(me)
    if breaches.is_empty():
        st.info("No rule breach yet.", icon=":material/check_circle:")
    else:
        b1, b2 = st.columns(2)
        b1.metric("Breaches", breaches.height)
        b2.metric("High severity", breaches.filter(pl.col("severity") == "high").height)
        products = sorted(set(breaches.get_column("product_id").to_list()))
        chosen_products = st.multiselect("Products", products, default=products, key="f_breach_products")
        shown_breaches = breaches.filter(pl.col("product_id").is_in(chosen_products))
        breach_table = shown_breaches.select(list(arrivals.BREACH_LABELS)).rename(arrivals.BREACH_LABELS)
        st.dataframe(breach_table, hide_index=True, key="breaches_table")
        st.download_button(
            "Download these breaches (CSV)",
            data.csv_bytes(breach_table),
            file_name="sfe_rule_breaches.csv",
            mime="text/csv",
            key="download_breaches",
            on_click="ignore",
        )
        linked_breach = st.query_params.get("breach")  # the link in a breach notice
        if linked_breach and linked_breach.isdigit():
            match = breaches.filter(pl.col("breach_id") == int(linked_breach))
            if not match.is_empty():
                st.markdown(f"**Breach {linked_breach}**")
                st.write(match.row(0, named=True)["explanation"])
