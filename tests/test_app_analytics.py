"""The analytics pages (market trends, asset value, trade/dispatch/settlement, DER positions, dispatch
transparency) run headless with streamlit.testing.v1.AppTest against a published warehouse.

Fast tests use a small published DuckDB file written here with DuckDB SQL (the analytics marts with
their contract columns and rows whose expected figures are worked out by hand in the comments);
the slow test at the end builds a real lakehouse and recomputes a page figure from the fct_* tables.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from sfe import csv_safe, queries
from sfe.registry import db as registry_db
from sfe.registry import identity
from sfe.registry.access import Role
from sfe.registry.models import Asset, Organisation, User
from sfe.serving import get_db, reset_db_registry

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
PAGES = APP.parent / "pages"
TRENDS = "pages/market_trends.py"
TIMEOUT = 60

# -- a published warehouse with the analytics marts ----------------------------------------------
# Market trends: months Jan 2024 - Jun 2025 (18 months); day rows spread each month evenly over its
# days (UTC days, as the mart keeps them).
#   neso_eac_dch  battery 5-20 MW  auction_result  1000 MWh/month in 2024, 1500 in 2025; 5 then 4 £/MW/h
#   neso_eac_dch  battery 1-5 MW   auction_result   200 MWh/month, 6 £/MW/h
#   ukpn_peak_reduction  C&I 1-5 MW  dispatch  from Jul 2024 only: 80 MWh/month at 150 £/MWh
#   ukpn_secure  unknown 1-5 MW  contract  50 MWh/month; 10 £/MW/h; 100 £/MWh in 2024, 120 in 2025
# So, Jan 2024 - Jun 2025 year on year (like for like, Jan-Jun 2025 vs Jan-Jun 2024):
#   neso_eac_dch: 6 x 1700 = 10 200 MWh vs 6 x 1200 = 7 200 -> +41.67 %;
#       price (1500x4 + 200x6)/1700 = 4.2353 vs (1000x5 + 200x6)/1200 = 5.1667 -> -18.03 %
#   ukpn_secure: volume 0 %, utilisation price +20 %; ukpn_peak_reduction: no comparable month.
_TRENDS_SQL = """
CREATE SCHEMA taxonomy;
CREATE TABLE taxonomy.asset_types AS SELECT * FROM (VALUES
    ('battery', 'Battery storage', TRUE), ('ci_demand_response', 'C&I demand response', FALSE),
    ('wind', 'Wind', FALSE)
) AS t(asset_type, asset_type_name, is_storage);
CREATE TABLE taxonomy.size_bands AS SELECT * FROM (VALUES
    ('100kw_1mw', '100 kW - 1 MW', 0.1, 1.0), ('1_5mw', '1 - 5 MW', 1.0, 5.0), ('5_20mw', '5 - 20 MW', 5.0, 20.0)
) AS t(size_band, size_band_name, min_mw, max_mw);
CREATE TABLE dim_market AS SELECT * FROM (VALUES
    ('neso_eac', 'NESO Enduring Auction Capability', 'neso', 'National Energy System Operator', 'ancillary_services'),
    ('ukpn_flex', 'UK Power Networks local flexibility', 'ukpn', 'UK Power Networks', 'local_flexibility')
) AS t(market_id, market_name, operator_id, operator_name, market_kind);
CREATE TABLE dim_product AS SELECT * FROM (VALUES
    ('neso_eac_dch', 'neso_eac', 'Dynamic Containment High', 'Response', 'up', 'dynamic_containment_high'),
    ('ukpn_peak_reduction', 'ukpn_flex', 'Peak Reduction', 'Local flexibility', 'up', 'peak_reduction'),
    ('ukpn_secure', 'ukpn_flex', 'Secure', 'Local flexibility', 'up', 'operational_utilisation_scheduled_availability')
) AS t(product_id, market_id, product_name, service_type, direction, standard_product);
CREATE TABLE mart_market_trends AS
WITH months AS (
    SELECT CAST(unnest(generate_series(DATE '2024-01-01', CAST($last_month AS DATE), INTERVAL 1 MONTH)) AS DATE) AS m
),
series AS (
    SELECT * FROM (VALUES
        ('neso_eac', 'neso_eac_dch', 'battery', '5_20mw', 'auction_result', 1000.0, 1500.0, 5.0, 4.0, NULL, NULL, 12),
        ('neso_eac', 'neso_eac_dch', 'battery', '1_5mw', 'auction_result', 200.0, 200.0, 6.0, 6.0, NULL, NULL, 5),
        ('ukpn_flex', 'ukpn_peak_reduction', 'ci_demand_response', '1_5mw', 'dispatch', 80.0, 80.0, NULL, NULL, 150.0, 150.0, 3),
        ('ukpn_flex', 'ukpn_secure', 'unknown', '1_5mw', 'contract', 50.0, 50.0, 10.0, 10.0, 100.0, 120.0, 2)
    ) AS s(market_id, product_id, asset_type, size_band, activity, mwh_2024, mwh_2025, avail_2024, avail_2025,
           util_2024, util_2025, units)
),
monthly AS (
    SELECT months.m, s.*,
           CASE WHEN year(months.m) = 2024 THEN mwh_2024 ELSE mwh_2025 END AS mwh,
           CASE WHEN year(months.m) = 2024 THEN avail_2024 ELSE avail_2025 END AS avail,
           CASE WHEN year(months.m) = 2024 THEN util_2024 ELSE util_2025 END AS util
    FROM months, series AS s
    WHERE s.product_id <> 'ukpn_peak_reduction' OR months.m >= DATE '2024-07-01'
),
daily AS (
    SELECT CAST(d AS DATE) AS day, monthly.*
    FROM monthly, unnest(generate_series(monthly.m, monthly.m + INTERVAL 1 MONTH - INTERVAL 1 DAY, INTERVAL 1 DAY)) AS g(d)
),
rows AS (
    SELECT 'month' AS period_grain, m AS period_start, market_id, product_id, asset_type, size_band, activity,
           30 AS records, units, mwh / 4 AS volume_mw, mwh, avail, util
    FROM monthly
    UNION ALL
    SELECT 'day', day, market_id, product_id, asset_type, size_band, activity, 1, units,
           mwh / 4 / day(last_day(m)), mwh / day(last_day(m)), avail, util
    FROM daily
)
SELECT period_grain, period_start, market_id, product_id, NULL AS standard_product, asset_type, size_band, activity,
       CAST(records AS BIGINT) AS record_count, CAST(units AS BIGINT) AS n_units, volume_mw,
       volume_mw / records AS avg_volume_mw, mwh AS volume_mwh,
       avail AS vwap_availability_price_gbp_per_mw_h, avail AS avg_availability_price_gbp_per_mw_h,
       util AS vwap_utilisation_price_gbp_per_mwh, util AS avg_utilisation_price_gbp_per_mwh,
       CAST(NULL AS DOUBLE) AS prior_year_volume_mwh, CAST(NULL AS DOUBLE) AS yoy_volume_mwh_change,
       CAST(NULL AS DOUBLE) AS yoy_vwap_availability_price_change, CAST(NULL AS DOUBLE) AS yoy_vwap_utilisation_price_change
