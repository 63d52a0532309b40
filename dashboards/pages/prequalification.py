"""Prequalification (UC15): providers enter an asset's or group's technical data, metering and test
evidence once and apply it to several products, asked only each product's extras; system operators
review the applications to their products. Contracts follow on the Contracts page."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)
import ui  # noqa: E402  (dashboards/ui.py)

from sfe import notices  # noqa: E402
from sfe.registry import assets, db, groups  # noqa: E402
from sfe.registry import prequalification as pq  # noqa: E402
from sfe.registry.access import AccessDenied, NotFound, Role  # noqa: E402
from sfe.registry.validation import Conflict, InvalidInput  # noqa: E402

me = auth.require(Role.FSP, Role.SYSTEM_OPERATOR)

REFUSALS = (AccessDenied, NotFound, InvalidInput, Conflict)
FLASH = "pq_flash"
OUTCOMES = "pq_outcomes"
OUTCOME_ICONS = {
    "pass": ":material/check_circle:",
    "fail": ":material/cancel:",
    "missing": ":material/help:",
    "needs_information": ":material/help:",
    "not_applicable": ":material/remove:",
    "error": ":material/error:",
}
STATUS_ICONS = {
    pq.SUBMITTED: ":material/send:",
    pq.UNDER_REVIEW: ":material/pending:",
    pq.PREQUALIFIED: ":material/verified:",
    pq.REJECTED: ":material/block:",
    pq.WITHDRAWN: ":material/undo:",
}


ui.show_flashes(FLASH)


def field_input(f: pq.FormField, key: str, default: Any = None) -> Any:
    """One input for a dossier or extras field (inside a form)."""
    label = f.label + ("" if f.required or f.type == "bool" else " (optional)")
    help_text = f.help or None
    if f.type == "float":
        value = None if default is None else float(default)
        return st.number_input(label, min_value=0.0, value=value, step=0.1, key=key, help=help_text)
    if f.type == "choice":
        options = ([] if f.required else [""]) + list(f.choices or {})
        index = options.index(default) if default in options else (0 if not f.required else None)
        labels = {"": "—", **dict(f.choices or {})}
        return st.selectbox(label, options, index=index, format_func=labels.get, key=key, help=help_text)
    if f.type == "date":
        value = date.fromisoformat(default) if isinstance(default, str) else default
        return st.date_input(label, value=value, key=key, help=help_text, format="YYYY-MM-DD")
    if f.type == "bool":
        return st.checkbox(label, value=bool(default), key=key, help=help_text)
    if f.type == "longtext":
        return st.text_area(label, value=default or "", key=key, help=help_text)
    return st.text_input(label, value=default or "", key=key, help=help_text)


def _label(fields: dict[str, pq.FormField], name: str) -> str:
    return fields[name].label if name in fields else name


def _answer(fields: dict[str, pq.FormField], name: str, value: Any) -> str:
    """A stored value as a person reads it (choice labels, yes/no, lists joined)."""
    f = fields.get(name)
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if f is not None and f.choices:
        return str(f.choices.get(value, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def show_checks_and_verdicts(checks: list[dict], verdicts: list[dict]) -> None:
    for c in checks:
        st.markdown(f"{OUTCOME_ICONS.get(c['outcome'], '')} **{c['label']}** — {c['explanation']}")
    for v in verdicts:
        if v["outcome"] != "not_applicable":
            st.markdown(f"{OUTCOME_ICONS.get(v['outcome'], '')} {v['explanation']}")


def show_dossier(d: pq.DossierView, key: str) -> None:
    """A dossier version, read-only (for the reviewer and the provider's history)."""
    st.caption(
        f"Version {d.version} of {d.current_version}, saved {ui.local_time(d.saved_at)} by {d.saved_by or '—'}"
    )
    technical = {f.name: f for f in pq.TECHNICAL_FIELDS}
    st.dataframe(
        pd.DataFrame(
            [
                {"Technical data": _label(technical, k), "Value": _answer(technical, k, v)}
                for k, v in d.technical.items()
            ]
        ),
        hide_index=True,
    )
    for title, fields, rows in (
        ("Metering", pq.METER_FIELDS, d.metering),
        ("Test evidence", pq.TEST_FIELDS, d.tests),
    ):
        if rows:
            by_name = {f.name: f for f in fields}
            st.markdown(f"**{title}**")
            st.dataframe(
                pd.DataFrame(
                    [
                        {by_name[f.name].label: _answer(by_name, f.name, row.get(f.name)) for f in fields}
                        for row in rows
                    ]
                ),
                hide_index=True,
            )
    if d.documents:
        st.markdown("**Documents**")
        for doc in d.documents:
            with db.session() as s:
                _, content = pq.read_document(s, me, doc.document_id)
            st.download_button(
                f"{doc.original_name} ({doc.size_bytes / 1024:.0f} KB)",
                content,
                file_name=doc.original_name,
                mime=doc.content_type,
                icon=":material/download:",
                key=f"{key}_doc_{doc.document_id}",
            )


def show_application(a: pq.ApplicationView, key: str) -> None:
    st.markdown(
        f"{STATUS_ICONS[a.status]} **{a.status_label}** · {a.product_name} (`{a.product_id}`) · "
        f"{a.subject_name} ({a.subject_id}) · {a.organisation_name}"
    )
    st.caption(
        f"Submitted {ui.local_time(a.submitted_at)} by {a.submitted_by or '—'} with dossier version {a.dossier_version}"
        + (
            f" (the dossier is now at version {a.dossier_current_version})"
            if a.dossier_current_version != a.dossier_version
            else ""
        )
    )
    if a.decision_reasons:
        st.markdown(
            f"**Reasons** ({a.decided_by or '—'}, {ui.local_time(a.decided_at)}): {a.decision_reasons}"
        )
    if a.contract_reference:
        st.markdown(f"Contract **{a.contract_reference}**: read and accept it on the Contracts page.")
    elif a.status == pq.PREQUALIFIED:
        st.caption("The contract is generated as soon as the operator publishes the product's template.")
    if a.extras:
        st.markdown("**Product-specific answers**")
        st.dataframe(
            pd.DataFrame(
                [
                    {"Question": _label(pq.EXTRA_FIELDS, k), "Answer": _answer(pq.EXTRA_FIELDS, k, v)}
                    for k, v in a.extras.items()
                ]
            ),
            hide_index=True,
        )
    st.markdown("**Checks and rules at submission**")
    show_checks_and_verdicts(a.checks, a.rules_verdicts)
    if a.history:
        st.markdown("**History**")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "When (UK)": ui.local_time(h.at),
                        "From": pq.STATUS_LABELS.get(h.from_status or "", ""),
                        "To": pq.STATUS_LABELS[h.to_status],
                        "By": h.by or "",
                        "Note": h.note or "",
                    }
                    for h in a.history
                ]
            ),
            hide_index=True,
        )


