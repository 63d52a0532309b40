"""Read-only access to the published warehouse (``lake().serving_db``), shared by the API and the apps.

The build writes ``build.duckdb`` and publishes it by renaming a copy over ``sfe.duckdb``. Readers
never open the build file. A ``ServingDB`` keeps one read-only connection per process and hands a
fresh cursor to every query; before each query it compares the file's identity (device, inode,
mtime, size) with the one it opened and reconnects when a new publish replaced the file, so a long
running app or API process sees new data without a restart.

Why reconnecting waits for in-flight queries: DuckDB caches database instances per path inside a
process, so ``duckdb.connect(path)`` while the old connection is still open would hand back the old
(replaced) file. The old connection must be closed first, and closing it kills its cursors, so a
reconnect waits (briefly) until the queries running on the old connection have finished. A thread
that is itself inside a session on the old connection keeps using it, which avoids self-deadlock.

Only ``get_db()`` should be used by application code: one ``ServingDB`` per process (per lake).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from sfe.config import lake

log = logging.getLogger(__name__)

Params = Sequence[Any] | Mapping[str, Any] | None

# How long a reconnect waits for queries still running on the replaced file before it gives up and
# lets the caller read the previous publish (the next query tries again).
DRAIN_TIMEOUT_S = 30.0


class WarehouseNotBuilt(RuntimeError):
    """The published warehouse file does not exist (nothing has been built and published yet)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        super().__init__(
            f"The SFE warehouse has not been built yet: {self.path} does not exist. "
            "Run `make build` (or `sfe build`) to ingest the landing files, build the warehouse "
            "and publish it; SFE_LAKE_DIR selects the lake folder."
        )


@dataclass(frozen=True)
class FileIdentity:
    """What identifies one published file: a publish renames a new file (new inode) over the path."""

    device: int
    inode: int
    mtime_ns: int
    size: int

    @property
    def token(self) -> str:
        return f"{self.device:x}-{self.inode:x}-{self.mtime_ns:x}-{self.size:x}"


class _Generation:
    """One open connection to one published file, with a count of the queries running on it."""

    __slots__ = ("con", "identity", "active")

    def __init__(self, con: duckdb.DuckDBPyConnection, identity: FileIdentity):
        self.con = con
        self.identity = identity
        self.active = 0


class ReadSession:
    """A cursor on one published file: several queries that must see the same publish."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, identity: FileIdentity):
        self._cursor = cursor
        self.identity = identity

    @property
    def publish_version(self) -> str:
        return self.identity.token

    def query(self, sql: str, params: Params = None) -> pl.DataFrame:
        """Run one parameterised statement and return its rows as a Polars DataFrame."""
        relation = self._cursor.sql(sql, params=params) if params is not None else self._cursor.sql(sql)
        if relation is None:
            return pl.DataFrame()
        return relation.pl()

    def scalar(self, sql: str, params: Params = None) -> Any:
        frame = self.query(sql, params)
        if frame.height == 0 or frame.width == 0:
            return None
        return frame.item(0, 0)


class ServingDB:
    """Read-only, reconnect-on-publish access to one published DuckDB file. Thread-safe."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else lake().serving_db
        self._cond = threading.Condition()
        self._gen: _Generation | None = None
        self._local = threading.local()  # generations the current thread is inside (re-entrancy)
        self.reconnects = 0

    def __repr__(self) -> str:
        return f"ServingDB({str(self.path)!r})"

    # -- file identity -------------------------------------------------------------------------
    def _identity(self) -> FileIdentity:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise WarehouseNotBuilt(self.path) from None
        return FileIdentity(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def exists(self) -> bool:
        return self.path.is_file()

    def publish_version(self) -> str:
        """A token that changes whenever a new publish replaces the file (use it as a cache key).

        Raises WarehouseNotBuilt when the file does not exist.
        """
        return self._identity().token

    # -- connection management ------------------------------------------------------------------
    def _held(self) -> dict[int, int]:
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = {}
        return held

    def _connect(self, identity: FileIdentity) -> _Generation:
        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.IOException:
            if not self.path.exists():
                raise WarehouseNotBuilt(self.path) from None
            raise
        try:
            # Cursors inherit global settings: every TIMESTAMPTZ comes back in UTC.
            con.execute("SET GLOBAL TimeZone = 'UTC'")
        except Exception:
            con.close()
            raise
        return _Generation(con, identity)

    def _retire(self, gen: _Generation) -> None:
        """Close a replaced generation once no other thread runs a query on it (lock held)."""
        if gen.active:
            self._cond.wait_for(lambda: gen.active == 0 or self._gen is not gen, timeout=DRAIN_TIMEOUT_S)
        if self._gen is gen and gen.active == 0:
            self._gen = None
            try:
                gen.con.close()
            except duckdb.Error:  # pragma: no cover - closing is best effort
                log.exception("closing the previous serving connection failed")

    def _acquire(self) -> _Generation:
        identity = self._identity()
        held = self._held()
        with self._cond:
            while True:
                gen = self._gen
                if gen is not None and (gen.identity == identity or id(gen) in held):
                    # Current file, or this thread is already inside a session on the old one.
                    break
                if gen is None:
                    identity = self._identity()
                    gen = self._gen = self._connect(identity)
                    self.reconnects += 1
                    break
                self._retire(gen)
                if self._gen is gen:
                    # Queries on the old file did not finish in time: serve the previous publish
                    # for now; a later query reconnects.
                    log.warning("serving the previous publish: queries on it still running")
                    break
            gen.active += 1
        held[id(gen)] = held.get(id(gen), 0) + 1
        return gen

    def _release(self, gen: _Generation) -> None:
        held = self._held()
        held[id(gen)] -= 1
        if not held[id(gen)]:
            del held[id(gen)]
        with self._cond:
            gen.active -= 1
            if gen.active == 0:
                self._cond.notify_all()

    @contextmanager
    def session(self) -> Iterator[ReadSession]:
        """A cursor for several queries that must all read the same publish."""
        gen = self._acquire()
        try:
            cursor = gen.con.cursor()
            try:
                yield ReadSession(cursor, gen.identity)
            finally:
                cursor.close()
        finally:
            self._release(gen)

    def query(self, sql: str, params: Params = None) -> pl.DataFrame:
        """Run one parameterised, read-only statement on the current publish; rows as Polars."""
        with self.session() as s:
            return s.query(sql, params)

    def close(self) -> None:
        with self._cond:
            gen, self._gen = self._gen, None
            if gen is not None:
                if gen.active:
                    self._cond.wait_for(lambda: gen.active == 0, timeout=DRAIN_TIMEOUT_S)
                gen.con.close()


_registry_lock = threading.Lock()
_registry: dict[Path, ServingDB] = {}


def get_db(path: Path | str | None = None) -> ServingDB:
    """The process-wide ServingDB for ``path`` (default: the lake SFE_LAKE_DIR points at right now).

    Always go through here: two ServingDBs on one file in one process would share DuckDB's cached
    database instance, and one of them could not reconnect to a new publish while the other holds it.
    """
    path = Path(path).resolve() if path is not None else lake().serving_db
    db = _registry.get(path)
    if db is None:
        with _registry_lock:
            db = _registry.get(path)
            if db is None:
                db = _registry[path] = ServingDB(path)
    return db


def reset_db_registry() -> None:
    """Close every cached ServingDB (tests; a process that moves to another lake)."""
    with _registry_lock:
        dbs = list(_registry.values())
        _registry.clear()
    for db in dbs:
        db.close()