FROM rows;
"""

# Assets (dim_asset with the registry link) and the other analytics marts.
#   ast_a1 REG-000001  Org A  battery 2 MW   EPN  Zone A   owner fsp_a
#   ast_a2 REG-000002  Org A  C&I     1.5 MW LPN  Zone B   owner fsp_a
#   ast_b1 REG-000003  Org B  battery 3 MW   EPN  Zone A   owner fsp_b
#   ast_c1 -                  battery 4 MW   WMID Zone C   owner fsp_c
#   ast_d1 -                  battery 2.5 MW EPN  Zone A   owner fsp_d
#   ast_e1 -                  C&I     1.2 MW LPN  Zone B   owner fsp_e
# mart_asset_performance (May and June 2025): batteries in neso_eac_dch (4 owners: shown), C&I in
#   ukpn_peak_reduction (2 owners: suppressed in the aggregate).
# mart_asset_value, batteries of 1-5 MW (per MW): GB 2025 stacked p10/p50/p90 8000/12000/20000 (10 assets),
#   EPN 2025 9000/13000/21000 (6 assets: enough for the area), EPN 2024 2 assets (too few: GB 2024
#   5000/7000/9000); products: GB dch 5500, nged peak reduction 2500, ukpn peak reduction 2800; EPN dch
#   6000, ukpn peak reduction 3000 (utilisation). 2024 has 100 days of data, 2025 all 365.
# mart_der_positions, 3 June 2025 (BST): a1 EAC windows 22:00-02:00Z and 14:00-18:00Z, a UKPN dispatch
#   16:00-17:00Z (overlaps the second window: another market); b1 a UKPN contract 16:00-19:00Z; c1 an
#   NGED instruction 17:00-18:00Z; e1 a BM acceptance on 4 June.
# mart_dispatch_rationale: NGED 4 instructions (2 out of merit, reason FORECAST_THERMAL_CONSTRAINT),
#   NESO 2 (1 out of merit, ENERGY_IMBALANCE).
_MARTS_SQL = """
CREATE TABLE taxonomy.dno_areas AS SELECT * FROM (VALUES
    ('_A', 'EPN', 'Eastern', 'ukpn', 'ukpn_flex'), ('_C', 'LPN', 'London', 'ukpn', 'ukpn_flex'),
    ('_J', 'SPN', 'South Eastern', 'ukpn', 'ukpn_flex'), ('_E', 'WMID', 'West Midlands', 'nged', 'nged_flex')
) AS t(gsp_group, dno_area, dno_area_name, operator_id, market_id);
CREATE TABLE taxonomy.operators AS SELECT * FROM (VALUES
    ('neso', 'National Energy System Operator'), ('ukpn', 'UK Power Networks'),
    ('nged', 'National Grid Electricity Distribution')
) AS t(operator_id, operator_name);
INSERT INTO dim_market VALUES
    ('nged_flex', 'NGED local flexibility', 'nged', 'National Grid Electricity Distribution', 'local_flexibility'),
    ('neso_bm', 'Balancing Mechanism', 'elexon', 'Elexon', 'balancing_mechanism');
INSERT INTO dim_product VALUES
    ('nged_peak_reduction', 'nged_flex', 'Peak Reduction', 'Local flexibility', 'up', 'peak_reduction'),
    ('neso_eac_pbr', 'neso_eac', 'Positive Balancing Reserve', 'Reserve', 'up', 'balancing_reserve_positive'),
    ('neso_bm_boa', 'neso_bm', 'BM bid-offer acceptance', 'Balancing', 'both', 'balancing_mechanism');
CREATE TABLE dim_asset AS SELECT * FROM (VALUES
    ('ast_a1', 'REG-000001', 'A-BATT-1', 'fsp_a', 'battery', 2.0, '1_5mw', 'EPN', 'Zone A'),
    ('ast_a2', 'REG-000002', 'A-CI-2', 'fsp_a', 'ci_demand_response', 1.5, '1_5mw', 'LPN', 'Zone B'),
    ('ast_b1', 'REG-000003', 'B-BATT-1', 'fsp_b', 'battery', 3.0, '1_5mw', 'EPN', 'Zone A'),
    ('ast_c1', NULL, 'C-BATT-1', 'fsp_c', 'battery', 4.0, '1_5mw', 'WMID', 'Zone C'),
    ('ast_d1', NULL, 'D-BATT-1', 'fsp_d', 'battery', 2.5, '1_5mw', 'EPN', 'Zone A'),
    ('ast_e1', NULL, 'E-CI-1', 'fsp_e', 'ci_demand_response', 1.2, '1_5mw', 'LPN', 'Zone B')
) AS t(asset_id, registry_asset_id, asset_name, owner_participant_id, asset_type, capacity_mw, size_band,
       dno_area, flex_zone);
CREATE TABLE mart_asset_performance AS
WITH rows AS (
    SELECT * FROM (VALUES
        ('ast_a1', 'neso_eac_dch', 'neso_eac', 100.0, 10.0, 9.0, 1000.0),
        ('ast_b1', 'neso_eac_dch', 'neso_eac', 200.0, 20.0, 18.0, 2000.0),
        ('ast_c1', 'neso_eac_dch', 'neso_eac', 300.0, 30.0, 30.0, 3000.0),
        ('ast_d1', 'neso_eac_dch', 'neso_eac', 400.0, 40.0, 36.0, 4000.0),
        ('ast_a2', 'ukpn_peak_reduction', 'ukpn_flex', 50.0, 5.0, 5.0, 500.0),
        ('ast_e1', 'ukpn_peak_reduction', 'ukpn_flex', 60.0, 6.0, 3.0, 600.0)
    ) AS r(asset_id, product_id, market_id, won_mw_h, dispatched_mwh, delivered_mwh, total_gbp)
)
SELECT m.month, r.asset_id, r.product_id, r.market_id, NULL AS standard_product, a.asset_name,
       a.owner_participant_id, a.asset_type, a.size_band, a.capacity_mw, a.dno_area, a.flex_zone,
       CAST(CASE WHEN r.market_id = 'ukpn_flex' THEN 1 END AS BIGINT) AS bids,
       CASE WHEN r.market_id = 'ukpn_flex' THEN a.capacity_mw END AS offered_mw,
       CASE WHEN r.market_id = 'ukpn_flex' THEN r.won_mw_h END AS offered_mw_h,
       a.capacity_mw AS won_mw, r.won_mw_h,
       CAST(2 AS BIGINT) AS dispatches, r.dispatched_mwh, CAST(2 AS BIGINT) AS metered_dispatches,
       r.dispatched_mwh AS metered_dispatched_mwh, r.delivered_mwh AS metered_delivery_mwh,
       100.0 * r.delivered_mwh / r.dispatched_mwh AS delivery_pct,
       r.dispatched_mwh AS settled_instructed_mwh, r.delivered_mwh AS settled_delivered_mwh,
       100.0 * r.delivered_mwh / r.dispatched_mwh AS settled_delivery_pct, CAST(1 AS BIGINT) AS settlement_lines,
       0.8 * r.total_gbp AS availability_payment_gbp, 0.25 * r.total_gbp AS utilisation_payment_gbp,
       0.05 * r.total_gbp AS penalty_gbp, r.total_gbp
