"""Market testing: an SO opens a consultation on a draft product, FSPs answer once per organisation
(editable until close), the SO sees aggregated results and exports them."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import func, select, update

from sfe.registry import audit, consultations, db, products
from sfe.registry.access import AccessDenied, NotFound, Role
from sfe.registry.models import Consultation, ConsultationAnswer, ConsultationResponse
from sfe.registry.validation import Conflict, InvalidInput

try:
    from registry_helpers import make_principal
except ImportError:  # tests/ imported as a package
    from tests.registry_helpers import make_principal


@pytest.fixture
def people(registry):
    return {
        "ukpn": make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"),
        "nged": make_principal("NGED", Role.SYSTEM_OPERATOR, operator_id="nged"),
        "fsp_a": make_principal("Acme Flex", Role.FSP),
        "fsp_a2": make_principal("Acme Flex", Role.FSP),
        "fsp_b": make_principal("Beta Flex", Role.FSP),
        "investor": make_principal("Capital Partners", Role.INVESTOR),
        "analyst": make_principal("Analysis Ltd", Role.ANALYST),
        "admin": make_principal("SFE", Role.ADMIN),
    }


QUESTIONS = [
    {"kind": "rating", "prompt": "How attractive is the utilisation price?"},
    {"kind": "text", "prompt": "What would stop you from bidding?"},
    {"kind": "rating", "prompt": "=How clear are the rules?"},
]


def _draft(so, product_id="ukpn_peak_2027", market_id="ukpn_flex"):
    with db.session() as s:
        return products.register_product(
            s,
            so,
            {
                "product_id": product_id,
                "market_id": market_id,
                "product_name": "Peak 2027",
                "service_type": "Local flexibility",
                "direction": "up",
            },
        ).product_id


@pytest.fixture
def consultation(people):
    product_id = _draft(people["ukpn"])
    with db.session() as s:
        return consultations.open_consultation(
            s,
            people["ukpn"],
            product_id,
            title="Peak 2027 market test",
            description="Tell us what you think.",
            closes_at=datetime.now(UTC) + timedelta(days=14),
            questions=QUESTIONS,
        )


def answer(principal, consultation_id, answers):
    with db.session() as s:
        return consultations.submit_response(s, principal, consultation_id, answers)


def q(consultation, position: int) -> int:
    return consultation.questions[position - 1].question_id


def test_opening_moves_the_draft_into_consultation(people, consultation):
    assert consultation.is_open and consultation.own and consultation.responses == 0
    assert [x.kind for x in consultation.questions] == ["rating", "text", "rating"]
    with db.session() as s:
        assert products.get_product(s, people["ukpn"], consultation.product_id).status == "consultation"
        assert audit.history(s, "consultation", consultation.consultation_id)[0].action == "consultation.open"
        with pytest.raises(Conflict, match="already has an open consultation"):
            consultations.open_consultation(
                s,
                people["ukpn"],
                consultation.product_id,
                title="again",
                closes_at=datetime.now(UTC) + timedelta(days=1),
                questions=QUESTIONS,
            )


def test_opening_checks_questions_and_closing_date(people):
    product_id = _draft(people["ukpn"])
    with db.session() as s:
        with pytest.raises(InvalidInput) as exc:
            consultations.open_consultation(
                s,
                people["ukpn"],
                product_id,
                title="",
                closes_at=datetime.now(UTC) - timedelta(days=1),
                questions=[{"kind": "poll", "prompt": ""}],
            )
        errors = {e.field: e.message for e in exc.value.errors}
        assert set(errors) == {"title", "closes_at", "questions[0].kind", "questions[0].prompt"}
        assert "future" in errors["closes_at"]
        with pytest.raises(InvalidInput, match="time zone"):
            consultations.open_consultation(
                s, people["ukpn"], product_id, title="t", closes_at=datetime(2030, 1, 1), questions=QUESTIONS
            )
        with pytest.raises(InvalidInput, match="at least one question"):
            consultations.open_consultation(
                s,
                people["ukpn"],
                product_id,
                title="t",
                closes_at=datetime.now(UTC) + timedelta(days=1),
                questions=[],
            )
        for who in ("nged", "fsp_a", "investor"):
            with pytest.raises((AccessDenied, NotFound)):
                consultations.open_consultation(
                    s,
                    people[who],
                    product_id,
                    title="t",
                    closes_at=datetime.now(UTC) + timedelta(days=1),
                    questions=QUESTIONS,
                )


def test_one_response_per_organisation_editable_until_close(people, consultation):
    cid = consultation.consultation_id
    first = answer(people["fsp_a"], cid, {q(consultation, 1): 4, str(q(consultation, 2)): "Baseline rules"})
    assert first.answers == {q(consultation, 1): 4, q(consultation, 2): "Baseline rules"}
    # a colleague edits the same organisation response: rating changed, text cleared, question 3 answered
    edited = answer(
        people["fsp_a2"], cid, {q(consultation, 1): "5", q(consultation, 2): "", q(consultation, 3): 2}
    )
    assert edited.answers == {q(consultation, 1): 5, q(consultation, 3): 2}
    answer(people["fsp_b"], cid, {q(consultation, 1): 2, q(consultation, 2): "Price too low"})
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ConsultationResponse)) == 2
        mine = consultations.my_response(s, people["fsp_a"], cid)
        assert mine.answers == edited.answers and mine.organisation_name == "Acme Flex"
        assert [c.responded for c in consultations.list_consultations(s, people["fsp_a"])] == [True]
        actions = [e.action for e in audit.history(s, "consultation", cid)]
    assert actions == [
        "consultation.open",
        "consultation.respond",
        "consultation.update_response",
        "consultation.respond",
    ]
    # the closing date passes: answers are refused, the response stays visible to its organisation
    with db.session() as s:
        s.execute(update(Consultation).values(closes_at=datetime.now(UTC) - timedelta(minutes=1)))
    with pytest.raises(Conflict, match="closed"):
        answer(people["fsp_a"], cid, {q(consultation, 1): 1})
    with db.session() as s:
        assert consultations.my_response(s, people["fsp_a"], cid).answers[q(consultation, 1)] == 5
        assert [c.consultation_id for c in consultations.list_consultations(s, people["fsp_a"])] == [cid]


def test_the_so_can_close_early(people, consultation):
    with db.session() as s:
        closed = consultations.close_consultation(s, people["ukpn"], consultation.consultation_id)
        assert not closed.is_open and closed.closed_at is not None
        with pytest.raises(Conflict):
            consultations.close_consultation(s, people["ukpn"], consultation.consultation_id)
    with pytest.raises(NotFound):  # closed and never answered: not listed for an FSP
        answer(people["fsp_b"], consultation.consultation_id, {q(consultation, 1): 3})
    with db.session() as s:
        assert consultations.list_consultations(s, people["fsp_b"]) == []


def test_answers_are_checked(people, consultation):
    cid = consultation.consultation_id
    with pytest.raises(InvalidInput) as exc:
        answer(people["fsp_a"], cid, {q(consultation, 1): 6, q(consultation, 3): 2.5, 99999: "x", "abc": 1})
    fields = {e.field for e in exc.value.errors}
    assert fields == {
        f"answers[{q(consultation, 1)}]",
        f"answers[{q(consultation, 3)}]",
        "answers[99999]",
        "answers[abc]",
    }
    with pytest.raises(InvalidInput, match="at least one"):
        answer(people["fsp_a"], cid, {q(consultation, 2): "  "})
    for who in ("ukpn", "investor", "admin"):
        with pytest.raises(AccessDenied):
            answer(people[who], cid, {q(consultation, 1): 3})


def test_results_are_aggregated_for_the_owner_and_exported_safely(people, consultation):
    cid = consultation.consultation_id
    answer(
        people["fsp_a"],
        cid,
        {q(consultation, 1): 4, q(consultation, 2): '=HYPERLINK("x")', q(consultation, 3): 5},
    )
    answer(people["fsp_b"], cid, {q(consultation, 1): 2, q(consultation, 2): "Price too low"})
    fsp_c = make_principal("Gamma Flex", Role.FSP)
    answer(fsp_c, cid, {q(consultation, 1): 4})
    with db.session() as s:
        result = consultations.results(s, people["ukpn"], cid)
        anonymous = consultations.results(s, people["admin"], cid)
        for who in ("nged", "fsp_a", "investor", "analyst"):
            with pytest.raises((AccessDenied, NotFound)):
                consultations.results(s, people[who], cid)
    assert result.responses == 3 and result.attributed
    price, stoppers, clarity = result.questions
    assert (price.count, price.mean, price.distribution) == (3, 10 / 3, {1: 0, 2: 1, 3: 0, 4: 2, 5: 0})
    assert (clarity.count, clarity.mean) == (1, 5.0)
    assert [(t.organisation_name, t.text) for t in stoppers.texts] == [
        ("Acme Flex", '=HYPERLINK("x")'),
        ("Beta Flex", "Price too low"),
    ]
    assert not anonymous.attributed and {t.organisation_name for t in anonymous.questions[1].texts} == {None}
    assert "organisation" not in anonymous.answers_frame().columns
    summary = pl.read_csv(io.BytesIO(result.export_csv("summary")))
    assert summary["answers"].to_list() == [3, 2, 1]
    assert summary["rated_4"].to_list()[0] == 2
    assert summary["prompt"].to_list()[2] == "'=How clear are the rules?"  # formula-safe
    answers_csv = result.export_csv("answers").decode()
    assert "'=HYPERLINK" in answers_csv and "\n=" not in answers_csv and ",=" not in answers_csv
    answers = pl.read_csv(io.StringIO(answers_csv))
    assert answers.height == 6 and set(answers["organisation"]) == {"Acme Flex", "Beta Flex", "Gamma Flex"}


def test_other_organisations_see_what_they_may(people, consultation):
    cid = consultation.consultation_id
    with db.session() as s:
        seen = consultations.get_consultation(s, people["fsp_b"], cid)
        assert seen.is_open and not seen.own and seen.responses is None
        assert consultations.list_consultations(s, people["nged"]) == []
        with pytest.raises(NotFound):
            consultations.get_consultation(s, people["nged"], cid)
        for who in ("investor", "analyst"):
            with pytest.raises(AccessDenied):
                consultations.list_consultations(s, people[who])
            with pytest.raises(NotFound):
                consultations.get_consultation(s, people[who], cid)
        assert [c.consultation_id for c in consultations.list_consultations(s, people["admin"])] == [cid]


def test_fifty_concurrent_submissions_lose_nothing(people, consultation):
    """50 threads at once on one SQLite WAL file: 40 organisations answer once each and 2 organisations
    have 5 colleagues answering at the same moment. Every organisation ends with exactly one response,
    holding one colleague's complete answers; no submission fails."""
    cid = consultation.consultation_id
    solo = [make_principal(f"Solo Flex {i}", Role.FSP) for i in range(40)]
    teams = [[make_principal(f"Team Flex {t}", Role.FSP) for _ in range(5)] for t in range(2)]
    submitters = [(p, 1 + i % 5) for i, p in enumerate(solo)] + [
        (p, 1 + j) for team in teams for j, p in enumerate(team)
    ]
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(submitters))

    def submit(principal, rating):
        start.wait()
        try:
            answer(
                principal,
                cid,
                {q(consultation, 1): rating, q(consultation, 2): f"from user {principal.user_id}"},
            )
        except BaseException as exc:
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=submit, args=args) for args in submitters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ConsultationResponse)) == 42
        assert s.scalar(select(func.count()).select_from(ConsultationAnswer)) == 84
        result = consultations.results(s, people["ukpn"], cid)
    assert result.responses == 42 and result.questions[0].count == 42
    by_org = {t.organisation_name: t.text for t in result.questions[1].texts}
    for team in teams:
        text = by_org[team[0].organisation_name]
        assert text in {f"from user {p.user_id}" for p in team}  # one colleague's whole answer won
