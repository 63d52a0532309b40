"""Every filesystem path SFE uses, derived from one setting: ``SFE_LAKE_DIR`` (default ``./lake``).

Paths are computed on each call (not at import) so that tests and tools can point a whole
lakehouse at another folder by changing the environment variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt"
TAXONOMY_DIR = PROJECT_DIR / "taxonomy"
EXPECTATIONS_DIR = PROJECT_DIR / "expectations"


@dataclass(frozen=True)
class LakePaths:
    root: Path

    @property
    def landing(self) -> Path:
        """Source files as received, one folder per source id."""
        return self.root / "landing"

    @property
    def parsed(self) -> Path:
        """Per-file parse results (typed rows + ingest record), keyed by file checksum."""
        return self.root / "parsed"

    @property
    def raw(self) -> Path:
        """Deduplicated, typed, Hive-partitioned Parquet: raw/<source_id>/date=YYYY-MM-DD/."""
        return self.root / "raw"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def build_db(self) -> Path:
        """The file dbt writes. Nothing that serves users ever opens it."""
        return self.warehouse / "build.duckdb"

    @property
    def serving_db(self) -> Path:
        """The published, read-only copy the apps, the API and analysts use."""
        return self.warehouse / "sfe.duckdb"

    @property
    def generated(self) -> Path:
        """What the demo generator knows to be true (fleet, planted cases, file manifest)."""
        return self.root / "generated"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def registry_db(self) -> Path:
        """Default registry database (SQLite, WAL) when SFE_REGISTRY_URL is not set."""
        return self.root / "registry.sqlite"

    @property
    def outbox(self) -> Path:
        """Mail written here (one .eml per message) when no SMTP server is configured."""
        return self.root / "outbox"

    def landing_dir(self, source_id: str) -> Path:
        return self.landing / source_id

    def raw_dir(self, source_id: str) -> Path:
        return self.raw / source_id


def lake_dir() -> Path:
    return Path(os.environ.get("SFE_LAKE_DIR", PROJECT_DIR / "lake")).resolve()


def lake() -> LakePaths:
    return LakePaths(lake_dir())
