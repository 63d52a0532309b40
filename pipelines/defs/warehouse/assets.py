"""dbt builds the standard taxonomy into build.duckdb; publish swaps it in for readers."""

import hashlib
import importlib.metadata
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from packaging import version

from sfe import ingest, publish
from sfe.config import DBT_PROJECT_DIR, TAXONOMY_DIR, lake

# dbt lives next to this interpreter; the venv's bin/ is not necessarily on PATH (e.g. `.venv/bin/sfe`).
_VENV_BIN = str(Path(sys.executable).parent)
if _VENV_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _project_sources() -> list[Path]:
    """Every file the dbt project's models, tests and docs are made of."""
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", *TAXONOMY_DIR.glob("*.csv")]
    for folder in ("models", "macros", "tests"):
        sources += (DBT_PROJECT_DIR / folder).rglob("*")
    return sorted(p for p in sources if p.is_file())


def _manifest_is_stale() -> bool:
    """True when the manifest is missing or older than any dbt project file or taxonomy seed."""
    manifest = DBT_PROJECT.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    return any(p.stat().st_mtime > built for p in _project_sources())


# A fresh checkout has no manifest and an edited project has a stale one: parse (a few seconds) so
# the asset graph matches the models; under `dagster dev` it is re-parsed on every load anyway.
if _manifest_is_stale():
    DBT_PROJECT.preparer.prepare(DBT_PROJECT)
else:
    DBT_PROJECT.prepare_if_dev()


# The registry's six snapshot tables share one upstream asset key (raw/registry). dbt tests are not
# Dagster asset checks: each of the ~440 would be two events in Dagster's SQLite event log per build
# (planned, evaluated) - about half of an incremental build's time. dbt still runs them in `dbt
# build`; a failing one fails the build, and the run log gets one summary (_log_test_results).
_TRANSLATOR = DagsterDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True, enable_asset_checks=False)
)


@dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT, dagster_dbt_translator=_TRANSLATOR)
def sfe_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Run and test every dbt model; a failing test fails the run, so publish does not happen."""
    paths = lake()
    paths.warehouse.mkdir(parents=True, exist_ok=True)
    ingest.ensure_raw_schemas(paths)
    context.log.info(f"building {paths.build_db}")
    fingerprint = project_fingerprint()
    args = ["build"]
    if _unit_tests_passed_for(fingerprint):
        # Unit tests check the models' SQL on fixed inputs, not the data: the project is unchanged
        # since they last passed. Full refreshes and changed projects run them.
        context.log.info("dbt project unchanged since its unit tests passed: not run again")
        args += ["--exclude-resource-type", "unit_test"]
    build = dbt.cli(args, context=context, target_path=dbt_target_path())
    for event in build.stream():
        # With asset checks off, dagster-dbt reports each dbt test as an observation of every model
        # it reads (~600 events): summarised once below instead.
        if not isinstance(event, dg.AssetObservation):
            yield event
    _log_test_results(context, build.get_artifact("run_results.json"))
    (paths.warehouse / UNIT_TESTS_FINGERPRINT).write_text(fingerprint, encoding="utf-8")
    _generate_docs(context, dbt, fingerprint)


def dbt_target_path() -> Path:
    """dbt's target folder for this lake's builds, kept between builds.

    dagster-dbt would give each invocation a fresh folder, seeded with the project's
    partial_parse.msgpack; that one was parsed for another lake (the profile names the lake's
    path), so dbt re-parsed the whole project (~7 s) on every build. One folder per lake keeps its
    own partial parse, and holds the last build's run_results.json."""
    return lake().warehouse / "dbt_target"


# The project fingerprint of the last dbt build whose unit tests ran and passed (a failing build
# raises before it is written).
UNIT_TESTS_FINGERPRINT = "unit_tests_passed.sha256"


def _unit_tests_passed_for(fingerprint: str) -> bool:
    if os.environ.get("DBT_FULL_REFRESH", "").lower() in ("1", "true"):
        return False
    passed = lake().warehouse / UNIT_TESTS_FINGERPRINT
    return passed.is_file() and passed.read_text(encoding="utf-8") == fingerprint


