"""Landing files → parsed files → deduplicated daily raw partitions, with every row accounted for.

Two steps, both idempotent:

1. ``scan_landing`` parses each landing file once (keyed by its SHA-256) into
   ``parsed/<source>/<sha>.parquet`` and records it in the source's catalog. Rows that cannot be read
   go to ``quarantine/<source>/rows/``; a file that cannot be read at all is copied to
   ``quarantine/<source>/files/`` and recorded with the reason.
2. ``build_partitions`` writes ``raw/<source>/date=YYYY-MM-DD/data.parquet`` for the given days from
   all parsed files: exact duplicates (after the connector's normalisation) are counted once, and
   rows superseded by a later version of the same natural key are dropped, per the connector's
   rule. Per-file counts are logged per partition in ``ingest_log/`` so that for every file
   ``rows_in = loaded + duplicates + superseded + quarantined``.

Every write is a temp file + rename: a crash never leaves a partial partition visible.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from sfe import crashpoints
from sfe.config import LakePaths, lake
from sfe.sources import CONNECTORS, connector
from sfe.sources.base import PARTITION_COLUMN, FileRejected, ParsedFile, Source

ProgressCallback = Callable[[str], None]


@dataclass
class FileRecord:
    source_id: str
    file_name: str  # path relative to landing/<source_id>/
    sha256: str
    size_bytes: int
    seq: int  # ingestion order within the source: later files win where a rule says "latest"
    first_seen_at: str  # ISO UTC; also the ingested_at lineage value of the file's rows
    status: str  # parsed | rejected | duplicate_file
    reason: str | None = None
    rows_in: int = 0
    rows_parsed: int = 0
    rows_quarantined: int = 0
    min_date: str | None = None
    max_date: str | None = None
    duplicate_of: str | None = None  # file_name of the identical file ingested first
    # With size_bytes, lets a later scan skip re-hashing an unchanged landing file.
    mtime_ns: int | None = None

    @property
    def dates(self) -> list[date]:
        if not self.min_date or not self.max_date:
            return []
        start, end = date.fromisoformat(self.min_date), date.fromisoformat(self.max_date)
        return [date.fromordinal(d) for d in range(start.toordinal(), end.toordinal() + 1)]


# zstd level for the parsed copies: level 1 encodes them ~15% faster than the default (3) for
# a file a few percent larger; the raw partitions keep the default (their bytes are checksummed).
_PARSED_ZSTD_LEVEL = 1


def write_parquet_atomic(df: pl.DataFrame, path: Path, *, zstd_level: int | None = None) -> str:
    """Write ``df`` to ``path`` via a temp file and a rename; returns the file's SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    buffer = io.BytesIO()
    df.write_parquet(buffer, compression="zstd", compression_level=zstd_level, statistics=True)
    data = buffer.getbuffer()
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def _write_text_atomic(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _copy_atomic(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


_PREFETCH_MAX_BYTES = 512 << 20  # a larger next file is read when its turn comes, not alongside


def _read_landing(path: Path) -> bytes:
    return path.read_bytes()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Catalog:
    """The per-source list of ingested files (``parsed/<source>/catalog.json``), guarded by a lock."""

    def __init__(self, paths: LakePaths, source_id: str):
        self.dir = paths.parsed / source_id
        self.path = self.dir / "catalog.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def load(self) -> list[FileRecord]:
        if not self.path.exists():
            return []
        return [FileRecord(**r) for r in json.loads(self.path.read_text(encoding="utf-8"))]

    def save(self, records: list[FileRecord]) -> None:
        _write_text_atomic(json.dumps([asdict(r) for r in records], indent=1), self.path)

    # Days whose raw partition is behind the parsed files: set before a file enters the catalog,
    # cleared once the partition is written, so a crash in between leaves the day to rebuild.
    @property
    def pending_path(self) -> Path:
        return self.dir / "pending_days.json"

    def pending(self) -> set[date]:
        if not self.pending_path.exists():
            return set()
        return {date.fromisoformat(d) for d in json.loads(self.pending_path.read_text(encoding="utf-8"))}

    def set_pending(self, days: set[date]) -> None:
        if days or self.pending_path.exists():
            _write_text_atomic(json.dumps(sorted(d.isoformat() for d in days)), self.pending_path)


PARTITIONS_MANIFEST = "_partitions.json"


def partition_manifest(paths: LakePaths, source_id: str) -> dict[str, dict]:
    """raw/<source>/_partitions.json by day: every raw partition as ingest last wrote it.

    Each record holds the day, the file's SHA-256 (so that a damaged file is caught before it is
    built into the warehouse: a flipped byte inside a Parquet page can read as a wrong value), its
    rows and when it was written (so that an incremental model can take only the days rewritten
    since its last run: ``read_json('raw/<source>/_partitions.json')``).
    """
    path = paths.raw_dir(source_id) / PARTITIONS_MANIFEST
    if not path.exists():
        return {}
    return {r["partition_date"]: r for r in json.loads(path.read_text(encoding="utf-8"))}


def _save_partition_manifest(paths: LakePaths, source_id: str, manifest: dict[str, dict]) -> None:
    records = [manifest[day] for day in sorted(manifest)]
    _write_text_atomic(json.dumps(records, indent=0), paths.raw_dir(source_id) / PARTITIONS_MANIFEST)


def remove_stale_temp_files(*folders: Path, recursive: bool = True) -> list[Path]:
    """Delete temp files and folders (``.<name>.<pid>.tmp``) that a killed writer left behind.

    A temp file whose writer is still running is kept.
    """
    removed = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for tmp in folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp"):
            pid = next((part for part in reversed(tmp.name.split(".")) if part.isdigit()), "")
            if pid and _process_alive(int(pid)):
                continue
            with contextlib.suppress(FileNotFoundError):
                if tmp.is_dir():
                    shutil.rmtree(tmp)
                else:
                    tmp.unlink()
                removed.append(tmp)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _source_folders(paths: LakePaths, source_id: str) -> list[Path]:
    return [
        paths.parsed / source_id,
        paths.raw_dir(source_id),
        paths.root / "ingest_log" / source_id,
        paths.quarantine / source_id,
    ]


def landing_files(paths: LakePaths, source_id: str) -> list[Path]:
    root = paths.landing_dir(source_id)
    if not root.exists():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# Parsed frames kept for the build_partitions that follows scan_landing in the same process (see
# parsed_in_memory): it then need not read back what was just written.
_in_memory: OrderedDict[str, pl.DataFrame] | None = None
# 1 GiB: at 10^8 meter readings a year's monthly files are ~1 GiB each once parsed, and holding four of
# them beside the parse of the next and the build's chunk took ingest past 8 GiB (bench/RESULTS.md).
_IN_MEMORY_MAX_BYTES = 1 << 30


@contextlib.contextmanager
def parsed_in_memory() -> Iterator[None]:
    """Within this block, files parsed by scan_landing stay in memory (up to 1 GiB, newest kept)
    for build_partitions to use instead of reading parsed/ back."""
    global _in_memory
    outer, _in_memory = _in_memory, OrderedDict()
    try:
        yield
    finally:
        _in_memory = outer


def _remember_parsed(sha: str, rows: pl.DataFrame) -> None:
    if _in_memory is None:
        return
    _in_memory[sha] = rows
    while sum(frame.estimated_size() for frame in _in_memory.values()) > _IN_MEMORY_MAX_BYTES:
        _in_memory.popitem(last=False)


def _parsed_rows(record: FileRecord, path: Path) -> pl.LazyFrame:
    if _in_memory is not None and record.sha256 in _in_memory:
        return _in_memory.pop(record.sha256).lazy()
    return pl.scan_parquet(path)


def _parse(
    src: Source, path: Path, name: str, first_seen_at: str, data: bytes | None
) -> ParsedFile | FileRejected:
    """The file parsed (lineage without its checksum, which :func:`_store` adds), or why not."""
    try:
        if path.suffix.lower() not in src.file_extensions:
            raise FileRejected(
                f"unexpected file type {path.suffix or '(none)'!r} for {src.source_id}; "
                f"expected {', '.join(src.file_extensions)}"
            )
        return src.parse(
            path, source_file=name, sha256="", ingested_at=datetime.fromisoformat(first_seen_at), data=data
        )
    except FileRejected as exc:
        return exc


def _store(
    src: Source, paths: LakePaths, path: Path, record: FileRecord, parsed: ParsedFile | FileRejected
) -> None:
    """Write a parse into parsed/ and quarantine/ (a rejected file: its copy); fill in the record."""
    if isinstance(parsed, FileRejected):
        _copy_atomic(path, paths.quarantine / src.source_id / "files" / f"{record.sha256[:12]}__{path.name}")
        record.status, record.reason = "rejected", str(parsed)
        return
    rows = parsed.rows.with_columns(pl.lit(record.sha256).alias("source_file_sha256"))
    write_parquet_atomic(
        rows, paths.parsed / src.source_id / f"{record.sha256}.parquet", zstd_level=_PARSED_ZSTD_LEVEL
    )
    _remember_parsed(record.sha256, rows)
    if parsed.quarantined.height:
        write_parquet_atomic(
            parsed.quarantined, paths.quarantine / src.source_id / "rows" / f"{record.sha256}.parquet"
        )
    record.status = "parsed"
    record.rows_in = parsed.rows_in
    record.rows_parsed = rows.height
    record.rows_quarantined = parsed.quarantined.height
    if rows.height:
        record.min_date = rows[PARTITION_COLUMN].min().isoformat()
        record.max_date = rows[PARTITION_COLUMN].max().isoformat()


_CHECKPOINT_SECONDS = 10.0  # a long scan records its progress this often (a crash re-parses less)


def scan_landing(
    source_id: str, paths: LakePaths | None = None, progress: ProgressCallback | None = None
) -> list[FileRecord]:
    """Parse every landing file not seen before. Returns the records of the files new in this scan.

    A file whose size and modification time match its catalog record is not read again. The next
    file is read in the background, and a file is hashed while it is parsed (unless its size
    says it may be a copy of a catalogued file: then it is hashed first and parsed only if new).
    """
    paths = paths or lake()
    src = connector(source_id)
    catalog = Catalog(paths, source_id)
    new: list[FileRecord] = []
    with catalog.locked(), ThreadPoolExecutor(2) as hashers:
        remove_stale_temp_files(*_source_folders(paths, source_id))
        records = catalog.load()
        pending = catalog.pending()
        known = {(r.file_name, r.sha256) for r in records}
        by_sha = {r.sha256: r for r in records if r.status != "duplicate_file"}
        latest = {r.file_name: r for r in records}  # catalog order: the last record of a name wins
        root = paths.landing_dir(source_id)
        candidates = []
        for path in landing_files(paths, source_id):
            name, stat = path.relative_to(root).as_posix(), path.stat()
            previous = latest.get(name)
            if previous and (previous.size_bytes, previous.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                continue
            candidates.append((path, name, stat))
        sizes = {r.size_bytes for r in records}

        def read(k: int) -> Callable[[], bytes]:
            """The k-th file's bytes when called: read ahead in the background if not large."""
            path, _, stat = candidates[k]
            if stat.st_size <= _PREFETCH_MAX_BYTES:
                return hashers.submit(_read_landing, path).result
            return lambda: _read_landing(path)

        reads = [read(0)] if candidates else []
        dirty = False
        last_checkpoint = time.monotonic()
        for k, (path, name, stat) in enumerate(candidates):
            data = reads[k]()
            reads[k] = None
            if k + 1 < len(candidates):
                reads.append(read(k + 1))
            hashing = hashers.submit(_sha256, data)
            first_seen_at = _now_iso()
            parsed = _parse(src, path, name, first_seen_at, data) if stat.st_size not in sizes else None
            sha = hashing.result()
            if (name, sha) in known:
                previous = latest[name]
                if previous.sha256 == sha and previous.mtime_ns != stat.st_mtime_ns:
                    previous.mtime_ns, dirty = stat.st_mtime_ns, True  # touched, not changed
                continue
            record = FileRecord(
                source_id=source_id,
                file_name=name,
                sha256=sha,
                size_bytes=stat.st_size,
                seq=len(records) + 1,
                first_seen_at=first_seen_at,
                status="parsed",
                mtime_ns=stat.st_mtime_ns,
            )
            if sha in by_sha:
                first = by_sha[sha]
                record.status = "duplicate_file"
                record.duplicate_of = first.file_name
                record.reason = f"identical content to {first.file_name} (already ingested)"
                record.rows_in, record.rows_quarantined = first.rows_in, 0
                record.rows_parsed = first.rows_in
            else:
                if progress:
                    progress(f"{source_id}: parsing {name}")
                if parsed is None:
                    parsed = _parse(src, path, name, first_seen_at, data)
                _store(src, paths, path, record, parsed)
                crashpoints.reached("ingest.parsed_not_recorded")
                by_sha[sha] = record
                pending.update(record.dates)
            del data, parsed
            sizes.add(record.size_bytes)
            records.append(record)
            latest[name] = record
            known.add((name, sha))
            new.append(record)
            dirty = True
            if time.monotonic() - last_checkpoint > _CHECKPOINT_SECONDS:
                catalog.set_pending(pending)  # before the catalog: a recorded file's days are pending
                catalog.save(records)
                last_checkpoint = time.monotonic()
        if dirty:
            catalog.set_pending(pending)
            catalog.save(records)
    return new


def pending_dates(source_id: str, paths: LakePaths | None = None) -> list[date]:
    """Days whose raw partition does not yet reflect every parsed file (new files, an interrupted
    build). ``build_partitions`` clears the days it writes."""
    return sorted(Catalog(paths or lake(), source_id).pending())


@dataclass
class PartitionResult:
    partition_date: date
    rows_in: int
    loaded: int
    duplicates: int
    superseded: int


_HASH_MIX = 0x9E3779B97F4A7C15  # odd 64-bit multiplier (2^64 / golden ratio): spreads each column's hash


def _row_hashes(df: pl.DataFrame, *column_sets: list[str]) -> tuple[pl.Series, ...]:
    """A 64-bit hash of each row's values in each set of columns (computed side by side).

    Each column is hashed on its own and the hashes are mixed (wrapping multiply-add): several
    times cheaper than hashing a struct of the columns. Equal rows get equal hashes either way,
    and callers compare rows whose hashes are equal, so a collision costs time, never a result.
    """

    def mixed(columns: list[str]) -> pl.Expr:
        combined = pl.col(columns[0]).hash(seed=0)
        for position, column in enumerate(columns[1:], start=1):
            combined = combined * _HASH_MIX + pl.col(column).hash(seed=position)
        return combined

    hashes = df.select(mixed(columns).alias(f"h{i}") for i, columns in enumerate(column_sets))
    return tuple(hashes.get_columns())


def _all_distinct(hashes: pl.Series) -> bool:
    # Counting distinct values is several times cheaper than flagging the first of each.
    return hashes.n_unique() == hashes.len()


def _distinct_mask(
    df: pl.DataFrame, columns: list[str], *, last: bool = False, hashes: pl.Series | None = None
) -> pl.Series:
    """Exactly ``pl.struct(columns).is_first_distinct()`` (or ``is_last_distinct``), computed cheaply.

    Rows are hashed; a row whose hash came earlier is compared column by column with that earlier
    row (equal: not distinct). Only hashes shared by rows that differ - a 64-bit collision - fall
    back to the full comparison of their rows.
    """
    if df.is_empty():
        return pl.Series(dtype=pl.Boolean)
    if hashes is None:
        (hashes,) = _row_hashes(df, columns)
    if _all_distinct(hashes):  # the common case of new records: nothing repeats
        return pl.repeat(True, df.height, eager=True)
    if last:  # the last distinct rows are the first distinct ones in reverse order
        hashes = hashes.reverse()
    first = hashes.is_first_distinct()
    # Every repeat, with the row where its hash first occurred (positions in `df`).
    positions = (
        pl.int_range(df.height - 1, -1, -1, eager=True) if last else pl.int_range(df.height, eager=True)
    )
    order = pl.DataFrame({"hash": hashes, "row": positions})
    repeats = order.filter(~first).join(
        order.filter(first).rename({"row": "first_row"}), on="hash", how="left", maintain_order="left"
    )
    same = pl.repeat(True, repeats.height, eager=True)
    for column in columns:
        values = df.get_column(column)
        same &= values.gather(repeats["row"]).eq_missing(values.gather(repeats["first_row"]))
    if not same.all():
        # A collision: decide the rows of the affected hashes by full comparison.
        collided = order["hash"].is_in(repeats.filter(~same)["hash"].implode())
        rows = order["row"].filter(collided)
        key = pl.struct(columns)
        exact = df[rows.sort()].select(key.is_last_distinct() if last else key.is_first_distinct())
        first = first.scatter(collided.arg_true(), exact.to_series().reverse() if last else exact.to_series())
    return first.reverse() if last else first


class DamagedParsedFile(RuntimeError):
    """A parsed file cannot be read, and the landing file it came from is gone or changed."""


def _rows_of_days(
    src: Source, paths: LakePaths, files: list[tuple[FileRecord, Path]], days: list[date]
) -> pl.DataFrame:
    """Every parsed row of these days, in file order, with __seq and __file_rank.

    A parsed file that cannot be read is parsed again from its landing file (same record, so the
    same rows) when that file is unchanged; otherwise DamagedParsedFile names both.
    """
    # Sorting on a file's rank by name instead of its name: same order, far cheaper.
    file_rank = {name: rank for rank, name in enumerate(sorted({r.file_name for r, _ in files}))}

    def frames() -> list[pl.LazyFrame]:
        return [
            _parsed_rows(r, p)
            .filter(pl.col(PARTITION_COLUMN).is_in(days))
            .with_columns(
                pl.lit(r.seq, pl.Int64).alias("__seq"),
                pl.lit(file_rank[r.file_name], pl.Int64).alias("__file_rank"),
            )
            for r, p in files
        ]

    if not files:
        return src.empty_frame().with_columns(
            pl.lit(0, pl.Int64).alias("__seq"), pl.lit(0, pl.Int64).alias("__file_rank")
        )
    try:
        return pl.concat(frames()).collect()
    except (pl.exceptions.PolarsError, OSError):
        for record, path in files:
            try:
                pl.read_parquet(path)
            except (pl.exceptions.PolarsError, OSError) as exc:
                _reparse(src, paths, record, path, exc)
        return pl.concat(frames()).collect()


def _reparse(src: Source, paths: LakePaths, record: FileRecord, parsed_path: Path, damage: Exception) -> None:
    landing = paths.landing_dir(src.source_id) / record.file_name
    if not landing.is_file() or sha256_of(landing) != record.sha256:
        raise DamagedParsedFile(
            f"{parsed_path} (the parse of landing/{src.source_id}/{record.file_name}) cannot be read ({damage}), "
            "and the landing file is gone or has changed, so it cannot be parsed again: restore the landing "
            "file, or remove both and ingest the file anew"
        ) from None
    logging.getLogger(__name__).warning(
        "%s cannot be read (%s): parsing landing/%s/%s again",
        parsed_path,
        damage,
        src.source_id,
        record.file_name,
    )
    again = FileRecord(**asdict(record))
    _store(src, paths, landing, again, _parse(src, landing, record.file_name, record.first_seen_at, None))
    if (again.status, again.rows_parsed) != (record.status, record.rows_parsed):
        raise DamagedParsedFile(
            f"parsing {landing} again gave a different result; {parsed_path} left as it is"
        )


def _outcomes(src: Source, rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series, pl.DataFrame]:
    """(``rows`` in file and row order, which of them are loaded, per day and file: loaded /
    duplicates / superseded counts).

    ``rows`` are every parsed row of the days being built. Within a day, a row is a duplicate when
    the same normalised record came earlier (file order, then row order), superseded when a later
    version of its natural key exists, and loaded otherwise. All days are flagged in one pass: the
    day is part of every key.
    """
    in_order = rows.select(
        ((pl.col("__seq").diff() > 0) | ((pl.col("__seq").diff() == 0) & (pl.col("source_row").diff() > 0)))
        .fill_null(True)
        .all()
    ).item()
    if not in_order:  # parsed files are in row order and concatenated in file order: rarely taken
        rows = rows.sort("__seq", "source_row")
    dedupe = [PARTITION_COLUMN, *src.dedupe_columns()]
    if not src.natural_key:
        first = _distinct_mask(rows, dedupe)
        return rows, first, _outcome_log(rows, first, first)
    key = [PARTITION_COLUMN, *src.natural_key]
    if set(key) <= set(dedupe):
        # Rows whose keys all differ are distinct records too (the key is part of the record),
        # each the only version of its key: all loaded. The common case of new data, and the
        # key is far cheaper to hash than the whole record.
        (key_hashes,) = _row_hashes(rows, key)
        if _all_distinct(key_hashes):
            every = pl.repeat(True, rows.height, eager=True)
            return rows, every, _outcome_log(rows, every, every)
        (record_hashes,) = _row_hashes(rows, dedupe)
    else:
        record_hashes, key_hashes = _row_hashes(rows, dedupe, key)
    first = _distinct_mask(rows, dedupe, hashes=record_hashes)
    distinct = rows.select(*key, *([src.version_column] if src.version_column else [])).filter(first)
    key_hashes = key_hashes.filter(first)
    # The winner of a natural key is the greatest (version, file, row), null versions lowest:
    # with the rows in (file, row) order, a stable sort on the version makes it the last one.
    if src.version_column:
        position = distinct.with_row_index("__position").sort(
            src.version_column, nulls_last=False, maintain_order=True
        )
        winner = _distinct_mask(position, key, last=True, hashes=key_hashes.gather(position["__position"]))
        order = position["__position"].filter(winner)
        winner = pl.repeat(False, distinct.height, eager=True).scatter(order, True)
    else:
        winner = _distinct_mask(distinct, key, last=True, hashes=key_hashes)
    loaded_flag = first.clone().scatter(first.arg_true(), winner)
    return rows, loaded_flag, _outcome_log(rows, first, loaded_flag)


def _outcome_log(rows: pl.DataFrame, first: pl.Series, loaded: pl.Series) -> pl.DataFrame:
    """Per day and file: loaded / duplicates / superseded counts of the flagged rows."""
    return (
        rows.select(PARTITION_COLUMN, "source_file_sha256")
        .with_columns(first.alias("__first"), loaded.alias("__loaded"))
        .group_by(PARTITION_COLUMN, "source_file_sha256")
        .agg(
            pl.col("__loaded").sum().cast(pl.Int64).alias("loaded"),
            (pl.len() - pl.col("__first").sum()).cast(pl.Int64).alias("duplicates"),
            (pl.col("__first").sum() - pl.col("__loaded").sum()).cast(pl.Int64).alias("superseded"),
        )
    )


def _in_file_order(src: Source, rows: pl.DataFrame, loaded: pl.Series) -> dict[date, pl.Series]:
    """Per day, the positions in ``rows`` of its loaded rows in the order of the day's file:
    interval start, natural key, file name, row (then file version, so that two versions of one
    file name cannot tie). Sorting uses the key columns only; each writer gathers its own day.
    """
    keys = [PARTITION_COLUMN, "interval_start_utc", *src.natural_key, "__file_rank", "source_row", "__seq"]
    keys = list(dict.fromkeys(keys))  # a natural key may hold the interval start
    positions = loaded.arg_true()
    key_rows = rows.select(keys)[positions]
    order = positions.gather(_sort_permutation(key_rows, keys))
    days = rows.get_column(PARTITION_COLUMN).gather(order).rle()
    out, offset = {}, 0
    for run in days.struct.unnest().iter_rows(named=True):
        out[run["value"]] = order.slice(offset, run["len"])
        offset += run["len"]
    return out


def _day_frame(rows: pl.DataFrame, day: pl.DataFrame | pl.Series) -> pl.DataFrame:
    """A day's log as it is, or its rows gathered from their positions in ``rows``."""
    return day if isinstance(day, pl.DataFrame) else rows[day]


_DATETIME_UNITS_US = (1_800_000_000, 60_000_000, 1_000_000)  # half hour, minute, second


def _sort_permutation(df: pl.DataFrame, keys: list[str]) -> pl.Series:
    """The row order of ``df.sort(keys)`` (nulls first), for keys that make every row unique.

    Each key becomes a small non-negative integer with the same order (text: its rank among the
    distinct values; numbers and times: the offset from the smallest, in whole half hours, minutes
    or seconds when all are), null lowest; a key with one value throughout or a copy of an earlier
    key is left out. The integers are packed into as few 64-bit words as they fit, and sorting a word or two is far
    cheaper than sorting the keys themselves.
    """
    schema = df.schema
    if df.height <= 1:  # nothing to order (and a literal code below would broadcast to one row)
        return pl.Series("__position", range(df.height), dtype=pl.UInt32)
    if not all(
        schema[k] == pl.String or schema[k].is_integer() or schema[k] in (pl.Date, pl.Datetime) for k in keys
    ):
        return df.with_row_index("__position").sort(keys)["__position"]  # e.g. a float key
    numbers = [k for k in keys if schema[k] != pl.String]
    physical = {k: pl.col(k).to_physical().cast(pl.Int64) for k in numbers}
    stats = df.select(
        *[physical[k].min().alias(f"min {k}") for k in numbers],
        *[physical[k].max().alias(f"max {k}") for k in numbers],
        *[pl.col(k).null_count().alias(f"nulls {k}") for k in keys],
        *[
            (physical[k] % unit == 0).all().alias(f"{unit} {k}")
            for k in numbers
            if schema[k] == pl.Datetime
            for unit in _DATETIME_UNITS_US
        ],
    ).row(0, named=True)
    codes: list[tuple[pl.Expr, int]] = []  # (code expression, largest code)
    for i, k in enumerate(keys):
        if any(schema[e] == schema[k] and df.get_column(e).equals(df.get_column(k)) for e in keys[:i]):
            continue  # a copy of an earlier key (e.g. the interval start under its source name)
        if schema[k] == pl.String:
            distinct = df.get_column(k).drop_nulls().unique().sort()
            if len(distinct) <= 1 and stats[f"nulls {k}"] in (0, df.height):
                continue  # one value throughout: no part in the order
            ranks = pl.int_range(1, len(distinct) + 1, eager=True, dtype=pl.UInt64)
            codes.append(
                (pl.col(k).replace_strict(distinct, ranks, default=0, return_dtype=pl.UInt64), len(distinct))
            )
            continue
        low, high = stats[f"min {k}"], stats[f"max {k}"]
        if low is None or (low == high and stats[f"nulls {k}"] == 0):
            continue  # one value (or null) throughout
        value, scale = physical[k], 1
        unit = next((u for u in _DATETIME_UNITS_US if stats.get(f"{u} {k}")), None)
        if unit is not None:
            value, scale = value // unit, unit
        low, high = low // scale, high // scale
        codes.append(((value - low + 1).fill_null(0).cast(pl.UInt64), high - low + 1))
    if not codes:
        return pl.Series("__position", range(df.height), dtype=pl.UInt32)
    words: list[pl.Expr] = []
    used = 0
    for code, top in codes:
        bits = max(1, int(top).bit_length())
        if words and used + bits <= 64:
            words[-1] = words[-1] * (1 << bits) + code
            used += bits
        else:
            words.append(code)
            used = bits
    packed = df.select(word.alias(f"w{i}") for i, word in enumerate(words))
    if packed.width == 1:
        return packed.to_series().arg_sort()
    return packed.with_row_index("__position").sort(packed.columns)["__position"]


_WRITERS = 4  # Parquet writes release the GIL; a few in flight hide the per-file fsync


# Parsed rows built at once (estimated from each file's rows spread over its days): bounds the
# build's memory when a large backfill covers many days. Days are independent, so the result is
# the same however they are grouped.
_BUILD_CHUNK_ROWS = 5_000_000  # ~2 GiB of rows in flight (~420 bytes per meter reading while built)


def build_partitions(
    source_id: str, dates: Iterable[date], paths: LakePaths | None = None
) -> list[PartitionResult]:
    """(Re)write the raw partitions for these days from every parsed file of the source."""
    paths = paths or lake()
    src = connector(source_id)
    wanted = sorted(set(dates))
    catalog = Catalog(paths, source_id)
    results: list[PartitionResult] = []
    with catalog.locked():
        remove_stale_temp_files(*_source_folders(paths, source_id))
        records = [r for r in catalog.load() if r.status == "parsed" and r.rows_parsed]
        wanted_set = set(wanted)
        files = [
            (r, paths.parsed / source_id / f"{r.sha256}.parquet")
            for r in sorted(records, key=lambda r: r.seq)
            if wanted_set.intersection(r.dates)
        ]
        manifest = partition_manifest(paths, source_id)
        wrote = False
        for days in _day_chunks(files, wanted):
            chunk = set(days)
            chunk_files = [(r, path) for r, path in files if chunk.intersection(r.dates)]
            chunk_results, chunk_wrote = _build_days(src, paths, chunk_files, days, manifest)
            results += chunk_results
            wrote |= chunk_wrote
        if wrote or manifest != partition_manifest(paths, source_id):
            _save_partition_manifest(paths, source_id, manifest)
        pending = catalog.pending()
        if pending & wanted_set:
            catalog.set_pending(pending - wanted_set)
    return results


def _day_chunks(files: list[tuple[FileRecord, Path]], days: list[date]) -> list[list[date]]:
    """The days in order, in consecutive groups of about _BUILD_CHUNK_ROWS parsed rows (a day
    with more is a group of its own)."""
    rows_per_day = dict.fromkeys(days, 0.0)
    for record, _ in files:
        span = record.dates
        for day in span:
            if day in rows_per_day:
                rows_per_day[day] += record.rows_parsed / len(span)
    chunks: list[list[date]] = []
    size = 0.0
    for day in days:
        if not chunks or (size + rows_per_day[day] > _BUILD_CHUNK_ROWS and chunks[-1]):
            chunks.append([])
            size = 0.0
        chunks[-1].append(day)
        size += rows_per_day[day]
    return chunks


def _build_days(
    src: Source, paths: LakePaths, files: list[tuple[FileRecord, Path]], wanted: list[date], manifest: dict
) -> tuple[list[PartitionResult], bool]:
    """Write the raw partitions and count logs of these days (files in ingestion order), updating
    ``manifest``. Returns the partitions written and whether any file was written."""
    source_id = src.source_id
    results: list[PartitionResult] = []
    rows = _rows_of_days(src, paths, files, wanted)
    # One chunk: gathering rows from a frame of many chunks (several files, Parquet row groups)
    # gets far slower than the copy that joins them.
    rows, loaded, log = _outcomes(src, rows.rechunk())
    loaded_by_day = _in_file_order(src, rows, loaded)
    columns = src.empty_frame().columns
    raw_rows = rows.select(columns)
    log_by_day = log.sort(PARTITION_COLUMN, "source_file_sha256").partition_by(
        PARTITION_COLUMN, as_dict=True, maintain_order=True, include_key=False
    )
    writes: list[tuple[pl.DataFrame | pl.Series, Path]] = []
    for day in wanted:
        part_dir = paths.raw_dir(source_id) / f"date={day.isoformat()}"
        log_path = paths.root / "ingest_log" / source_id / f"date={day.isoformat()}.parquet"
        day_log = log_by_day.get((day,))
        if day_log is None:
            for stale in (part_dir / "data.parquet", log_path):
                stale.unlink(missing_ok=True)
            manifest.pop(day.isoformat(), None)
            continue
        day_rows = loaded_by_day.get(day, pl.Series(dtype=pl.UInt32))
        writes += [(day_rows, part_dir / "data.parquet"), (day_log, log_path)]
        results.append(
            PartitionResult(
                partition_date=day,
                rows_in=int(
                    day_log.select(pl.sum_horizontal(pl.all().exclude("source_file_sha256")).sum()).item()
                ),
                loaded=len(day_rows),
                duplicates=int(day_log["duplicates"].sum()),
                superseded=int(day_log["superseded"].sum()),
            )
        )
    with ThreadPoolExecutor(_WRITERS) as pool:
        half = len(writes) // 2
        for batch in (writes[:half], writes[half:]):
            digests = pool.map(lambda job: write_parquet_atomic(_day_frame(raw_rows, job[0]), job[1]), batch)
            for (day_rows, path), digest in zip(batch, digests, strict=True):
                if path.name == "data.parquet":
                    day = path.parent.name.removeprefix("date=")
                    manifest[day] = {
                        "partition_date": day,
                        "sha256": digest,
                        "rows": len(day_rows),
                        "written_at": _now_iso(),
                    }
            crashpoints.reached("ingest.partitions_half_written")
    return results, bool(writes)


def damaged_raw_files(paths: LakePaths | None = None) -> list[tuple[str, Path, str]]:
    """(source, file, what is wrong) for every raw partition that must not be built into the
    warehouse: its bytes differ from what ingest wrote, or it is not a readable Parquet file.

    Days still pending are skipped: the next ingest rewrites them anyway.
    """
    import pyarrow.parquet as pq

    paths = paths or lake()
    damaged = []
    for source_id in CONNECTORS:
        catalog = Catalog(paths, source_id)
        manifest = partition_manifest(paths, source_id)
        pending = {d.isoformat() for d in catalog.pending()}
        for path in sorted(paths.raw_dir(source_id).glob("date=*/*.parquet")):
            day = path.parent.name.removeprefix("date=")
            if day in pending:
                continue
            expected = manifest[day]["sha256"] if path.name == "data.parquet" and day in manifest else None
            if expected is not None:
                if sha256_of(path) != expected:
                    damaged.append((source_id, path, "its content differs from what ingest wrote (checksum)"))
                continue
            try:  # written before checksums were kept, or not by ingest: the footer must be sound
                pq.read_metadata(path)
            except Exception as exc:  # noqa: BLE001 - any failure to read the footer is damage
                damaged.append((source_id, path, f"not a readable Parquet file ({exc})"))
    return damaged


def known_dates(source_id: str, paths: LakePaths | None = None) -> list[date]:
    """Every day some parsed file of the source has rows for."""
    paths = paths or lake()
    days: set[date] = set()
    for record in Catalog(paths, source_id).load():
        if record.status == "parsed":
            days.update(record.dates)
    return sorted(days)


def file_report(source_id: str, paths: LakePaths | None = None) -> pl.DataFrame:
    """One row per landing file: rows in, loaded, duplicates, superseded, quarantined, status, reason.

    ``balanced`` is True when rows_in = loaded + duplicates + superseded + quarantined.
    """
    paths = paths or lake()
    records = (
        Catalog(paths, source_id).load() if source_id != UNKNOWN_SOURCE else unknown_landing_files(paths)
    )
    schema = {
        "source_id": pl.String,
        "file_name": pl.String,
        "sha256": pl.String,
        "status": pl.String,
        "reason": pl.String,
        "first_seen_at": pl.String,
        "rows_in": pl.Int64,
        "rows_quarantined": pl.Int64,
    }
    if not records:
        return pl.DataFrame(
            schema={
                **schema,
                "loaded": pl.Int64,
                "duplicates": pl.Int64,
                "superseded": pl.Int64,
                "balanced": pl.Boolean,
            }
        )
    base = pl.DataFrame([{k: getattr(r, k) for k in schema} for r in records], schema=schema)
    logs = sorted((paths.root / "ingest_log" / source_id).glob("date=*.parquet"))
    if logs:
        counts = (
            pl.concat([pl.read_parquet(p) for p in logs])
            .group_by("source_file_sha256")
            .agg(pl.col("loaded").sum(), pl.col("duplicates").sum(), pl.col("superseded").sum())
            .rename({"source_file_sha256": "sha256"})
        )
    else:
        counts = pl.DataFrame(
            schema={"sha256": pl.String, "loaded": pl.Int64, "duplicates": pl.Int64, "superseded": pl.Int64}
        )
    report = base.join(counts, on="sha256", how="left").with_columns(
        # A byte-identical second copy of a file contributes only duplicates.
        pl.when(pl.col("status") == "duplicate_file")
        .then(0)
        .otherwise(pl.col("loaded").fill_null(0))
        .alias("loaded"),
        pl.when(pl.col("status") == "duplicate_file")
        .then(pl.col("rows_in"))
        .otherwise(pl.col("duplicates").fill_null(0))
        .alias("duplicates"),
        pl.when(pl.col("status") == "duplicate_file")
        .then(0)
        .otherwise(pl.col("superseded").fill_null(0))
        .alias("superseded"),
    )
    return report.with_columns(
        (
            pl.col("rows_in")
            == pl.col("loaded") + pl.col("duplicates") + pl.col("superseded") + pl.col("rows_quarantined")
        ).alias("balanced")
    )


UNKNOWN_SOURCE = "_unknown_source"


def unknown_landing_files(paths: LakePaths | None = None) -> list[FileRecord]:
    """Files in landing/ that no connector reads (an unknown source folder, or no folder at all).

    Each is copied to quarantine/_unknown_source/files/ once and reported with the reason.
    """
    paths = paths or lake()
    if not paths.landing.exists():
        return []
    records = []
    for path in sorted(p for p in paths.landing.rglob("*") if p.is_file()):
        relative = path.relative_to(paths.landing)
        if any(part.startswith(".") for part in relative.parts) or relative.parts[0] in CONNECTORS:
            continue
        if relative.name == "README.md":
            continue
        folder = relative.parts[0] if len(relative.parts) > 1 else "(landing root)"
        sha = sha256_of(path)
        target = paths.quarantine / UNKNOWN_SOURCE / "files" / f"{sha[:12]}__{path.name}"
        if not target.exists():
            _copy_atomic(path, target)
        known = ", ".join(sorted(CONNECTORS))
        records.append(
            FileRecord(
                source_id=folder,
                file_name=relative.as_posix(),
                sha256=sha,
                size_bytes=path.stat().st_size,
                seq=0,
                first_seen_at=datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds"),
                status="rejected",
                reason=f"no connector for source {folder!r}: put files under landing/<source_id>/ for one of: {known}",
            )
        )
    return records


def ensure_raw_schemas(paths: LakePaths | None = None) -> None:
    """Give every source a zero-row schema file so dbt can read sources that have no data yet."""
    paths = paths or lake()
    for source_id, src in CONNECTORS.items():
        target = paths.raw_dir(source_id) / "_schema.parquet"
        empty = src.empty_frame()
        if target.exists() and pl.read_parquet_schema(target) == dict(empty.schema):
            continue
        write_parquet_atomic(empty, target)


def ingest_files(files: list[Path], source_id: str, paths: LakePaths | None = None) -> list[Path]:
    """Copy files into landing/<source_id>/ (the ``sfe ingest`` entry point). Returns the copies."""
    paths = paths or lake()
    connector(source_id)  # fail fast on an unknown source
    target_dir = paths.landing_dir(source_id)
    target_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"no such file: {f}")
        target = target_dir / f.name
        if target.exists() and sha256_of(target) != sha256_of(f):
            target = target_dir / f"{f.stem}.{sha256_of(f)[:8]}{f.suffix}"
        if not target.exists():
            _copy_atomic(f, target)
        copies.append(target)
    return copies


def markdown_table(df: pl.DataFrame) -> str:
    if df.is_empty():
        return "(none)"
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * df.width]
    for row in df.iter_rows():
        lines.append("| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)