FROM rows AS r, (VALUES (DATE '2025-05-01'), (DATE '2025-06-01')) AS m(month)
JOIN dim_asset AS a ON a.asset_id = r.asset_id;
CREATE TABLE mart_asset_value AS
WITH rows AS (
    SELECT * FROM (VALUES
        ('GB', 'stacked_total', 2024, NULL, 4, 4, 7000.0, 0.0, 5000.0, 7000.0, 9000.0),
        ('EPN', 'stacked_total', 2024, NULL, 2, 2, 7500.0, 0.0, 6000.0, 7500.0, 9500.0),
        ('GB', 'product', 2024, 'neso_eac_dch', 4, 4, 5000.0, 0.0, 4000.0, 5000.0, 6000.0),
        ('GB', 'stacked_total', 2025, NULL, 10, 10, 9000.0, 3000.0, 8000.0, 12000.0, 20000.0),
        ('GB', 'product', 2025, 'neso_eac_dch', 10, 10, 5500.0, 0.0, 4500.0, 5500.0, 7000.0),
        ('GB', 'product', 2025, 'nged_peak_reduction', 3, 10, 0.0, 2500.0, 2000.0, 2500.0, 3000.0),
        ('GB', 'product', 2025, 'ukpn_peak_reduction', 4, 10, 0.0, 2800.0, 2000.0, 2800.0, 3500.0),
        ('EPN', 'stacked_total', 2025, NULL, 6, 6, 9500.0, 3500.0, 9000.0, 13000.0, 21000.0),
        ('EPN', 'product', 2025, 'neso_eac_dch', 6, 6, 6000.0, 0.0, 5000.0, 6000.0, 7500.0),
        ('EPN', 'product', 2025, 'ukpn_peak_reduction', 4, 6, 0.0, 3000.0, 2500.0, 3000.0, 3600.0)
    ) AS v(region, row_kind, year, product_id, n_assets, n_comparable_assets, availability_p50,
           utilisation_p50, net_p10, net_p50, net_p90)
)
SELECT v.region, v.row_kind, 'battery' AS asset_type, '1_5mw' AS size_band, CAST(v.year AS INTEGER) AS year,
       v.product_id, p.market_id, p.standard_product, CAST(v.n_assets AS BIGINT) AS n_assets,
       CAST(v.n_comparable_assets AS BIGINT) AS n_comparable_assets, 2.5 AS avg_capacity_mw,
       CASE WHEN v.row_kind = 'stacked_total' THEN 2.0 END AS avg_products_held,
       v.availability_p50 * 0.8 AS availability_gbp_per_mw_p10, v.availability_p50 AS availability_gbp_per_mw_p50,
       v.availability_p50 * 1.2 AS availability_gbp_per_mw_p90, v.utilisation_p50 * 0.8 AS utilisation_gbp_per_mw_p10,
       v.utilisation_p50 AS utilisation_gbp_per_mw_p50, v.utilisation_p50 * 1.2 AS utilisation_gbp_per_mw_p90,
       0.0 AS penalty_gbp_per_mw_mean, v.net_p10 AS net_gbp_per_mw_p10, v.net_p50 AS net_gbp_per_mw_p50,
       v.net_p90 AS net_gbp_per_mw_p90, v.net_p50 AS net_gbp_per_mw_mean, 0.75 AS settled_share,
       CAST(CASE WHEN v.year = 2024 THEN 100 ELSE 365 END AS INTEGER) AS data_days,
       CAST(CASE WHEN v.year = 2024 THEN 366 ELSE 365 END AS INTEGER) AS year_days
FROM rows AS v LEFT JOIN dim_product AS p ON p.product_id = v.product_id;
CREATE TABLE mart_der_positions AS
WITH rows AS (
    SELECT * FROM (VALUES
        ('p1', 'commitment', 'eac_auction_win', 'ast_a1', 'neso_eac', 'neso_eac_dch', 'neso',
         TIMESTAMPTZ '2025-06-02 22:00:00+00', TIMESTAMPTZ '2025-06-03 02:00:00+00', 2.0, 'Zone A'),
        ('p2', 'commitment', 'eac_auction_win', 'ast_a1', 'neso_eac', 'neso_eac_dch', 'neso',
         TIMESTAMPTZ '2025-06-03 14:00:00+00', TIMESTAMPTZ '2025-06-03 18:00:00+00', 2.0, 'Zone A'),
        ('p3', 'dispatch', 'ukpn_dispatch', 'ast_a1', 'ukpn_flex', 'ukpn_peak_reduction', 'ukpn',
         TIMESTAMPTZ '2025-06-03 16:00:00+00', TIMESTAMPTZ '2025-06-03 17:00:00+00', 1.5, 'Zone A'),
        ('p4', 'commitment', 'dno_contract', 'ast_b1', 'ukpn_flex', 'ukpn_peak_reduction', 'ukpn',
         TIMESTAMPTZ '2025-06-03 16:00:00+00', TIMESTAMPTZ '2025-06-03 19:00:00+00', 3.0, 'Zone A'),
        ('p5', 'dispatch', 'so_instruction', 'ast_c1', 'nged_flex', 'nged_peak_reduction', 'nged',
         TIMESTAMPTZ '2025-06-03 17:00:00+00', TIMESTAMPTZ '2025-06-03 18:00:00+00', 4.0, 'Zone C'),
        ('p6', 'dispatch', 'bm_acceptance', 'ast_e1', 'neso_bm', 'neso_bm_boa', 'neso',
         TIMESTAMPTZ '2025-06-04 10:00:00+00', TIMESTAMPTZ '2025-06-04 11:00:00+00', 1.2, 'Zone B')
    ) AS r(position_id, position_kind, position_type, asset_id, market_id, product_id, operator_id,
           start_utc, end_utc, mw, flex_zone)
)
SELECT r.position_id, r.position_kind, r.position_type, r.asset_id, a.asset_name, a.asset_type, a.size_band,
       a.owner_participant_id AS participant_id, r.market_id, r.product_id, NULL AS standard_product, r.operator_id,
       r.start_utc, r.end_utc, (epoch(r.end_utc) - epoch(r.start_utc)) / 3600.0 AS duration_h,
       CAST(timezone('Europe/London', r.start_utc) AS DATE) AS settlement_date, r.mw, 'up' AS direction,
       r.flex_zone, a.dno_area, NULL AS gsp_group, CAST(NULL AS DOUBLE) AS availability_price_gbp_per_mw_h,
       CAST(NULL AS DOUBLE) AS utilisation_price_gbp_per_mwh, 'ref-' || r.position_id AS source_ref,
       'test' AS source_id
FROM rows AS r JOIN dim_asset AS a ON a.asset_id = r.asset_id;
CREATE TABLE mart_dispatch_rationale AS
WITH rows AS (
    SELECT * FROM (VALUES
        ('d1', 'nged', 'nged_flex', 'nged_peak_reduction', TIMESTAMPTZ '2025-06-03 17:00:00+00', 4.0, 150.0, 3, 2, TRUE, 50.0, 'FORECAST_THERMAL_CONSTRAINT', 'Forecast 110% loading at Corby'),
        ('d2', 'nged', 'nged_flex', 'nged_peak_reduction', TIMESTAMPTZ '2025-06-04 17:00:00+00', 2.0, 120.0, 2, 1, TRUE, 20.0, 'FORECAST_THERMAL_CONSTRAINT', 'Forecast 110% loading at Corby'),
        ('d3', 'nged', 'nged_flex', 'nged_peak_reduction', TIMESTAMPTZ '2025-06-05 17:00:00+00', 3.0, 100.0, 1, 0, FALSE, NULL, 'PEAK_REDUCTION_WINDOW', 'Pre-agreed window'),
        ('d4', 'nged', 'nged_flex', 'nged_peak_reduction', TIMESTAMPTZ '2025-06-06 17:00:00+00', 1.0, 100.0, 1, 0, FALSE, NULL, 'PEAK_REDUCTION_WINDOW', NULL),
        ('d5', 'neso', 'neso_eac', 'neso_eac_pbr', TIMESTAMPTZ '2025-06-03 10:00:00+00', 10.0, 80.0, 4, 3, TRUE, 15.0, 'ENERGY_IMBALANCE', 'System short'),
        ('d6', 'neso', 'neso_eac', 'neso_eac_pbr', TIMESTAMPTZ '2025-06-04 10:00:00+00', 10.0, 60.0, 1, 0, FALSE, NULL, 'ENERGY_IMBALANCE', 'System short')
    ) AS r(dispatch_id, operator_id, market_id, product_id, start_utc, mwh, price, rank, skipped, out_of_merit,
           premium, reason_code, rationale)
)
SELECT dispatch_id, operator_id, market_id, product_id, NULL AS participant_id, NULL AS asset_id,
       'UNIT-' || dispatch_id AS source_asset_ref, NULL AS contract_ref, NULL AS competition_id, 'up' AS direction,
       start_utc, start_utc + INTERVAL 1 HOUR AS end_utc, start_utc AS issued_at_utc, mwh AS dispatched_mw,
       mwh AS dispatched_mwh, price AS utilisation_price_gbp_per_mwh, 'competition_contracts' AS offer_book,
       CAST(rank + 1 AS INTEGER) AS available_offers, 10.0 AS available_offers_mw, CAST(rank + 1 AS INTEGER) AS priced_offers,
       TRUE AS dispatched_offer_in_book, price - coalesce(premium, 0) AS cheapest_available_price_gbp_per_mwh,
       CAST(rank AS INTEGER) AS merit_order_rank, CAST(rank - 1 AS INTEGER) AS cheaper_offers_available,
       CAST(rank - 1 - skipped AS INTEGER) AS cheaper_offers_dispatched, CAST(skipped AS INTEGER) AS cheaper_offers_skipped,
       skipped * 1.0 AS cheaper_offers_skipped_mw, out_of_merit AS is_out_of_merit,
       price - premium AS cheapest_skipped_price_gbp_per_mwh, premium AS out_of_merit_premium_gbp_per_mwh,
       '#1 ... (this)' AS merit_order, reason_code, rationale, CAST(rank AS INTEGER) AS so_reported_merit_order_rank,
       CAST(skipped AS INTEGER) AS so_reported_cheaper_offers_skipped, TRUE AS skips_match_so_report,
       'f.csv' AS source_file, CAST(1 AS BIGINT) AS source_row
