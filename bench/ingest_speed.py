"""Ingest: our `sfe ingest` rows/s vs plain DuckDB `read_csv → COPY TO parquet` on the same files."""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import time
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from sfe.config import LakePaths


def _scale_csv(src_files: list[Path], out: Path, rows: int, id_column: str, bom: bool) -> int:
    """Tile real-format rows up to `rows`, making each copy distinct through its id column."""
    base = pl.concat([pl.read_csv(f, infer_schema=False) for f in src_files], how="vertical_relaxed")
    copies = pl.DataFrame({"__copy": range(max(1, -(-rows // base.height)))})
    tiled = (
        copies.join(base, how="cross")  # copy by copy, each in the files' row order
        .with_columns((pl.col(id_column) + "-x" + pl.col("__copy").cast(pl.String)).alias(id_column))
        .drop("__copy")
        .head(rows)
    )
    with open(out, "wb") as fh:
        if bom:
            fh.write(b"\xef\xbb\xbf")
        tiled.write_csv(fh)
    return tiled.height


def _cpu_seconds() -> float:
    """CPU time of this process, every thread (DuckDB's and Polars' workers included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_ingest(rows: int, work: Path, repeats: int) -> list[tuple[str, str]]:
    """Our ingest (parse + quarantine + dedupe + partitioned Parquet) vs DuckDB CSV→Parquet.

    Each repeat times ours on a fresh lake, then the baseline; the ratio reported is the median of
    the per-repeat ratios (the machine is shared and noisy; neighbouring runs see the same load).
    CPU seconds (all threads) are reported beside it: they vary far less with the neighbours' load.
    """
    from sfe import ingest
    from sfe.generate import generate

    seed_lake = LakePaths(work / "seed")
    generate(seed_lake, assets=60, days=60, start=date(2025, 3, 1), seed=7, progress=False)
    lines = []
    for source_id, id_column, bom in (
        ("ukpn_flexibility_dispatches", "fu_id", True),
        ("neso_eac_results", "auctionID", False),
    ):
        sources = sorted(seed_lake.landing_dir(source_id).glob("*.csv"))
        big = work / f"{source_id}_{rows}.csv"
        n = _scale_csv(sources, big, rows, id_column, bom)
        ours_s, baseline_s, ratios, ours_cpu, baseline_cpu = [], [], [], [], []
        for k in range(repeats):
            paths = LakePaths(work / f"lake_{source_id}_{k}")
            paths.landing_dir(source_id).mkdir(parents=True)
            os.link(big, paths.landing_dir(source_id) / big.name)
            c0, t0 = _cpu_seconds(), time.perf_counter()
            with ingest.parsed_in_memory():  # as `sfe ingest` runs them: scan, then build in-process
                ingest.scan_landing(source_id, paths)
                ingest.build_partitions(source_id, ingest.pending_dates(source_id, paths), paths)
            ours, ours_cpu_s = time.perf_counter() - t0, _cpu_seconds() - c0
            shutil.rmtree(paths.root)
            baseline_file = work / f"{source_id}_baseline.parquet"
            c0, t0 = _cpu_seconds(), time.perf_counter()
            duckdb.execute(
                # Paths of our own temp files; COPY cannot take them as parameters.
                f"COPY (SELECT * FROM read_csv('{big}')) TO '{baseline_file}' (FORMAT parquet)"  # noqa: S608
            )
            baseline, baseline_cpu_s = time.perf_counter() - t0, _cpu_seconds() - c0
            baseline_file.unlink()
            ours_s.append(ours)
            baseline_s.append(baseline)
            ratios.append(baseline / ours)
            ours_cpu.append(ours_cpu_s)
            baseline_cpu.append(baseline_cpu_s)
        big.unlink()
        ratio = statistics.median(ratios)
        target = "met" if ratio >= 0.7 else "MISSED (target ≥ 0.7×)"
        lines.append(
            (
                f"ingest {source_id} ({n:,} rows, median of {repeats})",
                f"ours {n / statistics.median(ours_s):,.0f} rows/s vs DuckDB read_csv→Parquet "
                f"{n / statistics.median(baseline_s):,.0f} rows/s → **{ratio:.2f}×** ({target}; "
                f"per run {', '.join(f'{r:.2f}' for r in ratios)}); CPU seconds ours "
                f"{statistics.median(ours_cpu):.2f} vs DuckDB {statistics.median(baseline_cpu):.2f}",
            )
        )
    return lines
