"""Publish: make the freshly built and tested warehouse the one every reader sees, atomically.

DuckDB allows one writer or many readers per file, never both. dbt writes build.duckdb; readers
only ever open sfe.duckdb. Publishing copies the build to a temp file next to sfe.duckdb and renames
it over sfe.duckdb (atomic on one filesystem). Readers holding the old file keep it until they
reconnect; ServingDB reconnects when it sees the file changed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

import sfe
from sfe import crashpoints, ingest
from sfe.config import LakePaths, lake
from sfe.sources import CONNECTORS


@dataclass
class PublishInfo:
    path: Path
    published_at: datetime
    size_bytes: int
    table_rows: dict[str, int]


def _source_rows(paths: LakePaths) -> list[tuple]:
    rows = []
    for source_id in CONNECTORS:
        report = ingest.file_report(source_id, paths)
        if report.is_empty():
            continue
        records = ingest.Catalog(paths, source_id).load()
        dates = sorted({d for r in records for d in (r.min_date, r.max_date) if d})
        rows.append(
            (
                source_id,
                report.height,
                int(report["loaded"].sum()),
                int(report["rows_quarantined"].sum()),
                int((report["status"] == "rejected").sum()),
                max(datetime.fromisoformat(r.first_seen_at) for r in records),
                dates[0] if dates else None,
                dates[-1] if dates else None,
            )
        )
    return rows


def _ingest_tables(paths: LakePaths) -> dict[str, pl.DataFrame]:
    """Per-file ingest records, quarantined rows and the latest quality results, for the apps."""
    reports = [ingest.file_report(source_id, paths) for source_id in [*CONNECTORS, ingest.UNKNOWN_SOURCE]]
    files = (
        pl.concat([r for r in reports if r.height], how="vertical_relaxed")
        if any(r.height for r in reports)
        else None
    )
    quarantined = []
    for source_id in CONNECTORS:
        for path in sorted((paths.quarantine / source_id / "rows").glob("*.parquet")):
            quarantined.append(pl.read_parquet(path).with_columns(pl.lit(source_id).alias("source_id")))
    quality_rows = []
    for source_id in CONNECTORS:
        results = sorted((paths.root / "quality" / source_id).glob("*.json"))
        if not results:
            continue
        latest = json.loads(results[-1].read_text(encoding="utf-8"))
        for outcome in latest["outcomes"]:
            quality_rows.append(
                {
                    "source_id": source_id,
                    "validated_at": latest["validated_at"],
                    "rows_validated": latest["rows_validated"],
                    "expectation": outcome["expectation"],
                    "arguments": json.dumps(outcome["kwargs"], default=str),
                    "success": outcome["success"],
                    "unexpected_count": outcome["unexpected_count"],
                }
            )
    tables = {}
    if files is not None:
        tables["meta_ingest_files"] = files.rename({"rows_quarantined": "quarantined"})
    if quarantined:
        tables["meta_quarantined_rows"] = pl.concat(quarantined, how="vertical_relaxed").select(
            "source_id", "source_file", "source_row", "field", "value", "reason", "record"
        )
    if quality_rows:
        tables["meta_quality_results"] = pl.DataFrame(quality_rows)
    return tables


def _publish_ingest_records(con: duckdb.DuckDBPyConnection, paths: LakePaths) -> None:
    schemas = {
        "meta_ingest_files": "source_id VARCHAR, file_name VARCHAR, sha256 VARCHAR, status VARCHAR, reason VARCHAR, "
        "first_seen_at VARCHAR, rows_in BIGINT, quarantined BIGINT, loaded BIGINT, duplicates BIGINT, "
        "superseded BIGINT, balanced BOOLEAN",
        "meta_quarantined_rows": "source_id VARCHAR, source_file VARCHAR, source_row BIGINT, field VARCHAR, "
        "value VARCHAR, reason VARCHAR, record VARCHAR",
        "meta_quality_results": "source_id VARCHAR, validated_at VARCHAR, rows_validated BIGINT, expectation VARCHAR, "
        "arguments VARCHAR, success BOOLEAN, unexpected_count BIGINT",
    }
    frames = _ingest_tables(paths)
    for name, columns in schemas.items():
        con.execute(f"CREATE OR REPLACE TABLE main.{name} ({columns})")
        frame = frames.get(name)
        if frame is not None and frame.height:
            con.register("incoming", frame.to_arrow())
            con.execute(f"INSERT INTO main.{name} BY NAME SELECT * FROM incoming")  # noqa: S608 - fixed names
            con.unregister("incoming")


def _publish_docs(paths: LakePaths) -> None:
    """Swap in the data dictionary (dbt docs) staged by this build, if it produced one."""
    staged, live = paths.warehouse / "dbt_docs_build", paths.warehouse / "dbt_docs"
    if not staged.is_dir():
        return
    old = paths.warehouse / f".dbt_docs.{os.getpid()}.old"
    if live.exists():
        os.replace(live, old)
    os.replace(staged, live)
    shutil.rmtree(old, ignore_errors=True)


EXPORT_PREFIXES = ("dim_", "fct_", "mart_", "bridge_")


def _export_parquet(con: duckdb.DuckDBPyConnection, paths: LakePaths, tables: list[str]) -> Path:
    """Stage <table>.parquet for every contract table and mart, for Polars, pandas, Spark.

    A table whose schema and content fingerprint match the export already published is linked,
    not written again (at scale, re-exporting an unchanged fact table costs more than the rest
    of publish). Returns the staging folder; :func:`_swap_in_exports` makes it lake/exports/
    after the serving DB is swapped in, so the exports never run ahead of the database or mix
    two builds.
    """
    staged = paths.exports.with_name(f".{paths.exports.name}.{os.getpid()}.tmp")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    published = paths.exports / FINGERPRINTS
    previous = json.loads(published.read_text(encoding="utf-8")) if published.exists() else {}
    fingerprints = {}
    for name in tables:
        fingerprints[name] = _fingerprint(con, name)
        target, current = staged / f"{name}.parquet", paths.exports / f"{name}.parquet"
        if fingerprints[name] is not None and previous.get(name) == fingerprints[name] and current.exists():
            os.link(current, target)
            continue
        # Table names come from the catalog and the path is ours; COPY takes no parameters.
        con.execute(f"COPY main.\"{name}\" TO '{target}' (FORMAT parquet, COMPRESSION zstd)")  # noqa: S608
    (staged / FINGERPRINTS).write_text(json.dumps(fingerprints, indent=1), encoding="utf-8")
    return staged


FINGERPRINTS = ".fingerprints.json"  # per exported table: schema, rows and a sum of row hashes


def _fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """None when the table cannot be fingerprinted: it is then always exported."""
    try:
        schema = con.execute(f'DESCRIBE main."{table}"').fetchall()  # noqa: S608 - names from the catalog
        rows, hashes = con.execute(f'SELECT count(*), sum(hash(t)) FROM main."{table}" t').fetchone()  # noqa: S608
    except duckdb.Error:
        return None
    return f"{duckdb.__version__}|{[(c[0], c[1]) for c in schema]}|{rows}|{hashes}"


def _swap_in_exports(paths: LakePaths, staged: Path) -> None:
    old = paths.exports.with_name(f".{paths.exports.name}.{os.getpid()}.old.tmp")
    if paths.exports.exists():
        os.replace(paths.exports, old)
    os.replace(staged, paths.exports)
    shutil.rmtree(old, ignore_errors=True)


def publish(paths: LakePaths | None = None, build_started_at: datetime | None = None) -> PublishInfo:
    paths = paths or lake()
    if not paths.build_db.exists():
        raise FileNotFoundError(
            f"nothing to publish: {paths.build_db} does not exist (run the dbt build first)"
        )
    # Leftovers of a publish that was killed (its copy of the DB, staged exports).
    ingest.remove_stale_temp_files(paths.warehouse, paths.root, recursive=False)
    published_at = datetime.now(UTC)
    con = duckdb.connect(str(paths.build_db))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            "CREATE OR REPLACE TABLE main.meta_publish (published_at TIMESTAMPTZ, build_started_at TIMESTAMPTZ, "
            "sfe_version VARCHAR, dbt_tests_passed INTEGER)"
        )
        con.execute(
            "INSERT INTO main.meta_publish VALUES (?, ?, ?, 1)",
            [published_at, build_started_at or published_at, sfe.__version__],
        )
        con.execute(
            "CREATE OR REPLACE TABLE main.meta_source_rows (source_id VARCHAR, files INTEGER, rows_loaded BIGINT, "
            "rows_quarantined BIGINT, files_rejected INTEGER, last_ingested_at TIMESTAMPTZ, min_date DATE, max_date DATE)"
        )
        source_rows = _source_rows(paths)
        if source_rows:
            con.executemany("INSERT INTO main.meta_source_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", source_rows)
        _publish_ingest_records(con, paths)
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
        table_rows = {
            name: con.execute(f'SELECT count(*) FROM main."{name}"').fetchone()[0]  # noqa: S608 - names from the catalog
            for (name,) in tables
        }
        exports = _export_parquet(
            con, paths, [name for (name,) in tables if name.startswith(EXPORT_PREFIXES)]
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    tmp = paths.serving_db.with_name(f".{paths.serving_db.name}.{os.getpid()}.tmp")
    shutil.copyfile(paths.build_db, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    crashpoints.reached("publish.copied_not_swapped")
    os.replace(tmp, paths.serving_db)
    _swap_in_exports(paths, exports)
    _publish_docs(paths)
    return PublishInfo(
        path=paths.serving_db,
        published_at=published_at,
        size_bytes=paths.serving_db.stat().st_size,
        table_rows=table_rows,
    )
