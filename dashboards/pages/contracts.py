"""Contracts (UC14): the contracts SFE generated after prequalification, read, downloaded (HTML and
PDF) and accepted by the provider and the system operator; system operators also write each
product's standard template with placeholders and referenced standard terms."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)
import ui  # noqa: E402  (dashboards/ui.py)

from sfe.registry import contracts, db  # noqa: E402
from sfe.registry.access import AccessDenied, NotFound, Role  # noqa: E402
from sfe.registry.validation import Conflict, InvalidInput  # noqa: E402
from sfe.rules import catalogue  # noqa: E402

me = auth.require(Role.FSP, Role.SYSTEM_OPERATOR)

REFUSALS = (AccessDenied, NotFound, InvalidInput, Conflict)
FLASH = "ct_flash"
STATUS_ICONS = {
    contracts.AWAITING: ":material/pending:",
    contracts.AMENDMENT_PENDING: ":material/edit_document:",
    contracts.EXECUTED: ":material/verified:",
}


def _acceptance_text(version: contracts.ContractVersionView, party: str) -> str:
    accepted = version.accepted_by(party)
    who = contracts.PARTIES[party]
    if accepted is None:
        return f"{who}: not accepted yet"
    return f"{who}: accepted by {accepted.by} ({accepted.organisation_name}) on {ui.local_time(accepted.accepted_at)} UK time"


st.title("Contracts")
ui.show_flashes(FLASH)

is_so = me.role == Role.SYSTEM_OPERATOR or me.is_admin
tabs = st.tabs(["Contracts", "Templates"]) if is_so else [st.container()]  # providers write no templates

# -- contracts -------------------------------------------------------------------------------------
with tabs[0]:
    st.caption(
        "A contract is generated from the product's standard template when an application is prequalified. "
        "Each party accepts the current version; an acceptance records the SHA-256 of the text you read. "
        "When both have accepted, the contract is executed."
    )
    with db.session() as s:
        found = contracts.list_contracts(s, me)
    if not found:
        st.info(
            "No contracts yet. They appear here once an application is prequalified and the product's "
            "operator has published its template.",
            icon=":material/info:",
        )
    else:
        cols = st.columns(3)
        cols[0].metric("Awaiting your acceptance", sum(c.awaiting_my_acceptance for c in found))
        cols[1].metric("Executed", sum(c.status == contracts.EXECUTED for c in found))
        cols[2].metric("Contracts", len(found))
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Reference": c.reference,
                        "Product": f"{c.product_name} ({c.product_id})",
                        "Provider": c.fsp_name,
                        "System operator": c.so_name,
                        "Assets": c.subject_name,
                        "Status": c.status_label,
                        "Version": c.current_version,
                        "Your acceptance": (
                            "—"
                            if c.my_party is None
                            else "Awaiting you"
                            if c.awaiting_my_acceptance
                            else "Accepted"
                        ),
                    }
                    for c in found
                ]
            ),
            hide_index=True,
        )
        by_id = {c.contract_id: c for c in found}
        chosen = st.selectbox(
            "Contract",
            list(by_id),
            format_func=lambda i: f"{by_id[i].reference} · {by_id[i].product_name} · {by_id[i].status_label}",
            key="ct_contract",
        )
        contract = by_id[chosen]
        current = contract.current
        st.markdown(
            f"{STATUS_ICONS[contract.status]} **{contract.reference}**, version {current.version} · "
            f"**{contract.status_label}** · {contract.so_name} and {contract.fsp_name}"
        )
        st.caption(
            f"Generated {ui.local_time(current.generated_at)} UK time from template version {current.template_version}. "
            f"Content SHA-256: `{current.content_sha256}`"
        )
        for party in contracts.PARTIES:
            st.markdown("- " + _acceptance_text(current, party))
        with db.session() as s:
            html_doc = contracts.download(s, me, chosen, "html")
            pdf_doc = contracts.download(s, me, chosen, "pdf")
        left, right = st.columns(2)
        left.download_button(
            "Download PDF",
            pdf_doc.content,
            file_name=pdf_doc.filename,
            mime="application/pdf",
            icon=":material/picture_as_pdf:",
            key="ct_pdf",
        )
        right.download_button(
            "Download HTML",
            html_doc.content,
            file_name=html_doc.filename,
            mime="text/html",
            icon=":material/download:",
            key="ct_html",
        )
        with st.expander(f"Read version {current.version}", expanded=contract.awaiting_my_acceptance):
            components.html(html_doc.content.decode("utf-8"), height=640, scrolling=True)

        if contract.awaiting_my_acceptance:
            with st.form("ct_accept"):
                confirmed = st.checkbox(
                    f"I have read version {current.version} (SHA-256 {current.content_sha256[:16]}…) and accept it "
                    f"on behalf of {me.organisation_name}.",
                    key="ct_confirm",
                )
                accept = st.form_submit_button(
                    f"Accept version {current.version}", icon=":material/handshake:"
                )
            if accept:
                if not confirmed:
                    st.error("Tick the box to confirm you have read this version.", icon=":material/error:")
                else:
                    try:
                        with db.session() as s:
                            result = contracts.accept(s, me, chosen, current.version, current.content_sha256)
                    except REFUSALS as exc:
                        ui.show_refusal(exc)
                    else:
                        ui.flash(
                            FLASH,
                            f"{result.reference} version {current.version} accepted: {result.status_label.lower()}.",
                        )
                        st.rerun()
        elif contract.my_party is None:
            st.caption("SFE administrators can read contracts but are not a party to them.")

        if contract.my_party == "so" and contract.template_outdated:
            st.warning(
                "The product's template has changed since this version was generated.",
                icon=":material/update:",
            )
            if st.button("Generate a new version from the current template", key="ct_regenerate"):
                try:
                    with db.session() as s:
                        result = contracts.regenerate(s, me, chosen)
                except REFUSALS as exc:
                    ui.show_refusal(exc)
                else:
                    ui.flash(
                        FLASH,
                        f"{result.reference} version {result.current_version} generated; both parties accept it again.",
                    )
                    st.rerun()

        if len(contract.versions) > 1:
            with st.expander("Earlier versions", icon=":material/history:"):
                st.dataframe(
                    pd.DataFrame(
                        [
                            {
                                "Version": v.version,
                                "Template version": v.template_version,
                                "Generated (UK)": ui.local_time(v.generated_at),
                                "Executed (UK)": ui.local_time(v.executed_at),
                                "Provider": _acceptance_text(v, "fsp"),
                                "System operator": _acceptance_text(v, "so"),
                                "SHA-256": v.content_sha256,
                            }
                            for v in contract.versions
                        ]
                    ),
                    hide_index=True,
                )
                old = st.selectbox(
                    "Download version", [v.version for v in contract.versions[1:]], key="ct_old_version"
                )
                with db.session() as s:
                    old_pdf = contracts.download(s, me, chosen, "pdf", old)
                st.download_button(
                    f"Download version {old} (PDF)",
                    old_pdf.content,
                    file_name=old_pdf.filename,
                    mime="application/pdf",
                    key="ct_old_pdf",
                )

# -- templates (system operators) ------------------------------------------------------------------
if is_so:
    with tabs[1]:
        st.caption(
            "One standard contract per product. Write it in plain text: `#` headings, blank lines between "
            "paragraphs, `-` or `1.` lists and `**bold**`; placeholders in double braces are filled from the "
            "registry for each contract. The standard terms you list are referenced in every contract."
        )
        with db.session() as s:
            products = contracts.template_products(s, me)
        if not products:
            st.info("Your account is not linked to an operator with products on SFE.", icon=":material/info:")
        else:
            by_pid = {p.product_id: p for p in products}
            product_id = st.selectbox(
                "Product",
                list(by_pid),
                format_func=lambda pid: f"{by_pid[pid].name} ({pid}) · {by_pid[pid].market_id}",
                key="ct_product",
            )
            with db.session() as s:
                template = contracts.get_template(s, me, product_id)
                history = contracts.template_versions(s, me, product_id)
                outdated = contracts.outdated_contracts(s, me, product_id)
                product = catalogue.product_info(s, product_id)
            if template is None:
                st.info(
                    "No template yet: below is SFE's suggested starting text. Contracts of prequalified "
                    "applications are generated as soon as you save it.",
                    icon=":material/edit_note:",
                )
                start = contracts.default_template(product)
                title, body, terms, version = start["title"], start["body"], start["standard_terms"], 0
            else:
                st.caption(
                    f"Version {template.version}, saved {ui.local_time(template.saved_at)} UK time by {template.saved_by}"
                )
                title, body, terms, version = (
                    template.title,
                    template.body,
                    template.standard_terms,
                    template.version,
                )
            with st.form("ct_template"):
                new_title = st.text_input("Title", value=title, key=f"ct_t_{product_id}_{version}_title")
                new_body = st.text_area(
                    "Contract text", value=body, height=420, key=f"ct_t_{product_id}_{version}_body"
                )
                new_terms = st.text_area(
                    "Standard terms, one per line: reference | title | address",
                    value=contracts.terms_text(terms),
                    key=f"ct_t_{product_id}_{version}_terms",
                )
                note = st.text_input("What changed (optional)", key=f"ct_t_{product_id}_{version}_note")
                save = st.form_submit_button("Save the template", icon=":material/save:")
            if save:
                try:
                    with db.session() as s:
                        saved = contracts.save_template(
                            s,
                            me,
                            product_id,
                            new_title,
                            new_body,
                            contracts.parse_terms_text(new_terms),
                            note,
                        )
                except REFUSALS as exc:
                    ui.show_refusal(exc)
                else:
                    text = (
                        f"Template saved as version {saved.template.version}."
                        if saved.template.version != version
                        else "Nothing changed: the template stays at its version."
                    )
                    if saved.contracts_generated:
                        text += " Contracts generated: " + ", ".join(saved.contracts_generated) + "."
                    ui.flash(FLASH, text)
                    st.rerun()
            with st.expander("Placeholders", icon=":material/data_object:"):
                st.dataframe(
                    pd.DataFrame(
                        [
                            {
                                "Placeholder": f"{{{{{name}}}}}",
                                "Value": text,
                                "List": "yes" if name in contracts.LIST_PLACEHOLDERS else "",
                            }
                            for name, text in contracts.PLACEHOLDERS.items()
                        ]
                    ),
                    hide_index=True,
                )
                st.caption("A list placeholder alone in a paragraph becomes a bulleted list.")
            if outdated:
                st.warning(
                    f"{len(outdated)} contract(s) were generated from an older version of this template: "
                    + ", ".join(c.reference for c in outdated),
                    icon=":material/update:",
                )
                if st.button("Generate new versions of these contracts", key="ct_regenerate_all"):
                    try:
                        with db.session() as s:
                            done = contracts.regenerate_outdated(s, me, product_id)
                    except REFUSALS as exc:
                        ui.show_refusal(exc)
                    else:
                        ui.flash(
                            FLASH,
                            "New versions generated: "
                            + ", ".join(done)
                            + ". Both parties accept them again.",
                        )
                        st.rerun()
            if len(history) > 1:
                with st.expander("Earlier versions", icon=":material/history:"):
                    labels = {
                        v.version: f"Version {v.version} · {ui.local_time(v.saved_at)} · {v.saved_by}"
                        for v in history
                    }
                    shown = st.selectbox(
                        "Version", list(labels), format_func=labels.get, key="ct_template_version"
                    )
                    old = next(v for v in history if v.version == shown)
                    st.markdown(f"**{old.title}**")
                    st.code(old.body, language="markdown")
