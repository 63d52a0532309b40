"""Dispatch instructions from SO systems (our JSON Lines format): NESO reserve utilisation and the
non-UKPN DNOs' flexibility instructions. UKPN's dispatches reach SFE through its open-data publication."""

from __future__ import annotations

import numpy as np
import polars as pl

from sfe.generate.context import Ctx
from sfe.generate.fleet import company_name
from sfe.generate.timebase import fmt_local_iso
from sfe.generate.writers import write_jsonl

SOURCE_ID = "so_dispatch_instructions"
FIELDS = (
    "instruction_id", "issued_at", "system_operator", "product", "contract_ref", "competition_id",
    "participant", "asset_ref", "direction", "setpoint", "unit", "start", "end", "status",
    "reason_code", "rationale", "utilisation_price_gbp_per_mwh", "merit_order_rank", "cheaper_offers_skipped",
)  # fmt: skip
COLUMNS = (
    "instruction_id", "operator_id", "product", "contract_ref", "competition_id", "participant_id", "unit_ref",
    "direction", "setpoint_mw", "capacity_mw", "start", "end", "issued", "status", "reason_code", "rationale",
    "util_price", "merit_order_rank", "cheaper_offers_skipped", "version", "final",
)  # fmt: skip


def write(ctx: Ctx, dno: pl.DataFrame, neso: pl.DataFrame) -> pl.DataFrame:
    tb = ctx.tb
    parts = [
        df.select(COLUMNS).with_columns(pl.col("version").cast(pl.Int64)) for df in (dno, neso) if df.height
    ]
    if not parts:
        return pl.DataFrame()
    allv = pl.concat(parts, how="vertical_relaxed")
    local = allv["operator_id"].to_numpy() != "neso"

    def offs(col: str) -> pl.Series:
        return pl.Series(np.where(local, tb.offset(allv[col].to_numpy()), 0))

    allv = allv.with_columns(o_start=offs("start"), o_end=offs("end"), o_issued=offs("issued")).with_columns(
        start_s=fmt_local_iso("start", "o_start"),
        end_s=fmt_local_iso("end", "o_end"),
        issued_s=fmt_local_iso("issued", "o_issued"),
        quarter=pl.concat_str(
            [
                pl.from_epoch(pl.col("start") + pl.col("o_start"), time_unit="s").dt.year().cast(pl.String),
                pl.lit("Q"),
                pl.from_epoch(pl.col("start") + pl.col("o_start"), time_unit="s")
                .dt.quarter()
                .cast(pl.String),
            ]
        ),
    )
    out = ctx.landing(SOURCE_ID)
    for (op, quarter), part in sorted(allv.group_by(["operator_id", "quarter"]), key=lambda kv: kv[0]):
        part = part.sort(["issued", "instruction_id", "version"])
        so = op.upper()
        records = []
        for r in part.iter_rows(named=True):
            small = op != "neso" and r["capacity_mw"] < 1.0
            setpoint = round(r["setpoint_mw"] * 1000, 1) if small else round(r["setpoint_mw"], 3)
            records.append(
                {
                    "instruction_id": r["instruction_id"],
                    "issued_at": r["issued_s"],
                    "system_operator": so,
                    "product": r["product"],
                    "contract_ref": r["contract_ref"],
                    "competition_id": r["competition_id"],
                    "participant": company_name(r["participant_id"]),
                    "asset_ref": r["unit_ref"],
                    "direction": r["direction"],
                    "setpoint": float(setpoint),
                    "unit": "kW" if small else "MW",
                    "start": r["start_s"],
                    "end": r["end_s"],
                    "status": r["status"],
                    "reason_code": r["reason_code"],
                    "rationale": r["rationale"],
                    "utilisation_price_gbp_per_mwh": float(r["util_price"]),
                    "merit_order_rank": int(r["merit_order_rank"]),
                    "cheaper_offers_skipped": int(r["cheaper_offers_skipped"]),
                }
            )
        path = out / f"{op}_dispatch_instructions_{quarter}.jsonl"
        n = write_jsonl(records, path)
        superseded = int((~part["final"]).sum())
        ctx.record(SOURCE_ID, path, n, superseded=superseded,
                   cancelled=int((part["status"] == "cancelled").sum()))  # fmt: skip
    return allv
