"""The registry snapshot (raw/registry/*.parquet): the contract's files and types, consistent contents,
no personal data, and the Dagster asset materialised in-process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow.parquet as pq
import pytest

from sfe.registry import assets, consultations, db, groups, products, snapshot
from sfe.registry.access import Role
from sfe.registry.models import ApiKey, User, UserSession, UserToken
from sfe.registry_schema import SCHEMAS, TABLES, check_table, snapshot_path

try:
    from registry_helpers import asset_row, make_principal
except ImportError:  # tests/ imported as a package
    from tests.registry_helpers import asset_row, make_principal


def read(table: str, paths):
    data = pq.read_table(snapshot_path(table, paths))
    check_table(table, data)
    return data.to_pylist()


def _populate():
    fsp = make_principal("Acme Flex", Role.FSP)
    so = make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn")
    other = make_principal("Beta Flex", Role.FSP)
    now = datetime.now(UTC)
    with db.session() as s:
        # secrets and personal data that must never reach the lake
        user = s.get(User, fsp.user_id)
        user.password_hash = "$argon2id$v=19$SECRET-HASH"
        s.add(
            UserToken(
                user_id=fsp.user_id, purpose="confirm_email", token_hash="TOKENHASH" * 4, expires_at=now
            )
        )
        s.add(UserSession(user_id=fsp.user_id, token_hash="SESSIONHASH" * 4, expires_at=now))
        s.add(ApiKey(user_id=fsp.user_id, name="ci", prefix="sfe_ab", key_hash="APIKEYHASH" * 4))
        first = assets.register_asset(s, fsp, asset_row(1, bm_unit="T_ACME-1", ukpn_fu_id="ACME-FU-1"))
        second = assets.register_asset(s, fsp, asset_row(2, asset_type="heat_pump", energy_mwh=None))
        assets.register_asset(s, other, asset_row(3, mpan=None, gsp_group="_B", postcode=None))
        group = groups.create_group(s, fsp, "Eastern portfolio")
        groups.add_to_group(s, fsp, group.group_id, [first.registry_asset_id, second.registry_asset_id])
        groups.remove_from_group(s, fsp, group.group_id, [second.registry_asset_id])
        live = products.register_product(
            s,
            so,
            {
                "product_id": "ukpn_reg_peak_2027",
                "market_id": "ukpn_flex",
                "product_name": "Peak 2027",
                "service_type": "Local flexibility",
                "direction": "up",
                "standard_product": "peak_reduction",
                "zones": ["Aldreth", "Halstead"],
                "utilisation_price_gbp_per_mwh": 600,
            },
        )
        products.transition(s, so, live.product_id, "live")
        draft = products.register_product(
            s,
            so,
            {
                "market_id": "ukpn_flex",
                "product_name": "Draft",
                "service_type": "Local flexibility",
                "direction": "down",
            },
        )
        consultation = consultations.open_consultation(
            s,
            so,
            draft.product_id,
            title="t",
            closes_at=now + timedelta(days=3),
            questions=[{"kind": "text", "prompt": "Anything?"}],
        )
        consultations.submit_response(
            s,
            fsp,
            consultation.consultation_id,
            {consultation.questions[0].question_id: "CONFIDENTIAL ANSWER"},
        )
    return fsp, so, first


def test_snapshot_writes_every_contract_file_with_the_registry_contents(registry):
    fsp, so, first = _populate()
    rows = snapshot.write_snapshot()
    assert rows == {
        "organisations": 3,
        "assets": 3,
        "asset_market_ids": 4,  # first: MPAN, BM unit, fu_id; second: MPAN; third: none
        "asset_groups": 1,
        "asset_group_memberships": 2,
        "products": 2,
        "taxonomy_mapping_overrides": 0,
        "product_stacking_rules": 0,
    }
    for table in TABLES:
        assert snapshot_path(table, registry).exists()
    orgs = {r["organisation_name"]: r for r in read("organisations", registry)}
    assert orgs["UK Power Networks"]["organisation_kind"] == "system_operator"
    assert orgs["UK Power Networks"]["operator_id"] == "ukpn"
    asset_rows = {r["registry_asset_id"]: r for r in read("assets", registry)}
    battery = asset_rows[first.registry_asset_id]
    assert battery["organisation_name"] == "Acme Flex" and battery["organisation_id"] == fsp.organisation_id
    assert (battery["asset_type"], battery["capacity_mw"], battery["energy_mwh"]) == ("battery", 2.0, 4.0)
    assert (battery["mpan"], battery["gsp_group"], battery["dno_area"]) == (first.mpan, "_A", "EPN")
    assert battery["registered_at_utc"].tzinfo is not None
    refs = {
        (r["registry_asset_id"], r["ref_type"], r["source_asset_ref"])
        for r in read("asset_market_ids", registry)
    }
    assert {
        (first.registry_asset_id, "mpan", first.mpan),
        (first.registry_asset_id, "bm_unit", "T_ACME-1"),
        (first.registry_asset_id, "ukpn_fu_id", "ACME-FU-1"),
    } <= refs
    assert len(refs) == rows["asset_market_ids"] == 4
    memberships = sorted(read("asset_group_memberships", registry), key=lambda r: r["registry_asset_id"])
    assert [(m["registry_asset_id"], m["valid_to_utc"] is None) for m in memberships] == [
        ("REG-000001", True),
        ("REG-000002", False),
    ]
    product_rows = {r["product_id"]: r for r in read("products", registry)}
    live = product_rows["ukpn_reg_peak_2027"]
    assert (live["status"], live["operator_id"], live["market_id"]) == ("live", "ukpn", "ukpn_flex")
    assert json.loads(live["zones"]) == ["Aldreth", "Halstead"]
    assert live["live_from_utc"] is not None and live["utilisation_price_gbp_per_mwh"] == 600
    assert {r["status"] for r in product_rows.values()} == {"live", "consultation"}


def test_snapshot_holds_no_personal_data_or_secrets(registry):
    fsp, so, _ = _populate()
    snapshot.write_snapshot()
    forbidden_columns = ("email", "password", "token", "hash", "phone", "display_name", "user", "key")
    values: list[str] = []
    for table in TABLES:
        data = pq.read_table(snapshot_path(table, registry))
        for column in data.column_names:
            assert not any(word in column for word in forbidden_columns), f"{table}.{column}"
        for row in data.to_pylist():
            values += [str(v) for v in row.values() if v is not None]
    text = "\n".join(values)
    for secret in (
        fsp.email,
        so.email,
        fsp.display_name,
        "SECRET-HASH",
        "TOKENHASH",
        "SESSIONHASH",
        "APIKEYHASH",
    ):
        assert secret not in text
    assert "CONFIDENTIAL ANSWER" not in text and "@" not in text


def test_an_empty_registry_gives_zero_row_files_and_rewrites_replace_atomically(registry):
    assert snapshot.write_snapshot() == dict.fromkeys(TABLES, 0)
    for table in TABLES:
        data = pq.read_table(snapshot_path(table, registry))
        assert data.num_rows == 0 and data.schema.names == SCHEMAS[table].names
    make_principal("Acme Flex", Role.FSP)
    assert snapshot.write_snapshot()["organisations"] == 1
    leftovers = [p.name for p in (registry.raw / "registry").iterdir() if not p.name.endswith(".parquet")]
    assert leftovers == []
    assert read("organisations", registry)[0]["organisation_name"] == "Acme Flex"


def test_dagster_asset_materialises_the_snapshot_in_process(registry):
    from pipelines.defs.registry.assets import REGISTRY_SNAPSHOT_KEY, registry_snapshot

    _populate()
    with dg.instance_for_test() as instance:
        result = dg.materialize([registry_snapshot], instance=instance)
    assert result.success
    [materialization] = result.asset_materializations_for_node(registry_snapshot.op.name)
    assert materialization.asset_key == REGISTRY_SNAPSHOT_KEY == dg.AssetKey(["raw", "registry"])
    assert materialization.metadata["rows.assets"].value == 3
    assert len(read("assets", registry)) == 3


def test_the_code_location_has_the_registry_snapshot(registry):
    from pipelines.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "raw/registry" in keys


# -- demo registrations ------------------------------------------------------------------------------
def test_demo_seeding_registers_a_share_of_the_fleet_with_its_market_ids_once(registry):
    import numpy as np
    import polars as pl

    from sfe.generate.fleet import build_fleet
    from sfe.registry import demo_assets

    with pytest.raises(FileNotFoundError, match="sfe generate"):
        demo_assets.seed_demo_assets()
    fleet = build_fleet(300, np.random.default_rng([2024, 1])).assets
    registry.generated.mkdir(parents=True)
    fleet.write_csv(registry.generated / "fleet.csv")
    demo_fsp = make_principal("Demo Flex Ltd", Role.FSP)  # as the demo accounts create it

    first = {p.organisation: p for p in demo_assets.seed_demo_assets()}
    owners = {org: spec[0] for org, spec in demo_assets.DEMO_PORTFOLIOS.items()}
    for org, portfolio in first.items():
        expected = fleet.filter(pl.col("owner_participant_id").is_in(owners[org])).height
        assert len(portfolio.registered) == expected > 0, portfolio  # every fleet row passes validation
        assert portfolio.refused == [] and portfolio.already == []
        assert portfolio.group_members > 0
    share = sum(len(p.registered) for p in first.values()) / fleet.height
    assert 0.2 < share < 0.6

    again = demo_assets.seed_demo_assets()  # idempotent
    assert all(p.registered == [] and len(p.already) == len(first[p.organisation].registered) for p in again)
    assert [p.group_members for p in again] == [first[p.organisation].group_members for p in again]

    rows = snapshot.write_snapshot()
    assert rows["assets"] == sum(len(p.registered) for p in first.values())
    refs = {
        (r["ref_type"], r["source_asset_ref"]): r["registry_asset_id"]
        for r in read("asset_market_ids", registry)
    }
    mine = fleet.filter(pl.col("owner_participant_id").is_in(owners["Demo Flex Ltd"]))
    for row in mine.iter_rows(named=True):
        registered = refs[("mpan", row["mpan"])]
        for ref_type in ("bm_unit", "eac_unit_name", "ukpn_fu_id", "competition_asset_ref"):
            if row[ref_type]:
                assert refs[(ref_type, row[ref_type])] == registered  # one asset for all its market ids
    with db.session() as s:
        owned = assets.list_assets(s, demo_fsp)
        assert {a.organisation_name for a in owned} == {"Demo Flex Ltd"}
        assert len(owned) == len(first["Demo Flex Ltd"].registered)
        assert [g.group_name for g in groups.list_groups(s, demo_fsp)] == ["UK Power Networks portfolio"]


# -- into the warehouse ----------------------------------------------------------------------------
@pytest.mark.slow
def test_registered_assets_and_live_products_reach_dim_asset_and_dim_product(registry):
    """The issue's done-when: after the next build, registered assets (their split market ids tied to
    one asset) are in dim_asset and live registry products in dim_product."""
    from datetime import date

    import duckdb
    import polars as pl

    from pipelines.defs.registry.assets import registry_snapshot
    from sfe import pipeline
    from sfe.generate import generate
    from sfe.registry import demo_assets

    generate(registry, assets=40, days=20, start=date(2025, 4, 1), seed=11, progress=False)
    portfolios = demo_assets.seed_demo_assets()
    registered = {rid for p in portfolios for rid in p.registered}
    so = make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn")
    with db.session() as s:
        product = products.register_product(
            s,
            so,
            {
                "market_id": "ukpn_flex",
                "product_name": "Peak 2027",
                "service_type": "Local flexibility",
                "direction": "up",
            },
        )
        products.transition(s, so, product.product_id, "live")
        products.register_product(
            s,
            so,
            {
                "market_id": "ukpn_flex",
                "product_name": "Still a draft",
                "service_type": "Local flexibility",
                "direction": "up",
            },
        )
    pipeline.prepare_environment(registry)
    assert dg.materialize([registry_snapshot], instance=dg.DagsterInstance.get()).success
    pipeline.build()

    con = duckdb.connect(str(registry.serving_db), read_only=True)

    def frame(sql: str) -> pl.DataFrame:
        cursor = con.execute(sql)
        return pl.DataFrame(cursor.fetchall(), schema=[d[0] for d in cursor.description], orient="row")

    try:
        dim_asset = frame(
            "select registry_asset_id, eac_unit_name, ukpn_fu_id, competition_asset_ref, mpan from dim_asset "
            "where is_registered"
        )
        dim_product = frame(
            "select product_id, product_source from dim_product where product_source = 'registry'"
        )
    finally:
        con.close()
    assert set(dim_asset["registry_asset_id"]) == registered
    assert dim_asset["registry_asset_id"].n_unique() == dim_asset.height  # one row per registered asset
    fleet = pl.read_csv(registry.generated / "fleet.csv", infer_schema=False)
    mine = fleet.filter(pl.col("mpan").is_in(dim_asset["mpan"].to_list()))
    for row in mine.iter_rows(named=True):
        asset = dim_asset.filter(pl.col("mpan") == row["mpan"]).row(0, named=True)
        for ref_type in ("eac_unit_name", "ukpn_fu_id", "competition_asset_ref"):
            if row[ref_type]:
                assert asset[ref_type] == row[ref_type]  # the ids the sources use tie to the registered asset
    assert dim_product["product_id"].to_list() == [product.product_id]
