"""Incremental: ingesting and publishing one new day vs the full rebuild of the lake before it.

One generation covers every day. The full build gets every landing file without the rows of the
last day; the incremental run then lands those rows as one small file per source file, as a
publisher's daily drop would arrive, and runs the same `sfe build`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sfe.config import LakePaths
from sfe.sources import CONNECTORS
from sfe.sources.base import FileRejected


def _lines(raw: bytes) -> list[bytes]:
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line + b"\n" for line in lines]


def split_off_day(path: Path, source_id: str, day: date) -> tuple[bytes, bytes] | None:
    """(the file without the rows of `day`, a file of just those rows), or None if it has none.

    Rows are found by parsing the file with its connector; CSV data row n is line n + 1 and JSON
    Lines row n is the n-th non-blank line (what the readers number). Other formats are left whole.
    """
    import polars as pl

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        return None
    try:
        parsed = CONNECTORS[source_id].parse(
            path, source_file=path.name, sha256="", ingested_at=datetime.now(UTC)
        )
    except FileRejected:
        return None
    on_day = set(parsed.rows.filter(pl.col("partition_date") == day)["source_row"].to_list())
    if not on_day:
        return None
    lines = _lines(path.read_bytes())
    if suffix == ".csv":
        header, data = [lines[0]], lines[1:]
    else:
        header, data = [], [line for line in lines if line.strip()]
    keep = [line for n, line in enumerate(data, start=1) if n not in on_day]
    moved = [line for n, line in enumerate(data, start=1) if n in on_day]
    return b"".join(header + keep), b"".join(header + moved)


def hold_back_day(paths: LakePaths, day: date, held: Path) -> list[Path]:
    """Take the rows of `day` out of every landing file into `held`/<source>/ (one small file per
    landing file that has any, named for the day), as that day's deliveries; the files held back.
    Files an interrupted earlier run still holds land first; a landing file already named for the
    day (held back by an earlier run, then landed) is taken as it is."""
    if held.is_dir():
        land_held_back(paths, [f for f in held.glob("*/*") if f.is_file()])
    shutil.rmtree(held, ignore_errors=True)
    held.mkdir(parents=True)
    files = []
    for source_id in CONNECTORS:
        for path in sorted(paths.landing_dir(source_id).glob("*")):
            target = held / source_id / f"{path.stem}_{day.isoformat()}{path.suffix}"
            if path.stem.endswith(f"_{day.isoformat()}"):
                target = held / source_id / path.name
                target.parent.mkdir(exist_ok=True)
                os.replace(path, target)
                files.append(target)
                continue
            split = split_off_day(path, source_id, day)
            if split is None:
                continue
            rest, day_rows = split
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(day_rows)
            path.write_bytes(rest)
            files.append(target)
    return files


def land_held_back(paths: LakePaths, files: list[Path]) -> None:
    """The held-back day's files arrive in landing/<source>/."""
    for file in files:
        os.replace(file, paths.landing_dir(file.parent.name) / file.name)


def incremental_benchmark(work: Path, assets: int, days: int) -> list[tuple[str, str]]:
    from sfe import ingest, pipeline, publish
    from sfe.generate import generate

    paths = LakePaths(work / "incremental")
    os.environ["SFE_LAKE_DIR"] = str(paths.root)
    start = date(2025, 1, 1)
    new_day = start + timedelta(days=days - 1)
    generate(paths, assets=assets, days=days, start=start, seed=21, progress=False)
    held_back = hold_back_day(paths, new_day, work / "incremental_new_day")

    def timed_build() -> tuple[float, float, float, str]:
        t0 = time.perf_counter()
        pipeline.ingest_sources()
        t1 = time.perf_counter()
        pipeline.build_warehouse()
        t2 = time.perf_counter()
        dbt_profile = f"{dagster_step_times()}; dbt build {dbt_time_profile(latest_run_results())}"
        t3 = time.perf_counter()
        ingest.damaged_raw_files(paths)  # what build_warehouse checks first, timed on its own
        dbt_profile += f"; raw file check {time.perf_counter() - t3:.1f} s"
        t4 = time.perf_counter()
        publish.publish(paths)  # once more on its own, to time publish apart from dbt
        return t1 - t0, t2 - t1, time.perf_counter() - t4, dbt_profile

    full_ingest, full_warehouse, publish_s, full_dbt = timed_build()
    full = full_ingest + full_warehouse
    land_held_back(paths, held_back)
    new_ingest, new_warehouse, new_publish_s, new_dbt = timed_build()
    new = new_ingest + new_warehouse
    ratio = new / full
    return [
        (
            f"incremental: full build of {days - 1} days ({assets} assets)",
            f"ingest {full_ingest:.1f} s + dbt build/test + publish {full_warehouse:.1f} s = **{full:.1f} s** "
            f"(publish alone {publish_s:.1f} s; {full_dbt})",
        ),
        (
            f"incremental: one new day ({len(held_back)} small files)",
            f"ingest {new_ingest:.1f} s + dbt build/test + publish {new_warehouse:.1f} s = **{new:.1f} s** "
            f"(publish alone {new_publish_s:.1f} s; {new_dbt}) → **{ratio:.0%} of the full build** "
            f"(target ≤ 5%: {'met' if ratio <= 0.05 else 'MISSED'}; ingest alone "
            f"{new_ingest / full_ingest:.0%} of the full ingest)",
        ),
    ]


