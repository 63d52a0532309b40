"""Large scale: `sfe generate` then `sfe build` at ≥ 10^8 metering rows, as a user runs them.

Each command runs as a subprocess; a sampler thread adds up the resident memory (RSS) of that process
and every process under it (dbt, and anything else the build starts) every half second, so the peak is
the whole tree's. `sfe build`'s progress bar names the step it is on, which splits the build into its
ingest and dbt build + publish stages. Target: the peak stays ≤ 8 GiB on a 2-core / 24 GiB machine.

    python -m bench.large_scale --assets 5800 --days 365 --work /tmp/sfe-large

5,800 assets × 365 days × 48 half hours = 101.6 M meter readings (5,000 assets make only 87.6 M).
Needs ~25 GB of free disk in --work (landing CSV, parsed and raw Parquet, build and published DuckDB).

Then one new day at that scale (unless --no-new-day): one day more is generated and its rows held back
from the landing files (bench.incremental.split_off_day); after the full build they land as one small
file per source file, as a day's deliveries would, and `sfe build` runs again. Its time is compared
with the full build's (ingest + dbt build + publish; generation left out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

TARGET_PEAK_BYTES = 8 * 2**30
GIB = 2**30
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# tqdm's postfix, the last "[..., name]" of a refresh: `sfe build` sets it to the step it starts.
_STEP_RE = re.compile(r", ([^,\[\]]+?)\s*\]\s*$")


def process_tree(root_pid: int) -> list[int]:
    """The pid and all its descendants' pids (processes, not threads), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_rss_bytes(root_pid: int) -> int:
    """Sum of the resident memory of the process and all its descendants (0 once all have exited)."""
    total = 0
    for pid in process_tree(root_pid):
        try:
            resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += resident_pages * _PAGE_SIZE
    return total


@dataclass
class StageFigures:
    seconds: float = 0.0
    peak_bytes: int = 0


@dataclass
class TreeRun:
    """One command run with its process tree's memory sampled; figures per progress step."""

    command: Sequence[str]
    env: dict[str, str]
    log: Path
    interval: float = 0.5
    # progress step name -> stage, or None for a refresh that names no step (None: one stage)
    stage_of: Callable[[str], str | None] | None = None
    stages: dict[str, StageFigures] = field(default_factory=dict)
    peak_bytes: int = 0
    seconds: float = 0.0
    returncode: int | None = None

    def run(self, default_stage: str) -> TreeRun:
        self._stage, self._since = default_stage, time.perf_counter()
        self.stages[default_stage] = StageFigures()
        started = time.perf_counter()
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.PIPE)
            done = threading.Event()
            reader = threading.Thread(target=self._read_progress, args=(proc.stderr, log), daemon=True)
            sampler = threading.Thread(target=self._sample, args=(proc.pid, done), daemon=True)
            reader.start()
            sampler.start()
            self.returncode = proc.wait()
            done.set()
            sampler.join()
            reader.join()
        self._switch(None)
        self.seconds = time.perf_counter() - started
        return self

    def _switch(self, stage: str | None) -> None:
        now = time.perf_counter()
        self.stages[self._stage].seconds += now - self._since
        if stage is not None:
            self.stages.setdefault(stage, StageFigures())
            self._stage, self._since = stage, now

    def _read_progress(self, stream, log) -> None:
        buffer = b""
        while chunk := stream.read1(65536):
            log.write(chunk)
            log.flush()  # in order with the command's stdout, written to the same file
            buffer += chunk
            *refreshes, buffer = re.split(rb"[\r\n]", buffer)
            # tqdm starts each refresh with \r: the last one is complete once it ends in "]"
            for refresh in [*refreshes, buffer]:
                match = _STEP_RE.search(refresh.decode("utf-8", "replace"))
                stage = self.stage_of(match.group(1)) if match and self.stage_of else None
                if stage is not None and stage != self._stage:
                    self._switch(stage)

    def _sample(self, pid: int, done: threading.Event) -> None:
        while not done.is_set():
            rss = tree_rss_bytes(pid)
            stage = self.stages[self._stage]
            stage.peak_bytes = max(stage.peak_bytes, rss)
            self.peak_bytes = max(self.peak_bytes, rss)
            done.wait(self.interval)


