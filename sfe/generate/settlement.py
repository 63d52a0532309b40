"""Settlement statements (our format): one line per availability window or dispatch, per FSP and unit,
consistent with the auction results, dispatches and metering; some lines revised (revision 2)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from sfe.generate.context import Ctx
from sfe.generate.fleet import company_name
from sfe.generate.timebase import fmt_utc_z
from sfe.generate.writers import float_expr, write_csv, write_jsonl

SOURCE_ID = "so_settlement_statements"
COLUMNS = [
    "statement_id", "revision", "statement_date", "system_operator", "participant", "product", "line_id",
    "line_type", "contract_ref", "dispatch_ref", "asset_ref", "asset_ref_type", "mpan", "direction",
    "period_start_utc", "period_end_utc", "availability_mw", "availability_hours",
    "availability_price_gbp_per_mw_h", "availability_payment_gbp", "instructed_mwh", "delivered_mwh",
    "utilisation_price_gbp_per_mwh", "utilisation_payment_gbp", "penalty_gbp", "total_gbp", "currency",
]  # fmt: skip
FLOATS = [
    "availability_mw", "availability_hours", "availability_price_gbp_per_mw_h", "availability_payment_gbp",
    "instructed_mwh", "delivered_mwh", "utilisation_price_gbp_per_mwh", "utilisation_payment_gbp",
    "penalty_gbp", "total_gbp",
]  # fmt: skip
CSV_SOS = ("neso", "ukpn")  # the others send JSON Lines
PENALTY_THRESHOLD = 0.9
PENALTY_RATE = 0.5

_SCHEMA = {
    "operator_id": pl.String, "product": pl.String, "line_type": pl.String, "contract_ref": pl.String,
    "dispatch_ref": pl.String, "asset_idx": pl.Int64, "asset_ref_type": pl.String, "direction": pl.String,
    "start": pl.Int64, "end": pl.Int64, "availability_mw": pl.Float64, "availability_price": pl.Float64,
    "instructed_mw": pl.Float64, "ratio": pl.Float64, "util_price": pl.Float64,
}  # fmt: skip


def _money(x: np.ndarray) -> np.ndarray:
    r = np.round(x + 0.0, 2)
    return np.where(r == 0, 0.0, r)


def _lines(ctx: Ctx, eac_fleet, neso_instr, ukpn_rows, dno_instr, dno_avail) -> pl.DataFrame:
    parts = []
    if eac_fleet.height:
        parts.append(
            eac_fleet.select(
                operator_id=pl.lit("neso"),
                product=pl.col("product"),
                line_type=pl.lit("availability"),
                contract_ref=pl.concat_str(
                    [pl.lit("EAC-"), pl.col("auctionID").cast(pl.String), pl.lit("-"), pl.col("product")]
                ),
                dispatch_ref=pl.lit(None, dtype=pl.String),
                asset_idx="asset_idx",
                asset_ref_type=pl.lit("eac_unit_name"),
                direction=pl.when(
                    pl.col("product").str.ends_with("L") | pl.col("product").str.starts_with("N")
                )
                .then(pl.lit("down"))
                .otherwise(pl.lit("up")),
                start="start",
                end="end",
                availability_mw="executed_mw",
                availability_price="clearing_price",
                instructed_mw=pl.lit(None, dtype=pl.Float64),
                ratio=pl.lit(None, dtype=pl.Float64),
                util_price=pl.lit(None, dtype=pl.Float64),
            )  # fmt: skip
        )
    for instr, ref_type in ((neso_instr, "eac_unit_name"), (dno_instr, "competition_asset_ref")):
        if instr.height == 0:
            continue
        fin = instr.filter(pl.col("final") & (pl.col("status") == "instructed"))
        parts.append(
            fin.select(
                "operator_id",
                "product",
                line_type=pl.lit("utilisation"),
                contract_ref="contract_ref",
                dispatch_ref="instruction_id",
                asset_idx="asset_idx",
                asset_ref_type=pl.lit(ref_type),
                direction="direction",
                start="start",
                end="end",
                availability_mw=pl.lit(None, dtype=pl.Float64),
                availability_price=pl.lit(None, dtype=pl.Float64),
                instructed_mw="setpoint_mw",
                ratio="ratio",
                util_price="util_price",
            )  # fmt: skip
        )
    if dno_avail.height:
        parts.append(
            dno_avail.select(
                "operator_id",
                "product",
                line_type=pl.lit("availability"),
                contract_ref="contract_ref",
                dispatch_ref=pl.lit(None, dtype=pl.String),
                asset_idx="asset_idx",
                asset_ref_type=pl.lit("competition_asset_ref"),
                direction=pl.lit("up"),
                start="start",
                end="end",
                availability_mw="mw",
                availability_price="price",
                instructed_mw=pl.lit(None, dtype=pl.Float64),
                ratio=pl.lit(None, dtype=pl.Float64),
                util_price=pl.lit(None, dtype=pl.Float64),
            )  # fmt: skip
        )
    if ukpn_rows.height:
        from sfe.generate.ukpn import _spelling

        prod = pl.col("product_key").replace_strict(
            {k: _spelling(k, 0) for k in set(ukpn_rows["product_key"].to_list())}
        )
        is_av = pl.col("row_kind") == "availability"
        parts.append(
            ukpn_rows.select(
                operator_id=pl.lit("ukpn"),
                product=prod,
                line_type="row_kind",
                contract_ref=pl.lit(None, dtype=pl.String),
                dispatch_ref=pl.lit(None, dtype=pl.String),
                asset_idx="asset_idx",
                asset_ref_type=pl.lit("ukpn_fu_id"),
                direction=pl.lit("up"),
                start="start",
                end="end",
                availability_mw=pl.when(is_av).then(pl.col("avail_mw")),
                availability_price=pl.when(is_av).then(pl.col("avail_price")),
                instructed_mw=pl.when(~is_av).then(pl.col("util_mw")),
                ratio=pl.when(~is_av).then(pl.col("ratio")),
                util_price=pl.when(~is_av).then(pl.col("util_price")),
            )  # fmt: skip
        )
    parts = [p.cast(_SCHEMA) for p in parts]  # type: ignore[arg-type]
    return pl.concat(parts) if parts else pl.DataFrame(schema=_SCHEMA)


def generate(ctx: Ctx, eac_fleet, neso_instr, ukpn_rows, dno_instr, dno_avail) -> pl.DataFrame:
    rng = ctx.rng("settlement")
    tb, fleet = ctx.tb, ctx.fleet
    lines = _lines(ctx, eac_fleet, neso_instr, ukpn_rows, dno_instr, dno_avail)
    n = lines.height
    hours = (lines["end"] - lines["start"]).to_numpy() / 3600
    amw = lines["availability_mw"].to_numpy()
    aprice = lines["availability_price"].to_numpy()
    is_av = lines["line_type"].to_numpy() == "availability"
    instructed = np.round(lines["instructed_mw"].to_numpy() * hours, 3)
    delivered = np.round(instructed * lines["ratio"].to_numpy(), 3)
    uprice = lines["util_price"].to_numpy()

    # revisions: the first statement used estimated metering or a wrong declaration
    revise = rng.random(n) < np.where(is_av, 0.01, 0.03)
    wrong_delivered = np.round(delivered * rng.uniform(0.85, 1.15, n), 3)
    wrong_mw = np.round(amw * rng.uniform(0.7, 0.95, n), 3)

    def amounts(a_mw, deliv):
        a_pay = np.where(is_av, _money(a_mw * aprice * hours), 0.0)
        u_pay = np.where(is_av, 0.0, _money(np.minimum(deliv, instructed) * uprice))
        short = np.where(is_av, False, deliv < PENALTY_THRESHOLD * instructed)
        pen = np.where(short, _money((instructed - deliv) * uprice * PENALTY_RATE), 0.0)
        return a_pay, u_pay, pen, _money(a_pay + u_pay - pen)

    owners = fleet.col("owner_participant_id")
    a_idx = lines["asset_idx"].to_numpy()
    ref_cols = {"eac_unit_name": fleet.col("eac_unit_name"), "competition_asset_ref": fleet.col("competition_asset_ref"),
                "ukpn_fu_id": fleet.col("ukpn_fu_id")}  # fmt: skip
    ref_type = lines["asset_ref_type"].to_numpy()
    asset_ref = np.empty(n, dtype=object)
    for t, col in ref_cols.items():
        m = ref_type == t
        asset_ref[m] = col[a_idx[m]]
    offs = tb.offset(lines["start"].to_numpy())
    local_month = (
        pl.from_epoch(pl.Series(lines["start"].to_numpy() + offs), time_unit="s")
        .dt.strftime("%Y-%m")
        .to_numpy()
    )
    base = lines.with_columns(
        participant_id=pl.Series(owners[a_idx]),
        asset_ref=pl.Series(asset_ref.astype(str)),
        mpan=pl.Series(fleet.col("mpan")[a_idx]),
        month=pl.Series(local_month),
        hours=pl.Series(np.round(hours, 4)),
        instructed=pl.Series(np.where(is_av, np.nan, instructed)),
        revise=pl.Series(revise),
    ).with_columns(
        statement_id=pl.concat_str(
            [
                pl.col("operator_id").str.to_uppercase(),
                pl.lit("-ST-"),
                pl.col("month").str.replace("-", ""),
                pl.lit("-"),
                pl.col("participant_id").str.slice(4),
            ]  # fmt: skip
        )
    )
    base = base.with_row_index("row").sort(["statement_id", "start", "asset_ref", "line_type", "row"])
    base = base.with_columns(
        line_id=pl.concat_str(
            [pl.lit("L"), (pl.int_range(pl.len()).over("statement_id") + 1).cast(pl.String).str.zfill(6)]
        )
    ).sort("row")
    true_amounts = amounts(amw, delivered)
    first_amounts = amounts(np.where(revise, wrong_mw, amw), np.where(revise, wrong_delivered, delivered))

    def version(rev: int, a_mw, deliv, amts) -> pl.DataFrame:
        a_pay, u_pay, pen, tot = amts
        return base.with_columns(
            revision=pl.lit(rev),
            availability_mw=pl.Series(np.where(is_av, a_mw, np.nan)),
            delivered=pl.Series(np.where(is_av, np.nan, deliv)),
            availability_payment_gbp=pl.Series(a_pay),
            utilisation_payment_gbp=pl.Series(u_pay),
            penalty_gbp=pl.Series(pen),
            total_gbp=pl.Series(tot),
        )

    rev1 = version(
        1, np.where(revise, wrong_mw, amw), np.where(revise, wrong_delivered, delivered), first_amounts
    )
    rev2 = version(2, amw, delivered, true_amounts).filter(pl.col("revise"))
    _write(ctx, rev1, rev2)
    return pl.concat([rev1, rev2])


def _statement_date(month: str, later: int) -> str:
    y, m = int(month[:4]), int(month[5:7]) + later
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    return dt.date(y, m, 12).isoformat()


def _render(part: pl.DataFrame) -> pl.DataFrame:
    pids = part["participant_id"].to_list()
    names = {p: company_name(p) for p in set(pids)}
    is_av = pl.col("line_type") == "availability"
    nan_to_null = {c: pl.col(c).fill_nan(None) for c in ("availability_mw", "delivered", "instructed")}
    part = part.with_columns(**nan_to_null)
    return part.select(
        pl.col("statement_id"),
        pl.col("revision").cast(pl.Int64),
        pl.col("statement_date"),
        pl.col("operator_id").str.to_uppercase().alias("system_operator"),
        pl.Series("participant", [names[p] for p in pids], dtype=pl.String),
        "product", "line_id", "line_type", "contract_ref", "dispatch_ref", "asset_ref", "asset_ref_type", "mpan",
        "direction",
        fmt_utc_z("start").alias("period_start_utc"),
        fmt_utc_z("end").alias("period_end_utc"),
        pl.col("availability_mw"),
        pl.when(is_av).then(pl.col("hours")).alias("availability_hours"),
        pl.when(is_av).then(pl.col("availability_price")).alias("availability_price_gbp_per_mw_h"),
        "availability_payment_gbp",
        pl.col("instructed").alias("instructed_mwh"),
        pl.col("delivered").alias("delivered_mwh"),
        pl.when(~is_av).then(pl.col("util_price")).alias("utilisation_price_gbp_per_mwh"),
        "utilisation_payment_gbp", "penalty_gbp", "total_gbp",
        pl.lit("GBP").alias("currency"),
    )  # fmt: skip


def _write(ctx: Ctx, rev1: pl.DataFrame, rev2: pl.DataFrame) -> None:
    out = ctx.landing(SOURCE_ID)
    superseded = dict(rev2.group_by(["operator_id", "month"]).len().select(
        pl.concat_str(["operator_id", "month"], separator="|"), "len").iter_rows())  # fmt: skip
    for rev, frame in ((1, rev1), (2, rev2)):
        for (op, month), part in sorted(frame.group_by(["operator_id", "month"]), key=lambda kv: kv[0]):
            part = part.sort(["statement_id", "line_id"]).with_columns(
                statement_date=pl.lit(_statement_date(month, 1 if rev == 1 else 3))
            )
            df = _render(part)
            ext = "csv" if op in CSV_SOS else "jsonl"
            path = out / f"{op}_settlement_{month}_rev{rev}.{ext}"
            extra = {"revision": rev}
            if rev == 1:
                extra["superseded"] = int(superseded.get(f"{op}|{month}", 0))
            else:
                extra["supersedes_rows_of"] = f"landing/{SOURCE_ID}/{op}_settlement_{month}_rev1.{ext}"
            if ext == "csv":
                df = df.with_columns([float_expr(c).alias(c) for c in FLOATS])
                n = write_csv(df, path)
            else:
                n = write_jsonl(df.iter_rows(named=True), path)
            ctx.record(SOURCE_ID, path, n, **extra)
