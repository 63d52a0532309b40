"""Eligibility (UC9) on a real registry: verdicts and reasons per live product, role scoping, the
snapshot the warehouse reads, and mart_eligibility built by dbt from it."""

from __future__ import annotations

import polars as pl
import pytest

from sfe.registry import db
from sfe.registry.access import AccessDenied, NotFound
from sfe.rules import eligibility, reference, snapshot, store


def _by_product(report: eligibility.EligibilityReport) -> dict[str, eligibility.ProductEligibility]:
    return {p.product.product_id: p for p in report.products}


def test_every_live_product_gets_a_verdict_with_reasons(world):
    report = eligibility.asset_eligibility(world["fsp"], "REG-000001")
    products = _by_product(report)
    # Live registry product in, draft out; every taxonomy product in a prequalifiable market.
    assert "ukpn_secure_west" in products and "ukpn_draft_east" not in products
    assert "neso_eac_dch" in products and "nged_peak_reduction" in products

    secure = products["ukpn_secure_west"]  # 2 MW in the Ealing zone, product needs 0.5 MW there
    assert secure.verdict == "eligible"
    assert any("Minimum size 0.5 MW" in r and "meets the minimum" in r for r in secure.reasons)

    local = products["ukpn_peak_reduction"]  # reference rule: connected in UKPN's licence areas
    assert local.verdict == "eligible"
    assert any("DNO licence area LPN is inside EPN, LPN, SPN" in r for r in local.reasons)

    nged = products["nged_peak_reduction"]
    assert nged.verdict == "not_eligible"
    assert nged.reasons == (
        "Rule 'Connected in National Grid Electricity Distribution licence areas' (location, block): "
        "DNO licence area must be one of EMID, SWAE, SWEB, WMID, but REG-000001 in LPN. Why: Local "
        "flexibility relieves constraints on the DNO's own network, so only assets connected there can "
        "deliver it. SFE's summary of the operator's published service terms; the operator's documents "
        "prevail.",
    )

    dc = products["neso_eac_dch"]  # 2 MW passes the 1 MW minimum; the response time is not registered
    assert dc.verdict == "needs_information"
    assert dc.missing_fields == ("response_time_s",)
    assert "Full delivery within 1 s" in dc.reasons[0] and "'response_time_s'" in dc.reasons[0]

    bm = products["neso_bm_boa"]  # nothing recorded for it on SFE: SFE says so instead of guessing
    assert bm.verdict == "needs_information" and "No entry requirements" in bm.reasons[0]

    counts = report.counts()
    assert sum(counts.values()) == len(report.products) and counts["not_eligible"] > 0
    order = [eligibility.VERDICT_ORDER[p.verdict] for p in report.products]
    assert order == sorted(order)  # eligible first, then needs information, then not eligible


def test_technical_data_turns_needs_information_into_a_verdict(world):
    fast = _by_product(
        eligibility.asset_eligibility(world["fsp"], "REG-000001", technical={"response_time_s": 0.4})
    )
    assert fast["neso_eac_dch"].verdict == "eligible"
    slow = _by_product(
        eligibility.asset_eligibility(world["fsp"], "REG-000001", technical={"response_time_s": 5})
    )
    assert slow["neso_eac_dch"].verdict == "not_eligible"
    assert slow["neso_eac_drh"].verdict == "eligible"  # Dynamic Regulation allows 10 s
    small = _by_product(
        eligibility.asset_eligibility(world["fsp"], "REG-000002", technical={"response_time_s": 0.4})
    )
    assert small["neso_eac_dch"].verdict == "not_eligible"
    assert "capacity 0.3 MW is below the minimum of 1 MW" in small["neso_eac_dch"].reasons[0]


def test_notify_rules_are_warnings_not_verdicts(world):
    with db.session() as s:
        store.create_rule(
            s,
            world["ukpn"],
            "ukpn_secure_west",
            "technology",
            "Prefer storage",
            "notify",
            {"allowed_types": ["v2g"]},
        )
    secure = _by_product(eligibility.asset_eligibility(world["fsp"], "REG-000001"))["ukpn_secure_west"]
    assert secure.verdict == "eligible"
    assert len(secure.warnings) == 1 and "Prefer storage" in secure.warnings[0]


def test_only_products_with_data_when_asked(world):
    report = eligibility.asset_eligibility(world["fsp"], "REG-000001", taxonomy_ids={"neso_eac_dch"})
    assert {p.product.product_id for p in report.products} == {"neso_eac_dch", "ukpn_secure_west"}