def applications_table(apps: list[pq.ApplicationView]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Id": a.application_id,
                "Product": f"{a.product_name} ({a.product_id})",
                "Asset / group": f"{a.subject_name} ({a.subject_id})",
                "Provider": a.organisation_name,
                "Status": a.status_label,
                "Submitted (UK)": ui.local_time(a.submitted_at),
                "Decided (UK)": ui.local_time(a.decided_at),
                "Contract": a.contract_reference or "",
            }
            for a in apps
        ]
    )


def show_notices() -> None:
    """The organisation's prequalification notices (each also went by email)."""
    mine = [n for n in notices.inbox(me) if n.topic == notices.PREQUALIFICATION]
    unread = sum(n.read_at is None for n in mine)
    with st.expander(f"Prequalification notices ({len(mine)}, {unread} unread)", icon=":material/mail:"):
        if not mine:
            st.caption(
                "None yet: you are told here and by email when an application is submitted or decided."
            )
        else:
            st.dataframe(
                pd.DataFrame(
                    [{"Sent (UTC)": n.sent_at, "Subject": n.subject, "Message": n.body} for n in mine[:50]]
                ),
                hide_index=True,
                key="pq_notices",
            )
            st.caption("Every notice (conflicts and rule breaches too) is in the **Conflicts** page's Inbox.")


