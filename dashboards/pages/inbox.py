"""Inbox: every notice SFE sent the user's organisation (market conflicts, rule breaches on arrival,
prequalification steps), newest first, with what to do about each. Each notice also went by email."""

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
import ui  # noqa: E402  (dashboards/ui.py)

from sfe import notices  # noqa: E402
from sfe.registry.access import NotFound, Role  # noqa: E402

# Where a notice of each topic is acted on, and the query parameter that opens the thing it is about.
ACT_ON = {
    notices.CONFLICT: ("pages/conflicts.py", "Open the conflict", "conflict"),
    notices.RULE_BREACH: ("pages/conflicts.py", "Open the breach", "breach"),
    notices.PREQUALIFICATION: ("pages/prequalification.py", "Open prequalification", None),
}
FLASH = "inbox_flash"

me = auth.require(Role.FSP, Role.SYSTEM_OPERATOR)
st.title("Inbox")
ui.show_flashes(FLASH)

items = notices.inbox(me)
unread = [n for n in items if n.read_at is None]
st.caption(
    f"Notices to {me.organisation_name}: market conflicts on its assets or in its control area, rule "
    "breaches found when commitments and dispatches arrive, and prequalification steps. Each notice also "
    "went by email to the organisation's active users. Times are GB local time."
)
if not items:
    st.info(
        "No notice yet. SFE writes here when something needs your organisation's attention.",
        icon=":material/inbox:",
    )
    st.stop()

col_unread, col_topics, col_all = st.columns([1, 3, 1], vertical_alignment="bottom")
with col_unread:
    only_unread = st.toggle(f"Unread only ({len(unread)})", value=bool(unread), key="inbox_unread")
with col_topics:
    present = sorted({n.topic for n in items}, key=list(notices.TOPICS).index)
    topics = st.multiselect(
        "About",
        present,
        format_func=notices.TOPICS.get,
        placeholder="Everything",
        key="inbox_topics",
    )
with col_all:
    if unread and st.button("Mark all as read", key="inbox_mark_all"):
        for n in unread:
            notices.mark_read(me, n.topic, n.notice_id)
        ui.flash(FLASH, f"{len(unread)} notice(s) marked as read.")
        st.rerun()

shown = [n for n in items if (not only_unread or n.read_at is None) and (not topics or n.topic in topics)]
if not shown:
    st.info("No notice matches: all read." if only_unread else "No notice matches the filter.")
    st.stop()

table = pl.DataFrame(
    [
        {
            "sent": ui.local_time(n.sent_at),
            "read": n.read_at is not None,
            "about": n.topic_label,
            "reference": n.about,
            "severity": n.severity,
            "subject": n.subject,
            "why_you": n.reason.replace(",", ", ").replace("_", " "),
            "emailed_to": n.email_to if n.emailed_at else f"not emailed: {n.email_error or 'pending'}",
        }
        for n in shown
    ],
    schema_overrides={"read": pl.Boolean},
)
st.dataframe(
    table,
    hide_index=True,
    key="inbox_table",
    column_config={
        "sent": "Sent",
        "read": "Read",
        "about": "About",
        "reference": "Reference",
        "severity": "Severity",
        "subject": st.column_config.TextColumn("Subject", width="large"),
        "why_you": "Why you",
        "emailed_to": "Emailed to",
    },
)
st.download_button(
    "Download CSV",
    data.csv_bytes(table),
    file_name="sfe_inbox.csv",
    mime="text/csv",
    key="inbox_download",
    on_click="ignore",
)

# -- one notice in full --------------------------------------------------------------------------
st.subheader("Read a notice")
labels = {(n.topic, n.notice_id): f"{ui.local_time(n.sent_at)} · {n.subject}" for n in shown}
picked = st.selectbox("Notice", list(labels), format_func=labels.get, key="inbox_notice")
notice = next(n for n in shown if (n.topic, n.notice_id) == picked)
with st.container(border=True):
    st.markdown(f"**{notice.subject}**")
    st.caption(f"{notice.topic_label} · severity {notice.severity} · sent {ui.local_time(notice.sent_at)}")
    st.text(notice.body)
    page, label, param = ACT_ON[notice.topic]
    ui.page_link(page, label, query_params={param: notice.about.removeprefix("breach-")} if param else None)
    if notice.read_at is None and st.button("Mark as read", key="inbox_mark_one"):
        try:
            notices.mark_read(me, notice.topic, notice.notice_id)
        except NotFound as exc:
            ui.show_refusal(exc)
        else:
            ui.flash(FLASH, "Marked as read.")
            st.rerun()
