"""A small but realistic *published* warehouse for the serving, API and app tests.

``build_serving_db(path)`` writes a DuckDB file with the contract tables (dim_market, dim_product,
dim_settlement_period, fct_auction_result, fct_dispatch) and the publish metadata, using DuckDB SQL
only. The data spans March to May 2024, so it crosses the spring clock change (31 March: a
46-period settlement day, a 3-hour EFA block) and has rows in British Summer Time:

- neso_eac_dch / neso_eac_dcl: one result per 4-hour EFA block (first block starts 23:00 local the
  evening before) for every day.
- neso_eac_pbr: 30-minute results on 30 March - 1 April, some at negative prices.
- ukpn_sustain / ukpn_secure / ukpn_dynamic: two evening dispatches a day (some without a
  utilisation price), one extra dispatch at 2024-04-01 23:30 UTC (00:30 BST on 2 April) and one
  whose source_asset_ref is a spreadsheet formula (CSV injection test).
- nged_flex / nged_peak_reduction exist in the taxonomy but have no data.

``publish_serving_db(lake_dir)`` builds into a temporary file and renames it over
``warehouse/sfe.duckdb``, like the real publish step. ``version=2`` adds three June days of DCH
results (and a later publish time), so tests can see a new publish arrive.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb

PUBLISHED_AT = {1: datetime(2024, 6, 1, 6, 0, tzinfo=UTC), 2: datetime(2024, 6, 4, 6, 0, tzinfo=UTC)}
INJECTION_REF = '=HYPERLINK("http://attacker.example/x","click")'
BST_DISPATCH_START = datetime(2024, 4, 1, 23, 30, tzinfo=UTC)

_DIMENSIONS_SQL = """
CREATE TABLE dim_market AS
SELECT * FROM (VALUES
    ('neso_eac', 'NESO Enduring Auction Capability (response and reserve)', 'neso',
     'National Energy System Operator', 'ancillary_services'),
    ('ukpn_flex', 'UK Power Networks local flexibility', 'ukpn', 'UK Power Networks', 'local_flexibility'),
    ('nged_flex', 'National Grid Electricity Distribution local flexibility', 'nged',
     'National Grid Electricity Distribution', 'local_flexibility')
) AS t(market_id, market_name, operator_id, operator_name, market_kind);

CREATE TABLE dim_product AS
SELECT * FROM (VALUES
    ('neso_eac_dch', 'neso_eac', 'Dynamic Containment High', 'Response', 'up', 'dynamic_containment_high'),
    ('neso_eac_dcl', 'neso_eac', 'Dynamic Containment Low', 'Response', 'down', 'dynamic_containment_low'),
    ('neso_eac_pbr', 'neso_eac', 'Positive Balancing Reserve', 'Reserve', 'up', 'balancing_reserve_positive'),
    ('ukpn_sustain', 'ukpn_flex', 'Sustain', 'Local flexibility', 'up', 'scheduled_utilisation'),
    ('ukpn_secure', 'ukpn_flex', 'Secure', 'Local flexibility', 'up',
     'operational_utilisation_scheduled_availability'),
    ('ukpn_dynamic', 'ukpn_flex', 'Dynamic', 'Local flexibility', 'up', 'operational_utilisation'),
    ('nged_peak_reduction', 'nged_flex', 'Peak Reduction', 'Local flexibility', 'up', 'peak_reduction')
) AS t(product_id, market_id, product_name, service_type, direction, standard_product);

CREATE TABLE dim_settlement_period AS
WITH half_hours AS (
    SELECT unnest(generate_series(TIMESTAMP '2024-02-28 00:00', TIMESTAMP '2024-06-03 00:00',
                                  INTERVAL 30 MINUTE)) AS naive_utc
),
instants AS (
    SELECT timezone('UTC', naive_utc) AS start_utc, timezone('UTC', naive_utc + INTERVAL 30 MINUTE) AS end_utc
    FROM half_hours
),
local_days AS (
    SELECT start_utc, end_utc, CAST(timezone('Europe/London', start_utc) AS DATE) AS settlement_date
    FROM instants
)
SELECT settlement_date,
       CAST(row_number() OVER (PARTITION BY settlement_date ORDER BY start_utc) AS INTEGER) AS settlement_period,
       start_utc,
       end_utc,
       CAST(count(*) OVER (PARTITION BY settlement_date) AS INTEGER) AS periods_in_day