FROM rows;
"""

PUBLISHED_AT = datetime(2025, 7, 1, 6, 0, tzinfo=UTC)


def publish_analytics_db(lake_dir: Path, *, version: int = 1, marts: bool = True) -> Path:
    """Write the analytics warehouse and publish it like the real publish step (rename over sfe.duckdb).

    ``version=2`` adds July 2025 to the market trends; ``marts=False`` publishes an older warehouse
    without the analytics marts.
    """
    warehouse = lake_dir / "warehouse"
    warehouse.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".duckdb", dir=warehouse)
    os.close(fd)
    os.unlink(tmp)
    con = duckdb.connect(tmp)
    try:
        con.execute(
            "CREATE TABLE meta_publish AS SELECT CAST($at AS TIMESTAMPTZ) AS published_at, "
            "CAST($at AS TIMESTAMPTZ) AS build_started_at, 'test' AS sfe_version, TRUE AS dbt_tests_passed",
            {"at": PUBLISHED_AT},
        )
        if marts:
            last_month = date(2025, 7, 1) if version == 2 else date(2025, 6, 1)
            for statement in (_TRENDS_SQL + _MARTS_SQL).split(";\n"):
                if statement.strip():
                    params = {"last_month": last_month} if "$last_month" in statement else None
                    con.execute(statement, params)
            # The marts' contracts say DOUBLE; literals above are DECIMAL.
            for table, column in con.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'main' AND data_type LIKE 'DECIMAL%'"
            ).fetchall():
                con.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE DOUBLE')
    finally:
        con.close()
    target = warehouse / "sfe.duckdb"
    shutil.move(tmp, target)
    return target


@pytest.fixture
def lake_dir(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    monkeypatch.setenv("SFE_LAKE_DIR", str(lake))
    yield lake
    reset_db_registry()


@pytest.fixture
def published(lake_dir):
    return publish_analytics_db(lake_dir)


def _page(path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("vega_lite_chart")]


def _texts(at: AppTest, kind: str) -> str:
    return " | ".join(str(el.value) for el in at.get(kind))


def _record_downloads(monkeypatch) -> list[pl.DataFrame]:
    exported: list[pl.DataFrame] = []
    real = csv_safe.to_csv_bytes

    def recording(frame):
        exported.append(frame)
        return real(frame)

    monkeypatch.setattr(csv_safe, "to_csv_bytes", recording)
    return exported


def _assert_download_is_the_table(frame: pl.DataFrame, shown) -> None:
    table = shown.value
    assert list(table.columns) == frame.columns and len(table) == frame.height
    rows = list(csv.reader(io.StringIO(csv_safe.to_csv(frame))))
    assert rows[0] == list(table.columns) and len(rows) == len(table) + 1


# -- market trends: queries ------------------------------------------------------------------------
def test_market_growth_is_like_for_like(published):
    growth = queries.market_growth("product", db=get_db())
    rows = {(r["group_id"], r["activity"]): r for r in growth.iter_rows(named=True)}
    assert set(rows) == {("neso_eac_dch", "auction_result"), ("ukpn_secure", "contract")}
    dch = rows[("neso_eac_dch", "auction_result")]
    assert dch["months_compared"] == 6
    assert (dch["first_month"], dch["last_month"]) == (date(2025, 1, 1), date(2025, 6, 1))
    assert dch["volume_mwh"] == pytest.approx(10_200) and dch["prior_year_volume_mwh"] == pytest.approx(7_200)
    assert dch["volume_change"] == pytest.approx(3_000 / 7_200)
    assert dch["availability_price_gbp_per_mw_h"] == pytest.approx(7_200 / 1_700)
    assert dch["prior_year_availability_price_gbp_per_mw_h"] == pytest.approx(6_200 / 1_200)
    assert dch["availability_price_change"] == pytest.approx((7_200 / 1_700) / (6_200 / 1_200) - 1)
    assert dch["utilisation_price_change"] is None
    secure = rows[("ukpn_secure", "contract")]
    assert secure["volume_change"] == pytest.approx(0) and secure[
        "utilisation_price_change"
    ] == pytest.approx(0.2)
    assert growth["group_label"].to_list()[0] == "Dynamic Containment High (NESO)"  # fastest growing first

    battery_5_20 = queries.market_growth("size_band", size_bands=["5_20mw"], db=get_db())
    assert battery_5_20.select("group_id", "volume_change", "availability_price_change").rows() == [
        ("5_20mw", pytest.approx(0.5), pytest.approx(-0.2))
    ]
    # A timeline inside 2024 has nothing a year earlier to compare with.
    assert queries.market_growth("product", date(2024, 1, 1), date(2025, 1, 1), db=get_db()).is_empty()


def test_market_trends_by_breakdown_and_granularity(published):
    db = get_db()
    months = queries.market_trends_by("month", "asset_type", date(2025, 6, 20), date(2025, 7, 1), db=db)
    assert months["period_start"].unique().to_list() == [date(2025, 6, 1)]  # whole months
    battery = months.filter(pl.col("group_id") == "battery").row(0, named=True)
    assert battery["group_label"] == "Battery storage" and battery["activity"] == "auction_result"
    assert battery["volume_mwh"] == pytest.approx(1_700) and battery["units"] == 17
    assert battery["vwap_availability_price_gbp_per_mw_h"] == pytest.approx(7_200 / 1_700)
    days = queries.market_trends_by("day", "product", date(2025, 6, 20), date(2025, 6, 22), db=db)
    assert days["period_start"].unique().sort().to_list() == [date(2025, 6, 20), date(2025, 6, 21)]
    assert (
        days.filter(pl.col("group_id") == "neso_eac_dch")["volume_mwh"].to_list()
        == [pytest.approx(1_700 / 30)] * 2
    )
    assert queries.market_trends_by("month", "market", market_ids=[], db=db).is_empty()  # [] = nothing
    with pytest.raises(ValueError, match="breakdown must be one of"):
        queries.market_trends_by("month", "participant_id; DROP TABLE x", db=db)
    options = queries.market_trend_options(db)
    assert options.size_bands["size_band"].to_list() == ["1_5mw", "5_20mw"]  # smallest first
    assert options.asset_types["asset_type"].to_list() == ["battery", "ci_demand_response", "unknown"]
    assert (options.first_day, options.last_day) == (date(2024, 1, 1), date(2025, 6, 30))


def test_an_older_publish_without_the_mart_is_named(lake_dir):
    publish_analytics_db(lake_dir, marts=False)
    with pytest.raises(queries.TableNotPublished, match="mart_market_trends"):
        queries.market_trend_options(get_db())


# -- market trends: page ---------------------------------------------------------------------------
def test_market_trends_page_defaults(published, monkeypatch):
    exported = _record_downloads(monkeypatch)
    at = _page(TRENDS)
    assert at.title[0].value == "Market trends"
    assert at.date_input(key="trends_dates").value == (date(2024, 1, 1), date(2025, 6, 30))
    assert at.button_group(key="trends_granularity").value == "month"
    assert at.selectbox(key="trends_breakdown").value == "product"
    for key in ("trends_markets", "trends_products", "trends_asset_types", "trends_size_bands"):
        assert at.multiselect(key=key).value == []  # empty = all
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Auction results, MWh": f"{12 * 1200 + 6 * 1700:,}",
        "Dispatches, MWh": f"{12 * 80:,}",
        "Contracts, MWh": f"{18 * 50:,}",
    }
    charts = _charts(at)
    # auctions: volume + availability price; dispatches: volume + utilisation; contracts: volume + both
    # prices; then the growth chart.
    assert [c.get("mark", {}).get("type") for c in charts] == [
        "bar", "line", "bar", "line", "bar", "line", "line", None,
    ]  # fmt: skip
    assert charts[1]["encoding"]["y"]["field"] == "vwap_availability_price_gbp_per_mw_h"
    assert charts[3]["encoding"]["y"]["field"] == "vwap_utilisation_price_gbp_per_mwh"
    assert len(at.dataframe) == 4 and len(at.download_button) == 4
    auctions = at.dataframe[0].value
    assert list(auctions.columns[:4]) == ["period_start", "product_id", "product", "records"]
    assert len(auctions) == 18
    growth = at.dataframe[3].value
    assert list(growth["product_id"]) == ["neso_eac_dch", "ukpn_secure"]
    # Every download is exactly the table next to it.
    assert len(exported) == 4
    for frame, shown in zip(exported, at.dataframe, strict=True):
        _assert_download_is_the_table(frame, shown)
    expected = queries.market_trends_by("month", "product", db=get_db())
    assert exported[0].height == expected.filter(pl.col("activity") == "auction_result").height
    assert not at.warning and not at.exception


def test_market_trends_filters_and_breakdown(published, monkeypatch):
    exported = _record_downloads(monkeypatch)
    at = _page(TRENDS)
    at.selectbox(key="trends_breakdown").set_value("size_band")
    at.multiselect(key="trends_asset_types").set_value(["battery"])
    at.button_group(key="trends_granularity").set_value("day")
    at.date_input(key="trends_dates").set_value((date(2025, 6, 1), date(2025, 6, 3)))
    at.run()
    assert not at.exception, at.exception
    assert "No dispatches for these filters" in _texts(at, "info")
    assert "No contracts for these filters" in _texts(at, "info")
    auctions = at.dataframe[0].value
    assert list(auctions.columns[:3]) == ["period_start", "size_band", "size_band_name"]
    assert len(auctions) == 3 * 2  # three days x two size bands
    assert set(auctions["size_band_name"]) == {"1 - 5 MW", "5 - 20 MW"}
    # Growth: the months the timeline touches (June 2025) against June 2024, per size band.
    growth = at.dataframe[1].value
    assert list(growth["size_band"]) == ["5_20mw", "1_5mw"]
    assert list(growth["volume_change"]) == [pytest.approx(0.5), pytest.approx(0.0)]
    for frame, shown in zip(exported[-2:], at.dataframe, strict=True):
        _assert_download_is_the_table(frame, shown)


def test_products_follow_the_chosen_markets(published):
    at = _page(TRENDS)
    at.multiselect(key="trends_products").set_value(["ukpn_secure", "neso_eac_dch"]).run()
    at.multiselect(key="trends_markets").set_value(["neso_eac"]).run()
    assert not at.exception, at.exception
    products = at.multiselect(key="trends_products")
    assert products.options == ["Dynamic Containment High (NESO)"]
    assert products.value == ["neso_eac_dch"]  # the UKPN product left with its market
    assert set(at.dataframe[0].value["product_id"]) == {"neso_eac_dch"}


def test_a_filter_that_selects_nothing_says_so(published):
    at = _page(TRENDS)
    at.multiselect(key="trends_markets").set_value(["ukpn_flex"])
    at.multiselect(key="trends_asset_types").set_value(["battery"])
    at.run()
    assert not at.exception, at.exception
    assert "Nothing matches these filters" in _texts(at, "info")
    assert not _charts(at) and not at.dataframe and not at.download_button


def test_growth_without_a_year_earlier_says_so(published):
    at = _page(TRENDS)
    at.date_input(key="trends_dates").set_value((date(2024, 3, 1), date(2024, 12, 31))).run()
    assert not at.exception, at.exception
    assert "No year-on-year comparison is possible" in _texts(at, "info")
    assert len(at.dataframe) == 3  # the three activities' tables, no growth table


def test_growth_ranking_and_activities(published):
    at = _page(TRENDS)
    at.button_group(key="growth_rank_by").set_value("utilisation_price_change").run()
    growth = at.dataframe[-1].value
    assert list(growth["product_id"]) == ["ukpn_secure", "neso_eac_dch"]  # nulls last
    at.button_group(key="growth_activities").set_value(["contract"]).run()
    assert not at.exception, at.exception
    assert list(at.dataframe[-1].value["activity"]) == ["contract"]


def test_market_trends_explains_a_missing_warehouse(lake_dir):
    at = _page(TRENDS)
    [warning] = at.warning
    assert "has not been built" in warning.value and "make build" in warning.value
    assert not _charts(at) and not at.dataframe and not at.download_button


def test_market_trends_explains_an_older_publish(lake_dir):
    publish_analytics_db(lake_dir, marts=False)
    at = _page(TRENDS)
    [warning] = at.warning
    assert "mart_market_trends" in warning.value and "make build" in warning.value
    assert not _charts(at) and not at.dataframe


def test_market_trends_filters_follow_a_new_publish(published, lake_dir):
    at = _page(TRENDS)
    publish_analytics_db(lake_dir, version=2)
    at.run()
    assert not at.exception, at.exception
    assert at.date_input(key="trends_dates").value == (
        date(2024, 1, 1),
        date(2025, 7, 31),
    )  # follows the data
    at.date_input(key="trends_dates").set_value((date(2025, 1, 1), date(2025, 7, 15))).run()
    publish_analytics_db(lake_dir, version=1)
    at.run()
    assert not at.exception, at.exception
    assert at.date_input(key="trends_dates").value == (date(2025, 1, 1), date(2025, 6, 30))  # kept, clamped


# -- who is signed in ------------------------------------------------------------------------------
def _account(role: Role, organisation: str, operator_id: str | None = None, assets: tuple = ()) -> str:
    """An active user of a new organisation (with registered ``assets``: (registry id, type, MW, area));
    returns a session token for the app's session state."""
    with registry_db.session() as s:
        org = Organisation(
            name=organisation,
            name_key=identity.organisation_key(organisation),
            kind=role.value,
            operator_id=operator_id,
        )
        s.add(org)
        s.flush()
        user = User(
            email=f"{identity.organisation_key(organisation).replace(' ', '.')}@example.com",
            display_name=organisation + " user",
            password_hash="not-used",
            role=role.value,
            organisation_id=org.id,
            status=identity.ACTIVE,
        )
        s.add(user)
        for registry_asset_id, asset_type, capacity_mw, dno_area in assets:
            s.add(
                Asset(
                    registry_asset_id=registry_asset_id,
                    organisation_id=org.id,
                    name=f"{organisation} {registry_asset_id}",
                    asset_type=asset_type,
                    capacity_mw=capacity_mw,
                    energy_mwh=2 * capacity_mw if asset_type == "battery" else None,
                    dno_area=dno_area,
                )
            )
        s.flush()
        return identity.create_session(s, user.id)


