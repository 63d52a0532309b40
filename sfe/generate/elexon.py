"""Elexon system prices (API and website-export encodings) and bid-offer acceptance levels (BOALF)."""

from __future__ import annotations

import numpy as np
import polars as pl

from sfe.generate.context import Ctx
from sfe.generate.eac import _external_pool
from sfe.generate.timebase import DAY, fmt_utc_z
from sfe.generate.writers import fixed18, py_float_strings, write_csv

PRICES_ID = "elexon_system_prices"
BOALF_ID = "elexon_boalf"
PRICE_COLUMNS = [
    "settlementDate", "settlementPeriod", "startTime", "createdDateTime", "systemSellPrice", "systemBuyPrice",
    "bsadDefaulted", "priceDerivationCode", "reserveScarcityPrice", "netImbalanceVolume", "sellPriceAdjustment",
    "buyPriceAdjustment", "replacementPrice", "replacementPriceReferenceVolume", "totalAcceptedOfferVolume",
    "totalAcceptedBidVolume", "totalAdjustmentSellVolume", "totalAdjustmentBuyVolume",
    "totalSystemTaggedAcceptedOfferVolume", "totalSystemTaggedAcceptedBidVolume",
    "totalSystemTaggedAdjustmentSellVolume", "totalSystemTaggedAdjustmentBuyVolume",
]  # fmt: skip
NUMERIC = [c for c in PRICE_COLUMNS[4:] if c not in ("bsadDefaulted", "priceDerivationCode")]
BOALF_COLUMNS = [
    "dataset", "settlementDate", "settlementPeriodFrom", "settlementPeriodTo", "timeFrom", "timeTo", "levelFrom",
    "levelTo", "acceptanceNumber", "acceptanceTime", "deemedBoFlag", "soFlag", "amendmentFlag", "storFlag", "rrFlag",
    "nationalGridBmUnit", "bmUnit",
]  # fmt: skip


