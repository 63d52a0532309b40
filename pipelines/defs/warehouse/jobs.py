import dagster as dg

from pipelines.defs.warehouse.assets import WAREHOUSE_ASSETS

warehouse_job = dg.define_asset_job(
    "warehouse_job",
    selection=dg.AssetSelection.assets(*WAREHOUSE_ASSETS),
    description="dbt build (models + tests) into build.duckdb, then publish sfe.duckdb.",
)