@pytest.fixture
def registry(lake_dir):
    yield
    registry_db.dispose_all()


ORG_A_ASSETS = (("REG-000001", "battery", 2.0, "EPN"), ("REG-000002", "ci_demand_response", 1.5, "LPN"))


def _run_page(name: str, token: str | None = None) -> AppTest:
    """A page run on its own (AppTest), as the holder of ``token`` (None: not signed in)."""
    at = AppTest.from_file(PAGES / name, default_timeout=TIMEOUT)
    if token:
        at.session_state["sfe_session_token"] = token
    at.run()
    assert not at.exception, at.exception
    return at


# -- trade, dispatch and settlement ------------------------------------------------------------------
def test_trade_aggregate_suppresses_cells_with_fewer_than_three_providers(published):
    table = queries.asset_performance_aggregate(by_month=False, db=get_db())
    rows = {r["product_id"]: r for r in table.iter_rows(named=True)}
    dch = rows["neso_eac_dch"]
    assert not dch["suppressed"] and dch["participants"] == 4 and dch["assets"] == 4
    assert dch["won_mw_h"] == pytest.approx(2 * 1000) and dch["total_gbp"] == pytest.approx(2 * 10_000)
    assert dch["delivery_pct"] == pytest.approx(100 * 93 / 100)
    peak = rows["ukpn_peak_reduction"]
    assert peak["suppressed"] and peak["participants"] is None
    assert all(peak[m] is None for m in queries.PERFORMANCE_MEASURES)
    monthly = queries.asset_performance_aggregate(date(2025, 6, 1), date(2025, 6, 1), db=get_db())
    assert monthly["month"].unique().to_list() == [date(2025, 6, 1)]
    assert queries.asset_performance_aggregate(min_participants=5, by_month=False, db=get_db())[
        "suppressed"
    ].all()