FROM local_days
WHERE settlement_date BETWEEN DATE '2024-03-01' AND DATE '2024-05-31';
"""

_AUCTIONS_SQL = """
CREATE TABLE fct_auction_result AS
WITH days AS (
    SELECT CAST(unnest(generate_series(DATE '2024-03-01', CAST($last_day AS DATE), INTERVAL 1 DAY)) AS DATE)
        AS efa_date
),
blocks AS (
    SELECT days.efa_date, r.k, p.product_id, p.code, p.offset_mw
    FROM days, range(6) AS r(k), (VALUES ('neso_eac_dch', 'DCH', 0), ('neso_eac_dcl', 'DCL', 5)) AS p(product_id, code, offset_mw)
    WHERE p.product_id = 'neso_eac_dch' OR days.efa_date <= DATE '2024-05-31'
),
timed AS (
    SELECT *,
           timezone('Europe/London', CAST(efa_date AS TIMESTAMP) - INTERVAL 1 HOUR + k * INTERVAL 4 HOUR)
               AS delivery_start_utc,
           timezone('Europe/London', CAST(efa_date AS TIMESTAMP) - INTERVAL 1 HOUR + (k + 1) * INTERVAL 4 HOUR)
               AS delivery_end_utc
    FROM blocks
),
efa AS (
    SELECT md5('neso_eac_results|' || code || '|' || CAST(delivery_start_utc AS VARCHAR)) AS auction_result_id,
           'neso_eac' AS market_id,
           product_id,
           'EAC-' || strftime(efa_date, '%Y%m%d') AS auction_id,
           delivery_start_utc,
           delivery_end_utc,
           CAST(50 + ((dayofyear(efa_date) * 13 + k * 7 + offset_mw) % 17) * 10 AS DOUBLE) AS cleared_volume_mw,
           CAST(round(1.0 + ((dayofyear(efa_date) * 7 + k * 3) % 11) * 0.45 + month(efa_date) * 0.25, 2) AS DOUBLE)
               AS clearing_price_gbp_per_mw_h,
           'neso_eac_results' AS source_id
    FROM timed
),
pbr AS (
    SELECT md5('neso_eac_results|PBR|' || CAST(start_utc AS VARCHAR)) AS auction_result_id,
           'neso_eac' AS market_id,
           'neso_eac_pbr' AS product_id,
           'EAC-BR-' || strftime(settlement_date, '%Y%m%d') AS auction_id,
           start_utc AS delivery_start_utc,
           end_utc AS delivery_end_utc,
           CAST(20 + (settlement_period % 5) * 5 AS DOUBLE) AS cleared_volume_mw,
           CAST(round(-2 + (settlement_period % 9) * 1.5, 2) AS DOUBLE) AS clearing_price_gbp_per_mw_h,
           'neso_eac_results' AS source_id
    FROM dim_settlement_period
    WHERE settlement_date BETWEEN DATE '2024-03-30' AND DATE '2024-04-01'
)
SELECT * FROM efa
UNION ALL
SELECT * FROM pbr
"""

_DISPATCH_SQL = """
CREATE TABLE fct_dispatch AS
WITH days AS (
    SELECT CAST(unnest(generate_series(DATE '2024-03-01', DATE '2024-05-31', INTERVAL 1 DAY)) AS DATE) AS d
),
events AS (
    SELECT days.d, r.j, p.product_id,
           timezone('Europe/London', CAST(days.d AS TIMESTAMP) + (16 + 2 * r.j) * INTERVAL 1 HOUR) AS start_utc,
           0.5 + ((dayofyear(days.d) + r.j) % 4) * 0.25 AS power_mw
    FROM days, range(2) AS r(j), (VALUES ('ukpn_sustain'), ('ukpn_secure'), ('ukpn_dynamic')) AS p(product_id)
),
regular AS (
    SELECT md5('ukpn|' || product_id || '|' || CAST(start_utc AS VARCHAR)) AS dispatch_id,
           'ukpn_flex' AS market_id,
           product_id,
           CASE (dayofyear(d) + j) % 3 WHEN 0 THEN 'octopus-energy' WHEN 1 THEN 'flexitricity' ELSE 'kiwi-power' END
               AS participant_id,
           CAST(NULL AS VARCHAR) AS asset_id,
           CASE WHEN d = DATE '2024-03-05' AND j = 0 AND product_id = 'ukpn_sustain' THEN $injection
                ELSE 'FU-' || upper(substr(product_id, 6, 3)) || '-' || CAST(((dayofyear(d) + j) % 7) + 1 AS VARCHAR)
           END AS source_asset_ref,
           start_utc,
           start_utc + INTERVAL 90 MINUTE AS end_utc,
           CAST(power_mw AS DOUBLE) AS power_mw,
           CAST(power_mw * 1.5 AS DOUBLE) AS energy_mwh,
           CASE WHEN product_id = 'ukpn_secure' AND j = 1 THEN CAST(NULL AS DOUBLE)
                ELSE CAST(150 + ((dayofyear(d) * 3 + j) % 10) * 25 AS DOUBLE) END AS utilisation_price_gbp_per_mwh,
           CASE WHEN product_id = 'ukpn_secure' THEN CAST(5.5 AS DOUBLE) ELSE CAST(NULL AS DOUBLE) END
               AS availability_price_gbp_per_mw_h,
           'up' AS direction,
           CASE WHEN j = 0 THEN 'scheduled' ELSE 'automatic' END AS instruction_source,
           'ukpn_flexibility_dispatches' AS source_id
    FROM events
),
late AS (
    SELECT md5('ukpn|late') AS dispatch_id, 'ukpn_flex' AS market_id, 'ukpn_dynamic' AS product_id,
           'kiwi-power' AS participant_id, CAST(NULL AS VARCHAR) AS asset_id, 'FU-DYN-9' AS source_asset_ref,
           TIMESTAMPTZ '2024-04-01 23:30:00+00' AS start_utc, TIMESTAMPTZ '2024-04-02 00:30:00+00' AS end_utc,
           CAST(2.0 AS DOUBLE) AS power_mw, CAST(2.0 AS DOUBLE) AS energy_mwh,
           CAST(300 AS DOUBLE) AS utilisation_price_gbp_per_mwh, CAST(NULL AS DOUBLE) AS availability_price_gbp_per_mw_h,
           'up' AS direction, 'automatic' AS instruction_source, 'ukpn_flexibility_dispatches' AS source_id
)
SELECT * FROM regular
UNION ALL
SELECT * FROM late
"""

_META_SQL = """
CREATE TABLE meta_publish (published_at TIMESTAMPTZ, build_started_at TIMESTAMPTZ, sfe_version VARCHAR,
                           dbt_tests_passed INTEGER);
