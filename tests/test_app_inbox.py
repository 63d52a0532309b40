"""The Inbox page (AppTest, real SQLite registry): an organisation's notices of every kind, its own only,
read and marked as read, with a CSV of the table and a link to where each is acted on."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from sfe import notices
from sfe.registry import db
from sfe.registry.access import Role

from .identity_helpers import session_token
from .registry_helpers import make_principal

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
TIMEOUT = 60


@pytest.fixture
def parties(registry):
    fsp = make_principal("Acme Flex", Role.FSP)
    other = make_principal("Other Flex", Role.FSP)
    with db.session() as s:
        for principal, key, topic, subject in (
            (fsp, "application-7:submitted", notices.PREQUALIFICATION, "Acme applied for Secure"),
            (fsp, "breach-12", notices.RULE_BREACH, "Rule breach (block): minimum gap"),
            (other, "breach-13", notices.RULE_BREACH, "Someone else's breach"),
        ):
            notices.post(
                s, topic, key, principal.organisation_id, ["asset_owner"], "high", subject, f"Body of {key}"
            )
    return fsp, other


def _page(token: str | None) -> AppTest:
    at = AppTest.from_file(DASHBOARDS / "pages" / "inbox.py", default_timeout=TIMEOUT)
    if token:
        at.session_state["sfe_session_token"] = token
    at.run()
    assert not at.exception, at.exception
    return at


def _downloads(monkeypatch) -> list[bytes]:
    import streamlit as st

    seen: list[bytes] = []
    original = st.download_button

    def recording(label, data, *args, **kwargs):
        seen.append(data)
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return seen


def test_the_inbox_needs_a_provider_or_operator(registry):
    assert "Please sign in" in " ".join(i.value for i in _page(None).info)
    investor = _page(session_token(make_principal("Bank", Role.INVESTOR)))
    assert not investor.title and investor.error


def test_an_organisation_reads_its_own_notices_and_marks_them_read(parties, monkeypatch):
    fsp, _ = parties
    downloads = _downloads(monkeypatch)
    at = _page(session_token(fsp))
    assert at.title[0].value == "Inbox"
    table = at.dataframe[0].value
    assert sorted(table["subject"]) == ["Acme applied for Secure", "Rule breach (block): minimum gap"]
    assert not table["read"].any()  # someone else's breach is not listed
    exported = pl.read_csv(io.BytesIO(downloads[-1]))
    assert exported.height == 2 and "Someone else's breach" not in exported["subject"].to_list()

    at.selectbox(key="inbox_notice").set_value((notices.RULE_BREACH, _id_of(at, "breach-12"))).run()
    assert "Body of breach-12" in " ".join(t.value for t in at.text)
    assert "Open the breach" in " ".join(m.value for m in at.markdown)  # page alone: the link as text
    at.button(key="inbox_mark_one").click().run()
    assert not at.exception, at.exception
    assert "Marked as read." in " ".join(s.value for s in at.success)
    # Unread only (the default while anything is unread): the read breach is gone from the table.
    assert at.dataframe[0].value["subject"].to_list() == ["Acme applied for Secure"]

    at.button(key="inbox_mark_all").click().run()
    assert "1 notice(s) marked as read." in " ".join(s.value for s in at.success)
    assert all(n.read_at is not None for n in notices.inbox(fsp))
    assert [n.read_at for n in notices.inbox(parties[1])] == [None]  # the other organisation's stays unread


def test_topic_filter(parties):
    at = _page(session_token(parties[0]))
    at.multiselect(key="inbox_topics").set_value([notices.PREQUALIFICATION]).run()
    assert at.dataframe[0].value["about"].to_list() == ["Prequalification"]


def test_an_empty_inbox_says_so(registry):
    at = _page(session_token(make_principal("Quiet Flex", Role.FSP)))
    assert "No notice yet" in " ".join(i.value for i in at.info)
    assert not at.dataframe


def _id_of(at: AppTest, about: str) -> int:
    return next(n.notice_id for n in notices.inbox(_principal_of(at)) if n.about == about)


def _principal_of(at: AppTest):
    from sfe.registry import identity

    return identity.session_principal(at.session_state["sfe_session_token"])
