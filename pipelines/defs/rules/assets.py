"""Eligibility (UC9) for the warehouse: the rules engine judges every registered asset and group
against every live product and writes lake/raw/registry_eligibility/eligibility.parquet, which the
dbt source raw.registry_eligibility (mart_eligibility) reads. Same key as that source, so the mart
hangs off this asset in the graph."""

import dagster as dg

from sfe.config import lake
from sfe.rules import snapshot

ELIGIBILITY_SNAPSHOT_KEY = dg.AssetKey(["raw", snapshot.SOURCE_ID])


@dg.asset(
    key=ELIGIBILITY_SNAPSHOT_KEY,
    group_name="registry",
    kinds={"sqlite", "parquet"},
    description=(
        "Eligibility verdicts (eligible / not eligible / needs information, with the reasons) of every "
        "registered asset and asset group for every live product, from the rules engine."
    ),
)
def registry_eligibility(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    info = snapshot.write_eligibility_snapshot(lake())
    context.log.info(
        f"eligibility snapshot: {info.rows} rows, {info.subjects} subjects x {info.products} products"
    )
    return dg.MaterializeResult(
        metadata={
            "path": str(info.path),
            "rows": info.rows,
            "subjects": info.subjects,
            "products": info.products,
            **{f"verdicts.{k}": v for k, v in info.verdicts.items()},
        }
    )


RULES_ASSETS = [registry_eligibility]
