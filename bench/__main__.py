"""SFE benchmarks: each figure is a ratio against a baseline measured in the same run.

    python -m bench [BENCHMARK ...] [--rows 1000000] [--repeats 3] [--no-record] …

BENCHMARK is any of the names in ``BENCHMARKS`` (default: all, about an hour, including the
10^8-row ``large`` run and ingest files of 10^6 and 10^7 rows). Results are printed and appended to
bench/RESULTS.md with the machine details and the command. ``api``, ``pages``, ``load`` and
``during-build`` read a built lake: a copy of ``--lake PATH``, else the demo ``build`` makes.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

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


# Benchmarks that serve a built lake (a copy of --lake, else the demo build).
SERVED = ("api", "pages", "load", "during-build")
BENCHMARKS = ("ingest", "build", "api", "pages", "load", "during-build", "incremental", "large")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK", help=f"any of {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[1_000_000, 10_000_000],
        help="rows per ingest benchmark file, one benchmark per size (default: 10^6 and 10^7)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="ingest: paired runs of ours and of the baseline (files of 10^7 rows or more: one)",
    )
    parser.add_argument("--assets", type=int, default=300, help="demo build scale")
    parser.add_argument("--days", type=int, default=480, help="demo build scale")
    parser.add_argument(
        "--lake", type=Path, help=f"a built lake to copy for {', '.join(SERVED)} (instead of the demo build)"
    )
    parser.add_argument("--api-repeats", type=int, default=200, help="api: calls per route (and direct)")
    parser.add_argument("--page-repeats", type=int, default=30, help="pages: calls per data function")
    parser.add_argument("--renders", type=int, default=12, help="pages: filter changes per page")
    parser.add_argument("--clients", type=int, default=8, help="load: concurrent clients")
    parser.add_argument("--seconds", type=float, default=20, help="load: seconds per measurement")
    parser.add_argument("--incremental-assets", type=int, default=60)
    parser.add_argument("--incremental-days", type=int, default=366, help="the last day is the new one")
    parser.add_argument(
        "--large-assets", type=int, default=5800, help="large: 5,800 × 365 × 48 ≈ 1.02e8 readings"
    )
    parser.add_argument("--large-days", type=int, default=365)
    parser.add_argument(
        "--large-meter-files-one-by-one",
        action="store_true",
        help="large: `sfe ingest` each monthly meter file as it would arrive, before `sfe build`",
    )
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

            for rows in args.rows:  # a 10^7-row file takes minutes per run: once is enough
                results += bench_ingest(rows, work, args.repeats if rows < 10_000_000 else 1)
        if "incremental" in wanted:
            from bench.incremental import incremental_benchmark

            results += incremental_benchmark(work, args.incremental_assets, args.incremental_days)
        if "large" in wanted:  # ~45 min and ~25 GB of disk on 2 cores
            from bench.large_scale import bench_large

            results += bench_large(
                work,
                args.large_assets,
                args.large_days,
                meter_files_one_by_one=args.large_meter_files_one_by_one,
            )
        served = wanted & set(SERVED)
        if args.lake and served:
            shutil.copytree(args.lake, work / "demo", symlinks=True)
            shutil.rmtree(work / "demo" / "dagster_home", ignore_errors=True)
            os.environ["SFE_LAKE_DIR"] = str(work / "demo")
        elif "build" in wanted or served:
            results += bench_build(work, args.assets, args.days)
        if "api" in wanted:
            from bench.api_speed import bench_api

            results += bench_api(args.api_repeats)
        if "pages" in wanted:
            from bench.page_speed import bench_pages

            results += bench_pages(work, args.page_repeats, args.renders)
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
