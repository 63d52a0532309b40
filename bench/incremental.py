"""Incremental: ingesting and publishing one new day vs the full rebuild of the lake before it.

One generation covers every day. The full build gets every landing file without the rows of the
last day; the incremental run then lands those rows as one small file per source file, as a
publisher's daily drop would arrive, and runs the same `sfe build`.
"""

from __future__ import annotations

import os
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


def incremental_benchmark(work: Path, assets: int, days: int) -> list[tuple[str, str]]:
    from sfe import pipeline, publish
    from sfe.generate import generate

    paths = LakePaths(work / "incremental")
    os.environ["SFE_LAKE_DIR"] = str(paths.root)
    start = date(2025, 1, 1)
    new_day = start + timedelta(days=days - 1)
    generate(paths, assets=assets, days=days, start=start, seed=21, progress=False)
    held_back: list[tuple[Path, bytes]] = []
    for source_id in CONNECTORS:
        for path in sorted(paths.landing_dir(source_id).glob("*")):
            split = split_off_day(path, source_id, new_day)
            if split is None:
                continue
            rest, day_rows = split
            path.write_bytes(rest)
            held_back.append((path.with_name(f"{path.stem}_{new_day.isoformat()}{path.suffix}"), day_rows))

    def timed_build() -> tuple[float, float, float]:
        t0 = time.perf_counter()
        pipeline.ingest_sources()
        t1 = time.perf_counter()
        pipeline.build_warehouse()
        t2 = time.perf_counter()
        publish.publish(paths)  # once more on its own, to time publish apart from dbt
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    full_ingest, full_warehouse, publish_s = timed_build()
    full = full_ingest + full_warehouse
    for target, data in held_back:
        target.write_bytes(data)
    new_ingest, new_warehouse, new_publish_s = timed_build()
    new = new_ingest + new_warehouse
    ratio = new / full
    return [
        (
            f"incremental: full build of {days - 1} days ({assets} assets)",
            f"ingest {full_ingest:.1f} s + dbt build/test + publish {full_warehouse:.1f} s = **{full:.1f} s** "
            f"(publish alone {publish_s:.1f} s)",
        ),
        (
            f"incremental: one new day ({len(held_back)} small files)",
            f"ingest {new_ingest:.1f} s + dbt build/test + publish {new_warehouse:.1f} s = **{new:.1f} s** "
            f"(publish alone {new_publish_s:.1f} s) → **{ratio:.0%} of the full build** (target ≤ 5%: "
            f"{'met' if ratio <= 0.05 else 'MISSED'}; ingest alone {new_ingest / full_ingest:.0%} of the full ingest)",
        ),
    ]
