"""The `sfe` command: clear errors, non-zero exits, per-file counts."""

from __future__ import annotations

import duckdb
from click.testing import CliRunner

from sfe.cli import main

from .conftest import FIXTURES


def test_ingest_copies_into_landing_and_prints_per_file_counts(lake_paths):
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "ingest",
            str(FIXTURES / "neso_eac_results" / "eac_results_FY2025.csv"),
            "--source",
            "neso_eac_results",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (lake_paths.landing_dir("neso_eac_results") / "eac_results_FY2025.csv").exists()
    assert "in 11 = loaded 8 + duplicates 0 + superseded 0 + quarantined 3" in result.output
    assert list(lake_paths.raw_dir("neso_eac_results").glob("date=*/data.parquet"))
    # Ingesting the same file again changes nothing and says so.
    again = runner.invoke(
        main,
        [
            "ingest",
            str(FIXTURES / "neso_eac_results" / "eac_results_FY2025.csv"),
            "--source",
            "neso_eac_results",
        ],
    )
    assert again.exit_code == 0 and "in 11 = loaded 8" in again.output
    assert len(list(lake_paths.landing_dir("neso_eac_results").iterdir())) == 1


def test_ingest_reports_a_quarantined_file(lake_paths, tmp_path):
    bad = tmp_path / "semicolons.csv"
    bad.write_text("a;b;c\n1;2;3\n")
    result = CliRunner().invoke(main, ["ingest", str(bad), "--source", "ukpn_flexibility_dispatches"])
    assert result.exit_code == 0
    assert "QUARANTINED" in result.output and "delimiter" in result.output


def test_ingest_errors_are_clear_and_non_zero(lake_paths, tmp_path):
    runner = CliRunner()
    unknown = runner.invoke(main, ["ingest", str(tmp_path / "x.csv"), "--source", "nope"])
    assert unknown.exit_code == 1 and "unknown source 'nope'" in unknown.output
    missing = runner.invoke(main, ["ingest", str(tmp_path / "missing.csv"), "--source", "neso_eac_results"])
    assert missing.exit_code == 1 and "no such file" in missing.output
    no_source = runner.invoke(main, ["ingest", str(tmp_path / "x.csv")])
    assert no_source.exit_code == 1 and "--source" in no_source.output
    dates = runner.invoke(main, ["ingest", "--source", "neso_eac_results", "--from", "2025-02-01"])
    assert dates.exit_code == 1 and "go together" in dates.output


def test_sql_before_any_build_says_what_to_do(lake_paths):
    result = CliRunner().invoke(main, ["sql", "select 1"])
    assert result.exit_code == 1 and "sfe build" in result.output


def test_sql_is_read_only(lake_paths):
    lake_paths.warehouse.mkdir(parents=True)
    con = duckdb.connect(str(lake_paths.serving_db))
    con.execute("create table t as select 42 as answer, '=cmd()' as text")
    con.close()
    runner = CliRunner()
    ok = runner.invoke(main, ["sql", "select answer from t"])
    assert ok.exit_code == 0 and "42" in ok.output
    csv = runner.invoke(main, ["sql", "select * from t", "--format", "csv"])
    assert "'=cmd()" in csv.output  # formula injection escaped
    write = runner.invoke(main, ["sql", "drop table t"])
    assert write.exit_code == 1 and "read-only" in write.output.lower()
    bad = runner.invoke(main, ["sql", "select * from no_such_table"])
    assert bad.exit_code == 1 and "no_such_table" in bad.output


def test_sources_lists_every_known_source():
    result = CliRunner().invoke(main, ["sources"])
    assert result.exit_code == 0
    for source_id in ("neso_eac_results", "meter_readings", "dno_flex_competitions"):
        assert source_id in result.output


def test_backfill_rewrites_exactly_the_given_days(lake_paths):
    runner = CliRunner()
    source = FIXTURES / "neso_eac_results" / "eac_results_FY2025.csv"
    assert runner.invoke(main, ["ingest", str(source), "--source", "neso_eac_results"]).exit_code == 0
    partition = lake_paths.raw_dir("neso_eac_results") / "date=2025-03-30" / "data.parquet"
    other = lake_paths.raw_dir("neso_eac_results") / "date=2025-10-26" / "data.parquet"
    partition.unlink()
    other.unlink()
    result = runner.invoke(
        main, ["ingest", "--source", "neso_eac_results", "--from", "2025-03-30", "--to", "2025-03-30"]
    )
    assert result.exit_code == 0, result.output
    assert "1 daily partitions written" in result.output
    assert partition.exists() and not other.exists()


def test_a_ranged_ingest_reports_files_with_days_outside_the_range_as_partial(lake_paths):
    runner = CliRunner()
    source = FIXTURES / "neso_eac_results" / "eac_results_FY2025.csv"
    ranged = runner.invoke(
        main,
        ["ingest", str(source), "--source", "neso_eac_results", "--from", "2025-03-30", "--to", "2025-03-30"],
    )
    assert ranged.exit_code == 0, ranged.output  # a month-by-month backfill is not a failure
    assert "(partial: " in ranged.output and "UNBALANCED" not in ranged.output
    assert "`sfe ingest --source neso_eac_results` or `sfe build` writes them" in ranged.output

    rest = runner.invoke(main, ["ingest", "--source", "neso_eac_results"])
    assert rest.exit_code == 0, rest.output
    assert "partial" not in rest.output and "pending day" not in rest.output
