"""Registry housekeeping: security records that ended long ago are pruned once a day."""

import dagster as dg

from sfe.registry import identity


@dg.op(description="Delete sessions, email tokens and login attempts that ended over 90 days ago.")
def prune_security_records(context: dg.OpExecutionContext) -> None:
    counts = identity.prune_security_records()
    context.log.info(f"pruned {counts}")
    context.add_output_metadata(
        {"sessions": counts.sessions, "tokens": counts.tokens, "login_attempts": counts.login_attempts}
    )


@dg.job(description="Registry housekeeping (also `sfe registry prune`).")
def registry_housekeeping_job():
    prune_security_records()


daily_registry_housekeeping = dg.ScheduleDefinition(
    job=registry_housekeeping_job,
    name="daily_registry_housekeeping",
    cron_schedule="30 3 * * *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
