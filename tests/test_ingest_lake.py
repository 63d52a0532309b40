"""Lake-level guarantees: idempotence, nothing lost, atomic writes, whole-file quarantine."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

from sfe import ingest

from .conftest import FIXTURES, land

SOURCE = "ukpn_flexibility_dispatches"


def _digest(root) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def test_reingest_and_rematerialise_change_nothing(lake_paths):
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "ukpn_dispatches_2025.csv")
    ingest.scan_landing(SOURCE, lake_paths)
    days = ingest.known_dates(SOURCE, lake_paths)
    ingest.build_partitions(SOURCE, days)
    before = _digest(lake_paths.raw)
    assert ingest.scan_landing(SOURCE, lake_paths) == []  # nothing new
    ingest.build_partitions(SOURCE, days, lake_paths)
    assert _digest(lake_paths.raw) == before
    # The same bytes under another name count as one file of duplicates.
    (lake_paths.landing_dir(SOURCE) / "copy.csv").write_bytes(
        (FIXTURES / SOURCE / "ukpn_dispatches_2025.csv").read_bytes()
    )
    new = ingest.scan_landing(SOURCE, lake_paths)
    assert [r.status for r in new] == ["duplicate_file"]
    ingest.build_partitions(SOURCE, days, lake_paths)
    assert _digest(lake_paths.raw) == before
    report = ingest.file_report(SOURCE, lake_paths)
    assert report["balanced"].all()
    assert report.filter(pl.col("file_name") == "copy.csv")["duplicates"].to_list() == [8]


def test_no_temp_files_left_and_partitions_are_complete(lake_paths):
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "ukpn_dispatches_2025.csv")
    ingest.scan_landing(SOURCE, lake_paths)
    ingest.build_partitions(SOURCE, ingest.known_dates(SOURCE, lake_paths), lake_paths)
    assert not [p for p in lake_paths.root.rglob("*") if p.name.endswith(".tmp")]
    total = pl.read_parquet(lake_paths.raw_dir(SOURCE) / "date=*" / "data.parquet").height
    assert total == ingest.file_report(SOURCE, lake_paths)["loaded"].sum() == 6


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"a;b;c\n1;2;3\n", "delimiter"),
        (b"foo,bar\n1,2\n", "unknown header"),
        (b"company_name,fu_id\n\xff\xfe\x00garbage\n", "UTF-8"),
    ],
)
def test_broken_files_are_quarantined_with_a_reason(lake_paths, content, reason):
    target = lake_paths.landing_dir(SOURCE)
    target.mkdir(parents=True)
    (target / "broken.csv").write_bytes(content)
    land(lake_paths, SOURCE, FIXTURES / SOURCE / "ukpn_dispatches_2025.csv")
    ingest.scan_landing(SOURCE, lake_paths)
    report = ingest.file_report(SOURCE, lake_paths)
    broken = report.filter(pl.col("file_name") == "broken.csv").row(0, named=True)
    assert broken["status"] == "rejected" and reason in broken["reason"]
    assert report.filter(pl.col("file_name") != "broken.csv")["status"].to_list() == ["parsed"]


def test_truncated_last_line_is_named(lake_paths):
    text = (FIXTURES / SOURCE / "ukpn_dispatches_2025.csv").read_bytes()
    target = lake_paths.landing_dir(SOURCE)
    target.mkdir(parents=True)
    (target / "cut.csv").write_bytes(text[: text.rindex(b",epex,")])
    ingest.scan_landing(SOURCE, lake_paths)
    record = ingest.file_report(SOURCE, lake_paths).row(0, named=True)
    assert record["status"] == "rejected" and "truncated last line" in record["reason"]


def test_header_only_file_is_rejected(lake_paths):
    target = lake_paths.landing_dir("neso_eac_results")
    target.mkdir(parents=True)
    (target / "empty.csv").write_text(
        "_id,auctionID,auctionProduct,serviceType,deliveryStart,deliveryEnd,clearedVolume,clearingPrice\n"
    )
    ingest.scan_landing("neso_eac_results", lake_paths)
    record = ingest.file_report("neso_eac_results", lake_paths).row(0, named=True)
    assert record["status"] == "rejected" and "no data rows" in record["reason"]


def test_files_for_unknown_sources_are_quarantined_and_reported(lake_paths):
    folder = lake_paths.landing / "acme_export"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (lake_paths.landing / "loose.csv").write_text("x\n1\n")
    records = ingest.unknown_landing_files(lake_paths)
    assert [(r.source_id, r.status) for r in records] == [
        ("acme_export", "rejected"),
        ("(landing root)", "rejected"),
    ]
    assert "no connector for source 'acme_export'" in records[0].reason
    assert len(list((lake_paths.quarantine / ingest.UNKNOWN_SOURCE / "files").iterdir())) == 2
    report = ingest.file_report(ingest.UNKNOWN_SOURCE, lake_paths)
    assert report.height == 2 and set(report["status"]) == {"rejected"}


def test_repeated_header_column_is_named(lake_paths):
    target = lake_paths.landing_dir("neso_eac_results")
    target.mkdir(parents=True)
    (target / "twice.csv").write_text(
        "auctionID,auctionProduct,deliveryStart,deliveryEnd,clearedVolume,clearingPrice,clearingPrice\n"
        "1,DCH,2025-01-01T23:00:00,2025-01-02T03:00:00,5,1.0,2.0\n"
    )
    ingest.scan_landing("neso_eac_results", lake_paths)
    record = ingest.file_report("neso_eac_results", lake_paths).row(0, named=True)
    assert record["status"] == "rejected" and "repeats column 'clearingPrice'" in record["reason"]
