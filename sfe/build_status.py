"""The outcome of the latest build attempt, so the apps can say "a newer load failed".

Written by `sfe build` / the pipeline to lake/warehouse/last_build.json; the published DB only ever
holds the last *good* build, so a failure has to be reported beside it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sfe.config import LakePaths, lake


@dataclass
class BuildStatus:
    status: str  # running | succeeded | failed
    started_at: str
    finished_at: str | None = None
    message: str | None = None


def _path(paths: LakePaths):
    return paths.warehouse / "last_build.json"


def write(status: BuildStatus, paths: LakePaths | None = None) -> None:
    paths = paths or lake()
    target = _path(paths)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(status), indent=1), encoding="utf-8")
    os.replace(tmp, target)


def read(paths: LakePaths | None = None) -> BuildStatus | None:
    target = _path(paths or lake())
    if not target.exists():
        return None
    try:
        return BuildStatus(**json.loads(target.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        return None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