INSERT INTO meta_publish VALUES (CAST($published_at AS TIMESTAMPTZ),
                                 CAST($published_at AS TIMESTAMPTZ) - INTERVAL 5 MINUTE, '0.1.0', 1);
CREATE TABLE meta_source_rows AS
SELECT 'neso_eac_results' AS source_id, CAST(count(DISTINCT auction_id) AS INTEGER) AS files,
       CAST(count(*) AS BIGINT) AS rows_loaded, CAST($published_at AS TIMESTAMPTZ) - INTERVAL 10 MINUTE AS last_ingested_at,
       min(CAST(timezone('Europe/London', delivery_start_utc) AS DATE)) AS min_date,
       max(CAST(timezone('Europe/London', delivery_start_utc) AS DATE)) AS max_date
FROM fct_auction_result
UNION ALL
SELECT 'ukpn_flexibility_dispatches', 3, count(*), CAST($published_at AS TIMESTAMPTZ) - INTERVAL 10 MINUTE,
       min(CAST(timezone('Europe/London', start_utc) AS DATE)), max(CAST(timezone('Europe/London', start_utc) AS DATE))
FROM fct_dispatch;
"""


def build_serving_db(path: Path | str, version: int = 1) -> Path:
    """Write a published-warehouse file at ``path`` (replacing nothing: the file must not exist)."""
    path = Path(path)
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(_DIMENSIONS_SQL)
        con.execute(_AUCTIONS_SQL, {"last_day": "2024-06-03" if version >= 2 else "2024-05-31"})
        con.execute(_DISPATCH_SQL, {"injection": INJECTION_REF})
        for statement in _META_SQL.split(";"):
            if statement.strip():
                params = {"published_at": PUBLISHED_AT[version]} if "$published_at" in statement else None
                con.execute(statement, params)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


def publish_serving_db(lake_dir: Path | str, version: int = 1) -> Path:
    """Build a warehouse and atomically rename it over <lake>/warehouse/sfe.duckdb."""
    warehouse = Path(lake_dir) / "warehouse"
    warehouse.mkdir(parents=True, exist_ok=True)
    tmp = warehouse / f".sfe.duckdb.v{version}.{os.getpid()}.tmp"
    if tmp.exists():
        tmp.unlink()
    build_serving_db(tmp, version)
    target = warehouse / "sfe.duckdb"
    os.replace(tmp, target)
    return target


def raw_rows(path: Path | str, table: str):
    """All rows of a table as Polars, read independently of any ServingDB (for checking its answers).

    Reads a private copy: in one process DuckDB hands every connection to the same path the same
    cached database instance, so opening ``path`` itself could return what a ServingDB holds open.
    """
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.duckdb"
        shutil.copyfile(path, copy)
        con = duckdb.connect(str(copy), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            return con.sql(f"SELECT * FROM {table}").pl()
        finally:
            con.close()
