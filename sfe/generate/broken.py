"""Deliberately broken landing files (``broken=True``): one per kind of defect a connector must catch.

Every file is named ``broken_<kind>.<ext>`` and recorded in manifest.json under ``broken_files`` with
the problem a connector is expected to report. ``scope`` says whether the whole file must be rejected
(``file``) or only some rows quarantined (``row``: ``bad_rows`` of them; the ``good_rows`` are copies of
rows of ``good_rows_copied_from`` and so deduplicate against it unless stated otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sfe.generate.context import Ctx
from sfe.generate.writers import BOM


def _first(ctx: Ctx, source_id: str, suffix: str = "") -> Path:
    for f in ctx.files:
        if f.source_id == source_id and f.path.name.endswith(suffix) and f.rows >= 1:
            return f.path
    raise LookupError(f"no generated {source_id} file to copy from")


def _lines(path: Path, k: int, *, bom: bool = False, header: bool = True) -> list[str]:
    """The header (if any) and k data lines of a generated file (repeating its rows if it has fewer)."""
    text = path.read_bytes()
    if bom and text.startswith(BOM):
        text = text[len(BOM) :]
    all_lines = text.decode("utf-8").splitlines()
    head, data = (all_lines[:1], all_lines[1:]) if header else ([], all_lines)
    if not data:
        raise LookupError(f"{path} has no data rows")
    while len(data) < k:
        data = data + data
    return head + data[:k]


def write_broken(ctx: Ctx) -> list[dict]:
    rng = ctx.rng("broken")
    entries: list[dict] = []

    def add(source_id: str, kind: str, ext: str, data: bytes, problem: str, scope: str = "file",
            bad_rows: int | None = None, good_rows: int = 0, copied_from: Path | None = None) -> None:  # fmt: skip
        path = ctx.landing(source_id) / f"broken_{kind}.{ext}"
        path.write_bytes(data)
        entry = {
            "kind": kind,
            "source_id": source_id,
            "path": path.relative_to(ctx.paths.root).as_posix(),
            "expected_problem": problem,
            "scope": scope,
        }
        if scope == "row":
            entry["bad_rows"] = bad_rows
            entry["good_rows"] = good_rows
            if copied_from is not None:
                entry["good_rows_copied_from"] = copied_from.relative_to(ctx.paths.root).as_posix()
        entries.append(entry)

    # --- ukpn_flexibility_dispatches
    ukpn = _first(ctx, "ukpn_flexibility_dispatches")
    add("ukpn_flexibility_dispatches", "empty_file", "csv", b"", "empty file (0 bytes, no header)")
    lines = _lines(ukpn, 6, bom=True)
    latin = [lines[0]] + [",".join(["Énergie Côte Flexibilité Ltd"] + ln.split(",")[1:]) for ln in lines[1:4]]
    add("ukpn_flexibility_dispatches", "latin1_encoding", "csv", BOM + ("\n".join(latin) + "\n").encode("latin-1"),
        "bytes not decodable as UTF-8 (file saved as Latin-1: 'Énergie Côte')")  # fmt: skip
    cols = lines[1].split(",")
    cols[4] = cols[4][:19]  # start_time_local without its UTC offset
    add("ukpn_flexibility_dispatches", "naive_local_time", "csv",
        BOM + ("\n".join([lines[0], *lines[2:5], ",".join(cols)]) + "\n").encode(),
        "start_time_local without a UTC offset (ambiguous local time) in the last row", "row", 1, 3, ukpn)  # fmt: skip

    # --- neso_eac_results
    eac = _first(ctx, "neso_eac_results")
    lines = _lines(eac, 10)
    add("neso_eac_results", "header_only", "csv", (lines[0] + "\n").encode(), "header only, no data rows")
    header = lines[0].split(",")
    drop = header.index("clearingPrice")
    cut = [",".join(c for j, c in enumerate(ln.split(",")) if j != drop) for ln in lines]
    add("neso_eac_results", "missing_required_column", "csv", ("\n".join(cut) + "\n").encode(),
        "required column clearingPrice is missing")  # fmt: skip

    # --- neso_eac_unit_results
    unit = _first(ctx, "neso_eac_unit_results")
    lines = _lines(unit, 8)
    header = lines[0].split(",")
    vcol = header.index("executedVolume")
    rows = [ln.split(",") for ln in lines[1:]]
    rows[2][vcol] = '"12,5"'
    rows[5][vcol] = "n/a"
    add("neso_eac_unit_results", "unparseable_number", "csv",
        ("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n").encode(),
        "executedVolume not a number in 2 rows ('12,5' and 'n/a')", "row", 2, len(rows) - 2, unit)  # fmt: skip

    # --- elexon_system_prices
    sp = _first(ctx, "elexon_system_prices", ".csv")
    lines = _lines(sp, 12)
    add("elexon_system_prices", "unknown_header", "csv",
        (b"Date,Period,Price,Volume\n2025-01-01,1,70.5,100.0\n"),
        "header matches neither the API nor the website-export encoding")  # fmt: skip
    rows = [ln.split(",") for ln in lines[1:]]
    rows[3][2] = "31/02/2025 25:00"
    add("elexon_system_prices", "unparseable_date", "csv",
        ("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n").encode(),
        "startTime '31/02/2025 25:00' is not a valid timestamp", "row", 1, len(rows) - 1, sp)  # fmt: skip
    # a 48-period day gets a settlement period 49
    tb = ctx.tb
    days48 = np.nonzero(tb.periods_in_day[: tb.days] == 48)[0]
    day = int(days48[0]) if days48.size else 0
    n_sp = int(tb.periods_in_day[day])
    date = tb.date(day).isoformat()
    row = lines[1].split(",")
    row[0], row[1] = date, str(n_sp + 1)
    row[2] = f"{tb.date(day + 1).isoformat()}T00:00:00Z"
    add("elexon_system_prices", "settlement_period_49", "csv", (lines[0] + "\n" + ",".join(row) + "\n").encode(),
        f"settlementPeriod {n_sp + 1} on {date}, a {n_sp}-period day", "row", 1, 0)  # fmt: skip

    # --- elexon_boalf
    boalf = _first(ctx, "elexon_boalf")
    lines = _lines(boalf, 21)
    body = "\n".join(lines[:21]) + "\n" + lines[21][: len(lines[21]) // 2]
    add("elexon_boalf", "truncated_last_line", "csv", body.encode(),
        "last line cut off mid-row (no newline, too few fields): the transfer was cut, so the whole file is suspect")  # fmt: skip
    header = lines[0].split(",")
    header[7] = "levelFrom"
    add("elexon_boalf", "duplicate_header_columns", "csv",
        ("\n".join([",".join(header)] + lines[1:6]) + "\n").encode(),
        "column levelFrom appears twice in the header (levelTo missing)")  # fmt: skip

    # --- meter_readings
    meter = _first(ctx, "meter_readings")
    lines = _lines(meter, 10)
    add("meter_readings", "semicolon_delimiter", "csv", ("\n".join(ln.replace(",", ";") for ln in lines) + "\n").encode(),
        "fields separated by ';' instead of ','")  # fmt: skip
    add("meter_readings", "binary_garbage", "csv", rng.integers(0, 256, 2048, dtype=np.uint8).tobytes(),
        "binary content, not text")  # fmt: skip
    rows = [ln.split(",") for ln in lines[1:]]
    rows[4][2] = "-5.000"
    add("meter_readings", "negative_value", "csv", ("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n").encode(),
        "import_kwh is negative (-5.000) where only >= 0 is allowed", "row", 1, len(rows) - 1, meter)  # fmt: skip

    # --- so_dispatch_instructions
    instr = _first(ctx, "so_dispatch_instructions", ".jsonl")
    recs = [json.loads(ln) for ln in _lines(instr, 6, header=False)[:6]]
    del recs[2]["start"]
    add("so_dispatch_instructions", "missing_required_field", "jsonl",
        ("\n".join(json.dumps(r) for r in recs) + "\n").encode(),
        "one instruction has no 'start'", "row", 1, len(recs) - 1, instr)  # fmt: skip
    good = [json.dumps(r) for r in recs if "start" in r]
    add("so_dispatch_instructions", "jsonl_invalid_line", "jsonl",
        ("\n".join(good[:2] + ['{"instruction_id": "BROKEN-1", "setpoint": 3.0,'] + good[2:]) + "\n").encode(),
        "line 3 is not valid JSON", "row", 1, len(good), instr)  # fmt: skip
    bad_unit = dict(recs[0])
    bad_unit["unit"] = "GW"
    add("so_dispatch_instructions", "unknown_setpoint_unit", "jsonl", (json.dumps(bad_unit) + "\n").encode(),
        "setpoint unit 'GW' is neither kW nor MW", "row", 1, 0)  # fmt: skip

    # --- so_settlement_statements
    st = _first(ctx, "so_settlement_statements", ".csv")
    lines = _lines(st, 8)
    header = lines[0].split(",")
    rows = [ln.split(",") for ln in lines[1:]]
    for r in rows:
        r[0] = r[0] + "-BRK"  # own statement id: these rows do not collide with the real statement
    t = header.index("total_gbp")
    rows[1][t] = repr(round(float(rows[1][t]) + 100.0, 2))
    add("so_settlement_statements", "total_mismatch", "csv",
        ("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n").encode(),
        "total_gbp differs from availability + utilisation - penalty by 100.00 in row 2", "row", 1, len(rows) - 1)  # fmt: skip
    add("so_settlement_statements", "unknown_extension", "dat", ("\n".join(lines) + "\n").encode(),
        "unknown file extension .dat (not .csv or .jsonl)")  # fmt: skip

    # --- dno_flex_competitions
    from openpyxl import Workbook, load_workbook

    from sfe.generate.writers import deterministic_xlsx

    src = load_workbook(_first(ctx, "dno_flex_competitions", ".xlsx"), read_only=True)
    wb = Workbook()
    ws = wb.active
    ws.title = "competitions"
    for i, row in enumerate(src["competitions"].iter_rows(values_only=True)):
        if i > 3:
            break
        ws.append(list(row))
    wr = wb.create_sheet("resales")
    for row in src["resales"].iter_rows(values_only=True):
        wr.append(list(row))
        break
    src.close()
    path = ctx.landing("dno_flex_competitions") / "broken_missing_sheet.xlsx"
    deterministic_xlsx(wb, path)
    entries.append({"kind": "missing_sheet", "source_id": "dno_flex_competitions",
                    "path": path.relative_to(ctx.paths.root).as_posix(),
                    "expected_problem": "workbook has no 'bids' sheet", "scope": "file"})  # fmt: skip
    add("dno_flex_competitions", "not_a_workbook", "xlsx", b"competition_id,dno\nX,NGED\n",
        "file named .xlsx is CSV text, not a zip/XLSX workbook")  # fmt: skip
    # A folder no connector knows: the export of a platform SFE has no format for.
    unknown = ctx.paths.landing / "acme_portal_export" / "broken_unknown_source.csv"
    unknown.parent.mkdir(parents=True, exist_ok=True)
    unknown.write_bytes(b"unit,when,mw\nA1,2025-03-20T10:00:00Z,1.5\n")
    entries.append({"kind": "unknown_source", "source_id": "acme_portal_export",
                    "path": unknown.relative_to(ctx.paths.root).as_posix(),
                    "expected_problem": "file for an unknown source (no connector for landing/acme_portal_export/)",
                    "scope": "file"})  # fmt: skip
    return entries
