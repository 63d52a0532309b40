from __future__ import annotations

import datetime as dt
import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from openpyxl import Workbook

from sfe.config import LakePaths
from sfe.generate import generate
from sfe.sources.dno_flex_competitions import SHEET_COLUMNS

from .conftest import ingest_and_report, land, outcome_counts, raw_rows

SOURCE = "dno_flex_competitions"


def _workbook(path: Path, sheets: dict[str, list[dict | None]], *, drop: tuple[str, ...] = ()) -> Path:
    """A workbook with the given sheets; None is an empty row; date-times become Excel date cells."""
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        columns = [c for c in SHEET_COLUMNS[title] if c not in drop]
        ws.append(columns)
        for row in rows:
            ws.append([] if row is None else [row.get(c) for c in columns])
        for cells in ws.iter_cols(min_row=2):
            for cell in cells:
                if isinstance(cell.value, dt.datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(cell.value, dt.date):
                    cell.number_format = "yyyy-mm-dd"
    wb.save(path)
    return path


def _competition(cid: str, start: date, end: date, window: tuple, **kw) -> dict:
    row = {
        "competition_id": cid, "dno": cid.split("-")[0], "licence_area": cid.split("-")[2], "zone": "Corby",
        "product": "Peak Reduction", "direction": "up", "service_start_date": start, "service_end_date": end,
        "days_of_week": "Mon-Fri", "window_start_local": window[0], "window_end_local": window[1],
        "required_mw": 2.0, "ceiling_availability_price_gbp_per_mw_h": None,
        "ceiling_utilisation_price_gbp_per_mwh": 300, "opens_local": datetime(2025, 1, 31, 9, 0),
        "closes_local": datetime(2025, 2, 21, 17, 0), "status": "awarded",
    }  # fmt: skip
    return {**row, **kw}


def _bid(bid_id: str, submitted: datetime, offered: float | None, status: str = "accepted", **kw) -> dict:
    row = {
        "bid_id": bid_id, "competition_id": bid_id.rsplit("-", 1)[0], "company_name": "Voltshare EV Ltd",
        "asset_ref": "VOLT-EMID-0001", "offered_mw": offered, "availability_price_gbp_per_mw_h": None,
        "utilisation_price_gbp_per_mwh": 250.0, "submitted_local": submitted, "status": status,
    }  # fmt: skip
    return {**row, **kw}


def _resale(resale_id: str, start: datetime, end: datetime) -> dict:
    return {
        "resale_id": resale_id, "original_bid_id": "SSEN-2025Q4-SEPD-01-B01", "competition_id": "SSEN-2025Q4-SEPD-01",
        "seller_company": "Voltshare EV Ltd", "seller_asset_ref": "VOLT-SEPD-0001",
        "buyer_company": "Fenwick Battery Partners LLP", "buyer_asset_ref": "FENW-SEPD-0005", "resold_mw": 1.5,
        "start_local": start, "end_local": end, "price_gbp_per_mw_h": 3.5, "agreed_local": datetime(2025, 10, 20, 11, 25),
    }  # fmt: skip


C2 = _competition("NGED-2025Q2-EMID-02", date(2025, 3, 30), date(2025, 3, 31), ("17:00", "20:00"))
B2 = _bid("SSEN-2025Q4-SEPD-01-B01", datetime(2025, 10, 26, 1, 30), 1.5, availability_price_gbp_per_mw_h=5.5)
B4 = _bid("ENWL-2025Q4-ENWL-01-B01", datetime(2025, 9, 1, 12, 0), 0.2, "rejected")


def _first_workbook(folder: Path) -> Path:
    return _workbook(
        folder / "dno_flex_competitions_2025.xlsx",
        {
            "competitions": [
                # 01:30 on 30 March does not exist in Europe/London (clocks jump 01:00 -> 02:00)
                _competition("NGED-2025Q2-EMID-01", date(2025, 3, 30), date(2025, 6, 30), ("01:30", "03:00")),
                C2,
                # 01:30 on 26 October happens twice: the first (BST) occurrence is taken; 'H:MM' accepted
                _competition(
                    "SSEN-2025Q4-SEPD-01", date(2025, 10, 26), date(2025, 12, 31), ("1:30", "02:30")
                ),
                # overnight window written as Excel time cells
                _competition(
                    "ENWL-2025Q4-ENWL-01",
                    date(2025, 11, 1),
                    date(2025, 11, 30),
                    (dt.time(23), dt.time(7)),
                    ceiling_availability_price_gbp_per_mw_h=18.27,
                ),
            ],
            "bids": [
                _bid("NGED-2025Q2-EMID-02-B01", datetime(2025, 3, 30, 1, 30), 0.5),  # spring gap
                B2,
                None,
                _bid("SSEN-2025Q4-SEPD-01-B02", datetime(2025, 10, 20, 9, 0), None),  # no offered_mw
                B4,
            ],
            "resales": [
                _resale("RS-2025-0001", datetime(2025, 10, 26), datetime(2025, 11, 26)),
                _resale(
                    "RS-2025-0002", datetime(2025, 11, 26), datetime(2025, 11, 1)
                ),  # ends before it starts
            ],
        },
    )


def _update_workbook(folder: Path) -> Path:
    # Received later: C2 and B2 unchanged (at other rows), B4 now accepted, no resales.
    return _workbook(
        folder / "dno_flex_competitions_2025_update.xlsx",
        {"competitions": [C2], "bids": [None, {**B4, "status": "accepted"}, B2], "resales": []},
    )


def _ingest(paths) -> pl.DataFrame:
    return ingest_and_report(paths, SOURCE)


@pytest.fixture
def ingested(lake_paths, tmp_path):
    land(lake_paths, SOURCE, _first_workbook(tmp_path), _update_workbook(tmp_path))
    return lake_paths, _ingest(lake_paths)


def _record(raw: pl.DataFrame, key: str) -> dict:
    rows = raw.filter(pl.col("record_key") == key)
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def test_counts_of_all_three_sheets(ingested):
    _paths, report = ingested
    first, update = report.row(0, named=True), report.row(1, named=True)
    # 4 competitions + 4 bids (one empty row skipped) + 2 resales.
    assert outcome_counts(first) == (10, 5, 0, 1, 4)
    assert outcome_counts(update) == (3, 1, 2, 0, 0)
    assert report["balanced"].all()
    raw = raw_rows(_paths, SOURCE)
    assert dict(raw.group_by("record_type").len().iter_rows()) == {"competition": 3, "bid": 2, "resale": 1}


def test_local_times_become_utc_across_clock_changes(ingested):
    paths, _report = ingested
    raw = raw_rows(paths, SOURCE)
    spring = _record(raw, "competition:NGED-2025Q2-EMID-02")
    # Service envelope: 30 March 17:00 BST .. 31 March 20:00 BST.
    assert (spring["interval_start_utc"], spring["interval_end_utc"]) == (
        datetime(2025, 3, 30, 16, tzinfo=UTC), datetime(2025, 3, 31, 19, tzinfo=UTC),
    )  # fmt: skip
    assert spring["opens_local"] == datetime(2025, 1, 31, 9, tzinfo=UTC)  # GMT: same wall clock
    autumn = _record(raw, "competition:SSEN-2025Q4-SEPD-01")
    assert autumn["window_start_local"] == dt.time(1, 30)
    assert autumn["interval_start_utc"] == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # first (BST) 01:30
    assert autumn["interval_end_utc"] == datetime(2025, 12, 31, 2, 30, tzinfo=UTC)
    overnight = _record(raw, "competition:ENWL-2025Q4-ENWL-01")
    assert (overnight["window_start_local"], overnight["window_end_local"]) == (dt.time(23), dt.time(7))
    assert overnight["interval_start_utc"] == datetime(2025, 11, 1, 23, tzinfo=UTC)
    assert overnight["interval_end_utc"] == datetime(2025, 12, 1, 7, tzinfo=UTC)
    assert (
        overnight["ceiling_availability_price_gbp_per_mw_h"] == 18.27 and overnight["operator_id"] == "enwl"
    )
    bid = _record(raw, "bid:SSEN-2025Q4-SEPD-01-B01")
    assert bid["submitted_local"] == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert bid["interval_start_utc"] == bid["interval_end_utc"] == bid["submitted_local"]
    assert (bid["offered_mw"], bid["availability_price_gbp_per_mw_h"], bid["competition_id"]) == (
        1.5, 5.5, "SSEN-2025Q4-SEPD-01",
    )  # fmt: skip
    resale = _record(raw, "resale:RS-2025-0001")
    # 26 October 00:00 is still BST (23:00Z the day before); 26 November 00:00 is GMT.
    assert (resale["interval_start_utc"], resale["interval_end_utc"]) == (
        datetime(2025, 10, 25, 23, tzinfo=UTC), datetime(2025, 11, 26, tzinfo=UTC),
    )  # fmt: skip
    assert resale["partition_date"] == date(2025, 10, 25)
    assert (resale["buyer_asset_ref"], resale["resold_mw"], resale["price_gbp_per_mw_h"]) == (
        "FENW-SEPD-0005",
        1.5,
        3.5,
    )


def test_later_workbook_replaces_and_lineage(ingested):
    paths, _report = ingested
    raw = raw_rows(paths, SOURCE)
    b4 = _record(raw, "bid:ENWL-2025Q4-ENWL-01-B01")
    assert b4["status"] == "accepted" and b4["source_file"] == "dno_flex_competitions_2025_update.xlsx"
    assert (b4["sheet_row"], b4["source_row"]) == (3, 2)
    # Identical records at other rows of the later workbook were duplicates: the first copies stay.
    b2 = _record(raw, "bid:SSEN-2025Q4-SEPD-01-B01")
    assert (b2["source_file"], b2["sheet_row"], b2["source_row"]) == ("dno_flex_competitions_2025.xlsx", 3, 6)
    c2 = _record(raw, "competition:NGED-2025Q2-EMID-02")
    assert (c2["sheet_row"], c2["source_row"]) == (3, 2)
    assert (
        raw.filter(pl.col("source_file") == "dno_flex_competitions_2025.xlsx")["source_row"].is_unique().all()
    )


def test_bad_records_are_quarantined_with_their_sheet_row(ingested):
    paths, _report = ingested
    q = pl.read_parquet(paths.quarantine / SOURCE / "rows" / "*.parquet").sort("source_row")
    assert q.select("source_row", "field").rows() == [
        (1, "window_start_local"), (5, "submitted_local"), (7, "offered_mw"), (10, "end_local"),
    ]  # fmt: skip
    assert q["reason"].to_list() == [
        "service window start does not exist in Europe/London (spring-forward gap)",
        "cannot read submitted_local as timestamp, naive, meaning Europe/London local time",
        "missing required value for offered_mw (a bid row)",
        "resale end_local is not after start_local",
    ]
    records = [json.loads(r) for r in q["record"]]
    assert [(r["record_type"], r["sheet_row"]) for r in records] == [
        ("competition", "2"), ("bid", "2"), ("bid", "5"), ("resale", "3"),
    ]  # fmt: skip
    assert q["value"][1] == "2025-03-30T01:30:00"


def test_unreadable_workbooks_are_rejected_with_the_reason(lake_paths, tmp_path):
    missing_sheet = _workbook(tmp_path / "no_resales.xlsx", {"competitions": [C2], "bids": [B2]})
    missing_column = _workbook(
        tmp_path / "bids_without_volume.xlsx", {"competitions": [C2], "bids": [B2], "resales": []},
        drop=("offered_mw",),
    )  # fmt: skip
    csv_text = tmp_path / "export.xlsx"
    csv_text.write_text("competition_id,dno\nX,NGED\n")
    damaged = tmp_path / "damaged.xlsx"
    damaged.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    old_format = tmp_path / "legacy.xls"
    old_format.write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    land(lake_paths, SOURCE, missing_sheet, missing_column, csv_text, damaged, old_format)
    report = _ingest(lake_paths)
    assert set(report["status"]) == {"rejected"} and report["balanced"].all()
    reasons = dict(report.select("file_name", "reason").iter_rows())
    assert reasons["no_resales.xlsx"].startswith("workbook has no 'resales' sheet")
    assert reasons["bids_without_volume.xlsx"] == "sheet 'bids': missing required column(s): offered_mw"
    assert "not a zip archive" in reasons["export.xlsx"]
    assert reasons["damaged.xlsx"].startswith("not a readable XLSX workbook")
    assert "expected .xlsx" in reasons["legacy.xls"]
    assert len(list((lake_paths.quarantine / SOURCE / "files").iterdir())) == 5


def _manifest(paths: LakePaths) -> dict:
    return json.loads((paths.generated / "manifest.json").read_text())


def test_generated_demo_loads_completely(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    generate(paths, assets=10, days=40, start=date(2025, 3, 20), seed=1, progress=False)
    files = {f["path"].split("/", 2)[2]: f for f in _manifest(paths)["files"] if f["source_id"] == SOURCE}
    report = _ingest(paths)
    assert sorted(report["file_name"]) == sorted(files)
    for row in report.iter_rows(named=True):
        expected = files[row["file_name"]]
        assert row["status"] == "parsed" and row["balanced"], row
        assert row["rows_in"] == expected["rows"] and row["rows_quarantined"] == 0, row
        assert row["superseded"] == expected.get("superseded", 0), row
        assert row["duplicates"] == expected.get("exact_duplicates", 0), row
    raw = raw_rows(paths, SOURCE)
    sheets = {"competition": "competitions", "bid": "bids", "resale": "resales"}
    for record_type, sheet in sheets.items():
        assert raw.filter(pl.col("record_type") == record_type).height == sum(
            f["sheets"][sheet] for f in files.values()
        )
    competitions = raw.filter(pl.col("record_type") == "competition")
    assert competitions["interval_start_utc"].null_count() == 0
    assert (competitions["interval_end_utc"] > competitions["interval_start_utc"]).all()


def test_generated_broken_files_end_as_the_manifest_says(tmp_path):
    paths = LakePaths(tmp_path / "lake")
    generate(paths, assets=10, days=40, start=date(2025, 3, 20), seed=1, broken=True, progress=False)
    broken = [b for b in _manifest(paths)["broken_files"] if b["source_id"] == SOURCE]
    assert {b["kind"] for b in broken} >= {"missing_sheet", "not_a_workbook"}
    report = _ingest(paths)
    assert report["balanced"].all()
    reasons = dict(report.select("file_name", "reason").iter_rows())
    for entry in broken:
        name = entry["path"].split("/", 2)[2]
        row = report.filter(pl.col("file_name") == name).row(0, named=True)
        assert entry["scope"] == "file" and row["status"] == "rejected", entry
    assert "'bids'" in reasons["broken_missing_sheet.xlsx"]
    assert "not a zip archive" in reasons["broken_not_a_workbook.xlsx"]
