import dagster as dg

from pipelines.defs.ingest.jobs import ingest_job

# Every morning, (re)build yesterday's partitions of every source from what landed; the warehouse
# sensor then rebuilds and publishes. Publishers post the previous day's files overnight.
daily_ingest_schedule = dg.build_schedule_from_partitioned_job(
    ingest_job,
    hour_of_day=6,
    minute_of_hour=0,
    name="daily_ingest_schedule",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
