import dagster as dg

from pipelines.defs.registry.assets import REGISTRY_ASSETS
from pipelines.defs.rules.assets import RULES_ASSETS
from pipelines.defs.warehouse.assets import WAREHOUSE_ASSETS

warehouse_job = dg.define_asset_job(
    "warehouse_job",
    selection=dg.AssetSelection.assets(*REGISTRY_ASSETS, *RULES_ASSETS, *WAREHOUSE_ASSETS),
    description="Registry snapshot and eligibility, dbt build (models + tests) into build.duckdb, then publish sfe.duckdb.",
)