def test_trade_page_for_everyone_shows_aggregates_only(published, registry):
    at = _run_page("trade_dispatch_settlement.py")
    assert at.title[0].value == "Trade, dispatch and settlement"
    assert not at.tabs  # no "my assets" view without signing in
    assert "fewer than 3 distinct providers is suppressed" in _texts(at, "caption")
    [table] = at.dataframe
    shown = table.value
    assert list(shown["suppressed"]) == [False, True]
    assert {m.label: m.value for m in at.metric}["Settled, net"] == "£20,000"  # visible cells only
    investor = _account(Role.INVESTOR, "Bank")
    at = _run_page("trade_dispatch_settlement.py", investor)
    assert not at.tabs and len(at.dataframe) == 1


def test_trade_page_shows_a_provider_its_own_assets_and_drills_into_one(published, registry, monkeypatch):
    exported = _record_downloads(monkeypatch)
    token = _account(Role.FSP, "Org A", assets=ORG_A_ASSETS)
    at = _run_page("trade_dispatch_settlement.py", token)
    assert [t.label for t in at.tabs] == ["My assets · Org A", "Market (all providers, aggregated)"]
    own = at.dataframe[0].value
    assert sorted(set(own["product_id"])) == ["neso_eac_dch", "ukpn_peak_reduction"]  # a1 and a2 only
    assert own["total_gbp"].sum() == pytest.approx(2 * (1000 + 500))
    metrics = [(m.label, m.value) for m in at.metric]
    assert ("Settled, net", "£3,000") in metrics
    assets = at.selectbox(key="tds_asset")
    assert assets.options == ["A-BATT-1", "A-CI-2"]
    assets.set_value("ast_a2").run()
    assert not at.exception, at.exception
    one = at.dataframe[1].value
    assert set(one["product_id"]) == {"ukpn_peak_reduction"} and one["total_gbp"].sum() == pytest.approx(1000)
    assert len(at.download_button) == len(at.dataframe) == 4  # own, one asset, all own assets, market
    for frame, shown in zip(exported[-4:], at.dataframe, strict=True):
        _assert_download_is_the_table(frame, shown)


def test_trade_page_filters_and_empty_selection(published, registry):
    token = _account(Role.FSP, "Org A", assets=ORG_A_ASSETS)
    at = _run_page("trade_dispatch_settlement.py", token)
    at.multiselect(key="tds_products").set_value(["neso_eac_dch"]).run()
    assert set(at.dataframe[0].value["product_id"]) == {"neso_eac_dch"}
    at.button_group(key="tds_grain").set_value("month").run()
    market = at.dataframe[-1].value
    assert list(market["month"].dt.strftime("%Y-%m")) == ["2025-05", "2025-06"]
    at.multiselect(key="tds_asset_types").set_value(["ci_demand_response"]).run()
    assert not at.exception, at.exception
    assert "No activity for these months, products and asset types" in _texts(at, "info")  # no C&I in DCH
    at.multiselect(key="tds_products").set_value([]).run()
    assert "Every cell rests on fewer than 3 providers" in _texts(at, "info")
    nobody = _account(Role.FSP, "Org Z")
    at = _run_page("trade_dispatch_settlement.py", nobody)
    assert "no registered assets yet" in _texts(at, "info")


# -- asset value -----------------------------------------------------------------------------------------
def test_asset_value_estimate_uses_the_area_when_it_has_enough_comparables(published):
    rows = queries.asset_value_estimate("battery", 2.0, "EPN", db=get_db())
    stacked = {r["year"]: r for r in rows.filter(pl.col("row_kind") == "stacked_total").iter_rows(named=True)}
    assert stacked[2025]["region"] == "EPN" and stacked[2024]["region"] == "GB"  # EPN 2024: 2 assets
    assert stacked[2025]["net_gbp_p50"] == pytest.approx(26_000)
    assert (stacked[2025]["net_gbp_p10"], stacked[2025]["net_gbp_p90"]) == (
        pytest.approx(18_000),
        pytest.approx(42_000),
    )
    products_2025 = set(
        rows.filter((pl.col("year") == 2025) & (pl.col("row_kind") == "product"))["product_id"]
    )
    assert products_2025 == {"neso_eac_dch", "ukpn_peak_reduction"}  # not NGED's market
    anywhere = queries.asset_value_estimate("battery", 2.0, None, db=get_db())
    assert set(anywhere.filter(pl.col("row_kind") == "product")["market_id"]) == {"neso_eac"}
    assert queries.asset_value_estimate("battery", 30.0, "EPN", db=get_db()).is_empty()  # no >20 MW batteries
    with pytest.raises(ValueError, match="positive number of MW"):
        queries.asset_value_estimate("battery", 0, db=get_db())


def test_asset_value_page_values_a_planned_battery_with_its_band(published, registry, monkeypatch):
    exported = _record_downloads(monkeypatch)
    at = _run_page("asset_value.py")
    assert at.number_input(key="value_mw").value == 2.0 and at.number_input(key="value_mwh").value == 4.0
    at.selectbox(key="value_area").set_value("EPN").run()
    assert not at.exception, at.exception
    assert at.select_slider(key="value_year").value == 2025  # the latest full year
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Stacked revenue, median (p50)"] == "£26,000"
    assert metrics["Range of comparables (p10 – p90)"] == "£18.0k – £42.0k"
    assert metrics["Comparable real assets"] == "6"
    assert "2 MW / 4 MWh battery storage" in at.subheader[0].value
    [table] = at.dataframe
    assert set(table.value["region"]) == {"EPN", "GB"}
    _assert_download_is_the_table(exported[-1], table)
    method = _texts(at, "markdown")
    assert "Comparable real assets" in method and "not used" in method.lower()
    at.select_slider(key="value_year").set_value(2024).run()
    assert "only partly in the data (100 of 366 days)" in _texts(at, "caption")
    at.number_input(key="value_mw").set_value(30.0).run()  # no battery above 20 MW earned anything
    assert "no history to value it with" in _texts(at, "warning")
    assert not at.metric and not at.dataframe


def test_asset_value_of_a_registered_asset(published, registry):
    token = _account(Role.FSP, "Org A", assets=ORG_A_ASSETS)
    at = _run_page("asset_value.py", token)
    at.button_group(key="value_subject").set_value("registered").run()
    assert at.selectbox(key="value_registered").value == "REG-000001"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Stacked revenue, median (p50)"] == "£26,000"  # a 2 MW battery in EPN
    assert list(at.dataframe[0].value["registry_asset_id"].unique()) == ["REG-000001"]


