"""Deterministic demo-data generator.

``generate(paths)`` writes source files for every SFE source into ``paths.landing_dir(source_id)``, in
exactly the formats of the real publishers (or of our documented formats, docs/sources/), all drawn
from one coherent fleet, plus the ground truth in ``paths.generated``: ``fleet.csv``,
``participants.csv``, ``planted_conflicts.csv`` and ``manifest.json`` (every file written, its data
rows and the duplicates/revisions/bad rows planted in it).

The same arguments always produce the same bytes (numpy ``default_rng`` streams derived from ``seed``;
no wall-clock time anywhere).
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from sfe import taxonomy

if TYPE_CHECKING:  # pragma: no cover
    import sfe.config

SOURCE_IDS = (
    "neso_eac_results",
    "neso_eac_unit_results",
    "ukpn_flexibility_dispatches",
    "elexon_system_prices",
    "elexon_boalf",
    "dno_flex_competitions",
    "so_dispatch_instructions",
    "so_settlement_statements",
    "meter_readings",
)
MANIFEST_VERSION = 1


@dataclass
class GeneratedFile:
    source_id: str
    path: Path
    rows: int
    extra: dict = field(default_factory=dict)  # planted counts etc. (also in manifest.json)


@dataclass
class GenerationSummary:
    files: list[GeneratedFile]
    assets: int
    participants: int = 0
    days: int = 0
    start: datetime.date | None = None
    end: datetime.date | None = None  # last generated settlement day (inclusive)
    seed: int = 0
    planted_conflicts: int = 0
    broken_files: list[dict] = field(default_factory=list)
    ground_truth: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    def rows_by_source(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.source_id] = out.get(f.source_id, 0) + f.rows
        return out


def _clean_previous(paths: sfe.config.LakePaths) -> None:
    """Remove the files a previous run listed in its manifest (never anything else)."""
    manifest = paths.generated / "manifest.json"
    if not manifest.exists():
        return
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for entry in old.get("files", []) + old.get("broken_files", []):
        p = paths.root / entry["path"]
        if p.is_file():
            p.unlink()


def generate(
    paths: sfe.config.LakePaths,
    *,
    assets: int = 300,
    days: int = 480,
    start: datetime.date = datetime.date(2025, 1, 1),
    seed: int = 42,
    broken: bool = False,
    progress: bool = True,
) -> GenerationSummary:
    """Write the demo landing files and ground truth; see the module docstring."""
    from tqdm import tqdm

    from sfe.generate import (
        broken as broken_mod,
    )
    from sfe.generate import (
        competitions,
        eac,
        elexon,
        instructions,
        metering,
        settlement,
        ukpn,
    )
    from sfe.generate.context import Ctx
    from sfe.generate.fleet import build_fleet
    from sfe.generate.timebase import TimeBase

    if days < 1:
        raise ValueError("days must be >= 1")
    t_begin = time.perf_counter()
    _clean_previous(paths)
    tb = TimeBase.build(start, days)
    fleet = build_fleet(assets, np.random.default_rng([seed, 1]))
    ctx = Ctx(paths=paths, tb=tb, fleet=fleet, seed=seed)
    months = len({tb.date(d).strftime("%Y-%m") for d in range(days)})
    steps = 9 + months + (1 if broken else 0)
    with tqdm(total=steps, desc="sfe generate", unit="step", disable=not progress) as bar:

        def step(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        u = ukpn.generate(ctx)
        step("ukpn dispatches")
        comp = competitions.generate(ctx)
        step("dno competitions")
        e = eac.generate(ctx, u.rows, comp.instructions)
        step("neso eac")
        instructions.write(ctx, comp.instructions, e.neso_instructions)
        step("so instructions")
        elexon.system_prices(ctx)
        step("system prices")
        elexon.boalf(ctx)
        step("boalf")
        metering.generate(ctx, progress=lambda: step("metering"))
        settlement.generate(
            ctx, e.fleet_rows, e.neso_instructions, u.rows, comp.instructions, comp.availability
        )
        step("settlement")
        broken_entries = broken_mod.write_broken(ctx) if broken else []
        if broken:
            step("broken files")
        truth = _write_ground_truth(ctx, e)
        step("ground truth")
        summary = GenerationSummary(
            files=list(ctx.files),
            assets=fleet.n,
            participants=fleet.participants.height,
            days=days,
            start=start,
            end=tb.end_date,
            seed=seed,
            planted_conflicts=truth["n_conflicts"],
            broken_files=broken_entries,
            ground_truth={k: v for k, v in truth.items() if isinstance(v, Path)},
        )
        _write_manifest(ctx, summary, broken, truth)
        step("manifest")
    summary.seconds = time.perf_counter() - t_begin
    return summary


def _write_ground_truth(ctx, e) -> dict:
    from sfe.generate.timebase import fmt_utc_z
    from sfe.generate.writers import write_csv

    paths, fleet = ctx.paths, ctx.fleet
    paths.generated.mkdir(parents=True, exist_ok=True)
    a = fleet.assets
    markets = []
    for r in a.iter_rows(named=True):
        m = []
        if r["eac_unit_name"]:
            m.append("neso_eac")
        if r["bm_unit"]:
            m.append("neso_bm")
        if r["ukpn_fu_id"]:
            m.append("ukpn_flex")
        if r["competition_asset_ref"]:
            m.append(f"{r['dno_operator_id']}_flex")
        markets.append("|".join(m))
    fleet_csv = a.with_columns(
        size_band=pl.Series([taxonomy.size_band(c) for c in a["capacity_mw"].to_list()], dtype=pl.String),
        markets=pl.Series(markets, dtype=pl.String),
    ).select(
        "asset_id", "asset_name", "owner_participant_id", "owner_name", "asset_type", "capacity_mw", "energy_mwh",
        "size_band", "gsp_group", "dno_area", "dno_operator_id", "flex_zone", "postcode", "lat", "lon", "mpan",
        "bm_unit", "eac_unit_name", "ukpn_fu_id", "competition_asset_ref", "markets",
    )  # fmt: skip
    fleet_path = paths.generated / "fleet.csv"
    write_csv(fleet_csv, fleet_path)
    part_path = paths.generated / "participants.csv"
    write_csv(fleet.participants, part_path)

    planted = e.planted
    conflicts_path = paths.generated / "planted_conflicts.csv"
    if planted.height:
        ids = fleet.col("asset_id")
        neso = e.neso_instructions
        instr_ref = {}
        if neso.height:
            for w, ai, iid in (
                neso.filter(pl.col("final")).select("window", "asset_idx", "instruction_id").iter_rows()
            ):
                instr_ref[(w, ai)] = iid
        auction = dict(e.windows.select("window", "auctionID").iter_rows())
        ref_a = [
            instr_ref.get((w, ai), "") if inst else f"EAC-{auction[w]}-{prod}"
            for w, ai, inst, prod in planted.select(
                "window", "asset_idx", "instructed", "product"
            ).iter_rows()
        ]
        ai = planted["asset_idx"].to_numpy()
        dno_ref_col = np.where(
            fleet.has("ukpn_fu_id")[ai], fleet.col("ukpn_fu_id")[ai], fleet.col("competition_asset_ref")[ai]
        )
        df = planted.with_columns(
            asset_id=pl.Series(ids[ai]),
            neso_asset_ref=pl.Series(fleet.col("eac_unit_name")[ai]),
            dno_asset_ref=pl.Series(dno_ref_col),
            ref_a=pl.Series(ref_a, dtype=pl.String),
            overlap_start=pl.max_horizontal("neso_start", "dno_start"),
            overlap_end=pl.min_horizontal("neso_end", "dno_end"),
        ).select(
            "conflict_id", "asset_id",
            pl.lit("neso").alias("so_a"), pl.lit("neso_eac").alias("market_a"),
            pl.col("neso_activity").alias("activity_a"), pl.col("product").alias("product_a"),
            pl.col("neso_asset_ref").alias("asset_ref_a"), "ref_a",
            fmt_utc_z("neso_start").alias("start_a_utc"), fmt_utc_z("neso_end").alias("end_a_utc"),
            pl.col("dno_operator").alias("so_b"), pl.col("dno_market").alias("market_b"),
            pl.col("dno_activity").alias("activity_b"), pl.col("dno_asset_ref").alias("asset_ref_b"),
            pl.col("dno_ref").alias("ref_b"),
            fmt_utc_z("dno_start").alias("start_b_utc"), fmt_utc_z("dno_end").alias("end_b_utc"),
            fmt_utc_z("overlap_start").alias("overlap_start_utc"), fmt_utc_z("overlap_end").alias("overlap_end_utc"),
        )  # fmt: skip
        df = df.with_columns(
            pl.when(pl.col("activity_b") == "ukpn_dispatch")
            .then(pl.concat_str([pl.col("asset_ref_b"), pl.lit(" @ "), pl.col("start_b_utc")]))
            .otherwise(pl.col("ref_b"))
            .alias("ref_b")
        )
    else:
        df = pl.DataFrame(schema={c: pl.String for c in (
            "conflict_id", "asset_id", "so_a", "market_a", "activity_a", "product_a", "asset_ref_a", "ref_a",
            "start_a_utc", "end_a_utc", "so_b", "market_b", "activity_b", "asset_ref_b", "ref_b", "start_b_utc",
            "end_b_utc", "overlap_start_utc", "overlap_end_utc")})  # fmt: skip
    write_csv(df, conflicts_path)
    return {
        "fleet": fleet_path,
        "participants": part_path,
        "planted_conflicts": conflicts_path,
        "n_conflicts": df.height,
    }


def _write_manifest(ctx, summary: GenerationSummary, broken: bool, truth: dict) -> None:
    root = ctx.paths.root
    tb = ctx.tb

    def rel(p: Path) -> str:
        return p.relative_to(root).as_posix()

    files = []
    sources: dict[str, dict] = {s: {"files": 0, "rows": 0} for s in SOURCE_IDS}
    for f in summary.files:
        files.append({"source_id": f.source_id, "path": rel(f.path), "rows": f.rows, **f.extra})
        sources[f.source_id]["files"] += 1
        sources[f.source_id]["rows"] += f.rows
    manifest = {
        "generator": "sfe.generate",
        "manifest_version": MANIFEST_VERSION,
        "parameters": {
            "seed": summary.seed,
            "assets": summary.assets,
            "days": summary.days,
            "start": summary.start.isoformat() if summary.start else None,
            "broken": broken,
        },
        "range": {
            "first_settlement_date": tb.start.isoformat(),
            "last_settlement_date": tb.end_date.isoformat(),
            "start_utc": _iso(tb.range_start),
            "end_utc": _iso(tb.range_end),
            "settlement_periods": tb.n_periods,
        },
        "ground_truth": {
            "fleet": rel(truth["fleet"]),
            "participants": rel(truth["participants"]),
            "planted_conflicts": rel(truth["planted_conflicts"]),
            "assets": summary.assets,
            "participants_rows": summary.participants,
            "planted_conflicts_rows": truth["n_conflicts"],
        },
        "count_definitions": {
            "rows": "data rows written (CSV lines after the header, JSONL lines, XLSX rows of all sheets)",
            "exact_duplicates": "rows identical, after normalisation, to rows of the file named in duplicates_of",
            "superseded": "rows of this file replaced by a later version: a later createdDateTime (system "
            "prices, same file), a later issued_at (instructions, same file) or a revision 2 line "
            "(settlement, the matching _rev2 file)",
            "missing_readings": "meter readings with quality 'missing' and blank kWh",
            "bad_rows": "rows a connector must quarantine (broken_files only)",
        },
        "sources": sources,
        "files": files,
        "broken_files": summary.broken_files,
    }
    path = ctx.paths.generated / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary.ground_truth["manifest"] = path


def _iso(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(int(epoch), tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["generate", "GenerationSummary", "GeneratedFile", "SOURCE_IDS"]
