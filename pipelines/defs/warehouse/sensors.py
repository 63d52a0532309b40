import dagster as dg

from pipelines.defs.ingest.jobs import ingest_job
from pipelines.defs.warehouse.jobs import warehouse_job


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[ingest_job],
    request_job=warehouse_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a successful ingest run, rebuild the warehouse and publish it.",
)
def publish_after_ingest(context: dg.RunStatusSensorContext):
    return dg.RunRequest(run_key=f"after:{context.dagster_run.run_id}")
