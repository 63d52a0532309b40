"""The column contract every connector must honour (gridstatus-style shared test)."""

from __future__ import annotations

import polars as pl
import pytest

from sfe.sources import CONNECTORS, KNOWN_SOURCES
from sfe.sources.base import INTERVAL_COLUMNS, LINEAGE_COLUMNS, PARTITION_COLUMN, Kind

UTC = pl.Datetime("us", "UTC")


@pytest.mark.parametrize("source_id", sorted(CONNECTORS))
def test_raw_schema_starts_with_utc_interval_columns(source_id):
    schema = CONNECTORS[source_id].empty_frame().schema
    names = list(schema)
    assert tuple(names[:2]) == INTERVAL_COLUMNS
    assert schema["interval_start_utc"] == UTC and schema["interval_end_utc"] == UTC
    assert tuple(names[-4:]) == LINEAGE_COLUMNS
    assert names[-5] == PARTITION_COLUMN and schema[PARTITION_COLUMN] == pl.Date


@pytest.mark.parametrize("source_id", sorted(CONNECTORS))
def test_every_field_is_typed_and_documented(source_id):
    src = CONNECTORS[source_id]
    assert src.source_id == source_id and source_id in KNOWN_SOURCES
    assert src.title and src.time_convention
    names = [f.name for f in src.fields]
    assert len(names) == len(set(names))
    schema = src.empty_frame().schema
    for f in src.fields:
        assert f.description, f"{source_id}.{f.name} has no description"
        assert schema[f.name] == f.dtype
        quantity_name = any(w in f.name.lower() for w in ("price", "volume", "_mw", "_mwh", "_kwh", "_gbp"))
        if quantity_name and f.kind is Kind.DECIMAL:
            assert f.unit, f"{source_id}.{f.name} carries a quantity but no unit"
    assert set(src.natural_key) <= set(schema)
    assert set(src.dedupe_columns()) <= set(schema)
    assert src.version_column is None or src.version_column in schema
