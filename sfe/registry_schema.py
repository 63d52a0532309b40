"""The registry snapshot contract (registry -> lake -> dbt): the Parquet files the ``raw/registry`` asset
writes to ``lake/raw/registry/<table>.parquet`` and the dbt source ``registry`` reads.

Every file is always written (possibly with zero rows), atomically, with exactly these columns and types.
No password hashes, tokens, e-mail addresses, phone numbers or other personal contact data belong here.
dbt declares the same columns in ``dbt/models/staging/registry/_registry__sources.yml`` (a test keeps the
two in step); when a file is absent the warehouse reads an empty table of the declared columns instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sfe.config import LakePaths, lake

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "organisations": pa.schema(
        [
            ("organisation_id", pa.int64()),
            ("organisation_name", pa.string()),
            # 'fsp' | 'system_operator' | 'investor' | 'analyst' | 'admin'
            ("organisation_kind", pa.string()),
            # For system operators: the taxonomy operator they act for (e.g. 'ukpn').
            ("operator_id", pa.string()),
        ]
    ),
    "assets": pa.schema(
        [
            ("registry_asset_id", pa.string()),  # stable, e.g. 'REG-000001'
            ("organisation_id", pa.int64()),
            ("organisation_name", pa.string()),
            ("asset_name", pa.string()),
            ("asset_type", pa.string()),  # taxonomy/asset_types.csv
            ("capacity_mw", pa.float64()),
            ("energy_mwh", pa.float64()),
            ("postcode", pa.string()),
            ("latitude", pa.float64()),
            ("longitude", pa.float64()),
            ("mpan", pa.string()),
            ("gsp_group", pa.string()),
            ("dno_area", pa.string()),  # taxonomy/dno_areas.csv dno_area
            ("flexibility_zone", pa.string()),
            ("registered_at_utc", UTC_TIMESTAMP),
            ("updated_at_utc", UTC_TIMESTAMP),
        ]
    ),
    # The ids an asset already has in each market; unique per (ref_type, source_asset_ref).
    "asset_market_ids": pa.schema(
        [
            ("registry_asset_id", pa.string()),
            # the crosswalk's ref types: eac_unit_name | bm_unit | ukpn_fu_id | competition_asset_ref | mpan
            ("ref_type", pa.string()),
            ("source_asset_ref", pa.string()),
        ]
    ),
    "asset_groups": pa.schema(
        [
            ("group_id", pa.int64()),
            ("organisation_id", pa.int64()),
            ("group_name", pa.string()),
        ]
    ),
    # Membership history: valid_to_utc null = current member.
    "asset_group_memberships": pa.schema(
        [
            ("group_id", pa.int64()),
            ("registry_asset_id", pa.string()),
            ("valid_from_utc", UTC_TIMESTAMP),
            ("valid_to_utc", UTC_TIMESTAMP),
        ]
    ),
    # Products registered by system operators, in every lifecycle state.
    "products": pa.schema(
        [
            ("product_id", pa.string()),  # slug, unique
            ("organisation_id", pa.int64()),
            ("operator_id", pa.string()),
            ("market_id", pa.string()),  # taxonomy/markets.csv
            ("product_name", pa.string()),
            ("service_type", pa.string()),
            ("direction", pa.string()),  # 'up' | 'down' | 'both'
            ("standard_product", pa.string()),  # taxonomy/standard_products.csv, nullable
            ("zones", pa.string()),  # JSON array text
            ("min_size_mw", pa.float64()),
            ("response_time_s", pa.float64()),
            ("min_duration_min", pa.float64()),
            ("availability_price_gbp_per_mw_h", pa.float64()),
            ("utilisation_price_gbp_per_mwh", pa.float64()),
            ("status", pa.string()),  # 'draft' | 'consultation' | 'live' | 'retired'
            ("live_from_utc", UTC_TIMESTAMP),
            ("retired_at_utc", UTC_TIMESTAMP),
        ]
    ),
    # Source vocabulary mapped by an admin in the app, in force (sfe.registry.taxonomy_admin); the
    # warehouse applies these over taxonomy/source_value_mappings.csv for the same key.
    "taxonomy_mapping_overrides": pa.schema(
        [
            ("source_id", pa.string()),
            ("field", pa.string()),
            ("source_value", pa.string()),
            ("target_kind", pa.string()),  # 'product_id'
            ("target_value", pa.string()),
            ("created_at_utc", UTC_TIMESTAMP),
        ]
    ),
    # The rules that forbid stacking (sfe.rules), in their current version, for conflict detection: one
    # row per active rule of kind 'exclusivity', or 'stacking' with allowed = false, and other product it
    # names (other_product_id null = "any other product"). product_id is in the warehouse's namespace
    # (a registry product's slug or a taxonomy product id), as dim_product and the facts use it.
    "product_stacking_rules": pa.schema(
        [
            ("rule_id", pa.string()),  # the engine's id, e.g. 'rule-12' (as its verdicts name it)
            ("rule_name", pa.string()),
            ("rule_kind", pa.string()),  # 'exclusivity' | 'stacking'
            ("product_id", pa.string()),  # the product the rule belongs to
            ("other_product_id", pa.string()),  # null: any other product
            ("mode", pa.string()),  # 'notify' | 'block'
            ("margin_min", pa.float64()),  # exclusivity: minutes before/after that count too; else 0
            ("description", pa.string()),  # why the rule exists, as the SO wrote it (nullable)
            ("explanation", pa.string()),  # what it forbids, in words (+ the description)
            ("source_url", pa.string()),  # where the rule is published (nullable)
            ("rule_version", pa.int64()),
            ("updated_at_utc", UTC_TIMESTAMP),
        ]
    ),
}

TABLES: tuple[str, ...] = tuple(SCHEMAS)

# Column nullability is a convention of the writer (the registry's own constraints), not of Parquet:
# every field is written nullable so a zero-row file and a full one have the same schema.

# pyarrow type -> the SQL type dbt declares for it (dbt/models/staging/registry/_registry__sources.yml).
SQL_TYPES: dict[pa.DataType, str] = {
    pa.string(): "varchar",
    pa.int64(): "bigint",
    pa.float64(): "double",
    UTC_TIMESTAMP: "timestamp with time zone",
}


class RegistrySnapshotError(ValueError):
    pass


def snapshot_dir(paths: LakePaths | None = None) -> Path:
    return (paths or lake()).raw / "registry"


def snapshot_path(table: str, paths: LakePaths | None = None) -> Path:
    if table not in SCHEMAS:
        raise RegistrySnapshotError(f"unknown registry snapshot table {table!r}; known: {', '.join(TABLES)}")
    return snapshot_dir(paths) / f"{table}.parquet"


def empty_table(table: str) -> pa.Table:
    """A zero-row table with the contract's columns."""
    if table not in SCHEMAS:
        raise RegistrySnapshotError(f"unknown registry snapshot table {table!r}; known: {', '.join(TABLES)}")
    return SCHEMAS[table].empty_table()


def check_table(table: str, data: pa.Table) -> None:
    """Raise RegistrySnapshotError naming the table and column unless ``data`` has exactly the contract's
    columns, in order, with the contract's types."""
    if table not in SCHEMAS:
        raise RegistrySnapshotError(f"unknown registry snapshot table {table!r}; known: {', '.join(TABLES)}")
    expected = SCHEMAS[table]
    if data.schema.names != expected.names:
        missing = [n for n in expected.names if n not in data.schema.names]
        extra = [n for n in data.schema.names if n not in expected.names]
        raise RegistrySnapshotError(
            f"registry snapshot {table}: columns {data.schema.names} should be {expected.names}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unexpected {extra})" if extra else "")
        )
    for field in expected:
        got = data.schema.field(field.name).type
        if got != field.type:
            raise RegistrySnapshotError(
                f"registry snapshot {table}.{field.name}: type {got} should be {field.type}"
            )


def write_table(table: str, data: pa.Table, paths: LakePaths | None = None) -> Path:
    """Check ``data`` against the contract and write it atomically (temp file + rename)."""
    check_table(table, data)
    target = snapshot_path(table, paths)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    pq.write_table(data, tmp, compression="zstd")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target
