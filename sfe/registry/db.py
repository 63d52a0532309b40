"""Registry engine and sessions.

``SFE_REGISTRY_URL`` selects any SQLAlchemy URL (PostgreSQL is the multi-user production choice);
without it the registry is SQLite at ``lake/registry.sqlite`` in WAL mode, which lets the apps read
while one writer commits and keeps every acknowledged commit through a process crash.
The schema is owned by Alembic (``sfe/registry/migrations``); ``engine()`` upgrades to head once per
URL per process, so a fresh lake needs no manual step.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from sfe.config import lake

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000

_lock = threading.Lock()
_engines: dict[str, Engine] = {}


def registry_url() -> str:
    url = os.environ.get("SFE_REGISTRY_URL", "").strip()
    if url:
        return url
    path = lake().registry_db
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # FULL: a commit is on disk before it is acknowledged, also through a power loss.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # Take the write lock at BEGIN so concurrent writers queue on busy_timeout instead of failing
    # with "database is locked" when a read transaction later tries to upgrade to a write.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(url: str | None = None) -> None:
    """Upgrade the registry at ``url`` (default: the configured one) to the latest schema."""
    from alembic import command
    from alembic.config import Config

    url = url or registry_url()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["engine"] = _engines.get(url) or _make_engine(url)
    command.upgrade(config, "head")


def engine() -> Engine:
    """The process-wide engine of the configured registry, migrated to the latest schema."""
    url = registry_url()
    with _lock:
        existing = _engines.get(url)
        if existing is not None:
            return existing
        created = _make_engine(url)
        _engines[url] = created
        migrate(url)
        return created


def dispose_all() -> None:
    """Close every pooled connection (tests switch lakes; a crash test reopens the file)."""
    with _lock:
        for e in _engines.values():
            e.dispose()
        _engines.clear()


@contextmanager
def session() -> Iterator[Session]:
    """A unit of work: commits when the block ends normally, rolls back on an exception."""
    factory = sessionmaker(engine(), expire_on_commit=False)
    with factory() as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
