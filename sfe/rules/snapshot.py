"""The eligibility snapshot the warehouse reads: ``lake/raw/registry_eligibility/eligibility.parquet``.

dbt cannot call the rules engine while it builds, so a Dagster asset runs ``write_eligibility_snapshot``
before the warehouse build and ``mart_eligibility`` reads the file as the source
``raw.registry_eligibility``. One row per (asset or asset group) x product: every current registry
asset and every asset group with members, against every live registry product and every taxonomy
product (the mart flags which have market data).

The warehouse is readable by analysts, so the snapshot carries ids, not names: registry ids, the
owning organisation's id (for row scoping), the asset's DNO area, and the verdict with its reasons
(which name rules, values and member ids only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from sfe.config import LakePaths, lake
from sfe.ingest import write_parquet_atomic
from sfe.registry import db
from sfe.registry.models import Asset, AssetGroup, utcnow
from sfe.rules import catalogue, eligibility, facts, store

SOURCE_ID = "registry_eligibility"
FILE_NAME = "eligibility.parquet"

SCHEMA: dict[str, pl.DataType] = {
    "subject_kind": pl.String(),
    "subject_id": pl.String(),
    "organisation_id": pl.Int64(),
    "dno_area": pl.String(),
    "member_count": pl.Int32(),
    "capacity_mw": pl.Float64(),
    "product_id": pl.String(),
    "product_name": pl.String(),
    "market_id": pl.String(),
    "operator_id": pl.String(),
    "product_source": pl.String(),
    "verdict": pl.String(),
    "reasons": pl.String(),
    "warnings": pl.String(),
    "missing_fields": pl.String(),
    "rules_checked": pl.Int32(),
    "evaluated_at": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    rows: int
    subjects: int
    products: int
    verdicts: dict[str, int]


def snapshot_path(paths: LakePaths | None = None) -> Path:
    return (paths or lake()).raw_dir(SOURCE_ID) / FILE_NAME


def _subjects(s: Session) -> list[facts.Subject]:
    assets = s.scalars(select(Asset).where(Asset.retired_at.is_(None)).order_by(Asset.id))
    subjects = [facts.asset_subject(a) for a in assets]
    for group in s.scalars(select(AssetGroup).order_by(AssetGroup.id)):
        subject = facts.group_subject(s, group)
        if subject.members:  # an empty group has nothing to judge
            subjects.append(subject)
    return subjects


def eligibility_frame(evaluated_at: datetime | None = None) -> pl.DataFrame:
    """Every subject against every product, one row each (typed as ``SCHEMA``)."""
    evaluated_at = evaluated_at or utcnow()
    with db.session() as s:  # read everything, then judge outside: external calls hold no lock
        subjects = _subjects(s)
        products = catalogue.live_products(s)
        rule_sets = store.rule_sets(s, [p.product_id for p in products])
    unreachable: set[str] = set()  # a dead rules service costs one timeout per run, not one per asset
    rows = []
    for subject in subjects:
        report = eligibility.evaluate_subject(subject, products, rule_sets, unreachable)
        areas = {m.dno_area for m in subject.members}
        dno_area = next(iter(areas)) if len(areas) == 1 else None
        for row in report.rows():
            rows.append(
                {
                    "subject_kind": row["subject_kind"],
                    "subject_id": row["subject_id"],
                    "organisation_id": subject.organisation_id,
                    "dno_area": dno_area,
                    "member_count": len(subject.members),
                    "capacity_mw": subject.capacity_mw,
                    "product_id": row["product_id"],
                    "product_name": row["product_name"],
                    "market_id": row["market_id"],
                    "operator_id": row["operator_id"],
                    "product_source": row["product_source"],
                    "verdict": row["verdict"],
                    "reasons": row["reasons"],
                    "warnings": row["warnings"] or None,
                    "missing_fields": row["missing_fields"] or None,
                    "rules_checked": row["rules_checked"],
                    "evaluated_at": evaluated_at,
                }
            )
    return pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)


def write_eligibility_snapshot(paths: LakePaths | None = None) -> SnapshotInfo:
    """Judge every subject and replace the snapshot file atomically (readers see old or new)."""
    paths = paths or lake()
    frame = eligibility_frame()
    path = snapshot_path(paths)
    write_parquet_atomic(frame, path)
    verdicts = dict(frame.group_by("verdict").len().sort("verdict").iter_rows()) if frame.height else {}
    subjects = frame.select("subject_kind", "subject_id").n_unique() if frame.height else 0
    products = frame["product_id"].n_unique() if frame.height else 0
    return SnapshotInfo(path, frame.height, subjects, products, verdicts)
