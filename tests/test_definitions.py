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
    parents = {
        p.to_user_string()
        for p in graph.get(
            dg.AssetKey(["staging", "stg_ukpn_flexibility_dispatches__dispatches"])
        ).parent_keys
    }
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


def test_sensor_ingests_new_landing_files(lake_paths):
    import shutil

    from pipelines.definitions import defs
    from pipelines.defs.ingest.sensors import landing_sensor

    from .conftest import FIXTURES

    target = lake_paths.landing_dir("neso_eac_results")
    target.mkdir(parents=True)
    shutil.copyfile(FIXTURES / "neso_eac_results" / "eac_results_FY2025.csv", target / "a.csv")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, definitions=defs)
        requests = list(landing_sensor(context))
        assert len(requests) == 1
        request = requests[0]
        assert request.asset_selection == [dg.AssetKey(["raw", "neso_eac_results"])]
        assert request.tags["dagster/asset_partition_range_start"] == "2025-03-29"
        assert request.tags["dagster/asset_partition_range_end"] == "2025-10-26"
        # Nothing new on the next tick.
        again = list(landing_sensor(dg.build_sensor_context(instance=instance, definitions=defs)))
        assert all(isinstance(r, dg.SkipReason) for r in again)


def test_schedule_and_sensors_are_registered():
    from pipelines.definitions import defs

    assert defs.get_schedule_def("daily_ingest_schedule")
    assert defs.get_sensor_def("landing_sensor") and defs.get_sensor_def("publish_after_ingest")
