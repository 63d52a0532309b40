"""One daily-partitioned ingest asset per source: landing files → raw/<source_id>/date=…/ Parquet."""

from datetime import date

import dagster as dg

from sfe import ingest, quality
from sfe.config import lake
from sfe.sources import CONNECTORS

# Daily partitions in UTC days (GB settlement-keyed sources use the settlement date). A run over a
# range of days parses each landing file once, so backfills run as a single run; its one
# materialization per day is stored in a few transactions by the batched event log (event_log.py)
# when the instance uses it.
DAILY = dg.DailyPartitionsDefinition(start_date="2020-01-01", end_offset=1, timezone="UTC")


def ingest_asset_key(source_id: str) -> dg.AssetKey:
    # Equal to the dbt source 'raw.<source_id>', so dbt models hang off these assets.
    return dg.AssetKey(["raw", source_id])


def _build_ingest_asset(source_id: str) -> dg.AssetsDefinition:
    connector = CONNECTORS[source_id]

    @dg.asset(
        key=ingest_asset_key(source_id),
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="ingest",
        kinds={"parquet", "polars"},
        description=f"{connector.title}: parsed, typed and deduplicated rows with lineage.",
        check_specs=[
            dg.AssetCheckSpec(
                "great_expectations",
                asset=ingest_asset_key(source_id),
                blocking=True,
                description=f"expectations/{source_id}.json on the rows this run wrote; failing stops the publish.",
            )
        ],
    )
    def _ingest(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        new_files = ingest.scan_landing(source_id, progress=context.log.info)
        days = [date.fromisoformat(key) for key in context.partition_keys]
        partitions = ingest.build_partitions(source_id, days)
        # Each day's own counts on its materialization (a day in the range without rows: zeros);
        # the run's totals below go on every day of the run.
        by_day = {p.partition_date.isoformat(): p for p in partitions}
        for key in context.partition_keys:
            day = by_day.get(key)
            context.add_asset_metadata(
                {
                    "day_rows_in": day.rows_in if day else 0,
                    "day_rows_loaded": day.loaded if day else 0,
                    "day_rows_duplicate": day.duplicates if day else 0,
                    "day_rows_superseded": day.superseded if day else 0,
                },
                partition_key=key,
            )
        report = ingest.file_report(source_id)
        new_names = {r.file_name for r in new_files}
        new_report = report.filter(report["file_name"].is_in(list(new_names)))
        for row in new_report.filter(new_report["status"] == "rejected").iter_rows(named=True):
            context.log.warning(f"{source_id}: file {row['file_name']} quarantined: {row['reason']}")
        unbalanced = report.filter(~report["balanced"] & (report["status"] != "rejected"))
        written = [
            lake().raw_dir(source_id) / f"date={p.partition_date.isoformat()}" / "data.parquet"
            for p in partitions
        ]
        suite = quality.validate(
            source_id, quality.sample_of(written) if written else connector.empty_frame()
        )
        quality.record(suite, [p.partition_date for p in partitions])
        check = dg.AssetCheckResult(
            check_name="great_expectations",
            passed=suite.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows_validated": suite.rows_validated,
                "summary": suite.summary(),
                "failed_expectations": len(suite.failures()),
            },
        )
        return dg.MaterializeResult(
            check_results=[check],
            metadata={
                "new_files": len(new_files),
                "partitions_written": len(partitions),
                "rows_in": sum(p.rows_in for p in partitions),
                "rows_loaded": sum(p.loaded for p in partitions),
                "rows_duplicate": sum(p.duplicates for p in partitions),
                "rows_superseded": sum(p.superseded for p in partitions),
                "rows_quarantined_new_files": int(new_report["rows_quarantined"].sum() or 0),
                "files_rejected_new": int((new_report["status"] == "rejected").sum()),
                "files_not_yet_balanced": unbalanced.height,
                "new_file_report": dg.MetadataValue.md(ingest.markdown_table(new_report.drop("sha256"))),
            },
        )

    return _ingest


INGEST_ASSETS = [_build_ingest_asset(source_id) for source_id in CONNECTORS]
