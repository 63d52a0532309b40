"""Incremental facts (docs/incremental.md): after a new day, a late file for an old day and revisions,
an incremental build gives exactly the fact tables a full rebuild of the same lake gives.

Real `pipeline.build` (Dagster in-process, dbt, DuckDB) on a small generated lake.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from sfe import pipeline
from sfe.config import DBT_PROJECT_DIR, LakePaths
from sfe.generate import generate

FACTS = ("fct_metering", "fct_dispatch", "fct_settlement")
START = date(2025, 1, 1)
LATE_DAY = START + timedelta(days=1)
REREAD_DAY = START + timedelta(days=4)


def _split_csv(path: Path, held: callable) -> list[dict]:
    """Remove the rows `held` selects from the CSV file; return them."""
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    kept, moved = [], []
    for row in reader:
        (moved if held(row) else kept).append(row)
    _write_csv(path, reader.fieldnames, kept)
    return moved


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def _split_jsonl(path: Path, held: callable) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows if not held(r)), encoding="utf-8")
    return [r for r in rows if held(r)]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _read_rows(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _hold_back_new_day(folder: Path, on_day, unit, also=lambda r: False) -> dict[Path, list[dict]]:
    """Remove the new day's rows (on_day) from the folder's files, except the first of each unit not
    seen on another day (and none that `also` selects); returns the removed rows per file."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".csv", ".jsonl"))
    seen_before = {unit(r) for p in files for r in _read_rows(p) if not on_day(r)}
    kept = set()

    def held(row: dict) -> bool:
        if not on_day(row):
            return False
        if also(row) or unit(row) in seen_before or unit(row) in kept:
            return True
        kept.add(unit(row))
        return False

    moved = {p: (_split_csv if p.suffix == ".csv" else _split_jsonl)(p, held) for p in files}
    return {p: rows for p, rows in moved.items() if rows}


def _day(timestamp: str) -> date:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).date()


def _facts(paths: LakePaths) -> dict[str, list[tuple]]:
    with duckdb.connect(str(paths.build_db), read_only=True) as con:
        return {
            name: sorted(con.execute(f"select * from main.{name}").fetchall(), key=repr) for name in FACTS
        }


def _changes(paths: LakePaths, fact: str) -> set[tuple[str, date | None]]:
    """The (source, day) pairs the fact's last build replaced; ('*', None) = every row."""
    with duckdb.connect(str(paths.build_db), read_only=True) as con:
        return set(
            con.execute(
                f'select source_id, partition_date from incremental_state."{fact}__changes"'
            ).fetchall()
        )


@pytest.mark.slow
def _dbt_node_kinds() -> set[str]:
    """Resource types the lake's last `dbt build` ran (its run_results.json)."""
    from pipelines.defs.warehouse.assets import dbt_target_path

    results = json.loads((dbt_target_path() / "run_results.json").read_text(encoding="utf-8"))
    return {node["unique_id"].split(".")[0] for node in results["results"]}