def test_a_group_is_judged_as_its_members(world):
    report = eligibility.group_eligibility(world["fsp"], world.group_id)
    assert (
        report.subject.subject_id == f"group-{world.group_id}"
        and report.subject.capacity_mw == pytest.approx(2.3)
    )
    products = _by_product(report)
    # The heat pumps are in EPN, the battery in LPN: both UKPN areas.
    assert products["ukpn_peak_reduction"].verdict == "eligible"
    # The heat pumps have no flexibility zone: the Ealing product cannot decide for the group.
    secure = products["ukpn_secure_west"]
    assert secure.verdict == "needs_information" and secure.missing_fields == ("flexibility_zone",)
    assert "for member(s) REG-000002" in secure.reasons[0]


def test_who_may_see_what(world):
    with pytest.raises(NotFound):
        eligibility.asset_eligibility(world["other_fsp"], "REG-000001")  # another organisation's asset
    assert eligibility.asset_eligibility(world["ukpn"], "REG-000001").subject.subject_id == "REG-000001"
    with pytest.raises(NotFound):
        eligibility.asset_eligibility(world["nged"], "REG-000001")  # LPN is not NGED's area
    assert eligibility.asset_eligibility(world["nged"], "REG-000003").subject.subject_id == "REG-000003"
    assert eligibility.asset_eligibility(world["neso"], "REG-000003")  # the national SO sees all of GB
    assert eligibility.asset_eligibility(world["admin"], "REG-000003")
    with pytest.raises(AccessDenied):
        eligibility.asset_eligibility(world["investor"], "REG-000001")
    with pytest.raises(NotFound):
        eligibility.group_eligibility(world["other_fsp"], world.group_id)
    with pytest.raises(AccessDenied):
        eligibility.group_eligibility(world["ukpn"], world.group_id)
    with pytest.raises(NotFound):
        eligibility.asset_eligibility(world["fsp"], "REG-999999")


def test_reference_rules_are_seeded_once_and_attributed_to_sfe(world):
    with db.session() as s:
        assert reference.seed_reference_rules(s) == 0  # already seeded by the fixture
        rules = store.list_rules(s, "neso_eac_dch")
        assert {r.name for r in rules} == {"Minimum 1 MW per unit", "Full delivery within 1 s"}
        assert all(
            r.created_by_id is None and r.source_url.startswith("https://www.neso.energy/") for r in rules
        )


def test_the_snapshot_has_one_row_per_subject_and_product(world):
    info = snapshot.write_eligibility_snapshot()
    assert info.path == snapshot.snapshot_path() and info.path.name == "eligibility.parquet"
    assert info.path.parent.name == "registry_eligibility"
    frame = pl.read_parquet(info.path)
    assert dict(frame.schema) == snapshot.SCHEMA
    # Three assets and one group with members, each against every live product.
    assert info.subjects == 4 and frame.height == 4 * info.products
    assert frame.select("subject_kind", "subject_id", "product_id").is_duplicated().sum() == 0
    row = frame.filter(
        (pl.col("subject_id") == "REG-000001") & (pl.col("product_id") == "nged_peak_reduction")
    )
    assert row["verdict"].to_list() == ["not_eligible"] and row["organisation_id"].to_list()[0] is not None
    assert row["dno_area"].to_list() == ["LPN"]
    # The warehouse is readable by analysts: no asset or organisation names.
    assert "Ealing battery" not in frame.write_csv() and "Acme" not in frame.write_csv()
    assert sum(info.verdicts.values()) == frame.height


def test_the_dagster_asset_writes_the_snapshot_and_feeds_the_mart(world, lake_paths):
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.defs.rules.assets import ELIGIBILITY_SNAPSHOT_KEY, registry_eligibility

    result = dg.materialize([registry_eligibility], raise_on_error=True)
    [materialization] = result.asset_materializations_for_node(registry_eligibility.op.name)
    assert materialization.metadata["subjects"].value == 4
    assert snapshot.snapshot_path(lake_paths).exists()
    graph = defs.resolve_asset_graph()
    assert ELIGIBILITY_SNAPSHOT_KEY in graph.get(dg.AssetKey("mart_eligibility")).parent_keys


