"""Admins map unmapped source vocabulary to taxonomy products (issue #4): the registry service
(validation, replacement, audit, export), the snapshot that carries overrides to dbt, the admin page
run headless with AppTest, and (slow) the whole loop: build, map in the page, rebuild, rows move."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from sfe import build_status, publish
from sfe.cli import main as cli
from sfe.registry import audit, db, snapshot, taxonomy_admin
from sfe.registry.access import AccessDenied, Role
from sfe.registry.taxonomy_admin import OverrideError
from sfe.registry_schema import snapshot_path
from sfe.serving import get_db, reset_db_registry

from .conftest import FIXTURES
from .identity_helpers import session_token
from .registry_helpers import make_principal

PAGE = Path(__file__).resolve().parents[1] / "dashboards" / "pages" / "taxonomy_admin.py"
UKPN = dict(source_id="ukpn_flexibility_dispatches", field="product")


@pytest.fixture
def registry(registry):
    """The shared registry, and the taxonomy's registry overrides forgotten afterwards."""
    yield registry
    reset_db_registry()


@pytest.fixture
def admin(registry):
    return make_principal("SFE Ops", Role.ADMIN)


def test_an_admin_maps_a_value_and_the_change_is_audited_with_before_and_after(admin):
    with db.session() as s:
        first = taxonomy_admin.save_override(
            s, admin, **UKPN, source_value="Flex Boost", target_value="ukpn_sustain", market_id="ukpn_flex"
        )
        first_id = first.id
    with db.session() as s:  # another spelling of the same value replaces it, keeping the history
        second = taxonomy_admin.save_override(
            s, admin, **UKPN, source_value="flex-boost", target_value="ukpn_secure"
        )
        second_id = second.id
    with db.session() as s:
        active = taxonomy_admin.active_overrides(s)
        assert [(o.id, o.source_value, o.target_value) for o in active] == [
            (second_id, "flex-boost", "ukpn_secure")
        ]
        old = next(o for o in taxonomy_admin.all_overrides(s) if o.id == first_id)
        assert old.retired_at is not None and old.retired_by_id == admin.user_id
        events = audit.history(s, taxonomy_admin.ENTITY, second_id)
        assert [e.action for e in events] == ["taxonomy_mapping.replaced"]
        assert events[0].details["before"]["target_value"] == "ukpn_sustain"
        assert events[0].details["after"] == {
            **UKPN,
            "source_value": "flex-boost",
            "target_kind": "product_id",
            "target_value": "ukpn_secure",
        }
        assert events[0].actor_user_id == admin.user_id
        # saving what is already in force is not a new version
        again = taxonomy_admin.save_override(
            s, admin, **UKPN, source_value="Flex Boost", target_value="ukpn_secure"
        )
        assert again.id == second_id
    with db.session() as s:
        taxonomy_admin.retire_override(s, admin, second_id)
    with db.session() as s:
        assert taxonomy_admin.active_overrides(s) == []
        assert [e.action for e in audit.history(s, taxonomy_admin.ENTITY, second_id)] == [
            "taxonomy_mapping.replaced",
            "taxonomy_mapping.retired",
        ]
        with pytest.raises(OverrideError, match="already withdrawn"):
            taxonomy_admin.retire_override(s, admin, second_id)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source_id": "nowhere"}, "source_id 'nowhere' is not a known source"),
        ({"field": " "}, "field is empty"),
        ({"source_value": " - "}, "has no letters or digits"),
        ({"target_value": "ukpn_imaginary"}, "'ukpn_imaginary' is not a product"),
        ({"target_value": "neso_eac_dch"}, "belongs to market 'neso_eac', not to 'ukpn_flex'"),
        (
            {"target_kind": "asset_type", "target_value": "battery"},
            "target_kind 'asset_type' cannot be overridden",
        ),
    ],
)
def test_overrides_the_taxonomy_cannot_accept_are_refused_by_name(admin, changes, message):
    values = {**UKPN, "source_value": "Flex Boost", "target_value": "ukpn_sustain", "market_id": "ukpn_flex"}
    with pytest.raises(OverrideError, match=message), db.session() as s:
        taxonomy_admin.save_override(s, admin, **{**values, **changes})
    with db.session() as s:
        assert taxonomy_admin.all_overrides(s) == []


