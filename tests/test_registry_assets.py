"""Assets registered once for all markets: validation, duplicates, access per role, groups with
history, CSV upload with a per-row report, and concurrent registrations on a real SQLite WAL file."""

from __future__ import annotations

import csv
import io
import random
import threading

import polars as pl
import pytest
from sqlalchemy import func, select

from sfe.generate.fleet import mpan_check_digit as generator_check_digit
from sfe.registry import asset_import, assets, audit, db, groups
from sfe.registry.access import AccessDenied, NotFound, Role
from sfe.registry.models import Asset, AssetGroupMembership, AssetMarketId
from sfe.registry.validation import Conflict, InvalidInput

try:
    from registry_helpers import asset_row, make_principal, mpan
except ImportError:  # tests/ imported as a package
    from tests.registry_helpers import asset_row, make_principal, mpan


@pytest.fixture
def people(registry):
    return {
        "fsp_a": make_principal("Acme Flex", Role.FSP),
        "fsp_a2": make_principal("Acme Flex", Role.FSP),
        "fsp_b": make_principal("Beta Flex", Role.FSP),
        "ukpn": make_principal("UK Power Networks SO", Role.SYSTEM_OPERATOR, operator_id="ukpn"),
        "nged": make_principal("NGED SO", Role.SYSTEM_OPERATOR, operator_id="nged"),
        "neso": make_principal("NESO SO", Role.SYSTEM_OPERATOR, operator_id="neso"),
        "investor": make_principal("Capital Partners", Role.INVESTOR),
        "analyst": make_principal("Analysis Ltd", Role.ANALYST),
        "admin": make_principal("SFE", Role.ADMIN),
    }


def register(principal, data, **kwargs):
    with db.session() as s:
        return assets.register_asset(s, principal, data, **kwargs)


def field_errors(exc_info) -> dict[str, str]:
    return {e.field: e.message for e in exc_info.value.errors}


# -- validation ------------------------------------------------------------------------------------
def test_mpan_check_digit_is_the_public_algorithm():
    rng = random.Random(7)
    for _ in range(200):
        first12 = f"{rng.randint(10, 23)}{rng.randint(0, 10**10 - 1):010d}"
        assert str(assets.mpan_check_digit(first12)) == generator_check_digit(first12)
    # worked example: weights 3,5,7,13,17,19,23,29,31,37,41,43 over 1 0 0 0 0 0 0 0 0 0 0 1 -> 46 % 11 % 10 = 2
    assert assets.mpan_check_digit("100000000001") == 2


def test_registration_derives_the_connection_and_normalises_the_input(people):
    core = mpan("12", 4242)
    record = register(
        people["fsp_a"],
        {
            "asset_name": "  Willesden battery ",
            "asset_type": "Battery",
            "capacity_mw": "5",
            "energy_mwh": "10",
            "postcode": "nw101aa",
            "mpan": f"01 801 123 {core}",  # a full 21-digit MPAN ends with the core
            "bm_unit": "t_wilb-1",
            "ukpn_fu_id": "WILL-FU-1",
        },
    )
    assert record.registry_asset_id == "REG-000001"
    assert record.asset_name == "Willesden battery"
    assert record.asset_type == "battery"
    assert (record.capacity_mw, record.energy_mwh) == (5.0, 10.0)
    assert record.postcode == "NW10 1AA"
    assert record.mpan == core
    assert (record.gsp_group, record.dno_area) == ("_C", "LPN")  # distributor 12 = London
    assert record.bm_unit == "T_WILB-1" and record.ukpn_fu_id == "WILL-FU-1"
    assert record.organisation_name == "Acme Flex" and record.editable
    with db.session() as s:
        refs = set(s.execute(select(AssetMarketId.ref_type, AssetMarketId.source_asset_ref)).all())
        [event] = audit.history(s, "asset", "REG-000001")
    assert refs == {("mpan", core), ("bm_unit", "T_WILB-1"), ("ukpn_fu_id", "WILL-FU-1")}
    assert event.action == "asset.register" and event.actor_user_id == people["fsp_a"].user_id