@pytest.mark.slow
def test_mart_eligibility_is_built_by_dbt_from_the_snapshot(world, lake_paths, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import duckdb

    from sfe import ingest
    from sfe.config import DBT_PROJECT_DIR

    info = snapshot.write_eligibility_snapshot()
    ingest.ensure_raw_schemas(lake_paths)
    lake_paths.warehouse.mkdir(parents=True, exist_ok=True)
    args = ["build", "--select", "+mart_eligibility", "--indirect-selection", "cautious"]
    args += ["--project-dir", str(DBT_PROJECT_DIR)]
    args += ["--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "dbt_target")]
    dbt = Path(sys.executable).with_name("dbt")  # a process of its own: dbt keeps its DuckDB connection
    done = subprocess.run(
        [str(dbt), *args, "--log-path", str(tmp_path / "dbt_logs")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(lake_paths.build_db), read_only=True) as con:
        rows = con.execute(
            "SELECT subject_id, verdict, product_has_data, reasons FROM main.mart_eligibility "
            "WHERE product_id = 'nged_peak_reduction' ORDER BY subject_id"
        ).fetchall()
        total = con.execute("SELECT count(*) FROM main.mart_eligibility").fetchone()[0]
    assert total == info.rows
    by_subject = {r[0]: r for r in rows}
    assert by_subject["REG-000001"][1] == "not_eligible" and by_subject["REG-000003"][1] == "eligible"
    assert by_subject["REG-000001"][2] is False  # an empty lake has no market data
    assert "REG-000001 in LPN" in by_subject["REG-000001"][3]


# -- the API ---------------------------------------------------------------------------------------
@pytest.fixture
def api(world):
    from fastapi.testclient import TestClient

    from sfe.api.app import create_app
    from sfe.api.ratelimit import RateLimitConfig
    from sfe.api.routes import eligibility as eligibility_routes
    from sfe.registry import identity

    app = create_app(rate_limit=RateLimitConfig(per_minute=0, burst=0, limit_loopback=False))
    if not any(getattr(r, "path", "") == "/v1/eligibility/{asset_id}" for r in app.routes):
        app.include_router(eligibility_routes.router)
    with db.session() as s:
        tokens = {name: identity.create_session(s, world[name].user_id) for name in world.people}
    with TestClient(app) as client:
        yield client, {name: {"Authorization": f"Bearer {t}"} for name, t in tokens.items()}, world.group_id


def test_api_judges_an_asset_now_for_its_owner_and_its_system_operator(api):
    client, auth, _ = api
    response = client.get("/v1/eligibility/REG-000001", headers=auth["fsp"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subject"]["subject_id"] == "REG-000001"
    by_product = {p["product_id"]: p for p in body["products"]}
    # No warehouse is published here: every taxonomy product is judged, plus live registry products.
    assert {"neso_eac_dch", "nged_peak_reduction", "ukpn_secure_west"} <= set(by_product)
    nged = by_product["nged_peak_reduction"]
    assert nged["verdict"] == "not_eligible" and "REG-000001 in LPN" in nged["reasons"][0]
    assert nged["verdicts"][0]["rule_name"].startswith("Connected in National Grid")
    dc = by_product["neso_eac_dch"]
    assert dc["verdict"] == "needs_information" and dc["missing_fields"] == ["response_time_s"]
    assert sum(body["counts"].values()) == len(body["products"])

    assert client.get("/v1/eligibility/reg-000001", headers=auth["ukpn"]).status_code == 200  # its area

    csv_response = client.get("/v1/eligibility/REG-000001?format=csv", headers=auth["fsp"])
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert csv_response.text.splitlines()[0].startswith("subject_kind,subject_id,subject_name,product_id")


def test_api_scopes_and_refuses_clearly(api):
    client, auth, group_id = api
    assert client.get("/v1/eligibility/REG-000001").status_code == 401
    assert client.get("/v1/eligibility/REG-000001", headers=auth["investor"]).status_code == 403
    missing = client.get("/v1/eligibility/REG-000001", headers=auth["other_fsp"])
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert client.get("/v1/eligibility/REG-000001", headers=auth["nged"]).status_code == 404  # not its area
    group = client.get(f"/v1/eligibility/groups/{group_id}", headers=auth["fsp"])
    assert group.status_code == 200 and group.json()["subject"]["kind"] == "group"
    assert client.get(f"/v1/eligibility/groups/{group_id}", headers=auth["ukpn"]).status_code == 403
    assert client.get("/v1/eligibility/REG-000001?products=some", headers=auth["fsp"]).status_code == 422
