"""DNO flexibility competitions, bids and resales (our XLSX format) and the dispatch instructions the
non-UKPN DNOs send for the contracts they awarded."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from sfe import taxonomy
from sfe.generate.context import Ctx
from sfe.generate.fleet import ZONES, company_name
from sfe.generate.writers import deterministic_xlsx

SOURCE_ID = "dno_flex_competitions"
DNO_OPERATORS = ("nged", "ssen", "enwl", "npg", "spen")
DNO_LABEL = {"nged": "NGED", "ssen": "SSEN", "enwl": "ENWL", "npg": "NPg", "spen": "SPEN"}
WINDOWS_EVENING = ((16, 0, 19, 0), (16, 30, 19, 30), (17, 0, 20, 0), (16, 0, 20, 0))
WINDOWS_MORNING = ((7, 0, 10, 0), (7, 30, 9, 30))
CALL_P = {"peak_reduction": 0.7, "scheduled_utilisation": 0.35, "operational_utilisation": 0.15,
          "operational_utilisation_scheduled_availability": 0.15}  # fmt: skip
REASONS = {
    "peak_reduction": ("PEAK_REDUCTION_WINDOW", "Pre-agreed peak reduction window; forecast peak {load}% of firm capacity at {zone}."),
    "scheduled_utilisation": ("FORECAST_THERMAL_CONSTRAINT", "Day-ahead load forecast {load}% of firm capacity at {zone} primary."),
    "operational_utilisation": ("REAL_TIME_THERMAL_CONSTRAINT", "Real-time loading {load}% at {zone} after an unplanned outage."),
    "operational_utilisation_scheduled_availability": (
        "PLANNED_OUTAGE", "Planned outage on a {zone} circuit; post-fault loading {load}% of rating."),
}  # fmt: skip

COMP_COLUMNS = [
    "competition_id", "dno", "licence_area", "zone", "product", "direction", "service_start_date",
    "service_end_date", "days_of_week", "window_start_local", "window_end_local", "required_mw",
    "ceiling_availability_price_gbp_per_mw_h", "ceiling_utilisation_price_gbp_per_mwh",
    "opens_local", "closes_local", "status",
]  # fmt: skip
BID_COLUMNS = [
    "bid_id", "competition_id", "company_name", "asset_ref", "offered_mw",
    "availability_price_gbp_per_mw_h", "utilisation_price_gbp_per_mwh", "submitted_local", "status",
]  # fmt: skip
RESALE_COLUMNS = [
    "resale_id", "original_bid_id", "competition_id", "seller_company", "seller_asset_ref", "buyer_company",
    "buyer_asset_ref", "resold_mw", "start_local", "end_local", "price_gbp_per_mw_h", "agreed_local",
]  # fmt: skip


@dataclass
class CompetitionResult:
    competitions: list[dict]
    bids: list[dict]
    resales: list[dict]
    instructions: pl.DataFrame  # every version of every DNO instruction (see instructions.py)
    availability: pl.DataFrame  # availability windows of accepted OU+SA bids, per service day


def _quarters(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    q0 = dt.date(start.year, 3 * ((start.month - 1) // 3) + 1, 1)
    out = []
    while q0 <= end:
        nxt = dt.date(q0.year + (q0.month == 10), (q0.month + 2) % 12 + 1, 1)
        out.append((q0, nxt))
        q0 = nxt
    return out


def generate(ctx: Ctx) -> CompetitionResult:
    rng = ctx.rng("competitions")
    tb, fleet = ctx.tb, ctx.fleet
    ops_areas = {}
    for row in taxonomy.table("dno_areas"):
        ops_areas.setdefault(row["operator_id"], []).append(row)
    products = {}
    for row in taxonomy.table("products"):
        products.setdefault(row["market_id"], []).append(row)
    comp_assets = np.nonzero(fleet.has("competition_asset_ref"))[0]
    zone_of = fleet.col("flex_zone")
    caps = fleet.col("capacity_mw").astype(float)
    owner = fleet.col("owner_participant_id")
    refs = fleet.col("competition_asset_ref")
    util_base = np.clip(np.round(160 * np.exp(0.6 * rng.standard_normal(fleet.n))), 20, 550)
    reliability = np.clip(rng.normal(0.97, 0.05, fleet.n), 0.75, 1.05)

    comps: list[dict] = []
    bids: list[dict] = []
    resales: list[dict] = []
    accepted: list[tuple[dict, dict, int]] = []  # (competition, bid, asset_idx)
    range_end = tb.start + dt.timedelta(days=tb.days)
    for qs, qe in _quarters(tb.start, tb.end_date):
        t_years = ctx.years_since_reference(np.array([(qs - tb.start).days]))[0]
        p_comp = float(np.clip(0.55 + 0.3 * t_years, 0.3, 0.95))
        winter_q = qs.month in (1, 10)
        for op in DNO_OPERATORS:
            op_products = products[f"{op}_flex"]
            for area in ops_areas[op]:
                for zi, (zone, _district, _lat, _lon) in enumerate(ZONES[area["gsp_group"]]):
                    in_zone = comp_assets[zone_of[comp_assets] == zone]
                    in_zone = in_zone[fleet.col("asset_type")[in_zone] != "solar_pv"]
                    if not (rng.random() < (p_comp if in_zone.size else 0.25)):
                        continue
                    weights = np.array(
                        [
                            3.0 if (winter_q and p["standard_product"] == "peak_reduction") else 1.0
                            for p in op_products
                        ]
                    )
                    prod = op_products[int(rng.choice(len(op_products), p=weights / weights.sum()))]
                    std = prod["standard_product"]
                    win = (WINDOWS_MORNING[int(rng.integers(0, 2))] if rng.random() < 0.15
                           else WINDOWS_EVENING[int(rng.integers(0, 4))])  # fmt: skip
                    dow = "Mon-Fri" if rng.random() < 0.8 else "Mon-Sun"
                    has_avail = std == "operational_utilisation_scheduled_availability"
                    cid = f"{DNO_LABEL[op].upper()}-{qs.year}Q{(qs.month - 1) // 3 + 1}-{area['dno_area']}-{zi + 1:02d}"
                    opens = dt.datetime.combine(qs - dt.timedelta(days=60), dt.time(9, 0))
                    comp = {
                        "competition_id": cid,
                        "dno": DNO_LABEL[op],
                        "licence_area": area["dno_area"],
                        "zone": zone,
                        "product": prod["product_name"],
                        "direction": prod["direction"],
                        "service_start_date": qs,
                        "service_end_date": qe - dt.timedelta(days=1),
                        "days_of_week": dow,
                        "window_start_local": f"{win[0]:02d}:{win[1]:02d}",
                        "window_end_local": f"{win[2]:02d}:{win[3]:02d}",
                        "required_mw": None,
                        "ceiling_availability_price_gbp_per_mw_h": round(float(rng.uniform(15, 40)), 2)
                        if has_avail
                        else None,
                        "ceiling_utilisation_price_gbp_per_mwh": float(round(rng.uniform(250, 600))),
                        "opens_local": opens,
                        "closes_local": opens + dt.timedelta(days=21, hours=8),
                        "status": None,
                        "_op": op,
                        "_std": std,
                        "_win": win,
                    }
                    cand = [int(i) for i in in_zone if rng.random() < 0.75]
                    cbids = []
                    for k, i in enumerate(cand):
                        bid = {
                            "bid_id": f"{cid}-B{k + 1:02d}",
                            "competition_id": cid,
                            "company_name": company_name(owner[i]),
                            "asset_ref": refs[i],
                            "offered_mw": max(round(caps[i] * float(rng.uniform(0.5, 1.0)), 3), 0.001),
                            "availability_price_gbp_per_mw_h": round(float(rng.uniform(2, 25)), 2)
                            if has_avail
                            else None,
                            "utilisation_price_gbp_per_mwh": round(
                                float(util_base[i] * rng.uniform(0.8, 1.3)), 2
                            ),
                            "submitted_local": opens
                            + dt.timedelta(minutes=int(rng.integers(60, 21 * 24 * 60))),
                            "status": "rejected",
                            "_asset": i,
                        }
                        if rng.random() < 0.05:
                            bid["status"] = "withdrawn"
                        cbids.append(bid)
                    offered = sum(b["offered_mw"] for b in cbids)
                    comp["required_mw"] = (round(max(offered * float(rng.uniform(0.5, 1.1)), 0.1), 1) if cbids
                                           else round(float(rng.uniform(0.5, 5)), 1))  # fmt: skip
                    live = sorted((b for b in cbids if b["status"] != "withdrawn"),
                                  key=lambda b: (b["utilisation_price_gbp_per_mwh"], b["bid_id"]))  # fmt: skip
                    total = 0.0
                    for b in live:
                        ok_price = (
                            b["utilisation_price_gbp_per_mwh"]
                            <= comp["ceiling_utilisation_price_gbp_per_mwh"]
                        )
                        if has_avail:
                            ok_price &= (
                                b["availability_price_gbp_per_mw_h"]
                                <= comp["ceiling_availability_price_gbp_per_mw_h"]
                            )
                        if ok_price and (total == 0 or total + b["offered_mw"] <= comp["required_mw"] * 1.05):
                            b["status"] = "accepted"
                            total += b["offered_mw"]
                            accepted.append((comp, b, b["_asset"]))
                    comp["status"] = "awarded" if total > 0 else "no_award"
                    comps.append(comp)
                    bids.extend(cbids)

    # --- resales of won contracts between FSPs (secondary market)
    resale_of: dict[str, tuple[int, int, int]] = {}  # bid_id -> (buyer asset, first day idx, last day idx)
    accepted_in: dict[str, set[int]] = {}
    for comp, _b, i in accepted:
        accepted_in.setdefault(comp["competition_id"], set()).add(i)
    for comp, b, i in accepted:
        s_idx = max((comp["service_start_date"] - tb.start).days, 0)
        e_idx = min((comp["service_end_date"] - tb.start).days + 1, tb.days)
        if e_idx - s_idx < 28 or rng.random() >= 0.08:
            continue
        buyers = [int(j) for j in comp_assets
                  if zone_of[j] == comp["zone"] and owner[j] != owner[i] and caps[j] >= b["offered_mw"]
                  and int(j) not in accepted_in[comp["competition_id"]]]  # fmt: skip
        if not buyers:
            continue
        j = buyers[int(rng.integers(0, len(buyers)))]
        length = int(rng.integers(14, 43))
        first = s_idx + int(rng.integers(0, max(e_idx - s_idx - length, 1)))
        last = min(first + length, e_idx) - 1
        resale_of[b["bid_id"]] = (j, first, last)
        accepted_in[comp["competition_id"]].add(j)
        start_d = tb.date(first)
        resales.append(
            {
                "resale_id": f"RS-{start_d.year}-{len(resales) + 1:04d}",
                "original_bid_id": b["bid_id"],
                "competition_id": comp["competition_id"],
                "seller_company": b["company_name"],
                "seller_asset_ref": b["asset_ref"],
                "buyer_company": company_name(owner[j]),
                "buyer_asset_ref": refs[j],
                "resold_mw": b["offered_mw"],
                "start_local": dt.datetime.combine(start_d, dt.time(0, 0)),
                "end_local": dt.datetime.combine(tb.date(last + 1), dt.time(0, 0)),
                "price_gbp_per_mw_h": round(float(rng.uniform(1, 20)), 2),
                "agreed_local": dt.datetime.combine(
                    start_d - dt.timedelta(days=int(rng.integers(2, 11))),
                    dt.time(11, int(rng.integers(0, 60))),
                ),  # fmt: skip
            }
        )

    instructions, availability = _instructions(ctx, rng, accepted, resale_of, reliability, range_end)
    _write(ctx, comps, bids, resales)
    return CompetitionResult(comps, bids, resales, instructions, availability)


def _instructions(ctx, rng, accepted, resale_of, reliability, range_end) -> tuple[pl.DataFrame, pl.DataFrame]:
    tb, fleet = ctx.tb, ctx.fleet
    caps = fleet.col("capacity_mw").astype(float)
    owner = fleet.col("owner_participant_id")
    refs = fleet.col("competition_asset_ref")
    days_all = np.arange(tb.days)
    weekday = ctx.weekday(days_all)
    winter = ctx.winter(days_all)
    parts, avail_parts = [], []
    for comp, b, i in accepted:
        s_idx = max((comp["service_start_date"] - tb.start).days, 0)
        e_idx = min((comp["service_end_date"] - tb.start).days + 1, tb.days)
        if e_idx <= s_idx:
            continue
        d = days_all[s_idx:e_idx]
        if comp["days_of_week"] == "Mon-Fri":
            d = d[weekday[d] < 5]
        if d.size == 0:
            continue
        holder = np.full(d.size, i)
        if b["bid_id"] in resale_of:
            j, first, last = resale_of[b["bid_id"]]
            holder = np.where((d >= first) & (d <= last), j, i)
        sh, sm, eh, em = comp["_win"]
        w_start = tb.local_to_utc(tb.day_local_epoch(d) + 3600 * sh + 60 * sm)
        w_end = tb.local_to_utc(tb.day_local_epoch(d) + 3600 * eh + 60 * em)
        std = comp["_std"]
        if std == "operational_utilisation_scheduled_availability":
            avail_parts.append(
                pl.DataFrame(
                    {
                        "operator_id": comp["_op"],
                        "product": comp["product"],
                        "contract_ref": b["bid_id"],
                        "asset_idx": holder,
                        "start": w_start,
                        "end": w_end,
                        "mw": np.full(d.size, b["offered_mw"]),
                        "price": np.full(d.size, b["availability_price_gbp_per_mw_h"]),
                    }
                )
            )
        p = np.clip(CALL_P[std] * (0.6 + 0.6 * winter[d]), 0, 1)
        call = rng.random(d.size) < p
        if not call.any():
            continue
        d, holder, w_start, w_end = d[call], holder[call], w_start[call], w_end[call]
        n = d.size
        start, end = w_start.copy(), w_end.copy()
        setpoint = np.full(n, b["offered_mw"])
        if std.startswith("operational_utilisation"):
            slots = (w_end - w_start) // 1800
            length = np.minimum(rng.integers(2, 5, n), slots)
            off = (rng.random(n) * (slots - length + 1)).astype(np.int64)
            start = w_start + 1800 * off
            end = start + 1800 * length
            setpoint = np.round(b["offered_mw"] * rng.uniform(0.7, 1.0, n), 3)
            issued = start - 60 * rng.integers(10, 61, n)
        else:
            issued = tb.local_to_utc(tb.day_local_epoch(d - 1) + 15 * 3600 + 60 * rng.integers(0, 121, n))
        parts.append(
            pl.DataFrame(
                {
                    "operator_id": comp["_op"],
                    "product": comp["product"],
                    "standard_product": std,
                    "competition_id": comp["competition_id"],
                    "contract_ref": b["bid_id"],
                    "asset_idx": holder,
                    "setpoint_mw": np.maximum(setpoint, 0.001),
                    "start": start,
                    "end": end,
                    "issued": issued,
                    "util_price": np.full(n, b["utilisation_price_gbp_per_mwh"]),
                    "zone": comp["zone"],
                    "day": d,
                }
            )
        )
    if not parts:
        instr = pl.DataFrame(schema={"operator_id": pl.String})
    else:
        instr = pl.concat(parts).sort(["operator_id", "start", "contract_ref"])
    accepted_df = (
        pl.DataFrame(
            {
                "competition_id": [c["competition_id"] for c, _b, _i in accepted],
                "contract_ref": [b["bid_id"] for _c, b, _i in accepted],
                "price": [b["utilisation_price_gbp_per_mwh"] for _c, b, _i in accepted],
            },
            schema={"competition_id": pl.String, "contract_ref": pl.String, "price": pl.Float64},
        )
        .with_columns(
            cheaper_accepted=(pl.col("price").rank("min").over("competition_id") - 1).cast(pl.Int64)
        )
        .drop("price")
    )
    instr = _finish(ctx, rng, instr, accepted_df, caps, owner, refs, reliability)
    avail = pl.concat(avail_parts) if avail_parts else pl.DataFrame(
        schema={"operator_id": pl.String, "product": pl.String, "contract_ref": pl.String, "asset_idx": pl.Int64,
                "start": pl.Int64, "end": pl.Int64, "mw": pl.Float64, "price": pl.Float64})  # fmt: skip
    return instr, avail


def _finish(ctx, rng, instr, accepted_df, caps, owner, refs, reliability) -> pl.DataFrame:
    """Ids, merit order, rationale, revisions and delivery of the DNO instructions."""
    if instr.height == 0:
        return instr
    n = instr.height
    instr = instr.with_columns(
        instruction_id=pl.concat_str(
            [
                pl.col("operator_id").str.to_uppercase(),
                pl.lit("-DI-"),
                pl.from_epoch("start", time_unit="s").dt.strftime("%Y%m%d"),
                pl.lit("-"),
                (pl.int_range(pl.len()).over("operator_id") + 1).cast(pl.String).str.zfill(6),
            ]
        )
    )
    # merit order: how many cheaper accepted offers in the same competition were not called that day
    instr = instr.with_columns(
        merit_order_rank=pl.col("util_price").rank("min").over(["competition_id", "day"]).cast(pl.Int64)
    )
    instr = instr.join(accepted_df, on=["competition_id", "contract_ref"], how="left", maintain_order="left")
    instr = instr.with_columns(
        cheaper_offers_skipped=pl.max_horizontal(
            pl.col("cheaper_accepted") - (pl.col("merit_order_rank") - 1), pl.lit(0)
        )
    ).drop("cheaper_accepted")
    load = rng.integers(96, 131, n)
    reasons = instr["standard_product"].to_list()
    zones = instr["zone"].to_list()
    skipped = instr["cheaper_offers_skipped"].to_numpy()
    rationale, codes = [], []
    for k in range(n):
        code, text = REASONS[reasons[k]]
        txt = text.format(load=int(load[k]), zone=zones[k])
        if skipped[k] > 0:
            txt += f" {int(skipped[k])} cheaper offer(s) skipped: unavailable or insufficient response time."
        rationale.append(txt)
        codes.append(code)
    asset_idx = instr["asset_idx"].to_numpy()
    ratio = np.clip(rng.normal(reliability[asset_idx], 0.04), 0.6, 1.08)
    under = rng.random(n) < 0.05
    ratio = np.round(np.where(under, rng.uniform(0.3, 0.8, n), ratio), 4)
    instr = instr.with_columns(
        reason_code=pl.Series(codes, dtype=pl.String),
        rationale=pl.Series(rationale, dtype=pl.String),
        participant_id=pl.Series(owner[asset_idx]),
        unit_ref=pl.Series(refs[asset_idx]),
        capacity_mw=pl.Series(caps[asset_idx]),
        status=pl.lit("instructed"),
        version=pl.lit(1),
        ratio=pl.Series(ratio),
        direction=pl.lit("up"),
    )
    # revisions: same instruction_id, later issued_at
    rev = rng.random(n) < 0.05
    kind = rng.choice(["setpoint", "end", "cancel"], n, p=[0.45, 0.35, 0.2])
    revised = instr.filter(pl.Series(rev))
    kind = kind[rev]
    if revised.height:
        sp = revised["setpoint_mw"].to_numpy()
        end = revised["end"].to_numpy()
        start = revised["start"].to_numpy()
        issued = revised["issued"].to_numpy()
        new_sp = np.where(
            kind == "setpoint", np.maximum(np.round(sp * rng.uniform(0.5, 0.9, sp.size), 3), 0.001), sp
        )
        new_end = np.where((kind == "end") & (end - start > 1800), end - 1800, end)
        new_issued = np.minimum(issued + 60 * rng.integers(5, 91, sp.size), new_end - 60)
        revised = revised.with_columns(
            setpoint_mw=pl.Series(new_sp),
            end=pl.Series(new_end),
            issued=pl.Series(new_issued),
            status=pl.Series(np.where(kind == "cancel", "cancelled", "instructed")),
            version=pl.lit(2),
        )
    instr = instr.with_columns(final=pl.Series(~rev))
    revised = revised.with_columns(final=pl.lit(True))
    out = pl.concat([instr, revised]).sort(["operator_id", "start", "instruction_id", "version"])
    final = out.filter(pl.col("final") & (pl.col("status") == "instructed"))
    ctx.add_energy(
        final["asset_idx"],
        final["start"],
        final["end"],
        final["setpoint_mw"].to_numpy() * final["ratio"].to_numpy(),
    )
    return out


def _write(ctx: Ctx, comps: list[dict], bids: list[dict], resales: list[dict]) -> None:
    from openpyxl import Workbook

    by_year: dict[int, list[dict]] = {}
    for c in comps:
        by_year.setdefault(c["opens_local"].year, []).append(c)
    bids_by_comp: dict[str, list[dict]] = {}
    for b in bids:
        bids_by_comp.setdefault(b["competition_id"], []).append(b)
    resales_by_comp: dict[str, list[dict]] = {}
    for r in resales:
        resales_by_comp.setdefault(r["competition_id"], []).append(r)
    out = ctx.landing(SOURCE_ID)
    for year in sorted(by_year):
        wb = Workbook()
        ws_c = wb.active
        ws_c.title = "competitions"
        ws_b = wb.create_sheet("bids")
        ws_r = wb.create_sheet("resales")
        counts = {}
        for ws, cols, rows in (
            (ws_c, COMP_COLUMNS, by_year[year]),
            (
                ws_b,
                BID_COLUMNS,
                [b for c in by_year[year] for b in bids_by_comp.get(c["competition_id"], [])],
            ),
            (
                ws_r,
                RESALE_COLUMNS,
                [r for c in by_year[year] for r in resales_by_comp.get(c["competition_id"], [])],
            ),
        ):
            ws.append(cols)
            for r in rows:
                ws.append([r[c] for c in cols])
            for col_cells in ws.iter_cols(min_row=2):
                for cell in col_cells:
                    if isinstance(cell.value, dt.datetime):
                        cell.number_format = "yyyy-mm-dd hh:mm"
                    elif isinstance(cell.value, dt.date):
                        cell.number_format = "yyyy-mm-dd"
            counts[ws.title] = len(rows)
        path = out / f"dno_flex_competitions_{year}.xlsx"
        deterministic_xlsx(wb, path)
        ctx.record(SOURCE_ID, path, sum(counts.values()), sheets=counts)
