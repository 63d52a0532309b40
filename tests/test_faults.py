"""Crash safety: SIGKILL during ingest, the dbt build and publish, then rerun; damaged Parquet files.

Every kill hits a real `sfe` (or ingest/publish) subprocess started in its own process group, so
that the whole group dies at once, as on a power cut (dbt dies with the build that started it). The
moment is exact: the process is started with ``SFE_CRASH_POINT=<name>`` (see sfe.crashpoints),
announces the point in a marker file and waits there to be killed. The dbt build has no crash point
of ours; it is killed once dbt has started writing the build database.

After each kill: no partial partition is visible, the serving DB is the last good one and
readable, and the rerun ends with the same counts as a run that was never interrupted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from sfe import ingest, pipeline, publish
from sfe.config import LakePaths
from tests.conftest import FIXTURES, land

CRASH_WAIT_S = 600  # generous: the machine may be busy


# -- helpers ---------------------------------------------------------------------------------------


def _env(paths: LakePaths, crash_point: str | None = None, marker: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "SFE_LAKE_DIR": str(paths.root), "PYTHONUNBUFFERED": "1"}
    env.pop("SFE_CRASH_POINT", None)
    if crash_point:
        env["SFE_CRASH_POINT"], env["SFE_CRASH_POINT_FILE"] = crash_point, str(marker)
    return env


def _start(
    args: list[str], paths: LakePaths, crash_point: str | None = None
) -> tuple[subprocess.Popen, Path]:
    marker = paths.root.parent / f"crash-point-{time.monotonic_ns()}"
    log = open(paths.root.parent / f"{marker.name}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, *args],
        env=_env(paths, crash_point, marker),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the kill takes dbt with it
    )
    proc.log_path = Path(log.name)  # type: ignore[attr-defined]
    return proc, marker


def _output(proc: subprocess.Popen) -> str:
    return proc.log_path.read_text(errors="replace")  # type: ignore[attr-defined]


def _wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = CRASH_WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}:\n{_output(proc)[-3000:]}")
        if time.monotonic() > deadline:
            _kill(proc)
            pytest.fail(f"timed out waiting for {what}:\n{_output(proc)[-3000:]}")
        time.sleep(0.05)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def _crash_at(args: list[str], paths: LakePaths, crash_point: str) -> None:
    proc, marker = _start(args, paths, crash_point)
    _wait_for(marker.exists, proc, f"crash point {crash_point}")
    _kill(proc)


def _sfe(*args: str) -> list[str]:
    return ["-m", "sfe.cli", *args]


def _run_sfe(paths: LakePaths, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, *_sfe(*args)], env=_env(paths), capture_output=True, text=True, timeout=3600
    )
    if expect_ok:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


INGEST_ONE_SOURCE = [
    "-c",
    "import sys; from sfe import ingest; s = sys.argv[1]; ingest.scan_landing(s); "
    "ingest.build_partitions(s, ingest.pending_dates(s))",
]


def _ingest_in_process(paths: LakePaths, source_id: str) -> None:
    ingest.scan_landing(source_id, paths)
    ingest.build_partitions(source_id, ingest.pending_dates(source_id, paths), paths)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_no_partial_partition(paths: LakePaths) -> None:
    """Every file a reader's glob finds is a complete Parquet file; temp files are never matched."""
    for parquet in paths.raw.glob("*/date=*/*.parquet"):
        pl.read_parquet(parquet)  # raises on a partial file
        assert parquet.name == "data.parquet", parquet
    for source_dir in paths.raw.iterdir() if paths.raw.exists() else []:
        duckdb.sql(
            f"select count(*) from read_parquet('{source_dir}/**/*.parquet', union_by_name = true)"
        ).fetchall()  # noqa: S608


def _comparable_raw(paths: LakePaths, source_id: str) -> pl.DataFrame:
    rows = pl.read_parquet(paths.raw_dir(source_id) / "date=*" / "*.parquet")
    return rows.drop("ingested_at").sort(rows.drop("ingested_at").columns)


def _comparable_report(paths: LakePaths, source_id: str) -> pl.DataFrame:
    return ingest.file_report(source_id, paths).drop("first_seen_at").sort("file_name")


