"""Prequalification notices (UC15): when a provider submits, the system operator of each product gets one
notice (inbox + email); when the SO decides (prequalified, or rejected with reasons) the provider gets
one. Exactly once, and only after the registry kept the step (a refused step tells nobody)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from sfe import notices
from sfe.registry import db, mail
from sfe.registry import prequalification as pq
from sfe.registry.models_notices import Notice
from sfe.registry.validation import Conflict

from .identity_helpers import session_token
from .prequal_helpers import TWO_PRODUCTS, extras, group_ref, save_group_dossier


def _notices() -> list[tuple[str, int, str, str]]:
    with db.session() as s:
        return [
            (n.topic_key, n.organisation_id, n.reason, n.severity)
            for n in s.scalars(select(Notice).where(Notice.topic == "prequalification").order_by(Notice.id))
        ]


def test_submission_tells_the_so_and_the_decision_tells_the_provider_once_each(world):
    save_group_dossier(world)
    secure, peak = (
        o.application
        for o in pq.submit_applications(world["fsp"], group_ref(world), {p: extras() for p in TWO_PRODUCTS})
    )
    ukpn, fsp = world["ukpn"].organisation_id, world["fsp"].organisation_id
    assert _notices() == [
        (f"application-{secure.application_id}:submitted", ukpn, "reviewer", "info"),
        (f"application-{peak.application_id}:submitted", ukpn, "reviewer", "info"),
    ]
    emails = mail.outbox_messages()
    assert len(emails) == 2 and all(world["ukpn"].email in m.to for m in emails)
    assert all("Acme Flex applied for prequalification" in m.text for m in emails)

    with db.session() as s:
        pq.start_review(s, world["ukpn"], secure.application_id)  # taking into review tells nobody
        pq.start_review(s, world["ukpn"], peak.application_id)
        pq.decide(s, world["ukpn"], secure.application_id, pq.PREQUALIFIED, None)
        pq.decide(s, world["ukpn"], peak.application_id, pq.REJECTED, "Sub-meter accuracy class not stated.")
    with db.session() as s, pytest.raises(Conflict):
        pq.decide(s, world["ukpn"], peak.application_id, pq.PREQUALIFIED, None)  # decided once only

    assert _notices()[2:] == [
        (f"application-{secure.application_id}:prequalified", fsp, "applicant", "info"),
        (f"application-{peak.application_id}:rejected", fsp, "applicant", "medium"),
    ]
    emails = mail.outbox_messages()  # newest first
    assert len(emails) == 4
    rejected = next(m for m in emails if "rejected" in m.subject)
    assert world["fsp"].email in rejected.to
    assert "Reasons: Sub-meter accuracy class not stated." in rejected.text
    assert "UK Power Networks decided" in rejected.text
    inbox = notices.inbox(world["fsp"])
    assert [i.topic_label for i in inbox] == ["Prequalification", "Prequalification"]
    assert notices.inbox(world["other_fsp"]) == [] and notices.inbox(world["nged"]) == []


def test_a_decision_rolled_back_sends_nothing(world):
    save_group_dossier(world)
    [outcome] = pq.submit_applications(world["fsp"], group_ref(world), {"ukpn_secure": extras()})
    app_id = outcome.application.application_id
    with db.session() as s:
        pq.start_review(s, world["ukpn"], app_id)
    before = len(mail.outbox_messages())
    with pytest.raises(RuntimeError), db.session() as s:
        pq.decide(s, world["ukpn"], app_id, pq.REJECTED, "Not this time.")
        raise RuntimeError("the request failed after the decision")
    assert len(mail.outbox_messages()) == before
    assert [k for k, *_ in _notices()] == [f"application-{app_id}:submitted"]


def test_the_prequalification_page_shows_the_organisations_notices(world):
    save_group_dossier(world)
    pq.submit_applications(world["fsp"], group_ref(world), {"ukpn_secure": extras()})
    page = Path(__file__).resolve().parents[1] / "dashboards" / "pages" / "prequalification.py"
    for who, expected in (("ukpn", "Prequalification notices (1, 1 unread)"), ("fsp", "(0, 0 unread)")):
        at = AppTest.from_file(str(page), default_timeout=60)
        at.session_state["sfe_session_token"] = session_token(world[who])
        at.run()
        assert not at.exception, at.exception
        assert expected in at.expander[0].label
    at_so = AppTest.from_file(str(page), default_timeout=60)
    at_so.session_state["sfe_session_token"] = session_token(world["ukpn"])
    at_so.run()
    shown = next(d.value for d in at_so.dataframe if "Subject" in d.value.columns)
    [subject] = list(shown["Subject"])
    assert subject.startswith("[SFE] Prequalification submitted: ") and f"({group_ref(world)})" in subject
