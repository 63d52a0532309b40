"""Registering many assets from one CSV file, with a per-row report.

Every valid row is registered and every invalid row is reported (spreadsheet row number, field,
message): nothing is silently dropped. Rows are committed in chunks, so a large file neither holds
the registry's write lock for long nor loses the rows already registered if the process stops.
A dry run checks the file with the same code, chunk by chunk, rolling each chunk back: it registers
nothing. Ids repeated within the file are caught in both modes (the import remembers every id it
registered); a dry run cannot see a likely duplicate *between two rows of the file* in different
chunks, which the real import then reports.

The template's columns are ``TEMPLATE_COLUMNS`` (see ``COLUMN_HELP``); only asset_name, asset_type
and capacity_mw must be present as columns, and a row needs a location and a connection point.
``confirm_likely_duplicate`` (yes/no) registers a row that looks like an already registered asset.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from sfe import csv_safe
from sfe.registry import assets, db, groups
from sfe.registry.access import Principal, Role
from sfe.registry.validation import FieldError, InvalidInput

CONFIRM_COLUMN = "confirm_likely_duplicate"
TEMPLATE_COLUMNS = (*assets.ASSET_FIELDS, CONFIRM_COLUMN)
REQUIRED_COLUMNS = ("asset_name", "asset_type", "capacity_mw")
COLUMN_HELP = {
    **assets.FIELD_HELP,
    CONFIRM_COLUMN: "yes to register a row that looks like an already registered asset (default no).",
}
MAX_BYTES = 5_000_000
MAX_ROWS = 5_000
CHUNK_ROWS = 200
_TRUE = {"yes", "y", "true", "1"}
_FALSE = {"", "no", "n", "false", "0"}

Progress = Callable[[int, int], None]


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, header, size): no row was looked at."""


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet numbers it: the header is row 1, the first asset row 2
    field: str
    message: str


@dataclass(frozen=True)
class RowRegistered:
    row: int
    registry_asset_id: str
    asset_name: str


@dataclass
class ImportReport:
    rows: int  # asset rows read (blank lines not counted)
    dry_run: bool
    registered: list[RowRegistered] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    group: groups.GroupRecord | None = None

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})

    def errors_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [(e.row, e.field, e.message) for e in self.errors],
            schema={"row": pl.Int64, "field": pl.String, "message": pl.String},
            orient="row",
        )

    def registered_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [(r.row, r.registry_asset_id, r.asset_name) for r in self.registered],
            schema={"row": pl.Int64, "registry_asset_id": pl.String, "asset_name": pl.String},
            orient="row",
        )


def template_csv() -> bytes:
    """The upload template: the header row (column meanings in COLUMN_HELP)."""
    return (",".join(TEMPLATE_COLUMNS) + "\r\n").encode("utf-8")


def _header_key(name: str | None) -> str:
    return "_".join((name or "").strip().lower().replace("-", " ").split())