def test_every_bad_field_is_reported_at_once(people):
    with pytest.raises(InvalidInput) as exc:
        register(
            people["fsp_a"],
            {
                "asset_name": "",
                "asset_type": "flux_capacitor",
                "capacity_mw": "0",
                "postcode": "NOT A POSTCODE",
                "mpan": "1000000000010",
                "gsp_group": "_Z",
                "bm_unit": "not a bm unit",
                "colour": "red",
            },
        )
    errors = field_errors(exc)
    assert errors["asset_name"] == "is required"
    assert "'flux_capacitor' is not one of" in errors["asset_type"] and "battery" in errors["asset_type"]
    assert "greater than 0" in errors["capacity_mw"]
    assert "not a UK postcode" in errors["postcode"]
    assert "check digit" in errors["mpan"]
    assert "'_Z' is not a GSP group" in errors["gsp_group"]
    assert "not a BM unit id" in errors["bm_unit"]
    assert "unknown field" in errors["colour"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 0


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"energy_mwh": None}, "energy_mwh", "is required"),  # storage needs MWh
        ({"energy_mwh": -1}, "energy_mwh", "greater than 0"),
        ({"asset_type": "heat_pump"}, "energy_mwh", "storage assets only"),
        ({"capacity_mw": 5000}, "capacity_mw", "at most 2000"),
        ({"capacity_mw": "lots"}, "capacity_mw", "not a number"),
        ({"postcode": None, "latitude": None, "longitude": None}, "postcode", "give the location"),
        ({"postcode": None, "latitude": 48.5, "longitude": 2.3}, "latitude", "at most|at least"),
        ({"postcode": None, "longitude": None}, "longitude", "together"),
        ({"mpan": "12345"}, "mpan", "13-digit core"),
        ({"mpan": None}, "mpan", "connection point"),
        ({"gsp_group": "_C"}, "gsp_group", "GSP group _A"),  # the MPAN (distributor 10) is Eastern
        ({"mpan": None, "gsp_group": "_A", "dno_area": "LPN"}, "dno_area", "GSP group _C"),
        ({"dno_area": "ATLANTIS"}, "dno_area", "not a DNO licence area"),
        ({"asset_name": "x" * 201}, "asset_name", "at most 200"),
        ({"asset_name": "line\nbreak"}, "asset_name", "control characters"),
    ],
)
def test_field_rules(people, overrides, field, message):
    with pytest.raises(InvalidInput) as exc:
        register(
            people["fsp_a"], asset_row(1, **overrides) | {k: v for k, v in overrides.items() if v is None}
        )
    errors = field_errors(exc)
    assert field in errors, errors
    assert any(part in errors[field] for part in message.split("|")), errors[field]


def test_location_by_coordinates_and_connection_by_area_alone(people):
    record = register(
        people["fsp_a"],
        asset_row(1, postcode=None, mpan=None, dno_area="emid", latitude=52.95, longitude=-0.95),
    )
    assert (record.gsp_group, record.dno_area, record.postcode) == ("_B", "EMID", None)


# -- one entry per physical asset --------------------------------------------------------------------
@pytest.mark.parametrize(
    "shared",
    ["mpan", "bm_unit", "eac_unit_name", "ukpn_fu_id", "competition_asset_ref"],
)
def test_any_shared_id_is_refused_with_a_pointer_to_the_existing_entry(people, shared):
    ids = {
        "bm_unit": "E_ACME-1",
        "eac_unit_name": "NBM-ACME-001",
        "ukpn_fu_id": "ACME-ALDR-0001",
        "competition_asset_ref": "ACME-EPN-0001",
    }
    first = register(people["fsp_a"], asset_row(1, **ids))
    second = asset_row(2) | {shared: first.mpan if shared == "mpan" else ids[shared]}
    with pytest.raises(assets.DuplicateAsset) as own:
        register(people["fsp_a2"], second)  # a colleague in the same organisation
    assert own.value.registry_asset_id == first.registry_asset_id
    assert own.value.ref_type == shared
    assert own.value.organisation_name == "Acme Flex"
    assert "REG-000001" in str(own.value) and "your organisation (Acme Flex)" in str(own.value)
    with pytest.raises(assets.DuplicateAsset) as other:
        register(people["fsp_b"], second)
    assert other.value.registry_asset_id == "REG-000001"
    assert other.value.organisation_name is None
    assert "another organisation" in str(other.value) and "Acme" not in str(other.value)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 1