def _noisy_prices(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """Mix of clean 2-dp prices, volume-weighted averages (long decimals) and float noise."""
    n = p.size
    clean = np.round(p, 2)
    v1, v2 = rng.uniform(10, 400, n), rng.uniform(10, 400, n)
    other = clean + np.round(rng.normal(0, 6, n), 2)
    weighted = (clean * v1 + other * v2) / (v1 + v2)
    noisy = (clean * 100 - 0.3) / 100 + 0.003
    kind = rng.random(n)
    return np.where(kind < 0.5, clean, np.where(kind < 0.85, weighted, noisy))


def _price_table(ctx: Ctx) -> pl.DataFrame:
    rng = ctx.rng("system_prices")
    tb = ctx.tb
    n = tb.n_periods
    start = tb.sp_start[:n]
    day = tb.sp_day[:n]
    minute = tb.local_minute_of_day(start)
    hour = minute / 60
    winter = ctx.winter(day)
    evening = np.exp(-0.5 * ((hour - 18) / 1.3) ** 2)
    morning = np.exp(-0.5 * ((hour - 8) / 1.2) ** 2)
    midday = np.exp(-0.5 * ((hour - 13) / 2.0) ** 2)
    base = 72 + 28 * winter + 65 * evening + 20 * morning - 30 * (1 - winter) * midday - 12 * (hour < 5)
    price = base + rng.normal(0, 18, n)
    spike = rng.random(n) < 0.01
    price = np.where(spike, price * rng.uniform(2.5, 8, n), price)
    negative = (rng.random(n) < 0.04 * (1 - winter) * (midday > 0.5)) | (rng.random(n) < 0.003)
    price = np.where(negative, -rng.uniform(1, 80, n), price)
    price = _noisy_prices(rng, price)
    niv = rng.normal(0, 280, n) + 1e-9 * rng.random(n)
    offer = rng.uniform(450, 1500, n) + rng.random(n) / 7
    bid = -rng.uniform(380, 1900, n) - rng.random(n) / 9
    adj_buy = rng.choice([0.0, 117.5, 250.0, 867.5], n, p=[0.3, 0.35, 0.2, 0.15])
    adj_sell = np.where(
        rng.random(n) < 0.01, np.round(rng.uniform(1, 9.99, n), 2) * 10.0 ** -rng.integers(5, 9, n), 0.0
    )
    p_code = np.where(niv > 0, "P", "N")
    has_repl = (p_code == "P") & (rng.random(n) < 0.3)
    tag_off = rng.integers(0, 2, n)
    created = start + DAY + 44 * 60 + rng.integers(0, 300, n)
    cols = {
        "start": start,
        "created": created,
        "day": day,
        "sp": tb.sp_num[:n],
        "systemSellPrice": price,
        "systemBuyPrice": price,
        "bsadDefaulted": np.where(rng.random(n) < 0.004, "True", "False"),
        "priceDerivationCode": p_code,
        "reserveScarcityPrice": np.zeros(n),
        "netImbalanceVolume": niv,
        "sellPriceAdjustment": np.zeros(n),
        "buyPriceAdjustment": np.zeros(n),
        "replacementPrice": np.where(has_repl, np.round(price, 2), np.nan),
        "replacementPriceReferenceVolume": np.where(has_repl, rng.integers(0, 2, n).astype(float), np.nan),
        "totalAcceptedOfferVolume": offer,
        "totalAcceptedBidVolume": bid,
        "totalAdjustmentSellVolume": adj_sell,
        "totalAdjustmentBuyVolume": adj_buy,
        "totalSystemTaggedAcceptedOfferVolume": offer - tag_off,
        "totalSystemTaggedAcceptedBidVolume": bid + (1 - tag_off),
        "totalSystemTaggedAdjustmentSellVolume": np.full(n, np.nan),
        "totalSystemTaggedAdjustmentBuyVolume": np.where(adj_buy > 0, adj_buy - 1, np.nan),
        "reissue": np.zeros(n, dtype=bool),
    }
    # both encodings must carry the same value: keep every number exactly representable with 18 decimals
    for c in NUMERIC:
        cols[c] = np.array(
            [x if x != x else float(f"{x:.18f}") for x in np.asarray(cols[c], dtype=float).tolist()]
        )
    return pl.DataFrame(cols)


def _render(df: pl.DataFrame, encoding: str) -> pl.DataFrame:
    out = {}
    out["settlementDate"] = df["date_s"]
    out["settlementPeriod"] = df["sp"].cast(pl.String)
    out["startTime"] = df.select(fmt_utc_z("start"))["start"]
    out["createdDateTime"] = df.select(fmt_utc_z("created"))["created"]
    for c in PRICE_COLUMNS[4:]:
        if c in NUMERIC:
            s = py_float_strings(df[c].to_numpy())
            out[c] = pl.Series(fixed18(s) if encoding == "export" else s, dtype=pl.String)
        else:
            out[c] = df[c]
    frame = pl.DataFrame(out).select(PRICE_COLUMNS)
    if encoding == "export":
        frame = frame.rename({c: c[0].upper() + c[1:] for c in PRICE_COLUMNS})
    return frame


def system_prices(ctx: Ctx) -> None:
    tb = ctx.tb
    rng = ctx.rng("system_prices_files")
    df = _price_table(ctx)
    dates = np.array([tb.date(d).isoformat() for d in range(tb.days)])
    df = df.with_columns(
        date_s=pl.Series(dates[df["day"].to_numpy()]),
        month=pl.Series(np.array([d[:7] for d in dates])[df["day"].to_numpy()]),
    )
    api_end = int(np.ceil(0.7 * tb.days))
    export_start = int(np.floor(0.55 * tb.days))
    # re-issued periods (a later createdDateTime supersedes), only where the API alone covers the day
    api_only = df.filter(pl.col("day") < export_start)
    k = max(1, int(round(api_only.height * 0.002)))
    pick = np.sort(rng.choice(api_only.height, size=min(k, api_only.height), replace=False))
    re = api_only[pick.tolist()]
    m = re.height
    factor = rng.uniform(0.9, 1.1, m)
    new_price = np.round(re["systemSellPrice"].to_numpy() * factor, 2)
    re = re.with_columns(
        systemSellPrice=pl.Series(new_price),
        systemBuyPrice=pl.Series(new_price),
        netImbalanceVolume=pl.col("netImbalanceVolume") * pl.Series(rng.uniform(0.8, 1.2, m)),
        created=pl.col("created") + pl.Series(rng.integers(2 * DAY, 12 * DAY, m)),
        reissue=pl.lit(True),
    )
    out = ctx.landing(PRICES_ID)
    api = df.filter(pl.col("day") < api_end)
    for month in sorted(set(api["month"].to_list())):
        part = api.filter(pl.col("month") == month)
        extra = re.filter(pl.col("month") == month)
        rows = pl.concat([part, extra]) if extra.height else part
        path = out / f"system_prices_api_{month}.csv"
        ctx.record(PRICES_ID, path, write_csv(_render(rows, "api"), path), encoding="api",
                   superseded=extra.height)  # fmt: skip
    export = df.filter(pl.col("day") >= export_start)
    for month in sorted(set(export["month"].to_list())):
        part = export.filter(pl.col("month") == month)
        path = out / f"system_prices_export_{month}.csv"
        ctx.record(PRICES_ID, path, write_csv(_render(part, "export"), path), encoding="website_export",
                   overlaps_api=bool(part["day"].min() < api_end))  # fmt: skip


def boalf(ctx: Ctx) -> None:
    rng = ctx.rng("boalf")
    tb, fleet = ctx.tb, ctx.fleet
    bm = np.nonzero(fleet.has("bm_unit"))[0]
    names = list(fleet.col("bm_unit")[bm])
    caps = list(fleet.col("capacity_mw")[bm].astype(float))
    is_batt = list(fleet.col("asset_type")[bm] == "battery")
    asset = list(bm)
    ext_names, _c, ext_tech = _external_pool()
    for nm, tech in zip(ext_names, ext_tech, strict=True):
        if nm.startswith("T_"):
            names.append(nm)
            caps.append(float(rng.uniform(100, 400)))
            is_batt.append(tech == "Batteries")
            asset.append(-1)
    names_a = np.array(names)
    caps_a = np.array(caps)
    batt = np.array(is_batt)
    asset_a = np.array(asset)
    n_u = names_a.size
    slot = 240 * 60
    n_slots = (tb.range_end - tb.range_start) // slot - 1
    unit_offset = 60 * rng.integers(0, 240, n_u)  # each unit's slot grid is shifted: some cross midnight
    p = np.where(batt, 0.35, 0.18)
    hit = rng.random((n_u, n_slots)) < p[:, None]
    if n_slots > 0 and not hit.any():
        hit[0, 0] = True
    ui, si = np.nonzero(hit)
    n = ui.size
    dur = rng.integers(10, 121, n)
    t0 = (
        tb.range_start + unit_offset[ui] + slot * si + 60 * (rng.random(n) * (240 - dur - 5)).astype(np.int64)
    )
    t1 = t0 + 60 * dur
    t1 = np.minimum(t1, tb.range_end - 60)
    cap = caps_a[ui]
    sign = np.where(batt[ui], np.where(rng.random(n) < 0.5, -1, 1), 1)
    base = np.where(batt[ui] | (asset_a[ui] >= 0), 0, np.round(cap * rng.uniform(0.3, 0.7, n)))
    target = np.where(
        batt[ui] | (asset_a[ui] >= 0), sign * np.maximum(np.round(cap * rng.uniform(0.2, 1.0, n)), 1),
        np.round(cap * rng.uniform(0.1, 1.0, n)),
    )  # fmt: skip
    target = np.where(target == base, base + 1, target)
    r1 = np.minimum(rng.integers(1, 6, n), dur // 3)
    r2 = np.minimum(rng.integers(1, 6, n), dur // 3)
    pieces = rng.integers(1, 4, n)
    # acceptance numbers increase with time per unit
    order = np.lexsort((t0, ui))
    rank = np.empty(n, dtype=np.int64)
    first_of_unit = np.r_[0, np.nonzero(np.diff(ui[order]))[0] + 1]
    counts = np.diff(np.r_[first_of_unit, n])
    rank[order] = np.arange(n) - np.repeat(first_of_unit, counts)
    # Each unit's own block of acceptance numbers; fleets of more than 80 BM units (thousands of
    # assets) draw from more blocks, smaller ones keep the original draw (same seed, same bytes).
    blocks = np.arange(10_000, max(90_000, 10_000 + 2000 * n_u), 1000)
    unit_base = rng.choice(blocks, n_u, replace=False)
    acc_no = unit_base[ui] + rank
    acc_time = t0 - 60 * rng.integers(2, 31, n)
    so_flag = np.where(rng.random(n) < 0.1, "True", "False")
    # segments: ramp up, flat part split in 1-3 pieces, ramp down
    seg_ev, seg_t0, seg_t1, seg_l0, seg_l1 = [], [], [], [], []
    flat0 = t0 + 60 * r1
    flat1 = t1 - 60 * r2
    (
        seg_ev.append(np.arange(n)),
        seg_t0.append(t0),
        seg_t1.append(flat0),
        seg_l0.append(base),
        seg_l1.append(target),
    )
    cut1 = flat0 + 60 * ((flat1 - flat0) // 60 * rng.uniform(0.2, 0.5, n)).astype(np.int64)
    cut2 = flat0 + 60 * ((flat1 - flat0) // 60 * rng.uniform(0.55, 0.85, n)).astype(np.int64)
    b1 = np.where(pieces >= 2, cut1, flat1)
    b2 = np.where(pieces >= 3, cut2, flat1)
    for a, b in ((flat0, b1), (b1, b2), (b2, flat1)):
        keep = b > a
        seg_ev.append(np.nonzero(keep)[0]), seg_t0.append(a[keep]), seg_t1.append(b[keep])
        seg_l0.append(target[keep]), seg_l1.append(target[keep])
    (
        seg_ev.append(np.arange(n)),
        seg_t0.append(flat1),
        seg_t1.append(t1),
        seg_l0.append(target),
        seg_l1.append(base),
    )
    ev = np.concatenate(seg_ev)
    s0, s1 = np.concatenate(seg_t0), np.concatenate(seg_t1)
    l0, l1 = np.concatenate(seg_l0), np.concatenate(seg_l1)
    keep = s1 > s0
    ev, s0, s1, l0, l1 = ev[keep], s0[keep], s1[keep], l0[keep], l1[keep]
    # physical response of fleet units (their baseline is 0 MW)
    fleet_seg = asset_a[ui[ev]] >= 0
    ratio = rng.uniform(0.97, 1.02, n)[ev]
    ctx.add_energy(asset_a[ui[ev]][fleet_seg], s0[fleet_seg], s1[fleet_seg],
                   (l0 * ratio)[fleet_seg], (l1 * ratio)[fleet_seg])  # fmt: skip
    d_from, p_from = tb.settlement_of(s0)
    _d_to, p_to = tb.settlement_of(s1)
    dates = np.array([tb.date(d).isoformat() for d in range(tb.days + 1)])
    unit = names_a[ui[ev]]
    df = pl.DataFrame(
        {
            "dataset": "BOALF",
            "settlementDate": dates[d_from],
            "settlementPeriodFrom": p_from.astype(str),
            "settlementPeriodTo": p_to.astype(str),
            "t0": s0,
            "t1": s1,
            "levelFrom": l0.astype(np.int64).astype(str),
            "levelTo": l1.astype(np.int64).astype(str),
            "acc": acc_no[ev],
            "acceptanceTime": acc_time[ev],
            "deemedBoFlag": "False",
            "soFlag": so_flag[ev],
            "amendmentFlag": "ORI",
            "storFlag": "False",
            "rrFlag": "False",
            "nationalGridBmUnit": np.array([u[2:] for u in unit.tolist()]) if unit.size else unit,
            "bmUnit": unit,
        }
    ).with_columns(month=pl.col("settlementDate").str.slice(0, 7))
    out = ctx.landing(BOALF_ID)
    for month in sorted(set(df["month"].to_list())):
        part = df.filter(pl.col("month") == month).sort(["t0", "t1", "acc", "bmUnit"], descending=True)
        frame = part.select(
            "dataset", "settlementDate", "settlementPeriodFrom", "settlementPeriodTo",
            fmt_utc_z("t0").alias("timeFrom"), fmt_utc_z("t1").alias("timeTo"), "levelFrom", "levelTo",
            pl.col("acc").cast(pl.String).alias("acceptanceNumber"), fmt_utc_z("acceptanceTime"),
            "deemedBoFlag", "soFlag", "amendmentFlag", "storFlag", "rrFlag", "nationalGridBmUnit", "bmUnit",
        )  # fmt: skip
        path = out / f"boalf_{month}.csv"
        wraps = int(
            ((part["settlementPeriodTo"].cast(pl.Int64)) < part["settlementPeriodFrom"].cast(pl.Int64)).sum()
        )
        ctx.record(BOALF_ID, path, write_csv(frame, path), sorted="newest_first", period_wraps=wraps)
