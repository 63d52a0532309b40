"""Great Expectations suites run as blocking checks: a failure stops the publish."""

from __future__ import annotations

import json

import pytest

from sfe import build_status, ingest, pipeline, quality
from sfe.sources import CONNECTORS

from .conftest import FIXTURES, land


@pytest.mark.parametrize("source_id", sorted(CONNECTORS))
def test_every_source_has_a_suite_naming_real_columns(source_id):
    specs = quality.load_suite(source_id)
    assert specs, f"expectations/{source_id}.json is missing or empty"
    columns = set(CONNECTORS[source_id].empty_frame().columns)
    for spec in specs:
        named = [spec["kwargs"].get(k) for k in ("column", "column_A", "column_B")]
        named += spec["kwargs"].get("column_list", [])
        assert {n for n in named if n} <= columns, spec


def test_suite_passes_on_good_rows_and_names_the_failure(lake_paths):
    land(lake_paths, "neso_eac_results", FIXTURES / "neso_eac_results" / "eac_results_FY2025.csv")
    ingest.scan_landing("neso_eac_results", lake_paths)
    ingest.build_partitions(
        "neso_eac_results", ingest.known_dates("neso_eac_results", lake_paths), lake_paths
    )
    import polars as pl

    rows = pl.read_parquet(lake_paths.raw_dir("neso_eac_results") / "date=*" / "data.parquet")
    assert quality.validate("neso_eac_results", rows).success
    broken = rows.with_columns(pl.lit(99999.0).alias("clearedVolume"))
    result = quality.validate("neso_eac_results", broken)
    assert not result.success
    assert "clearedVolume" in result.summary() and "99999" in result.summary()


def test_failing_blocking_check_stops_the_build_and_is_reported(lake_paths, tmp_path, monkeypatch):
    suites = tmp_path / "expectations"
    suites.mkdir()
    (suites / "neso_eac_results.json").write_text(
        json.dumps(
            {
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "clearedVolume", "min_value": 0, "max_value": 10},
                    }
                ]
            }
        )
    )
    monkeypatch.setattr(quality, "EXPECTATIONS_DIR", suites)
    land(lake_paths, "neso_eac_results", FIXTURES / "neso_eac_results" / "eac_results_FY2025.csv")
    with pytest.raises(pipeline.BuildFailed, match="great_expectations|clearedVolume"):
        pipeline.build()
    assert not lake_paths.serving_db.exists()
    status = build_status.read(lake_paths)
    assert status.status == "failed" and "neso_eac_results" in status.message
    assert list((lake_paths.root / "quality" / "neso_eac_results").glob("*.json"))


def test_sample_of_files_is_uniform_distinct_and_reads_one_file_at_a_time(tmp_path):
    import polars as pl

    files = []
    for day in range(10):  # 10 files of 1,000 rows: ids 0..9999
        path = tmp_path / f"date={day}.parquet"
        pl.DataFrame({"id": range(day * 1000, day * 1000 + 1000)}).write_parquet(path)
        files.append(path)

    sample = quality.sample_of(files, n=2_000, seed=1)
    ids = sample["id"]
    assert ids.len() == 2_000 and ids.n_unique() == 2_000 and ids.min() >= 0 and ids.max() < 10_000
    per_file = (ids // 1000).value_counts()["count"]
    assert per_file.len() == 10 and per_file.min() > 120  # ~200 from every file, none skipped
    assert quality.sample_of(files, n=2_000, seed=1).equals(sample)  # deterministic
    assert quality.sample_of(files[:1], n=2_000)["id"].to_list() == list(range(1000))  # fewer: all rows
