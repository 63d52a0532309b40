import dagster as dg

from pipelines.defs.rules.assets import ARRIVAL_ASSETS
from pipelines.defs.warehouse.assets import published_warehouse
from sfe import conflicts


@dg.asset(
    deps=[published_warehouse],
    group_name="publish",
    kinds={"sqlite", "email"},
    description=(
        "One notice (inbox + email) to every party of every conflict in the published "
        "mart_market_conflicts: the system operators, the asset's owner and its portfolios' owners. "
        "Exactly once per party, also when runs overlap."
    ),
)
def conflict_notifications(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    result = conflicts.notify_new_conflicts()
    context.log.info(
        f"{result.conflicts} conflicts: {result.notices_created} new notices, {result.emails_sent} emails sent, "
        f"{result.email_failures} emails not sent"
    )
    return dg.MaterializeResult(
        metadata={
            "conflicts": result.conflicts,
            "notices_created": result.notices_created,
            "emails_sent": result.emails_sent,
            "email_failures": result.email_failures,
            "conflicts_without_party": result.without_party,
        }
    )


# What follows a publish: conflict notices and the rules judged on arrival (pipelines/definitions.py
# registers this list).
CONFLICT_ASSETS = [conflict_notifications, *ARRIVAL_ASSETS]

conflict_notifications_job = dg.define_asset_job(
    "conflict_notifications_job",
    selection=dg.AssetSelection.assets(*CONFLICT_ASSETS),
    description=(
        "Notify the parties of new market conflicts in the published warehouse, and judge the commitments "
        "and dispatches that arrived by their products' rules (breaches notified once)."
    ),
)


@dg.asset_sensor(
    asset_key=published_warehouse.key,
    job=conflict_notifications_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After each publish (which follows every ingest of new dispatch and instruction data), notify the "
        "parties of the conflicts it found and judge the commitments and dispatches that arrived."
    ),
)
def notify_after_publish(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    return dg.RunRequest(run_key=f"after-publish:{asset_event.run_id}:{asset_event.timestamp}")


# Hourly as well: retries emails an SMTP server refused, and catches a publish made outside Dagster
# (`sfe build` without the daemon).
hourly_conflict_notifications = dg.ScheduleDefinition(
    name="hourly_conflict_notifications",
    job=conflict_notifications_job,
    cron_schedule="0 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
