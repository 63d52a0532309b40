"""The Dagster code location loads and its graph is wired: ingest → dbt → publish."""

from __future__ import annotations

import dagster as dg

from sfe.sources import CONNECTORS


def test_definitions_load_with_the_whole_graph():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for source_id in CONNECTORS:
        assert f"raw/{source_id}" in keys
    for model in ("dim_market", "dim_product", "dim_settlement_period", "fct_auction_result", "fct_dispatch"):
        assert model in keys
    assert "published_warehouse" in keys
    # dbt source names equal the ingest asset keys, so the staging models hang off the ingest assets.
    parents = {p.to_user_string() for p in graph.get(dg.AssetKey(["staging", "stg_ukpn_flexibility_dispatches__dispatches"])).parent_keys}
    assert parents == {"raw/ukpn_flexibility_dispatches"}
    publish_parents = {p.to_user_string() for p in graph.get(dg.AssetKey("published_warehouse")).parent_keys}
    assert {"fct_dispatch", "fct_auction_result", "dim_settlement_period"} <= publish_parents


def test_ingest_assets_are_daily_partitioned_single_run_backfills():
    from pipelines.defs.ingest.assets import INGEST_ASSETS

    for asset in INGEST_ASSETS:
        assert isinstance(asset.partitions_def, dg.DailyPartitionsDefinition)
        assert asset.backfill_policy == dg.BackfillPolicy.single_run()


def test_workspace_points_at_the_definitions_module():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "workspace.yaml").read_text()
    assert "pipelines.definitions" in text
