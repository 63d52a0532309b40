"""The /v1 table routes, declared: route path -> published table, public columns (with their
documentation and an example value), time column, filters, sort key and who may read it.

``sfe.api.routes.tables`` turns each ``Dataset`` into a GET route with paging and
``format=json|csv|parquet``; ``sfe.queries.table_page`` turns its ``TableSpec`` into parameterised
SQL. Table and column names come only from here, never from a request.

Columns not listed are not served: lineage (``source_file``, ``source_row``) stays in the warehouse
for analysts, and ``/v1/market-assets`` leaves out what locates or identifies a site (MPAN, lat/lon,
connection point).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sfe import queries, taxonomy
from sfe.queries import ListFilter, Ownership, TableSpec

STR, FLOAT, INT, BOOL, DATE, TIME, INSTANT = (
    "string",
    "number",
    "integer",
    "boolean",
    "date",
    "time",
    "instant",
)
LOCAL = "local"  # a GB wall-clock date and time, without offset

# Descriptions of columns that mean the same in every table.
COMMON_DESCRIPTIONS = {
    "market_id": "Market (`GET /v1/markets`).",
    "product_id": "Product in the SFE taxonomy (`GET /v1/products`).",
    "participant_id": "Market participant (`GET /v1/participants`).",
    "participant_name": "The participant as the source spells it.",
    "asset_id": "SFE asset id: one per physical asset across markets (`GET /v1/market-assets`).",
    "source_asset_ref": "The asset's id in the source.",
    "operator_id": "System operator (e.g. `neso`, `ukpn`, `nged`).",
    "source_id": "The source the row was ingested from.",
    "direction": "`up` (more export / less import) or `down`.",
    "asset_type": "Asset type in the taxonomy (battery, ev_charging, heat_pump, ...).",
    "size_band": "Capacity band: lt_100kw, 100kw_1mw, 1_5mw, 5_20mw, gt_20mw (or unknown).",
    "flex_zone": "DNO flexibility zone.",
    "service_type": "Service type (Response, Reserve, Local flexibility, ...).",
    "settlement_date": "GB settlement day (Europe/London local date).",
    "settlement_period": "Half-hour of the settlement day, 1-48 (46 or 50 on clock-change days).",
    "duration_h": "Length of the delivery window, hours.",
    "availability_price_gbp_per_mw_h": "Availability price, £/MW/h.",
    "utilisation_price_gbp_per_mwh": "Utilisation price, £/MWh.",
    "clearing_price_gbp_per_mw_h": "Clearing price, £/MW/h.",
    "mpan": "Meter point administration number of the asset's connection.",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    example: Any
    description: str = ""

    @property
    def doc(self) -> str:
        return self.description or COMMON_DESCRIPTIONS.get(self.name, "")


def C(name: str, type_: str, example: Any, description: str = "") -> Column:  # noqa: N802 - a table row
    return Column(name, type_, example, description)


@dataclass(frozen=True)
class FilterDoc:
    """Documentation and accepted values of a filter parameter.

    ``values``: the values the OpenAPI document lists (an enum of each item); a request with another
    value is refused (422) unless ``vocabulary`` names the published table that can also hold it
    (products registered by system operators, placeholder products of unmapped source values).
    """

    description: str
    example: str
    vocabulary: Literal["product", "market", "operator"] | None = None
    values: tuple[str, ...] | None = None


def _taxonomy(table: str, column: str, *extra: str) -> tuple[str, ...]:
    return tuple(sorted({row[column] for row in taxonomy.table(table)} | set(extra)))


_REPEATABLE = "Repeat the parameter or separate values by commas."

FILTER_DOCS: dict[str, FilterDoc] = {
    "product_id": FilterDoc(
        f"Only these products. {_REPEATABLE} `GET /v1/products` lists them; products that system "
        "operators register are accepted once published.",
        "neso_eac_dch",
        "product",
        _taxonomy("products", "product_id"),
    ),
    "market_id": FilterDoc(
        f"Only these markets. {_REPEATABLE} See `GET /v1/markets`.",
        "neso_eac",
        "market",
        _taxonomy("markets", "market_id"),
    ),
    "operator_id": FilterDoc(
        f"Only rows of markets run by these system operators. {_REPEATABLE}",
        "ukpn",
        "operator",
        _taxonomy("operators", "operator_id"),
    ),
    "asset_type": FilterDoc(
        f"Only assets of these types. {_REPEATABLE}", "battery", values=_taxonomy("asset_types", "asset_type")
    ),
    "size_band": FilterDoc(
        f"Only assets in these capacity bands. {_REPEATABLE}",
        "1_5mw",
        values=_taxonomy("size_bands", "size_band", "unknown"),
    ),
    "standard_product": FilterDoc(
        f"Only these harmonised products (`unmapped`: source values the taxonomy does not map yet). {_REPEATABLE}",
        "dynamic_containment_high",
        values=_taxonomy("standard_products", "standard_product", "unmapped"),
    ),
    "dno_area": FilterDoc(
        f"Only these DNO licence areas. {_REPEATABLE}", "EPN", values=_taxonomy("dno_areas", "dno_area")
    ),
    "region": FilterDoc(
        f"Only these regions: `GB` or a DNO licence area. {_REPEATABLE}",
        "GB",
        values=_taxonomy("dno_areas", "dno_area", "GB"),
    ),
    "activity": FilterDoc(
        "Only these activities: `auction_result` (NESO unit results), `dispatch`, `contract` (accepted DNO "
        f"bids). {_REPEATABLE}",
        "auction_result",
        values=("auction_result", "contract", "dispatch"),
    ),
    "row_kind": FilterDoc(
        "`product` (one product) or `stacked_total` (summed over the products an asset held).",
        "stacked_total",
        values=("product", "stacked_total"),
    ),
    "is_out_of_merit": FilterDoc(
        "`true`: only instructions that skipped a cheaper offer; `false`: only the others.",
        "true",
        values=("false", "true"),
    ),
    "position_kind": FilterDoc("`commitment` or `dispatch`.", "dispatch", values=("commitment", "dispatch")),
    "conflict_kind": FilterDoc(
        "`cross_so_overlap` (two SOs) or `forbidden_stacking` (a stacking rule).",
        "cross_so_overlap",
        values=("cross_so_overlap", "forbidden_stacking"),
    ),
    "severity": FilterDoc(
        f"Only conflicts of these severities. {_REPEATABLE}", "high", values=("high", "low", "medium")
    ),
    "verdict": FilterDoc(
        f"Only these verdicts. {_REPEATABLE}",
        "eligible",
        values=("eligible", "needs_information", "not_eligible"),
    ),
    "quality": FilterDoc(
        f"Only readings of these qualities. {_REPEATABLE}",
        "actual",
        values=("actual", "estimated", "missing"),
    ),
    "asset_id": FilterDoc(f"Only these SFE asset ids. {_REPEATABLE}", "ast_6b70d55e1649b11c"),
    "participant_id": FilterDoc(f"Only these participants. {_REPEATABLE}", "kiwi_power_ltd"),
    "bm_unit": FilterDoc(f"Only these BM units. {_REPEATABLE}", "T_MRSHB1-1"),
    "flex_zone": FilterDoc(f"Only these DNO flexibility zones. {_REPEATABLE}", "Takeley"),
    "gsp_group": FilterDoc(f"Only these GSP groups (e.g. `_A`). {_REPEATABLE}", "_A"),
    "year": FilterDoc(f"Only these calendar years. {_REPEATABLE}", "2025"),
    "reason_code": FilterDoc(f"Only instructions with these reason codes. {_REPEATABLE}", "ENERGY_SURPLUS"),
    "settlement_date": FilterDoc(
        f"Only intervals starting on these GB local days (YYYY-MM-DD). {_REPEATABLE}", "2025-04-01"
    ),
    "subject_id": FilterDoc(
        f"Only these registry assets (REG-...) or groups (group-<id>). {_REPEATABLE}", "REG-000001"
    ),
    "role": FilterDoc(f"Only participants with these roles. {_REPEATABLE}", "fsp"),
    "market_kind": FilterDoc(f"Only markets of these kinds. {_REPEATABLE}", "local_flexibility"),
    "status": FilterDoc(
        f"Only bids with these statuses (e.g. accepted, rejected). {_REPEATABLE}", "accepted"
    ),
    "competition_id": FilterDoc(f"Only bids in these competitions. {_REPEATABLE}", "NGED-2026Q2-WMID-04"),
}


@dataclass(frozen=True)
class Choice:
    """A single-valued filter with a fixed set of values and a default (e.g. the period grain)."""

    param: str
    values: tuple[str, ...]
    default: str
    description: str


@dataclass(frozen=True)
class Dataset:
    path: str
    item_schema: str  # OpenAPI schema name of one row
    page_schema: str  # ... and of one page
    tag: str
    summary: str
    description: str
    spec: TableSpec
    columns: tuple[Column, ...]
    access: Literal["public", "own"] = "public"
    choices: tuple[Choice, ...] = field(default=())

    def __post_init__(self) -> None:
        names = tuple(c.name for c in self.columns)
        if names != self.spec.columns:
            raise ValueError(
                f"{self.path}: documented columns {names} differ from the spec's {self.spec.columns}"
            )
        types = {c.name: c.type for c in self.columns}
        for f in self.spec.filters:
            if f.param not in FILTER_DOCS and f.param not in {c.param for c in self.choices}:
                raise ValueError(f"{self.path}: filter {f.param!r} has no documentation")
            if f.via == "self" and types.get(f.column, STR) != STR and not f.as_text:
                raise ValueError(
                    f"{self.path}: filter {f.param!r} is on a {types[f.column]} column: as_text=True"
                )
        owners = self.spec.owners
        if self.access == "own" and not (
            owners.asset_columns
            or owners.organisation_column
            or owners.market_columns
            or owners.operator_columns
        ):
            raise ValueError(f"{self.path}: per-asset data needs columns that say whose rows they are")

    @property
    def name(self) -> str:
        """File name of downloads: the path without /v1/."""
        return self.path.removeprefix("/v1/")

    @property
    def list_filters(self) -> tuple[ListFilter, ...]:
        choices = {c.param for c in self.choices}
        return tuple(f for f in self.spec.filters if f.param not in choices)

    def example_row(self) -> dict[str, Any]:
        return {c.name: c.example for c in self.columns}


_NOT_TEXT = {"year", "is_out_of_merit", "settlement_date"}


def _filters(*names: str, **via: str) -> tuple[ListFilter, ...]:
    """Filters on columns of the table (``year`` and the like, which are not text, compared as text),
    plus ``via``: param -> 'market' (operator of the row's market) or 'asset' (attribute of the
    row's asset)."""
    own = tuple(ListFilter(n, n, as_text=n in _NOT_TEXT) for n in names)
    return own + tuple(ListFilter(param, param, kind) for param, kind in via.items())  # type: ignore[arg-type]


# -- market data --------------------------------------------------------------------------------
MARKET_DATA = "market data"
OWN_DATA = "own data"
TAXONOMY = "taxonomy"
ANALYTICS = "analytics"

AUCTION_RESULT_COLUMNS = (
    C("auction_result_id", STR, "a4924c0a250f504a2837ab1d7eb161d2", "Id of the result."),
    C("market_id", STR, "neso_eac"),
    C("product_id", STR, "neso_eac_dch"),
    C("auction_id", STR, "EAC-20240401", "The auction in the source."),
    C(
        "delivery_start_utc",
        INSTANT,
        "2024-03-31T22:00:00+00:00",
        "Start of delivery (UTC). `from`/`to` apply to this instant.",
    ),
    C("delivery_end_utc", INSTANT, "2024-04-01T02:00:00+00:00", "End of delivery (UTC), exclusive."),
    C("cleared_volume_mw", FLOAT, 160.0, "Cleared volume, MW."),
    C("clearing_price_gbp_per_mw_h", FLOAT, 5.8),
    C("source_id", STR, "neso_eac_results"),
)

DISPATCH_COLUMNS = (
    C("dispatch_id", STR, "593de2eef6aa11825b6e0cae19b730aa", "Id of the dispatch."),
    C("market_id", STR, "ukpn_flex"),
    C("product_id", STR, "ukpn_dynamic"),
    C("participant_id", STR, "kiwi_power_ltd"),
    C("asset_id", STR, "ast_1db536bce1453727", "SFE asset id, null until the asset crosswalk resolves it."),
    C("source_asset_ref", STR, "FU-DYN-3"),
    C(
        "start_utc",
        INSTANT,
        "2024-04-01T15:00:00+00:00",
        "Dispatch start (UTC). `from`/`to` apply to this instant.",
    ),
    C("end_utc", INSTANT, "2024-04-01T16:30:00+00:00", "Dispatch end (UTC), exclusive."),
    C("power_mw", FLOAT, 1.25, "Utilisation power requested, MW."),
    C("energy_mwh", FLOAT, 1.875, "Utilisation energy requested, MWh."),
    C("utilisation_price_gbp_per_mwh", FLOAT, 250.0),
    C("availability_price_gbp_per_mw_h", FLOAT, 5.5),
    C("direction", STR, "up"),
    C("instruction_source", STR, "automatic", "How the instruction was issued (source vocabulary)."),
    C("source_id", STR, "ukpn_flexibility_dispatches"),
)

AUCTION_UNIT_RESULT_COLUMNS = (
    C("auction_unit_result_id", STR, "cbeae8100fdbd7922c7d6a08433ca714", "Id of the unit result."),
    C("market_id", STR, "neso_eac"),
    C("product_id", STR, "neso_eac_nbr"),
    C("auction_id", STR, "434", "The auction in the source."),
    C("unit_name", STR, "E_ALDMG2-1", "The unit as NESO names it."),
    C("participant_id", STR, "aldmoor_renewables_plc"),
    C("asset_id", STR, "ast_6b70d55e1649b11c"),
    C(
        "delivery_start_utc",
        INSTANT,
        "2025-01-01T00:00:00+00:00",
        "Start of delivery (UTC). `from`/`to` apply to this instant.",
    ),
    C("delivery_end_utc", INSTANT, "2025-01-01T00:30:00+00:00", "End of delivery (UTC), exclusive."),
    C("executed_volume_mw", FLOAT, 192.6, "Volume the unit won, MW."),
    C("clearing_price_gbp_per_mw_h", FLOAT, 6.87),
    C("company_name", STR, "Aldmoor Renewables plc", "The company as NESO spells it."),
    C("technology", STR, "Hydro", "Technology in NESO's vocabulary."),
    C("asset_type", STR, "hydro"),
    C("auction_product_code", STR, "NBR", "NESO's product code."),
    C("service_type", STR, "Reserve"),
    C("duration_h", FLOAT, 0.5),
    C("executed_volume_mwh", FLOAT, 96.3, "executed_volume_mw x duration_h, MWh."),
    C("source_id", STR, "neso_eac_unit_results"),
)

BID_COLUMNS = (
    C("bid_id", STR, "NGED-2026Q2-WMID-04-B07", "Id of the bid."),
    C("competition_id", STR, "NGED-2026Q2-WMID-04", "The DNO competition (tender)."),
    C("market_id", STR, "nged_flex"),
    C("product_id", STR, "nged_operational_utilisation"),
    C("participant_id", STR, "voltshare_ev_ltd"),
    C("asset_id", STR, "ast_64b306b37fc6287d"),
    C(
        "window_start_utc",
        INSTANT,
        "2026-04-01T15:00:00+00:00",
        "Start of the service (UTC). `from`/`to` apply to this instant.",
    ),
    C("window_end_utc", INSTANT, "2026-06-30T18:00:00+00:00", "End of the service (UTC), exclusive."),
    C("offered_mw", FLOAT, 0.12, "Capacity offered, MW."),
    C("availability_price_gbp_per_mw_h", FLOAT, 6.95),
    C("utilisation_price_gbp_per_mwh", FLOAT, 116.12),
    C("status", STR, "accepted", "Outcome of the bid."),
    C("participant_name", STR, "Voltshare EV Ltd"),
    C("source_asset_ref", STR, "VOLT-WMID-0034"),
    C("submitted_utc", INSTANT, "2026-01-31T23:47:00+00:00", "When the bid was submitted (UTC)."),
    C("operator_id", STR, "nged"),
    C("licence_area", STR, "WMID", "DNO licence area of the competition."),
    C("flex_zone", STR, "Lichfield"),
    C("direction", STR, "up"),
    C("service_start_date", DATE, "2026-04-01", "First service day (local)."),
    C("service_end_date", DATE, "2026-06-30", "Last service day (local)."),
    C("days_of_week", STR, "Mon-Fri", "Service days of the week."),
    C("window_start_local", TIME, "16:00:00", "Daily service window start, GB local time."),
    C("window_end_local", TIME, "19:00:00", "Daily service window end, GB local time."),
    C("required_mw", FLOAT, 5.3, "Capacity the DNO asked for, MW."),
    C("ceiling_availability_price_gbp_per_mw_h", FLOAT, 26.63, "The competition's price ceiling, £/MW/h."),
    C("ceiling_utilisation_price_gbp_per_mwh", FLOAT, 469.0, "The competition's price ceiling, £/MWh."),
    C("competition_status", STR, "awarded", "State of the competition."),
    C("source_id", STR, "dno_flex_competitions"),
)

SETTLEMENT_COLUMNS = (
    C("settlement_id", STR, "NESO-ST-202501-FENW|L000001", "Statement and line."),
    C("market_id", STR, "neso_eac"),
    C("product_id", STR, "neso_eac_nbr"),
    C("participant_id", STR, "fenwick_battery_partners_llp"),
    C("asset_id", STR, "ast_0928bdba12a9d8ff"),
    C(
        "period_start_utc",
        INSTANT,
        "2025-01-01T00:30:00+00:00",
        "Start of the settled period (UTC). `from`/`to` apply to this instant.",
    ),
    C("period_end_utc", INSTANT, "2025-01-01T01:00:00+00:00", "End of the settled period (UTC), exclusive."),
    C("availability_payment_gbp", FLOAT, 8.07, "Availability payment, £."),
    C("utilisation_payment_gbp", FLOAT, 0.0, "Utilisation payment, £."),
    C("penalty_gbp", FLOAT, 0.0, "Penalty (non-delivery), £."),
    C("total_gbp", FLOAT, 8.07, "Net amount of the line, £."),
    C("statement_id", STR, "NESO-ST-202501-FENW", "The settlement statement."),
    C("line_id", STR, "L000001", "Line of the statement."),
    C("revision", INT, 1, "Statement revision in force."),
    C("statement_date", DATE, "2025-02-12", "Date of the statement."),
    C("operator_id", STR, "neso"),
    C("participant_name", STR, "Fenwick Battery Partners LLP"),
    C("line_type", STR, "availability", "availability, utilisation or penalty."),
    C("contract_ref", STR, "EAC-434-NBR", "Contract the line settles."),
    C("dispatch_ref", STR, "NGED-DI-20250101-000001", "Dispatch instruction the line settles."),
    C("mpan", STR, "1239345068441"),
    C("source_asset_ref", STR, "NBM-FENW-006"),
    C("asset_ref_type", STR, "eac_unit_name", "Kind of source_asset_ref."),
    C("direction", STR, "down"),
    C("availability_mw", FLOAT, 2.3, "Capacity made available, MW."),
    C("availability_h", FLOAT, 0.5, "Hours of availability."),
    C("availability_price_gbp_per_mw_h", FLOAT, 7.02),
    C("instructed_mwh", FLOAT, 0.933, "Energy instructed, MWh."),
    C("delivered_mwh", FLOAT, 0.951, "Energy delivered (metered), MWh."),
    C("utilisation_price_gbp_per_mwh", FLOAT, 138.31),
    C("currency", STR, "GBP", "Currency of the amounts."),
    C("source_id", STR, "so_settlement_statements"),
)

METERING_COLUMNS = (
    C("asset_id", STR, "ast_8d77704d2f7423b2"),
    C(
        "start_utc",
        INSTANT,
        "2025-01-02T00:00:00+00:00",
        "Start of the half hour (UTC). `from`/`to` apply to this instant.",
    ),
    C("end_utc", INSTANT, "2025-01-02T00:30:00+00:00", "End of the half hour (UTC), exclusive."),
    C("import_mwh", FLOAT, 0.005596, "Energy imported, MWh (null where quality = missing)."),
    C("export_mwh", FLOAT, 0.0, "Energy exported, MWh (null where quality = missing)."),
    C("mpan", STR, "1000188585808"),
    C("quality", STR, "actual", "actual, estimated or missing."),
)

SYSTEM_PRICE_COLUMNS = (
    C("settlement_date", DATE, "2025-01-01"),
    C("settlement_period", INT, 1),
    C(
        "start_utc",
        INSTANT,
        "2025-01-01T00:00:00+00:00",
        "Start of the period (UTC). `from`/`to` apply to this instant.",
    ),
    C("end_utc", INSTANT, "2025-01-01T00:30:00+00:00", "End of the period (UTC), exclusive."),
    C("system_sell_price_gbp_per_mwh", FLOAT, 71.92, "System sell price, £/MWh."),
    C("system_buy_price_gbp_per_mwh", FLOAT, 71.92, "System buy price, £/MWh."),
    C("net_imbalance_volume_mwh", FLOAT, -19.23, "Net imbalance volume, MWh."),
    C("price_derivation_code", STR, "N", "Elexon's price derivation code."),
    C("reserve_scarcity_price_gbp_per_mwh", FLOAT, 0.0, "Reserve scarcity price, £/MWh."),
    C("total_accepted_offer_volume_mwh", FLOAT, 1224.79, "Accepted offer volume, MWh."),
    C("total_accepted_bid_volume_mwh", FLOAT, -693.93, "Accepted bid volume, MWh."),
    C("created_utc", INSTANT, "2025-01-02T00:45:05+00:00", "When Elexon created the price (UTC)."),
)

BM_ACCEPTANCE_COLUMNS = (
    C("bm_unit", STR, "E_GRDCO-1", "BM unit (Elexon id)."),
    C("acceptance_number", STR, "12000", "Acceptance number."),
    C("acceptance_time_utc", INSTANT, "2025-01-01T00:40:00+00:00", "When NESO accepted (UTC)."),
    C(
        "time_from_utc",
        INSTANT,
        "2025-01-01T01:04:00+00:00",
        "Start of the segment (UTC). `from`/`to` apply to this instant.",
    ),
    C("time_to_utc", INSTANT, "2025-01-01T01:07:00+00:00", "End of the segment (UTC)."),
    C("level_from_mw", FLOAT, 0.0, "Level at the start, MW."),
    C("level_to_mw", FLOAT, -22.0, "Level at the end, MW."),
    C("so_flag", BOOL, True, "System (not energy) action."),
    C("stor_flag", BOOL, False, "Short-term operating reserve action."),
    C("national_grid_bm_unit", STR, "GRDCO-1", "The BM unit as NESO names it."),
    C("settlement_date", DATE, "2025-01-01"),
    C("settlement_period_from", INT, 3, "Settlement period of time_from_utc."),
    C("settlement_period_to", INT, 3, "Settlement period of time_to_utc."),
    C("deemed_bo_flag", BOOL, False, "Deemed bid-offer flag."),
    C("rr_flag", BOOL, False, "Replacement reserve flag."),
    C("amendment_flag", STR, "ORI", "ORI(ginal) or amended."),
    C("segment_energy_mwh", FLOAT, -0.55, "Energy of the segment (trapezoid of the levels), MWh."),
)

MARKET_COLUMNS = (
    C("market_id", STR, "ukpn_flex"),
    C("market_name", STR, "UK Power Networks local flexibility", "Name of the market."),
    C("operator_id", STR, "ukpn"),
    C("operator_name", STR, "UK Power Networks", "Name of the operator."),
    C(
        "market_kind",
        STR,
        "local_flexibility",
        "ancillary_services, balancing_mechanism, local_flexibility, ...",
    ),
)

MARKET_ASSET_COLUMNS = (
    C("asset_id", STR, "ast_de27405840024587"),
    C("asset_name", STR, "E_ALDMG3-1", "The asset's most widely known market id."),
    C("asset_type", STR, "battery"),
    C("capacity_mw", FLOAT, 12.5, "Capacity, MW (see capacity_basis)."),
    C("capacity_basis", STR, "max_market_mw", "Where capacity_mw comes from."),
    C("size_band", STR, "5_20mw"),
    C("gsp_group", STR, "_H", "Grid supply point group."),
    C("dno_area", STR, "SEPD", "DNO licence area."),
    C("flex_zone", STR, "Kenninghall"),
    C("bm_unit", STR, "T_MRSHB1-1", "BM unit, where the asset has one."),
    C("eac_unit_name", STR, "E_ALDMG3-1", "NESO EAC unit name, where the asset has one."),
    C("ukpn_fu_id", STR, "BRTA-KENN-15A7", "UKPN flexible unit id, where the asset has one."),
    C("is_registered", BOOL, False, "Registered on SFE by its owner (otherwise derived from market data)."),
    C("first_seen_utc", INSTANT, "2025-01-01T03:30:00+00:00", "First market activity (UTC)."),
    C("last_seen_utc", INSTANT, "2026-04-25T18:30:00+00:00", "Latest market activity (UTC)."),
)

PARTICIPANT_COLUMNS = (
    C("participant_id", STR, "brightacre_solar_ltd"),
    C("participant_name", STR, "Brightacre Solar Ltd", "Name (the most used spelling)."),
    C("role", STR, "fsp", "Role in the markets."),
    C("name_variants", INT, 1, "Spellings seen across sources."),
    C("names_seen", STR, "Brightacre Solar Ltd", "Those spellings."),
    C("source_count", INT, 5, "Sources the participant appears in."),
)

SETTLEMENT_PERIOD_COLUMNS = (
    C("settlement_date", DATE, "2025-03-30"),
    C("settlement_period", INT, 3),
    C("start_utc", INSTANT, "2025-03-30T01:00:00+00:00", "Start (UTC). `from`/`to` apply to this instant."),
    C("end_utc", INSTANT, "2025-03-30T01:30:00+00:00", "End (UTC), exclusive."),
    C("periods_in_day", INT, 46, "Periods of the settlement day: 46, 48 or 50."),
    C(
        "start_local",
        LOCAL,
        "2025-03-30T02:00:00",
        "Europe/London wall clock at the start (01:00-01:30 occurs twice in autumn).",
    ),
    C("utc_offset_minutes", INT, 60, "Offset of local time from UTC at the start: 0 (GMT) or 60 (BST)."),
)

MARKET_TRENDS_COLUMNS = (
    C("period_grain", STR, "month", "`day` or `month`."),
    C(
        "period_start",
        DATE,
        "2025-12-01",
        "First UTC day of the period. `from`/`to` apply to its midnight UTC.",
    ),
    C("market_id", STR, "neso_eac"),
    C("product_id", STR, "neso_eac_dch"),
    C("standard_product", STR, "dynamic_containment_high", "Harmonised product."),
    C("asset_type", STR, "battery"),
    C("size_band", STR, "gt_20mw"),
    C("activity", STR, "auction_result", "auction_result, dispatch or contract."),
    C("record_count", INT, 83, "Records aggregated."),
    C("n_units", INT, 18, "Distinct assets."),
    C("n_participants", INT, 12, "Distinct participants paid; null when suppressed."),
    C(
        "suppressed",
        BOOL,
        False,
        "Fewer than 3 participants or units behind the row: its prices are withheld.",
    ),
    C("volume_mw", FLOAT, 5140.6, "Sum of the records' MW."),
    C("avg_volume_mw", FLOAT, 61.93, "Mean MW per record."),
    C("volume_mwh", FLOAT, 20562.4, "Energy / capacity-hours, MWh."),
    C("vwap_availability_price_gbp_per_mw_h", FLOAT, 3.02, "MWh-weighted availability price, £/MW/h."),
    C("avg_availability_price_gbp_per_mw_h", FLOAT, 3.02, "Mean availability price, £/MW/h."),
    C("vwap_utilisation_price_gbp_per_mwh", FLOAT, 173.72, "MWh-weighted utilisation price, £/MWh."),
    C("avg_utilisation_price_gbp_per_mwh", FLOAT, 173.72, "Mean utilisation price, £/MWh."),
    C("prior_year_volume_mwh", FLOAT, 4605.6, "volume_mwh of the same period a year earlier."),
    C("yoy_volume_mwh_change", FLOAT, 3.46, "Year-on-year change of volume_mwh (1.0 = +100 %)."),
    C("yoy_vwap_availability_price_change", FLOAT, 0.55, "Year-on-year change of the availability VWAP."),
    C("yoy_vwap_utilisation_price_change", FLOAT, 0.04, "Year-on-year change of the utilisation VWAP."),
)


ASSET_VALUE_COLUMNS = (
    C("region", STR, "GB", "`GB` (all comparable assets) or the DNO licence area the assets are in."),
    C(
        "row_kind",
        STR,
        "product",
        "`product` (one product) or `stacked_total` (per asset, over the products it held).",
    ),
    C("asset_type", STR, "battery"),
    C("size_band", STR, "1_5mw"),
    C("year", INT, 2025, "Calendar year (UTC)."),
    C("product_id", STR, "neso_eac_dch", "The product (null on stacked_total rows)."),
    C("market_id", STR, "neso_eac"),
    C("standard_product", STR, "dynamic_containment_high", "Harmonised product."),
    C("n_assets", INT, 12, "Real assets behind the figures of the row (at least 3 are published)."),
    C("n_comparable_assets", INT, 15, "Assets of the type, band and region with any revenue that year."),
    C("avg_capacity_mw", FLOAT, 2.4, "Mean capacity of those assets, MW."),
    C("avg_products_held", FLOAT, 2.5, "Stacked rows: mean number of products an asset held in the year."),
    C(
        "availability_gbp_per_mw_p10",
        FLOAT,
        310.2,
        "Availability revenue per MW, 10th percentile across assets, £/MW.",
    ),
    C("availability_gbp_per_mw_p50", FLOAT, 426.7, "... median, £/MW."),
    C("availability_gbp_per_mw_p90", FLOAT, 610.4, "... 90th percentile, £/MW."),
    C("utilisation_gbp_per_mw_p10", FLOAT, 0.0, "Utilisation revenue per MW, 10th percentile, £/MW."),
    C("utilisation_gbp_per_mw_p50", FLOAT, 12.5, "... median, £/MW."),
    C("utilisation_gbp_per_mw_p90", FLOAT, 80.1, "... 90th percentile, £/MW."),
    C("penalty_gbp_per_mw_mean", FLOAT, 1.2, "Mean penalties per MW, £/MW."),
    C(
        "net_gbp_per_mw_p10",
        FLOAT,
        300.4,
        "Availability + utilisation - penalties per MW, 10th percentile, £/MW.",
    ),
    C("net_gbp_per_mw_p50", FLOAT, 436.0, "... median, £/MW."),
    C("net_gbp_per_mw_p90", FLOAT, 690.3, "... 90th percentile, £/MW."),
    C("net_gbp_per_mw_mean", FLOAT, 470.2, "... mean, £/MW."),
    C("settled_share", FLOAT, 0.85, "Share of the asset-months whose revenue comes from settlement lines."),
    C(
        "data_days",
        INT,
        61,
        "Days of the year with market data (a partial year: scale by year_days / data_days).",
    ),
    C("year_days", INT, 365, "Days in the year."),
)

ASSET_PERFORMANCE_COLUMNS = (
    C(
        "month",
        DATE,
        "2025-04-01",
        "First day of the (UTC) calendar month. `from`/`to` apply to its midnight UTC.",
    ),
    C("asset_id", STR, "ast_1df26723c77e0787"),
    C("product_id", STR, "ukpn_scheduled_availability"),
    C("market_id", STR, "ukpn_flex"),
    C("standard_product", STR, "operational_utilisation_scheduled_availability", "Harmonised product."),
    C("asset_name", STR, "NINF", "The asset's most widely known market id."),
    C("owner_participant_id", STR, "voltshare_ev_ltd", "The asset's owner in market data."),
    C("asset_type", STR, "v2g"),
    C("size_band", STR, "100kw_1mw"),
    C("capacity_mw", FLOAT, 0.62, "Capacity (registered, else SFE's estimate), MW."),
    C("dno_area", STR, "SPN", "DNO licence area."),
    C("flex_zone", STR, "Ninfield"),
    C("bids", INT, 1, "DNO competition bids (not withdrawn) whose service period covers the month."),
    C("offered_mw", FLOAT, 1.82, "MW offered in those bids (null where the market publishes no offers)."),
    C("offered_mw_h", FLOAT, 168.9, "Offered MW x service hours in the month."),
    C("won_mw", FLOAT, 0.62, "Largest MW won / committed at one time in the month."),
    C("won_mw_h", FLOAT, 2.58, "Committed MW x hours in the month."),
    C("dispatches", INT, 3, "Dispatches in the month."),
    C("dispatched_mwh", FLOAT, 4.8, "Instructed energy of the month's dispatches, MWh."),
    C("metered_dispatches", INT, 3, "Dispatches whose every half hour has a reading and a baseline."),
    C("metered_dispatched_mwh", FLOAT, 4.8, "Instructed energy of those metered dispatches, MWh."),
    C(
        "metered_delivery_mwh",
        FLOAT,
        4.47,
        "Energy the meter shows delivered in them (metered minus baseline), MWh.",
    ),
    C("delivery_pct", FLOAT, 93.15, "100 x metered_delivery_mwh / metered_dispatched_mwh."),
    C("settled_instructed_mwh", FLOAT, 5.45, "Instructed MWh on the month's settlement lines."),
    C("settled_delivered_mwh", FLOAT, 5.11, "Delivered MWh the SO settled."),
    C("settled_delivery_pct", FLOAT, 93.69, "100 x settled_delivered_mwh / settled_instructed_mwh."),
    C("settlement_lines", INT, 2, "Settlement lines of the month."),
    C("availability_payment_gbp", FLOAT, 28.42, "Availability payments, £."),
    C("utilisation_payment_gbp", FLOAT, 0.0, "Utilisation payments, £."),
    C("penalty_gbp", FLOAT, 0.0, "Penalties deducted, £."),
    C("total_gbp", FLOAT, 28.42, "Settled total (availability + utilisation - penalty), £."),
)

DER_POSITION_COLUMNS = (
    C(
        "position_id",
        STR,
        "cbeae8100fdbd7922c7d6a08433ca714",
        "Id of the record behind the row, unique within position_type.",
    ),
    C("position_kind", STR, "commitment", "`commitment` or `dispatch`."),
    C(
        "position_type",
        STR,
        "eac_commitment",
        "What the row is (EAC win, DNO contract, UKPN availability, instruction, BM acceptance, ...).",
    ),
    C("asset_id", STR, "ast_6b70d55e1649b11c"),
    C("asset_name", STR, "E_ALDMG2-1", "The asset's most widely known market id."),
    C("asset_type", STR, "battery"),
    C("size_band", STR, "5_20mw"),
    C("participant_id", STR, "aldmoor_renewables_plc", "The FSP holding the commitment or dispatched."),
    C("market_id", STR, "neso_eac"),
    C("product_id", STR, "neso_eac_dch"),
    C("standard_product", STR, "dynamic_containment_high", "Harmonised product."),
    C("operator_id", STR, "neso", "The system operator the commitment is for or that dispatched."),
    C("start_utc", INSTANT, "2025-04-01T22:00:00+00:00", "Start (UTC). `from`/`to` apply to this instant."),
    C("end_utc", INSTANT, "2025-04-02T02:00:00+00:00", "End (UTC), exclusive."),
    C("duration_h", FLOAT, 4.0),
    C("settlement_date", DATE, "2025-04-02", "GB local day the interval starts in."),
    C("mw", FLOAT, 10.0, "MW committed or dispatched."),
    C("direction", STR, "up", "`up`, `down` (or `both` for BM acceptances)."),
    C("flex_zone", STR, "Takeley"),
    C("dno_area", STR, "EPN", "DNO licence area of the asset."),
    C("gsp_group", STR, "_A", "GSP group of the asset."),
    C("availability_price_gbp_per_mw_h", FLOAT, 3.02),
    C("utilisation_price_gbp_per_mwh", FLOAT, None),
    C("source_ref", STR, "EAC-434-DCH", "Contract reference or dispatch id."),
    C("source_id", STR, "neso_eac_unit_results"),
)

DISPATCH_RATIONALE_COLUMNS = (
    C("dispatch_id", STR, "NESO-20250423-0000129", "The instruction id (as in /v1/dispatches)."),
    C("operator_id", STR, "neso", "The SO that sent the instruction."),
    C("market_id", STR, "neso_eac"),
    C("product_id", STR, "neso_eac_nqr"),
    C("participant_id", STR, "gridwise_aggregation_ltd"),
    C("asset_id", STR, "ast_13486ea713e8f1f3"),
    C("source_asset_ref", STR, "NBM-GRDW-004", "The unit dispatched, as the SO names it."),
    C("contract_ref", STR, "EAC-483-NQR", "The contract called."),
    C("competition_id", STR, "NGED-2025Q1-SWEB-03", "DNO competition of the contract."),
    C("direction", STR, "down"),
    C("start_utc", INSTANT, "2025-04-23T11:00:00+00:00", "Start (UTC). `from`/`to` apply to this instant."),
    C("end_utc", INSTANT, "2025-04-23T11:30:00+00:00", "End (UTC), exclusive."),
    C("issued_at_utc", INSTANT, "2025-04-23T10:58:00+00:00", "When the SO issued the instruction (UTC)."),
    C("dispatched_mw", FLOAT, 8.4, "Set point instructed, MW."),
    C("dispatched_mwh", FLOAT, 4.2, "Set point x the instruction's hours, MWh."),
    C("utilisation_price_gbp_per_mwh", FLOAT, 173.03, "Price of the dispatched offer, £/MWh."),
    C(
        "offer_book",
        STR,
        "eac_holdings",
        "Where the available offers come from: competition_contracts or eac_holdings.",
    ),
    C(
        "available_offers",
        INT,
        5,
        "Offers available for the product and window (including the dispatched one).",
    ),
    C("available_offers_mw", FLOAT, 167.8, "Their MW."),
    C("priced_offers", INT, 1, "Available offers with a known utilisation price (the ranked ones)."),
    C(
        "dispatched_offer_in_book",
        BOOL,
        True,
        "False when the dispatched unit holds no contract for the window in SFE's data.",
    ),
    C("cheapest_available_price_gbp_per_mwh", FLOAT, 173.03, "Cheapest available offer, £/MWh."),
    C("merit_order_rank", INT, 1, "1 + the priced offers strictly cheaper than the dispatched price."),
    C("cheaper_offers_available", INT, 0, "Cheaper offers available."),
    C("cheaper_offers_dispatched", INT, 0, "Cheaper offers the SO also dispatched in an overlapping window."),
    C("cheaper_offers_skipped", INT, 0, "Cheaper offers available but not dispatched."),
    C("cheaper_offers_skipped_mw", FLOAT, 0.0, "Their MW."),
    C("is_out_of_merit", BOOL, False, "At least one cheaper offer was skipped."),
    C("cheapest_skipped_price_gbp_per_mwh", FLOAT, 150.2, "Cheapest skipped offer, £/MWh."),
    C(
        "out_of_merit_premium_gbp_per_mwh",
        FLOAT,
        22.8,
        "Dispatched price minus the cheapest skipped price, £/MWh.",
    ),
    C("reason_code", STR, "ENERGY_SURPLUS", "The SO's reason code."),
    C(
        "rationale",
        STR,
        "System long by about 429 MW; NQR holding utilised.",
        "The SO's disclosed rationale.",
    ),
    C("so_reported_merit_order_rank", INT, 1, "The rank the SO reported (its own definition)."),
    C("so_reported_cheaper_offers_skipped", INT, 0, "The skips the SO reported."),
    C(
        "skips_match_so_report",
        BOOL,
        True,
        "The SO's reported skips equal SFE's count (null when it reported none).",
    ),
)

MARKET_CONFLICT_COLUMNS = (
    C("conflict_id", STR, "CF-D0C6D65571EB8574", "Stable id of the conflict."),
    C(
        "conflict_kind",
        STR,
        "cross_so_overlap",
        "`cross_so_overlap` (two SOs) or `forbidden_stacking` (a stacking rule).",
    ),
    C("severity", STR, "high", "high, medium or low."),
    C("severity_rank", INT, 3, "3 = high, 2 = medium, 1 = low."),
    C("conflict_scope", STR, "asset", "What the two activities share."),
    C("asset_id", STR, "ast_1517257cf72aa20e"),
    C("operator_id_a", STR, "neso", "The SO of side a."),
    C("market_id_a", STR, "neso_eac", "Market of side a."),
    C("product_id_a", STR, "neso_eac_pbr", "Product of side a."),
    C(
        "activity_type_a",
        STR,
        "neso_instruction",
        "eac_commitment, neso_instruction, dno_instruction, ukpn_dispatch, ...",
    ),
    C("activity_class_a", STR, "dispatch", "`commitment` or `dispatch`."),
    C("source_ref_a", STR, "NESO-20250316-0000034", "Contract or instruction of side a."),
    C("source_asset_ref_a", STR, "NBM-MILL-001", "The unit as side a's source names it."),
    C("participant_id_a", STR, "millrace_flexibility_services_ltd", "The FSP of side a."),
    C("start_a_utc", INSTANT, "2025-03-16T16:30:00+00:00", "Start of side a (UTC)."),
    C("end_a_utc", INSTANT, "2025-03-16T17:00:00+00:00", "End of side a (UTC), exclusive."),
    C("power_mw_a", FLOAT, 1.1, "MW of side a."),
    C("source_id_a", STR, "so_dispatch_instructions"),
    C("operator_id_b", STR, "npg", "The SO of side b."),
    C("market_id_b", STR, "npg_flex", "Market of side b."),
    C("product_id_b", STR, "npg_peak_reduction", "Product of side b."),
    C("activity_type_b", STR, "dno_instruction", "As activity_type_a."),
    C("activity_class_b", STR, "dispatch", "`commitment` or `dispatch`."),
    C("source_ref_b", STR, "NPG-DI-20250316-000011", "Contract or instruction of side b."),
    C("source_asset_ref_b", STR, "MILL-YEDL-0001", "The unit as side b's source names it."),
    C("participant_id_b", STR, "millrace_flexibility_services_ltd", "The FSP of side b."),
    C("start_b_utc", INSTANT, "2025-03-16T16:30:00+00:00", "Start of side b (UTC)."),
    C("end_b_utc", INSTANT, "2025-03-16T19:00:00+00:00", "End of side b (UTC), exclusive."),
    C("power_mw_b", FLOAT, 1.816, "MW of side b."),
    C("source_id_b", STR, "so_dispatch_instructions"),
    C(
        "overlap_start_utc",
        INSTANT,
        "2025-03-16T16:30:00+00:00",
        "Start of the overlap (UTC). `from`/`to` apply to this instant.",
    ),
    C(
        "overlap_end_utc",
        INSTANT,
        "2025-03-16T17:00:00+00:00",
        "End of the overlap (UTC), exclusive. For activities apart but within an exclusivity rule's "
        "margin, overlap_start_utc..overlap_end_utc is the gap between them.",
    ),
    C("overlap_minutes", INT, 30, "Length of the overlap, minutes (0 for activities within a margin)."),
    C(
        "gap_minutes",
        INT,
        0,
        "Minutes between the two activities when an exclusivity rule's margin forbids them that close "
        "without overlapping; 0 when they overlap.",
    ),
    C(
        "explanation",
        STR,
        "NESO instruction NESO-20250316-0000034 and NPG instruction NPG-DI-20250316-000011 overlap on the asset for 30 min",
        "The conflict in words.",
    ),
    C("detected_rule_id", STR, None, "The strongest stacking rule the pair breaks (null when none applies)."),
    C("detected_rule_name", STR, None, "Its name."),
    C("detected_rule_mode", STR, None, "`notify` or `block`."),
    C("detected_rule_explanation", STR, None, "What the rule says."),
    C("detected_rule_source", STR, None, "Where the rule comes from."),
    C("registry_asset_id", STR, "REG-000004", "The asset's registry id when it is registered."),
    C(
        "registry_group_ids",
        STR,
        "12,15",
        "Registry groups the asset is in now, comma-separated (their owners are parties too).",
    ),
    C(
        "registry_group_names",
        STR,
        "South fleet | EV hubs",
        "Their names, ' | '-separated, in the same order.",
    ),
)

RESALE_COLUMNS = (
    C("resale_id", STR, "RS-2025-0007", "Id of the resale."),
    C("market_id", STR, "secondary", "Always `secondary` (the SFE secondary market)."),
    C("product_id", STR, "nged_peak_reduction", "The product of the obligation resold."),
    C("obligation_market_id", STR, "nged_flex", "The market of the obligation resold."),
    C("operator_id", STR, "nged", "The DNO that awarded the contract."),
    C("competition_id", STR, "NGED-2025Q1-SWEB-03", "The DNO competition."),
    C("original_bid_id", STR, "NGED-2025Q1-SWEB-03-B02", "The won bid (contract) resold (`/v1/bids`)."),
    C("seller_participant_id", STR, "voltshare_ev_ltd", "The seller."),
    C("seller_participant_name", STR, "Voltshare EV Ltd", "The seller as the workbook spells it."),
    C("seller_asset_id", STR, "ast_64b306b37fc6287d", "The seller's asset."),
    C("seller_source_asset_ref", STR, "VOLT-SWEB-0012", "The seller's unit as the workbook names it."),
    C("buyer_participant_id", STR, "gridwise_aggregation_ltd", "The buyer."),
    C("buyer_participant_name", STR, "Gridwise Aggregation Ltd", "The buyer as the workbook spells it."),
    C("buyer_asset_id", STR, "ast_13486ea713e8f1f3", "The buyer's asset, which takes over the obligation."),
    C("buyer_source_asset_ref", STR, "GRDW-SWEB-0003", "The buyer's unit as the workbook names it."),
    C("resold_mw", FLOAT, 0.5, "MW resold."),
    C(
        "start_utc",
        INSTANT,
        "2025-04-01T00:00:00+00:00",
        "The buyer holds the obligation from this instant (UTC). `from`/`to` apply to it.",
    ),
    C("end_utc", INSTANT, "2025-05-01T00:00:00+00:00", "Until this instant (UTC), exclusive."),
    C("duration_h", FLOAT, 720.0, "Hours resold."),
    C("price_gbp_per_mw_h", FLOAT, 4.5, "Price the buyer pays the seller, £/MW/h."),
    C("agreed_utc", INSTANT, "2025-03-20T10:00:00+00:00", "When the resale was agreed (UTC)."),
    C("original_bid_status", STR, "accepted", "Status of the resold bid."),
    C("original_offered_mw", FLOAT, 1.0, "MW of the resold contract."),
    C("resale_issue", STR, None, "Why the resale cannot change the holder; null when it is consistent."),
    C("source_id", STR, "dno_flex_competitions"),
)

ELIGIBILITY_COLUMNS = (
    C("subject_kind", STR, "asset", "`asset` or `group`."),
    C("subject_id", STR, "REG-000001", "Registry asset id, or `group-<id>` for an asset group."),
    C("organisation_id", INT, 12, "The registry organisation that owns the asset or group."),
    C("dno_area", STR, "EPN", "The asset's DNO licence area."),
    C("member_count", INT, 1, "1 for an asset; current members for a group."),
    C("capacity_mw", FLOAT, 2.0, "Capacity (a group's total), MW."),
    C("product_id", STR, "ukpn_secure"),
    C("product_name", STR, "Secure", "Name of the product."),
    C("market_id", STR, "ukpn_flex"),
    C("operator_id", STR, "ukpn", "The operator running the product's market."),
    C("product_source", STR, "taxonomy", "`taxonomy` or `registry` (an SO-registered product)."),
    C("verdict", STR, "eligible", "eligible, not_eligible or needs_information."),
    C(
        "reasons",
        STR,
        "min_size: 2.0 MW >= 1.0 MW",
        "The deciding explanations, one per line, each naming its rule.",
    ),
    C("warnings", STR, None, "Notify-mode rules that did not pass, one per line."),
    C("missing_fields", STR, None, "For needs_information, the asset fields to add."),
    C("rules_checked", INT, 4, "Rules and requirements that applied."),
    C("product_has_data", BOOL, True, "The product has auction results or dispatches in this warehouse."),
    C("evaluated_at", INSTANT, "2025-05-01T06:00:00+00:00", "When the subjects were judged (UTC)."),
)


def _names(columns: tuple[Column, ...]) -> tuple[str, ...]:
    return tuple(c.name for c in columns)


DATASETS: tuple[Dataset, ...] = (
    Dataset(
        path="/v1/auction-results",
        item_schema="AuctionResult",
        page_schema="AuctionResultsPage",
        tag=MARKET_DATA,
        summary="Auction results (cleared volumes and prices)",
        description="Cleared auction results (e.g. NESO response and reserve auctions, per EFA block or "
        "30-minute window) with `delivery_start_utc` in `[from, to)`, ordered by delivery start, product "
        "and id.",
        spec=queries.AUCTION_RESULTS,
        columns=AUCTION_RESULT_COLUMNS,
    ),
    Dataset(
        path="/v1/auction-unit-results",
        item_schema="AuctionUnitResult",
        page_schema="AuctionUnitResultsPage",
        tag=MARKET_DATA,
        summary="Auction results per unit (who won what)",
        description="NESO auction results per unit as NESO publishes them: executed volume and clearing "
        "price per unit and window, with the unit's SFE asset, ordered by delivery start and id.",
        spec=TableSpec(
            table="fct_auction_unit_result",
            columns=_names(AUCTION_UNIT_RESULT_COLUMNS),
            order_by=("delivery_start_utc", "auction_unit_result_id"),
            time_column="delivery_start_utc",
            filters=_filters(
                "product_id",
                "market_id",
                "asset_type",
                "asset_id",
                "participant_id",
                operator_id="market",
                size_band="asset",
            ),
            asset_column="asset_id",
            market_column="market_id",
        ),
        columns=AUCTION_UNIT_RESULT_COLUMNS,
    ),
    Dataset(
        path="/v1/dispatches",
        item_schema="Dispatch",
        page_schema="DispatchesPage",
        tag=MARKET_DATA,
        summary="Dispatches (utilisation instructions)",
        description="Dispatches (DNO flexibility dispatches and SO instructions) with `start_utc` in "
        "`[from, to)`, ordered by start and id.",
        spec=queries.DISPATCHES,
        columns=DISPATCH_COLUMNS,
    ),
    Dataset(
        path="/v1/system-prices",
        item_schema="SystemPrice",
        page_schema="SystemPricesPage",
        tag=MARKET_DATA,
        summary="Imbalance (system) prices per settlement period",
        description="Elexon system sell/buy prices and net imbalance volume per settlement period, with "
        "`start_utc` in `[from, to)`.",
        spec=TableSpec(
            table="fct_system_price",
            columns=_names(SYSTEM_PRICE_COLUMNS),
            order_by=("start_utc",),
            time_column="start_utc",
        ),
        columns=SYSTEM_PRICE_COLUMNS,
    ),
    Dataset(
        path="/v1/bm-acceptances",
        item_schema="BmAcceptance",
        page_schema="BmAcceptancesPage",
        tag=MARKET_DATA,
        summary="Balancing Mechanism acceptances (BOALF)",
        description="Bid-offer acceptance segments per BM unit with `time_from_utc` in `[from, to)`, "
        "ordered by start, unit and acceptance.",
        spec=TableSpec(
            table="fct_bm_acceptance",
            columns=_names(BM_ACCEPTANCE_COLUMNS),
            order_by=("time_from_utc", "bm_unit", "acceptance_number", "time_to_utc"),
            time_column="time_from_utc",
            filters=_filters("bm_unit"),
        ),
        columns=BM_ACCEPTANCE_COLUMNS,
    ),
    # -- per-asset data: an FSP sees its own assets, an SO its markets and area, admins everything
    Dataset(
        path="/v1/bids",
        item_schema="Bid",
        page_schema="BidsPage",
        tag=OWN_DATA,
        summary="Bids in DNO flexibility competitions (own assets)",
        description="Bids with `window_start_utc` in `[from, to)`: an FSP sees the bids of its own "
        "assets, a system operator those in its markets or area, an admin all.",
        spec=TableSpec(
            table="fct_bid",
            columns=_names(BID_COLUMNS),
            order_by=("window_start_utc", "bid_id"),
            time_column="window_start_utc",
            filters=_filters(
                "product_id",
                "market_id",
                "operator_id",
                "asset_id",
                "participant_id",
                "competition_id",
                "status",
                asset_type="asset",
                size_band="asset",
            ),
            asset_column="asset_id",
            market_column="market_id",
        ),
        columns=BID_COLUMNS,
        access="own",
    ),
    Dataset(
        path="/v1/settlements",
        item_schema="Settlement",
        page_schema="SettlementsPage",
        tag=OWN_DATA,
        summary="Settlement lines in force (own assets)",
        description="Settlement statement lines in force (latest revision) with `period_start_utc` in "
        "`[from, to)`: availability, utilisation and penalty amounts per asset and period.",
        spec=TableSpec(
            table="fct_settlement",
            columns=_names(SETTLEMENT_COLUMNS),
            order_by=("period_start_utc", "settlement_id"),
            time_column="period_start_utc",
            filters=_filters(
                "product_id",
                "market_id",
                "operator_id",
                "asset_id",
                "participant_id",
                asset_type="asset",
                size_band="asset",
            ),
            asset_column="asset_id",
            market_column="market_id",
        ),
        columns=SETTLEMENT_COLUMNS,
        access="own",
    ),
    Dataset(
        path="/v1/metering",
        item_schema="MeterReading",
        page_schema="MeterReadingsPage",
        tag=OWN_DATA,
        summary="Half-hourly metered energy (own assets)",
        description="Half-hourly import/export per asset and MPAN with `start_utc` in `[from, to)`, ordered "
        "by start and MPAN. Large: page through it with `limit`/`offset` (or the `Link` header) "
        "and narrow it with `asset_id` and a time range.",
        spec=TableSpec(
            table="fct_metering",
            columns=_names(METERING_COLUMNS),
            order_by=("start_utc", "mpan"),
            time_column="start_utc",
            filters=_filters("asset_id", "quality", asset_type="asset", size_band="asset"),
            asset_column="asset_id",
        ),
        columns=METERING_COLUMNS,
        access="own",
    ),
    # -- taxonomy
    Dataset(
        path="/v1/markets",
        item_schema="Market",
        page_schema="MarketsPage",
        tag=TAXONOMY,
        summary="Markets and their operators",
        description="Every market in the taxonomy with its system operator and kind.",
        spec=TableSpec(
            table="dim_market",
            columns=_names(MARKET_COLUMNS),
            order_by=("market_id",),
            filters=_filters("operator_id", "market_kind"),
        ),
        columns=MARKET_COLUMNS,
    ),
    Dataset(
        path="/v1/market-assets",
        item_schema="MarketAsset",
        page_schema="MarketAssetsPage",
        tag=TAXONOMY,
        summary="Assets seen in market data (public fields)",
        description="One row per physical asset across markets (the asset crosswalk): type, capacity, "
        "size band, area and market ids. What locates a site (MPAN, coordinates, connection point) and "
        "who owns it are not public.",
        spec=TableSpec(
            table="dim_asset",
            columns=_names(MARKET_ASSET_COLUMNS),
            order_by=("asset_id",),
            filters=_filters("asset_id", "asset_type", "size_band", "dno_area", "gsp_group", "flex_zone"),
            asset_column="asset_id",
        ),
        columns=MARKET_ASSET_COLUMNS,
    ),
    Dataset(
        path="/v1/participants",
        item_schema="Participant",
        page_schema="ParticipantsPage",
        tag=TAXONOMY,
        summary="Market participants",
        description="Companies seen in the markets, one row per participant however the sources spell it.",
        spec=TableSpec(
            table="dim_participant",
            columns=_names(PARTICIPANT_COLUMNS),
            order_by=("participant_id",),
            filters=_filters("participant_id", "role"),
        ),
        columns=PARTICIPANT_COLUMNS,
    ),
    Dataset(
        path="/v1/settlement-periods",
        item_schema="SettlementPeriod",
        page_schema="SettlementPeriodsPage",
        tag=TAXONOMY,
        summary="GB settlement periods (the half-hour calendar)",
        description="Settlement day and period of every UTC half hour, with 46/50 periods on clock-change "
        "days, for `start_utc` in `[from, to)`.",
        spec=TableSpec(
            table="dim_settlement_period",
            columns=_names(SETTLEMENT_PERIOD_COLUMNS),
            order_by=("start_utc",),
            time_column="start_utc",
        ),
        columns=SETTLEMENT_PERIOD_COLUMNS,
    ),
    # -- analytics marts
    Dataset(
        path="/v1/market-trends",
        item_schema="MarketTrend",
        page_schema="MarketTrendsPage",
        tag=ANALYTICS,
        summary="Prices and volumes per period, product, asset type and size band (UC6)",
        description="Volumes and volume-weighted prices per day or month (`period_grain`) x market x product "
        "x asset type x size band x activity, with year-on-year changes. Aggregates only: the prices of a "
        "row resting on fewer than 3 participants or units are withheld (`suppressed`).",
        spec=TableSpec(
            table="mart_market_trends",
            columns=_names(MARKET_TRENDS_COLUMNS),
            order_by=("period_start", "market_id", "product_id", "activity", "asset_type", "size_band"),
            time_column="period_start",
            time_kind="date",
            filters=_filters(
                "period_grain",
                "market_id",
                "product_id",
                "standard_product",
                "asset_type",
                "size_band",
                "activity",
                operator_id="market",
            ),
            market_column="market_id",
        ),
        columns=MARKET_TRENDS_COLUMNS,
        choices=(
            Choice(
                "period_grain",
                ("day", "month"),
                "month",
                "Period of aggregation: `day` or `month` (UTC days of the window start).",
            ),
        ),
    ),
    Dataset(
        path="/v1/asset-value",
        item_schema="AssetValue",
        page_schema="AssetValuesPage",
        tag=ANALYTICS,
        summary="What real assets earned per MW per year, by type, size band and product (UC8)",
        description="Revenue per MW per calendar year of real assets: per product and stacked over the "
        "products an asset held, as 10th/50th/90th percentiles and mean across comparable assets of one "
        "type and size band, for Great Britain (`region=GB`) and each DNO area. A figure resting on fewer "
        "than 3 assets is not published (it would reveal one asset's earnings). Partial years: compare "
        "`data_days` with `year_days`.",
        spec=TableSpec(
            table="mart_asset_value",
            columns=_names(ASSET_VALUE_COLUMNS),
            order_by=("region", "year", "asset_type", "size_band", "row_kind", "product_id"),
            filters=_filters(
                "region", "row_kind", "year", "asset_type", "size_band", "product_id", "market_id"
            ),
            market_column="market_id",
            min_count=("n_assets", 3),
        ),
        columns=ASSET_VALUE_COLUMNS,
    ),
    Dataset(
        path="/v1/dispatch-rationale",
        item_schema="DispatchRationale",
        page_schema="DispatchRationalePage",
        tag=ANALYTICS,
        summary="Why SOs dispatched what they did: merit order, skipped cheaper offers, reasons (UC22)",
        description="One row per SO dispatch instruction with the dispatched price, its rank among the "
        "offers available for the product and window, the cheaper offers skipped and the reason the SO "
        "disclosed. The skip rate of an SO and product is the share of rows with `is_out_of_merit`. "
        "Other providers' individual offers are not listed.",
        spec=TableSpec(
            table="mart_dispatch_rationale",
            columns=_names(DISPATCH_RATIONALE_COLUMNS),
            order_by=("start_utc", "dispatch_id"),
            time_column="start_utc",
            filters=_filters(
                "operator_id",
                "market_id",
                "product_id",
                "asset_id",
                "participant_id",
                "reason_code",
                "is_out_of_merit",
            ),
            asset_column="asset_id",
            market_column="market_id",
        ),
        columns=DISPATCH_RATIONALE_COLUMNS,
    ),
    Dataset(
        path="/v1/asset-performance",
        item_schema="AssetPerformance",
        page_schema="AssetPerformancePage",
        tag=OWN_DATA,
        summary="Offered, won, dispatched, delivered and settled per asset, product and month (UC10)",
        description="Trade, dispatch, metered delivery and settlement per asset x product x month "
        "(`month` in `[from, to)`): bids and MW offered, MW won, dispatched and metered energy with "
        "delivery %, and payments and penalties. Scoped to the caller's assets.",
        spec=TableSpec(
            table="mart_asset_performance",
            columns=_names(ASSET_PERFORMANCE_COLUMNS),
            order_by=("month", "asset_id", "product_id"),
            time_column="month",
            time_kind="date",
            filters=_filters(
                "product_id",
                "market_id",
                "asset_id",
                "asset_type",
                "size_band",
                "dno_area",
                operator_id="market",
            ),
            asset_column="asset_id",
            market_column="market_id",
        ),
        columns=ASSET_PERFORMANCE_COLUMNS,
        access="own",
    ),
    Dataset(
        path="/v1/der-positions",
        item_schema="DerPosition",
        page_schema="DerPositionsPage",
        tag=OWN_DATA,
        summary="Commitments and dispatches of each asset across markets, as a timeline (UC18)",
        description="One row per asset and commitment or dispatch interval with `start_utc` in "
        "`[from, to)`: EAC wins, DNO contracts (after resales), UKPN availability, SO instructions, UKPN "
        "utilisation and BM acceptances. A provider sees its assets; a system operator the assets in its "
        "area and its own markets' positions.",
        spec=TableSpec(
            table="mart_der_positions",
            columns=_names(DER_POSITION_COLUMNS),
            order_by=("start_utc", "asset_id", "position_type", "position_id"),
            time_column="start_utc",
            filters=_filters(
                "asset_id",
                "participant_id",
                "market_id",
                "product_id",
                "operator_id",
                "asset_type",
                "size_band",
                "dno_area",
                "flex_zone",
                "position_kind",
                "settlement_date",
            ),
            asset_column="asset_id",
            market_column="market_id",
        ),
        columns=DER_POSITION_COLUMNS,
        access="own",
    ),
    Dataset(
        path="/v1/market-conflicts",
        item_schema="MarketConflict",
        page_schema="MarketConflictsPage",
        tag=OWN_DATA,
        summary="Assets committed or dispatched by two SOs at overlapping times (UC11)",
        description="One row per pair of overlapping activities on one asset (two SOs, or a stacking "
        "rule the pair breaks) with `overlap_start_utc` in `[from, to)`, its severity and an explanation. "
        "A provider sees conflicts on its assets; a system operator those involving its markets or area.",
        spec=TableSpec(
            table="mart_market_conflicts",
            columns=_names(MARKET_CONFLICT_COLUMNS),
            order_by=("overlap_start_utc", "conflict_id"),
            time_column="overlap_start_utc",
            filters=_filters("asset_id", "conflict_kind", "severity"),
            asset_column="asset_id",
            ownership=Ownership(
                asset_columns=("asset_id",),
                market_columns=("market_id_a", "market_id_b"),
                operator_columns=("operator_id_a", "operator_id_b"),
            ),
        ),
        columns=MARKET_CONFLICT_COLUMNS,
        access="own",
    ),
    Dataset(
        path="/v1/resales",
        item_schema="Resale",
        page_schema="ResalesPage",
        tag=OWN_DATA,
        summary="Secondary market: won DNO contracts resold between providers (UC27)",
        description="One row per resale with `start_utc` in `[from, to)`: who sold which contract to whom, "
        "for which MW and period, at what price, and whether it could change the holder. A provider sees "
        "resales it bought or sold; a system operator those of its contracts.",
        spec=TableSpec(
            table="fct_resale",
            columns=_names(RESALE_COLUMNS),
            order_by=("start_utc", "resale_id"),
            time_column="start_utc",
            filters=_filters("product_id", "operator_id", "competition_id"),
            ownership=Ownership(
                asset_columns=("seller_asset_id", "buyer_asset_id"),
                market_columns=("obligation_market_id",),
                operator_columns=("operator_id",),
            ),
        ),
        columns=RESALE_COLUMNS,
        access="own",
    ),
    Dataset(
        path="/v1/eligibility",
        item_schema="Eligibility",
        page_schema="EligibilityPage",
        tag=OWN_DATA,
        summary="Which products registered assets could prequalify for, and why (UC9)",
        description="One row per registered asset (or group) and live product with the rules engine's "
        "verdict and the reasons, each naming its rule. A provider sees its organisation's assets; a "
        "system operator its products and the assets in its area.",
        spec=TableSpec(
            table="mart_eligibility",
            columns=_names(ELIGIBILITY_COLUMNS),
            order_by=("subject_id", "product_id"),
            filters=_filters("subject_id", "product_id", "market_id", "operator_id", "verdict"),
            ownership=Ownership(
                organisation_column="organisation_id",
                operator_columns=("operator_id",),
                area_column="dno_area",
            ),
        ),
        columns=ELIGIBILITY_COLUMNS,
        access="own",
    ),
)

BY_PATH = {d.path: d for d in DATASETS}
if len(BY_PATH) != len(DATASETS):
    raise ValueError("two datasets share a path")


def by_tag(*tags: str) -> tuple[Dataset, ...]:
    return tuple(d for d in DATASETS if d.tag in tags)
