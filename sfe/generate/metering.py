"""Half-hourly meter readings per MPAN (our CSV format): a baseline per asset type plus the physical
response to every dispatch the other generators recorded (Ctx.add_energy)."""

from __future__ import annotations

import numpy as np
import polars as pl

from sfe.generate.context import Ctx
from sfe.generate.timebase import HALF_HOUR

SOURCE_ID = "meter_readings"
HEADER = ["mpan", "interval_start_utc", "import_kwh", "export_kwh", "quality"]
EXPORTERS = ("battery", "v2g", "small_generation", "solar_pv")


def response_energy(ctx: Ctx) -> np.ndarray:
    """MWh per (asset, half hour) of all recorded dispatch responses (positive = up)."""
    tb = ctx.tb
    n_t = tb.n_periods
    rs, re_ = tb.range_start, tb.range_end
    a, t0, t1, m0, m1 = ctx.energy_segments()
    out = np.zeros(ctx.fleet.n * n_t)
    if a.size == 0:
        return out.reshape(ctx.fleet.n, n_t)
    keep = (t1 > rs) & (t0 < re_) & (t1 > t0)
    a, t0, t1, m0, m1 = a[keep], t0[keep], t1[keep], m0[keep], m1[keep]
    c0, c1 = np.maximum(t0, rs), np.minimum(t1, re_)
    b0 = (c0 - rs) // HALF_HOUR
    b1 = (c1 - 1 - rs) // HALF_HOUR
    nb = (b1 - b0 + 1).astype(np.int64)
    seg = np.repeat(np.arange(a.size), nb)
    within = np.arange(nb.sum()) - np.repeat(np.cumsum(nb) - nb, nb)
    b = b0[seg] + within
    lo = np.maximum(c0[seg], rs + b * HALF_HOUR)
    hi = np.minimum(c1[seg], rs + (b + 1) * HALF_HOUR)
    span = (t1 - t0)[seg].astype(float)
    slope = (m1 - m0)[seg] / span

    def level(x):
        return m0[seg] + slope * (x - t0[seg])

    energy = (level(lo) + level(hi)) / 2 * (hi - lo) / 3600.0
    out += np.bincount(a[seg] * n_t + b, weights=energy, minlength=out.size)
    return out.reshape(ctx.fleet.n, n_t)


def _gauss(h: np.ndarray, mu: float, sd: float) -> np.ndarray:
    d = np.minimum(np.abs(h - mu), 24 - np.abs(h - mu))
    return np.exp(-0.5 * (d / sd) ** 2)


def generate(ctx: Ctx, progress=None) -> None:
    rng = ctx.rng("metering")
    tb, fleet = ctx.tb, ctx.fleet
    response = response_energy(ctx)
    n_t = tb.n_periods
    start = tb.sp_start[:n_t]
    hour = tb.local_minute_of_day(start) / 60.0
    day = tb.sp_day[:n_t]
    winter = ctx.winter(day)
    weekday = ctx.weekday(day) < 5
    atype = fleet.col("asset_type")
    caps = fleet.col("capacity_mw").astype(float)
    order = np.argsort(fleet.col("mpan"), kind="stable")
    mpans = fleet.col("mpan")[order]
    months = pl.from_epoch(pl.Series(start), time_unit="s").dt.strftime("%Y-%m").to_numpy()
    bounds = np.r_[0, np.nonzero(months[1:] != months[:-1])[0] + 1, n_t]
    cloud_day = rng.uniform(0.25, 1.0, tb.days + 1)
    # shapes by type (MW per MW of capacity), per half hour
    shapes = {
        "ev_charging": 0.10 + 0.55 * _gauss(hour, 19.5, 2.2) + 0.35 * _gauss(hour, 2.5, 1.8),
        "heat_pump": (0.15 + 0.65 * winter)
        * (0.5 + 0.6 * _gauss(hour, 7.5, 1.5) + 0.6 * _gauss(hour, 18, 2.0)),
        "ci_demand_response": 1.3 * (0.35 + 0.55 * ((hour >= 8) & (hour < 18) & weekday)),
        "battery": np.full(n_t, 0.004),
        "v2g": 0.35 * _gauss(hour, 1.5, 2.2),
        "small_generation": np.full(n_t, 0.002),
        "solar_pv": np.zeros(n_t),
    }
    sunrise = 7.8 - 3.2 * (1 - winter)
    sunset = 16.2 + 5.0 * (1 - winter)
    sun = np.clip(np.sin(np.pi * (hour - sunrise) / (sunset - sunrise)), 0, None) * (
        (hour > sunrise) & (hour < sunset)
    )
    solar = sun * (0.55 + 0.3 * (1 - winter)) * cloud_day[day]
    for k in range(bounds.size - 1):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        t_m = hi - lo
        imp = np.empty((fleet.n, t_m))
        exp = np.zeros((fleet.n, t_m))
        noise = np.exp(0.12 * rng.standard_normal((fleet.n, t_m)))
        for i in range(fleet.n):
            imp[i] = shapes[atype[i]][lo:hi] * caps[i] * 0.5  # MWh per half hour
            if atype[i] == "solar_pv":
                exp[i] = solar[lo:hi] * caps[i] * 0.5
        imp *= noise
        exp *= noise
        r = response[:, lo:hi]
        is_exporter = np.isin(atype, EXPORTERS)[:, None]
        up = np.maximum(r, 0)
        down = np.maximum(-r, 0)
        demand_imp = np.maximum(imp, 1.1 * up) - up + down
        imp = np.where(is_exporter, imp + down, demand_imp)
        exp = np.where(is_exporter, exp + up, exp)
        imp_kwh = np.round(np.clip(imp, 0, None) * 1000, 3)[order]
        exp_kwh = np.round(np.clip(exp, 0, None) * 1000, 3)[order]
        q = rng.random((fleet.n, t_m))
        quality = np.where(q < 0.002, "missing", np.where(q < 0.012, "estimated", "actual"))
        est = rng.uniform(0.85, 1.15, (fleet.n, t_m))
        imp_kwh = np.where(quality == "estimated", np.round(imp_kwh * est, 3), imp_kwh)
        exp_kwh = np.where(quality == "estimated", np.round(exp_kwh * est, 3), exp_kwh)
        missing = (quality == "missing").ravel()
        df = pl.DataFrame(
            {
                "mpan": np.repeat(mpans, t_m),
                "interval_start_utc": pl.from_epoch(pl.Series(np.tile(start[lo:hi], fleet.n)), time_unit="s"),
                "import_kwh": imp_kwh.ravel(),
                "export_kwh": exp_kwh.ravel(),
                "quality": quality.ravel(),
            }
        )
        if missing.any():
            blank = pl.col("quality") == "missing"
            df = df.with_columns(
                pl.when(blank).then(None).otherwise(pl.col("import_kwh")).alias("import_kwh"),
                pl.when(blank).then(None).otherwise(pl.col("export_kwh")).alias("export_kwh"),
            )
        out = ctx.landing(SOURCE_ID)
        path = out / f"meter_readings_{months[lo]}.csv"
        df.write_csv(path, float_precision=3, datetime_format="%Y-%m-%dT%H:%M:%SZ", line_terminator="\n")
        ctx.record(SOURCE_ID, path, df.height, missing_readings=int(missing.sum()),
                   estimated_readings=int((quality == "estimated").sum()))  # fmt: skip
        if progress is not None:
            progress()