def test_only_admins_map_values(registry):
    operator = make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn")
    with pytest.raises(AccessDenied), db.session() as s:
        taxonomy_admin.save_override(
            s, operator, **UKPN, source_value="Flex Boost", target_value="ukpn_sustain"
        )


def test_snapshot_and_export_carry_the_overrides_in_force(admin):
    with db.session() as s:
        taxonomy_admin.save_override(s, admin, **UKPN, source_value="Flex Boost", target_value="ukpn_sustain")
        gone = taxonomy_admin.save_override(
            s, admin, **UKPN, source_value="Old Name", target_value="ukpn_secure"
        )
        taxonomy_admin.retire_override(s, admin, gone.id)
    counts = snapshot.write_snapshot()
    assert counts["taxonomy_mapping_overrides"] == 1
    table = pq.read_table(snapshot_path("taxonomy_mapping_overrides")).to_pylist()
    assert [(r["source_value"], r["target_value"]) for r in table] == [("Flex Boost", "ukpn_sustain")]

    result = CliRunner().invoke(cli, ["taxonomy", "export-overrides"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows == [
        {**UKPN, "source_value": "Flex Boost", "target_kind": "product_id", "target_value": "ukpn_sustain"}
    ]
    with open(
        Path(__file__).resolve().parents[1] / "taxonomy" / "source_value_mappings.csv", encoding="utf-8"
    ) as fh:
        assert list(csv.DictReader(io.StringIO(result.output)).fieldnames) == csv.DictReader(fh).fieldnames


# -- the page ----------------------------------------------------------------------------------------
def _publish_unmapped(paths, source_value: str = "Flex Boost", rows: int = 7) -> None:
    """A published warehouse whose mapping model lists one unmapped UKPN value."""
    paths.warehouse.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(paths.build_db))
    con.execute("CREATE SCHEMA intermediate")
    con.execute(
        "CREATE TABLE intermediate.int_source_products_mapped AS SELECT 'ukpn_flexibility_dispatches' AS source_id, "
        "'product' AS field, 'ukpn_flex' AS market_id, ? AS source_value, ? AS row_count, "
        "'ukpn_flex__unmapped__flex_boost' AS product_id, false AS is_mapped",
        [source_value, rows],
    )
    con.close()
    publish.publish(paths)


def _page(principal) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["sfe_session_token"] = session_token(principal)
    at.run()
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def test_the_page_maps_an_unmapped_value_as_an_admin(admin, lake_paths):
    _publish_unmapped(lake_paths)
    at = _page(admin)
    table = next(df.value for df in at.dataframe if "placeholder_product_id" in df.value.columns)
    assert table["source_value"].tolist() == ["Flex Boost"]
    # only products of the value's market are offered
    offered = at.selectbox(key="tax_target").options
    assert offered and all("ukpn_" in label for label in offered)
    at.selectbox(key="tax_target").set_value("ukpn_sustain")
    _button(at, "tax_save").click().run()
    assert not at.exception, at.exception
    assert any("Mapped 'Flex Boost' to Sustain" in m.value for m in at.success)
    with db.session() as s:
        [override] = taxonomy_admin.active_overrides(s)
        assert (override.source_value, override.target_value, override.created_by_id) == (
            "Flex Boost",
            "ukpn_sustain",
            admin.user_id,
        )
    at.run()
    history = next(df.value for df in at.dataframe if "target_product" in df.value.columns)
    assert history["target_product"].tolist() == ["ukpn_sustain"] and history["state"].tolist() == [
        "in force"
    ]


def test_rebuild_is_refused_while_a_build_runs(admin, lake_paths):
    _publish_unmapped(lake_paths)
    build_status.write(
        build_status.BuildStatus(status="running", started_at="2026-01-01T00:00:00+00:00"), lake_paths
    )
    at = _page(admin)
    _button(at, "tax_rebuild").click().run()
    assert any("is still running" in w.value for w in at.warning)
    assert not (lake_paths.warehouse / "app_rebuild.log").exists()


def test_the_page_is_for_admins_only(registry):
    analyst = make_principal("Analytics Ltd", Role.ANALYST)
    at = _page(analyst)
    assert not at.button and not at.dataframe
    assert "Taxonomy mappings" not in [t.value for t in at.title]


def test_the_page_without_a_warehouse(admin):
    at = _page(admin)
    assert any("has not been built" in w.value for w in at.warning)


# -- the whole loop (slow) -----------------------------------------------------------------------------
def _published(paths, sql: str, params=None) -> list[tuple]:
    """Rows of the warehouse as published now. Through sfe.serving like the apps: a plain
    duckdb.connect would reuse this process's open instance of the replaced file and read the old data."""
    return get_db(paths.serving_db).query(sql, params).rows()


@pytest.mark.slow
def test_an_admin_maps_a_new_value_rebuilds_and_the_rows_move(admin, lake_paths):
    from datetime import date

    from sfe.generate import generate

    generate(lake_paths, assets=10, days=10, start=date(2025, 3, 25), seed=5, progress=False)
    landing = lake_paths.landing_dir("ukpn_flexibility_dispatches")
    original = (FIXTURES / "ukpn_flexibility_dispatches" / "ukpn_dispatches_2025.csv").read_text(
        encoding="utf-8-sig"
    )
    (landing / "zz_flex_boost.csv").write_text(
        original.replace(",Day Ahead,", ",Flex Boost,"), encoding="utf-8"
    )
    assert ",Day Ahead," in original

    at = _page(admin)
    _rebuild_from_the_page(at, lake_paths)  # the first build
    [(placeholder, seen)] = _published(
        lake_paths,
        "SELECT product_id, row_count FROM intermediate.int_source_products_mapped WHERE source_value = 'Flex Boost'",
    )
    assert placeholder == "ukpn_flex__unmapped__flex_boost" and seen > 0
    dispatches = "SELECT count(*) FROM fct_dispatch WHERE product_id = ?"
    [(moving,)] = _published(lake_paths, dispatches, [placeholder])
    [(sustain_before,)] = _published(lake_paths, dispatches, ["ukpn_sustain"])
    assert moving > 0

    at = _page(admin)
    labels = at.selectbox(key="tax_value").options
    at.selectbox(key="tax_value").set_value(
        next(i for i, label in enumerate(labels) if "Flex Boost" in label)
    ).run()
    at.selectbox(key="tax_target").set_value("ukpn_sustain")
    _button(at, "tax_save").click().run()
    assert not at.exception, at.exception
    _rebuild_from_the_page(at, lake_paths)

    mapped = _published(
        lake_paths,
        "SELECT product_id, is_mapped, mapped_by FROM intermediate.int_source_products_mapped "
        "WHERE source_value = 'Flex Boost'",
    )
    assert mapped == [("ukpn_sustain", True, "source_value_mapping")]
    assert _published(lake_paths, dispatches, [placeholder]) == [(0,)]
    assert _published(lake_paths, dispatches, ["ukpn_sustain"]) == [(sustain_before + moving,)]
    standard = _published(
        lake_paths,
        "SELECT DISTINCT p.standard_product FROM fct_dispatch AS d JOIN dim_product AS p USING (product_id) "
        "WHERE d.product_id = 'ukpn_sustain'",
    )
    assert standard == [("scheduled_utilisation",)]
    at = _page(admin)
    assert any("Every source value in the published warehouse maps" in m.value for m in at.success)
    assert any("Last build succeeded" in m.value for m in at.success)


def _rebuild_from_the_page(at: AppTest, paths, timeout_s: float = 900) -> None:
    """Click "Rebuild now" and wait for the build it started (not an earlier one) to finish."""
    clicked_at = build_status.now()
    _button(at, "tax_rebuild").click().run()
    assert not at.exception, at.exception
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = build_status.read(paths)
        if status is not None and status.status != "running" and status.started_at >= clicked_at:
            log = (paths.warehouse / "app_rebuild.log").read_text(errors="replace")
            assert status.status == "succeeded", f"{status.message}\n{log[-3000:]}"
            return
        time.sleep(2)
    raise AssertionError("the build started from the page did not finish in time")
