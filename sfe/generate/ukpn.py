"""UK Power Networks open-data 'flexibility dispatches' publications (real format, CSV with BOM)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from sfe.generate.context import Ctx
from sfe.generate.fleet import DEMAND, UKPN_TECHNOLOGY, company_name
from sfe.generate.timebase import HALF_HOUR, fmt_local_iso
from sfe.generate.writers import float_expr, write_csv

SOURCE_ID = "ukpn_flexibility_dispatches"
HEADER = (
    "company_name,fu_id,zone,product,start_time_local,end_time_local,availability_mw_req,"
    "utilisation_mw_req,availability_price,utilisation_price,availability_mwh_req,utilisation_mwh_req,"
    "technology,dispatch_type,hours_requested,dispatch_method,start_time_utc,end_time_utc,time_utc"
).split(",")
HISTORIC_UNTIL = dt.date(2025, 4, 1)  # before this UKPN still published the old product names
HISTORIC = ("sustain", "secure", "dynamic", "restore")
MODERN = ("day_ahead", "ltu", "sa", "pr")
AVAILABILITY_PRODUCTS = ("sa", "secure")
BASE_P = {"battery": 0.10, "ev_charging": 0.13, "v2g": 0.10, "heat_pump": 0.11,
          "ci_demand_response": 0.10, "small_generation": 0.07}  # fmt: skip


@dataclass
class UkpnResult:
    rows: pl.DataFrame  # canonical published rows (no re-release duplicates), with asset_idx, epochs


def _spelling(product_key: str, file_index: int, rerelease: bool = False) -> str:
    flip = file_index % 2 == 1
    if rerelease:
        flip = not flip
    return {
        "day_ahead": "Day-Ahead" if flip else "Day Ahead",
        "ltu": "Long Term Utilisation" if (file_index % 3 == 2) != rerelease else "Long-Term Utilisation",
        "sa": "Scheduled Availability",
        "pr": "Peak Reduction",
        "sustain": "Sustain",
        "secure": "Secure",
        "dynamic": "Dynamic",
        "restore": "Restore",
    }[product_key]


def _company(participant_id: str, file_index: int, rerelease: bool = False) -> str:
    """Company spelling of one publication: some publications change the casing."""
    variant = company_name(participant_id, SOURCE_ID)
    plain = company_name(participant_id)
    if variant == plain:
        return plain
    use_variant = (file_index % 2 == 1) != rerelease
    return variant if use_variant else plain


def generate(ctx: Ctx) -> UkpnResult:
    rng = ctx.rng("ukpn")
    tb, fleet = ctx.tb, ctx.fleet
    a_idx = np.nonzero(fleet.has("ukpn_fu_id"))[0]
    types = fleet.col("asset_type")
    caps = fleet.col("capacity_mw").astype(float)
    days = np.arange(tb.days)
    n_a = a_idx.size
    # per-asset behaviour
    util_base = np.clip(np.round(150 * np.exp(0.8 * rng.standard_normal(n_a))), 8, 600)
    reliability = np.clip(rng.normal(0.98, 0.04, n_a), 0.8, 1.05)

    base = np.array([BASE_P.get(types[i], 0.08) for i in a_idx])
    growth = 0.55 + 0.55 * ctx.years_since_reference(days)
    season = 0.5 + 0.9 * ctx.winter(days)
    weekday = np.where(ctx.weekday(days) < 5, 1.0, 0.35)
    p = base[:, None] * (growth * season * weekday)[None, :]
    hit = rng.random((n_a, tb.days)) < np.clip(p, 0, 0.9)
    if n_a and not hit.any():
        hit[0, 0] = True  # tiny runs still publish something
    ai, di = np.nonzero(hit)
    n = ai.size
    asset = a_idx[ai]
    morning = rng.random(n) < 0.2
    slot = np.where(morning, rng.integers(0, 4, n), rng.integers(0, 8, n))
    start_min = np.where(morning, 7 * 60, 16 * 60) + 30 * slot
    latest_end = np.where(morning, 11 * 60, 23 * 60)
    max_slots = (latest_end - start_min) // 30
    dur = np.minimum(rng.integers(1, 7, n), max_slots)
    local_start = tb.day_local_epoch(di) + 60 * start_min
    start = tb.local_to_utc(local_start)
    end = start + HALF_HOUR * dur

    dates = np.array([tb.date(d) for d in range(tb.days)])
    historic = np.array([d < HISTORIC_UNTIL for d in dates])[di]
    prod = np.where(
        historic,
        rng.choice(HISTORIC, n, p=[0.45, 0.25, 0.2, 0.1]),
        rng.choice(MODERN, n, p=[0.6, 0.12, 0.18, 0.10]),
    )
    mw = np.maximum(np.round(caps[asset] * rng.uniform(0.3, 1.0, n), 3), 0.001)
    uprice = np.round(util_base[ai] * rng.uniform(0.9, 1.1, n))
    aprice = np.round(rng.uniform(3, 35, n), 2)
    is_avail = np.isin(prod, AVAILABILITY_PRODUCTS)

    events = pl.DataFrame(
        {
            "event": np.arange(n),
            "asset_idx": asset,
            "product_key": prod,
            "start": start,
            "end": end,
            "mw": mw,
            "uprice": uprice,
            "aprice": aprice,
            "is_avail": is_avail,
            "rel": reliability[ai],
        }
    )
    # availability rows for Scheduled Availability / Secure
    avail_rows = events.filter(pl.col("is_avail")).select(
        "event", "asset_idx", "product_key", "start", "end",
        pl.col("mw").alias("avail_mw"), pl.lit(0.0).alias("util_mw"),
        pl.col("aprice").alias("avail_price"), pl.lit(0.0).alias("util_price"),
        pl.lit("availability").alias("row_kind"), "rel",
    )  # fmt: skip
    # utilisation rows: every non-availability event, and ~55% of availability windows get called
    called = events.filter(pl.col("is_avail"))
    call_mask = rng.random(called.height) < 0.55
    call_len = rng.integers(1, 7, called.height)
    called = called.filter(pl.Series(call_mask)).with_columns(
        end=pl.min_horizontal(pl.col("end"), pl.col("start") + HALF_HOUR * pl.Series(call_len[call_mask]))
    )
    util_events = pl.concat([events.filter(~pl.col("is_avail")), called])
    # some FSPs publish per half hour (one row per settlement period of the dispatch)
    owners = fleet.col("owner_participant_id")
    split_style = np.array([fleet.fsp(o).ukpn_style == "site" for o in owners])
    util_events = util_events.with_columns(split=pl.Series(split_style[util_events["asset_idx"].to_numpy()]))
    n_split = ((util_events["end"] - util_events["start"]) // HALF_HOUR).to_numpy()
    reps = np.where(util_events["split"].to_numpy(), n_split, 1)
    util_rows = util_events.select(pl.all().gather(np.repeat(np.arange(util_events.height), reps)))
    within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    is_split = util_rows["split"].to_numpy()
    new_start = util_rows["start"].to_numpy() + np.where(is_split, within * HALF_HOUR, 0)
    new_end = np.where(is_split, new_start + HALF_HOUR, util_rows["end"].to_numpy())
    util_rows = util_rows.with_columns(start=pl.Series(new_start), end=pl.Series(new_end)).select(
        "event", "asset_idx", "product_key", "start", "end",
        pl.lit(0.0).alias("avail_mw"), pl.col("mw").alias("util_mw"),
        pl.lit(0.0).alias("avail_price"), pl.col("uprice").alias("util_price"),
        pl.lit("utilisation").alias("row_kind"), "rel",
    )  # fmt: skip
    rows = pl.concat([avail_rows, util_rows])
    # delivery: mostly 90-105 %, some under-delivery
    m = rows.height
    ratio = np.clip(rng.normal(rows["rel"].to_numpy(), 0.04), 0.6, 1.08)
    under = rng.random(m) < 0.05
    ratio = np.where(under, rng.uniform(0.3, 0.8, m), ratio)
    ratio = np.where(rows["row_kind"].to_numpy() == "utilisation", np.round(ratio, 4), 0.0)
    rows = rows.with_columns(ratio=pl.Series(ratio)).drop("rel")

    hours = (rows["end"] - rows["start"]).to_numpy() / 3600
    rows = rows.with_columns(
        hours=pl.Series(hours),
        avail_mwh=pl.Series(np.round(rows["avail_mw"].to_numpy() * hours, 2)),
        util_mwh=pl.Series(np.round(rows["util_mw"].to_numpy() * hours, 2)),
        offset=pl.Series(tb.offset(rows["start"].to_numpy())),
        end_offset=pl.Series(tb.offset(rows["end"].to_numpy())),
        participant_id=pl.Series(owners[rows["asset_idx"].to_numpy()]),
        fu_id=pl.Series(fleet.col("ukpn_fu_id")[rows["asset_idx"].to_numpy()]),
        zone=pl.Series(fleet.col("flex_zone")[rows["asset_idx"].to_numpy()]),
        asset_type=pl.Series(types[rows["asset_idx"].to_numpy()]),
    )
    local_date = (rows["start"].to_numpy() + rows["offset"].to_numpy()) // 86400
    quarter = (
        np.array(
            [
                f"{d.year}Q{(d.month - 1) // 3 + 1}"
                for d in (dt.date(1970, 1, 1) + dt.timedelta(days=int(x)) for x in local_date)
            ]
        )
        if m
        else np.array([], dtype=str)
    )
    rows = rows.with_columns(publication=pl.Series(quarter, dtype=pl.String)).sort(
        ["start", "asset_idx", "row_kind", "end"], descending=[True, False, False, False]
    )
    # physical response of utilisation rows
    util = rows.filter(pl.col("row_kind") == "utilisation")
    ctx.add_energy(
        util["asset_idx"], util["start"], util["end"], util["util_mw"].to_numpy() * util["ratio"].to_numpy()
    )
    _write(ctx, rows)
    return UkpnResult(rows=rows)


def _format(rows: pl.DataFrame, file_index: int, rerelease: bool = False) -> pl.DataFrame:
    pids = rows["participant_id"].to_list()
    keys = rows["product_key"].to_list()
    spell_c = {p: _company(p, file_index, rerelease) for p in set(pids)}
    spell_p = {k: _spelling(k, file_index, rerelease) for k in set(keys)}
    atypes = rows["asset_type"].to_list()
    return rows.select(
        pl.Series("company_name", [spell_c[p] for p in pids], dtype=pl.String),
        pl.col("fu_id"),
        pl.col("zone"),
        pl.Series("product", [spell_p[k] for k in keys], dtype=pl.String),
        fmt_local_iso("start", "offset").alias("start_time_local"),
        fmt_local_iso("end", "end_offset").alias("end_time_local"),
        float_expr("avail_mw").alias("availability_mw_req"),
        float_expr("util_mw").alias("utilisation_mw_req"),
        float_expr("avail_price").alias("availability_price"),
        float_expr("util_price").alias("utilisation_price"),
        float_expr("avail_mwh").alias("availability_mwh_req"),
        float_expr("util_mwh").alias("utilisation_mwh_req"),
        pl.Series("technology", [UKPN_TECHNOLOGY[t] for t in atypes], dtype=pl.String),
        pl.Series(
            "dispatch_type",
            ["demand_turn_down" if t in DEMAND else "generation_turn_up" for t in atypes],
            dtype=pl.String,
        ),
        float_expr("hours").alias("hours_requested"),
        pl.lit("epex").alias("dispatch_method"),
        pl.concat_str(
            [pl.from_epoch("start", time_unit="s").dt.strftime("%Y-%m-%d %H:%M:%S"), pl.lit("+00:00")]
        ).alias("start_time_utc"),
        pl.concat_str(
            [pl.from_epoch("end", time_unit="s").dt.strftime("%Y-%m-%d %H:%M:%S"), pl.lit("+00:00")]
        ).alias("end_time_utc"),
        pl.concat_str(
            [pl.from_epoch("start", time_unit="s").dt.strftime("%H:%M:%S"), pl.lit("+00:00")]
        ).alias("time_utc"),
    )


def _write(ctx: Ctx, rows: pl.DataFrame) -> None:
    out = ctx.landing(SOURCE_ID)
    pubs = sorted(set(rows["publication"].to_list()))
    for i, pub in enumerate(pubs):
        part = rows.filter(pl.col("publication") == pub)
        df = _format(part, i)
        assert df.columns == HEADER
        path = out / f"ukpn_flexibility_dispatches_{pub}.csv"
        offsets = set(part["offset"].to_list())
        ctx.record(SOURCE_ID, path, write_csv(df, path, bom=True), publication=pub,
                   utc_offsets=sorted(fmt_offset_map(o) for o in offsets))  # fmt: skip
    if pubs:
        # the publisher re-released part of one publication with other spellings
        i = len(pubs) // 2
        part = rows.filter(pl.col("publication") == pubs[i])
        if part.height:
            cut = part["start"].quantile(0.6, interpolation="lower")
            again = part.filter(pl.col("start") >= cut)
            df = _format(again, i, rerelease=True)
            path = out / f"ukpn_flexibility_dispatches_{pubs[i]}_rerelease.csv"
            ctx.record(SOURCE_ID, path, write_csv(df, path, bom=True), publication=f"{pubs[i]} re-release",
                       exact_duplicates=again.height,
                       duplicates_of=f"landing/{SOURCE_ID}/ukpn_flexibility_dispatches_{pubs[i]}.csv")  # fmt: skip


def fmt_offset_map(offset: int) -> str:
    return "+01:00" if offset == 3600 else "+00:00"