INCREMENTAL_FACTS = ("fct_metering", "fct_dispatch", "fct_settlement")


def dagster_step_times() -> str:
    """The last Dagster run (the warehouse build): its wall time and each step's."""
    import dagster as dg

    instance = dg.DagsterInstance.get()
    run = instance.get_runs(limit=1)[0]
    stats = instance.get_run_stats(run.run_id)
    steps = sorted(instance.get_run_step_stats(run.run_id), key=lambda s: s.start_time or 0)
    timed = ", ".join(
        f"{s.step_key} {s.end_time - s.start_time:.1f} s" for s in steps if s.start_time and s.end_time
    )
    return f"Dagster run {stats.end_time - stats.start_time:.1f} s ({timed})"


def latest_run_results() -> Path | None:
    """run_results.json of the lake's last `dbt build` (in its dbt target folder)."""
    from pipelines.defs.warehouse.assets import dbt_target_path

    found = dbt_target_path() / "run_results.json"
    if not found.is_file() or json.loads(found.read_text(encoding="utf-8"))["args"].get("which") != "build":
        return None
    return found


def slowest_nodes(run_results: Path | None, n: int = 6) -> str:
    """The `n` dbt nodes that took longest in a build, with their seconds."""
    if run_results is None:
        return "no run_results.json"
    results = json.loads(run_results.read_text(encoding="utf-8"))["results"]
    top = sorted(results, key=lambda node: node["execution_time"], reverse=True)[:n]
    # test.<project>.<name>.<hash>; model.<project>.<name>; unit_test.<project>.<model>.<name>
    names = [node["unique_id"].split(".")[2 if node["unique_id"].startswith("test.") else -1] for node in top]
    return ", ".join(f"{name} {node['execution_time']:.1f} s" for name, node in zip(names, top, strict=True))


def dbt_time_profile(run_results: Path | None) -> str:
    """Where a `dbt build` spent its time: wall, then node time by kind and on the incremental facts."""
    if run_results is None:
        return "no run_results.json"
    results = json.loads(run_results.read_text(encoding="utf-8"))
    by_kind: dict[str, list[float]] = {}
    facts = 0.0
    for node in results["results"]:
        kind = node["unique_id"].split(".")[0]
        by_kind.setdefault(kind, []).append(node["execution_time"])
        name = node["unique_id"].split(".")[2]
        if kind == "model" and name in INCREMENTAL_FACTS:
            facts += node["execution_time"]
        elif kind == "test" and any(fact in name for fact in INCREMENTAL_FACTS):
            facts += node["execution_time"]
    nodes = sum(len(times) for times in by_kind.values())
    node_time = sum(sum(times) for times in by_kind.values())
    kinds = ", ".join(f"{len(t)} {kind}s {sum(t):.1f} s" for kind, t in sorted(by_kind.items()))
    return (
        f"wall {results['elapsed_time']:.1f} s, {nodes} nodes: {kinds}; the 3 facts and their tests "
        f"{facts:.1f} s; per-node overhead {results['elapsed_time'] - node_time:.1f} s"
    )
