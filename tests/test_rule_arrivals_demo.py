"""Rules judged on arrival against the generated and built demo lake (real dbt build, real registry): a
block-mode minimum gap on the product with the most dispatches of registered assets flags exactly the
dispatches that start too soon after an earlier one (worked out here independently), each breach tells
the asset's organisation and the product's system operator once, and a rerun tells nobody again."""

from __future__ import annotations

import shutil
import sqlite3
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select

from sfe.config import LakePaths
from sfe.registry import db, mail
from sfe.registry.access import Role
from sfe.registry.models import Asset
from sfe.registry.models_notices import Notice
from sfe.registry.models_rules import RuleArrivalCheck, RuleBreach
from sfe.rules import arrivals, catalogue, store
from sfe.serving import reset_db_registry
from tests.registry_helpers import make_principal

pytestmark = pytest.mark.slow


def _copy_lake(built: LakePaths, root) -> LakePaths:
    """A private copy of the built lake's publish and registry (the built lake is shared and only read)."""
    lake = LakePaths(root)
    lake.serving_db.parent.mkdir(parents=True)
    shutil.copyfile(built.serving_db, lake.serving_db)
    source = sqlite3.connect(built.registry_db)  # the backup API also takes what is still in the WAL
    with sqlite3.connect(lake.registry_db) as target:
        source.backup(target)
    source.close()
    with sqlite3.connect(lake.registry_db) as target:  # judged by nobody yet (`sfe build` judges)
        tables = {name for (name,) in target.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in ("notices", "rule_breaches", "rule_arrival_checks"):
            if table in tables:
                target.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names
    return lake


def _too_soon(dispatches: list[dict], gap: timedelta) -> set[str]:
    """Dispatches (of one asset in one product) starting less than ``gap`` after an earlier one ends."""
    flagged, latest_end = set(), None
    for d in sorted(dispatches, key=lambda d: (d["start_utc"], d["end_utc"], d["source_ref"] or "")):
        if latest_end is not None and d["start_utc"] - latest_end < gap:
            flagged.add(d["activity_key"])
        latest_end = d["end_utc"] if latest_end is None else max(latest_end, d["end_utc"])
    return flagged


def test_a_minimum_gap_on_demo_dispatches_is_breached_exactly_where_it_should_be(
    tmp_path_factory, tmp_path, monkeypatch
):
    from tests.test_conflicts_mart import built_demo_lake

    lake = _copy_lake(built_demo_lake(tmp_path_factory), tmp_path / "lake")
    monkeypatch.setenv("SFE_LAKE_DIR", str(lake.root))
    db.dispose_all()
    reset_db_registry()
    try:
        activities = arrivals.published_activities()
        dispatches = [r for r in activities.iter_rows(named=True) if r["activity_class"] == "dispatch"]
        by_product: dict[str, list[dict]] = defaultdict(list)
        for d in dispatches:
            by_product[d["product_id"]].append(d)
        assert by_product, "the demo must dispatch registered assets"
        product_id = max(by_product, key=lambda p: len(by_product[p]))
        with db.session() as s:
            product = catalogue.product_info(s, product_id)
        so = make_principal(
            f"SO {product.operator_id}", Role.SYSTEM_OPERATOR, operator_id=product.operator_id
        )

        # A gap that some dispatches of that product keep and some do not.
        per_asset: dict[str, list[dict]] = defaultdict(list)
        for d in by_product[product_id]:
            per_asset[d["registry_asset_id"]].append(d)
        gap = timedelta(hours=6)
        expected = set().union(*(_too_soon(ds, gap) for ds in per_asset.values()))
        assert 0 < len(expected) < len(by_product[product_id]), (product_id, len(expected))
        with db.session() as s:
            store.create_rule(
                s,
                so,
                product_id,
                "min_gap",
                "Six hours' recovery",
                "block",
                {"min_gap_min": 360, "scope": "this_product"},
            )

        result = arrivals.judge_new_arrivals()
        assert result.arrivals == activities.height
        with db.session() as s:
            breached = {
                c.activity_key: b
                for b, c in s.execute(
                    select(RuleBreach, RuleArrivalCheck).join(
                        RuleArrivalCheck, RuleArrivalCheck.id == RuleBreach.check_id
                    )
                )
                if b.rule_name == "Six hours' recovery"
            }
            owners = dict(s.execute(select(Asset.registry_asset_id, Asset.organisation_id)).all())
            told = defaultdict(list)
            for n in s.scalars(select(Notice).where(Notice.topic == "rule_breach")):
                told[n.topic_key].append(n.organisation_id)
        assert set(breached) == expected
        assert all(b.severity == "high" and "Six hours' recovery" in b.explanation for b in breached.values())
        for breach in breached.values():
            assert sorted(told[f"breach-{breach.id}"]) == sorted(
                {owners[breach.registry_asset_id], so.organisation_id}
            )
        sent = len(mail.outbox_messages(limit=100_000))
        to_so = [m for m in mail.outbox_messages(limit=100_000) if so.email in m.to]
        assert len(to_so) == len(expected)  # the demo's providers may have no active user: inbox only

        again = arrivals.judge_new_arrivals()
        assert (again.arrivals, again.breaches, again.notices_created) == (0, 0, 0)
        assert len(mail.outbox_messages(limit=100_000)) == sent
    finally:
        reset_db_registry()
        db.dispose_all()
