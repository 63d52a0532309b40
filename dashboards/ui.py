"""Small presentation helpers shared by the registry pages (no data access here)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import streamlit as st

from sfe.registry.validation import InvalidInput

GB = ZoneInfo("Europe/London")


def local_time(at: datetime | None) -> str:
    """An instant as GB local time for people ('' for none)."""
    return "" if at is None else at.astimezone(GB).strftime("%d %b %Y %H:%M")


def show_refusal(exc: Exception) -> None:
    """Why the registry refused an action: each invalid field on its own line, else the message."""
    if isinstance(exc, InvalidInput):
        for error in exc.errors:
            st.error(f"**{error.field}**: {error.message}", icon=":material/error:")
    else:
        st.error(str(exc), icon=":material/error:")


def flash(key: str, text: str) -> None:
    """A success message to show after the rerun an action triggers."""
    st.session_state.setdefault(key, []).append(text)


def show_flashes(key: str) -> None:
    for message in st.session_state.pop(key, []):
        st.success(message, icon=":material/check_circle:")


def page_link(page: str, label: str, query_params: dict[str, str] | None = None) -> None:
    """A link to another page of the app; plain text when that page is not in the navigation (a page
    run on its own, as in tests)."""
    try:
        st.page_link(page, label=label, icon=":material/arrow_forward:", query_params=query_params)
    except Exception:  # StreamlitAPIException: the page is not in this navigation
        st.markdown(f"{label}: open **{Path(page).stem.replace('_', ' ').capitalize()}** in the menu.")
