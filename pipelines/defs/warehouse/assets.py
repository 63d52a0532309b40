"""dbt builds the standard taxonomy into build.duckdb; publish swaps it in for readers."""

import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from sfe import ingest, publish
from sfe.config import DBT_PROJECT_DIR, lake

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
if DBT_PROJECT.manifest_path.exists():
    DBT_PROJECT.prepare_if_dev()
else:
    # A fresh checkout has no manifest yet: parse once (a few seconds) so the assets can load.
    DBT_PROJECT.preparer.prepare(DBT_PROJECT)


@dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT)
def sfe_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Run and test every dbt model; a failing test fails the run, so publish does not happen."""
    paths = lake()
    paths.warehouse.mkdir(parents=True, exist_ok=True)
    ingest.ensure_raw_schemas(paths)
    context.log.info(f"building {paths.build_db}")
    yield from dbt.cli(["build"], context=context).stream()


@dg.asset(
    deps=[sfe_dbt_models],
    group_name="publish",
    kinds={"duckdb"},
    description="Atomically replaces the serving DB (sfe.duckdb) with the freshly built and tested build.duckdb.",
)
def published_warehouse(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    started = context.instance.get_run_stats(context.run_id).start_time
    info = publish.publish(build_started_at=datetime.fromtimestamp(started, UTC) if started else None)
    context.log.info(f"published {info.path} at {info.published_at.isoformat()}")
    return dg.MaterializeResult(
        metadata={
            "path": str(info.path),
            "published_at": info.published_at.isoformat(),
            "size_mb": round(info.size_bytes / 1e6, 1),
            **{f"rows.{k}": v for k, v in info.table_rows.items()},
        }
    )


WAREHOUSE_ASSETS = [sfe_dbt_models, published_warehouse]
# The dbt next to this interpreter: the venv is not necessarily on PATH.
DBT_RESOURCE = DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=str(Path(sys.executable).parent / "dbt"))
