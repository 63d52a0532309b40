"""NESO Enduring Auction Capability: auction results summary + per-unit results (real formats), the
planted cross-SO conflicts, and NESO's reserve utilisation instructions for fleet units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from sfe.generate.context import Ctx
from sfe.generate.fleet import EAC_TECHNOLOGY, EXTERNAL_COMPANIES, STORAGE, company_name
from sfe.generate.timebase import DAY, HALF_HOUR, HOUR, fmt_naive
from sfe.generate.writers import py_float_strings, write_csv

SUMMARY_ID = "neso_eac_results"
UNIT_ID = "neso_eac_unit_results"
SUMMARY_HEADER = [
    "_id", "auctionID", "auctionProduct", "serviceType", "deliveryStart", "deliveryEnd",
    "clearedVolume", "clearingPrice", "linkedServiceWindowID", "source",
]  # fmt: skip
UNIT_HEADER = [
    "_id", "auctionID", "auctionProduct", "serviceType", "unitName", "companyName", "technologyType",
    "deliveryStart", "deliveryEnd", "executedVolume", "clearingPrice", "source",
]  # fmt: skip
DC_PRODUCTS = ("DCH", "DCL", "DMH", "DML", "DRH", "DRL")
RESERVE_PRODUCTS = ("PBR", "NBR", "PQR", "NQR", "PSR")
PRODUCT_ORDER = {p: i for i, p in enumerate(DC_PRODUCTS + RESERVE_PRODUCTS)}
# local-time windows (minutes of day) in which each reserve product is procured per half hour
RESERVE_WINDOWS = {
    "PBR": ((12 * 60, 21 * 60, ""),),
    "NBR": ((0, 6 * 60, ""),),
    "PQR": ((12 * 60, 14 * 60, ""), (16 * 60, 19 * 60, "")),
    "NQR": ((11 * 60, 14 * 60, ""),),
    "PSR": ((16 * 60, 20 * 60, "1.0"), (11 * 60, 14 * 60, "2.0")),
}
RESERVE_TYPES = {
    "PBR": ("battery", "small_generation", "ci_demand_response", "ev_charging"),
    "NBR": ("battery", "v2g", "ev_charging"),
    "PQR": ("battery", "small_generation", "ci_demand_response", "v2g"),
    "NQR": ("battery", "v2g"),
    "PSR": ("small_generation", "ci_demand_response", "ev_charging"),
}
# MW at the start of 2025, and change per year (fraction)
VOLUME = {"DCH": (1100, -0.25), "DCL": (950, -0.25), "DMH": (220, 0.0), "DML": (230, 0.0),
          "DRH": (260, 0.05), "DRL": (320, 0.05), "PBR": (650, 0.05), "NBR": (450, 0.05),
          "PQR": (180, 0.8), "NQR": (120, 0.8), "PSR": (280, 0.2)}  # fmt: skip
PRICE = {"DCH": (2.8, -0.35), "DCL": (1.9, -0.35), "DMH": (2.5, 0.0), "DML": (4.0, 0.0),
         "DRH": (2.0, 0.0), "DRL": (6.5, -0.1), "PBR": (7.5, 0.0), "NBR": (3.0, 0.0),
         "PQR": (5.0, -0.15), "NQR": (2.0, 0.0), "PSR": (3.5, 0.0)}  # fmt: skip
EXTERNAL_K = {"DCH": 14, "DCL": 14, "DMH": 5, "DML": 5, "DRH": 5, "DRL": 5,
              "PBR": 6, "NBR": 5, "PQR": 4, "NQR": 4, "PSR": 5}  # fmt: skip
DNO_BUSY = ((7 * 60, 11 * 60), (15 * 60, 23 * 60))  # local times DNO dispatches can fall in


@dataclass
class EacResult:
    windows: pl.DataFrame
    unit_rows: pl.DataFrame  # every unit row incl. external units
    fleet_rows: pl.DataFrame  # fleet units only (asset_idx), for settlement
    neso_instructions: pl.DataFrame
    planted: pl.DataFrame


def _fy(date_epoch_day: np.ndarray) -> np.ndarray:
    import datetime as dt

    out = []
    for x in date_epoch_day.tolist():
        d = dt.date(1970, 1, 1) + dt.timedelta(days=int(x))
        out.append(f"FY{d.year if d.month >= 4 else d.year - 1}")
    return np.array(out)


def _windows(ctx: Ctx) -> pl.DataFrame:
    tb = ctx.tb
    e = np.arange(tb.days)
    bounds = np.stack(
        [tb.local_to_utc(tb.day_local_epoch(e) - HOUR + 4 * HOUR * k) for k in range(7)], axis=1
    )
    parts = []
    for prod in DC_PRODUCTS:
        parts.append(
            pl.DataFrame(
                {
                    "product": prod,
                    "start": bounds[:, :6].ravel(),
                    "end": bounds[:, 1:].ravel(),
                    "efa_day": np.repeat(e, 6),
                    "block": np.tile(np.arange(6), tb.days),
                    "linked": "",
                }
            )
        )
    sp = tb.sp_start[: tb.n_periods]
    minute = tb.local_minute_of_day(sp)
    efa_day = (tb.local_clock(sp) + HOUR) // DAY - (
        tb.range_start + tb.offset(np.array([tb.range_start]))[0]
    ) // DAY
    block = ((minute + 60) % 1440) // 240
    for prod in RESERVE_PRODUCTS:
        for lo, hi, linked in RESERVE_WINDOWS[prod]:
            m = (minute >= lo) & (minute < hi) & (efa_day < tb.days)
            parts.append(
                pl.DataFrame(
                    {
                        "product": prod,
                        "start": sp[m],
                        "end": sp[m] + HALF_HOUR,
                        "efa_day": efa_day[m],
                        "block": block[m],
                        "linked": linked,
                    }
                )
            )
    w = pl.concat(parts).with_columns(pl.col("efa_day").cast(pl.Int64), pl.col("block").cast(pl.Int64))
    return w.with_row_index("window").with_columns(pl.col("window").cast(pl.Int64))


def generate(ctx: Ctx, ukpn_rows: pl.DataFrame, dno_instructions: pl.DataFrame) -> EacResult:
    rng = ctx.rng("eac")
    tb, fleet = ctx.tb, ctx.fleet
    w = _windows(ctx)
    n_w = w.height
    wprod = w["product"].to_numpy()
    wstart = w["start"].to_numpy()
    wday = w["efa_day"].to_numpy()
    wblock = w["block"].to_numpy()
    t_years = ctx.years_since_reference(wday)
    winter = ctx.winter(wday)
    wminute = tb.local_minute_of_day(wstart)

    # ---- cleared volume targets and clearing prices per window
    base_v = np.array([VOLUME[p][0] for p in wprod], dtype=float)
    trend_v = np.array([VOLUME[p][1] for p in wprod])
    target = (
        base_v * np.maximum(1 + trend_v * t_years, 0.2) * (1 + 0.08 * winter) * rng.uniform(0.9, 1.1, n_w)
    )
    base_p = np.array([PRICE[p][0] for p in wprod])
    trend_p = np.array([PRICE[p][1] for p in wprod])
    high = np.isin(wprod, ("DCH", "DMH", "DRH", "PBR", "PQR", "PSR"))
    evening = ((wminute >= 15 * 60) & (wminute < 23 * 60)).astype(float)
    overnight = ((wminute >= 23 * 60) | (wminute < 7 * 60)).astype(float)
    shape = np.where(high, 1 + 0.45 * evening - 0.2 * overnight, 1 + 0.35 * overnight - 0.1 * evening)
    price = base_p * np.maximum(1 + trend_p * t_years, 0.3) * (1 + 0.35 * winter) * shape
    price = price * np.exp(0.35 * rng.standard_normal(n_w))
    neg_prone = np.isin(wprod, ("DMH", "DRH"))
    price = np.where(neg_prone, price - 1.6 + 1.4 * rng.standard_normal(n_w), price)
    price = np.round(price, 2)
    zero = np.isin(wprod, ("DMH", "DML", "DRH", "DRL")) & (rng.random(n_w) < 0.01)
    price = np.where(zero, 0.0, price)
    price = np.where(price == 0, 0.0, price)  # no '-0.0'

    # ---- fleet units
    atype = fleet.col("asset_type")
    caps = fleet.col("capacity_mw").astype(float)
    eac_idx = np.nonzero(fleet.has("eac_unit_name"))[0]
    dual = (
        fleet.has("eac_unit_name")
        & ~fleet.has("bm_unit")
        & (fleet.has("ukpn_fu_id") | fleet.has("competition_asset_ref"))
    )
    storage = eac_idx[np.isin(atype[eac_idx], STORAGE)]
    dc_index = {p: np.full((tb.days, 6), -1, dtype=np.int64) for p in DC_PRODUCTS}
    for p in DC_PRODUCTS:
        sub = w.filter(pl.col("product") == p)
        dc_index[p][sub["efa_day"].to_numpy(), sub["block"].to_numpy()] = sub["window"].to_numpy()

    rows_w, rows_a = [], []
    # DC/DM/DR: each storage unit picks at most one service family per EFA block
    family = np.zeros((tb.days, 6, storage.size), dtype=np.int64)
    if storage.size:
        ty = ctx.years_since_reference(np.arange(tb.days))
        p_dc = np.clip(0.38 - 0.12 * ty, 0.15, 0.5)[:, None, None]
        u = rng.random(family.shape)
        family = np.where(u < p_dc, 1, np.where(u < p_dc + 0.12, 2, np.where(u < p_dc + 0.30, 3, 0)))
        busy_blocks = np.isin(np.arange(6), (2, 4, 5))
        family[:, busy_blocks, :] = np.where(dual[storage][None, None, :], 0, family[:, busy_blocks, :])
        hsel = rng.random(family.shape) < 0.85
        lsel = rng.random(family.shape) < 0.85
        hsel |= ~lsel
        for fam, (hi_p, lo_p) in enumerate((("DCH", "DCL"), ("DMH", "DML"), ("DRH", "DRL")), start=1):
            for prod, sel in ((hi_p, hsel), (lo_p, lsel)):
                e_, b_, u_ = np.nonzero((family == fam) & sel)
                rows_w.append(dc_index[prod][e_, b_])
                rows_a.append(storage[u_])
    # reserve: 30-minute windows
    in_busy = np.zeros(n_w, dtype=bool)
    for lo, hi in DNO_BUSY:
        in_busy |= (wminute >= lo) & (wminute < hi)
    storage_pos = {int(a): k for k, a in enumerate(storage)}
    for prod in RESERVE_PRODUCTS:
        widx = np.nonzero(wprod == prod)[0]
        units = eac_idx[np.isin(atype[eac_idx], RESERVE_TYPES[prod])]
        if widx.size == 0 or units.size == 0:
            continue
        p_u = np.where(np.isin(atype[units], STORAGE), 0.05, 0.12)
        if prod in ("PBR", "PSR"):
            p_u = np.where(np.isin(atype[units], ("small_generation", "ci_demand_response")), 0.22, p_u)
        grow = (0.5 + 0.5 * np.clip(t_years[widx], 0, 2)) if prod in ("PQR", "NQR") else np.ones(widx.size)
        take = rng.random((widx.size, units.size)) < p_u[None, :] * grow[:, None]
        take &= ~(in_busy[widx][:, None] & dual[units][None, :])
        is_sto = np.isin(units, storage)
        if is_sto.any():
            cols = np.array([storage_pos.get(int(a), 0) for a in units])
            fam = family[wday[widx][:, None], wblock[widx][:, None], cols[None, :]]
            take &= ~(is_sto[None, :] & (fam != 0))
        wi, ui = np.nonzero(take)
        rows_w.append(widx[wi])
        rows_a.append(units[ui])
    fw = np.concatenate(rows_w) if rows_w else np.zeros(0, dtype=np.int64)
    fa = np.concatenate(rows_a) if rows_a else np.zeros(0, dtype=np.int64)
    fleet_rows = (
        pl.DataFrame({"window": fw.astype(np.int64), "asset_idx": fa.astype(np.int64)})
        .join(w.select("window", "start", "product"), on="window", maintain_order="left")
        .with_columns(order=pl.col("product").replace_strict(PRODUCT_ORDER, return_dtype=pl.Int64))
        .sort(["asset_idx", "start", "order"])
        .unique(["asset_idx", "start"], keep="first", maintain_order=True)  # one reserve product at a time
        .select("window", "asset_idx")
    )
    fleet_rows = fleet_rows.filter(~pl.col("window").is_in(np.nonzero(zero)[0].tolist()))
    fleet_rows = fleet_rows.with_columns(planted=pl.lit(False))

    # ---- planted conflicts: a DNO dispatch of a dual asset overlapped by a NESO commitment
    planted, planted_rows = _plant(ctx, rng, w, dc_index, ukpn_rows, dno_instructions, dual, storage)
    if planted_rows.height:
        fleet_rows = pl.concat([fleet_rows, planted_rows])
    fa = fleet_rows["asset_idx"].to_numpy()
    frac = rng.uniform(0.4, 1.0, fa.size)
    tenths = np.maximum(np.floor(caps[fa] * 10 * frac), 10).astype(np.int64)
    tenths = np.minimum(tenths, np.floor(caps[fa] * 10).astype(np.int64))
    tenths = np.where(
        fleet_rows["planted"].to_numpy(), np.maximum(np.floor(caps[fa] * 8), 1).astype(np.int64), tenths
    )
    fleet_rows = fleet_rows.with_columns(tenths=pl.Series(tenths), executed_mw=pl.Series(tenths / 10))

    # ---- external units fill the rest of each window's cleared volume
    fleet_sum = np.bincount(fleet_rows["window"].to_numpy(), weights=tenths, minlength=n_w).astype(np.int64)
    remainder = np.where(zero, 0, np.maximum(np.round(target * 10).astype(np.int64) - fleet_sum, 0))
    ext_names, ext_company, ext_tech = _external_pool()
    ext_parts_w, ext_parts_u, ext_parts_v = [], [], []
    for prod in DC_PRODUCTS + RESERVE_PRODUCTS:
        widx = np.nonzero(wprod == prod)[0]
        k = EXTERNAL_K[prod]
        pool = (
            np.arange(len(ext_names)) if prod in RESERVE_PRODUCTS else np.nonzero(ext_tech == "Batteries")[0]
        )
        k = min(k, pool.size)
        pick = np.argsort(rng.random((widx.size, pool.size)), axis=1)[:, :k]
        share = rng.gamma(2.0, size=(widx.size, k))
        share /= share.sum(axis=1, keepdims=True)
        vol = np.floor(remainder[widx][:, None] * share).astype(np.int64)
        vol[:, 0] += remainder[widx] - vol.sum(axis=1)
        keep = vol > 0
        ext_parts_w.append(np.repeat(widx, k)[keep.ravel()])
        ext_parts_u.append(pool[pick].ravel()[keep.ravel()])
        ext_parts_v.append(vol.ravel()[keep.ravel()])
    ew = np.concatenate(ext_parts_w)
    eu = np.concatenate(ext_parts_u)
    ev = np.concatenate(ext_parts_v)
    cleared = fleet_sum + np.bincount(ew, weights=ev, minlength=n_w).astype(np.int64)

    names = fleet.col("eac_unit_name")
    owners = fleet.col("owner_participant_id")
    comp_names = np.array([company_name(o, UNIT_ID) for o in owners])
    techs = np.array([EAC_TECHNOLOGY.get(t, "Other") for t in atype])
    unit_rows = pl.concat(
        [
            pl.DataFrame(
                {
                    "window": fleet_rows["window"],
                    "unitName": names[fa],
                    "companyName": comp_names[fa],
                    "technologyType": techs[fa],
                    "tenths": tenths,
                }
            ),
            pl.DataFrame(
                {
                    "window": ew.astype(np.int64),
                    "unitName": ext_names[eu],
                    "companyName": ext_company[eu],
                    "technologyType": ext_tech[eu],
                    "tenths": ev,
                }
            ),
        ]
    )
    auction = _auction_ids(rng, tb.days)
    w = w.with_columns(
        auctionID=pl.Series(auction[wday]),
        clearing_price=pl.Series(price),
        cleared_tenths=pl.Series(cleared),
        zero=pl.Series(zero),
        fy=pl.Series(_fy(tb.day_local_epoch(wday) // DAY)),
    )
    fleet_rows = fleet_rows.join(
        w.select("window", "product", "start", "end", "auctionID", "clearing_price"),
        on="window",
        maintain_order="left",
    )
    neso = _neso_instructions(ctx, rng, fleet_rows, planted)
    _write(ctx, w, unit_rows)
    return EacResult(
        windows=w, unit_rows=unit_rows, fleet_rows=fleet_rows, neso_instructions=neso, planted=planted
    )


def _auction_ids(rng: np.random.Generator, days: int) -> np.ndarray:
    """auctionID per EFA day: increasing by week, shuffled inside each week (not in date order)."""
    perm = np.concatenate([rng.permutation(np.arange(k, min(k + 7, days))) for k in range(0, days, 7)])
    return 430 + perm


def _external_pool() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    names, companies, techs = [], [], []
    kinds = ("Batteries", "Batteries", "Batteries", "Hydro", "Demand Side Response", "Wind", "Batteries")
    for i, (pid, company) in enumerate(EXTERNAL_COMPANIES):
        code = pid[4:]
        for k in range(1, 4):
            tech = kinds[(i + k) % len(kinds)]
            prefix = "T" if k == 1 else "E"
            names.append(f"{prefix}_{code}{'B' if tech == 'Batteries' else 'G'}{k}-1")
            companies.append(company)
            techs.append(tech)
    return np.array(names), np.array(companies), np.array(techs)


def _plant(ctx, rng, w, dc_index, ukpn_rows, dno_instr, dual, storage):
    """Pick ~15 DNO dispatches of assets that also sell to NESO and add an overlapping NESO commitment."""
    tb, fleet = ctx.tb, ctx.fleet
    atype = fleet.col("asset_type")
    caps = fleet.col("capacity_mw").astype(float)
    cands = []
    u = ukpn_rows.filter(pl.col("row_kind") == "utilisation")
    for r in u.select("asset_idx", "start", "end", "fu_id").iter_rows():
        if dual[r[0]]:
            cands.append(("ukpn", "ukpn_flex", "ukpn_dispatch", f"{r[3]} @ {r[1]}", *r[:3]))
    if dno_instr.height:
        fin = dno_instr.filter(pl.col("final") & (pl.col("status") == "instructed"))
        for r in fin.select("asset_idx", "start", "end", "instruction_id", "operator_id").iter_rows():
            if dual[r[0]]:
                cands.append((r[4], f"{r[4]}_flex", "dno_instruction", r[3], r[0], r[1], r[2]))
    schema = {
        "conflict_id": pl.String, "asset_idx": pl.Int64, "neso_activity": pl.String, "window": pl.Int64,
        "neso_start": pl.Int64, "neso_end": pl.Int64, "product": pl.String, "instructed": pl.Boolean,
        "dno_operator": pl.String, "dno_market": pl.String, "dno_activity": pl.String, "dno_ref": pl.String,
        "dno_start": pl.Int64, "dno_end": pl.Int64,
    }  # fmt: skip
    empty_rows = pl.DataFrame(schema={"window": pl.Int64, "asset_idx": pl.Int64, "planted": pl.Boolean})
    if not cands:
        return pl.DataFrame(schema=schema), empty_rows
    order = rng.permutation(len(cands))
    chosen, per_asset, used_windows = [], {}, set()
    reserve_index = {
        (p, s): i
        for p, s, i in w.filter(pl.col("product") == "PBR").select("product", "start", "window").iter_rows()
    }
    for k in order:
        so, market, activity, ref, a, s, e = cands[int(k)]
        if per_asset.get(a, 0) >= (1 if len(per_asset) < 12 else 2):
            continue
        local_min = int(tb.local_minute_of_day(np.array([s]))[0])
        if a in set(storage.tolist()):
            efa_day = int(
                (tb.local_clock(np.array([s]))[0] + HOUR) // DAY
                - (tb.range_start + tb.offset(np.array([tb.range_start]))[0]) // DAY
            )
            block = ((local_min + 60) % 1440) // 240
            if not (0 <= efa_day < tb.days):
                continue
            product = "DCH"
            win = int(dc_index[product][efa_day, block])
            instructed = False
        else:
            if atype[a] not in ("small_generation", "ci_demand_response", "ev_charging"):
                continue
            win = reserve_index.get(("PBR", int(s)), -1)
            product = "PBR"
            instructed = bool(rng.random() < 0.5)
        if win < 0 or (win, a) in used_windows or caps[a] < 1.0:
            continue
        used_windows.add((win, a))
        per_asset[a] = per_asset.get(a, 0) + 1
        ws, we = w.row(win, named=True)["start"], w.row(win, named=True)["end"]
        chosen.append(
            {
                "conflict_id": f"PC-{len(chosen) + 1:03d}",
                "asset_idx": int(a),
                "neso_activity": "neso_instruction" if instructed else "eac_commitment",
                "window": win,
                "neso_start": int(ws),
                "neso_end": int(we),
                "product": product,
                "instructed": instructed,
                "dno_operator": so,
                "dno_market": market,
                "dno_activity": activity,
                "dno_ref": ref,
                "dno_start": int(s),
                "dno_end": int(e),
            }
        )
        if len(chosen) >= 15:
            break
    planted = pl.DataFrame(chosen, schema=schema)
    rows = planted.select("window", "asset_idx", pl.lit(True).alias("planted"))
    return planted, rows


def _neso_instructions(ctx, rng, fleet_rows, planted) -> pl.DataFrame:
    """NESO calls some committed reserve holdings (utilisation), always stated in MW."""
    fleet = ctx.fleet
    reserve = fleet_rows.filter(pl.col("product").is_in(RESERVE_PRODUCTS))
    random_pick = rng.random(reserve.height) < 0.08
    planted_keys = (
        set(planted.filter(pl.col("instructed")).select("window", "asset_idx").iter_rows())
        if planted.height
        else set()
    )
    in_keys = np.array(
        [k in planted_keys for k in reserve.select("window", "asset_idx").iter_rows()], dtype=bool
    )
    pick = np.where(reserve["planted"].to_numpy(), in_keys, random_pick) if reserve.height else random_pick
    if reserve.height and not pick.any():
        pick[int(np.argmin(reserve["planted"].to_numpy()))] = True  # tiny runs still dispatch something
    sel = reserve.filter(pl.Series(pick))
    n = sel.height
    if n == 0:
        return pl.DataFrame()
    a = sel["asset_idx"].to_numpy()
    unit_price = np.round(rng.uniform(60, 250, fleet.n), 2)
    reliability = np.clip(rng.normal(0.98, 0.04, fleet.n), 0.8, 1.05)
    sp = np.maximum(np.round(sel["tenths"].to_numpy() / 10 * rng.uniform(0.5, 1.0, n), 1), 0.1)
    ratio = np.clip(rng.normal(reliability[a], 0.04), 0.6, 1.08)
    ratio = np.round(np.where(rng.random(n) < 0.05, rng.uniform(0.3, 0.8, n), ratio), 4)
    direction = np.where(np.char.startswith(sel["product"].to_numpy().astype(str), "N"), "down", "up")
    out = sel.with_columns(
        setpoint_mw=pl.Series(sp),
        util_price=pl.Series(unit_price[a]),
        issued=pl.col("start") - 60 * pl.Series(rng.integers(2, 16, n)),
        ratio=pl.Series(ratio),
        direction=pl.Series(direction),
        status=pl.lit("instructed"),
        version=pl.lit(1),
        participant_id=pl.Series(fleet.col("owner_participant_id")[a]),
        unit_ref=pl.Series(fleet.col("eac_unit_name")[a]),
        capacity_mw=pl.Series(fleet.col("capacity_mw")[a]),
        contract_ref=pl.concat_str(
            [pl.lit("EAC-"), pl.col("auctionID").cast(pl.String), pl.lit("-"), pl.col("product")]
        ),
        operator_id=pl.lit("neso"),
    ).sort(["start", "unit_ref"])
    out = out.with_columns(
        instruction_id=pl.concat_str(
            [
                pl.lit("NESO-"),
                pl.from_epoch("start", time_unit="s").dt.strftime("%Y%m%d"),
                pl.lit("-"),
                (pl.int_range(pl.len()) + 1).cast(pl.String).str.zfill(7),
            ]  # fmt: skip
        ),
        merit_order_rank=pl.col("util_price").rank("min").over("window").cast(pl.Int64),
    )
    committed = fleet_rows.filter(pl.col("product").is_in(RESERVE_PRODUCTS)).select("window", "asset_idx")
    committed = committed.with_columns(price=pl.Series(unit_price[committed["asset_idx"].to_numpy()]))
    cheaper = (
        out.select("window", "asset_idx", "util_price")
        .join(committed, on="window", maintain_order="left")
        .filter(pl.col("price") < pl.col("util_price"))
        .group_by(["window", "asset_idx"])
        .agg(pl.len().alias("cheaper"))
    )
    out = out.join(cheaper, on=["window", "asset_idx"], how="left", maintain_order="left").with_columns(
        cheaper_offers_skipped=pl.max_horizontal(
            pl.col("cheaper").fill_null(0).cast(pl.Int64) - (pl.col("merit_order_rank") - 1), pl.lit(0)
        )
    )
    skipped = out["cheaper_offers_skipped"].to_numpy()
    prods = out["product"].to_list()
    short = rng.integers(150, 900, out.height)
    out = out.with_columns(
        reason_code=pl.Series(["ENERGY_IMBALANCE" if p.startswith("P") else "ENERGY_SURPLUS" for p in prods]),
        rationale=pl.Series(
            [
                (
                    f"System {'short' if p.startswith('P') else 'long'} by about {int(s)} MW; {p} holding utilised."
                    + (f" {int(k)} cheaper holding(s) skipped: response time or location." if k > 0 else "")
                )
                for p, s, k in zip(prods, short, skipped, strict=True)
            ]
        ),
        final=pl.lit(True),
        competition_id=pl.lit(None, dtype=pl.String),
    ).drop("cheaper")
    # revisions: NESO re-issues a few instructions with a new setpoint
    rev = rng.random(out.height) < 0.03
    revised = out.filter(pl.Series(rev)).with_columns(
        setpoint_mw=pl.max_horizontal((pl.col("setpoint_mw") * 0.6).round(1), pl.lit(0.1)),
        issued=pl.col("issued") + 60,
        version=pl.lit(2),
    )
    out = out.with_columns(final=pl.Series(~rev))
    out = pl.concat([out, revised]).sort(["start", "instruction_id", "version"])
    fin = out.filter(pl.col("final"))
    sign = np.where(fin["direction"].to_numpy() == "down", -1.0, 1.0)
    ctx.add_energy(
        fin["asset_idx"],
        fin["start"],
        fin["end"],
        sign * fin["setpoint_mw"].to_numpy() * fin["ratio"].to_numpy(),
    )
    return out


def _write(ctx: Ctx, w: pl.DataFrame, unit_rows: pl.DataFrame) -> None:
    service = (
        pl.when(pl.col("product").is_in(RESERVE_PRODUCTS))
        .then(pl.lit("Reserve"))
        .otherwise(pl.lit("Response"))
    )
    w = w.with_columns(order=pl.col("product").replace_strict(PRODUCT_ORDER, return_dtype=pl.Int64))
    out_s, out_u = ctx.landing(SUMMARY_ID), ctx.landing(UNIT_ID)
    for fy in sorted(set(w["fy"].to_list())):
        part = w.filter(pl.col("fy") == fy).sort(["auctionID", "order", "start"])
        df = part.select(
            pl.int_range(1, pl.len() + 1).cast(pl.String).alias("_id"),
            pl.col("auctionID").cast(pl.String),
            pl.col("product").alias("auctionProduct"),
            service.alias("serviceType"),
            fmt_naive("start").alias("deliveryStart"),
            fmt_naive("end").alias("deliveryEnd"),
            pl.Series(
                "clearedVolume", py_float_strings(part["cleared_tenths"].to_numpy() / 10), dtype=pl.String
            ),
            pl.Series("clearingPrice", py_float_strings(part["clearing_price"].to_numpy()), dtype=pl.String),
            pl.col("linked").alias("linkedServiceWindowID"),
            pl.col("fy").alias("source"),
        )
        path = out_s / f"eac_auction_results_summary_{fy}.csv"
        ctx.record(SUMMARY_ID, path, write_csv(df, path), financial_year=fy,
                   zero_volume_rows=int(part["zero"].sum()))  # fmt: skip
        units = unit_rows.join(
            part.select("window", "auctionID", "order", "product", "start", "end", "clearing_price", "fy"),
            on="window",
            maintain_order="left",
        ).sort(["auctionID", "order", "start", "unitName"])  # fmt: skip
        df = units.select(
            pl.int_range(1, pl.len() + 1).cast(pl.String).alias("_id"),
            pl.col("auctionID").cast(pl.String),
            pl.col("product").alias("auctionProduct"),
            service.alias("serviceType"),
            "unitName",
            "companyName",
            "technologyType",
            fmt_naive("start").alias("deliveryStart"),
            fmt_naive("end").alias("deliveryEnd"),
            pl.Series("executedVolume", py_float_strings(units["tenths"].to_numpy() / 10), dtype=pl.String),
            pl.Series("clearingPrice", py_float_strings(units["clearing_price"].to_numpy()), dtype=pl.String),
            pl.col("fy").alias("source"),
        )
        path = out_u / f"eac_auction_results_by_unit_{fy}.csv"
        ctx.record(UNIT_ID, path, write_csv(df, path), financial_year=fy)