def _serving_tables(paths: LakePaths) -> dict[str, int]:
    con = duckdb.connect(str(paths.serving_db), read_only=True)
    try:
        names = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'main' "
                "and table_type = 'BASE TABLE' and table_name not in ('meta_publish')"
            ).fetchall()
        ]
        return {name: con.execute(f'select count(*) from main."{name}"').fetchone()[0] for name in names}  # noqa: S608
    finally:
        con.close()


# -- fast: ingest and publish killed at their crash points ----------------------------------------

SOURCE = "meter_readings"
FILES = sorted((FIXTURES / SOURCE).iterdir())


@pytest.fixture
def clean_ingest(tmp_path) -> LakePaths:
    """The same files ingested without interruption: what every rerun must end up with."""
    paths = LakePaths(tmp_path / "clean" / "lake")
    land(paths, SOURCE, *FILES)
    _ingest_in_process(paths, SOURCE)
    return paths


@pytest.mark.parametrize("crash_point", ["ingest.parsed_not_recorded", "ingest.partitions_half_written"])
def test_ingest_killed_leaves_no_partial_partition_and_the_rerun_matches(tmp_path, clean_ingest, crash_point):
    paths = LakePaths(tmp_path / "killed" / "lake")
    land(paths, SOURCE, *FILES)
    _crash_at([*INGEST_ONE_SOURCE, SOURCE], paths, crash_point)

    _assert_no_partial_partition(paths)
    if crash_point == "ingest.partitions_half_written":
        # Half the partitions are new, none is torn, and every day of the parsed files is still
        # pending: the rerun rewrites them all.
        assert (
            0
            < len(list(paths.raw_dir(SOURCE).glob("date=*/data.parquet")))
            < len(ingest.known_dates(SOURCE, paths))
        )
        assert set(ingest.pending_dates(SOURCE, paths)) == set(ingest.known_dates(SOURCE, paths))
    else:
        assert ingest.Catalog(paths, SOURCE).load() == []  # the parsed file was never recorded
        assert list(paths.parsed.glob(f"{SOURCE}/.*.tmp")) == []

    _ingest_in_process(paths, SOURCE)
    assert list(paths.root.rglob(".*.tmp")) == [], "the rerun removes what the killed writer left"
    assert ingest.pending_dates(SOURCE, paths) == []
    assert _comparable_report(paths, SOURCE).equals(_comparable_report(clean_ingest, SOURCE))
    assert _comparable_raw(paths, SOURCE).equals(_comparable_raw(clean_ingest, SOURCE))
    assert _comparable_report(paths, SOURCE)["balanced"].all()


def _fake_build_db(paths: LakePaths, version: int) -> None:
    """A stand-in for dbt's output: two contract tables whose contents say which build they are."""
    paths.warehouse.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(paths.build_db))
    try:
        con.execute(
            "create or replace table fct_example as select range as id, ? as build from range(1000)",
            [version],
        )
        con.execute("create or replace table dim_example as select ? as build", [version])
    finally:
        con.close()


def test_publish_killed_before_the_swap_keeps_the_last_good_serving_db(lake_paths):
    _fake_build_db(lake_paths, version=1)
    publish.publish(lake_paths)
    served = _sha(lake_paths.serving_db)
    exported = _sha(lake_paths.exports / "fct_example.parquet")

    _fake_build_db(lake_paths, version=2)
    _crash_at(["-c", "from sfe import publish; publish.publish()"], lake_paths, "publish.copied_not_swapped")

    assert _sha(lake_paths.serving_db) == served
    con = duckdb.connect(str(lake_paths.serving_db), read_only=True)
    assert con.execute("select distinct build from fct_example").fetchall() == [(1,)]
    con.close()
    # The exports belong to the served build, not to the one being published when it died.
    assert _sha(lake_paths.exports / "fct_example.parquet") == exported
    assert pl.read_parquet(lake_paths.exports / "dim_example.parquet")["build"].to_list() == [1]
    assert list(lake_paths.warehouse.glob(".*.tmp")), "the killed publish left its copy behind"

    publish.publish(lake_paths)
    con = duckdb.connect(str(lake_paths.serving_db), read_only=True)
    assert con.execute("select distinct build from fct_example").fetchall() == [(2,)]
    con.close()
    assert pl.read_parquet(lake_paths.exports / "dim_example.parquet")["build"].to_list() == [2]
    assert list(lake_paths.warehouse.glob(".*.tmp")) == [] and list(lake_paths.root.glob(".*.tmp")) == []