def _build_stage(step: str) -> str | None:
    """`sfe build`'s steps: "ingest <source>" per source, then "dbt build + publish"."""
    if step.startswith("ingest "):
        return "ingest"
    return "dbt build + publish" if step.startswith("dbt build") else None


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def bench_large(
    work: Path,
    assets: int,
    days: int,
    *,
    meter_files_one_by_one: bool = False,
    reuse: bool = False,
    new_day: bool = True,
) -> list[tuple[str, str]]:
    """Generate and build a lake of `assets` × `days` in `work`/lake; per-stage time and peak memory.

    meter_files_one_by_one: the meter readings arrive as a publisher delivers them, one monthly file
    at a time (`sfe ingest --source meter_readings FILE` each), before `sfe build` ingests the rest
    and builds; so no ingest run holds a year of readings.
    reuse: keep the landing files of an earlier run of the same scale (nothing else of its lake).
    new_day: generate one day more, hold its rows back, and after the full build time `sfe build`
    of that one new day.
    """
    from sfe.config import LakePaths

    generated_days = days + 1 if new_day else days
    held = work / "new_day"
    paths = LakePaths(work / "lake")
    paths.root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SFE_LAKE_DIR": str(paths.root)}
    sfe = str(Path(sys.executable).with_name("sfe"))
    log = work / "large_scale.log"
    manifest_path = paths.generated / "manifest.json"
    runs: list[TreeRun] = []
    params = json.loads(manifest_path.read_text())["parameters"] if manifest_path.exists() else {}
    if reuse and (params.get("assets"), params.get("days")) == (assets, generated_days):
        for entry in paths.root.iterdir():  # start from the landing files alone
            if entry.is_dir() and entry.name not in ("landing", "generated"):
                shutil.rmtree(entry)
            elif entry.is_file():
                entry.unlink()
    else:
        shutil.rmtree(held, ignore_errors=True)
        command = [sfe, "generate", "--assets", str(assets), "--days", str(generated_days)]
        generated = TreeRun(command, env, log)
        runs.append(generated.run("generate"))
        if generated.returncode != 0:
            raise RuntimeError(f"sfe generate failed (exit {generated.returncode}); see {log}")
    held_files: list[Path] = []
    if new_day:  # the generated range's last day
        from bench.incremental import hold_back_day

        last = json.loads(manifest_path.read_text(encoding="utf-8"))["range"]["last_settlement_date"]
        held_files = hold_back_day(paths, datetime.fromisoformat(last).date(), held)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    landing_bytes = _size(paths.landing)
    failed: TreeRun | None = None
    if meter_files_one_by_one:
        arrivals = work / "arrivals"
        shutil.rmtree(arrivals, ignore_errors=True)
        shutil.move(paths.landing_dir("meter_readings"), arrivals)
        try:
            for file in sorted(arrivals.glob("*.csv")):
                command = [sfe, "ingest", "--source", "meter_readings", str(file)]
                runs.append(TreeRun(command, env, log).run("meter readings file by file"))
                file.unlink()  # `sfe ingest FILE` copied it into landing/
                if runs[-1].returncode != 0:
                    failed = runs[-1]
                    break
        finally:  # files not ingested go back to landing/ (a rerun with --reuse finds them)
            paths.landing_dir("meter_readings").mkdir(parents=True, exist_ok=True)
            for file in arrivals.iterdir():
                os.replace(file, paths.landing_dir("meter_readings") / file.name)
            arrivals.rmdir()
    if failed is None:
        runs.append(TreeRun([sfe, "build"], env, log, stage_of=_build_stage).run("ingest"))
        failed = runs[-1] if runs[-1].returncode != 0 else None

    stages: dict[str, StageFigures] = {}
    for run in runs:
        for name, figures in run.stages.items():
            total = stages.setdefault(name, StageFigures())
            total.seconds += figures.seconds
            total.peak_bytes = max(total.peak_bytes, figures.peak_bytes)
    readings = sum(f["rows"] for f in manifest["files"] if f["source_id"] == "meter_readings")
    generated_note = f" (of {generated_days} days; the last one held back)" if new_day else ""
    peak = max(run.peak_bytes for run in runs)
    scale = f"{assets:,} assets × {days} days"
    times = " + ".join(f"{name} {s.seconds:.0f} s" for name, s in stages.items())
    total = sum(run.seconds for run in runs)
    peaks = ", ".join(f"{name} {_gib(s.peak_bytes)}" for name, s in stages.items())
    if failed is not None:
        verdict = f"not reached: `{' '.join(failed.command[1:])}` FAILED (exit {failed.returncode})"
        fct = f"no build (see {log})"
    else:
        verdict = "met" if peak <= TARGET_PEAK_BYTES else "MISSED"
        with duckdb.connect(str(paths.serving_db), read_only=True) as db:
            (metered,) = db.execute("SELECT count(*) FROM fct_metering").fetchone()
        fct = f"fct_metering {metered:,} rows"
    disk = (
        f"landing {_gib(landing_bytes)}, raw {_gib(_size(paths.root / 'raw'))}, "
        f"warehouse {_gib(_size(paths.root / 'warehouse'))}"
    )
    extra = []
    if new_day and failed is None:
        full_build = sum(s.seconds for name, s in stages.items() if name != "generate")
        from bench.incremental import land_held_back

        land_held_back(paths, held_files)  # the day's deliveries land
        shutil.rmtree(held)
        day_run = TreeRun([sfe, "build"], env, log, stage_of=_build_stage).run("ingest")
        day_times = " + ".join(f"{name} {s.seconds:.1f} s" for name, s in day_run.stages.items())
        ratio = day_run.seconds / full_build
        if day_run.returncode != 0:
            outcome = f"`sfe build` FAILED (exit {day_run.returncode}); see {log}"
        else:
            from bench.incremental import dbt_time_profile, slowest_nodes

            run_results = paths.warehouse / "dbt_target" / "run_results.json"
            run_results = run_results if run_results.is_file() else None
            outcome = (
                f"{day_times} = **{day_run.seconds:.1f} s**, peak {_gib(day_run.peak_bytes)} → "
                f"**{ratio:.1%} of the full build** ({full_build:.0f} s without generation; target ≤ 5%: "
                f"{'met' if ratio <= 0.05 else 'MISSED'}); dbt build {dbt_time_profile(run_results)}; "
                f"slowest: {slowest_nodes(run_results)}"
            )
        extra.append((f"large build ({scale}): one new day ({len(held_files)} small files)", outcome))
    return [
        (f"large build ({scale}): time", f"{times} = **{total / 60:.1f} min**"),
        (
            f"large build ({scale}): peak memory (process tree RSS)",
            f"{peaks} → **{_gib(peak)}** (target ≤ 8 GiB: {verdict})",
        ),
        (
            f"large build ({scale}): rows, disk",
            f"{readings:,} meter readings generated{generated_note} → {fct}; {disk}",
        ),
        *extra,
    ]


