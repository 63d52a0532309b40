"""Registry table of taxonomy mapping overrides: source vocabulary an admin mapped in the app.

The versioned taxonomy files (``taxonomy/source_value_mappings.csv``) stay the source of truth for
releases; an override takes effect at the next build (the registry snapshot carries the active ones to
dbt, where they win over the file for the same source, field and value) and is exported with
``sfe taxonomy export-overrides`` to be merged into the file. Overrides are never deleted: replacing
or withdrawing one sets ``retired_at`` so the history stays readable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sfe.registry.models import Base, utcnow


class TaxonomyMappingOverride(Base):
    __tablename__ = "taxonomy_mapping_overrides"
    __table_args__ = (Index("ix_taxonomy_mapping_overrides_key", "source_id", "field", "source_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    source_value: Mapped[str] = mapped_column(String(300))
    target_kind: Mapped[str] = mapped_column(String(16))  # sfe.taxonomy.TARGET_KINDS
    target_value: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    retired_at: Mapped[datetime | None]  # null = in force