def _flip_bytes_inside(path: Path) -> None:
    """Damage a Parquet file where its footer still reads fine (a data page)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 3
    for k in range(middle, middle + 64):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))


def test_damaged_raw_files_are_named_and_refused(lake_paths):
    land(lake_paths, SOURCE, *FILES)
    _ingest_in_process(lake_paths, SOURCE)
    pipeline.check_raw_files(lake_paths)  # a sound lake passes

    flipped, truncated, *_ = sorted(lake_paths.raw_dir(SOURCE).glob("date=*/data.parquet"))
    _flip_bytes_inside(flipped)
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(pipeline.BuildFailed) as failure:
        pipeline.check_raw_files(lake_paths)
    message = str(failure.value)
    for path in (flipped, truncated):
        day = path.parent.name.removeprefix("date=")
        assert str(path) in message
        assert f"sfe ingest --source {SOURCE} --from {day} --to {day}" in message
    assert "checksum" in message and "nothing was built" in message

    # The named command rewrites each file from the parsed files.
    for path in (flipped, truncated):
        day = date.fromisoformat(path.parent.name.removeprefix("date="))
        ingest.build_partitions(SOURCE, [day], lake_paths)
    pipeline.check_raw_files(lake_paths)


def test_a_file_not_written_by_ingest_is_checked_by_its_footer(lake_paths):
    land(lake_paths, SOURCE, *FILES)
    _ingest_in_process(lake_paths, SOURCE)
    day_dir = sorted(lake_paths.raw_dir(SOURCE).glob("date=*"))[0]
    stray = day_dir / "extra.parquet"
    stray.write_bytes(b"PAR1 not really")
    damaged = ingest.damaged_raw_files(lake_paths)
    assert [(s, p) for s, p, _ in damaged] == [(SOURCE, stray)]
    assert "not a readable Parquet file" in damaged[0][2]


# -- slow: the real `sfe ingest` / `sfe build`, killed in ingest, in dbt and in publish ----------

# The template lake is built without its April files; each scenario then lands them, so that
# there is new work for ingest, dbt and publish to be killed in.
WITHHELD = "2025-04"


@pytest.fixture(scope="module")
def published_template(tmp_path_factory):
    """A small lake, built and published without its April files; the April files kept aside."""
    from sfe.generate import generate

    root = tmp_path_factory.mktemp("faults")
    paths = LakePaths(root / "template" / "lake")
    generate(paths, assets=8, days=12, start=date(2025, 3, 25), seed=11, progress=False)
    aside = root / "withheld"
    for path in sorted(paths.landing.rglob(f"*{WITHHELD}*")):
        target = aside / path.relative_to(paths.landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    assert list(aside.rglob("*")), "the generator's file names changed: nothing withheld"
    _run_sfe(paths, "build")
    return paths, aside


def _copy_lake(template: LakePaths, root: Path) -> LakePaths:
    shutil.copytree(template.root, root)
    # Dagster's run storage records the template's absolute paths; a copy starts its own.
    shutil.rmtree(root / "dagster_home", ignore_errors=True)
    return LakePaths(root)


def _land_withheld(paths: LakePaths, aside: Path) -> None:
    shutil.copytree(aside, paths.landing, dirs_exist_ok=True)


@pytest.fixture(scope="module")
def clean_rebuild(published_template, tmp_path_factory):
    """The template plus its April files, built without interruption: the expected end state."""
    template, aside = published_template
    paths = _copy_lake(template, tmp_path_factory.mktemp("clean") / "lake")
    _land_withheld(paths, aside)
    _run_sfe(paths, "build")
    return paths


def _assert_serving_unchanged(paths: LakePaths, served_sha: str, served_tables: dict[str, int]) -> None:
    assert _sha(paths.serving_db) == served_sha, "the serving DB changed although no build finished"
    assert _serving_tables(paths) == served_tables  # and it opens and reads


@pytest.mark.slow
def test_sfe_killed_in_ingest_in_dbt_and_in_publish_then_rerun_matches_a_clean_build(
    published_template, clean_rebuild, tmp_path
):
    template, aside = published_template
    paths = _copy_lake(template, tmp_path / "lake")
    served_sha, served_tables = _sha(paths.serving_db), _serving_tables(paths)
    _land_withheld(paths, aside)

    # 1. `sfe ingest`, killed between parsing a file and recording it, then half-way through
    #    writing partitions.
    for point in ("ingest.parsed_not_recorded", "ingest.partitions_half_written"):
        _crash_at(_sfe("ingest"), paths, point)
        _assert_no_partial_partition(paths)
        _assert_serving_unchanged(paths, served_sha, served_tables)

    # 2. `sfe build`, killed while dbt writes the build database.
    build_db_before = paths.build_db.stat().st_mtime_ns
    proc, _ = _start(_sfe("build"), paths)
    _wait_for(
        lambda: (
            paths.build_db.stat().st_mtime_ns != build_db_before
            or paths.build_db.with_name(paths.build_db.name + ".wal").exists()
        ),
        proc,
        "dbt to start writing the build database",
    )
    time.sleep(2)
    assert proc.poll() is None, "the build finished before it could be killed in dbt"
    _kill(proc)
    _assert_no_partial_partition(paths)
    _assert_serving_unchanged(paths, served_sha, served_tables)

    # 3. `sfe build`, killed in publish: the new DB is copied next to the serving one, not swapped.
    _crash_at(_sfe("build"), paths, "publish.copied_not_swapped")
    _assert_serving_unchanged(paths, served_sha, served_tables)

    # 4. The rerun completes and matches the build that was never interrupted.
    _run_sfe(paths, "build")
    assert _serving_tables(paths) == _serving_tables(clean_rebuild)
    assert _serving_tables(paths) != served_tables  # the April files did arrive
    for source_id in ingest.CONNECTORS:
        assert (
            _comparable_report(paths, source_id)
            .drop("sha256")
            .equals(_comparable_report(clean_rebuild, source_id).drop("sha256"))
        ), source_id
        assert ingest.pending_dates(source_id, paths) == []
    assert list(paths.raw.rglob(".*.tmp")) == [] and list(paths.warehouse.glob(".*.tmp")) == []


@pytest.mark.slow
def test_sfe_build_refuses_a_damaged_raw_file_and_keeps_serving(published_template, tmp_path):
    template, _ = published_template
    paths = _copy_lake(template, tmp_path / "lake")
    served_sha, served_tables = _sha(paths.serving_db), _serving_tables(paths)
    victim = sorted(paths.raw_dir(SOURCE).glob("date=*/data.parquet"))[1]
    _flip_bytes_inside(victim)

    failed = _run_sfe(paths, "build", expect_ok=False)
    assert failed.returncode != 0
    output = failed.stdout + failed.stderr
    day = victim.parent.name.removeprefix("date=")
    assert str(victim) in output and f"sfe ingest --source {SOURCE} --from {day} --to {day}" in output
    _assert_serving_unchanged(paths, served_sha, served_tables)

    _run_sfe(paths, "ingest", "--source", SOURCE, "--from", day, "--to", day)
    _run_sfe(paths, "build")
    assert _serving_tables(paths) == served_tables


def test_a_damaged_parsed_file_is_parsed_again_from_its_landing_file(lake_paths, clean_ingest):
    land(lake_paths, SOURCE, *FILES)
    ingest.scan_landing(SOURCE, lake_paths)
    damaged = sorted(lake_paths.parsed.glob(f"{SOURCE}/*.parquet"))[0]
    damaged.write_bytes(damaged.read_bytes()[:200])
    ingest.build_partitions(SOURCE, ingest.pending_dates(SOURCE, lake_paths), lake_paths)
    pl.read_parquet(damaged)  # repaired
    assert _comparable_raw(lake_paths, SOURCE).equals(_comparable_raw(clean_ingest, SOURCE))


def test_a_damaged_parsed_file_without_its_landing_file_is_named(lake_paths):
    land(lake_paths, SOURCE, *FILES)
    ingest.scan_landing(SOURCE, lake_paths)
    record = ingest.Catalog(lake_paths, SOURCE).load()[0]
    damaged = lake_paths.parsed / SOURCE / f"{record.sha256}.parquet"
    damaged.write_bytes(b"not parquet")
    (lake_paths.landing_dir(SOURCE) / record.file_name).unlink()
    with pytest.raises(ingest.DamagedParsedFile) as failure:
        ingest.build_partitions(SOURCE, ingest.known_dates(SOURCE, lake_paths), lake_paths)
    assert str(damaged) in str(failure.value) and record.file_name in str(failure.value)