def test_a_likely_duplicate_warns_and_registers_only_when_confirmed(people):
    first = register(people["fsp_a"], asset_row(1, capacity_mw=10.0, latitude=52.2, longitude=0.12))
    similar = asset_row(
        2,
        mpan=None,
        dno_area="EPN",
        capacity_mw=10.3,
        postcode="IP13 9AA",
        latitude=52.2005,
        longitude=0.1205,
    )  # ~65 m away, 3 % bigger, no MPAN to tell it apart
    with pytest.raises(assets.LikelyDuplicate) as own:
        register(people["fsp_a"], similar)
    [match] = own.value.matches
    assert (match.registry_asset_id, match.own, match.asset_name) == (
        first.registry_asset_id,
        True,
        "Battery 1",
    )
    assert 30 < match.distance_m < 100
    with pytest.raises(assets.LikelyDuplicate) as other:
        register(people["fsp_b"], similar)
    assert other.value.matches[0].asset_name is None and "another organisation" in str(other.value)
    # different enough: other type, or 10 % bigger, or 1 km away
    register(
        people["fsp_b"],
        asset_row(3, asset_type="ev_charging", energy_mwh=None, capacity_mw=10.0, latitude=52.2),
    )
    register(people["fsp_b"], asset_row(4, capacity_mw=11.0, latitude=52.2, longitude=0.12))
    register(
        people["fsp_b"], asset_row(5, capacity_mw=10.0, postcode="IP13 9AB", latitude=52.209, longitude=0.12)
    )
    # its own MPAN tells it apart: neighbours' assets behind their own meters are not duplicates
    register(people["fsp_b"], asset_row(6, capacity_mw=10.0, latitude=52.2, longitude=0.12))
    confirmed = register(people["fsp_b"], similar, confirm_likely_duplicate=True)
    with db.session() as s:
        [event] = audit.history(s, "asset", confirmed.registry_asset_id)
    assert event.details["confirmed_likely_duplicate"] is True


def test_same_postcode_same_size_is_a_likely_duplicate(people):
    register(people["fsp_a"], asset_row(1, latitude=None, longitude=None, bm_unit="T_SAME-1"))
    with pytest.raises(assets.LikelyDuplicate):
        register(
            people["fsp_a"],
            asset_row(2, capacity_mw=2.0, latitude=None, longitude=None, mpan=None, gsp_group="_A"),
        )
    # same place and size but a different BM unit: a different unit
    register(
        people["fsp_a"],
        asset_row(
            3, capacity_mw=2.0, latitude=None, longitude=None, mpan=None, dno_area="EPN", bm_unit="T_OTHER-1"
        ),
    )


# -- access per role -----------------------------------------------------------------------------------
def test_each_role_sees_only_what_it_may(people):
    epn = register(people["fsp_a"], asset_row(1))  # Eastern (UKPN)
    emid = register(people["fsp_a"], asset_row(2, mpan=mpan("11", 7)))  # East Midlands (NGED)
    b_asset = register(people["fsp_b"], asset_row(3, mpan=mpan("12", 9)))  # London (UKPN)
    with db.session() as s:

        def visible(who):
            return {a.registry_asset_id for a in assets.list_assets(s, people[who])}

        assert visible("fsp_a") == visible("fsp_a2") == {epn.registry_asset_id, emid.registry_asset_id}
        assert visible("fsp_b") == {b_asset.registry_asset_id}
        assert visible("ukpn") == {epn.registry_asset_id, b_asset.registry_asset_id}
        assert visible("nged") == {emid.registry_asset_id}
        assert (
            visible("neso")
            == visible("admin")
            == {epn.registry_asset_id, emid.registry_asset_id, b_asset.registry_asset_id}
        )
        for who in ("investor", "analyst"):
            with pytest.raises(AccessDenied):
                assets.list_assets(s, people[who])
            with pytest.raises(NotFound):
                assets.get_asset(s, people[who], epn.registry_asset_id)
        with pytest.raises(NotFound):
            assets.get_asset(s, people["fsp_b"], epn.registry_asset_id)
        with pytest.raises(NotFound):
            assets.get_asset(s, people["nged"], epn.registry_asset_id)
        seen_by_so = assets.get_asset(s, people["ukpn"], epn.registry_asset_id)
        assert seen_by_so.organisation_name == "Acme Flex" and not seen_by_so.editable
        with pytest.raises(AccessDenied, match="read-only"):
            assets.update_asset(s, people["ukpn"], epn.registry_asset_id, {"capacity_mw": 3})
        with pytest.raises(NotFound):
            assets.update_asset(s, people["fsp_b"], epn.registry_asset_id, {"capacity_mw": 3})
        with pytest.raises(NotFound):
            assets.retire_asset(s, people["fsp_b"], epn.registry_asset_id)
        for who in ("ukpn", "investor", "analyst"):
            with pytest.raises(AccessDenied):
                assets.register_asset(s, people[who], asset_row(9, mpan=mpan("10", 99)))


