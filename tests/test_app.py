"""The Streamlit app (dashboards/app.py) run headless with streamlit.testing.v1.AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sfe.serving import reset_db_registry

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
def test_market_trends_explains_a_missing_warehouse(lake_dir):
    at = _trends()
    [warning] = at.warning
    assert "make build" in warning.value
    assert not _charts(at) and not at.dataframe and not at.download_button
