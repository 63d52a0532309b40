"""Consultations: system operators market-test draft products; flexibility providers answer."""

from __future__ import annotations

import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import streamlit as st

_DASHBOARDS = str(Path(__file__).resolve().parents[1])
if _DASHBOARDS not in sys.path:
    sys.path.insert(0, _DASHBOARDS)
import auth  # noqa: E402  (dashboards/auth.py)
import registry_data as rd  # noqa: E402  (dashboards/registry_data.py)

from sfe.registry import consultations  # noqa: E402
from sfe.registry.access import Role  # noqa: E402

GB_TZ = ZoneInfo("Europe/London")
RATING_LABELS = {None: "No answer", 1: "1 · poor", 2: "2", 3: "3", 4: "4", 5: "5 · excellent"}

me = auth.require(Role.FSP, Role.SYSTEM_OPERATOR)


def _local(at: datetime) -> str:
    return at.astimezone(GB_TZ).strftime("%d %b %Y %H:%M")


def _status(c: consultations.ConsultationRecord) -> str:
    if c.is_open:
        return f"open until {_local(c.closes_at)} UK time"
    return f"closed {_local(c.ends_at)} UK time"


def _report_refusal(exc: Exception) -> None:
    if isinstance(exc, rd.InvalidInput):
        for error in exc.errors:
            st.error(f"**{error.field}**: {error.message}", icon=":material/error:")
    else:
        st.error(str(exc), icon=":material/error:")


def _results(c: consultations.ConsultationRecord) -> None:
    result = rd.results(me, c.consultation_id)
    st.metric("Responding organisations", result.responses)
    if not result.responses:
        st.info("No answers yet.")
    distribution = rd.distribution_frame(result)
    for q in result.questions:
        st.markdown(f"**Q{q.position}. {q.prompt}**")
        if q.kind == "rating":
            left, right = st.columns([1, 3])
            left.metric("Mean rating", "—" if q.mean is None else f"{q.mean:.2f}")
            left.caption(f"{q.count} answer(s)")
            chart = (
                alt.Chart(distribution.filter(distribution["question"] == f"Q{q.position}"))
                .mark_bar()
                .encode(
                    x=alt.X("rating:O", title="Rating (1 poor - 5 excellent)", sort=[1, 2, 3, 4, 5]),
                    y=alt.Y("answers:Q", title="Organisations", axis=alt.Axis(tickMinStep=1)),
                    tooltip=["rating", "answers"],
                )
                .properties(height=180)
            )
            right.altair_chart(chart, width="stretch")
        else:
            if q.texts:
                st.dataframe(
                    pd.DataFrame(
                        [
                            {"organisation": t.organisation_name, "answer": t.text}
                            if result.attributed
                            else {"answer": t.text}
                            for t in q.texts
                        ]
                    ),
                    hide_index=True,
                )
            else:
                st.caption("No text answers.")
    a, b = st.columns(2)
    a.download_button(
        "Download the summary (CSV)",
        result.export_csv("summary"),
        file_name=f"sfe_consultation_{c.consultation_id}_summary.csv",
        mime="text/csv",
        key=f"summary_{c.consultation_id}",
    )
    b.download_button(
        "Download every answer (CSV)",
        result.export_csv("answers"),
        file_name=f"sfe_consultation_{c.consultation_id}_answers.csv",
        mime="text/csv",
        key=f"answers_{c.consultation_id}",
    )