def test_admins_register_for_an_fsp_organisation_and_may_change_any_asset(people):
    with pytest.raises(InvalidInput, match="organisation"):
        register(people["admin"], asset_row(1))
    record = register(people["admin"], asset_row(1), organisation_id=people["fsp_b"].organisation_id)
    assert record.organisation_name == "Beta Flex"
    with pytest.raises(AccessDenied):
        register(people["fsp_a"], asset_row(2), organisation_id=people["fsp_b"].organisation_id)
    with db.session() as s:
        assets.update_asset(s, people["admin"], record.registry_asset_id, {"asset_name": "Fixed by admin"})
        assert assets.get_asset(s, people["fsp_b"], record.registry_asset_id).asset_name == "Fixed by admin"


# -- update and retire ----------------------------------------------------------------------------------
def test_update_rechecks_everything_and_keeps_ids_unique(people):
    first = register(people["fsp_a"], asset_row(1, bm_unit="T_ONE-1"))
    second = register(people["fsp_a"], asset_row(2))
    with db.session() as s:
        updated = assets.update_asset(
            s,
            people["fsp_a"],
            first.registry_asset_id,
            {"capacity_mw": 2.5, "bm_unit": None, "eac_unit_name": "NBM-1"},
        )
        assert (updated.capacity_mw, updated.bm_unit, updated.eac_unit_name) == (2.5, None, "NBM-1")
        with pytest.raises(InvalidInput) as exc:
            assets.update_asset(s, people["fsp_a"], first.registry_asset_id, {"energy_mwh": None})
        assert "energy_mwh" in field_errors(exc)
        with pytest.raises(assets.DuplicateAsset) as dup:
            assets.update_asset(s, people["fsp_a"], second.registry_asset_id, {"eac_unit_name": "NBM-1"})
        assert dup.value.registry_asset_id == first.registry_asset_id
        [_, change] = audit.history(s, "asset", first.registry_asset_id)
    assert change.action == "asset.update"
    assert change.details["changed"]["capacity_mw"] == [2.0, 2.5]
    register(people["fsp_b"], asset_row(3, bm_unit="T_ONE-1"))  # the released BM unit is free again


def test_retired_assets_leave_their_groups_and_cannot_change(people):
    record = register(people["fsp_a"], asset_row(1))
    with db.session() as s:
        group = groups.create_group(s, people["fsp_a"], "Eastern batteries")
        groups.add_to_group(s, people["fsp_a"], group.group_id, [record.registry_asset_id])
    with db.session() as s:
        retired = assets.retire_asset(s, people["fsp_a"], record.registry_asset_id, reason="decommissioned")
        assert retired.retired_at is not None and not retired.editable and retired.groups == []
        members = groups.group_members(s, people["fsp_a"], group.group_id)
        assert [m.current for m in members] == [False]
        assert assets.list_assets(s, people["fsp_a"]) == []
        assert len(assets.list_assets(s, people["fsp_a"], include_retired=True)) == 1
        with pytest.raises(Conflict, match="retired"):
            assets.update_asset(s, people["fsp_a"], record.registry_asset_id, {"capacity_mw": 9})
        with pytest.raises(Conflict, match="retired"):
            groups.add_to_group(s, people["fsp_a"], group.group_id, [record.registry_asset_id])
    with pytest.raises(assets.DuplicateAsset):  # the physical asset keeps its entry
        register(people["fsp_b"], asset_row(5, mpan=record.mpan))


