"""The warehouse's standard taxonomy on a generated demo: contract tables, asset crosswalk, settlement
reconciliation and product mapping, checked in the published DB against the generated files.

Builds one small lakehouse in a temporary SFE_LAKE_DIR (module-scoped: generate + ingest + dbt build +
publish run once for all tests here).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date

import duckdb
import pytest

from sfe import pipeline
from sfe.config import LakePaths
from sfe.generate import generate

pytestmark = pytest.mark.slow

UTC_TYPE = "TIMESTAMP WITH TIME ZONE"

# design.md's standard taxonomy: the contract columns of every table the warehouse builds.
CONTRACT = {
    "dim_market": ("market_id", "market_name", "operator_id", "operator_name", "market_kind"),
    "dim_product": ("product_id", "market_id", "product_name", "service_type", "direction", "standard_product"),
    "dim_asset": (
        "asset_id", "asset_name", "owner_participant_id", "asset_type", "capacity_mw", "size_band",
        "connection_point", "gsp_group", "dno_area", "flex_zone", "lat", "lon",
    ),
    "bridge_asset_source_id": ("asset_id", "source_id", "source_asset_ref"),
    "dim_participant": ("participant_id", "participant_name", "role"),
    "dim_settlement_period": ("settlement_date", "settlement_period", "start_utc", "end_utc", "periods_in_day"),
    "fct_auction_result": (
        "auction_result_id", "market_id", "product_id", "auction_id", "delivery_start_utc", "delivery_end_utc",
        "cleared_volume_mw", "clearing_price_gbp_per_mw_h", "source_id",
    ),
    "fct_dispatch": (
        "dispatch_id", "market_id", "product_id", "participant_id", "asset_id", "source_asset_ref", "start_utc",
        "end_utc", "power_mw", "energy_mwh", "utilisation_price_gbp_per_mwh", "availability_price_gbp_per_mw_h",
        "direction", "instruction_source", "source_id",
    ),
    "fct_system_price": (
        "settlement_date", "settlement_period", "start_utc", "system_sell_price_gbp_per_mwh",
        "system_buy_price_gbp_per_mwh", "net_imbalance_volume_mwh",
    ),
    "fct_bm_acceptance": (
        "bm_unit", "acceptance_number", "acceptance_time_utc", "time_from_utc", "time_to_utc", "level_from_mw",
        "level_to_mw", "so_flag", "stor_flag",
    ),
    "fct_bid": (
        "bid_id", "competition_id", "market_id", "product_id", "participant_id", "asset_id", "window_start_utc",
        "window_end_utc", "offered_mw", "availability_price_gbp_per_mw_h", "utilisation_price_gbp_per_mwh",
        "status",
    ),
    "fct_settlement": (
        "settlement_id", "market_id", "product_id", "participant_id", "asset_id", "period_start_utc",
        "period_end_utc", "availability_payment_gbp", "utilisation_payment_gbp", "penalty_gbp", "total_gbp",
    ),
    "fct_metering": ("asset_id", "start_utc", "end_utc", "import_mwh", "export_mwh"),
    "fct_auction_unit_result": (
        "auction_unit_result_id", "market_id", "product_id", "auction_id", "unit_name", "participant_id",
        "asset_id", "delivery_start_utc", "delivery_end_utc", "executed_volume_mw", "clearing_price_gbp_per_mw_h",
    ),
    "mart_market_trends": (
        "period_grain", "period_start", "market_id", "product_id", "asset_type", "size_band", "volume_mw",
        "volume_mwh", "vwap_availability_price_gbp_per_mw_h", "avg_availability_price_gbp_per_mw_h",
        "vwap_utilisation_price_gbp_per_mwh", "avg_utilisation_price_gbp_per_mwh", "n_units",
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("warehouse") / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SFE_LAKE_DIR", str(root))
        paths = LakePaths(root)
        generate(paths, assets=24, days=200, start=date(2025, 3, 20), seed=11, progress=False)
        pipeline.build()
        yield paths


@pytest.fixture(scope="module")
def con(demo):
    connection = duckdb.connect(str(demo.serving_db), read_only=True)
    yield connection
    connection.close()


def _rows(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_contract_table_is_published_with_its_columns_and_rows(con, table):
    columns = dict(
        _rows(
            con,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'main' and table_name = ? order by ordinal_position",
            [table],
        )
    )
    missing = [c for c in CONTRACT[table] if c not in columns]
    assert not missing, f"{table} lacks contract columns {missing}"
    for name, data_type in columns.items():
        if name.endswith("_utc"):
            assert data_type == UTC_TYPE, (table, name, data_type)
    assert _rows(con, f'select count(*) from main."{table}"')[0][0] > 0  # noqa: S608 - fixed names


def test_dim_asset_has_one_row_per_mpan_and_asset(con):
    assert _rows(con, "select count(*) - count(distinct asset_id) from dim_asset")[0][0] == 0
    assert _rows(con, "select count(mpan) - count(distinct mpan) from dim_asset")[0][0] == 0
    # Every fact row resolves to an asset of dim_asset.
    for fact in ("fct_dispatch", "fct_settlement", "fct_metering", "fct_bid", "fct_auction_unit_result"):
        orphans = _rows(
            con,
            f"select count(*) from {fact} f left join dim_asset a using (asset_id) where a.asset_id is null",  # noqa: S608
        )[0][0]
        assert orphans == 0, fact


def test_crosswalk_never_merges_two_generated_assets(demo, con):
    """Against the generator's ground truth: no SFE asset holds the ids of two physical assets, and
    every asset settled in a market has all its settled ids on one SFE asset."""
    with open(demo.generated / "fleet.csv", newline="", encoding="utf-8") as fh:
        fleet = list(csv.DictReader(fh))
    bridge = defaultdict(set)
    for asset_id, ref_type, ref in _rows(
        con, "select asset_id, ref_type, source_asset_ref from bridge_asset_source_id"
    ):
        bridge[(ref_type, ref)].add(asset_id)
    owners: dict[str, set[str]] = defaultdict(set)
    for row in fleet:
        ids = set()
        for ref_type in ("mpan", "bm_unit", "eac_unit_name", "ukpn_fu_id", "competition_asset_ref"):
            if row[ref_type]:
                ids |= bridge.get((ref_type, row[ref_type]), set())
        for asset_id in ids:
            owners[asset_id].add(row["asset_id"])
        # The MPAN and the unit ids its settlement lines name are one asset.
        settled = _rows(
            con,
            "select distinct b.asset_id from fct_settlement s join bridge_asset_source_id b "
            "on b.source_id = 'so_settlement_statements' and b.source_asset_ref = s.source_asset_ref "
            "and b.ref_type = s.asset_ref_type where s.mpan = ?",
            [row["mpan"]],
        )
        assert len(settled) <= 1, row
    assert all(len(fleet_ids) == 1 for fleet_ids in owners.values()), {
        a: f for a, f in owners.items() if len(f) > 1
    }


def _settlement_lines_in_force(paths: LakePaths) -> dict[tuple[str, str], dict]:
    lines: dict[tuple[str, str], dict] = {}
    for path in sorted(paths.landing_dir("so_settlement_statements").iterdir()):
        if path.suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                records = list(csv.DictReader(fh))
        elif path.suffix == ".jsonl":
            records = [
                json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
        else:
            continue
        for record in records:
            key = (record["statement_id"], record["line_id"])
            if key not in lines or int(record["revision"]) > int(lines[key]["revision"]):
                lines[key] = record
    return lines


def test_statement_total_equals_the_generated_lines_in_force(demo, con):
    lines = _settlement_lines_in_force(demo)
    revised = sorted({sid for (sid, _), r in lines.items() if int(r["revision"]) > 1})
    assert revised, "the demo should revise some statements"
    for statement_id in (revised[0], revised[-1], sorted({sid for sid, _ in lines})[0]):
        expected = sum(float(r["total_gbp"]) for (sid, _), r in lines.items() if sid == statement_id)
        n_lines = sum(1 for sid, _ in lines if sid == statement_id)
        # Recomputed from the parts, not read from total_gbp.
        got, count = _rows(
            con,
            "select sum(coalesce(availability_payment_gbp, 0) + coalesce(utilisation_payment_gbp, 0) "
            "- coalesce(penalty_gbp, 0)), count(*) from fct_settlement where statement_id = ?",
            [statement_id],
        )[0]
        assert count == n_lines, statement_id
        assert got == pytest.approx(expected, abs=0.01 * n_lines), statement_id
        total = _rows(
            con, "select sum(total_gbp) from fct_settlement where statement_id = ?", [statement_id]
        )[0][0]
        assert total == pytest.approx(expected, abs=0.005), statement_id
    assert _rows(con, "select count(*) from fct_settlement")[0][0] == len(lines)


def test_instructions_in_force_are_dispatches(demo, con):
    latest: dict[str, dict] = {}
    for path in sorted(demo.landing_dir("so_dispatch_instructions").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                known = latest.get(record["instruction_id"])
                if known is None or record["issued_at"] > known["issued_at"]:
                    latest[record["instruction_id"]] = record
    instructed = {i for i, r in latest.items() if r["status"] == "instructed"}
    got = {
        r[0]
        for r in _rows(
            con, "select dispatch_id from fct_dispatch where source_id = 'so_dispatch_instructions'"
        )
    }
    assert got == instructed
    assert _rows(con, "select count(*) - count(distinct dispatch_id) from fct_dispatch")[0][0] == 0


def test_no_unmapped_products_in_the_demo(con):
    assert (
        _rows(con, "select product_id from dim_product where not is_mapped or standard_product = 'unmapped'")
        == []
    )
    for fact in (
        "fct_dispatch",
        "fct_settlement",
        "fct_bid",
        "fct_auction_result",
        "fct_auction_unit_result",
    ):
        unmapped = _rows(
            con,
            f"select count(*) from {fact} f join dim_product p using (product_id) where not p.is_mapped",  # noqa: S608
        )[0][0]
        assert unmapped == 0, fact


def test_company_spellings_are_one_participant(demo, con):
    with open(demo.generated / "participants.csv", newline="", encoding="utf-8") as fh:
        participants = [r for r in csv.DictReader(fh) if r["role"] == "fsp"]
    known = {r[0] for r in _rows(con, "select participant_id from dim_participant where role = 'fsp'")}
    assert known
    ids_by_participant = {}
    for row in participants:
        spellings = [row["participant_name"], *[v for v in row["name_variants"].split("|") if v]]
        ids = {
            r[0]
            for r in _rows(
                con,
                "select distinct participant_id from fct_dispatch where participant_name in (select unnest(?)) "
                "union select distinct participant_id from fct_settlement where participant_name in (select unnest(?)) "
                "union select distinct participant_id from fct_auction_unit_result where company_name in (select unnest(?))",
                [spellings, spellings, spellings],
            )
        }
        assert len(ids) <= 1, (row, ids)
        ids_by_participant[row["participant_id"]] = ids
    assert any(ids_by_participant.values())
    system_operators = {
        r[0] for r in _rows(con, "select participant_id from dim_participant where role = 'system_operator'")
    }
    assert {"neso", "ukpn", "nged", "ssen", "enwl", "npg", "spen"} <= system_operators


def test_a_lake_with_an_empty_registry_builds_with_empty_registry_tables(demo, con):
    """Nobody registered anything (the build snapshots an empty registry): the registry tables are empty
    and every asset and product comes from the market sources. (Absent snapshot files read as empty
    tables too: tests/test_marts_registry_contract.py.)"""
    import polars as pl

    assert pl.read_parquet(demo.raw / "registry" / "assets.parquet").height == 0
    for table in (
        "organisations",
        "assets",
        "asset_market_ids",
        "asset_groups",
        "asset_group_memberships",
        "products",
    ):
        assert _rows(con, f"select count(*) from staging.stg_registry__{table}") == [(0,)]  # noqa: S608
    assert _rows(
        con, "select count(*) from dim_asset where is_registered or registry_asset_id is not null"
    ) == [(0,)]
    assert {r[0] for r in _rows(con, "select distinct product_source from dim_product")} == {"taxonomy"}
    assert _rows(con, "select count(*) from dim_asset where asset_type is null or size_band is null") == [
        (0,)
    ]
