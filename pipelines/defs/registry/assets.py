"""The registry snapshot: registered assets, groups, products and stacking rules, copied from the registry database
into lake/raw/registry/*.parquet for dbt (the warehouse never reads the registry database itself)."""

import dagster as dg

from sfe.config import lake
from sfe.registry import snapshot

REGISTRY_SNAPSHOT_KEY = dg.AssetKey(["raw", "registry"])


@dg.asset(
    key=REGISTRY_SNAPSHOT_KEY,
    group_name="registry",
    kinds={"sqlite", "parquet"},
    description=(
        "Snapshot of the SFE registry (organisations, registered assets with their market ids, asset "
        "groups with membership history, SO products, the product rules that forbid stacking) as Parquet "
        "in raw/registry/. No personal data."
    ),
)
def registry_snapshot(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    paths = lake()
    rows = snapshot.write_snapshot(paths)
    context.log.info(f"registry snapshot: {rows}")
    return dg.MaterializeResult(
        metadata={"path": str(paths.raw / "registry"), **{f"rows.{table}": n for table, n in rows.items()}}
    )


REGISTRY_ASSETS = [registry_snapshot]