def test_forecast_upload_is_shown_beside_the_history(published, registry):
    token = _account(Role.INVESTOR, "Bank")
    at = _run_page("asset_value.py", token)
    assert "No forecast has been uploaded yet." in _texts(at, "caption")
    upload = (
        "provider,product,year,revenue_gbp_per_mw_year,asset_type,duration_h,p10_gbp_per_mw_year,p90_gbp_per_mw_year\n"
        "Aurora,total,2027,15000,battery,2,11000,19000\n"
        "Aurora,neso_eac_dch,2027,7000,battery,2,,\n"
        "Aurora,total,2027,99999,battery,4,,\n"  # a 4-hour battery: does not fit a 2 MW / 4 MWh one... see below
    )
    from sfe import forecasts

    principal = identity.session_principal(token)
    forecasts.upload(upload.encode(), principal, "aurora.csv")
    at.run()
    assert not at.exception, at.exception
    shown = at.dataframe[-1].value
    # A 2 MW / 4 MWh battery is a 2-hour battery: the 4-hour forecast row is left out.
    assert sorted(shown["product"]) == ["neso_eac_dch", "total"]
    assert shown.loc[shown["product"] == "total", "forecast_gbp"].item() == pytest.approx(30_000)
    [history] = [c for c in _charts(at) if "layer" in c]
    assert len(history["layer"]) == 5  # band, median, notes, forecast range, forecast points


def test_forecast_upload_form_reports_row_errors(published, registry):
    token = _account(Role.ANALYST, "Analytics Co")
    at = _run_page("asset_value.py", token)
    assert at.get("file_uploader")  # the form is there for an analyst
    anonymous = _run_page("asset_value.py")
    assert "Sign in as a flexibility provider, investor or analyst" in _texts(anonymous, "caption")


# -- DER positions -----------------------------------------------------------------------------------------
def test_der_positions_need_a_system_operator_or_provider(published, registry):
    at = _run_page("der_positions.py")
    assert "Please sign in" in _texts(at, "info") and not _charts(at)
    at = _run_page("der_positions.py", _account(Role.INVESTOR, "Bank"))
    assert "not available for your role" in _texts(at, "error") and not _charts(at)


def test_der_positions_for_a_dno_show_its_area(published, registry, monkeypatch):
    exported = _record_downloads(monkeypatch)
    token = _account(Role.SYSTEM_OPERATOR, "UKPN", operator_id="ukpn")
    at = _run_page("der_positions.py", token)
    assert at.date_input(key="der_day").value == date(2025, 6, 4)  # the latest day it can see
    at.date_input(key="der_day").set_value(date(2025, 6, 3)).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="der_zone").value == "Zone A"  # the busiest zone that day
    table = at.dataframe[0].value
    assert sorted(set(table["asset_id"])) == ["ast_a1", "ast_b1"]  # not NGED's asset in WMID
    overlapping = table[table["overlaps_other_market"]]
    assert sorted(overlapping["source_ref"]) == ["ref-p2", "ref-p3"]
    [timeline] = _charts(at)
    assert [layer["mark"]["type"] for layer in timeline["layer"]] == ["bar", "bar"]
    _assert_download_is_the_table(exported[-1], at.dataframe[0])
    at.selectbox(key="der_zone").set_value("__all__").run()
    assert sorted(set(at.dataframe[0].value["asset_id"])) == ["ast_a1", "ast_b1"]
    at.button_group(key="der_kinds").set_value(["dispatch"]).run()
    assert list(at.dataframe[0].value["source_ref"]) == ["ref-p3"]


def test_der_positions_for_a_provider_show_its_own_assets(published, registry):
    token = _account(Role.FSP, "Org A", assets=ORG_A_ASSETS)
    at = _run_page("der_positions.py", token)
    assert at.date_input(key="der_day").value == date(2025, 6, 3)
    assert set(at.dataframe[0].value["asset_id"]) == {"ast_a1"}
    nobody = _account(Role.FSP, "Org Z")
    at = _run_page("der_positions.py", nobody)
    assert "None of your registered assets" in _texts(at, "info")


def test_der_positions_scope_in_the_query(published):
    db = get_db()
    day = date(2025, 6, 3)
    assert queries.der_positions(day, db=db).is_empty()  # no scope: nothing
    everything = queries.der_positions(day, everything=True, db=db)
    assert sorted(set(everything["asset_id"])) == ["ast_a1", "ast_b1", "ast_c1"]
    nged = queries.der_positions(day, dno_areas=["WMID"], operator_id="nged", db=db)
    assert set(nged["asset_id"]) == {"ast_c1"}
    first = everything.filter(pl.col("source_ref") == "ref-p1").row(0, named=True)
    # 22:00Z on 2 June is 23:00 BST: clipped to the start of 3 June (GB), ends 03:00 BST.
    assert first["shown_from_local"] == datetime(2025, 6, 3, 0, 0)
    assert first["shown_to_local"] == datetime(2025, 6, 3, 3, 0)


# -- dispatch transparency --------------------------------------------------------------------------------
def test_dispatch_rationale_skip_rates(published):
    db = get_db()
    by_product = queries.dispatch_rationale_summary("product", db=db)
    rows = {r["operator_id"]: r for r in by_product.iter_rows(named=True)}
    assert rows["nged"]["skip_rate"] == pytest.approx(0.5) and rows["nged"]["instructions"] == 4
    assert rows["nged"]["out_of_merit_cost_gbp"] == pytest.approx(50 * 4 + 20 * 2)
    assert rows["nged"]["reason_disclosed_share"] == pytest.approx(0.75)
    assert rows["neso"]["skip_rate"] == pytest.approx(0.5)
    reasons = queries.dispatch_rationale_summary("reason", operator_ids=["nged"], db=db)
    thermal = reasons.filter(pl.col("reason_code") == "FORECAST_THERMAL_CONSTRAINT").row(0, named=True)
    assert (
        thermal["skip_rate"] == 1.0
        and thermal["typical_out_of_merit_rationale"] == "Forecast 110% loading at Corby"
    )
    ranks = queries.dispatch_rationale_summary("rank", operator_ids=["nged"], db=db)
    assert dict(ranks.select("merit_order_position", "dispatched_mwh").iter_rows()) == {
        "1": 4.0,
        "2": 2.0,
        "3": 4.0,
    }
    one_day = queries.dispatch_rationale_summary("product", date(2025, 6, 3), date(2025, 6, 4), db=db)
    assert one_day["instructions"].sum() == 2


def test_dispatch_transparency_page_for_everyone(published, registry, monkeypatch):
    exported = _record_downloads(monkeypatch)
    at = _run_page("dispatch_transparency.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Instructions"] == "6" and metrics["Skip rate"] == "50.0%"
    assert len(_charts(at)) == 3  # skip rate, merit order position, reasons (one month only: no trend)
    assert len(at.dataframe) == 3 and len(at.download_button) == 3
    for frame, shown in zip(exported, at.dataframe, strict=True):
        _assert_download_is_the_table(frame, shown)
    assert "shown to each system operator for its own instructions" in _texts(at, "caption")
    at.multiselect(key="dt_operators").set_value(["neso"]).run()
    assert at.multiselect(key="dt_products").options == ["Positive Balancing Reserve (NESO)"]
    assert set(at.dataframe[0].value["operator_id"]) == {"neso"}
    at.date_input(key="dt_dates").set_value((date(2025, 6, 5), date(2025, 6, 6))).run()
    assert "No instructions match these filters" in _texts(at, "info")


def test_dispatch_transparency_detail_is_the_sos_own(published, registry):
    token = _account(Role.SYSTEM_OPERATOR, "NGED", operator_id="nged")
    at = _run_page("dispatch_transparency.py", token)
    detail = at.dataframe[-1].value
    assert list(detail["dispatch_id"]) == ["d1", "d2"]  # largest premium x MWh first; NESO's d5 not shown
    assert set(detail["operator_id"]) == {"nged"}


