import json

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.defs.ingest.assets import ingest_asset_key
from pipelines.defs.ingest.jobs import ingest_job
from sfe import ingest
from sfe.config import lake
from sfe.sources import CONNECTORS


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Parses files newly dropped into lake/landing/<source>/ and ingests the days they cover.",
)
def landing_sensor(context: dg.SensorEvaluationContext):
    paths = lake()
    requested = False
    warned = set(json.loads(context.cursor)) if context.cursor else set()
    for record in ingest.unknown_landing_files(paths):
        if record.sha256 not in warned:
            context.log.warning(f"landing/{record.file_name} quarantined: {record.reason}")
            warned.add(record.sha256)
    context.update_cursor(json.dumps(sorted(warned)))
    for source_id in CONNECTORS:
        new = ingest.scan_landing(source_id, paths)
        days = sorted({d for record in new for d in record.dates})
        for record in new:
            if record.status == "rejected":
                context.log.warning(f"{source_id}/{record.file_name} quarantined: {record.reason}")
        if not days:
            continue
        requested = True
        yield dg.RunRequest(
            run_key=f"{source_id}:" + ",".join(sorted(r.sha256[:12] for r in new)),
            asset_selection=[ingest_asset_key(source_id)],
            tags={
                ASSET_PARTITION_RANGE_START_TAG: days[0].isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: days[-1].isoformat(),
                "sfe/trigger": "landing_sensor",
            },
        )
    if not requested:
        yield dg.SkipReason("no new files in landing/")
