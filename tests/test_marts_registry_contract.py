"""The registry snapshot contract (sfe.registry_schema) and the dbt source that reads it stay in step, and
the contract's checks name the table and column that break it."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from sfe.config import DBT_PROJECT_DIR
from sfe.registry_schema import (
    SCHEMAS,
    SQL_TYPES,
    TABLES,
    RegistrySnapshotError,
    check_table,
    empty_table,
    snapshot_path,
    write_table,
)

SOURCES_YML = DBT_PROJECT_DIR / "models" / "staging" / "registry" / "_registry__sources.yml"


def _dbt_registry_source() -> dict[str, list[tuple[str, str]]]:
    doc = yaml.safe_load(SOURCES_YML.read_text(encoding="utf-8"))
    (source,) = [s for s in doc["sources"] if s["name"] == "registry"]
    return {t["name"]: [(c["name"], c["data_type"]) for c in t["columns"]] for t in source["tables"]}


def test_dbt_source_declares_exactly_the_contract_columns_and_types():
    declared = _dbt_registry_source()
    assert list(declared) == list(TABLES)
    for table, schema in SCHEMAS.items():
        assert declared[table] == [(f.name, SQL_TYPES[f.type]) for f in schema], table


def test_dbt_source_reads_the_files_the_contract_names(lake_paths):
    location = yaml.safe_load(SOURCES_YML.read_text(encoding="utf-8"))["sources"][0]["config"]["meta"][
        "external_location"
    ]
    assert "/raw/registry/{name}.parquet" in location
    assert snapshot_path("assets", lake_paths) == lake_paths.raw / "registry" / "assets.parquet"


def test_write_table_round_trips_and_is_atomic(lake_paths):
    when = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    data = pa.table(
        {
            "group_id": [7],
            "registry_asset_id": ["REG-000001"],
            "valid_from_utc": [when],
            "valid_to_utc": [None],
        },
        schema=SCHEMAS["asset_group_memberships"],
    )
    path = write_table("asset_group_memberships", data, lake_paths)
    back = pq.read_table(path)
    check_table("asset_group_memberships", back)
    assert back.to_pylist() == [
        {"group_id": 7, "registry_asset_id": "REG-000001", "valid_from_utc": when, "valid_to_utc": None}
    ]
    assert [p.name for p in path.parent.iterdir()] == ["asset_group_memberships.parquet"]  # no temp file left


def test_every_table_has_an_empty_form_that_passes_its_own_check():
    for table in TABLES:
        empty = empty_table(table)
        assert empty.num_rows == 0
        check_table(table, empty)


def test_check_names_the_table_and_the_column_that_break_the_contract(lake_paths):
    wrong_type = empty_table("assets").set_column(
        SCHEMAS["assets"].get_field_index("capacity_mw"), "capacity_mw", pa.array([], pa.string())
    )
    with pytest.raises(RegistrySnapshotError, match=r"assets\.capacity_mw: type string should be double"):
        check_table("assets", wrong_type)
    missing = empty_table("products").drop_columns(["zones"])
    with pytest.raises(RegistrySnapshotError, match=r"registry snapshot products: .*missing \['zones'\]"):
        write_table("products", missing, lake_paths)
    assert not snapshot_path("products", lake_paths).exists()
    with pytest.raises(RegistrySnapshotError, match="unknown registry snapshot table 'users'"):
        snapshot_path("users", lake_paths)