# -- groups ----------------------------------------------------------------------------------------------
def test_groups_keep_their_membership_history(people):
    a1, a2 = register(people["fsp_a"], asset_row(1)), register(people["fsp_a"], asset_row(2))
    b1 = register(people["fsp_b"], asset_row(3))
    me = people["fsp_a"]
    with db.session() as s:
        group = groups.create_group(s, me, "Portfolio", "Batteries bid together")
        with pytest.raises(Conflict, match="already has a group"):
            with s.begin_nested():
                groups.create_group(s, people["fsp_a2"], "Portfolio")
        added = groups.add_to_group(s, me, group.group_id, [a1.registry_asset_id, a2.registry_asset_id])
        assert added.changed == ["REG-000001", "REG-000002"]
        again = groups.add_to_group(s, me, group.group_id, [a1.registry_asset_id])
        assert (again.changed, again.unchanged) == ([], ["REG-000001"])
        removed = groups.remove_from_group(s, me, group.group_id, [a1.registry_asset_id])
        assert removed.changed == ["REG-000001"]
        groups.add_to_group(s, me, group.group_id, [a1.registry_asset_id])
        with pytest.raises(NotFound):  # another organisation's asset
            groups.add_to_group(s, me, group.group_id, [b1.registry_asset_id])
    with db.session() as s:
        history = groups.group_members(s, me, group.group_id)
        current = groups.group_members(s, me, group.group_id, include_past=False)
        assert [(m.registry_asset_id, m.current) for m in history] == [
            ("REG-000001", True),
            ("REG-000002", True),
            ("REG-000001", False),
        ] or sorted((m.registry_asset_id, m.current) for m in history) == [
            ("REG-000001", False),
            ("REG-000001", True),
            ("REG-000002", True),
        ]
        assert {m.registry_asset_id for m in current} == {"REG-000001", "REG-000002"}
        assert s.scalar(select(func.count()).select_from(AssetGroupMembership)) == 3  # nothing deleted
        assert groups.list_groups(s, me)[0].current_members == 2
        assert groups.list_groups(s, people["fsp_b"]) == []
        with pytest.raises(NotFound):
            groups.group_members(s, people["fsp_b"], group.group_id)
        with pytest.raises(AccessDenied):
            groups.list_groups(s, people["investor"])
        assert [e.action for e in audit.history(s, "asset_group", group.group_id)] == [
            "group.create",
            "group.add_assets",
            "group.remove_assets",
            "group.add_assets",
        ]


