"""Shared fixtures: every test that touches the lake gets its own SFE_LAKE_DIR."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sfe.config import LakePaths

FIXTURES = Path(__file__).parent / "fixtures"
# The real excerpts live beside the project in ../shared/samples (never copied into it).
SAMPLE_DIRS = [
    Path(os.environ["SFE_SAMPLES_DIR"]) if os.environ.get("SFE_SAMPLES_DIR") else None,
    Path(__file__).resolve().parents[2] / "shared" / "samples",
    Path("/work/shared/samples"),
]
SAMPLES = next((d for d in SAMPLE_DIRS if d and d.is_dir()), SAMPLE_DIRS[1])


@pytest.fixture
def lake_paths(tmp_path, monkeypatch) -> LakePaths:
    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv("SFE_LAKE_DIR", str(root))
    return LakePaths(root)


def land(paths: LakePaths, source_id: str, *files: Path) -> list[Path]:
    """Copy files into landing/<source_id>/ in the given order."""
    target = paths.landing_dir(source_id)
    target.mkdir(parents=True, exist_ok=True)
    copies = []
    for f in files:
        shutil.copyfile(f, target / f.name)
        copies.append(target / f.name)
    return copies


def sample(name: str) -> Path:
    """A real published excerpt from ../shared/samples (skips the test when it is absent)."""
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"real sample {path} not available")
    return path


def ingest_and_report(paths: LakePaths, source_id: str):
    """Parse what landing/<source_id>/ holds, write every partition it touches, return the file report."""
    from sfe import ingest

    ingest.scan_landing(source_id, paths)
    ingest.build_partitions(source_id, ingest.known_dates(source_id, paths), paths)
    return ingest.file_report(source_id, paths).sort("file_name")


def raw_rows(paths: LakePaths, source_id: str):
    """Every row of the source's raw partitions."""
    import polars as pl

    return pl.read_parquet(paths.raw_dir(source_id) / "date=*" / "*.parquet")


def outcome_counts(row: dict) -> tuple:
    """(rows_in, loaded, duplicates, superseded, quarantined) of one file-report row."""
    return row["rows_in"], row["loaded"], row["duplicates"], row["superseded"], row["rows_quarantined"]


# Mail and session settings a developer's shell may carry; registry tests run without them.
REGISTRY_ENV = (
    "SFE_SMTP_HOST",
    "SFE_SMTP_PORT",
    "SFE_SMTP_USER",
    "SFE_SMTP_PASSWORD",
    "SFE_SMTP_STARTTLS",
    "SFE_APP_URL",
    "SFE_DEV_INBOX",
    "SFE_SESSION_IDLE_MINUTES",
)


@pytest.fixture
def registry(lake_paths, monkeypatch):
    """A fresh registry (SQLite, migrated on first use) in the test's own lake, cheap password
    hashing, no mail server configured. Yields the lake's paths."""
    from sfe.registry import db

    from .identity_helpers import fast_password_hashing

    fast_password_hashing(monkeypatch)
    for name in REGISTRY_ENV:
        monkeypatch.delenv(name, raising=False)
    db.dispose_all()
    yield lake_paths
    db.dispose_all()


@pytest.fixture
def world(registry):
    """A registry of organisations, products and assets (tests/rules_fixtures.build_world) with the
    reference product rules seeded. A test module may define its own ``world`` instead."""
    from sfe.registry import db
    from sfe.rules import reference

    from .rules_fixtures import build_world

    built = build_world()
    with db.session() as s:
        reference.seed_reference_rules(s)
    return built
