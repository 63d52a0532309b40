"""The fast paths of ingest give exactly what the straightforward computation gives.

Ingest reads numbers with the CSV reader, canonicalises only the columns that need it, flags
duplicates by hash, sorts by packed keys and builds from frames kept in memory; each is checked
here against the plain computation it replaces, on generated and randomised inputs.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from sfe import ingest
from sfe.config import LakePaths
from sfe.sources import CONNECTORS, connector
from sfe.sources.base import PARTITION_COLUMN, canonical_text, read_csv_text
from tests.conftest import FIXTURES, land

# -- duplicates, versions and order ---------------------------------------------------------------


def _reference_outcomes(natural_key, version_column, dedupe_columns, rows: pl.DataFrame):
    """The rule as first written: per day, first occurrence wins; greatest (version, file, row)
    of a natural key is loaded, the other distinct rows are superseded."""
    loaded, logs = [], []
    for (day,), frame in rows.partition_by(PARTITION_COLUMN, as_dict=True).items():
        frame = frame.sort("__seq", "source_row")
        frame = frame.with_columns(pl.struct(list(dedupe_columns)).is_first_distinct().alias("__first"))
        unique = frame.filter("__first")
        if natural_key:
            order = [version_column, "__seq"] if version_column else ["__seq"]
            unique = unique.sort([*order, "source_row"], descending=True, nulls_last=True).with_columns(
                pl.struct(list(natural_key)).is_first_distinct().alias("__winner")
            )
        else:
            unique = unique.with_columns(pl.lit(True).alias("__winner"))
        flagged = frame.join(
            unique.select("__seq", "source_row", "__winner"), on=["__seq", "source_row"], how="left"
        )
        outcome = (
            pl.when(~pl.col("__first"))
            .then(pl.lit("duplicate"))
            .when(pl.col("__winner"))
            .then(pl.lit("loaded"))
            .otherwise(pl.lit("superseded"))
        )
        flagged = flagged.with_columns(outcome.alias("__outcome"))
        loaded.append(flagged.filter(pl.col("__outcome") == "loaded").select(rows.columns))
        logs.append(
            flagged.group_by("source_file_sha256")
            .agg(
                (pl.col("__outcome") == kind).sum().cast(pl.Int64).alias(name)
                for kind, name in (
                    ("loaded", "loaded"),
                    ("duplicate", "duplicates"),
                    ("superseded", "superseded"),
                )
            )
            .with_columns(pl.lit(day).alias(PARTITION_COLUMN))
        )
    return pl.concat(loaded), pl.concat(logs)


class _Rule:
    def __init__(self, natural_key, version_column):
        self.natural_key, self.version_column = natural_key, version_column

    def dedupe_columns(self):
        return ("k", "v", "x")


def _random_rows(rng: random.Random, n: int) -> pl.DataFrame:
    rows = pl.DataFrame(
        {
            PARTITION_COLUMN: [date(2025, 1, rng.randint(1, 3)) for _ in range(n)],
            "k": [rng.choice(["a", "b", None]) for _ in range(n)],
            "v": [rng.choice([1, 2, 3, None]) for _ in range(n)],
            "x": [rng.choice([0.0, -0.0, float("nan"), 1.5, None]) for _ in range(n)],
            "__seq": sorted(rng.randint(1, 4) for _ in range(n)),
        },
        schema={PARTITION_COLUMN: pl.Date, "k": pl.String, "v": pl.Int64, "x": pl.Float64, "__seq": pl.Int64},
    )
    return rows.with_columns(
        (pl.int_range(pl.len()) + 1).over("__seq").cast(pl.Int64).alias("source_row"),
        pl.col("__seq").cast(pl.String).alias("source_file_sha256"),
    )


def test_row_hashes_are_equal_for_equal_rows_and_tell_swapped_values_apart():
    """Rows equal value by value (0.0 and -0.0, NaN and NaN, null and null) hash alike, which the
    duplicate flags rely on; values swapped between columns do not."""
    rows = _random_rows(random.Random(5), 400)
    columns = [PARTITION_COLUMN, "k", "v", "x"]
    hashes, key_hashes = ingest._row_hashes(rows, columns, ["k"])
    assert hashes.dtype == key_hashes.dtype == pl.UInt64
    # As many distinct hashes as distinct rows, and rows of one hash all equal: no collision here.
    assert hashes.n_unique() == rows.select(pl.struct(columns).n_unique()).item()
    assert rows.group_by(hashes.alias("h")).agg(pl.struct(columns).n_unique().alias("n"))["n"].max() == 1
    assert key_hashes.n_unique() == rows["k"].n_unique()
    floats = pl.DataFrame({"a": [0.0, -0.0, float("nan"), float("nan"), None, None]})
    assert (
        ingest._row_hashes(floats, ["a"])[0].to_list()[::2]
        == ingest._row_hashes(floats, ["a"])[0].to_list()[1::2]
    )
    (swapped,) = ingest._row_hashes(pl.DataFrame({"a": [1, 2], "b": [2, 1]}), ["a", "b"])
    assert swapped.n_unique() == 2


@pytest.mark.parametrize("colliding_hashes", [False, True])
def test_outcomes_equal_the_rule_as_written(monkeypatch, colliding_hashes):
    if colliding_hashes:  # every row hashes alike: the full comparison must decide everything
        monkeypatch.setattr(
            ingest,
            "_row_hashes",
            lambda df, *sets: tuple(pl.Series([0] * df.height, dtype=pl.UInt64) for _ in sets),
        )
    rng = random.Random(1)
    for trial in range(150):
        natural_key = rng.choice([(), ("k",), ("k", "x")])
        rule = _Rule(natural_key, rng.choice([None, "v"]) if natural_key else None)
        rows = _random_rows(rng, rng.randint(1, 60))
        if trial % 3 == 0:
            rows = rows.sample(fraction=1.0, shuffle=True, seed=trial)
        ordered, loaded_flag, log = ingest._outcomes(rule, rows)
        expected_loaded, expected_log = _reference_outcomes(
            rule.natural_key, rule.version_column, (PARTITION_COLUMN, *rule.dedupe_columns()), rows
        )
        key = [PARTITION_COLUMN, "__seq", "source_row"]
        assert ordered.filter(loaded_flag).sort(key).equals(expected_loaded.sort(key)), trial
        by = [PARTITION_COLUMN, "source_file_sha256"]
        assert log.sort(by).equals(expected_log.select(log.columns).sort(by)), trial


def test_outcomes_of_rows_with_distinct_keys_skip_the_record_comparison(monkeypatch):
    """New data (every natural key once per day) is all loaded on the key hash alone; a repeated
    key or a key outside the record still takes the full path. Both equal the rule as written."""
    full_path = []
    distinct_mask = ingest._distinct_mask
    monkeypatch.setattr(
        ingest, "_distinct_mask", lambda *a, **k: full_path.append(1) or distinct_mask(*a, **k)
    )
    rng = random.Random(3)
    for trial in range(60):
        rows = _random_rows(rng, rng.randint(1, 80)).with_columns(
            pl.int_range(pl.len()).cast(pl.String).alias("k")  # unique keys
        )
        repeat_a_key = trial % 2 == 1 and rows.height > 1
        if repeat_a_key:
            rows = rows.with_columns(
                pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("0")).otherwise("k").alias("k")
            )
            rows = rows.with_columns(pl.lit(date(2025, 1, 1)).alias(PARTITION_COLUMN))  # the same day
        rule = _Rule(("k",), rng.choice([None, "v"]))
        full_path.clear()
        ordered, loaded_flag, log = ingest._outcomes(rule, rows)
        assert bool(full_path) == repeat_a_key, trial
        expected_loaded, expected_log = _reference_outcomes(
            rule.natural_key, rule.version_column, (PARTITION_COLUMN, *rule.dedupe_columns()), rows
        )
        key = [PARTITION_COLUMN, "__seq", "source_row"]
        assert ordered.filter(loaded_flag).sort(key).equals(expected_loaded.sort(key)), trial
        by = [PARTITION_COLUMN, "source_file_sha256"]
        assert log.sort(by).equals(expected_log.select(log.columns).sort(by)), trial


def test_sort_permutation_equals_sorting_the_keys():
    rng = random.Random(2)
    for trial in range(150):
        n = rng.randint(1, 300)
        step = rng.choice([1, 60, 1800])  # seconds, minutes or half hours apart
        at = [
            datetime(2025, 1, 1, tzinfo=UTC)
            + timedelta(seconds=step * rng.randint(-10, 10**7 // step), microseconds=rng.choice([0, 0, 7]))
            for _ in range(n)
        ]
        if trial % 2:
            at = [t.replace(microsecond=0) for t in at]
        df = pl.DataFrame(
            {
                "day": [date(2025, 1, 1) + timedelta(days=rng.randint(0, 40)) for _ in range(n)],
                "at": at,
                "at_copy": at,  # e.g. deliveryStart under interval_start_utc
                "text": [rng.choice(["b", "a", "ab", "", None, "é"]) for _ in range(n)],
                "maybe": [rng.choice([None, -5, 3]) for _ in range(n)],
                "one_value": [rng.choice(["only"] if trial % 3 else ["only", None]) for _ in range(n)],
                "one_number": [7] * n,
                "row": rng.sample(range(10**6), n),
            }
        )
        keys = rng.sample(
            ["day", "at", "at_copy", "text", "maybe", "one_value", "one_number"], rng.randint(1, 7)
        )
        keys += ["row"]
        expected = df.with_row_index("i").sort(keys)["i"]
        assert ingest._sort_permutation(df, keys).cast(pl.UInt32).equals(expected.cast(pl.UInt32)), (
            trial,
            keys,
        )


# -- reading -----------------------------------------------------------------------------------------


def _parse_both_ways(source_id: str, path: Path):
    src = connector(source_id)
    kwargs = {"source_file": path.name, "sha256": "x", "ingested_at": datetime(2026, 1, 1, tzinfo=UTC)}
    native = src._parse_csv_numbers_natively(path, path.read_bytes(), **kwargs)
    text = src._parse_text(path, None, **kwargs)
    return native, text


@pytest.fixture(scope="module")
def generated_landing(tmp_path_factory) -> LakePaths:
    from sfe.generate import generate

    paths = LakePaths(tmp_path_factory.mktemp("generated") / "lake")
    generate(paths, assets=8, days=12, start=date(2025, 3, 25), seed=4, progress=False)
    return paths


@pytest.mark.parametrize(
    "source_id", sorted(s for s, src in CONNECTORS.items() if ".csv" in src.file_extensions)
)
def test_numbers_read_by_the_csv_reader_equal_the_text_parse(source_id, generated_landing):
    files = sorted(FIXTURES.joinpath(source_id).glob("*.csv"))
    files += sorted(generated_landing.landing_dir(source_id).glob("*.csv"))
    natively = 0
    for path in files:
        native, text = _parse_both_ways(source_id, path)
        if native is None:  # a file with a bad row takes the text parse, which names each one
            assert text.quarantined.height > 0, path
            continue
        natively += 1
        assert text.quarantined.is_empty()
        assert native.rows.equals(text.rows) and native.rows_in == text.rows_in, path
    assert natively, "no file took the native path"


def test_a_bad_number_sends_the_file_to_the_text_parse(tmp_path):
    source = FIXTURES / "neso_eac_results" / "eac_results_FY2025.csv"
    lines = source.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("clearingPrice")] = "1.2.3"
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    native, text = _parse_both_ways("neso_eac_results", broken)
    assert native is None
    first_row = text.quarantined.filter(pl.col("source_row") == 1)
    assert first_row.select("field", "value", "reason").rows() == [
        ("clearingPrice", "1.2.3", "cannot read clearingPrice as decimal")
    ]


def test_only_padded_columns_are_stripped_and_the_result_is_canonical(tmp_path):
    path = tmp_path / "padded.csv"
    path.write_bytes(b"a,b,c\r\nx , 1,\r\n  ,2,z\r\n")
    table = read_csv_text(path)
    assert table.rows() == [("x", "1", None), (None, "2", "z")]
    assert table.equals(canonical_text(pl.read_csv(path, infer_schema=False)))
    tabbed = tmp_path / "tabbed.csv"
    tabbed.write_bytes(b"a,b\n\tx,1\n")  # a tab: every column goes through the full strip
    assert read_csv_text(tabbed).rows() == [("x", "1")]


# -- the lake --------------------------------------------------------------------------------------


def _ingest(paths: LakePaths, source_id: str) -> None:
    ingest.scan_landing(source_id, paths)
    ingest.build_partitions(source_id, ingest.pending_dates(source_id, paths), paths)


def test_building_from_memory_writes_the_same_partitions(tmp_path):
    source_id = "meter_readings"
    files = sorted((FIXTURES / source_id).iterdir())
    on_disk, in_memory = LakePaths(tmp_path / "disk"), LakePaths(tmp_path / "memory")
    for paths in (on_disk, in_memory):
        land(paths, source_id, *files)
    _ingest(on_disk, source_id)
    with ingest.parsed_in_memory():
        _ingest(in_memory, source_id)
    partitions = sorted(p.relative_to(on_disk.raw) for p in on_disk.raw.rglob("date=*/data.parquet"))
    assert partitions == sorted(
        p.relative_to(in_memory.raw) for p in in_memory.raw.rglob("date=*/data.parquet")
    )
    for partition in partitions:
        a, b = pl.read_parquet(on_disk.raw / partition), pl.read_parquet(in_memory.raw / partition)
        assert a.drop("ingested_at").equals(b.drop("ingested_at")), partition


@pytest.mark.parametrize("source_id", ["meter_readings", "neso_eac_results", "so_settlement_statements"])
def test_a_build_in_groups_of_days_equals_one_build(tmp_path, monkeypatch, source_id):
    """A large backfill is built a few days at a time (bounded memory): same partitions, logs,
    manifest and counts as building every day at once, duplicates and republications included."""
    files = sorted((FIXTURES / source_id).iterdir())
    whole, grouped = LakePaths(tmp_path / "whole"), LakePaths(tmp_path / "grouped")
    outcomes = {}
    for paths in (whole, grouped):
        land(paths, source_id, *files)
        ingest.scan_landing(source_id, paths)
        days = ingest.known_dates(source_id, paths)
        if paths is grouped:
            monkeypatch.setattr(ingest, "_BUILD_CHUNK_ROWS", 5)
            records = [(r, None) for r in ingest.Catalog(paths, source_id).load() if r.status == "parsed"]
            assert len(ingest._day_chunks(records, days)) > 1
        outcomes[paths] = ingest.build_partitions(source_id, days, paths)
    assert outcomes[grouped] == outcomes[whole]
    written = sorted(
        p.relative_to(whole.root)
        for p in whole.root.rglob("*.parquet")
        if "raw" in p.parts or "ingest_log" in p.parts
    )
    assert written == sorted(
        p.relative_to(grouped.root)
        for p in grouped.root.rglob("*.parquet")
        if "raw" in p.parts or "ingest_log" in p.parts
    )
    for path in written:
        a, b = pl.read_parquet(whole.root / path), pl.read_parquet(grouped.root / path)
        assert a.drop("ingested_at", strict=False).equals(b.drop("ingested_at", strict=False)), path
    rows = {
        p: {d: r["rows"] for d, r in ingest.partition_manifest(p, source_id).items()}
        for p in (whole, grouped)
    }
    assert rows[grouped] == rows[whole] and rows[whole]
    assert ingest.file_report(source_id, grouped)["balanced"].all()
    assert ingest.pending_dates(source_id, grouped) == []


def test_unchanged_landing_files_are_not_read_again_and_changed_ones_are(lake_paths, monkeypatch):
    source_id = "neso_eac_results"
    (first,) = land(lake_paths, source_id, FIXTURES / source_id / "eac_results_FY2025.csv")
    _ingest(lake_paths, source_id)
    hashed: list[Path] = []  # the files read
    real = ingest._read_landing
    monkeypatch.setattr(ingest, "_read_landing", lambda path: hashed.append(path) or real(path))

    assert ingest.scan_landing(source_id, lake_paths) == [] and hashed == []
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 10**9))  # touched only
    assert ingest.scan_landing(source_id, lake_paths) == [] and hashed == [first]
    assert ingest.scan_landing(source_id, lake_paths) == [] and hashed == [first]  # remembered
    first.write_bytes(first.read_bytes().replace(b"DCL", b"DCH", 1))  # changed
    (record,) = ingest.scan_landing(source_id, lake_paths)
    assert record.file_name == first.name and record.status == "parsed"


def test_only_the_days_of_new_files_are_pending(lake_paths):
    source_id = "meter_readings"
    march, _resend, october = sorted((FIXTURES / source_id).iterdir())
    land(lake_paths, source_id, march)
    ingest.scan_landing(source_id, lake_paths)
    march_days = ingest.pending_dates(source_id, lake_paths)
    assert march_days and all(d.month == 3 for d in march_days)
    ingest.build_partitions(source_id, march_days, lake_paths)
    assert ingest.pending_dates(source_id, lake_paths) == []

    land(lake_paths, source_id, october)
    ingest.scan_landing(source_id, lake_paths)
    assert {d.month for d in ingest.pending_dates(source_id, lake_paths)} == {10}
    # Writing some of the days leaves the others pending.
    first_day, *rest = ingest.pending_dates(source_id, lake_paths)
    ingest.build_partitions(source_id, [first_day], lake_paths)
    assert ingest.pending_dates(source_id, lake_paths) == rest


def test_pending_days_become_few_dagster_runs():
    from sfe.pipeline import BRIDGE_GAP_DAYS, day_ranges

    start = date(2025, 1, 1)
    days = [start + timedelta(days=n) for n in (0, 1, 5)]
    assert day_ranges(days) == [(days[0], days[-1])]  # short gaps are rewritten, not split
    far = start + timedelta(days=BRIDGE_GAP_DAYS + 10)
    assert day_ranges([start, far]) == [(start, start), (far, far)]
    many = [start + timedelta(days=n * (BRIDGE_GAP_DAYS + 1) * 2) for n in range(6)]
    ranges = day_ranges(many, max_ranges=3)
    assert len(ranges) == 3 and ranges[0][0] == many[0] and ranges[-1][1] == many[-1]
    assert all(any(first <= d <= last for first, last in ranges) for d in many)
    assert day_ranges([]) == []
