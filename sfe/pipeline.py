"""Run the Dagster graph in-process: what `sfe build` and `sfe ingest` do, and what tests call.

Runs go to the Dagster instance in ``$SFE_LAKE_DIR/dagster_home`` so that they appear in the Dagster
UI's run history next to scheduled and sensor runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

from sfe import build_status, ingest
from sfe.config import LakePaths, lake
from sfe.sources import CONNECTORS

QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

Step = Callable[[str], None]


class BuildFailed(RuntimeError):
    pass


def prepare_environment(paths: LakePaths | None = None) -> LakePaths:
    """Point dbt and Dagster at this lake (absolute paths; dbt's profile reads SFE_LAKE_DIR)."""
    paths = paths or lake()
    os.environ["SFE_LAKE_DIR"] = str(paths.root)
    home = paths.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    from pipelines.defs.ingest.event_log import instance_config

    # No telemetry (this machine class has no general internet); the batched event log (a ranged
    # ingest stores its daily events in a few transactions). Rewritten whenever it differs: the
    # storage path is absolute, and a copied lake must not write into the original's history.
    wanted = "telemetry:\n  enabled: false\n" + instance_config(str(home))
    if not config.exists() or config.read_text(encoding="utf-8") != wanted:
        config.write_text(wanted, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return paths


def _instance():
    import dagster as dg

    return dg.DagsterInstance.get()


@dataclass
class BuildResult:
    sources: dict[str, list[date]] = field(default_factory=dict)
    published: bool = False
    table_rows: dict[str, int] = field(default_factory=dict)


def ingest_sources(
    source_ids: list[str] | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    step: Step | None = None,
) -> dict[str, list[date]]:
    """Parse new landing files and (re)write the affected daily partitions, one Dagster run per
    range of days. Returns the days with data written, per source.

    Without start/end, the partitions written are the pending ones: the days new files touch, and
    days an interrupted run left behind. With them, exactly that range (a backfill).
    """
    paths = prepare_environment()
    done: dict[str, list[date]] = {}
    for source_id in source_ids or list(CONNECTORS):
        if step:
            step(f"ingest {source_id}")
        # The asset runs in this process: it builds from the frames just parsed, not a read-back.
        with ingest.parsed_in_memory():
            ingest.scan_landing(source_id, paths)
            ranges = [(start, end)] if start and end else day_ranges(ingest.pending_dates(source_id, paths))
            for first, last in ranges:
                _materialize_ingest(source_id, first, last)
        known = ingest.known_dates(source_id, paths)
        done[source_id] = [d for d in known if any(first <= d <= last for first, last in ranges)]
    return done


def _materialize_ingest(source_id: str, first: date, last: date) -> None:
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from pipelines.defs.ingest.assets import INGEST_ASSETS, ingest_asset_key

    asset = next(a for a in INGEST_ASSETS if a.key == ingest_asset_key(source_id))
    result = dg.materialize(
        [asset],
        instance=_instance(),
        tags={
            ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
        },
        run_config=QUIET_RUN_CONFIG,
        raise_on_error=False,
    )
    if not result.success:
        raise BuildFailed(f"ingest of {source_id} failed:\n{_failure_summary(result)}")


# A Dagster run costs seconds; rewriting a day with nothing new costs milliseconds. So gaps up to
# this long are rewritten rather than split into another run.
BRIDGE_GAP_DAYS = 62


def day_ranges(days: list[date], max_ranges: int = 3) -> list[tuple[date, date]]:
    """Cover the days with few (first, last) ranges, one Dagster run each.

    Runs of days less than BRIDGE_GAP_DAYS apart become one range (the days between are rewritten
    too, which is harmless); beyond ``max_ranges`` the smallest remaining gaps are bridged as well.
    """
    if not days:
        return []
    days = sorted(set(days))
    ranges = [[days[0], days[0]]]
    for day in days[1:]:
        if (day - ranges[-1][1]).days <= BRIDGE_GAP_DAYS:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    while len(ranges) > max_ranges:
        gaps = [(ranges[i + 1][0] - ranges[i][1], i) for i in range(len(ranges) - 1)]
        _, i = min(gaps)
        ranges[i : i + 2] = [[ranges[i][0], ranges[i + 1][1]]]
    return [(first, last) for first, last in ranges]


def _failure_summary(result) -> str:
    """The failing steps' error messages (dbt's output names the failing model or test)."""
    lines = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error, messages = event.step_failure_data.error, []
            while error is not None:  # the root cause (e.g. dbt's failing test) is at the end
                messages.append(error.message.strip())
                error = error.cause
            lines.append(f"{event.step_key}: " + "\n".join(messages)[-3000:])
    return "\n".join(lines) or "no step reported a failure"


@contextlib.contextmanager
def _dbt_full_refresh(enabled: bool) -> Iterator[None]:
    """dbt reads DBT_FULL_REFRESH like its --full-refresh flag; the dbt asset runs it as a subprocess."""
    if not enabled:
        yield
        return
    previous = os.environ.get("DBT_FULL_REFRESH")
    os.environ["DBT_FULL_REFRESH"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DBT_FULL_REFRESH", None)
        else:
            os.environ["DBT_FULL_REFRESH"] = previous


def build_warehouse(step: Step | None = None, *, full_refresh: bool = False) -> dict[str, int]:
    """dbt build (models + tests) into build.duckdb, then publish. Raises BuildFailed on any failure.

    The large facts are incremental (docs/incremental.md): they rebuild only the raw partitions that
    changed since their last build. ``full_refresh`` rebuilds every incremental model from scratch.
    """
    import dagster as dg

    from pipelines.defs.registry.assets import REGISTRY_ASSETS
    from pipelines.defs.rules.assets import RULES_ASSETS
    from pipelines.defs.warehouse.assets import DBT_RESOURCE, WAREHOUSE_ASSETS

    paths = prepare_environment()
    if step:
        step("dbt build + publish")
    check_raw_files(paths)
    # The registry snapshot and the eligibility verdicts are read by dbt: written first, same run.
    with _dbt_full_refresh(full_refresh):
        result = dg.materialize(
            [*REGISTRY_ASSETS, *RULES_ASSETS, *WAREHOUSE_ASSETS],
            instance=_instance(),
            resources={"dbt": DBT_RESOURCE},
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
    if not result.success:
        raise BuildFailed(
            f"warehouse build failed; the previous publish keeps serving.\n{_failure_summary(result)}\n"
            f"Full log: run {result.run_id} in the Dagster UI"
        )
    rows = {}
    for mat in result.asset_materializations_for_node("published_warehouse"):
        rows = {k.removeprefix("rows."): v.value for k, v in mat.metadata.items() if k.startswith("rows.")}
    return rows


def check_raw_files(paths: LakePaths) -> None:
    """Refuse to build from a damaged raw lake: name each damaged file and how to rewrite it."""
    damaged = ingest.damaged_raw_files(paths)
    if not damaged:
        return
    lines = []
    for source_id, path, problem in damaged:
        day = path.parent.name.removeprefix("date=")
        lines.append(
            f"  {path}: {problem}\n    rewrite it from the parsed files: "
            f"sfe ingest --source {source_id} --from {day} --to {day}"
        )
    raise BuildFailed(
        f"{len(damaged)} damaged file(s) in the raw lake; nothing was built, the previous publish keeps "
        "serving.\n" + "\n".join(lines)
    )


def build(step: Step | None = None, *, full_refresh: bool = False) -> BuildResult:
    """The whole graph over whatever the lake holds: never generates data.

    ``full_refresh`` rebuilds the incremental facts from every raw partition instead of only the
    changed ones."""
    prepare_environment()
    status = build_status.BuildStatus(status="running", started_at=build_status.now())
    build_status.write(status)
    try:
        sources = ingest_sources(step=step)
        rows = build_warehouse(step=step, full_refresh=full_refresh)
    except BaseException as exc:
        status.status, status.finished_at = "failed", build_status.now()
        status.message = str(exc) if isinstance(exc, BuildFailed) else f"interrupted: {exc!r}"
        build_status.write(status)
        raise
    status.status, status.finished_at = "succeeded", build_status.now()
    build_status.write(status)
    return BuildResult(sources=sources, published=True, table_rows=rows)
