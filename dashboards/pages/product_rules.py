"""Product rules (UC5): a system operator writes the participation rules of its products — exclusivity,
stacking, minimum capacity, technology, location, response time, concurrent commitments, gaps between
activations — in notify (warn) or block (refuse) mode, or points SFE at its own rules service, and
tests an asset against them. Every change is versioned and audited."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)
import data  # noqa: E402  (dashboards/data.py)

from sfe import taxonomy  # noqa: E402
from sfe.registry import assets, db  # noqa: E402
from sfe.registry.access import AccessDenied, NotFound, Role  # noqa: E402
from sfe.rules import arrivals, catalogue, engine, facts, kinds, store  # noqa: E402
from sfe.rules.kinds import RuleError  # noqa: E402

me = auth.require(Role.SYSTEM_OPERATOR)

MODE_LABELS = {"notify": "Notify (warn, allow)", "block": "Block (refuse)"}
CONTEXT_LABELS = {
    "join": "Asset joins the product",
    "prequalification": "Prequalification application",
    "commitment": "A commitment arrives (accepted bid, contract)",
    "dispatch": "A dispatch arrives (activation)",
}
DECISION_STYLE = {
    engine.ALLOWED: (st.success, ":material/check_circle:"),
    engine.ALLOWED_WITH_WARNINGS: (st.warning, ":material/warning:"),
    engine.NEEDS_INFO: (st.info, ":material/help:"),
    engine.REFUSED: (st.error, ":material/block:"),
}
OUTCOME_ICONS = {
    "pass": ":material/check_circle:",
    "fail": ":material/cancel:",
    "needs_information": ":material/help:",
    "not_applicable": ":material/remove:",
    "error": ":material/error:",
}
ASSET_TYPES = [r["asset_type"] for r in taxonomy.table("asset_types") if r["asset_type"] != "unknown"]
DNO_AREAS = sorted({r["dno_area"] for r in taxonomy.table("dno_areas")})
GSP_GROUPS = sorted({r["gsp_group"] for r in taxonomy.table("dno_areas")})

st.title("Product rules")
st.caption(
    "Rules are data attached to your products and checked whenever an asset joins a product or applies "
    "for prequalification, when commitments and dispatches arrive, and on demand. **Notify** warns and "
    "lets the action through; **block** refuses it. Every verdict explains itself by naming the rule."
)

with db.session() as s:
    products = catalogue.editable_products(s, me)
    all_product_ids = [p.product_id for p in catalogue.rule_products(s)]
if not products:
    st.info(
        "Your account is not linked to an operator that runs products on SFE yet. An SFE administrator links "
        "system-operator accounts when verifying them.",
        icon=":material/info:",
    )
    st.stop()

by_id = {p.product_id: p for p in products}
product_id = st.selectbox(
    "Product",
    list(by_id),
    format_func=lambda pid: (
        f"{by_id[pid].name} ({pid}) · {by_id[pid].market_id}"
        + ("" if by_id[pid].source == "taxonomy" else f" · registered, {by_id[pid].status}")
    ),
    key="rules_product",
)
product = by_id[product_id]


def param_inputs(kind: str, values: dict[str, Any], key: str) -> dict[str, Any]:
    """One input per parameter of the rule kind (inside a form)."""
    out: dict[str, Any] = {}
    for p in kinds.KINDS[kind].params:
        current = values.get(p.name, p.default)
        label = p.label + ("" if p.required or p.type in ("bool", "choice") else " (optional)")
        k = f"{key}_{p.name}"
        if p.type == "float":
            out[p.name] = st.number_input(
                label,
                min_value=float(p.minimum or 0),
                value=None if current is None else float(current),
                step=0.1,
                key=k,
                help=p.help or None,
            )
        elif p.type == "int":
            out[p.name] = st.number_input(
                label,
                min_value=int(p.minimum or 0),
                value=None if current is None else int(current),
                step=1,
                key=k,
            )
        elif p.type == "bool":
            out[p.name] = st.checkbox(label, value=bool(current), key=k)
        elif p.type == "choice":
            out[p.name] = st.selectbox(label, p.choices, index=p.choices.index(current), key=k)
        elif p.type == "products":
            options = [pid for pid in all_product_ids if pid != product_id]
            out[p.name] = st.multiselect(
                label, options, default=[v for v in current or [] if v in options], key=k, help=p.help or None
            )
        elif p.type in ("asset_types", "dno_areas", "gsp_groups"):
            options = {"asset_types": ASSET_TYPES, "dno_areas": DNO_AREAS, "gsp_groups": GSP_GROUPS}[p.type]
            out[p.name] = st.multiselect(
                label, options, default=[v for v in current or [] if v in options], key=k
            )
        else:  # texts
            out[p.name] = st.text_input(
                label + " — separate with commas", value=", ".join(current or []), key=k
            )
    return out


def show_evaluation(evaluation: engine.Evaluation) -> None:
    decision = evaluation.decision
    box, icon = DECISION_STYLE[decision]
    box(f"**{engine.DECISION_LABELS[decision]}**", icon=icon)
    for v in evaluation.verdicts:
        st.markdown(f"{OUTCOME_ICONS.get(v.outcome, '')} **{v.outcome.replace('_', ' ')}** — {v.explanation}")
    if not evaluation.verdicts:
        st.caption("No rule or requirement applies to this product yet.")


# -- the product's own requirements ----------------------------------------------------------------
requirements = engine.product_requirements(product)
if requirements:
    st.markdown(
        "**Requirements from the product's registration** (block): "
        + "; ".join(f"{r.name}" for r in requirements)
        + ". Change them on the Products page."
    )

tab_rules, tab_external, tab_test, tab_breaches = st.tabs(
    ["Rules", "External rules service", "Test an asset", "Breaches on arrival"]
)

# -- rules -----------------------------------------------------------------------------------------
with tab_rules:
    with db.session() as s:
        rules = store.list_rules(s, product_id, include_retired=True)
        histories = {r.id: store.rule_history(s, r.id) for r in rules}
    active = [r for r in rules if r.active]
    if not active:
        st.info("No rules yet for this product.")
    for rule in rules:
        title = f"{rule.name} · {kinds.KINDS[rule.kind].label} · {rule.mode}"
        if not rule.active:
            title += " · retired"
        with st.expander(title, icon=":material/rule:" if rule.active else ":material/archive:"):
            st.markdown(kinds.describe_params(rule.kind, rule.params) or "No parameters.")
            if rule.description:
                st.caption(rule.description)
            if rule.source_url:
                st.markdown(f"Source: {rule.source_url}")
            if rule.active:
                with st.form(f"rule_edit_{rule.id}"):
                    mode = st.radio(
                        "Mode",
                        list(MODE_LABELS),
                        index=list(MODE_LABELS).index(rule.mode),
                        format_func=MODE_LABELS.get,
                        horizontal=True,
                        key=f"rule_mode_{rule.id}",
                    )
                    name = st.text_input("Name", value=rule.name, key=f"rule_name_{rule.id}")
                    params = param_inputs(rule.kind, rule.params, f"rule_{rule.id}")
                    description = st.text_area(
                        "Why (shown with refusals)", value=rule.description or "", key=f"rule_desc_{rule.id}"
                    )
                    note = st.text_input("Note for the history", key=f"rule_note_{rule.id}")
                    cols = st.columns(2)
                    save = cols[0].form_submit_button(
                        "Save changes", type="primary", key=f"rule_save_{rule.id}"
                    )
                    retire = cols[1].form_submit_button("Retire this rule", key=f"rule_retire_{rule.id}")
                if save or retire:
                    try:
                        with db.session() as s:
                            if retire:
                                store.retire_rule(s, me, rule.id, note=note or None)
                            else:
                                store.update_rule(
                                    s,
                                    me,
                                    rule.id,
                                    change_note=note or None,
                                    name=name,
                                    mode=mode,
                                    params=params,
                                    description=description,
                                )
                        st.rerun()
                    except (RuleError, AccessDenied, NotFound) as exc:
                        st.error(str(exc))
            st.dataframe(
                pl.DataFrame(
                    {
                        "Version": [v.version for v in histories[rule.id]],
                        "Mode": [v.mode for v in histories[rule.id]],
                        "Active": [v.active for v in histories[rule.id]],
                        "Parameters": [kinds.describe_params(v.kind, v.params) for v in histories[rule.id]],
                        "Changed (UTC)": [v.changed_at for v in histories[rule.id]],
                        "By user": [v.changed_by_id for v in histories[rule.id]],
                        "Note": [v.change_note or "" for v in histories[rule.id]],
                    }
                ),
                hide_index=True,
            )

    st.subheader("Add a rule")
    new_kind = st.selectbox(
        "Kind", list(kinds.KINDS), format_func=lambda k: kinds.KINDS[k].label, key="new_rule_kind"
    )
    st.caption(kinds.KINDS[new_kind].description)
    with st.form("new_rule"):
        name = st.text_input(
            "Name", placeholder="e.g. Not stacked with Dynamic Containment", key="new_rule_name"
        )
        mode = st.radio(
            "Mode", list(MODE_LABELS), format_func=MODE_LABELS.get, horizontal=True, key="new_rule_mode"
        )
        params = param_inputs(new_kind, {}, f"new_{new_kind}")
        description = st.text_area("Why (shown with refusals)", key="new_rule_desc")
        source_url = st.text_input("Where the rule is published (link, optional)", key="new_rule_source")
        if st.form_submit_button("Add the rule", type="primary", key="new_rule_submit"):
            try:
                with db.session() as s:
                    store.create_rule(
                        s, me, product_id, new_kind, name, mode, params, description, source_url
                    )
                st.rerun()
            except (RuleError, AccessDenied) as exc:
                st.error(str(exc))

# -- external rules service ------------------------------------------------------------------------
with tab_external:
    st.markdown(
        "Keep the product's rules in your own systems: SFE sends each evaluation request to this URL and "
        "applies the verdicts it returns (the request and answer format is in `docs/rules-api.md`). A "
        "service that does not answer, or answers wrongly, gives an error verdict, never a pass."
    )
    with db.session() as s:
        endpoint = store.get_endpoint(s, product_id)
    with st.form("rules_endpoint"):
        url = st.text_input(
            "Endpoint URL",
            value=endpoint.url if endpoint else "",
            placeholder="https://…",
            key="endpoint_url",
        )
        timeout_s = st.number_input(
            "Timeout (s)",
            min_value=0.1,
            max_value=30.0,
            value=float(endpoint.timeout_s) if endpoint else 5.0,
            step=0.5,
            key="endpoint_timeout",
        )
        failure_mode = st.radio(
            "When the service cannot answer",
            ["block", "notify"],
            index=0 if endpoint is None or endpoint.failure_mode == "block" else 1,
            format_func={
                "block": "Hold the action (needs information)",
                "notify": "Allow with a warning",
            }.get,
            key="endpoint_failure_mode",
        )
        enabled = st.checkbox(
            "Use this service", value=endpoint.active if endpoint else True, key="endpoint_active"
        )
        cols = st.columns(2)
        save = cols[0].form_submit_button("Save", type="primary", key="endpoint_save")
        remove = cols[1].form_submit_button("Remove", disabled=endpoint is None, key="endpoint_remove")
    if save or remove:
        try:
            with db.session() as s:
                if remove:
                    store.remove_endpoint(s, me, product_id)
                else:
                    store.set_endpoint(s, me, product_id, url, timeout_s, failure_mode, enabled)
            st.rerun()
        except (RuleError, AccessDenied) as exc:
            st.error(str(exc))

# -- test an asset ---------------------------------------------------------------------------------
with tab_test:
    with db.session() as s:
        area_assets = assets.list_assets(s, me)
    if not area_assets:
        st.info("No registered assets in your area to test.")
        st.stop()
    labels = {
        a.registry_asset_id: f"{a.registry_asset_id} · {a.asset_name} ({a.asset_type}, {a.capacity_mw:g} MW, "
        f"{a.dno_area or 'area unknown'})"
        for a in area_assets
    }
    asset_id = st.selectbox("Asset", list(labels), format_func=labels.get, key="test_asset")
    context = st.selectbox(
        "Situation", list(CONTEXT_LABELS), format_func=CONTEXT_LABELS.get, key="test_context"
    )
    response_time = st.number_input(
        "Asset's full response time (s), if known",
        min_value=0.0,
        value=None,
        step=0.1,
        key="test_response_time",
    )
    window = None
    commitments: list[facts.Commitment] = []
    if context in ("commitment", "dispatch"):
        cols = st.columns(4)
        day = cols[0].date_input("Day (UTC)", value=datetime.now(UTC).date(), key="test_day")
        start = cols[1].time_input("Start (UTC)", value=time(16, 0), key="test_start")
        hours = cols[2].number_input("Hours", min_value=0.5, value=3.0, step=0.5, key="test_hours")
        power = cols[3].number_input("MW", min_value=0.0, value=1.0, step=0.1, key="test_power")
        start_utc = datetime.combine(day, start, tzinfo=UTC)
        st.caption("The asset's other commitments and dispatches in this situation (add rows):")
        other = st.data_editor(
            pl.DataFrame(
                {
                    "product_id": ["neso_eac_dch"],
                    "kind": ["commitment"],
                    "start_utc": [start_utc - timedelta(hours=1)],
                    "end_utc": [start_utc + timedelta(hours=3)],
                    "power_mw": [1.0],
                }
            ),
            num_rows="dynamic",
            key="test_others",
            column_config={
                "product_id": st.column_config.SelectboxColumn(
                    "Product", options=all_product_ids, required=True
                ),
                "kind": st.column_config.SelectboxColumn(
                    "Kind", options=["commitment", "dispatch"], required=True
                ),
                "start_utc": st.column_config.DatetimeColumn("Start (UTC)", required=True, timezone="UTC"),
                "end_utc": st.column_config.DatetimeColumn("End (UTC)", required=True, timezone="UTC"),
                "power_mw": st.column_config.NumberColumn("MW", min_value=0.0),
            },
        )
    if st.button("Check against the rules", type="primary", key="test_run"):
        try:
            if context in ("commitment", "dispatch"):
                window = facts.Window(start_utc, start_utc + timedelta(hours=hours), power or None)
                edited = other if isinstance(other, pl.DataFrame) else pl.from_pandas(other)
                for i, row in enumerate(edited.iter_rows(named=True), start=1):
                    if not row["product_id"] or row["start_utc"] is None or row["end_utc"] is None:
                        continue
                    begin, end = (
                        row[k] if row[k].tzinfo else row[k].replace(tzinfo=UTC)
                        for k in ("start_utc", "end_utc")
                    )
                    commitments.append(
                        facts.Commitment(
                            row["product_id"],
                            row["kind"] or "commitment",
                            begin,
                            end,
                            row["power_mw"],
                            reference=f"row {i}",
                        )
                    )
            with db.session() as s:
                subject = facts.asset_subject(
                    facts.find_asset(s, assets.get_asset(s, me, asset_id).registry_asset_id),
                    {"response_time_s": response_time} if response_time is not None else None,
                )
                rule_set = store.rule_set(s, product_id)
            request = engine.EvaluationRequest(
                context, product, subject, window, commitments=tuple(commitments)
            )
            show_evaluation(engine.evaluate_with(rule_set, request))
        except (ValueError, NotFound, AccessDenied) as exc:
            st.error(str(exc))

with tab_breaches:
    st.caption(
        "Commitments and dispatches in this product that broke one of its rules when they arrived (each is "
        "judged once, after the build that brought it). They already happened, so nothing was refused: the "
        "asset's organisation and you were told. All products' breaches are on the **Conflicts** page."
    )
    breaches = arrivals.visible_breaches(me).filter(pl.col("product_id") == product_id)
    if breaches.is_empty():
        st.info("No breach of this product's rules yet.", icon=":material/check_circle:")
    else:
        per_rule = (
            breaches.group_by("rule_name", "rule_mode").len("breaches").sort("breaches", descending=True)
        )
        st.dataframe(
            per_rule.rename({"rule_name": "Rule", "rule_mode": "Mode", "breaches": "Breaches"}),
            hide_index=True,
            key="breaches_per_rule",
        )
        shown = (
            "breach_id",
            "severity",
            "start_utc",
            "end_utc",
            "registry_asset_id",
            "asset_name",
            "rule_name",
            "activity_kind",
            "source_ref",
            "explanation",
        )
        table = breaches.select(shown).rename({c: arrivals.BREACH_LABELS[c] for c in shown})
        st.dataframe(table, hide_index=True, key="product_breaches")
        st.download_button(
            "Download these breaches (CSV)",
            data.csv_bytes(table),
            file_name=f"sfe_rule_breaches_{product_id}.csv",
            mime="text/csv",
            key="download_product_breaches",
            on_click="ignore",
        )