def main() -> None:
    from bench.__main__ import RESULTS, _machine

    parser = argparse.ArgumentParser(prog="python -m bench.large_scale", description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=5800)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--work", type=Path, required=True, help="scratch directory (its lake is replaced)")
    parser.add_argument("--keep", action="store_true", help="keep the lake afterwards")
    parser.add_argument(
        "--meter-files-one-by-one",
        action="store_true",
        help="`sfe ingest` the monthly meter files one at a time (as they would arrive) before `sfe build`",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep --work's lake if generated at this scale (implies --keep)"
    )
    parser.add_argument(
        "--no-new-day", action="store_true", help="skip the one-new-day build after the full build"
    )
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    if not args.reuse:
        shutil.rmtree(args.work / "lake", ignore_errors=True)
        shutil.rmtree(args.work / "new_day", ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    try:
        results = bench_large(
            args.work,
            args.assets,
            args.days,
            meter_files_one_by_one=args.meter_files_one_by_one,
            reuse=args.reuse,
            new_day=not args.no_new_day,
        )
    finally:
        if not (args.keep or args.reuse):
            shutil.rmtree(args.work / "lake", ignore_errors=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m bench.large_scale " + " ".join(sys.argv[1:])
    block = [f"\n## {stamp}\n", f"- machine: {_machine()}", f"- command: `{command.strip()}`", ""]
    block += ["| benchmark | result |", "|---|---|"] + [f"| {name} | {value} |" for name, value in results]
    text = "\n".join(block) + "\n"
    print(text)
    if not args.no_record:
        with open(RESULTS, "a", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
