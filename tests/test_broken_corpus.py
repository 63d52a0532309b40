"""The generator's corpus of deliberately broken files: each ends with a clear quarantine reason,
and every good file around them is ingested and balanced."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from sfe import ingest
from sfe.generate import generate
from sfe.sources import CONNECTORS


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from sfe.config import LakePaths

    paths = LakePaths(tmp_path_factory.mktemp("broken") / "lake")
    generate(paths, assets=10, days=20, start=date(2025, 3, 20), seed=5, broken=True, progress=False)
    for source_id in CONNECTORS:
        ingest.scan_landing(source_id, paths)
        ingest.build_partitions(source_id, ingest.known_dates(source_id, paths), paths)
    manifest = json.loads((paths.generated / "manifest.json").read_text())
    return paths, manifest


def _report(paths) -> pl.DataFrame:
    reports = [ingest.file_report(s, paths) for s in [*CONNECTORS, ingest.UNKNOWN_SOURCE]]
    return pl.concat(reports, how="vertical_relaxed").with_columns(
        # file_name is relative to landing/<source>/ for known sources, to landing/ for unknown ones.
        pl.when(pl.col("file_name").str.contains("/"))
        .then(pl.lit("landing/") + pl.col("file_name"))
        .otherwise(pl.lit("landing/") + pl.col("source_id") + "/" + pl.col("file_name"))
        .alias("path")
    )


def test_corpus_has_at_least_15_kinds(corpus):
    _, manifest = corpus
    assert len({b["kind"] for b in manifest["broken_files"]}) >= 15


def test_every_broken_file_ends_with_a_clear_reason(corpus):
    paths, manifest = corpus
    report = _report(paths)
    for broken in manifest["broken_files"]:
        row = report.filter(pl.col("path") == broken["path"])
        assert row.height == 1, broken
        record = row.row(0, named=True)
        if broken["scope"] == "file":
            assert record["status"] == "rejected", (broken, record)
            assert record["reason"] and len(record["reason"]) > 15, record
        else:
            assert record["status"] == "parsed", (broken, record)
            assert record["rows_quarantined"] == broken["bad_rows"], (broken, record)
            assert record["balanced"], record


def test_quarantined_rows_name_file_row_field_and_reason(corpus):
    paths, _ = corpus
    rows = pl.concat(
        [pl.read_parquet(p) for p in sorted(paths.quarantine.glob("*/rows/*.parquet"))],
        how="vertical_relaxed",
    )
    assert rows.height >= 7
    assert rows["source_file"].str.starts_with("broken_").all()
    assert rows["source_row"].is_not_null().all() and (rows["source_row"] >= 1).all()
    assert rows["field"].is_not_null().all() and rows["reason"].str.len_chars().min() > 10


def test_good_files_still_load_and_balance(corpus):
    paths, manifest = corpus
    report = _report(paths)
    broken_paths = {b["path"] for b in manifest["broken_files"]}
    good = report.filter(~pl.col("path").is_in(list(broken_paths)))
    assert good.height == len(manifest["files"])
    assert (good["status"] == "parsed").all()
    assert good["balanced"].all()
    assert good["rows_quarantined"].sum() == 0
