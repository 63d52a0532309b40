"""A system operator's control room sees every market conflict on an asset connected in its control area
(a DNO: its licence areas; NESO: all of GB), also between other parties' products, read-only: only the
parties acknowledge and resolve. The asset's area is the registry's (its owner keeps it current), else
the warehouse's dim_asset."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from sfe import conflicts
from sfe.registry import db
from sfe.registry.access import AccessDenied, Role
from sfe.registry.models import Asset
from sfe.serving import reset_db_registry
from tests.identity_helpers import session_token
from tests.registry_helpers import make_principal

PAGE = Path(__file__).resolve().parents[1] / "dashboards" / "pages" / "conflicts.py"

# ENWL and NPG (no organisation on SFE) both act on:
#   CA-1  AST-5, not registered, in EPN (UKPN's)             -> UKPN and NESO see it
#   CA-2  AST-6, not registered, in EMID (NGED's)            -> NGED and NESO see it
#   CA-3  AST-7 = REG-000007 of Flex B: the registry says LPN (UKPN's), the older warehouse EMID
_CONFLICTS = [("CA-1", "AST-5", None), ("CA-2", "AST-6", None), ("CA-3", "AST-7", "REG-000007")]
_AREAS = [("AST-5", "EPN"), ("AST-6", "EMID"), ("AST-7", "EMID")]


def _publish(paths) -> None:
    paths.serving_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(paths.serving_db))
    con.execute(
        "CREATE TABLE mart_market_conflicts (conflict_id VARCHAR, conflict_kind VARCHAR, severity VARCHAR, "
        "severity_rank INTEGER, asset_id VARCHAR, registry_asset_id VARCHAR, registry_group_ids VARCHAR, "
        "registry_group_names VARCHAR, operator_id_a VARCHAR, product_id_a VARCHAR, activity_type_a VARCHAR, "
        "source_ref_a VARCHAR, participant_id_a VARCHAR, operator_id_b VARCHAR, product_id_b VARCHAR, "
        "activity_type_b VARCHAR, source_ref_b VARCHAR, participant_id_b VARCHAR, overlap_start_utc TIMESTAMPTZ, "
        "overlap_end_utc TIMESTAMPTZ, overlap_minutes BIGINT, explanation VARCHAR, detected_rule_name VARCHAR)"
    )
    for conflict_id, asset_id, registry_id in _CONFLICTS:
        con.execute(
            "INSERT INTO mart_market_conflicts VALUES ($id, 'cross_so_overlap', 'high', 3, $asset, $reg, NULL, "
            "NULL, 'enwl', 'enwl_flex_a', 'dno_instruction', 'E-1', 'P1', 'npg', 'npg_flex_b', 'dno_instruction', "
            "'N-1', 'P1', TIMESTAMPTZ '2025-06-02 15:00:00+00', TIMESTAMPTZ '2025-06-02 15:30:00+00', 30, "
            "'ENWL and NPG instructed the asset at once.', NULL)",
            {"id": conflict_id, "asset": asset_id, "reg": registry_id},
        )
    con.execute("CREATE TABLE dim_asset (asset_id VARCHAR, dno_area VARCHAR)")
    con.executemany("INSERT INTO dim_asset VALUES (?, ?)", _AREAS)
    con.close()


@pytest.fixture
def people(lake_paths):
    db.dispose_all()
    reset_db_registry()
    p = {
        "ukpn": make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"),
        "nged": make_principal("NGED", Role.SYSTEM_OPERATOR, operator_id="nged"),
        "neso": make_principal("NESO", Role.SYSTEM_OPERATOR, operator_id="neso"),
        "flex_b": make_principal("Flex B", Role.FSP),
        "flex_c": make_principal("Flex C", Role.FSP),
    }
    with db.session() as s:
        s.add(
            Asset(
                registry_asset_id="REG-000007",
                organisation_id=p["flex_b"].organisation_id,
                name="Battery 7",
                asset_type="battery",
                capacity_mw=1.0,
                dno_area="LPN",
            )
        )
    _publish(lake_paths)
    yield p
    reset_db_registry()
    db.dispose_all()


def _seen(principal) -> dict[str, bool]:
    return {
        r["conflict_id"]: r["party"] for r in conflicts.visible_conflicts(principal).iter_rows(named=True)
    }


def test_a_system_operator_sees_the_conflicts_in_its_control_area_only(people):
    assert _seen(people["ukpn"]) == {"CA-1": False, "CA-3": False}  # EPN; LPN per the registry
    assert _seen(people["nged"]) == {"CA-2": False}  # EMID (not CA-3: the registry moved it to LPN)
    assert _seen(people["neso"]) == {"CA-1": False, "CA-2": False, "CA-3": False}  # all of GB
    assert _seen(people["flex_b"]) == {"CA-3": True}  # its asset: a party
    assert _seen(people["flex_c"]) == {}
    assert conflicts.control_area(people["ukpn"]) == frozenset({"epn", "lpn", "spn"})
    assert conflicts.control_area(people["neso"]) is conflicts.GB_WIDE
    assert conflicts.control_area(people["flex_b"]) == frozenset()


def test_only_the_parties_act_on_a_conflict_the_area_operator_watches(people):
    with pytest.raises(AccessDenied, match="in your control area"):
        conflicts.acknowledge(people["ukpn"], "CA-1", "seen")
    with pytest.raises(AccessDenied, match="Only the organisations involved"):
        conflicts.acknowledge(people["nged"], "CA-1", "not my area")
    conflicts.acknowledge(people["flex_b"], "CA-3", "Talking to both DNOs")
    [step] = conflicts.history(people["ukpn"], "CA-3")  # the area operator follows what the parties do
    assert (step["state"], step["organisation"]) == ("acknowledged", "Flex B")
    with pytest.raises(conflicts.NotFound):
        conflicts.history(people["nged"], "CA-3")


def test_the_control_room_says_what_the_area_is_and_offers_no_action_to_watchers(people):
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["sfe_session_token"] = session_token(people["ukpn"])
    at.run()
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "DNO licence area(s) EPN, LPN, SPN" in captions
    table = at.dataframe[0].value
    assert sorted(table["Conflict"]) == ["CA-1", "CA-3"]
    assert set(table["Your side"]) == {False} and sorted(table["DNO area"]) == ["EPN", "LPN"]
    assert "your organisation is not a side of it" in " ".join(i.value for i in at.info)
    assert not [b for b in at.button if b.label in ("Acknowledge", "Resolve")]