# -- system operators: the review queue ------------------------------------------------------------
if me.role == Role.SYSTEM_OPERATOR or me.is_admin:
    st.title("Prequalification reviews")
    st.caption(
        "Applications to your products. Each reuses the provider's dossier (technical data, metering, "
        "test evidence) and adds the product's own answers; the rules engine's verdicts at submission are "
        "shown with it. Take an application into review, then prequalify or reject it (reasons required)."
    )
    with db.session() as s:
        apps = pq.list_applications(s, me)
    queue = [a for a in apps if a.status in (pq.SUBMITTED, pq.UNDER_REVIEW)]
    cols = st.columns(3)
    cols[0].metric("Waiting for review", sum(a.status == pq.SUBMITTED for a in apps))
    cols[1].metric("Under review", sum(a.status == pq.UNDER_REVIEW for a in apps))
    cols[2].metric("Prequalified", sum(a.status == pq.PREQUALIFIED for a in apps))
    show_notices()
    tab_queue, tab_all = st.tabs(["Review queue", "All applications"])
    with tab_all:
        if apps:
            st.dataframe(applications_table(apps), hide_index=True)
        else:
            st.info("No applications to your products yet.", icon=":material/info:")
    with tab_queue:
        if not queue:
            st.info("Nothing waits for review.", icon=":material/task_alt:")
        else:
            by_id = {a.application_id: a for a in queue}
            chosen = st.selectbox(
                "Application",
                list(by_id),
                format_func=lambda i: (
                    f"#{i} · {by_id[i].product_name} · {by_id[i].subject_name} · {by_id[i].organisation_name}"
                    f" · {by_id[i].status_label}"
                ),
                key="so_app",
            )
            with db.session() as s:
                app = pq.get_application(s, me, chosen)
                dossier = pq.dossier_by_id(s, me, app.dossier_id, app.dossier_version)
            show_application(app, key=f"so_{chosen}")
            with st.expander(f"Dossier version {dossier.version}: {dossier.subject_label}", expanded=True):
                show_dossier(dossier, key=f"so_{chosen}")
            if not app.may_review:
                st.caption("Reviewed by the product's system operator.")
            elif app.status == pq.SUBMITTED:
                if st.button("Take into review", key="so_start", icon=":material/pending:"):
                    try:
                        with db.session() as s:
                            pq.start_review(s, me, chosen)
                    except REFUSALS as exc:
                        ui.show_refusal(exc)
                    else:
                        ui.flash(FLASH, f"Application #{chosen} is under review.")
                        st.rerun()
            else:
                with st.form("so_decide"):
                    decision = st.radio(
                        "Decision",
                        list(pq.DECISIONS),
                        format_func=pq.STATUS_LABELS.get,
                        horizontal=True,
                        key="so_decision",
                    )
                    reasons = st.text_area(
                        "Reasons (required to reject; shown to the provider)", key="so_reasons"
                    )
                    decided = st.form_submit_button("Record the decision")
                if decided:
                    try:
                        with db.session() as s:
                            result = pq.decide(s, me, chosen, decision, reasons)
                    except REFUSALS as exc:
                        ui.show_refusal(exc)
                    else:
                        text = f"Application #{chosen}: {result.status_label.lower()}."
                        if result.contract_reference:
                            text += f" Contract {result.contract_reference} was generated."
                        elif result.status == pq.PREQUALIFIED:
                            text += " Its contract follows once you publish the product's template (Contracts page)."
                        ui.flash(FLASH, text)
                        st.rerun()
    st.stop()


# -- providers -------------------------------------------------------------------------------------
st.title("Prequalification")
st.caption(
    "Enter an asset's or group's technical data, metering arrangements and test evidence **once**, then "
    "apply to several products: each asks only its own extras. The rules of each product are checked when "
    "you apply; its system operator reviews the rest."
)
show_notices()
with db.session() as s:
    own_assets = [a for a in assets.list_assets(s, me) if a.retired_at is None]
    own_groups = groups.list_groups(s, me)
subjects = {f"group-{g.group_id}": f"Group · {g.group_name} ({g.current_members} assets)" for g in own_groups}
subjects |= {
    a.registry_asset_id: f"{a.registry_asset_id} · {a.asset_name} ({a.asset_type}, {a.capacity_mw:g} MW)"
    for a in own_assets
}
if not subjects:
    st.info("Register assets (and group them) on the Assets page first.", icon=":material/info:")
    st.stop()
