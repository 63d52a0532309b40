"""The registry schema: Alembic migrations create exactly what the models describe, in WAL mode."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from sfe.registry import db, models


def test_migrations_match_models_and_sqlite_uses_wal(registry):
    with db.engine().connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), models.Base.metadata) == []
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert registry.registry_db.exists()


def test_instants_round_trip_as_aware_utc_and_naive_values_are_refused(registry):
    with db.session() as s:
        org = models.Organisation(name="Acme Flex", name_key="acme flex", kind="fsp")
        s.add(org)
    with db.session() as s:
        stored = s.scalars(select(models.Organisation)).one()
        assert stored.created_at.tzinfo is UTC
        assert abs((datetime.now(UTC) - stored.created_at).total_seconds()) < 60
    with pytest.raises(Exception, match="naive datetime"), db.session() as s:
        s.add(models.Organisation(name="B", name_key="b", kind="fsp", created_at=datetime(2026, 1, 1)))


def test_a_market_id_can_belong_to_one_asset_only(registry):
    with db.session() as s:
        org = models.Organisation(name="Acme", name_key="acme", kind="fsp")
        s.add(org)
        s.flush()
        first = models.Asset(organisation_id=org.id, name="Battery 1", asset_type="battery", capacity_mw=2.0)
        first.market_ids.append(models.AssetMarketId(ref_type="bm_unit", source_asset_ref="2__ABC001"))
        s.add(first)
    with pytest.raises(Exception, match="UNIQUE"), db.session() as s:
        second = models.Asset(organisation_id=org.id, name="Battery 2", asset_type="battery", capacity_mw=2.0)
        second.market_ids.append(models.AssetMarketId(ref_type="bm_unit", source_asset_ref="2__ABC001"))
        s.add(second)
