"""The Streamlit app (dashboards/app.py) run headless with streamlit.testing.v1.AppTest."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from sfe import csv_safe, queries
from sfe.serving import get_db, reset_db_registry

try:
    from serving_fixtures import publish_serving_db
except ImportError:  # tests/ imported as a package
    from tests.serving_fixtures import publish_serving_db

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
TRENDS = "pages/market_trends.py"
TIMEOUT = 60


@pytest.fixture
def lake_dir(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    monkeypatch.setenv("SFE_LAKE_DIR", str(lake))
    yield lake
    reset_db_registry()


@pytest.fixture
def published(lake_dir):
    return publish_serving_db(lake_dir)


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def _trends() -> AppTest:
    at = _app().run()
    assert not at.exception, at.exception
    at.switch_page(TRENDS).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Market trends"
    return at


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("vega_lite_chart")]


# -- home ------------------------------------------------------------------------------------------
def test_home_shows_what_sfe_is_and_how_fresh_the_data_is(published):
    at = _app().run()
    assert not at.exception, at.exception
    assert at.title[0].value.startswith("SFE")
    text = " ".join(m.value for m in at.markdown)
    assert "Aggregators" in text and "investors" in text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Last published (UK time)"] == "01 Jun 2024 07:00"  # 06:00 UTC is 07:00 BST
    assert metrics["Sources"] == "2"
    assert metrics["Rows loaded"] == f"{1246 + 553:,}"
    sources = at.dataframe[0].value
    assert list(sources["source_id"]) == ["neso_eac_results", "ukpn_flexibility_dispatches"]
    [chart] = _charts(at)
    assert chart["mark"]["type"] == "bar"
    assert not at.warning


def test_home_explains_a_missing_warehouse(lake_dir):
    at = _app().run()
    assert not at.exception, at.exception
    [warning] = at.warning
    assert "has not been built" in warning.value and "make build" in warning.value
    assert not at.metric and not at.dataframe


def test_home_picks_up_a_new_publish_without_restart(published, lake_dir):
    at = _app().run()
    assert {m.label: m.value for m in at.metric}["Last published (UK time)"] == "01 Jun 2024 07:00"
    publish_serving_db(lake_dir, version=2)
    at.run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Last published (UK time)"] == "04 Jun 2024 07:00"


# -- market trends ------------------------------------------------------------------------------------
def test_market_trends_defaults(published):
    at = _trends()
    assert at.date_input[0].value == (date(2024, 2, 29), date(2024, 5, 31))
    assert at.multiselect[0].value == [
        "neso_eac_dch", "neso_eac_dcl", "neso_eac_pbr", "ukpn_dynamic", "ukpn_secure", "ukpn_sustain",
    ]  # fmt: skip
    assert at.radio[0].value == "day"
    charts = _charts(at)
    assert len(charts) == 4
    assert [c["mark"]["type"] for c in charts] == ["line", "bar", "bar", "line"]
    assert [c["encoding"]["y"]["field"] for c in charts] == [
        "vwap_clearing_price_gbp_per_mw_h", "cleared_volume_mwh", "utilisation_mwh", "vwap_utilisation_price_gbp_per_mwh",
    ]  # fmt: skip
    assert len(at.dataframe) == 2 and len(at.download_button) == 2
    expected = queries.auction_trends("day", db=get_db())
    shown = at.dataframe[0].value
    assert list(shown.columns) == expected.columns and len(shown) == expected.height
    assert not at.warning and not at.exception


def test_download_is_exactly_the_table_shown(published, monkeypatch):
    exported: list[pl.DataFrame] = []
    real = csv_safe.to_csv_bytes

    def recording(frame):
        exported.append(frame)
        return real(frame)

    monkeypatch.setattr(csv_safe, "to_csv_bytes", recording)
    at = _trends()
    at.radio[0].set_value("month").run()
    assert not at.exception, at.exception
    auctions, dispatches = exported[-2:]
    assert auctions.equals(queries.auction_trends("month", db=get_db()))
    assert dispatches.equals(queries.dispatch_trends("month", db=get_db()))
    for frame, shown in zip((auctions, dispatches), at.dataframe, strict=True):
        table = shown.value
        assert list(table.columns) == frame.columns and len(table) == frame.height
        assert list(table["product_id"]) == frame["product_id"].to_list()
        rows = list(csv.reader(io.StringIO(real(frame).decode())))
        assert rows[0] == list(table.columns) and len(rows) == len(table) + 1
    assert [b.label for b in at.download_button] == ["Download this table (CSV)"] * 2


def test_market_trends_filters(published):
    at = _trends()
    at.multiselect[0].set_value(["ukpn_dynamic", "ukpn_secure"])
    at.date_input[0].set_value((date(2024, 4, 1), date(2024, 4, 2)))
    at.run()
    assert not at.exception, at.exception
    assert any("No auction results" in i.value for i in at.info)
    assert len(_charts(at)) == 2
    [table] = at.dataframe
    shown = table.value
    assert sorted(set(shown["product_id"])) == ["ukpn_dynamic", "ukpn_secure"]
    dynamic = shown[shown["product_id"] == "ukpn_dynamic"]
    # GB local days: the dispatch at 23:30 UTC on 1 April belongs to 2 April (BST).
    assert list(dynamic["dispatches"]) == [2, 3]


def test_market_trends_without_products(published):
    at = _trends()
    at.multiselect[0].set_value([]).run()
    assert not at.exception, at.exception
    assert any("at least one product" in i.value for i in at.info)
    assert not _charts(at) and not at.dataframe


def test_market_trends_explains_a_missing_warehouse(lake_dir):
    at = _trends()
    [warning] = at.warning
    assert "make build" in warning.value
    assert not _charts(at) and not at.dataframe and not at.download_button


def test_market_trends_filters_follow_a_new_publish(published, lake_dir):
    at = _trends()
    assert at.date_input[0].value == (date(2024, 2, 29), date(2024, 5, 31))
    publish_serving_db(lake_dir, version=2)
    at.run()
    assert not at.exception, at.exception
    assert at.date_input[0].value == (date(2024, 2, 29), date(2024, 6, 3))  # untouched: follows the data
    at.date_input[0].set_value((date(2024, 4, 1), date(2024, 6, 2))).run()
    publish_serving_db(lake_dir, version=1)
    at.run()
    assert not at.exception, at.exception
    assert at.date_input[0].value == (date(2024, 4, 1), date(2024, 5, 31))  # the user's choice, clamped
