"""The one Dagster Definitions object for SFE (loaded by workspace.yaml and by `sfe build`)."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.ingest.assets import INGEST_ASSETS
from pipelines.defs.warehouse.assets import DBT_RESOURCE, WAREHOUSE_ASSETS

defs = dg.Definitions(
    assets=[*INGEST_ASSETS, *WAREHOUSE_ASSETS],
    resources={"dbt": DBT_RESOURCE},
    # Runs in one process: launching a process per step costs seconds each on 2 cores.
    executor=dg.in_process_executor,
)
