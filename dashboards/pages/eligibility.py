"""Eligibility (UC9): which products an asset or asset group could be prequalified for, and why not
for the others. Providers check their own assets and groups; system operators the assets in their area."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)
import data  # noqa: E402  (dashboards/data.py)

from sfe.registry import assets, db, groups  # noqa: E402
from sfe.registry.access import AccessDenied, NotFound, Role  # noqa: E402
from sfe.rules import eligibility  # noqa: E402

me = auth.require(Role.FSP, Role.SYSTEM_OPERATOR)

OUTCOME_ICONS = {
    "pass": ":material/check_circle:",
    "fail": ":material/cancel:",
    "needs_information": ":material/help:",
    "not_applicable": ":material/remove:",
    "error": ":material/error:",
}
VERDICT_COLUMNS = {
    "product_name": "Product",
    "product_id": "Product id",
    "market_id": "Market",
    "verdict": "Verdict",
    "reasons": "Reasons",
    "warnings": "Warnings",
    "missing_fields": "Missing data",
    "rules_checked": "Rules checked",
}

st.title("Eligibility")
st.caption(
    "Which products an asset or asset group could be prequalified for, and why not for the others. Each "
    "product is judged by its operator's requirements and rules (on SFE or through the operator's own "
    "rules service); every reason names the rule. *Needs information* means data SFE does not hold yet: "
    "the missing field is named."
)

with db.session() as s:
    visible_assets = assets.list_assets(s, me)
    own_groups = groups.list_groups(s, me) if me.role == Role.FSP or me.is_admin else []

kinds = ["Asset"] + (["Asset group"] if own_groups else [])
kind = st.radio("Check", kinds, horizontal=True, key="elig_kind") if len(kinds) > 1 else "Asset"

if kind == "Asset":
    if not visible_assets:
        where = "registered yet" if me.role == Role.FSP else "registered in your area yet"
        st.info(f"No assets {where}. Providers register assets on the Assets page.", icon=":material/info:")
        st.stop()
    labels = {
        r.registry_asset_id: f"{r.registry_asset_id} · {r.asset_name} ({r.asset_type}, {r.capacity_mw:g} MW, "
        f"{r.dno_area or 'area unknown'})"
        for r in visible_assets
    }
    subject_ref = st.selectbox("Asset", list(labels), format_func=labels.get, key="elig_asset")
else:
    group_labels = {g.group_id: f"{g.group_name} ({g.current_members} assets)" for g in own_groups}
    subject_ref = st.selectbox(
        "Asset group", list(group_labels), format_func=group_labels.get, key="elig_group"
    )

with st.expander("What if: technical data SFE does not hold yet", icon=":material/tune:"):
    st.caption(
        "Response time is collected with prequalification. Enter it here to see how it changes the verdicts "
        "(nothing is saved)."
    )
    response_time = st.number_input(
        "Full response time (s)", min_value=0.0, value=None, step=0.1, key="elig_response_time"
    )

try:
    with_data = set(data.products()["product_id"].to_list())
except data.WarehouseNotBuilt:
    with_data = None
only_with_data = False
if with_data is not None:
    only_with_data = st.toggle(
        "Only products with market data on SFE",
        value=True,
        key="elig_with_data",
        help="Live products registered on SFE are always included.",
    )
else:
    st.caption("No warehouse is published yet: every taxonomy product is judged.")
taxonomy_ids = with_data if only_with_data else None

try:
    if kind == "Asset":
        technical = {"response_time_s": response_time} if response_time is not None else None
        report = eligibility.asset_eligibility(me, subject_ref, taxonomy_ids, technical)
    else:
        with db.session() as s:
            members = groups.group_members(s, me, subject_ref, include_past=False)
        technical = (
            {m.registry_asset_id: {"response_time_s": response_time} for m in members}
            if response_time is not None
            else None
        )
        report = eligibility.group_eligibility(me, subject_ref, taxonomy_ids, technical)
except (AccessDenied, NotFound) as exc:
    st.error(str(exc), icon=":material/block:")
    st.stop()

counts = report.counts()
cols = st.columns(3)
cols[0].metric("Eligible", counts["eligible"])
cols[1].metric("Needs information", counts["needs_information"])
cols[2].metric("Not eligible", counts["not_eligible"])
if report.subject.kind == "group" and not report.subject.members:
    st.warning("This group has no current members: add assets to it on the Assets page.")

shown = st.multiselect(
    "Show",
    list(eligibility.VERDICT_LABELS),
    default=list(eligibility.VERDICT_LABELS),
    format_func=eligibility.VERDICT_LABELS.get,
    key="elig_filter",
)
rows = pl.DataFrame(report.rows())
table = rows.filter(pl.col("verdict").is_in(shown)) if rows.height else rows
if table.height:
    st.dataframe(
        table.with_columns(pl.col("verdict").replace_strict(eligibility.VERDICT_LABELS))
        .select(list(VERDICT_COLUMNS))
        .rename(VERDICT_COLUMNS),
        hide_index=True,
        column_config={"Reasons": st.column_config.TextColumn(width="large")},
    )
else:
    st.info("No product matches this filter.")
st.download_button(
    "Download as CSV",
    data.csv_bytes(rows),
    file_name=f"sfe_eligibility_{report.subject.subject_id}.csv",
    mime="text/csv",
    icon=":material/download:",
    key="elig_csv",
)

st.subheader("Every rule, product by product")
by_id = {p.product.product_id: p for p in report.products}
chosen = st.selectbox(
    "Product",
    list(by_id),
    format_func=lambda pid: (
        f"{by_id[pid].product.name} ({pid}) · {eligibility.VERDICT_LABELS[by_id[pid].verdict]}"
    ),
    key="elig_detail",
)
if chosen:
    detail = by_id[chosen]
    verdicts = detail.evaluation.verdicts
    if not verdicts:
        st.info(detail.reasons[0])
    for v in verdicts:
        st.markdown(f"{OUTCOME_ICONS.get(v.outcome, '')} **{v.outcome.replace('_', ' ')}** — {v.explanation}")
