"""mart_market_trends is public (/v1/market-trends, the Market trends page): it withholds the prices of a
row resting on fewer participants or units than the threshold the other public aggregates use
(sfe.queries.MIN_PARTICIPANTS). The masking itself is checked by the mart's dbt unit test
(mart_market_trends.yml), which every build runs."""

from __future__ import annotations

import re

import yaml

from sfe import queries
from sfe.config import DBT_PROJECT_DIR

MART = DBT_PROJECT_DIR / "models" / "analytics" / "mart_market_trends"
PRICE_COLUMNS = (
    "vwap_availability_price_gbp_per_mw_h",
    "avg_availability_price_gbp_per_mw_h",
    "vwap_utilisation_price_gbp_per_mwh",
    "avg_utilisation_price_gbp_per_mwh",
    "yoy_vwap_availability_price_change",
    "yoy_vwap_utilisation_price_change",
)


def test_the_mart_suppresses_at_the_same_threshold_as_the_other_public_aggregates():
    sql = MART.with_suffix(".sql").read_text(encoding="utf-8")
    (threshold,) = re.findall(r"\{%\s*set\s+min_participants\s*=\s*(\d+)\s*%\}", sql)
    assert int(threshold) == queries.MIN_PARTICIPANTS


def test_every_price_column_of_the_mart_is_masked_when_suppressed():
    sql = MART.with_suffix(".sql").read_text(encoding="utf-8")
    final_select = sql[sql.rindex("\nselect\n") : sql.rindex("\nfrom aggregated as cur")]
    items = {  # output name (alias or column) -> expression; items start at the list's indent
        re.search(r"(\w+)$", item.strip()).group(1): item
        for item in re.split(r",\n(?=    \S)", final_select.removeprefix("\nselect\n"))
    }
    for column in PRICE_COLUMNS:
        assert "case when not cur.suppressed" in items[column], column
    (model,) = yaml.safe_load(MART.with_suffix(".yml").read_text(encoding="utf-8"))["models"]
    columns = {c["name"] for c in model["columns"]}
    assert {"suppressed", "n_participants", *PRICE_COLUMNS} <= columns
