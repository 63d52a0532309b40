import dagster as dg

from pipelines.defs.ingest.assets import DAILY

# All ingest assets share the daily partitions, so one partitioned job covers them.
ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest"),
    partitions_def=DAILY,
    description="Ingest landing files into the raw lake for a day (or a range, as one run).",
)