def read_rows(content: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[RowError]]:
    """(columns, [(row number, cells)] of every non-blank row, row-shape errors) of an upload;
    CsvFileError when the file as a whole is unusable."""
    if len(content) > MAX_BYTES:
        raise CsvFileError(
            f"the file is {len(content) / 1e6:.1f} MB; at most {MAX_BYTES / 1e6:.0f} MB per upload"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFileError(
            f"the file is not UTF-8 text (byte {exc.start}); save it as 'CSV UTF-8 (comma delimited)'"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFileError("the file is empty; it needs a header row (download the template)") from None
    except csv.Error as exc:
        raise CsvFileError(f"row 1: {exc}") from None
    columns = [_header_key(h) for h in header]
    if len(columns) == 1 and (";" in header[0] or "\t" in header[0]):
        raise CsvFileError("the columns must be separated by commas (this file uses semicolons or tabs)")
    unknown = [header[i] for i, c in enumerate(columns) if c and c not in TEMPLATE_COLUMNS]
    if unknown:
        raise CsvFileError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; the columns are: {', '.join(TEMPLATE_COLUMNS)}"
        )
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        raise CsvFileError(f"column(s) {', '.join(repeated)} appear more than once in the header")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise CsvFileError(f"missing required column(s): {', '.join(missing)} (download the template)")
    rows: list[tuple[int, dict[str, str]]] = []
    shape_errors: list[RowError] = []
    row_number = 1
    try:
        for cells in reader:
            row_number += 1
            if not any(c.strip() for c in cells):
                continue  # blank lines (spreadsheets leave them at the end)
            if len(rows) >= MAX_ROWS:
                raise CsvFileError(f"more than {MAX_ROWS} asset rows; split the file")
            if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
                shape_errors.append(
                    RowError(
                        row_number, "row", f"has {len(cells)} cells but the header has {len(columns)} columns"
                    )
                )
            rows.append((row_number, {c: v for c, v in zip(columns, cells, strict=False) if c}))
    except csv.Error as exc:
        raise CsvFileError(f"row {row_number}: {exc}") from None
    return columns, rows, shape_errors


def _register_row(
    s: Session,
    principal: Principal,
    row: int,
    cells: Mapping[str, Any],
    seen: dict[tuple[str, str], int],
    organisation_id: int | None,
) -> tuple[assets.AssetRecord | None, list[RowError]]:
    confirm_text = str(cells.get(CONFIRM_COLUMN) or "").strip().lower()
    if confirm_text not in _TRUE | _FALSE:
        return None, [RowError(row, CONFIRM_COLUMN, f"{confirm_text!r} is not yes or no")]
    unknown = sorted(k for k in cells if k not in TEMPLATE_COLUMNS)
    if unknown:  # only JSON records can get here: a CSV's header is checked up front
        return None, [
            RowError(row, k, f"unknown field; the fields are: {', '.join(TEMPLATE_COLUMNS)}") for k in unknown
        ]
    data = {k: v for k, v in cells.items() if k in assets.ASSET_FIELDS}
    try:
        clean = assets.clean_asset(data)
    except InvalidInput as exc:
        return None, [RowError(row, e.field, e.message) for e in exc.errors]
    for ref_type, ref in assets._ref_pairs(clean):
        if (ref_type, ref) in seen:
            label = assets.REF_TYPE_LABELS[ref_type]
            return None, [
                RowError(
                    row, ref_type, f"{label} {ref!r} is also in row {seen[(ref_type, ref)]} of this file"
                )
            ]
    try:
        with s.begin_nested():
            record = assets.register_asset(
                s,
                principal,
                data,
                confirm_likely_duplicate=confirm_text in _TRUE,
                organisation_id=organisation_id,
            )
    except assets.DuplicateAsset as exc:
        return None, [RowError(row, exc.ref_type, str(exc))]
    except assets.LikelyDuplicate as exc:
        return None, [RowError(row, CONFIRM_COLUMN, str(exc))]
    except InvalidInput as exc:
        return None, [RowError(row, e.field, e.message) for e in exc.errors]
    for pair in assets._ref_pairs(clean):
        seen[pair] = row
    return record, []


def import_assets_csv(
    principal: Principal,
    content: bytes,
    *,
    group_id: int | None = None,
    new_group_name: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    organisation_id: int | None = None,
) -> ImportReport:
    """Register every valid row of a CSV upload for the principal's organisation (admins: for
    ``organisation_id``), optionally adding them to an existing group or a new one."""
    principal.require(Role.FSP, action="register assets")
    _columns, rows, shape_errors = read_rows(content)
    return _import(
        principal, rows, shape_errors, group_id, new_group_name, dry_run, progress, organisation_id
    )


def import_asset_records(
    principal: Principal,
    records: list[Mapping[str, Any]],
    *,
    group_id: int | None = None,
    new_group_name: str | None = None,
    dry_run: bool = False,
    organisation_id: int | None = None,
) -> ImportReport:
    """As ``import_assets_csv`` for records given as objects (the API's JSON); a record's ``row`` is
    its position in the list, from 1."""
    principal.require(Role.FSP, action="register assets")
    if len(records) > MAX_ROWS:
        raise CsvFileError(f"more than {MAX_ROWS} records; split them")
    rows, shape_errors = [], []
    for i, record in enumerate(records, start=1):
        if isinstance(record, Mapping):
            rows.append((i, dict(record)))
        else:
            rows.append((i, {}))
            shape_errors.append(RowError(i, "row", "is not an object of asset fields"))
    return _import(principal, rows, shape_errors, group_id, new_group_name, dry_run, None, organisation_id)


def _import(
    principal: Principal,
    rows: list[tuple[int, Mapping[str, Any]]],
    shape_errors: list[RowError],
    group_id: int | None,
    new_group_name: str | None,
    dry_run: bool,
    progress: Progress | None,
    organisation_id: int | None,
) -> ImportReport:
    report = ImportReport(rows=len(rows), dry_run=dry_run, errors=list(shape_errors))
    misshapen = {e.row for e in shape_errors}
    rows = [(row, cells) for row, cells in rows if row not in misshapen]
    if group_id is not None and new_group_name:
        raise InvalidInput([FieldError("group", "choose an existing group or name a new one, not both")])
    with db.session() as s:  # check the group before registering anything
        if group_id is not None:
            report.group = groups.get_group(s, principal, group_id)
        elif new_group_name and groups.find_group(s, principal, new_group_name):
            raise InvalidInput(
                [FieldError("group", f"a group called {new_group_name.strip()!r} already exists")]
            )

    seen: dict[tuple[str, str], int] = {}
    total = len(rows)
    if progress:
        progress(0, total)
    chunks = [rows[i : i + CHUNK_ROWS] for i in range(0, total, CHUNK_ROWS)]
    done = 0
    for chunk in chunks:
        with db.session() as s:
            outer = s.begin_nested() if dry_run else None  # a dry run rolls each chunk back
            registered_ids = []
            for row, cells in chunk:
                record, errors = _register_row(s, principal, row, cells, seen, organisation_id)
                if record is not None:
                    report.registered.append(RowRegistered(row, record.registry_asset_id, record.asset_name))
                    registered_ids.append(record.registry_asset_id)
                report.errors.extend(errors)
                done += 1
                if progress and (done % 25 == 0 or done == total):
                    progress(done, total)
            if registered_ids and not dry_run and (group_id is not None or new_group_name):
                if report.group is None:
                    report.group = groups.create_group(
                        s, principal, new_group_name, organisation_id=organisation_id
                    )
                groups.add_to_group(s, principal, report.group.group_id, registered_ids)
            if outer is not None:
                outer.rollback()
    if report.group is not None and not dry_run:
        with db.session() as s:
            report.group = groups.get_group(s, principal, report.group.group_id)
    report.errors.sort(
        key=lambda e: (e.row, TEMPLATE_COLUMNS.index(e.field) if e.field in TEMPLATE_COLUMNS else -1)
    )
    return report


def rejected_rows_csv(content: bytes, report: ImportReport) -> bytes:
    """The rejected rows as uploaded, with an ``errors`` column: fix them and upload this file again."""
    columns, rows, _ = read_rows(content)
    messages: dict[int, list[str]] = {}
    for e in report.errors:
        messages.setdefault(e.row, []).append(f"{e.field}: {e.message}")
    keep = [c for c in columns if c]
    out = [
        {**{c: cells.get(c, "") for c in keep}, "errors": " | ".join(messages[row])}
        for row, cells in rows
        if row in messages
    ]
    frame = pl.DataFrame(out, schema={**{c: pl.String for c in keep}, "errors": pl.String})
    return csv_safe.to_csv_bytes(frame)