def _log_test_results(context: dg.AssetExecutionContext, run_results: dict) -> None:
    """One line in the run log: how many dbt tests and unit tests ran, and any that warned."""
    counts: dict[str, dict[str, int]] = {}
    warned = []
    for result in run_results.get("results", []):
        kind = result["unique_id"].split(".")[0]
        if kind not in ("test", "unit_test"):
            continue
        counts.setdefault(kind, {}).setdefault(result["status"], 0)
        counts[kind][result["status"]] += 1
        if result["status"] == "warn":
            warned.append(result["unique_id"].split(".")[2])
    summary = "; ".join(
        f"{sum(statuses.values())} {kind.replace('_', ' ')}s: "
        + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        for kind, statuses in sorted(counts.items())
    )
    context.log.info(
        f"dbt tests: {summary or 'none run'}" + (f"; warnings: {', '.join(warned)}" if warned else "")
    )


DOCS_FILES = ("index.html", "manifest.json", "catalog.json")


def project_fingerprint() -> str:
    """SHA-256 of the dbt project's files (names and bytes): the data dictionary changes only with it."""
    digest = hashlib.sha256()
    for path in _project_sources():
        digest.update(str(path.relative_to(DBT_PROJECT_DIR.parent)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


DOCS_FINGERPRINT = "project.sha256"


def _generate_docs(context: dg.AssetExecutionContext, dbt: DbtCliResource, fingerprint: str) -> None:
    """The data dictionary (dbt docs) of this build, staged for publish; never fails the build.

    Skipped when the published dictionary was generated from the same project files: it describes
    models, columns and tests, not rows, and generating it costs a dbt run (15-40 s on 2 cores)."""
    live = lake().warehouse / "dbt_docs"
    if (live / DOCS_FINGERPRINT).is_file() and all((live / name).is_file() for name in DOCS_FILES):
        if (live / DOCS_FINGERPRINT).read_text(encoding="utf-8") == fingerprint:
            context.log.info("dbt project unchanged: the published data dictionary stays")
            return
    staged = lake().warehouse / "dbt_docs_build"
    # Its own folder: the build's run_results.json stays next to its partial parse.
    docs_target = dbt_target_path().with_name("dbt_docs_target")
    docs = dbt.cli(["docs", "generate"], raise_on_error=False, target_path=docs_target).wait()
    if not docs.is_successful():
        context.log.warning("dbt docs generate failed; the previous data dictionary stays published")
        return
    staged.mkdir(parents=True, exist_ok=True)
    for name in DOCS_FILES:
        shutil.copyfile(docs.target_path / name, staged / name)
    (staged / DOCS_FINGERPRINT).write_text(fingerprint, encoding="utf-8")
    _prune_invocation_dirs()


def _prune_invocation_dirs(target: Path | None = None, keep: int = 6, min_age_s: float = 6 * 3600) -> None:
    """dagster-dbt gives each dbt invocation its own folder under dbt/target/; keep the newest few.

    A folder is only removed once it is hours old: several builds (other lakes) may share this project
    and a long build's folder must not vanish under it."""
    target = target or DBT_PROJECT.project_dir / DBT_PROJECT.target_path
    runs = sorted(
        (p for p in target.iterdir() if p.is_dir() and p.name != "compiled" and p.name != "run"),
        key=lambda p: p.stat().st_mtime,
    )
    cutoff = time.time() - min_age_s
    for old in runs[:-keep]:
        if old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)


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


class SfeDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two costs paid before every dbt invocation (~11 s on
    2 cores, more than a new day's data costs to build):

    - `dbt --version` in a subprocess, to learn the version of the dbt-core installed next to this
      interpreter (the venv's own dbt: read from its package metadata);
    - an in-process dbt adapter with every macro loaded, only used to fetch row counts and column
      metadata, which these assets do not ask for."""

    @property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


# The log file keeps info level: at debug (dbt's default) it is ~12 MB of SQL per build.
DBT_RESOURCE = SfeDbtCliResource(project_dir=DBT_PROJECT, global_config_flags=["--log-level-file", "info"])
