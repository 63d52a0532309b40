"""Tests of the deterministic demo-data generator (sfe.generate): formats, coherence and ground truth."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sfe import taxonomy
from sfe.config import LakePaths
from sfe.generate import SOURCE_IDS, generate

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
UKPN_HEADER = (
    "company_name,fu_id,zone,product,start_time_local,end_time_local,availability_mw_req,utilisation_mw_req,"
    "availability_price,utilisation_price,availability_mwh_req,utilisation_mwh_req,technology,dispatch_type,"
    "hours_requested,dispatch_method,start_time_utc,end_time_utc,time_utc"
)
EAC_HEADER = (
    "_id,auctionID,auctionProduct,serviceType,deliveryStart,deliveryEnd,clearedVolume,clearingPrice,"
    "linkedServiceWindowID,source"
)
PRICES_HEADER = (
    "settlementDate,settlementPeriod,startTime,createdDateTime,systemSellPrice,systemBuyPrice,bsadDefaulted,"
    "priceDerivationCode,reserveScarcityPrice,netImbalanceVolume,sellPriceAdjustment,buyPriceAdjustment,"
    "replacementPrice,replacementPriceReferenceVolume,totalAcceptedOfferVolume,totalAcceptedBidVolume,"
    "totalAdjustmentSellVolume,totalAdjustmentBuyVolume,totalSystemTaggedAcceptedOfferVolume,"
    "totalSystemTaggedAcceptedBidVolume,totalSystemTaggedAdjustmentSellVolume,totalSystemTaggedAdjustmentBuyVolume"
)
BOALF_HEADER = (
    "dataset,settlementDate,settlementPeriodFrom,settlementPeriodTo,timeFrom,timeTo,levelFrom,levelTo,"
    "acceptanceNumber,acceptanceTime,deemedBoFlag,soFlag,amendmentFlag,storFlag,rrFlag,nationalGridBmUnit,bmUnit"
)


# ---- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> LakePaths:
    """A small lake spanning both 2025 clock changes, with broken files."""
    paths = LakePaths(tmp_path_factory.mktemp("lake"))
    generate(paths, assets=40, days=225, start=dt.date(2025, 3, 20), seed=7, broken=True, progress=False)
    return paths


@pytest.fixture(scope="module")
def manifest(lake) -> dict:
    return json.loads((lake.generated / "manifest.json").read_text(encoding="utf-8"))


def _files(lake: LakePaths, source_id: str, suffix: str = "") -> list[Path]:
    return sorted(
        p
        for p in lake.landing_dir(source_id).iterdir()
        if p.is_file() and not p.name.startswith("broken_") and p.name.endswith(suffix)
    )


def _csv(path: Path) -> pl.DataFrame:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return pl.read_csv(io.BytesIO(data), infer_schema=False)


def _read_all(lake: LakePaths, source_id: str, suffix: str = ".csv") -> pl.DataFrame:
    return pl.concat(
        [_csv(p).with_columns(pl.lit(p.name).alias("_file")) for p in _files(lake, source_id, suffix)],
        how="diagonal",
    )


def _jsonl(lake: LakePaths, source_id: str) -> list[dict]:
    out = []
    for p in _files(lake, source_id, ".jsonl"):
        for line in p.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            rec["_file"] = p.name
            out.append(rec)
    return out


def _utc(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(dt.UTC)


def _fleet(lake) -> pl.DataFrame:
    return pl.read_csv(lake.generated / "fleet.csv", infer_schema=False)


# ---- determinism and completeness ------------------------------------------------------------------


def _digest_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate(LakePaths(tmp_path / name), assets=20, days=10, seed=seed, broken=True, progress=False)
    a, b, c = (_digest_tree(tmp_path / n) for n in "abc")
    assert a and a == b
    assert any(c.get(k) != v for k, v in a.items())


def test_rerun_replaces_previous_output(tmp_path):
    paths = LakePaths(tmp_path)
    generate(paths, assets=20, days=40, seed=1, progress=False)
    generate(paths, assets=20, days=5, seed=1, progress=False)
    listed = {f["path"] for f in json.loads((paths.generated / "manifest.json").read_text())["files"]}
    on_disk = {p.relative_to(tmp_path).as_posix() for p in paths.landing.rglob("*") if p.is_file()}
    assert on_disk == listed


def test_every_source_gets_files_and_manifest_counts_rows(lake, manifest):
    assert set(manifest["sources"]) == set(SOURCE_IDS)
    for source_id in SOURCE_IDS:
        assert _files(lake, source_id), source_id
        assert manifest["sources"][source_id]["rows"] > 0
    from openpyxl import load_workbook

    for entry in manifest["files"]:
        path = lake.root / entry["path"]
        assert path.is_file(), entry["path"]
        if path.suffix == ".xlsx":
            wb = load_workbook(path, read_only=True)
            rows = sum(max(ws.max_row - 1, 0) for ws in wb.worksheets)
            wb.close()
        else:
            text = path.read_bytes().decode("utf-8-sig")
            rows = len(text.splitlines()) - (0 if path.suffix == ".jsonl" else 1)
        assert rows == entry["rows"], entry["path"]


# ---- UKPN -------------------------------------------------------------------------------------------


def test_ukpn_bom_header_and_time_layouts(lake):
    files = _files(lake, "ukpn_flexibility_dispatches")
    offsets_in_one_file = False
    for p in files:
        raw = p.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), p.name
        assert raw[3:].decode("utf-8").split("\n", 1)[0] == UKPN_HEADER
        df = _csv(p)
        assert df["start_time_utc"].str.contains(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$").all()
        assert df["time_utc"].str.contains(r"^\d\d:\d\d:\d\d\+00:00$").all()
        assert df["start_time_local"].str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[01]:00$").all()
        offs = set(df["start_time_local"].str.slice(19).to_list())
        offsets_in_one_file |= offs == {"+00:00", "+01:00"}
        for col in ("availability_mw_req", "utilisation_mw_req", "availability_price", "utilisation_price"):
            assert df[col].str.contains(r"^\d+\.\d+$").all(), col
        # local and UTC agree
        for loc, utc in zip(df["start_time_local"].head(50), df["start_time_utc"].head(50), strict=True):
            assert dt.datetime.fromisoformat(loc) == dt.datetime.fromisoformat(utc)
        assert (df["utilisation_mwh_req"].str.split(".").list.get(1).str.len_chars() <= 2).all()
    assert offsets_in_one_file


def test_ukpn_vocabulary_and_non_unique_keys(lake):
    df = _read_all(lake, "ukpn_flexibility_dispatches")
    products = set(df["product"].to_list())
    assert {"Day Ahead", "Day-Ahead", "Scheduled Availability"} <= products
    assert products & {"Sustain", "Secure", "Dynamic", "Restore"}
    mapping = taxonomy.value_mapping("ukpn_flexibility_dispatches", "product")
    assert all(taxonomy.normalise_value(p) in mapping for p in products)
    normal = df.filter(~pl.col("_file").str.contains("rerelease"))
    key = ["company_name", "fu_id", "start_time_utc", "product"]
    dup_keys = normal.group_by(key).len().filter(pl.col("len") > 1)
    assert dup_keys.height > 0
    assert normal.unique().height == normal.height  # the rows themselves are distinct


def test_ukpn_rerelease_rows_are_duplicates_after_normalisation(lake, manifest):
    mapping = taxonomy.value_mapping("ukpn_flexibility_dispatches", "product")
    entries = [f for f in manifest["files"] if "exact_duplicates" in f]
    assert len(entries) == 1
    entry = entries[0]
    again = _csv(lake.root / entry["path"])
    orig = _csv(lake.root / entry["duplicates_of"])

    def norm(df):
        return df.with_columns(
            pl.col("company_name").str.to_lowercase(),
            pl.col("product").map_elements(
                lambda v: mapping[taxonomy.normalise_value(v)], return_dtype=pl.String
            ),
        )

    assert again.height == entry["exact_duplicates"] > 0
    assert norm(again).join(norm(orig), on=again.columns, how="anti").height == 0
    # ...but the raw text differs (spelling of product or company)
    assert again.join(orig, on=again.columns, how="anti").height > 0


# ---- NESO EAC ---------------------------------------------------------------------------------------


def test_eac_summary_format(lake):
    files = _files(lake, "neso_eac_results")
    if SAMPLES.exists():
        assert (SAMPLES / "neso_eac_results_summary.head.csv").read_text().split("\n", 1)[0] == EAC_HEADER
    for p in files:
        assert p.read_text().split("\n", 1)[0] == EAC_HEADER
        df = _csv(p)
        assert df["_id"].to_list()[:3] == ["1", "2", "3"]
        fy = p.stem.rsplit("_", 1)[1]
        assert set(df["source"].to_list()) == {fy}
        assert df.select("auctionID", "auctionProduct", "deliveryStart").is_duplicated().sum() == 0
        assert df["clearedVolume"].str.contains(r"^\d+\.\d+$").all()
        assert set(df.filter(pl.col("auctionProduct") == "PSR")["linkedServiceWindowID"].to_list()) <= {
            "1.0",
            "2.0",
        }
        assert df.filter(pl.col("auctionProduct") != "PSR")["linkedServiceWindowID"].is_null().all()
    df = _read_all(lake, "neso_eac_results")
    assert set(df["auctionProduct"].to_list()) == {
        "DCH",
        "DCL",
        "DMH",
        "DML",
        "DRH",
        "DRL",
        "PBR",
        "NBR",
        "PQR",
        "NQR",
        "PSR",
    }
    prices = df["clearingPrice"].cast(pl.Float64)
    assert (prices < 0).any() and ((df["clearedVolume"] == "0.0") & (prices == 0)).any()
    # auctionID not in date order
    first = df.group_by("auctionID").agg(pl.col("deliveryStart").min()).sort("auctionID")
    assert not first["deliveryStart"].is_sorted()


def test_efa_blocks_on_clock_change_days(lake):
    df = _read_all(lake, "neso_eac_results").filter(pl.col("auctionProduct") == "DCH")
    starts = {r[0]: r[1] for r in df.select("deliveryStart", "deliveryEnd").iter_rows()}
    # EFA day 2025-03-30 starts 23:00 GMT on the 29th; block 1 ends 03:00 BST = 02:00Z (3 h)
    assert starts["2025-03-29T23:00:00"] == "2025-03-30T02:00:00"
    # EFA day 2025-10-26 starts 23:00 BST on the 25th = 22:00Z; block 1 ends 03:00 GMT (5 h)
    assert starts["2025-10-25T22:00:00"] == "2025-10-26T03:00:00"
    # summer blocks start at 22:00Z
    assert "2025-06-30T22:00:00" in starts


def test_eac_summary_volume_equals_sum_of_unit_volumes(lake):
    summary = _read_all(lake, "neso_eac_results")
    units = _read_all(lake, "neso_eac_unit_results")
    key = ["auctionID", "auctionProduct", "deliveryStart"]
    sums = units.group_by(key).agg(pl.col("executedVolume").cast(pl.Float64).sum().alias("unit_sum"))
    joined = summary.join(sums, on=key, how="left").with_columns(pl.col("unit_sum").fill_null(0.0))
    diff = (joined["clearedVolume"].cast(pl.Float64) - joined["unit_sum"]).abs()
    assert diff.max() < 1e-6
    assert units.join(summary, on=key, how="anti").height == 0
    # unit prices are the clearing price of the window (pay as clear)
    prices = units.join(summary.select(*key, pl.col("clearingPrice").alias("p")), on=key)
    assert (prices["clearingPrice"] == prices["p"]).all()
    # market-sized volumes: Dynamic Containment ~ 1 GW
    dch = summary.filter(pl.col("auctionProduct") == "DCH")["clearedVolume"].cast(pl.Float64)
    assert 500 < dch.median() < 1500


# ---- Elexon -----------------------------------------------------------------------------------------


def _prices(lake, encoding: str) -> pl.DataFrame:
    frames = []
    for p in _files(lake, "elexon_system_prices"):
        if f"_{encoding}_" not in p.name:
            continue
        df = _csv(p)
        df.columns = [c[0].lower() + c[1:] for c in df.columns]
        frames.append(df)
    return pl.concat(frames)


def _latest(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort("createdDateTime").unique(["settlementDate", "settlementPeriod"], keep="last")


def test_system_prices_periods_per_day(lake):
    both = pl.concat([_latest(_prices(lake, "api")), _latest(_prices(lake, "export"))])
    per_day = dict(
        both.unique(["settlementDate", "settlementPeriod"]).group_by("settlementDate").len().iter_rows()
    )
    assert per_day["2025-03-30"] == 46
    assert per_day["2025-10-26"] == 50
    assert {v for k, v in per_day.items() if k not in ("2025-03-30", "2025-10-26")} == {48}
    assert len(per_day) == 225
    summer = both.filter((pl.col("settlementDate") == "2025-07-01") & (pl.col("settlementPeriod") == "1"))
    assert summer["startTime"].to_list() == ["2025-06-30T23:00:00Z"]


def test_system_prices_two_encodings_agree_where_they_overlap(lake, manifest):
    api_files = _files(lake, "elexon_system_prices", ".csv")
    assert any("_api_" in p.name for p in api_files) and any("_export_" in p.name for p in api_files)
    for p in api_files:
        assert p.read_text().split("\n", 1)[0] == (
            PRICES_HEADER
            if "_api_" in p.name
            else ",".join(c[0].upper() + c[1:] for c in PRICES_HEADER.split(","))
        )
    api, export = _latest(_prices(lake, "api")), _latest(_prices(lake, "export"))
    raw_export = _prices(lake, "export")
    nonblank = raw_export["systemSellPrice"].drop_nulls()
    assert nonblank.str.contains(r"^-?\d+\.\d{18}$").all()
    key = ["settlementDate", "settlementPeriod"]
    both = api.join(export, on=key, suffix="_x")
    assert both.height > 0
    for col in PRICES_HEADER.split(",")[2:]:
        a, b = both[col], both[f"{col}_x"]
        if col in ("startTime", "createdDateTime", "bsadDefaulted", "priceDerivationCode"):
            assert (a == b).all(), col
        else:
            fa, fb = a.cast(pl.Float64), b.cast(pl.Float64)
            assert ((fa == fb) | (fa.is_null() & fb.is_null())).all(), col
    # float noise, scientific notation and booleans as in the real API
    raw_api = _prices(lake, "api")
    assert raw_api["systemSellPrice"].str.len_chars().max() >= 15
    assert raw_api["totalAdjustmentSellVolume"].str.contains("e-0").any()
    assert set(raw_api["bsadDefaulted"].unique().to_list()) <= {"False", "True"}
    # re-issued periods: later createdDateTime, counted in the manifest
    planted = sum(
        f.get("superseded", 0) for f in manifest["files"] if f["source_id"] == "elexon_system_prices"
    )
    assert planted > 0 and raw_api.height - api.height == planted


def test_boalf_format(lake):
    df = _read_all(lake, "elexon_boalf")
    for p in _files(lake, "elexon_boalf"):
        assert p.read_text().split("\n", 1)[0] == BOALF_HEADER
        part = _csv(p)
        assert part["timeFrom"].is_sorted(descending=True)
    assert (df["levelFrom"].cast(pl.Int64) < 0).any()
    wraps = df.filter(
        pl.col("settlementPeriodTo").cast(pl.Int64) < pl.col("settlementPeriodFrom").cast(pl.Int64)
    )
    assert wraps.height > 0
    assert df.group_by("acceptanceNumber", "bmUnit").len()["len"].max() > 1  # acceptances split in segments
    fleet_units = set(_fleet(lake)["bm_unit"].drop_nulls().to_list())
    units = set(df["bmUnit"].to_list())
    assert fleet_units & units and units - fleet_units  # fleet units plus external ones


# ---- our formats ------------------------------------------------------------------------------------


def test_competitions_workbook(lake):
    from openpyxl import load_workbook

    files = _files(lake, "dno_flex_competitions", ".xlsx")
    assert files
    statuses = Counter()
    for p in files:
        wb = load_workbook(p, read_only=True)
        assert wb.sheetnames == ["competitions", "bids", "resales"]
        comp = list(wb["competitions"].iter_rows(values_only=True))
        assert comp[0][:4] == ("competition_id", "dno", "licence_area", "zone")
        for row in comp[1:]:
            opens = row[comp[0].index("opens_local")]
            assert isinstance(opens, dt.datetime) and opens.tzinfo is None
        bids = list(wb["bids"].iter_rows(values_only=True))
        statuses.update(r[bids[0].index("status")] for r in bids[1:])
        wb.close()
    assert {"accepted", "rejected"} <= set(statuses)


def test_instructions_jsonl(lake, manifest):
    recs = _jsonl(lake, "so_dispatch_instructions")
    assert recs
    assert {r["unit"] for r in recs} == {"kW", "MW"}
    offsets = {r["start"][-6:] for r in recs if r["system_operator"] != "NESO"}
    assert offsets == {"+00:00", "+01:00"}
    assert {r["system_operator"] for r in recs} >= {"NESO"}
    for r in recs:
        assert _utc(r["issued_at"]) <= _utc(r["end"]) and _utc(r["start"]) < _utc(r["end"])
        assert r["setpoint"] > 0
    by_id = Counter(r["instruction_id"] for r in recs)
    revised = [i for i, n in by_id.items() if n > 1]
    planted = sum(
        f.get("superseded", 0) for f in manifest["files"] if f["source_id"] == "so_dispatch_instructions"
    )
    assert len(revised) == planted > 0
    for iid in revised[:20]:
        versions = sorted((_utc(r["issued_at"]), r) for r in recs if r["instruction_id"] == iid)
        assert versions[0][0] < versions[1][0]


def test_settlement_arithmetic_and_revisions(lake, manifest):
    csv = _read_all(lake, "so_settlement_statements", ".csv")
    js = pl.DataFrame(_jsonl(lake, "so_settlement_statements"), infer_schema_length=None)
    lines = pl.concat([csv, js.select(csv.columns).cast(pl.String)], how="vertical")
    num = lines.with_columns(
        [
            pl.col(c).cast(pl.Float64)
            for c in lines.columns
            if c.endswith(("_gbp", "_mw", "_hours", "_mwh", "_mw_h"))
        ]
    )
    av = num.filter(pl.col("line_type") == "availability")
    expected = (
        av["availability_mw"] * av["availability_price_gbp_per_mw_h"] * av["availability_hours"]
    ).round(2)
    assert (av["availability_payment_gbp"] - expected).abs().max() < 0.0051
    # hours follow the real window length (3 h / 5 h EFA blocks on clock-change days)
    assert {3.0, 5.0} <= set(av["availability_hours"].to_list())
    ut = num.filter(pl.col("line_type") == "utilisation")
    paid = (
        pl.min_horizontal("delivered_mwh", "instructed_mwh") * pl.col("utilisation_price_gbp_per_mwh")
    ).round(2)
    assert (ut.select((pl.col("utilisation_payment_gbp") - paid).abs().max()).item()) < 0.0051
    assert (ut["penalty_gbp"] > 0).any()
    total = num["availability_payment_gbp"] + num["utilisation_payment_gbp"] - num["penalty_gbp"]
    assert (num["total_gbp"] - total).abs().max() < 0.0051
    # revision 2 supersedes revision 1 of the same line
    key = ["statement_id", "line_id"]
    rev2 = lines.filter(pl.col("revision") == "2")
    rev1 = lines.filter(pl.col("revision") == "1")
    assert rev2.height > 0 and rev2.join(rev1, on=key, how="anti").height == 0
    planted = sum(
        f.get("superseded", 0) for f in manifest["files"] if f["source_id"] == "so_settlement_statements"
    )
    assert planted == rev2.height


def test_settlement_matches_eac_unit_results(lake):
    units = _read_all(lake, "neso_eac_unit_results")
    st = _read_all(lake, "so_settlement_statements", ".csv").filter(
        (pl.col("system_operator") == "NESO")
        & (pl.col("line_type") == "availability")
        & (pl.col("revision") == "1")
    )
    fleet_units = units.join(
        _fleet(lake).select(pl.col("eac_unit_name").alias("unitName")), on="unitName", how="semi"
    ).with_columns(
        contract_ref=pl.concat_str(
            [pl.lit("EAC-"), pl.col("auctionID"), pl.lit("-"), pl.col("auctionProduct")]
        ),
        period_start_utc=pl.col("deliveryStart") + "Z",
    )
    assert fleet_units.height == st.height
    j = fleet_units.join(
        st,
        left_on=["contract_ref", "unitName", "period_start_utc"],
        right_on=["contract_ref", "asset_ref", "period_start_utc"],
    )
    assert j.height == st.height
    assert (j["availability_price_gbp_per_mw_h"] == j["clearingPrice"]).all()


def test_metering_format_and_response(lake):
    files = _files(lake, "meter_readings")
    assert len(files) >= 7  # monthly files
    head = files[0].read_text().split("\n", 2)
    assert head[0] == "mpan,interval_start_utc,import_kwh,export_kwh,quality"
    meter = pl.concat([_csv(p) for p in files])
    assert set(meter["quality"].unique().to_list()) == {"actual", "estimated", "missing"}
    assert meter["interval_start_utc"].str.contains(r"^\d{4}-\d\d-\d\dT\d\d:(00|30):00Z$").all()
    per_mpan = meter.group_by("mpan").len()
    assert (
        per_mpan["len"].n_unique() == 1 and per_mpan["len"][0] == 225 * 48 - 2 + 2
    )  # one 46- and one 50-period day
    # exporters (batteries, engines) deliver what settlement says they delivered
    fleet = _fleet(lake)
    exporters = fleet.filter(
        pl.col("asset_type").is_in(["battery", "small_generation"]) & pl.col("bm_unit").is_null()
    )
    st = _read_all(lake, "so_settlement_statements", ".csv")
    js = _jsonl(lake, "so_settlement_statements")
    lines = pl.concat([st, pl.DataFrame(js, infer_schema_length=None).select(st.columns).cast(pl.String)])
    ut = lines.filter(
        (pl.col("line_type") == "utilisation")
        & (pl.col("direction") == "up")
        & pl.col("mpan").is_in(exporters["mpan"].to_list())
    ).unique(["statement_id", "line_id"], keep="last")
    meter = meter.with_columns(pl.col("export_kwh").cast(pl.Float64), pl.col("quality"))
    checked = ok = 0
    for mpan, start, end, delivered in (
        ut.select("mpan", "period_start_utc", "period_end_utc", "delivered_mwh").head(60).iter_rows()
    ):
        m = meter.filter(
            (pl.col("mpan") == mpan)
            & (pl.col("interval_start_utc") >= start)
            & (pl.col("interval_start_utc") < end)
        )
        if (m["quality"] != "actual").any():
            continue
        checked += 1
        ok += abs(m["export_kwh"].sum() / 1000 - float(delivered)) <= 0.05 * float(delivered) + 0.01
    assert checked >= 5 and ok >= 0.8 * checked


# ---- fleet and ids ----------------------------------------------------------------------------------


def test_fleet_shape(lake):
    fleet = _fleet(lake)
    assert fleet.height == 40 and fleet["asset_id"].n_unique() == 40
    types = set(fleet["asset_type"].to_list())
    assert len(types) >= 6
    assert types <= {r["asset_type"] for r in taxonomy.table("asset_types")}
    caps = fleet["capacity_mw"].cast(pl.Float64)
    assert caps.min() <= 0.1 and caps.max() >= 20
    assert set(fleet["gsp_group"].to_list()) <= {r["gsp_group"] for r in taxonomy.table("dno_areas")}
    primes = [3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43]
    for mpan in fleet["mpan"]:
        assert len(mpan) == 13 and mpan.isdigit()
        assert int(mpan[-1]) == sum(int(d) * p for d, p in zip(mpan[:12], primes, strict=True)) % 11 % 10
    assert fleet["mpan"].n_unique() == 40
    storage = fleet.filter(pl.col("asset_type") == "battery")
    assert storage["energy_mwh"].is_not_null().all()
    assert fleet.filter(pl.col("asset_type") == "heat_pump")["energy_mwh"].is_null().all()
    parts = pl.read_csv(lake.generated / "participants.csv", infer_schema=False)
    owners = set(fleet["owner_participant_id"].to_list())
    assert owners <= set(parts["participant_id"].to_list()) and len(owners) >= 6


def test_ids_in_sources_resolve_to_fleet(lake):
    fleet = _fleet(lake)

    def ids(col):
        return set(fleet[col].drop_nulls().to_list())

    ukpn = _read_all(lake, "ukpn_flexibility_dispatches")
    assert set(ukpn["fu_id"].to_list()) <= ids("ukpn_fu_id")
    assert any(" " in f for f in ids("ukpn_fu_id"))
    units = _read_all(lake, "neso_eac_unit_results")
    fleet_companies = {r for r in pl.read_csv(lake.generated / "participants.csv", infer_schema=False)
                       .filter(pl.col("in_demo_fleet") == "true")["participant_name"].to_list()}  # fmt: skip
    external = units.filter(~pl.col("unitName").is_in(list(ids("eac_unit_name"))))
    assert external.height > 0
    assert not set(external["companyName"].to_list()) & fleet_companies
    instr = _jsonl(lake, "so_dispatch_instructions")
    refs = ids("eac_unit_name") | ids("competition_asset_ref")
    assert {r["asset_ref"] for r in instr} <= refs
    st = _read_all(lake, "so_settlement_statements", ".csv")
    assert set(st["asset_ref"].to_list()) <= refs | ids("ukpn_fu_id")
    assert set(st["mpan"].to_list()) <= ids("mpan")
    meter = pl.concat([_csv(p).select("mpan").unique() for p in _files(lake, "meter_readings")])
    assert set(meter["mpan"].to_list()) == ids("mpan")
    from openpyxl import load_workbook

    for p in _files(lake, "dno_flex_competitions", ".xlsx"):
        wb = load_workbook(p, read_only=True)
        rows = list(wb["bids"].iter_rows(values_only=True))
        assert {r[rows[0].index("asset_ref")] for r in rows[1:]} <= ids("competition_asset_ref")
        wb.close()


def test_planted_conflicts_are_exactly_the_cross_so_overlaps(lake):
    """Every overlap between a NESO commitment/dispatch and a DNO dispatch of one asset is planted."""
    fleet = _fleet(lake)
    planted = pl.read_csv(lake.generated / "planted_conflicts.csv", infer_schema=False)
    assert planted.height >= 3
    asset_of = {}
    for col in ("eac_unit_name", "ukpn_fu_id", "competition_asset_ref"):
        for aid, ref in fleet.select("asset_id", col).drop_nulls().iter_rows():
            asset_of[ref] = aid
    neso = []
    units = _read_all(lake, "neso_eac_unit_results")
    for unit, s, e in units.select("unitName", "deliveryStart", "deliveryEnd").iter_rows():
        if unit in asset_of:
            neso.append((asset_of[unit], _utc(s + "Z"), _utc(e + "Z")))
    dno = []
    latest: dict[str, dict] = {}
    for r in _jsonl(lake, "so_dispatch_instructions"):
        if r["instruction_id"] not in latest or _utc(r["issued_at"]) > _utc(
            latest[r["instruction_id"]]["issued_at"]
        ):
            latest[r["instruction_id"]] = r
    for r in latest.values():
        if r["status"] != "instructed":
            continue
        target = neso if r["system_operator"] == "NESO" else dno
        target.append((asset_of[r["asset_ref"]], _utc(r["start"]), _utc(r["end"])))
    ukpn = _read_all(lake, "ukpn_flexibility_dispatches")
    for fu, s, e in ukpn.select("fu_id", "start_time_utc", "end_time_utc").iter_rows():
        dno.append((asset_of[fu], dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(e)))
    dno_by_asset: dict[str, list] = {}
    for a, s, e in dno:
        dno_by_asset.setdefault(a, []).append((s, e))
    found = set()
    for a, s, e in neso:
        for s2, e2 in dno_by_asset.get(a, []):
            if s < e2 and s2 < e:
                found.add((a, max(s, s2), min(e, e2)))
    expected = {
        (a, _utc(s), _utc(e))
        for a, s, e in planted.select("asset_id", "overlap_start_utc", "overlap_end_utc").iter_rows()
    }

    def covered(item, pool):
        a, s, e = item
        return any(a == b and s < e2 and s2 < e for b, s2, e2 in pool)

    assert all(covered(x, found) for x in expected), "a planted conflict is missing from the sources"
    assert all(covered(x, expected) for x in found), "an unplanted cross-SO overlap exists"
    assert set(planted["so_a"].to_list()) == {"neso"} and planted["so_b"].n_unique() >= 1


# ---- broken files -----------------------------------------------------------------------------------


def test_broken_files(lake, manifest, tmp_path):
    broken = manifest["broken_files"]
    kinds = [b["kind"] for b in broken]
    assert len(kinds) >= 15 and len(set(kinds)) == len(kinds)
    assert len({b["source_id"] for b in broken}) >= 6
    for b in broken:
        path = lake.root / b["path"]
        assert path.is_file() and path.name.startswith("broken_")
        assert b["expected_problem"] and b["scope"] in ("file", "row")
        if b["scope"] == "row":
            assert b["bad_rows"] >= 1
    by_kind = {b["kind"]: lake.root / b["path"] for b in broken}
    assert by_kind["empty_file"].stat().st_size == 0
    with pytest.raises(UnicodeDecodeError):
        by_kind["latin1_encoding"].read_bytes().decode("utf-8")
    with pytest.raises(UnicodeDecodeError):
        by_kind["binary_garbage"].read_bytes().decode("utf-8")
    assert not by_kind["truncated_last_line"].read_bytes().endswith(b"\n")
    lines = by_kind["jsonl_invalid_line"].read_text().splitlines()
    bad = 0
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            bad += 1
    assert bad == 1
    # the normal run writes none
    paths = LakePaths(tmp_path)
    summary = generate(paths, assets=20, days=3, progress=False)
    assert not summary.broken_files
    assert not list(paths.landing.rglob("broken_*"))


def test_tiny_run_is_fast_and_complete(tmp_path):
    import time

    t0 = time.perf_counter()
    summary = generate(LakePaths(tmp_path), assets=20, days=10, progress=False)
    assert time.perf_counter() - t0 < 10
    assert summary.assets == 20 and summary.end == dt.date(2025, 1, 10)
    assert {f.source_id for f in summary.files} == set(SOURCE_IDS)
    assert all(f.path.is_file() for f in summary.files)
    assert np.isclose(sum(summary.rows_by_source().values()), sum(f.rows for f in summary.files))