# -- system operators ---------------------------------------------------------------------------------
if me.role == Role.SYSTEM_OPERATOR or me.is_admin:
    st.title("Consultations")
    st.caption("Market-test a draft product with the flexibility providers before it goes live.")
    tab_own, tab_open = st.tabs(["Our consultations", "Open a consultation"])
    with tab_open:
        drafts = {p.product_id: p for p in rd.list_products(me, scope="own") if p.status == "draft"}
        if not drafts:
            st.info(
                "Consultations are opened on draft products: register one on the **Products** page first."
            )
        else:
            count = st.number_input(
                "Number of questions",
                min_value=1,
                max_value=consultations.MAX_QUESTIONS,
                value=3,
                key="q_count",
            )
            with st.form("open_consultation"):
                product_id = st.selectbox(
                    "Draft product",
                    list(drafts),
                    format_func=lambda pid: f"{drafts[pid].product_name} ({pid})",
                    key="c_product",
                )
                title = st.text_input("Title", key="c_title")
                description = st.text_area(
                    "What you would like to learn (shown to providers)", key="c_description"
                )
                a, b = st.columns(2)
                default_close = (datetime.now(GB_TZ) + timedelta(days=14)).date()
                close_date = a.date_input("Closes on (UK time)", value=default_close, key="c_close_date")
                close_time = b.time_input("at", value=time(17, 0), key="c_close_time")
                questions = []
                for i in range(int(count)):
                    k, p = st.columns([1, 4])
                    kind = k.selectbox(
                        f"Question {i + 1}",
                        list(consultations.QUESTION_KINDS),
                        format_func=lambda x: {"rating": "Rating 1-5", "text": "Free text"}[x],
                        key=f"q_kind_{i}",
                    )
                    prompt = p.text_input(f"Question {i + 1} text", key=f"q_prompt_{i}")
                    questions.append({"kind": kind, "prompt": prompt})
                opened = st.form_submit_button("Open the consultation", type="primary")
            if opened:
                closes_at = datetime.combine(close_date, close_time, tzinfo=GB_TZ)
                try:
                    record = rd.open_consultation(
                        me,
                        product_id,
                        title=title,
                        description=description,
                        closes_at=closes_at,
                        questions=questions,
                    )
                    st.success(
                        f"Consultation opened; {record.product_id} is now in consultation until "
                        f"{_local(record.closes_at)} UK time.",
                        icon=":material/check_circle:",
                    )
                except rd.REFUSALS as exc:
                    _report_refusal(exc)
    with tab_own:
        mine = rd.list_consultations(me)
        if not mine:
            st.info("No consultations yet.")
        else:
            by_id = {c.consultation_id: c for c in mine}
            chosen = st.selectbox(
                "Consultation",
                list(by_id),
                format_func=lambda cid: (
                    f"{by_id[cid].title} · {by_id[cid].product_id} · {_status(by_id[cid])}"
                ),
                key="so_choice",
            )
            c = by_id[chosen]
            st.markdown(f"**{c.title}** on `{c.product_id}` ({c.product_name}) · {_status(c)}")
            if c.description:
                st.caption(c.description)
            if c.is_open and st.button("Close now", key=f"close_{chosen}"):
                try:
                    rd.close_consultation(me, chosen)
                    st.rerun()
                except rd.REFUSALS as exc:
                    _report_refusal(exc)
            _results(c)
    st.stop()

# -- flexibility providers ----------------------------------------------------------------------------
st.title("Consultations")
st.caption(
    "System operators ask for your view on products before they go live. One response per organisation; "
    "you and your colleagues can change it until the consultation closes."
)
visible = rd.list_consultations(me)
if not visible:
    st.info("There is no open consultation at the moment.", icon=":material/info:")
    st.stop()
by_id = {c.consultation_id: c for c in visible}
chosen = st.selectbox(
    "Consultation",
    list(by_id),
    format_func=lambda cid: (
        f"{by_id[cid].title} · {by_id[cid].organisation_name} · {_status(by_id[cid])}"
        + (" · answered" if by_id[cid].responded else "")
    ),
    key="fsp_choice",
)
c = by_id[chosen]
st.subheader(c.title)
st.markdown(f"{c.organisation_name} · product `{c.product_id}` ({c.product_name}) · {_status(c)}")
if c.description:
    st.markdown(c.description)
try:
    product = rd.get_product(me, c.product_id)
    with st.expander("The product being consulted on"):
        st.markdown(
            f"Market `{product.market_id}` · {product.service_type} · direction {product.direction}"
            + (f" · zones: {', '.join(product.zones)}" if product.zones else "")
        )
        if product.rules_text:
            st.text(product.rules_text)
except rd.NotFound:
    pass  # it has gone live or back to draft since; the consultation text stands on its own

mine = rd.my_response(me, chosen)
previous = mine.answers if mine else {}
if mine:
    st.caption(f"Your organisation answered; last changed {_local(mine.updated_at)} UK time.")
if not c.is_open:
    st.warning("This consultation has closed; answers can no longer be changed.", icon=":material/lock:")
    for q in c.questions:
        st.markdown(f"**Q{q.position}. {q.prompt}**  \n{previous.get(q.question_id, '—')}")
    st.stop()

with st.form(f"answer_{chosen}"):
    answers = {}
    for q in c.questions:
        if q.kind == "rating":
            options = [None, 1, 2, 3, 4, 5]
            answers[q.question_id] = st.radio(
                f"Q{q.position}. {q.prompt}",
                options,
                index=options.index(previous.get(q.question_id))
                if previous.get(q.question_id) in options
                else 0,
                format_func=lambda r: RATING_LABELS[r],
                horizontal=True,
                key=f"a_{chosen}_{q.question_id}",
            )
        else:
            answers[q.question_id] = st.text_area(
                f"Q{q.position}. {q.prompt}",
                value=str(previous.get(q.question_id, "")),
                key=f"a_{chosen}_{q.question_id}",
            )
    sent = st.form_submit_button("Update our answers" if mine else "Send our answers", type="primary")
if sent:
    try:
        rd.submit_response(me, chosen, answers)
        st.success("Thank you: your organisation's answers are saved.", icon=":material/check_circle:")
    except rd.REFUSALS as exc:
        _report_refusal(exc)