def test_incremental_build_equals_a_full_rebuild_after_new_late_and_revised_data(lake_paths):
    paths = lake_paths
    generate(paths, assets=20, days=10, start=START, seed=7, progress=False)
    landing = paths.landing_dir
    # UKPN publishes few dispatches: the new day is the last day with some (and with SO instructions).
    ukpn_days = {
        _day(r["start_time_local"])
        for path in landing("ukpn_flexibility_dispatches").glob("*.csv")
        for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    }
    instruction_days = {
        _day(json.loads(line)["start"])
        for path in landing("so_dispatch_instructions").glob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    new_day = max(ukpn_days & instruction_days - {START, LATE_DAY, REREAD_DAY})

    # Held back from the first build: the last day of every fact source, and one meter's readings of
    # an old day (they arrive late, in a file of their own).
    meter_file = next(landing("meter_readings").glob("*.csv"))
    new_meter_rows = _split_csv(meter_file, lambda r: _day(r["interval_start_utc"]) == new_day)
    late_mpan = new_meter_rows[0]["mpan"]
    late_meter_rows = _split_csv(
        meter_file, lambda r: r["mpan"] == late_mpan and _day(r["interval_start_utc"]) == LATE_DAY
    )
    meter_columns = list(new_meter_rows[0])
    # Of the other sources, the new day's rows of units seen before (so that the asset crosswalk and
    # the product mapping do not change, which would rebuild the facts whole).
    new_ukpn_rows = _hold_back_new_day(
        landing("ukpn_flexibility_dispatches"),
        on_day=lambda r: _day(r["start_time_local"]) == new_day,
        unit=lambda r: (r["fu_id"], r["product"]),
    )
    new_instructions = _hold_back_new_day(
        landing("so_dispatch_instructions"),
        on_day=lambda r: _day(r["start"]) == new_day,
        unit=lambda r: (r["system_operator"], r["asset_ref"], r["product"]),
    )
    held_instructions = {r["instruction_id"] for rows in new_instructions.values() for r in rows}
    new_lines = _hold_back_new_day(
        landing("so_settlement_statements"),
        on_day=lambda r: _day(r["period_start_utc"]) == new_day,
        unit=lambda r: (r["system_operator"], r["asset_ref"], r["mpan"], r["product"]),
        also=lambda r: r.get("dispatch_ref") in held_instructions,
    )
    assert new_meter_rows and late_meter_rows and new_instructions and new_lines
    template = next(r for p in landing("so_dispatch_instructions").glob("*.jsonl") for r in _read_rows(p))
    own_instructions = [
        {**template, "instruction_id": f"{template['instruction_id']}-T{n}", "status": "instructed"}
        for n in (1, 2)
    ]
    _write_jsonl(landing("so_dispatch_instructions") / "instructions_own.jsonl", own_instructions)

    pipeline.build()
    assert all(_changes(paths, fact) == {("*", None)} for fact in FACTS)  # the first build has no state
    first = _facts(paths)

    # The new day, each source's rows in a file of their own.
    stamp = new_day.isoformat()
    _write_csv(landing("meter_readings") / f"meter_readings_{stamp}.csv", meter_columns, new_meter_rows)
    for held in (new_ukpn_rows, new_instructions, new_lines):
        for path, rows in held.items():
            if path.suffix == ".csv":
                _write_csv(path.with_name(f"{path.stem}_{stamp}.csv"), list(rows[0]), rows)
            else:
                _write_jsonl(path.with_name(f"{path.stem}_{stamp}.jsonl"), rows)
    # Late: the held-back meter's readings of an old day.
    _write_csv(
        landing("meter_readings") / f"meter_readings_late_{LATE_DAY}.csv", meter_columns, late_meter_rows
    )
    # Revised: a meter re-read (the later file's reading wins) ...
    reread = [dict(r) for r in late_meter_rows[:1]]
    reread[0].update(interval_start_utc=f"{REREAD_DAY}T10:00:00Z", import_kwh="987.000", export_kwh="0.000")
    reread[0]["mpan"] = next(r["mpan"] for r in new_meter_rows if r["mpan"] != late_mpan)
    _write_csv(landing("meter_readings") / f"meter_readings_reread_{REREAD_DAY}.csv", meter_columns, reread)
    # ... an SO instruction revised (latest issued_at wins), another cancelled: both the test's own
    # instructions, landed before the first build (cancelling a generated one would orphan its
    # settlement line). Ingest's quality check refuses a revision in another day's partition.
    revised, cancelled = dict(own_instructions[0]), dict(own_instructions[1])
    revised.update(
        issued_at=(datetime.fromisoformat(revised["issued_at"]) + timedelta(hours=1)).isoformat(),
        setpoint=round(float(revised["setpoint"]) * 1.5 + 0.1, 3),
    )
    cancelled.update(
        issued_at=(datetime.fromisoformat(cancelled["issued_at"]) + timedelta(hours=1)).isoformat(),
        status="cancelled",
    )
    _write_jsonl(landing("so_dispatch_instructions") / "instructions_revisions.jsonl", [revised, cancelled])
    # ... and a settlement line re-issued in a later revision.
    statement_file = next(p for p in sorted(landing("so_settlement_statements").glob("*rev1.csv")))
    line = dict(next(csv.DictReader(io.StringIO(statement_file.read_text(encoding="utf-8-sig")))))
    line.update(revision="9", statement_date=(new_day + timedelta(days=30)).isoformat())
    _write_csv(statement_file.with_name("settlement_rev9.csv"), list(line), [line])

    pipeline.build()
    incremental = _facts(paths)
    # The dbt project is unchanged since its unit tests passed in the first build: not run again.
    assert "unit_test" not in _dbt_node_kinds(), "an incremental build of an unchanged project ran unit tests"
    assert "test" in _dbt_node_kinds()
    assert _changes(paths, "fct_metering") == {("meter_readings", d) for d in (LATE_DAY, REREAD_DAY, new_day)}
    for fact in ("fct_dispatch", "fct_settlement"):
        changes = _changes(paths, fact)
        assert ("*", None) not in changes and changes, f"{fact} was rebuilt whole: {changes}"
    assert incremental != first

    pipeline.build(full_refresh=True)
    assert all(_changes(paths, fact) == {("*", None)} for fact in FACTS)
    assert "unit_test" in _dbt_node_kinds(), "a full refresh did not run the unit tests"
    rebuilt = _facts(paths)
    for fact in FACTS:
        assert len(incremental[fact]) == len(rebuilt[fact]), fact
        assert incremental[fact] == rebuilt[fact], (
            f"{fact}: the incremental build differs from a full rebuild"
        )

    # The revisions are in force, so the comparison above covers them.
    with duckdb.connect(str(paths.build_db), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        dispatch = dict(con.execute("select dispatch_id, power_mw from fct_dispatch").fetchall())
        assert cancelled["instruction_id"] not in dispatch
        assert dispatch[revised["instruction_id"]] == pytest.approx(
            revised["setpoint"] / (1000 if revised["unit"].lower() == "kw" else 1)
        )
        assert con.execute(
            "select import_mwh from fct_metering where mpan = ? and start_utc = ?",
            [
                reread[0]["mpan"],
                datetime.fromisoformat(reread[0]["interval_start_utc"].replace("Z", "+00:00")),
            ],
        ).fetchone() == (0.987,)
        assert con.execute(
            "select revision from fct_settlement where statement_id = ? and line_id = ?",
            [line["statement_id"], line["line_id"]],
        ).fetchone() == (9,)

    # Tests on incremental runs check the rows not yet tested. A day whose tests have not passed stays in
    # scope: with a duplicate reading in such a day, the fact's uniqueness test fails (and __tested does
    # not move on) although nothing was rebuilt.
    with duckdb.connect(str(paths.build_db)) as con:
        con.execute(
            "insert into fct_metering select * from fct_metering where partition_date = ? limit 1", [new_day]
        )
        con.execute(
            'delete from incremental_state."fct_metering__tested" where partition_date = ?', [new_day]
        )
    dbt = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "build", "--select", "fct_metering", "--target-path",
         str(paths.root / "dbt_target"), "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
        capture_output=True, text=True, env={**os.environ, "SFE_LAKE_DIR": str(paths.root)},
    )  # fmt: skip
    assert dbt.returncode != 0 and "unique_combination_fct_metering" in dbt.stdout, dbt.stdout[-3000:]
    assert _changes(paths, "fct_metering") == set()
    with duckdb.connect(str(paths.build_db), read_only=True) as con:
        untested = con.execute(
            'select source_id, partition_date from incremental_state."fct_metering__untested"'
        )
        assert untested.fetchall() == [("meter_readings", new_day)]
        tested_days = con.execute(
            'select partition_date from incremental_state."fct_metering__tested"'
        ).fetchall()
        assert (new_day,) not in tested_days
