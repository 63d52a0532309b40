"""SFE benchmarks: each figure is a ratio against a baseline measured in the same run.

    python -m bench [BENCHMARK ...] [--rows 1000000] [--repeats 3] [--no-record] …

BENCHMARK is any of ingest, build, serving, load, during-build, incremental (default: all). Results
are printed and appended to bench/RESULTS.md with the machine details and the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from sfe.config import LakePaths

RESULTS = Path(__file__).parent / "RESULTS.md"


def _machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()} · {os.cpu_count()} cores · {mem_gib:.0f} GiB · {cpu} · Python {platform.python_version()}"


def bench_build(work: Path, assets: int, days: int) -> list[tuple[str, str]]:
    """End-to-end build of a generated demo, split into its stages (the baseline is dbt alone)."""
    from sfe import pipeline
    from sfe.generate import generate

    paths = LakePaths(work / "demo")
    os.environ["SFE_LAKE_DIR"] = str(paths.root)
    t0 = time.perf_counter()
    generate(paths, assets=assets, days=days, start=date(2025, 1, 1), seed=42, progress=False)
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    pipeline.ingest_sources()
    ingest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pipeline.build_warehouse()
    warehouse_s = time.perf_counter() - t0
    total = gen + ingest_s + warehouse_s
    return [
        (
            f"demo build ({assets} assets × {days} days)",
            f"generate {gen:.0f} s + ingest {ingest_s:.0f} s + dbt/publish {warehouse_s:.0f} s = "
            f"**{total:.0f} s** (target < 600 s: {'met' if total < 600 else 'MISSED'})",
        )
    ]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def bench_serving(work: Path, repeats: int = 200) -> list[tuple[str, str]]:
    """API route vs the same SQL on DuckDB directly, on the demo built by bench_build."""
    from fastapi.testclient import TestClient

    from sfe.api.app import app
    from sfe.config import lake

    db = lake().serving_db
    if not db.exists():
        return [("serving", "skipped: no published warehouse (run with build)")]
    client = TestClient(app)
    direct = duckdb.connect(str(db), read_only=True)
    sql = (
        "SELECT * FROM fct_auction_result WHERE delivery_start_utc >= ? AND delivery_start_utc < ? "
        "ORDER BY delivery_start_utc, auction_result_id LIMIT 1000"
    )
    params = [datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)]
    api_t, direct_t = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = client.get(
            "/v1/auction-results", params={"from": "2025-06-01", "to": "2025-07-01", "limit": 1000}
        )
        api_t.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
        t0 = time.perf_counter()
        direct.execute(sql, params).fetchall()
        direct_t.append(time.perf_counter() - t0)
    a50, a95 = _percentiles(api_t)
    d50, d95 = _percentiles(direct_t)
    return [
        (
            "API /v1/auction-results (1 month, 1000 rows)",
            f"p50 {a50 * 1000:.1f} ms, p95 {a95 * 1000:.1f} ms vs direct DuckDB p50 {d50 * 1000:.1f} ms, "
            f"p95 {d95 * 1000:.1f} ms → p95 ratio **{a95 / d95:.2f}×**",
        )
    ]


BENCHMARKS = ("ingest", "build", "serving", "load", "during-build", "incremental")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK", help=f"any of {', '.join(BENCHMARKS)}")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per ingest benchmark file")
    parser.add_argument("--repeats", type=int, default=3, help="ingest: runs of ours and of the baseline")
    parser.add_argument("--assets", type=int, default=300, help="demo build scale")
    parser.add_argument("--days", type=int, default=480, help="demo build scale")
    parser.add_argument(
        "--lake", type=Path, help="a built lake to copy for serving/load (instead of the demo build)"
    )
    parser.add_argument("--clients", type=int, default=8, help="load: concurrent clients")
    parser.add_argument("--seconds", type=float, default=20, help="load: seconds per measurement")
    parser.add_argument("--incremental-assets", type=int, default=60)
    parser.add_argument("--incremental-days", type=int, default=366, help="the last day is the new one")
    parser.add_argument("--only", help="comma-separated benchmarks (same as listing them)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    wanted = set(args.benchmarks) | set(args.only.split(",") if args.only else ())
    wanted = wanted or set(BENCHMARKS)
    if unknown := wanted - set(BENCHMARKS):
        parser.error(
            f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}"
        )
    results: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="sfe-bench-") as tmp:
        work = Path(tmp)
        if "ingest" in wanted:
            from bench.ingest_speed import bench_ingest

            results += bench_ingest(args.rows, work, args.repeats)
        if "incremental" in wanted:
            from bench.incremental import incremental_benchmark

            results += incremental_benchmark(work, args.incremental_assets, args.incremental_days)
        served = wanted & {"serving", "load", "during-build"}
        if args.lake and served:
            shutil.copytree(args.lake, work / "demo", symlinks=True)
            shutil.rmtree(work / "demo" / "dagster_home", ignore_errors=True)
            os.environ["SFE_LAKE_DIR"] = str(work / "demo")
        elif "build" in wanted or served:
            results += bench_build(work, args.assets, args.days)
        if "serving" in wanted:
            results += bench_serving(work)
        if "load" in wanted:
            from bench.load import load_benchmark

            results += load_benchmark(work / "demo", args.clients, args.seconds)
        if "during-build" in wanted:
            from bench.load import serving_during_build_benchmark

            results += serving_during_build_benchmark(work / "demo", max(2, args.clients // 2), args.seconds)
    command = "python -m bench " + " ".join(sys.argv[1:])
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [f"\n## {stamp}\n", f"- machine: {_machine()}", f"- command: `{command.strip()}`", ""]
    block += ["| benchmark | result |", "|---|---|"] + [f"| {name} | {value} |" for name, value in results]
    text = "\n".join(block) + "\n"
    print(text)
    if not args.no_record:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n\nAppended by `make bench` (`python -m bench`).\n")
        with open(RESULTS, "a", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