subject = st.selectbox("Asset or group", list(subjects), format_func=subjects.get, key="pq_subject")

with db.session() as s:
    dossier = pq.find_dossier(s, me, subject)
    all_apps = pq.list_applications(s, me, subject_ref=subject)
    applicable = pq.applicable_products(s, me, subject) if dossier else []
    members = dossier.members if dossier else []
version = dossier.version if dossier else 0

tab_dossier, tab_apply, tab_status = st.tabs(["Dossier", "Apply to products", "Status per product"])

# -- the dossier -------------------------------------------------------------------------------------
with tab_dossier:
    if dossier is None:
        st.info("No dossier yet: start with the technical data.", icon=":material/info:")
    else:
        st.caption(
            f"Version {dossier.version}, saved {ui.local_time(dossier.saved_at)} by {dossier.saved_by or '—'}"
            + (f": {dossier.change_note}" if dossier.change_note else "")
        )
    current = dossier.technical if dossier else {}
    with st.form("pq_technical"):
        st.markdown(
            "**Technical data**" + (" (for the group as a whole)" if subject.startswith("group-") else "")
        )
        technical = {}
        columns = st.columns(2)
        for i, f in enumerate(pq.TECHNICAL_FIELDS):
            with columns[i % 2]:
                technical[f.name] = field_input(f, f"pq_t_{subject}_{version}_{f.name}", current.get(f.name))
        note = st.text_input("What changed (optional)", key=f"pq_t_{subject}_{version}_note")
        save_technical = st.form_submit_button("Save the technical data", icon=":material/save:")
    if save_technical:
        try:
            with db.session() as s:
                saved = pq.save_dossier(
                    s,
                    me,
                    subject,
                    {k: v for k, v in technical.items() if v not in (None, "")},
                    dossier.metering if dossier else [],
                    dossier.tests if dossier else [],
                    note,
                )
        except REFUSALS as exc:
            ui.show_refusal(exc)
        else:
            ui.flash(
                FLASH,
                f"Dossier saved as version {saved.version}."
                if saved.version != version
                else "Nothing changed: the dossier stays at its version.",
            )
            st.rerun()

    if dossier is not None:
        st.markdown("**Metering arrangements**")
        if dossier.metering:
            for i, meter in enumerate(dossier.metering):
                left, right = st.columns([6, 1])
                left.markdown(
                    f"{meter.get('asset_id')} · {pq.METER_TYPES.get(meter.get('meter_type'), '')} · "
                    f"MPAN {meter.get('mpan') or '—'} · serial {meter.get('meter_serial') or '—'} · "
                    f"{'half-hourly settled' if meter.get('half_hourly_settled') else 'not half-hourly settled'} · "
                    f"data from {meter.get('data_provider')}"
                )
                if right.button("Remove", key=f"pq_meter_rm_{version}_{i}"):
                    try:
                        with db.session() as s:
                            pq.save_dossier(
                                s,
                                me,
                                subject,
                                dossier.technical,
                                [m for j, m in enumerate(dossier.metering) if j != i],
                                dossier.tests,
                                f"meter {meter.get('mpan') or meter.get('meter_serial')} removed",
                            )
                    except REFUSALS as exc:
                        ui.show_refusal(exc)
                    else:
                        ui.flash(FLASH, "Meter removed.")
                        st.rerun()
        else:
            st.caption("No meters recorded yet.")
        with st.form("pq_meter"):
            st.markdown("Add a meter")
            meter_in: dict[str, Any] = {}
            member_labels = {
                m.registry_asset_id: f"{m.registry_asset_id} {m.asset_name}".strip() for m in members
            }
            meter_in["asset_id"] = st.selectbox(
                "Asset", list(member_labels), format_func=member_labels.get, key=f"pq_m_{version}_asset_id"
            )
            columns = st.columns(2)
            for i, f in enumerate(x for x in pq.METER_FIELDS if x.name != "asset_id"):
                with columns[i % 2]:
                    meter_in[f.name] = field_input(f, f"pq_m_{version}_{f.name}")
            add_meter = st.form_submit_button("Add the meter", icon=":material/add:")
        if add_meter:
            try:
                with db.session() as s:
                    pq.save_dossier(
                        s,
                        me,
                        subject,
                        dossier.technical,
                        [*dossier.metering, {k: v for k, v in meter_in.items() if v not in (None, "")}],
                        dossier.tests,
                        f"meter added for {meter_in['asset_id']}",
                    )
            except REFUSALS as exc:
                ui.show_refusal(exc)
            else:
                ui.flash(FLASH, "Meter added.")
                st.rerun()

        st.markdown("**Test evidence and documents**")
        if dossier.documents:
            st.caption(
                "Documents: " + ", ".join(f"#{d.document_id} {d.original_name}" for d in dossier.documents)
            )
        upload = st.file_uploader(
            "Upload a document (PDF, PNG, JPEG, CSV, TXT, XLSX or DOCX; at most 10 MB)",
            type=[t.lstrip(".") for t in pq.DOCUMENT_TYPES],
            key=f"pq_upload_{version}",
        )
        if upload is not None and st.button("Store the document", key=f"pq_upload_go_{version}"):
            try:
                with db.session() as s:
                    stored = pq.add_document(s, me, subject, upload.name, upload.getvalue())
            except REFUSALS as exc:
                ui.show_refusal(exc)
            else:
                ui.flash(FLASH, f"Document #{stored.document_id} {stored.original_name} stored.")
                st.rerun()
        for i, test in enumerate(dossier.tests):
            left, right = st.columns([6, 1])
            left.markdown(
                f"{test.get('test_date')} · {pq.TEST_TYPES.get(test.get('test_type'), '')} · "
                f"**{pq.TEST_RESULTS.get(test.get('result'), '')}** — {test.get('summary')}"
                + (
                    f" (documents {', '.join(map(str, test['document_ids']))})"
                    if test.get("document_ids")
                    else ""
                )
            )
            if right.button("Remove", key=f"pq_test_rm_{version}_{i}"):
                try:
                    with db.session() as s:
                        pq.save_dossier(
                            s,
                            me,
                            subject,
                            dossier.technical,
                            dossier.metering,
                            [t for j, t in enumerate(dossier.tests) if j != i],
                            f"{test.get('test_type')} of {test.get('test_date')} removed",
                        )
                except REFUSALS as exc:
                    ui.show_refusal(exc)
                else:
                    ui.flash(FLASH, "Test removed.")
                    st.rerun()
        with st.form("pq_test"):
            st.markdown("Add a test")
            test_in: dict[str, Any] = {}
            columns = st.columns(2)
            for i, f in enumerate(x for x in pq.TEST_FIELDS if x.name != "document_ids"):
                with columns[i % 2]:
                    test_in[f.name] = field_input(f, f"pq_x_{version}_{f.name}")
            doc_labels = {d.document_id: d.original_name for d in dossier.documents}
            test_in["document_ids"] = st.multiselect(
                "Evidence documents", list(doc_labels), format_func=doc_labels.get, key=f"pq_x_{version}_docs"
            )
            add_test = st.form_submit_button("Add the test", icon=":material/add:")
        if add_test:
            clean = {k: v.isoformat() if isinstance(v, date) else v for k, v in test_in.items()}
            try:
                with db.session() as s:
                    pq.save_dossier(
                        s,
                        me,
                        subject,
                        dossier.technical,
                        dossier.metering,
                        [*dossier.tests, {k: v for k, v in clean.items() if v not in (None, "", [])}],
                        f"{clean.get('test_type')} of {clean.get('test_date')} added",
                    )
            except REFUSALS as exc:
                ui.show_refusal(exc)
            else:
                ui.flash(FLASH, "Test added.")
                st.rerun()
        with st.expander("Earlier versions", icon=":material/history:"):
            with db.session() as s:
                versions = pq.dossier_versions(s, me, dossier.dossier_id)
            labels = {
                v.version: f"Version {v.version} · {ui.local_time(v.saved_at)} · {v.change_note or ''}"
                for v in versions
            }
            shown = st.selectbox("Version", list(labels), format_func=labels.get, key=f"pq_hist_{version}")
            show_dossier(next(v for v in versions if v.version == shown), key=f"hist_{version}")

