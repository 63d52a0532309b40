"""Answers read from the registry, remembered until the registry changes (verified API keys, an
organisation's registered asset ids).

Verifying an API key costs a registry transaction on every request: SQLite takes its write lock
at BEGIN (``sfe.registry.db``), joins three tables and, about once a minute, writes the key's
``last_used_at``; ~1-2 ms, serialised across the API's threads. The answer only changes when the
registry does (a revocation, a user suspended, a key created), so it is kept and trusted while the
registry has not changed since it was read:

* SQLite (the default registry): ``PRAGMA data_version`` on a connection of our own changes
  whenever any other connection, in this process or another (the apps, the CLI), commits. An entry
  records the version read *before* the registry was asked, so a commit racing the read makes the
  entry stale at once. The file's identity is part of the version (a registry replaced by a new file
  is a change). Cost of a check: a ``stat`` and a pragma, tens of microseconds.
* Another database (``SFE_REGISTRY_URL`` = PostgreSQL, ...): nothing is cached; there is no change
  signal as cheap and exact, and a revoked key must fail at once.

Entries also expire after ``MAX_AGE_S`` (the interval at which ``api_keys.authenticate`` records a
key's last use, so that keeps working) and only successful answers are kept: an unknown key is
verified every time (the rate limit bounds those), and no table grows with invented keys. Keys are
held as SHA-256 digests, never as text.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool

from sfe.registry import db as registry_db

T = TypeVar("T")

MAX_AGE_S = 60.0
MAX_ENTRIES = 10_000
MAX_WATCHED_FILES = 8  # registries watched at once (tests switch lakes; a server has one)
# The check runs on the API's event loop: if SQLite is busy (recovering a WAL), answer "unknown" (no
# cache) rather than wait.
WATCH_TIMEOUT_S = 0.05

Version = tuple[int, int, int]  # device, inode, data_version


class _SqliteWatch:
    """``PRAGMA data_version`` of one SQLite file, on a connection that never writes."""

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None

    def version(self) -> Version | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None  # no registry yet: nothing to cache
        file = (st.st_dev, st.st_ino)
        with self._lock:
            try:
                if self._con is None or self._file != file:
                    # Holding the file open also keeps its inode from being reused by a new file.
                    self.close_locked()
                    self._con = sqlite3.connect(
                        self.path, check_same_thread=False, isolation_level=None, timeout=WATCH_TIMEOUT_S
                    )
                    self._file = file
                (data_version,) = self._con.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                self.close_locked()
                return None
        return (*file, int(data_version))

    def close_locked(self) -> None:
        if self._con is not None:
            self._con.close()
        self._con = None
        self._file = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()


_watches_lock = threading.Lock()
_watches: OrderedDict[str, _SqliteWatch | None] = OrderedDict()


def _watch(url: str) -> _SqliteWatch | None:
    """The watch of a SQLite registry file; None for other databases (and in-memory SQLite)."""
    try:
        return _watches[url]
    except KeyError:
        pass
    parsed = make_url(url)
    path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not path.startswith("file:"):
        watch: _SqliteWatch | None = _SqliteWatch(os.path.abspath(path))
    else:
        watch = None
    with _watches_lock:
        _watches[url] = watch
        while len(_watches) > MAX_WATCHED_FILES:
            _, old = _watches.popitem(last=False)
            if old is not None:
                old.close()
    return watch


def registry_version() -> tuple[str, Version] | None:
    """A token that changes with every commit to the configured registry; None: not cacheable."""
    url = registry_db.registry_url()
    watch = _watch(url)
    version = watch.version() if watch is not None else None
    return None if version is None else (url, version)


class RegistryCache:
    """``get(key, compute)``: ``compute()``'s answer, reused while the registry is unchanged.

    Answers ``keep`` rejects (e.g. None for an unknown key) are returned but not kept.
    """

    def __init__(
        self,
        max_age_s: float = MAX_AGE_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_age_s = max_age_s
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[tuple[str, Version], float, object]] = {}
        self.hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], T], keep: Callable[[T], bool] = lambda _: True) -> T:
        version, found, value = self._lookup(key)
        if found:
            return value  # type: ignore[return-value]
        value = compute()
        self._store(key, version, value, keep)
        return value

    async def aget(
        self, key: Hashable, compute: Callable[[], T], keep: Callable[[T], bool] = lambda _: True
    ) -> T:
        """``get`` for the event loop: a hit costs no thread; ``compute`` (registry I/O) runs in the
        threadpool, as a synchronous dependency would."""
        version, found, value = self._lookup(key)
        if found:
            return value  # type: ignore[return-value]
        value = await run_in_threadpool(compute)
        self._store(key, version, value, keep)
        return value

    def _lookup(self, key: Hashable) -> tuple[tuple[str, Version] | None, bool, object]:
        version = registry_version()  # read before the registry is asked: a racing commit wins
        if version is None:
            return None, False, None
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version and self._clock() - entry[1] < self.max_age_s:
            self.hits += 1
            return version, True, entry[2]
        self.misses += 1
        return version, False, None

    def _store(self, key: Hashable, version, value, keep: Callable) -> None:
        if version is None or not keep(value):
            return
        now = self._clock()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._prune(version, now)
            self._entries[key] = (version, now, value)

    def _prune(self, version: tuple[str, Version], now: float) -> None:
        """Drop stale entries; if all are current, drop the oldest half (lock held)."""
        for key, (v, at, _) in list(self._entries.items()):
            if v != version or now - at >= self.max_age_s:
                del self._entries[key]
        if len(self._entries) >= self.max_entries:
            for key in list(self._entries)[: len(self._entries) // 2]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def secret_key(kind: str, secret: str) -> tuple[str, bytes]:
    """A cache key for a secret (an API key): its SHA-256, so the cache never holds the secret."""
    return kind, hashlib.sha256(secret.encode("utf-8")).digest()
