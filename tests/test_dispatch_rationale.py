"""Dispatch rationale (UC22) on the generated demo shared with tests/test_conflicts_mart.py: one row per SO
instruction in force, an offer book that holds the dispatched offer (resales followed), a merit order that
adds up, SFE's count of skipped cheaper offers against what the SOs disclosed, and the disclosed reasons.
"""

from __future__ import annotations

import duckdb
import pytest

from .test_conflicts_mart import built_demo_lake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    connection = duckdb.connect(str(built_demo_lake(tmp_path_factory).serving_db), read_only=True)
    yield connection
    connection.close()


def _one(con, sql: str, params=None):
    return con.execute(sql, params or []).fetchone()


def test_one_row_per_so_instruction_in_force(con):
    instructions = _one(
        con, "select count(*) from fct_dispatch where source_id = 'so_dispatch_instructions'"
    )[0]
    rows, distinct = _one(con, "select count(*), count(distinct dispatch_id) from mart_dispatch_rationale")
    assert rows == distinct == instructions > 0
    operators = {
        r[0] for r in con.execute("select distinct operator_id from mart_dispatch_rationale").fetchall()
    }
    assert "neso" in operators and operators - {"neso"}, operators  # NESO and at least one DNO
    assert "ukpn" not in operators  # UKPN discloses neither offers nor reasons


def test_the_dispatched_offer_is_in_its_book_even_after_a_resale(con):
    missing = con.execute(
        "select dispatch_id, operator_id from mart_dispatch_rationale where not dispatched_offer_in_book"
    ).fetchall()
    assert not missing
    resold = _one(
        con,
        "select count(*) from mart_dispatch_rationale d join fct_resale r on d.contract_ref = r.original_bid_id "
        "and d.start_utc >= r.start_utc and d.start_utc < r.end_utc",
    )[0]
    assert resold > 0, "the demo must instruct a resold contract for this test to mean anything"


def test_merit_order_adds_up(con):
    broken = con.execute(
        """
        select dispatch_id from mart_dispatch_rationale
        where merit_order_rank <> 1 + cheaper_offers_available
            or cheaper_offers_available <> cheaper_offers_dispatched + cheaper_offers_skipped
            or is_out_of_merit <> (cheaper_offers_skipped > 0)
            or priced_offers > available_offers
            or merit_order_rank > priced_offers
            or (cheaper_offers_skipped > 0) <> (cheaper_offers_skipped_mw > 0)
            or (cheaper_offers_skipped > 0 and not (out_of_merit_premium_gbp_per_mwh > 0))
            or cheapest_available_price_gbp_per_mwh > utilisation_price_gbp_per_mwh
            or (priced_offers > 0) <> (merit_order is not null)
        """
    ).fetchall()
    assert not broken
    # The merit order text lists every priced offer once, cheapest first, this instruction's own among them.
    for dispatch_id, merit_order, priced in con.execute(
        "select dispatch_id, merit_order, priced_offers from mart_dispatch_rationale order by dispatch_id limit 300"
    ).fetchall():
        entries = merit_order.split("; ")
        assert len(entries) == priced, dispatch_id
        assert sum(e.endswith("(this)") for e in entries) == 1, dispatch_id
        prices = [float(e.split(" ")[1]) for e in entries]
        assert prices == sorted(prices), dispatch_id


def test_skipped_offers_agree_with_what_the_sos_disclosed(con):
    """The SOs state how many cheaper offers they skipped; SFE counts them from the offer book. They
    agree except where the definitions differ (a DNO calling part of a window; a cancelled call)."""
    for operator_id, rows, agree in con.execute(
        "select operator_id, count(*), sum(case when skips_match_so_report then 1 else 0 end) "
        "from mart_dispatch_rationale group by 1"
    ).fetchall():
        assert agree / rows >= 0.9, (operator_id, rows, agree)
    # Where SFE and the SO disagree, the SO's own numbers are kept beside SFE's.
    assert (
        _one(
            con,
            "select count(*) from mart_dispatch_rationale where so_reported_cheaper_offers_skipped is null",
        )[0]
        == 0
    )


def test_every_instruction_carries_the_reason_the_so_disclosed(con):
    assert (
        _one(
            con,
            "select count(*) from mart_dispatch_rationale where rationale is null or reason_code is null",
        )[0]
        == 0
    )
    # A skip the SO disclosed is explained in its rationale.
    unexplained = con.execute(
        "select dispatch_id, rationale from mart_dispatch_rationale "
        "where so_reported_cheaper_offers_skipped > 0 and rationale not like '%skipped%'"
    ).fetchall()
    assert not unexplained


def test_page_summary_per_so_and_product(con):
    """What the dispatch transparency page shows: volume, merit order position and skip rate per SO and
    product, with the most frequent reason."""
    rows = con.execute(
        """
        select operator_id, product_id, count(*) as instructions, sum(dispatched_mwh) as mwh,
            avg(case when is_out_of_merit then 1.0 else 0.0 end) as skip_rate,
            avg(merit_order_rank) as avg_rank, mode(reason_code) as top_reason
        from mart_dispatch_rationale
        group by 1, 2
        """
    ).fetchall()
    assert rows
    for operator_id, product_id, instructions, mwh, skip_rate, avg_rank, top_reason in rows:
        assert instructions > 0 and mwh > 0, (operator_id, product_id)
        assert 0 <= skip_rate <= 1 and avg_rank >= 1 and top_reason, (operator_id, product_id)
    assert any(r[4] > 0 for r in rows), "some instructions skip cheaper offers in the demo"