# -- applying --------------------------------------------------------------------------------------
with tab_apply:
    outcomes_subject, last_outcomes = st.session_state.get(OUTCOMES, (None, []))
    for outcome in last_outcomes if outcomes_subject == subject else []:
        if outcome.submitted:
            st.success(f"**{outcome.product_name}**: {outcome.explanation}", icon=":material/send:")
        else:
            st.error(f"**{outcome.product_name}**: {outcome.explanation}", icon=":material/block:")
    if dossier is None:
        st.info("Save the dossier's technical data first.", icon=":material/info:")
    elif not applicable:
        st.info("This asset or group has an open application to every live product.", icon=":material/info:")
    else:
        by_id = {p.product_id: p for p in applicable}
        chosen = st.multiselect(
            "Products",
            list(by_id),
            format_func=lambda pid: f"{by_id[pid].name} ({pid}) · {by_id[pid].market_id}",
            key="pq_products",
            help="Every product gets the same dossier; only its extras are asked below.",
        )
        if chosen:
            if st.button("Check against the products' requirements and rules", key="pq_check"):
                try:
                    previews = pq.preview(me, subject, chosen)
                except REFUSALS as exc:
                    ui.show_refusal(exc)
                else:
                    for p in previews:
                        verdict = "ready to apply" if p.ready else "not ready"
                        with st.expander(f"{p.product_name}: {verdict}", expanded=not p.ready):
                            st.caption(p.evaluation.summary())
                            show_checks_and_verdicts(p.checks, p.verdicts)
            with db.session() as s:
                forms = {pid: pq.product_form(s, me, pid, subject) for pid in chosen}
            with st.form("pq_apply"):
                answers: dict[str, dict[str, Any]] = {}
                for pid, form in forms.items():
                    st.markdown(f"**{form.product.name}** (`{pid}`) · {form.kind.label}")
                    if form.requirements_text:
                        st.caption(f"Operator's requirements: {form.requirements_text}")
                    answers[pid] = {}
                    columns = st.columns(2)
                    for i, f in enumerate(form.fields):
                        with columns[i % 2]:
                            answers[pid][f.name] = field_input(
                                f, f"pq_e_{version}_{pid}_{f.name}", form.defaults.get(f.name)
                            )
                apply = st.form_submit_button(f"Apply to {len(forms)} product(s)", icon=":material/send:")
            if apply:
                requests = {
                    pid: {
                        k: (v.isoformat() if isinstance(v, date) else v)
                        for k, v in values.items()
                        if v not in (None, "")
                    }
                    for pid, values in answers.items()
                }
                try:
                    outcomes = pq.submit_applications(me, subject, requests)
                except REFUSALS as exc:
                    ui.show_refusal(exc)
                else:
                    st.session_state[OUTCOMES] = (subject, outcomes)
                    st.session_state.pop("pq_products", None)
                    st.rerun()

