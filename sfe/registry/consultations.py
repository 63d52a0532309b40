"""Market testing of products (UC13): an SO consults FSPs on a draft product before it goes live.

The SO opens a consultation on its draft product (which moves to 'consultation') with questions
(ratings 1-5 or free text) and a closing date in the future. Each FSP organisation answers once; its
members may edit that one response until the consultation closes (at its closing date, or earlier
when the SO closes it); afterwards answers are refused. The database keeps one response per
organisation (unique constraint), so concurrent submissions by colleagues update the same response.

The owning SO sees the aggregated results: per rating question the count, mean and distribution, and
the text answers, attributed to the answering organisation. Admins see the same without attribution.
FSPs see open consultations and their own response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from sfe import csv_safe
from sfe.registry import audit, products
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.models import (
    Consultation,
    ConsultationAnswer,
    ConsultationQuestion,
    ConsultationResponse,
    Organisation,
    Product,
    utcnow,
)
from sfe.registry.validation import Conflict, Errors, FieldError, InvalidInput

QUESTION_KINDS = ("rating", "text")
RATINGS = (1, 2, 3, 4, 5)
MAX_QUESTIONS = 30
MAX_OPEN_FOR = timedelta(days=366)
MIN_OPEN_FOR = timedelta(minutes=10)


@dataclass
class QuestionRecord:
    question_id: int
    position: int
    kind: str
    prompt: str


@dataclass
class ConsultationRecord:
    consultation_id: int
    product_id: str
    product_name: str
    operator_id: str
    organisation_name: str  # the consulting SO
    title: str
    description: str | None
    opened_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    questions: list[QuestionRecord]
    own: bool  # the principal's organisation consults
    responses: int | None  # number of responding organisations (owner and admins only)
    responded: bool  # the principal's organisation has answered

    @property
    def is_open(self) -> bool:
        return _is_open(self.closes_at, self.closed_at)

    @property
    def ends_at(self) -> datetime:
        return self.closed_at or self.closes_at


@dataclass
class ResponseRecord:
    consultation_id: int
    organisation_name: str
    submitted_at: datetime
    updated_at: datetime
    answers: dict[int, int | str]  # question_id -> rating or text


@dataclass
class TextAnswer:
    text: str
    organisation_name: str | None  # only for the owning SO


@dataclass
class QuestionResult:
    question_id: int
    position: int
    kind: str
    prompt: str
    count: int = 0
    mean: float | None = None
    distribution: dict[int, int] = field(default_factory=lambda: dict.fromkeys(RATINGS, 0))
    texts: list[TextAnswer] = field(default_factory=list)
    ratings: list[tuple[int, str | None]] = field(default_factory=list)  # (rating, organisation) for export


@dataclass
class ConsultationResults:
    consultation: ConsultationRecord
    responses: int
    questions: list[QuestionResult]
    attributed: bool  # answers carry the responding organisation's name

    def summary_frame(self) -> pl.DataFrame:
        """One row per question: count, mean and the number of answers per rating."""
        rows = []
        for q in self.questions:
            row: dict[str, Any] = {
                "question": q.position,
                "kind": q.kind,
                "prompt": q.prompt,
                "answers": q.count,
                "mean_rating": round(q.mean, 3) if q.mean is not None else None,
            }
            for r in RATINGS:
                row[f"rated_{r}"] = q.distribution[r] if q.kind == "rating" else None
            rows.append(row)
        schema = {"question": pl.Int64, "kind": pl.String, "prompt": pl.String, "answers": pl.Int64}
        schema |= {"mean_rating": pl.Float64, **{f"rated_{r}": pl.Int64 for r in RATINGS}}
        return pl.DataFrame(rows, schema=schema)

    def answers_frame(self) -> pl.DataFrame:
        """One row per answer (organisation only when attributed)."""
        rows = []
        for q in self.questions:
            for rating, org in q.ratings:
                rows.append((q.position, q.kind, q.prompt, org, rating, None))
            for t in q.texts:
                rows.append((q.position, q.kind, q.prompt, t.organisation_name, None, t.text))
        schema = {
            "question": pl.Int64,
            "kind": pl.String,
            "prompt": pl.String,
            "organisation": pl.String,
            "rating": pl.Int64,
            "text": pl.String,
        }
        frame = pl.DataFrame(rows, schema=schema, orient="row")
        return frame if self.attributed else frame.drop("organisation")

    def export_csv(self, table: str = "answers") -> bytes:
        """Formula-safe CSV of the 'summary' or the 'answers' table."""
        if table not in ("summary", "answers"):
            raise ValueError("table is 'summary' or 'answers'")
        return csv_safe.to_csv_bytes(self.summary_frame() if table == "summary" else self.answers_frame())


def _is_open(closes_at: datetime, closed_at: datetime | None, now: datetime | None = None) -> bool:
    return closed_at is None and closes_at > (now or utcnow())


# -- access -------------------------------------------------------------------------------------
def _load(s: Session, principal: Principal, consultation_id: int) -> tuple[Consultation, Product]:
    if principal.role not in (Role.FSP, Role.SYSTEM_OPERATOR, Role.ADMIN):
        raise NotFound(f"no consultation {consultation_id}")
    row = s.execute(
        select(Consultation, Product)
        .join(Product, Product.id == Consultation.product_id)
        .where(Consultation.id == int(consultation_id))
        .options(selectinload(Consultation.questions))
    ).one_or_none()
    if row is None:
        raise NotFound(f"no consultation {consultation_id}")
    consultation, product = row
    if principal.is_admin or product.organisation_id == principal.organisation_id:
        return consultation, product
    if principal.role == Role.FSP and (
        _is_open(consultation.closes_at, consultation.closed_at)
        or _response(s, consultation.id, principal) is not None
    ):
        return consultation, product
    raise NotFound(f"no consultation {consultation_id}")


def _response(s: Session, consultation_id: int, principal: Principal) -> ConsultationResponse | None:
    return s.scalars(
        select(ConsultationResponse)
        .where(
            ConsultationResponse.consultation_id == consultation_id,
            ConsultationResponse.organisation_id == principal.organisation_id,
        )
        .options(selectinload(ConsultationResponse.answers))
    ).one_or_none()


def _record(
    s: Session, principal: Principal, consultation: Consultation, product: Product
) -> ConsultationRecord:
    own = principal.is_admin or product.organisation_id == principal.organisation_id
    count = s.scalar(
        select(func.count())
        .select_from(ConsultationResponse)
        .where(ConsultationResponse.consultation_id == consultation.id)
    )
    return ConsultationRecord(
        consultation_id=consultation.id,
        product_id=product.product_id,
        product_name=product.name,
        operator_id=product.operator_id,
        organisation_name=s.get(Organisation, product.organisation_id).name,
        title=consultation.title,
        description=consultation.description,
        opened_at=consultation.opened_at,
        closes_at=consultation.closes_at,
        closed_at=consultation.closed_at,
        questions=[QuestionRecord(q.id, q.position, q.kind, q.prompt) for q in consultation.questions],
        own=own,
        responses=int(count or 0) if own else None,
        responded=principal.role == Role.FSP and _response(s, consultation.id, principal) is not None,
    )


# -- SO side ------------------------------------------------------------------------------------
def open_consultation(
    s: Session,
    principal: Principal,
    product_id: str,
    *,
    title: str,
    closes_at: datetime,
    questions: list[Mapping[str, Any]],
    description: str | None = None,
) -> ConsultationRecord:
    """Open market testing of an own draft product, which moves to 'consultation'."""
    product = products.own_product(s, principal, product_id, "open consultations")
    errors = Errors()
    clean_title = errors.text("title", title, required=True)
    clean_description = errors.text("description", description, max_len=20_000, multiline=True)
    now = utcnow()
    if not isinstance(closes_at, datetime) or closes_at.tzinfo is None:
        errors.add("closes_at", "must be a date and time with its time zone")
    elif closes_at < now + MIN_OPEN_FOR:
        errors.add(
            "closes_at", f"must be in the future (at least {MIN_OPEN_FOR.seconds // 60} minutes from now)"
        )
    elif closes_at > now + MAX_OPEN_FOR:
        errors.add("closes_at", "must be within a year")
    if not questions:
        errors.add("questions", "ask at least one question")
    elif len(questions) > MAX_QUESTIONS:
        errors.add("questions", f"at most {MAX_QUESTIONS} questions")
    clean_questions = []
    for i, q in enumerate(questions or []):
        where = f"questions[{i}]"
        if not isinstance(q, Mapping):
            errors.add(where, "must have a kind (rating or text) and a prompt")
            continue
        kind = errors.choice(f"{where}.kind", q.get("kind"), list(QUESTION_KINDS))
        prompt = errors.text(f"{where}.prompt", q.get("prompt"), required=True, max_len=2000, multiline=True)
        clean_questions.append((kind, prompt))
    errors.raise_if_any()
    if s.scalar(
        select(Consultation.id).where(
            Consultation.product_id == product.id,
            Consultation.closed_at.is_(None),
            Consultation.closes_at > now,
        )
    ):
        raise Conflict(f"{product.product_id} already has an open consultation")
    products.start_consultation(s, principal, product)
    consultation = Consultation(
        product_id=product.id,
        title=clean_title,
        description=clean_description,
        opened_at=now,
        closes_at=closes_at,
        opened_by_id=principal.user_id,
        questions=[
            ConsultationQuestion(position=i + 1, kind=kind, prompt=prompt)
            for i, (kind, prompt) in enumerate(clean_questions)
        ],
    )
    s.add(consultation)
    s.flush()
    audit.record(
        s,
        principal,
        "consultation.open",
        "consultation",
        consultation.id,
        product_id=product.product_id,
        closes_at=closes_at.isoformat(),
        questions=len(clean_questions),
    )
    return _record(s, principal, consultation, product)


def close_consultation(s: Session, principal: Principal, consultation_id: int) -> ConsultationRecord:
    """Close an own open consultation now (answers are refused from then on)."""
    principal.require(Role.SYSTEM_OPERATOR, action="close consultations")
    consultation, product = _load(s, principal, consultation_id)
    if not (principal.is_admin or product.organisation_id == principal.organisation_id):
        raise NotFound(f"no consultation {consultation_id}")
    if not _is_open(consultation.closes_at, consultation.closed_at):
        raise Conflict("the consultation is already closed")
    consultation.closed_at = utcnow()
    audit.record(s, principal, "consultation.close", "consultation", consultation.id)
    return _record(s, principal, consultation, product)


def results(s: Session, principal: Principal, consultation_id: int) -> ConsultationResults:
    """Aggregated answers, for the consulting SO (attributed) and admins (not attributed)."""
    consultation, product = _load(s, principal, consultation_id)
    owner = product.organisation_id == principal.organisation_id
    if not (owner or principal.is_admin):
        raise AccessDenied("Only the consulting system operator sees the results.")
    by_question = {
        q.id: QuestionResult(question_id=q.id, position=q.position, kind=q.kind, prompt=q.prompt)
        for q in consultation.questions
    }
    rows = s.execute(
        select(ConsultationAnswer, Organisation.name)
        .join(ConsultationResponse, ConsultationResponse.id == ConsultationAnswer.response_id)
        .join(Organisation, Organisation.id == ConsultationResponse.organisation_id)
        .where(ConsultationResponse.consultation_id == consultation.id)
        .order_by(Organisation.name, ConsultationAnswer.question_id)
    )
    for answer, org_name in rows:
        result = by_question.get(answer.question_id)
        if result is None:
            continue
        attributed_name = org_name if owner else None
        if result.kind == "rating" and answer.rating is not None:
            result.count += 1
            result.distribution[answer.rating] += 1
            result.ratings.append((answer.rating, attributed_name))
        elif result.kind == "text" and answer.text:
            result.count += 1
            result.texts.append(TextAnswer(answer.text, attributed_name))
    for result in by_question.values():
        if result.kind == "rating" and result.count:
            result.mean = sum(r * n for r, n in result.distribution.items()) / result.count
    record = _record(s, principal, consultation, product)
    return ConsultationResults(
        consultation=record,
        responses=record.responses or 0,
        questions=sorted(by_question.values(), key=lambda q: q.position),
        attributed=owner,
    )


# -- FSP side -----------------------------------------------------------------------------------
def _clean_answers(
    errors: Errors, consultation: Consultation, answers: Mapping[Any, Any]
) -> dict[int, int | str]:
    questions = {q.id: q for q in consultation.questions}
    clean: dict[int, int | str] = {}
    for key, value in answers.items():
        try:
            question_id = int(key)
        except (TypeError, ValueError):
            errors.add(f"answers[{key}]", "is not a question id")
            continue
        question = questions.get(question_id)
        where = f"answers[{question_id}]"
        if question is None:
            errors.add(where, "is not a question of this consultation")
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # left unanswered
        if question.kind == "rating":
            rating = value
            if isinstance(value, str) and value.strip().isdigit():
                rating = int(value.strip())
            if isinstance(rating, float) and rating.is_integer():
                rating = int(rating)
            if isinstance(rating, bool) or not isinstance(rating, int) or rating not in RATINGS:
                errors.add(
                    where, f"question {question.position} is a rating: give a whole number from 1 to 5"
                )
                continue
            clean[question_id] = rating
        else:
            text = errors.text(where, value, max_len=10_000, multiline=True)
            if text is not None:
                clean[question_id] = text
    if not clean and not errors:
        errors.add("answers", "answer at least one question")
    return clean


def submit_response(
    s: Session, principal: Principal, consultation_id: int, answers: Mapping[Any, Any]
) -> ResponseRecord:
    """Create or replace the principal's organisation's response while the consultation is open.
    ``answers`` maps question id -> rating (1-5) or text; questions left out stay unanswered."""
    if principal.role != Role.FSP:
        raise AccessDenied("Only flexibility provider accounts answer consultations.")
    consultation, _product = _load(s, principal, consultation_id)
    if not _is_open(consultation.closes_at, consultation.closed_at):
        raise Conflict("the consultation has closed; answers can no longer be given or changed")
    errors = Errors()
    clean = _clean_answers(errors, consultation, answers)
    errors.raise_if_any()
    response = _response(s, consultation.id, principal)
    created = response is None
    if created:
        try:
            with s.begin_nested():
                response = ConsultationResponse(
                    consultation_id=consultation.id,
                    organisation_id=principal.organisation_id,
                    user_id=principal.user_id,
                )
                s.add(response)
                s.flush()
        except IntegrityError:  # a colleague's first answer committed meanwhile: edit that one
            created = False
            response = _response(s, consultation.id, principal)
            if response is None:
                raise
    now = utcnow()
    existing = {a.question_id: a for a in response.answers}
    for question_id, value in clean.items():
        answer = existing.pop(question_id, None)
        if answer is None:
            answer = ConsultationAnswer(question_id=question_id)
            response.answers.append(answer)
        answer.rating = value if isinstance(value, int) else None
        answer.text = value if isinstance(value, str) else None
    for stale in existing.values():  # answered before, left blank now
        response.answers.remove(stale)
    response.user_id = principal.user_id
    response.updated_at = now
    s.flush()
    audit.record(
        s,
        principal,
        "consultation.respond" if created else "consultation.update_response",
        "consultation",
        consultation.id,
        organisation_id=principal.organisation_id,
        answered=len(clean),
    )
    return _response_record(s, response)


def _response_record(s: Session, response: ConsultationResponse) -> ResponseRecord:
    return ResponseRecord(
        consultation_id=response.consultation_id,
        organisation_name=s.get(Organisation, response.organisation_id).name,
        submitted_at=response.submitted_at,
        updated_at=response.updated_at,
        answers={a.question_id: (a.rating if a.rating is not None else a.text) for a in response.answers},
    )


def my_response(s: Session, principal: Principal, consultation_id: int) -> ResponseRecord | None:
    """The principal's organisation's response, if any."""
    consultation, _ = _load(s, principal, consultation_id)
    response = _response(s, consultation.id, principal)
    return None if response is None else _response_record(s, response)


# -- lists --------------------------------------------------------------------------------------
def get_consultation(s: Session, principal: Principal, consultation_id: int) -> ConsultationRecord:
    return _record(s, principal, *_load(s, principal, consultation_id))


def list_consultations(
    s: Session, principal: Principal, *, product_id: str | None = None
) -> list[ConsultationRecord]:
    """SOs: their organisation's consultations. FSPs: open consultations and those they answered.
    Admins: all. Newest first."""
    stmt = (
        select(Consultation, Product)
        .join(Product, Product.id == Consultation.product_id)
        .options(selectinload(Consultation.questions))
        .order_by(Consultation.opened_at.desc(), Consultation.id.desc())
    )
    now = utcnow()
    if principal.is_admin:
        pass
    elif principal.role == Role.SYSTEM_OPERATOR:
        stmt = stmt.where(Product.organisation_id == principal.organisation_id)
    elif principal.role == Role.FSP:
        answered = select(ConsultationResponse.consultation_id).where(
            ConsultationResponse.organisation_id == principal.organisation_id
        )
        stmt = stmt.where(
            or_(
                (Consultation.closed_at.is_(None)) & (Consultation.closes_at > now),
                Consultation.id.in_(answered),
            )
        )
    else:
        raise AccessDenied("Consultations are for flexibility providers and system operators.")
    if product_id is not None:
        stmt = stmt.where(Product.product_id == product_id)
    return [_record(s, principal, c, p) for c, p in s.execute(stmt)]


__all__ = [
    "ConsultationRecord",
    "ConsultationResults",
    "FieldError",
    "InvalidInput",
    "close_consultation",
    "get_consultation",
    "list_consultations",
    "my_response",
    "open_consultation",
    "results",
    "submit_response",
]