# -- on a real build: the asset value traces back to the facts --------------------------------------------
# The documented method (mart_asset_value), recomputed independently from the fct_* tables: revenue per
# asset, product and UTC month from settlement lines where there are any, else from the market records
# (EAC cleared MWh x clearing price, dispatch availability and utilisation), months of accepted DNO
# contracts counting with zero; per asset and year divided by its capacity; percentiles across assets.
RECOMPUTE_FROM_FACTS_SQL = """
WITH settled AS (
    SELECT asset_id, product_id, CAST(date_trunc('month', period_start_utc) AS DATE) AS month,
           sum(coalesce(availability_payment_gbp, 0)) + sum(coalesce(utilisation_payment_gbp, 0))
               - sum(coalesce(penalty_gbp, 0)) AS net_gbp
    FROM fct_settlement WHERE asset_id IS NOT NULL GROUP BY ALL
),
market_records AS (
    SELECT asset_id, product_id, month, sum(gbp) AS net_gbp FROM (
        SELECT asset_id, product_id, CAST(date_trunc('month', delivery_start_utc) AS DATE) AS month,
               executed_volume_mwh * clearing_price_gbp_per_mw_h AS gbp
        FROM fct_auction_unit_result WHERE asset_id IS NOT NULL AND executed_volume_mw > 0
        UNION ALL
        SELECT asset_id, product_id, CAST(date_trunc('month', start_utc) AS DATE),
               coalesce(availability_mwh * availability_price_gbp_per_mw_h, 0)
               + coalesce(energy_mwh * utilisation_price_gbp_per_mwh, 0)
        FROM fct_dispatch WHERE asset_id IS NOT NULL
    ) GROUP BY ALL
),
contract_months AS (
    SELECT DISTINCT b.asset_id, b.product_id, CAST(date_trunc('month', d.settlement_date) AS DATE) AS month
    FROM fct_bid AS b
    JOIN (SELECT DISTINCT settlement_date FROM dim_settlement_period) AS d
      ON d.settlement_date BETWEEN b.service_start_date AND b.service_end_date
     AND (coalesce(b.days_of_week, 'Mon-Sun') <> 'Mon-Fri' OR isodow(d.settlement_date) <= 5)
    WHERE b.status = 'accepted' AND b.asset_id IS NOT NULL
),
keys AS (
    SELECT asset_id, product_id, month FROM settled
    UNION SELECT asset_id, product_id, month FROM market_records
    UNION SELECT asset_id, product_id, month FROM contract_months
),
monthly AS (
    SELECT k.asset_id, k.month, coalesce(s.net_gbp, m.net_gbp, 0) AS net_gbp
    FROM keys AS k
    LEFT JOIN settled AS s USING (asset_id, product_id, month)
    LEFT JOIN market_records AS m USING (asset_id, product_id, month)
),
per_asset AS (
    SELECT a.asset_id, year(monthly.month) AS year, sum(monthly.net_gbp) / a.capacity_mw AS net_gbp_per_mw
    FROM monthly JOIN dim_asset AS a ON a.asset_id = monthly.asset_id
    WHERE a.capacity_mw > 0 AND a.asset_type = 'battery' AND a.size_band = '1_5mw'
    GROUP BY a.asset_id, year(monthly.month), a.capacity_mw
)
SELECT count(*) AS n_assets,
       percentile_cont(0.1) WITHIN GROUP (ORDER BY net_gbp_per_mw) AS p10,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY net_gbp_per_mw) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY net_gbp_per_mw) AS p90
FROM per_asset WHERE year = $year
"""


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory):
    from sfe import pipeline
    from sfe.config import LakePaths
    from sfe.generate import generate

    root = tmp_path_factory.mktemp("analytics") / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SFE_LAKE_DIR", str(root))
        paths = LakePaths(root)
        generate(paths, assets=40, days=60, start=date(2025, 11, 15), seed=7, progress=False)
        pipeline.build()
        yield paths
        reset_db_registry()
        registry_db.dispose_all()


@pytest.mark.slow
def test_a_planned_battery_is_valued_from_the_facts(built_lake):
    at = _run_page("asset_value.py")  # the page's own default: a 2 MW / 4 MWh battery, anywhere in GB
    assert "2 MW / 4 MWh battery storage" in at.subheader[0].value
    year = at.select_slider(key="value_year").value if at.select_slider else int(at.subheader[0].value[-4:])
    table = pl.from_pandas(at.dataframe[0].value)
    stacked = table.filter((pl.col("row_kind") == "stacked_total") & (pl.col("year") == year)).row(
        0, named=True
    )
    assert stacked["region"] == "GB" and stacked["capacity_mw"] == 2.0

    con = duckdb.connect(str(built_lake.serving_db), read_only=True)
    try:
        [facts] = con.execute(RECOMPUTE_FROM_FACTS_SQL, {"year": year}).fetchall()
    finally:
        con.close()
    n_assets, p10, p50, p90 = facts
    assert n_assets >= 3, "the demo should have several 1-5 MW batteries to compare with"
    assert stacked["n_comparable_assets"] == n_assets
    assert stacked["net_gbp_p50"] == pytest.approx(2 * p50, rel=1e-9)
    assert (stacked["net_gbp_p10"], stacked["net_gbp_p90"]) == (
        pytest.approx(2 * p10),
        pytest.approx(2 * p90),
    )
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Stacked revenue, median (p50)"] == f"£{2 * p50:,.0f}"
    assert metrics["Comparable real assets"] == str(n_assets)


@pytest.mark.slow
@pytest.mark.parametrize(
    "page", ["asset_value.py", "trade_dispatch_settlement.py", "dispatch_transparency.py", "market_trends.py"]
)
def test_public_pages_render_on_a_real_build(built_lake, page):
    at = _run_page(page)
    assert not at.warning or "no history" not in _texts(at, "warning")
    assert _charts(at) and at.dataframe and at.download_button


@pytest.mark.slow
def test_der_positions_render_for_the_national_operator_on_a_real_build(built_lake):
    token = _account(Role.SYSTEM_OPERATOR, "NESO control room", operator_id="neso")
    at = _run_page("der_positions.py", token)
    assert "You see every asset's positions." in _texts(at, "caption")
    [timeline] = _charts(at)
    assert at.dataframe[0].value.shape[0] > 0 and at.download_button


def test_asset_value_of_a_group_adds_up_its_members(published, registry):
    from sfe.registry.models import AssetGroup, AssetGroupMembership

    token = _account(
        Role.FSP,
        "Org G",
        assets=(("REG-000011", "battery", 2.0, "EPN"), ("REG-000012", "battery", 3.0, None)),
    )
    with registry_db.session() as s:
        assets = s.query(Asset).filter(Asset.registry_asset_id.in_(["REG-000011", "REG-000012"])).all()
        group = AssetGroup(organisation_id=assets[0].organisation_id, name="Portfolio")
        s.add(group)
        s.flush()
        for asset in assets:
            s.add(AssetGroupMembership(group_id=group.id, asset_id=asset.id, valid_from=identity.now()))
    at = _run_page("asset_value.py", token)
    at.button_group(key="value_subject").set_value("group").run()
    assert not at.exception, at.exception
    assert "2 assets, 5 MW in all" in at.subheader[0].value
    # 2025: the EPN battery from EPN's comparables (13 000/MW), the other from GB's (12 000/MW).
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Stacked revenue, median (p50)"] == f"£{2 * 13_000 + 3 * 12_000:,}"
    assert set(at.dataframe[0].value["registry_asset_id"]) == {"REG-000011", "REG-000012"}
    assert "adds up its members' figures" in _texts(at, "markdown")


# -- every analytics page explains a missing or older warehouse instead of failing -----------------
ANALYTICS_PAGES = (
    "asset_value.py",
    "der_positions.py",
    "dispatch_transparency.py",
    "trade_dispatch_settlement.py",
)


@pytest.mark.parametrize("page", ANALYTICS_PAGES)
def test_analytics_page_explains_a_missing_warehouse(page, lake_dir, registry):
    at = _run_page(page, _account(Role.FSP, "Org A"))
    [warning] = at.warning
    assert "has not been built" in warning.value and "make build" in warning.value
    assert not at.dataframe and not at.download_button


@pytest.mark.parametrize("page", ANALYTICS_PAGES)
def test_analytics_page_explains_an_older_publish(page, lake_dir, registry):
    publish_analytics_db(lake_dir, marts=False)
    at = _run_page(page, _account(Role.FSP, "Org A"))
    [warning] = at.warning
    assert "which the published warehouse does not have yet" in warning.value and "mart_" in warning.value
    assert not at.dataframe