# -- status ----------------------------------------------------------------------------------------
with tab_status:
    if not all_apps:
        st.info("No applications yet.", icon=":material/info:")
    else:
        latest = {}
        for a in all_apps:
            latest.setdefault(a.product_id, a)
        st.dataframe(applications_table(list(latest.values())).drop(columns=["Provider"]), hide_index=True)
        by_id = {a.application_id: a for a in all_apps}
        chosen_app = st.selectbox(
            "Details",
            list(by_id),
            format_func=lambda i: f"#{i} · {by_id[i].product_name} · {by_id[i].status_label}",
            key="pq_detail",
        )
        with db.session() as s:
            detail = pq.get_application(s, me, chosen_app)
        show_application(detail, key=f"fsp_{chosen_app}")
        if detail.may_withdraw:
            with st.form("pq_withdraw"):
                reason = st.text_input("Why (optional)", key="pq_withdraw_reason")
                go = st.form_submit_button("Withdraw this application", icon=":material/undo:")
            if go:
                try:
                    with db.session() as s:
                        pq.withdraw(s, me, chosen_app, reason)
                except REFUSALS as exc:
                    ui.show_refusal(exc)
                else:
                    ui.flash(FLASH, f"Application #{chosen_app} withdrawn.")
                    st.rerun()
