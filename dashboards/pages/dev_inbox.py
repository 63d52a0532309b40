"""Development inbox: the mail SFE wrote to lake/outbox/ because no SMTP server is configured."""

from __future__ import annotations

import streamlit as st

from sfe.config import lake
from sfe.registry import mail

st.title("Development inbox")
if not mail.dev_inbox_enabled():
    st.info(
        "The development inbox is off: mail is sent through SMTP (SFE_SMTP_HOST) or the app is not "
        "running on a development machine."
    )
    st.stop()

st.warning(
    "**Development only.** No mail server is configured (`SFE_SMTP_HOST`), so SFE writes every email "
    f"to `{lake().outbox}` and shows it here instead of sending it. Anyone who can open this app can "
    "read these messages, including confirmation and password-reset links: configure SMTP before "
    "letting real users in.",
    icon=":material/science:",
)

messages = mail.outbox_messages()
recipient = st.text_input("Show mail to", placeholder="an email address (empty: all)").strip().lower()
if recipient:
    messages = [m for m in messages if recipient in m.to.lower()]
if not messages:
    st.info("No messages yet." if not recipient else f"No messages to {recipient}.")
for message in messages:
    sent = message.sent_at.strftime("%Y-%m-%d %H:%M:%S UTC") if message.sent_at else "unknown time"
    with st.expander(f"{message.subject} — to {message.to} — {sent}"):
        st.text(message.text)
        for url in message.links:
            st.markdown(f"[{url}]({url})")
