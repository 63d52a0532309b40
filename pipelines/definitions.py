"""The one Dagster Definitions object for SFE (loaded by workspace.yaml and by `sfe build`)."""

import dagster as dg

from pipelines.defs.conflicts.assets import (
    CONFLICT_ASSETS,
    conflict_notifications_job,
    hourly_conflict_notifications,
    notify_after_publish,
)
from pipelines.defs.ingest.assets import INGEST_ASSETS
from pipelines.defs.ingest.jobs import ingest_job
from pipelines.defs.ingest.schedules import daily_ingest_schedule
from pipelines.defs.ingest.sensors import landing_sensor
from pipelines.defs.registry.assets import REGISTRY_ASSETS
from pipelines.defs.registry.schedules import daily_registry_housekeeping, registry_housekeeping_job
from pipelines.defs.rules.assets import RULES_ASSETS
from pipelines.defs.warehouse.assets import DBT_RESOURCE, WAREHOUSE_ASSETS
from pipelines.defs.warehouse.jobs import warehouse_job
from pipelines.defs.warehouse.sensors import publish_after_ingest

defs = dg.Definitions(
    assets=[*INGEST_ASSETS, *REGISTRY_ASSETS, *RULES_ASSETS, *WAREHOUSE_ASSETS, *CONFLICT_ASSETS],
    jobs=[ingest_job, warehouse_job, conflict_notifications_job, registry_housekeeping_job],
    schedules=[daily_ingest_schedule, hourly_conflict_notifications, daily_registry_housekeeping],
    sensors=[landing_sensor, publish_after_ingest, notify_after_publish],
    resources={"dbt": DBT_RESOURCE},
    # Runs in one process: launching a process per step costs seconds each on 2 cores.
    executor=dg.in_process_executor,
)