# -- CSV upload ------------------------------------------------------------------------------------------
def _csv(rows: list[dict], columns=asset_import.TEMPLATE_COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def _fifty_with_two_bad() -> list[dict]:
    rows = [
        asset_row(i, asset_name=f"Home battery {i}", capacity_mw=0.01 + 0.013 * i, energy_mwh=0.02 + 0.03 * i)
        for i in range(50)
    ]
    rows[6]["mpan"] = "1000000000010"  # spreadsheet row 8: bad check digit
    rows[31]["capacity_mw"] = "-3"  # spreadsheet row 33
    rows[31]["energy_mwh"] = ""  # and a second problem in the same row
    return rows


def test_csv_upload_registers_the_valid_rows_and_reports_the_bad_ones(people):
    content = _csv(_fifty_with_two_bad())
    seen = []
    report = asset_import.import_assets_csv(
        people["fsp_a"], content, new_group_name="Home batteries", progress=lambda d, t: seen.append((d, t))
    )
    assert report.rows == 50 and not report.dry_run
    assert len(report.registered) == 48
    assert report.rejected_rows == [8, 33]
    assert [(e.row, e.field) for e in report.errors] == [(8, "mpan"), (33, "capacity_mw"), (33, "energy_mwh")]
    assert "check digit" in report.errors[0].message
    assert seen[0] == (0, 50) and seen[-1] == (50, 50)
    assert report.group is not None and report.group.current_members == 48
    with db.session() as s:
        mine = assets.list_assets(s, people["fsp_a"])
        assert len(mine) == 48 and all(a.groups == ["Home batteries"] for a in mine)
        assert assets.list_assets(s, people["fsp_b"]) == []
    errors = report.errors_frame()
    assert errors.columns == ["row", "field", "message"] and errors.height == 3
    rejected = pl.read_csv(io.BytesIO(asset_import.rejected_rows_csv(content, report)), infer_schema=False)
    assert rejected["asset_name"].to_list() == ["Home battery 6", "Home battery 31"]
    assert "capacity_mw: must be greater than 0" in rejected["errors"][1]
    # the same file again: every row is now a duplicate of what was registered, pointing at it
    again = asset_import.import_assets_csv(people["fsp_a"], content)
    assert again.registered == [] and len(again.rejected_rows) == 50
    assert "already registered as REG-" in again.errors[0].message


def test_csv_dry_run_checks_everything_and_registers_nothing(people, monkeypatch):
    monkeypatch.setattr(asset_import, "CHUNK_ROWS", 4)  # the repeated MPAN is three chunks later
    rows = _fifty_with_two_bad()[:10]
    rows.append(dict(rows[0], asset_name="Copy of row 2", postcode="SW19 1AA", latitude=51.4))  # same MPAN
    report = asset_import.import_assets_csv(people["fsp_a"], _csv(rows), dry_run=True)
    assert report.dry_run and len(report.registered) == 9
    assert [(e.row, e.field) for e in report.errors] == [(8, "mpan"), (12, "mpan")]
    assert "also in row 2 of this file" in report.errors[1].message
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 0
        assert audit.history(s, "asset", "REG-000001") == []


def test_csv_likely_duplicates_need_the_confirm_column(people):
    rows = [asset_row(1), asset_row(2, capacity_mw=2.02, latitude=52.0101, mpan=None, gsp_group="_A")]
    report = asset_import.import_assets_csv(people["fsp_a"], _csv(rows))
    assert [(e.row, e.field) for e in report.errors] == [(3, "confirm_likely_duplicate")]
    rows[1]["confirm_likely_duplicate"] = "yes"
    report = asset_import.import_assets_csv(people["fsp_a"], _csv(rows[1:]))
    assert len(report.registered) == 1 and not report.errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        ("asset_name,asset_type,capacity_mw\nCaf\xe9,battery,1\n".encode("latin-1"), "not UTF-8"),
        (b"asset_name;asset_type;capacity_mw\nx;battery;1\n", "commas"),
        (b"asset_name,asset_type,capacity_mw,colour\n", "unknown column(s) 'colour'"),
        (b"asset_name,asset_type\n", "missing required column(s): capacity_mw"),
        (b"asset_name,asset_type,capacity_mw,asset_name\n", "more than once"),
    ],
)
def test_csv_file_level_problems_are_named(people, content, message):
    with pytest.raises(asset_import.CsvFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        asset_import.import_assets_csv(people["fsp_a"], content)


def test_csv_template_header_blank_lines_and_extra_cells(people):
    template = asset_import.template_csv().decode()
    assert template.strip().split(",") == list(asset_import.TEMPLATE_COLUMNS)
    assert set(asset_import.TEMPLATE_COLUMNS) <= set(asset_import.COLUMN_HELP)
    good = _csv([asset_row(1)]).decode()  # ends with a line break: the next line is row 3
    content = (good + ",,,\r\n" + "Extra,battery,1,2,CB6 9EN,,,,,,,,,,,,surplus\r\n").encode()
    report = asset_import.import_assets_csv(people["fsp_a"], content)
    assert len(report.registered) == 1
    assert [(e.row, e.field) for e in report.errors] == [(4, "row")]
    with pytest.raises(AccessDenied):
        asset_import.import_assets_csv(people["investor"], content)


# -- concurrency -----------------------------------------------------------------------------------------
def test_fifty_concurrent_registrations_lose_nothing_and_never_duplicate(people):
    """25 physical assets, each submitted twice at once by FSP A and FSP B (threads, one SQLite WAL file):
    exactly one entry per asset, every other submission refused as a duplicate, nothing else fails."""
    outcomes: list[tuple[str, str]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def submit(i: int) -> None:
        who = people["fsp_a"] if i % 2 == 0 else people["fsp_b"]
        physical = i // 2
        data = asset_row(physical, bm_unit=f"E_CONC{physical:02d}-1")
        start.wait()
        try:
            record = register(who, data)
            result = ("registered", record.registry_asset_id)
        except assets.DuplicateAsset as exc:
            result = ("duplicate", exc.registry_asset_id)
        except BaseException as exc:  # anything else is a failure of the test
            with lock:
                failures.append(exc)
            return
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert len(outcomes) == 50
    registered = {rid for kind, rid in outcomes if kind == "registered"}
    duplicates = [rid for kind, rid in outcomes if kind == "duplicate"]
    assert len(registered) == 25 and len(duplicates) == 25
    assert set(duplicates) == registered  # every refusal points at the entry that won
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 25
        assert s.scalar(select(func.count(func.distinct(Asset.mpan)))) == 25
        assert s.scalar(select(func.count()).select_from(AssetMarketId)) == 50  # MPAN + BM unit each
    with db.engine().connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
