"""Market rules library (UC7): the rules and regulation of every market in one place, searchable, with
each document's version history and what changed. System operators keep their markets' documents up
to date; SFE administrators the GB-wide codes."""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

import polars as pl
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)

from sfe import taxonomy  # noqa: E402
from sfe.registry import db  # noqa: E402
from sfe.registry.access import AccessDenied, NotFound, Role  # noqa: E402
from sfe.rules import library, library_seed  # noqa: E402
from sfe.rules.kinds import RuleError  # noqa: E402

me = auth.require()
DOC_KEY = "library_document"
MARKETS = {m["market_id"]: m["market_name"] for m in taxonomy.table("markets")}
GB_WIDE = "GB-wide"
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$])")


def md(text: str) -> str:
    """Text shown literally in Markdown (documents are data, not markup)."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def highlighted(segments) -> str:
    return "".join(f"**{md(text)}**" if is_match else md(text) for text, is_match in segments)


def market_label(market_id: str | None) -> str:
    return MARKETS.get(market_id, market_id) if market_id else GB_WIDE


def meta_line(doc: library.DocumentView) -> str:
    effective = f" · effective {doc.effective_date:%d %b %Y}" if doc.effective_date else ""
    return (
        f"{md(doc.publisher)} · {md(market_label(doc.market_id))} · {md(doc.doc_type_label)} · "
        f"version {doc.version}{effective}"
    )


def open_document(document_id: int) -> None:
    st.session_state[DOC_KEY] = document_id


def close_document() -> None:
    st.session_state.pop(DOC_KEY, None)


st.title("Market rules library")
st.caption(
    "Rules and regulation of GB flexibility markets: service terms, auction rules, standard agreements "
    "and industry codes. Each entry is a summary with a link to the binding source document, and keeps "
    "its version history."
)

with db.session() as s:
    size = library.library_size(s)
if size == 0:
    st.info("The library is empty.", icon=":material/menu_book:")
    if me.is_admin and st.button("Load SFE's reference documents", icon=":material/library_add:"):
        with db.session() as s:
            added = library_seed.seed_library(s)
        st.success(f"Added {added} documents.")
        st.rerun()

# -- a document ------------------------------------------------------------------------------------
document_id = st.session_state.get(DOC_KEY)
if document_id is not None:
    try:
        with db.session() as s:
            doc = library.get_document(s, document_id)
            history = library.versions(s, document_id)
    except NotFound:
        st.session_state.pop(DOC_KEY, None)
        st.rerun()
    st.button("Back to the library", icon=":material/arrow_back:", on_click=close_document)
    st.header(doc.title)
    st.markdown(meta_line(doc))
    if doc.source_url:
        st.markdown(f"Source: [{md(doc.source_url)}]({doc.source_url})")
    st.info(doc.summary, icon=":material/summarize:")
    tab_text, tab_history, tab_changes = st.tabs(["Document", "Version history", "What changed"])
    with tab_text:
        st.markdown(md(doc.body))
    with tab_history:
        st.dataframe(
            pl.DataFrame(
                {
                    "Version": [v.version for v in history],
                    "Effective": [v.effective_date for v in history],
                    "Added (UTC)": [v.changed_at for v in history],
                    "What changed": [v.change_note or "" for v in history],
                    "Title": [v.title for v in history],
                }
            ),
            hide_index=True,
        )
    with tab_changes:
        if len(history) < 2:
            st.info("This document has one version so far.")
        else:
            numbers = [v.version for v in history]
            cols = st.columns(2)
            to_version = cols[1].selectbox("To version", numbers, index=0, key="library_to")
            older = [n for n in numbers if n < to_version] or numbers[-1:]
            from_version = cols[0].selectbox("From version", older, index=0, key="library_from")
            with db.session() as s:
                change = library.diff(s, document_id, from_version, to_version)
            if not change.changes:
                st.info("No differences.")
            for field in change.changes:
                st.markdown(
                    f"**{field.field.replace('_', ' ').capitalize()}** — {field.words_added} words added, "
                    f"{field.words_removed} removed"
                )
                st.code(field.diff, language="diff", wrap_lines=True)
    if library.can_edit(me, doc.market_id):
        with st.expander("Add a new version", icon=":material/edit_document:"):
            with st.form("library_new_version"):
                title = st.text_input("Title", value=doc.title, key="version_title")
                summary = st.text_area("Summary", value=doc.summary, height=120, key="version_summary")
                body = st.text_area("Body", value=doc.body, height=300, key="version_body")
                effective = st.date_input(
                    "Effective date", value=doc.effective_date, format="YYYY-MM-DD", key="version_effective"
                )
                source_url = st.text_input("Source link", value=doc.source_url or "", key="version_source")
                note = st.text_input("What changed (shown in the history)", key="version_note")
                if st.form_submit_button("Publish the new version", type="primary", key="version_submit"):
                    try:
                        with db.session() as s:
                            view = library.add_version(
                                s,
                                me,
                                document_id,
                                title=title,
                                summary=summary,
                                body=body,
                                effective_date=effective,
                                source_url=source_url,
                                change_note=note,
                            )
                        st.success(f"Version {view.version} published.")
                        st.rerun()
                    except (RuleError, AccessDenied) as exc:
                        st.error(str(exc))
    st.stop()

# -- search and browse -----------------------------------------------------------------------------
cols = st.columns([3, 1])
query = cols[0].text_input(
    "Search the rules",
    key="library_query",
    placeholder='e.g. stacking, full delivery within 1 s, "gate closure"',
    help="Ranked by relevance: title words count most, then the summary, then the body. Put a phrase in "
    "double quotes to require it.",
)
market_choice = cols[1].selectbox(
    "Market",
    [None, *MARKETS],
    format_func=lambda m: "All markets" if m is None else MARKETS[m],
    key="library_market",
)

with db.session() as s:
    if query.strip():
        results = library.search_documents(s, query, market_id=market_choice)
    else:
        results = None
        documents = library.list_documents(s, market_id=market_choice)

if results is not None:
    if not results:
        st.info("No document matches. Try fewer or other words.")
    st.caption(f"{len(results)} result(s)")
    for r in results:
        with st.container(border=True):
            st.markdown(f"#### {highlighted(r.title_segments)}")
            st.markdown(meta_line(r.document))
            st.markdown(highlighted(r.snippet))
            st.button(
                "Open",
                key=f"library_open_{r.document.document_id}",
                on_click=open_document,
                args=(r.document.document_id,),
            )
else:
    if documents:
        st.caption(f"{len(documents)} document(s)")
    for doc in documents:
        with st.container(border=True):
            st.markdown(f"#### {md(doc.title)}")
            st.markdown(meta_line(doc))
            st.markdown(md(doc.summary))
            st.button(
                "Open", key=f"library_open_{doc.document_id}", on_click=open_document, args=(doc.document_id,)
            )

# -- a new document (system operators for their markets, admins for all) --------------------------
editable = [m for m in [None, *MARKETS] if library.can_edit(me, m)]
if editable:
    with st.expander("Add a document", icon=":material/note_add:"):
        with st.form("library_new_document"):
            market = st.selectbox("Market", editable, format_func=market_label)
            doc_type = st.selectbox("Type", list(library.DOC_TYPES), format_func=library.DOC_TYPES.get)
            publisher = st.text_input("Publisher", value=me.organisation_name)
            title = st.text_input("Title")
            summary = st.text_area("Summary", height=100)
            body = st.text_area("Body", height=200)
            effective: date | None = st.date_input("Effective date", value=None, format="YYYY-MM-DD")
            source_url = st.text_input("Source link")
            if st.form_submit_button("Add to the library", type="primary"):
                try:
                    with db.session() as s:
                        view = library.create_document(
                            s,
                            me,
                            market_id=market,
                            doc_type=doc_type,
                            publisher=publisher,
                            title=title,
                            summary=summary,
                            body=body,
                            effective_date=effective,
                            source_url=source_url,
                        )
                    open_document(view.document_id)
                    st.rerun()
                except (RuleError, AccessDenied) as exc:
                    st.error(str(exc))
elif me.role == Role.SYSTEM_OPERATOR:
    st.caption("Your account is not linked to an operator yet, so you cannot add documents.")
