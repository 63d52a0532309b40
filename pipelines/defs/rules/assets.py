"""Eligibility (UC9) for the warehouse: the rules engine judges every registered asset and group
against every live product and writes lake/raw/registry_eligibility/eligibility.parquet, which the
dbt source raw.registry_eligibility (mart_eligibility) reads. Same key as that source, so the mart
hangs off this asset in the graph.

After each publish, ``rule_arrival_verdicts`` judges the commitments and dispatches that arrived
(sfe.rules.arrivals)."""

import dagster as dg

from pipelines.defs.warehouse.assets import published_warehouse
from sfe.config import lake
from sfe.rules import arrivals, snapshot

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


@dg.asset(
    deps=[published_warehouse],
    group_name="publish",
    kinds={"sqlite", "email"},
    description=(
        "Rules judged on arrival: every commitment and dispatch of a registered asset that the published "
        "warehouse holds and SFE has not judged yet, by its product's rules. Breaches are recorded and "
        "the asset's organisation and the product's system operator are told once each (inbox + email)."
    ),
)
def rule_arrival_verdicts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    result = arrivals.judge_new_arrivals()
    context.log.info(
        f"{result.arrivals} new commitments/dispatches judged: {result.breaches} breaches, "
        f"{result.notices_created} notices, {result.emails_sent} emails sent, {result.email_failures} not sent"
    )
    return dg.MaterializeResult(
        metadata={
            "arrivals_judged": result.arrivals,
            "breaches": result.breaches,
            "notices_created": result.notices_created,
            "emails_sent": result.emails_sent,
            "email_failures": result.email_failures,
        }
    )


# Not part of RULES_ASSETS (the warehouse build): it follows a publish, with the conflict notices
# (pipelines/defs/conflicts registers it in the same after-publish job, sensor and schedule).
ARRIVAL_ASSETS = [rule_arrival_verdicts]
