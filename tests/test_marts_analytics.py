"""The analytics marts (asset value, asset performance, DER positions), the registry in the warehouse and
the settlement calendar, on one small generated lake built once for the module: generate, a registry
snapshot written to the contract (sfe.registry_schema) from the generator's ground truth, then the real
pipeline (ingest + dbt build + publish). Figures are recomputed here from the fct_* tables.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from sfe import pipeline
from sfe.config import LakePaths
from sfe.generate import generate
from sfe.registry_schema import SCHEMAS, write_table

pytestmark = pytest.mark.slow

LONDON = ZoneInfo("Europe/London")
REGISTERED_AT = datetime(2024, 11, 1, tzinfo=UTC)
PLANNED_MPAN = "1099999999990"

NEW_MARTS = {
    "mart_asset_value": (
        "region", "row_kind", "asset_type", "size_band", "year", "product_id", "n_assets",
        "availability_gbp_per_mw_p50", "utilisation_gbp_per_mw_p50", "net_gbp_per_mw_p10",
        "net_gbp_per_mw_p50", "net_gbp_per_mw_p90",
    ),
    "mart_asset_performance": (
        "month", "asset_id", "product_id", "offered_mw", "won_mw", "dispatched_mwh", "metered_delivery_mwh",
        "delivery_pct", "availability_payment_gbp", "utilisation_payment_gbp", "penalty_gbp",
    ),
    "mart_der_positions": (
        "position_kind", "asset_id", "market_id", "product_id", "operator_id", "start_utc", "end_utc", "mw",
        "direction", "flex_zone", "dno_area",
    ),
}  # fmt: skip


def _registered_fleet_asset(fleet: list[dict[str, str]]) -> dict[str, str]:
    """A fleet asset known by an MPAN, a DNO competition ref and a NESO unit name."""
    return next(r for r in fleet if r["mpan"] and r["competition_asset_ref"] and r["eac_unit_name"])


def write_registry_snapshot(paths: LakePaths, target: dict[str, str]) -> None:
    """The registry as the snapshot contract writes it: the fleet asset ``target`` registered with all its
    market ids, a planned battery no market has seen, and SO products in three lifecycle states."""
    owner = target["owner_name"]
    tables = {
        "organisations": {
            "organisation_id": [1, 2, 3],
            "organisation_name": [owner, "Newco Storage Ltd", "UK Power Networks"],
            "organisation_kind": ["fsp", "fsp", "system_operator"],
            "operator_id": [None, None, "ukpn"],
        },
        "assets": {
            "registry_asset_id": ["REG-000001", "REG-000002"],
            "organisation_id": [1, 2],
            "organisation_name": [owner, "Newco Storage Ltd"],
            "asset_name": [target["asset_name"], "Aldreth Battery (planned)"],
            "asset_type": [target["asset_type"], "battery"],
            "capacity_mw": [float(target["capacity_mw"]), 2.0],
            "energy_mwh": [None, 4.0],
            "postcode": [target["postcode"], "CB6 3AA"],
            "latitude": [float(target["lat"]), 52.33],
            "longitude": [float(target["lon"]), 0.12],
            "mpan": [target["mpan"], PLANNED_MPAN],
            "gsp_group": [target["gsp_group"], "_A"],
            "dno_area": [target["dno_area"], "EPN"],
            "flexibility_zone": [target["flex_zone"], "Aldreth"],
            "registered_at_utc": [REGISTERED_AT, REGISTERED_AT],
            "updated_at_utc": [REGISTERED_AT, REGISTERED_AT],
        },
        "asset_market_ids": {"registry_asset_id": [], "ref_type": [], "source_asset_ref": []},
        "asset_groups": {"group_id": [1], "organisation_id": [2], "group_name": ["Newco East"]},
        "asset_group_memberships": {
            "group_id": [1],
            "registry_asset_id": ["REG-000002"],
            "valid_from_utc": [REGISTERED_AT],
            "valid_to_utc": [None],
        },
        "products": {
            "product_id": ["ukpn_reg_peak_2027", "ukpn_reg_draft_2028", "ukpn_reg_old_2024"],
            "organisation_id": [3, 3, 3],
            "operator_id": ["ukpn"] * 3,
            "market_id": ["ukpn_flex"] * 3,
            "product_name": ["Peak Reduction 2027", "Draft 2028", "Legacy 2024"],
            "service_type": ["Local flexibility"] * 3,
            "direction": ["up", "both", "down"],
            "standard_product": ["peak_reduction", None, None],
            "zones": ['["Aldreth"]', "[]", "[]"],
            "min_size_mw": [0.1, None, None],
            "response_time_s": [900.0, None, None],
            "min_duration_min": [30.0, None, None],
            "availability_price_gbp_per_mw_h": [5.0, None, None],
            "utilisation_price_gbp_per_mwh": [300.0, None, None],
            "status": ["live", "draft", "retired"],
            "live_from_utc": [REGISTERED_AT, None, REGISTERED_AT],
            "retired_at_utc": [None, None, REGISTERED_AT],
        },
    }
    declared = [("REG-000001", t, target[t]) for t in ("mpan", "eac_unit_name", "competition_asset_ref")]
    declared.append(("REG-000002", "mpan", PLANNED_MPAN))
    market_ids = tables["asset_market_ids"]
    for registry_asset_id, ref_type, ref in declared:
        market_ids["registry_asset_id"].append(registry_asset_id)
        market_ids["ref_type"].append(ref_type)
        market_ids["source_asset_ref"].append(ref)
    for table, columns in tables.items():
        write_table(table, pa.table(columns, schema=SCHEMAS[table]), paths)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("marts") / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SFE_LAKE_DIR", str(root))
        paths = LakePaths(root)
        # Two calendar years (asset value is per year) and the spring clock change (positions are localised).
        generate(paths, assets=40, days=110, start=date(2024, 12, 15), seed=42, progress=False)
        with open(paths.generated / "fleet.csv", newline="", encoding="utf-8") as fh:
            fleet = list(csv.DictReader(fh))
        target = _registered_fleet_asset(fleet)
        write_registry_snapshot(paths, target)
        # The files above stand in for the registry: the build's own snapshot step must not replace them.
        from sfe.registry import snapshot

        mp.setattr(snapshot, "write_snapshot", lambda _paths: {})
        pipeline.build()
        yield paths, target


@pytest.fixture(scope="module")
def con(lake):
    paths, _ = lake
    connection = duckdb.connect(str(paths.serving_db), read_only=True)
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def _rows(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


@pytest.mark.parametrize("mart", sorted(NEW_MARTS))
def test_mart_is_published_with_its_columns_and_rows(con, mart):
    columns = {
        r[0]
        for r in _rows(
            con,
            "select column_name from information_schema.columns where table_schema = 'main' and table_name = ?",
            [mart],
        )
    }
    assert set(NEW_MARTS[mart]) <= columns, set(NEW_MARTS[mart]) - columns
    assert _rows(con, f"select count(*) from {mart}")[0][0] > 0  # noqa: S608 - fixed names


# -- asset types ----------------------------------------------------------------------------------


def test_every_asset_has_a_type_and_a_size_band_and_unknown_means_no_source_names_one(con):
    assert _rows(con, "select count(*) from dim_asset where asset_type is null or size_band is null") == [
        (0,)
    ]
    unknown = {r[0] for r in _rows(con, "select asset_id from dim_asset where asset_type = 'unknown'")}
    assert unknown, "the generated lake has assets seen only in DNO data and metering"
    named = {
        r[0]
        for r in _rows(
            con,
            "select distinct c.asset_id from intermediate.int_asset_observations o "
            "join intermediate.int_asset_crosswalk c using (identity_key) where o.technology_source_value is not null",
        )
    }
    assert not unknown & named
    assert _rows(con, "select count(*) from taxonomy.asset_types where asset_type = 'unknown'") == [(1,)]


# -- registry -------------------------------------------------------------------------------------


def test_registered_asset_wins_every_id_it_declares_and_its_derived_ids(lake, con):
    _, target = lake
    (asset_id, name, asset_type, basis, capacity, capacity_basis, mpan, dno_area, lat, owner) = _rows(
        con,
        "select asset_id, asset_name, asset_type, asset_type_basis, capacity_mw, capacity_basis, mpan, dno_area, "
        "lat, owner_participant_id from dim_asset where registry_asset_id = 'REG-000001'",
    )[0]
    assert (name, asset_type, basis, capacity_basis, mpan, dno_area) == (
        target["asset_name"], target["asset_type"], "registry", "registered", target["mpan"], target["dno_area"],
    )  # fmt: skip
    assert capacity == pytest.approx(float(target["capacity_mw"]))
    assert lat == pytest.approx(float(target["lat"]))
    assert _rows(con, "select count(*) from dim_participant where participant_id = ?", [owner]) == [(1,)]
    for ref_type in ("mpan", "eac_unit_name", "competition_asset_ref"):
        holders = _rows(
            con,
            "select distinct asset_id, match_status from bridge_asset_source_id where ref_type = ? "
            "and source_asset_ref = ?",
            [ref_type, target[ref_type]],
        )
        assert holders == [(asset_id, "registered")], (ref_type, holders)
    # The facts follow: the unit's EAC results, its settlement lines and its meter readings.
    for fact, column, value in (
        ("fct_auction_unit_result", "unit_name", target["eac_unit_name"]),
        ("fct_settlement", "mpan", target["mpan"]),
        ("fct_metering", "mpan", target["mpan"]),
    ):
        assert _rows(con, f"select distinct asset_id from {fact} where {column} = ?", [value]) == [
            (asset_id,)
        ]  # noqa: S608
    # No registered id is left in the report of ids the crosswalk could not link.
    assert _rows(
        con,
        "select count(*) from intermediate.int_unmatched_source_ids where source_asset_ref in (?, ?, ?)",
        [target["mpan"], target["eac_unit_name"], target["competition_asset_ref"]],
    ) == [(0,)]
    assert _rows(con, "select count(*) - count(distinct asset_id) from dim_asset") == [(0,)]


def test_registered_asset_no_market_has_seen_is_an_asset_too(con):
    row = _rows(
        con,
        "select a.asset_type, a.size_band, a.capacity_mw, a.energy_mwh, a.dno_area, a.flex_zone, a.mpan, "
        "a.owner_participant_id, p.participant_name from dim_asset a "
        "join dim_participant p on p.participant_id = a.owner_participant_id where a.registry_asset_id = 'REG-000002'",
    )
    assert row == [
        (
            "battery",
            "1_5mw",
            2.0,
            4.0,
            "EPN",
            "Aldreth",
            PLANNED_MPAN,
            "newco_storage_ltd",
            "Newco Storage Ltd",
        )
    ]
    ids = _rows(
        con,
        "select ref_type, source_asset_ref from bridge_asset_source_id b join dim_asset a using (asset_id) "
        "where a.registry_asset_id = 'REG-000002' and b.source_id = 'registry' order by 1",
    )
    assert ids == [("mpan", PLANNED_MPAN), ("registry_asset_id", "REG-000002")]


def test_live_and_retired_registry_products_are_products(con):
    products = _rows(
        con,
        "select product_id, market_id, product_status, standard_product, is_mapped, operator_id, zones "
        "from dim_product where product_source = 'registry' order by product_id",
    )
    assert products == [
        ("ukpn_reg_old_2024", "ukpn_flex", "retired", "unmapped", False, "ukpn", "[]"),
        ("ukpn_reg_peak_2027", "ukpn_flex", "live", "peak_reduction", True, "ukpn", '["Aldreth"]'),
    ]
    assert _rows(con, "select count(*) from dim_product where product_source = 'taxonomy'")[0][0] > 30


# -- asset value ----------------------------------------------------------------------------------


def _month(ts: datetime) -> tuple[int, int]:
    ts = ts.astimezone(UTC)
    return ts.year, ts.month


def _revenue_by_asset_product_month(con) -> dict[tuple[str, str, tuple[int, int]], float]:
    """Net revenue per asset, product and month from the facts: settlement lines where the asset has any
    for the product in the month, else the market records; accepted DNO contracts count with zero."""
    settled: dict = defaultdict(float)
    for asset_id, product_id, start, availability, utilisation, penalty in _rows(
        con,
        "select asset_id, product_id, period_start_utc, availability_payment_gbp, utilisation_payment_gbp, "
        "penalty_gbp from fct_settlement",
    ):
        settled[asset_id, product_id, _month(start)] += (
            (availability or 0) + (utilisation or 0) - (penalty or 0)
        )
    records: dict = defaultdict(float)
    for asset_id, product_id, start, mwh, price in _rows(
        con,
        "select asset_id, product_id, delivery_start_utc, executed_volume_mwh, clearing_price_gbp_per_mw_h "
        "from fct_auction_unit_result where executed_volume_mw > 0",
    ):
        records[asset_id, product_id, _month(start)] += mwh * price
    for asset_id, product_id, start, a_mwh, a_price, u_mwh, u_price in _rows(
        con,
        "select asset_id, product_id, start_utc, availability_mwh, availability_price_gbp_per_mw_h, energy_mwh, "
        "utilisation_price_gbp_per_mwh from fct_dispatch",
    ):
        records[asset_id, product_id, _month(start)] += (a_mwh or 0) * (a_price or 0) + (u_mwh or 0) * (
            u_price or 0
        )
    revenue = {**{k: v for k, v in records.items() if k not in settled}, **settled}
    for asset_id, product_id, first, last, days_of_week in _rows(
        con,
        "select asset_id, product_id, service_start_date, service_end_date, days_of_week from fct_bid "
        "where status = 'accepted'",
    ):
        day = first
        while day <= last:
            if days_of_week != "Mon-Fri" or day.weekday() < 5:
                revenue.setdefault((asset_id, product_id, (day.year, day.month)), 0.0)
            day += timedelta(days=1)
    return revenue


def test_asset_value_percentiles_recomputed_from_the_facts(con):
    revenue = _revenue_by_asset_product_month(con)
    assets = {
        a: (t, b, cap)
        for a, t, b, cap in _rows(con, "select asset_id, asset_type, size_band, capacity_mw from dim_asset")
    }
    per_asset_year: dict = defaultdict(float)
    per_asset_product_year: dict = defaultdict(float)
    for (asset_id, product_id, (year, _)), net in revenue.items():
        _, _, capacity = assets[asset_id]
        if capacity and capacity > 0:
            per_asset_year[asset_id, year] += net / capacity
            per_asset_product_year[asset_id, product_id, year] += net / capacity
    groups: dict = defaultdict(list)
    for (asset_id, year), net_per_mw in per_asset_year.items():
        asset_type, band, _ = assets[asset_id]
        groups[asset_type, band, year].append(net_per_mw)
    # The stacked figure resting on the most assets, and one product figure of the same group.
    (asset_type, band, year), values = max(groups.items(), key=lambda kv: (len(kv[1]), kv[0]))
    assert len(values) >= 3
    row = _rows(
        con,
        "select n_assets, net_gbp_per_mw_p10, net_gbp_per_mw_p50, net_gbp_per_mw_p90, net_gbp_per_mw_mean "
        "from mart_asset_value where region = 'GB' and row_kind = 'stacked_total' and asset_type = ? "
        "and size_band = ? and year = ?",
        [asset_type, band, year],
    )[0]
    expected = (len(values), *np.percentile(values, [10, 50, 90]), float(np.mean(values)))
    assert row == pytest.approx(expected, rel=1e-9, abs=1e-6), (asset_type, band, year)

    by_product: dict = defaultdict(list)
    for (asset_id, product_id, y), value in per_asset_product_year.items():
        if y == year and assets[asset_id][:2] == (asset_type, band):
            by_product[product_id].append(value)
    product_id, values = max(by_product.items(), key=lambda kv: (len(kv[1]), kv[0]))
    n_assets, p50, n_comparable = _rows(
        con,
        "select n_assets, net_gbp_per_mw_p50, n_comparable_assets from mart_asset_value where region = 'GB' "
        "and row_kind = 'product' and asset_type = ? and size_band = ? and year = ? and product_id = ?",
        [asset_type, band, year, product_id],
    )[0]
    assert (n_assets, n_comparable) == (len(values), len(groups[asset_type, band, year]))
    assert p50 == pytest.approx(float(np.median(values)), rel=1e-9, abs=1e-6)


def test_asset_value_has_a_row_per_dno_area_of_the_comparables(con):
    areas = _rows(
        con,
        "select region, sum(n_assets) from mart_asset_value where row_kind = 'stacked_total' and region <> 'GB' "
        "group by 1",
    )
    assert areas and all(
        region in {r[0] for r in _rows(con, "select dno_area from taxonomy.dno_areas")} for region, _ in areas
    )
    gb, local = _rows(
        con,
        "select sum(case when region = 'GB' then n_assets end), sum(case when region <> 'GB' then n_assets end) "
        "from mart_asset_value where row_kind = 'stacked_total'",
    )[0]
    assert local <= gb


# -- asset performance ----------------------------------------------------------------------------


def test_asset_performance_of_one_asset_month_matches_its_settlement_and_dispatches(con):
    asset_id, product_id, month = _rows(
        con,
        "select asset_id, product_id, month from mart_asset_performance where dispatches > 0 and settlement_lines > 0 "
        "order by dispatches desc, asset_id, product_id limit 1",
    )[0]
    got = _rows(
        con,
        "select availability_payment_gbp, utilisation_payment_gbp, penalty_gbp, total_gbp, settled_delivered_mwh, "
        "dispatches, dispatched_mwh from mart_asset_performance where asset_id = ? and product_id = ? and month = ?",
        [asset_id, product_id, month],
    )[0]
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    settled = _rows(
        con,
        "select sum(availability_payment_gbp), sum(utilisation_payment_gbp), sum(penalty_gbp), sum(total_gbp), "
        "sum(delivered_mwh) from fct_settlement where asset_id = ? and product_id = ? "
        "and period_start_utc >= ? and period_start_utc < ?",
        [asset_id, product_id, start, end],
    )[0]
    dispatched = _rows(
        con,
        "select count(*), sum(energy_mwh) from fct_dispatch where asset_id = ? and product_id = ? and power_mw <> 0 "
        "and start_utc >= ? and start_utc < ?",
        [asset_id, product_id, start, end],
    )[0]
    assert got == pytest.approx((*settled, *dispatched))


def test_metered_delivery_follows_the_settled_delivery_of_steady_assets(con):
    """Batteries and generators have a flat baseline: the meter shows what the SO settled, within a few %."""
    metered, settled = _rows(
        con,
        "select sum(m.metered_delivery_mwh), sum(s.delivered_mwh) from intermediate.int_dispatch_metered_delivery m "
        "join fct_settlement s on s.dispatch_ref = m.dispatch_id join dim_asset a on a.asset_id = s.asset_id "
        "where m.metering_complete and a.asset_type in ('battery', 'small_generation')",
    )[0]
    assert settled > 0
    assert metered == pytest.approx(settled, rel=0.05)


# -- DER positions --------------------------------------------------------------------------------


def test_dno_contract_windows_are_localised_on_both_sides_of_the_clock_change(con):
    rows = _rows(
        con,
        "select p.start_utc, p.end_utc, p.settlement_date, b.window_start_local, b.window_end_local "
        "from mart_der_positions p join fct_bid b on b.bid_id = p.source_ref where p.position_type = 'dno_contract'",
    )
    assert rows
    offsets = set()
    for start, end, day, window_start, window_end in rows:
        local_start, local_end = start.astimezone(LONDON), end.astimezone(LONDON)
        assert local_start.date() == day
        assert window_start <= local_start.time() and (
            local_end.time() <= window_end or window_end <= window_start
        )
        offsets.add(local_start.utcoffset())
    assert offsets == {timedelta(0), timedelta(hours=1)}


def test_positions_of_a_day_and_zone_show_commitments_and_dispatches(con):
    zone, day = _rows(
        con,
        "select flex_zone, settlement_date from mart_der_positions where position_kind = 'dispatch' "
        "and flex_zone is not null group by all order by count(*) desc, 1, 2 limit 1",
    )[0]
    start = datetime.combine(day, datetime.min.time(), LONDON)
    end = start + timedelta(days=1)
    kinds = _rows(
        con,
        "select position_kind, count(*) from mart_der_positions where flex_zone = ? and start_utc < ? "
        "and end_utc > ? group by 1 order by 1",
        [zone, end, start],
    )
    assert dict(kinds).get("dispatch", 0) > 0
    # Every dispatch of an asset of the zone that day is there.
    expected = _rows(
        con,
        "select count(*) from fct_dispatch d where coalesce(d.power_mw, 0) > 0 and d.start_utc < ? and d.end_utc > ? "
        "and coalesce(d.flex_zone, (select flex_zone from dim_asset a where a.asset_id = d.asset_id)) = ?",
        [end, start, zone],
    )[0][0]
    got = _rows(
        con,
        "select count(*) from mart_der_positions where flex_zone = ? and start_utc < ? and end_utc > ? "
        "and position_type in ('so_instruction', 'ukpn_dispatch')",
        [zone, end, start],
    )[0][0]
    assert got == expected


# -- settlement calendar --------------------------------------------------------------------------


def test_settlement_periods_follow_the_tz_database_every_day(con):
    days = _rows(
        con,
        "select settlement_date, count(*), min(start_utc), max(end_utc), min(periods_in_day) "
        "from dim_settlement_period group by 1 order by 1",
    )
    assert days[0][0] == date(2019, 1, 1) and days[-1][0] == date(2030, 12, 31)
    for day, periods, first_start, last_end, declared in days:
        midnight = datetime.combine(day, datetime.min.time(), LONDON)
        next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), LONDON)
        expected = int((next_midnight.astimezone(UTC) - midnight.astimezone(UTC)).total_seconds() // 1800)
        assert (periods, declared) == (expected, expected), day
        assert first_start == midnight.astimezone(UTC), day
        assert last_end == next_midnight.astimezone(UTC), day
