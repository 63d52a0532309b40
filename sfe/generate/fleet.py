"""The demo fleet: flexibility service providers (FSPs), zones and physical assets with their ids in
every market they take part in. This is the generator's ground truth (written to lake/generated/)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from sfe import taxonomy

# gsp_group -> MPAN distributor id (first two digits of the MPAN core)
DISTRIBUTOR_ID = {
    "_A": "10", "_B": "11", "_C": "12", "_D": "13", "_E": "14", "_F": "15", "_G": "16",
    "_H": "20", "_J": "19", "_K": "21", "_L": "22", "_M": "23", "_N": "18", "_P": "17",
}  # fmt: skip

UKPN_GROUPS = ("_A", "_C", "_J")

# gsp_group -> [(zone, postcode district, lat, lon)]
ZONES: dict[str, list[tuple[str, str, float, float]]] = {
    "_A": [
        ("Aldreth", "CB6", 52.33, 0.12),
        ("Halstead", "CO9", 51.94, 0.64),
        ("Takeley", "CM22", 51.87, 0.27),
        ("Trowse Grid 33", "NR14", 52.61, 1.31),
        ("Thorpe Grid 33", "NR7", 52.63, 1.35),
        ("Reed", "SG8", 52.01, -0.03),
        ("Laxfield", "IP13", 52.30, 1.37),
        ("Kenninghall", "NR16", 52.43, 0.99),
        ("Manton Lane", "MK41", 52.15, -0.47),
        ("Bramford Diss Thetford", "IP8", 52.07, 1.10),
        ("West Letchworth Shefford Biggleswade", "SG6", 51.98, -0.25),
        ("North Drive", "NR30", 52.62, 1.73),
    ],
    "_C": [
        ("Willesden Grid", "NW10", 51.54, -0.24),
        ("Selwyn Road", "E13", 51.53, 0.03),
        ("Bengeworth Road", "SE5", 51.46, -0.09),
        ("Wimbledon Grid", "SW19", 51.42, -0.20),
    ],
    "_J": [
        ("Capel Switching Station", "RH5", 51.15, -0.32),
        ("Sevington Total", "TN24", 51.13, 0.90),
        ("Warehorne Kenardington Tenterden Wittersham", "TN30", 51.06, 0.70),
        ("Ninfield", "TN33", 50.88, 0.42),
        ("Canterbury North", "CT2", 51.29, 1.08),
    ],
    "_B": [
        ("Hucknall", "NG15", 53.04, -1.20),
        ("Melton Mowbray", "LE13", 52.77, -0.89),
        ("Bingham", "NG13", 52.95, -0.95),
        ("Corby", "NN17", 52.49, -0.69),
    ],
    "_D": [
        ("Wrexham", "LL13", 53.04, -2.99),
        ("Birkenhead", "CH41", 53.39, -3.02),
        ("Rhyl", "LL18", 53.32, -3.49),
    ],
    "_E": [
        ("Kidderminster", "DY10", 52.39, -2.25),
        ("Telford", "TF3", 52.68, -2.45),
        ("Rugby", "CV21", 52.37, -1.26),
        ("Lichfield", "WS13", 52.68, -1.83),
    ],
    "_F": [
        ("Hartlepool", "TS24", 54.69, -1.21),
        ("Blyth", "NE24", 55.13, -1.51),
        ("Darlington", "DL1", 54.52, -1.55),
    ],
    "_G": [
        ("Carlisle", "CA1", 54.89, -2.93),
        ("Kendal", "LA9", 54.33, -2.75),
        ("Preston East", "PR1", 53.76, -2.70),
        ("Oldham", "OL1", 53.54, -2.11),
    ],
    "_H": [
        ("Reading", "RG1", 51.45, -0.97),
        ("Thatcham", "RG19", 51.40, -1.26),
        ("Basingstoke", "RG21", 51.27, -1.09),
        ("Cowes", "PO31", 50.76, -1.30),
    ],
    "_K": [
        ("Swansea North", "SA1", 51.62, -3.94),
        ("Newport", "NP20", 51.58, -2.99),
        ("Aberdare", "CF44", 51.71, -3.44),
    ],
    "_L": [
        ("Marsh Barton", "EX2", 50.71, -3.53),
        ("Taunton", "TA1", 51.02, -3.10),
        ("Truro", "TR1", 50.26, -5.05),
        ("Bridgwater", "TA6", 51.13, -3.00),
    ],
    "_M": [
        ("Doncaster", "DN1", 53.52, -1.13),
        ("Harrogate", "HG1", 54.00, -1.54),
        ("Hull East", "HU9", 53.75, -0.30),
        ("Wakefield", "WF1", 53.68, -1.50),
    ],
    "_N": [
        ("Dunbar", "EH42", 56.00, -2.52),
        ("Kilmarnock", "KA1", 55.61, -4.50),
        ("Galashiels", "TD1", 55.62, -2.81),
    ],
    "_P": [
        ("Inverness", "IV2", 57.47, -4.22),
        ("Elgin", "IV30", 57.65, -3.32),
        ("Kirkwall", "KW15", 58.98, -2.96),
    ],
}

GROUP_WEIGHTS = {
    "_A": 0.17, "_C": 0.08, "_J": 0.10, "_B": 0.07, "_D": 0.04, "_E": 0.07, "_F": 0.05,
    "_G": 0.06, "_H": 0.08, "_K": 0.05, "_L": 0.07, "_M": 0.06, "_N": 0.05, "_P": 0.05,
}  # fmt: skip


@dataclass(frozen=True)
class Fsp:
    participant_id: str
    name: str
    code: str
    ukpn_style: str
    hq: str
    # alternative spellings used by some publications: (source_id, spelling)
    variants: tuple[tuple[str, str], ...] = ()


FSPS: tuple[Fsp, ...] = (
    Fsp("FSP-KSTR", "Kestrel Storage Ltd", "KSTR", "code", "Bristol",
        (("neso_eac_unit_results", "Kestrel Storage Limited"),)),
    Fsp("FSP-FENW", "Fenwick Battery Partners LLP", "FENW", "code", "Cambridge"),
    Fsp("FSP-PLUG", "plugd.energy", "PLUG", "slug", "London",
        (("ukpn_flexibility_dispatches", "Plugd.energy"),)),
    Fsp("FSP-VOLT", "Voltshare EV Ltd", "VOLT", "initials", "Milton Keynes"),
    Fsp("FSP-HRTH", "Hearth Heat Networks Ltd", "HRTH", "code", "Leeds"),
    Fsp("FSP-COSY", "Cosyflex Homes Ltd", "COSY", "saou", "Norwich"),
    Fsp("FSP-IRON", "Ironbridge Demand Response Ltd", "IRON", "site", "Telford",
        (("ukpn_flexibility_dispatches", "IRONBRIDGE DEMAND RESPONSE LTD"),)),
    Fsp("FSP-MILL", "Millrace Flexibility Services Ltd", "MILL", "code", "Manchester"),
    Fsp("FSP-PKMR", "Peakmoor Generation Ltd", "PKMR", "code", "Sheffield",
        (("neso_eac_unit_results", "Peakmoor Generation Limited"),)),
    Fsp("FSP-HWPW", "Harlow & Wey Power Ltd", "HWPW", "code", "Guildford"),
    Fsp("FSP-BRTA", "Brightacre Solar Ltd", "BRTA", "code", "Exeter"),
    Fsp("FSP-GRDW", "Gridwise Aggregation Ltd", "GRDW", "space", "Edinburgh"),
)  # fmt: skip

# Companies that only appear in NESO/Elexon data (their units are not in the demo fleet).
EXTERNAL_COMPANIES: tuple[tuple[str, str], ...] = (
    ("EXT-NFLT", "Northfleet Energy Storage Ltd"),
    ("EXT-ALDM", "Aldmoor Renewables plc"),
    ("EXT-CRNB", "Cairnbrook Power Ltd"),
    ("EXT-SVRN", "Severnside Storage Ltd"),
    ("EXT-HLWD", "Hollowdene Hydro Ltd"),
    ("EXT-WNDR", "Windrush Flexible Generation Ltd"),
    ("EXT-MRSH", "Marshgate Grid Services Ltd"),
)

ASSET_TYPES = (
    "battery",
    "ev_charging",
    "v2g",
    "heat_pump",
    "ci_demand_response",
    "small_generation",
    "solar_pv",
)
TYPE_WEIGHTS = np.array([0.22, 0.18, 0.07, 0.15, 0.18, 0.12, 0.08])
# (lognormal median MW, sigma, min, max)
CAPACITY = {
    "battery": (7.0, 0.9, 1.0, 49.9),
    "ev_charging": (0.35, 0.8, 0.05, 3.0),
    "v2g": (0.25, 0.8, 0.02, 1.5),
    "heat_pump": (0.2, 0.8, 0.05, 1.0),
    "ci_demand_response": (1.0, 0.9, 0.1, 8.0),
    "small_generation": (3.0, 0.8, 0.5, 20.0),
    "solar_pv": (3.0, 0.6, 0.5, 12.0),
}
OWNERS = {
    "battery": ("FSP-KSTR", "FSP-KSTR", "FSP-FENW", "FSP-FENW", "FSP-BRTA", "FSP-GRDW", "FSP-MILL"),
    "ev_charging": ("FSP-PLUG", "FSP-PLUG", "FSP-VOLT", "FSP-VOLT", "FSP-COSY", "FSP-GRDW"),
    "v2g": ("FSP-PLUG", "FSP-VOLT"),
    "heat_pump": ("FSP-HRTH", "FSP-HRTH", "FSP-COSY", "FSP-GRDW"),
    "ci_demand_response": ("FSP-IRON", "FSP-IRON", "FSP-MILL", "FSP-GRDW"),
    "small_generation": ("FSP-PKMR", "FSP-PKMR", "FSP-HWPW"),
    "solar_pv": ("FSP-BRTA", "FSP-HWPW"),
}
TYPE_LABEL = {
    "battery": "Battery",
    "ev_charging": "EV Charging Portfolio",
    "v2g": "V2G Portfolio",
    "heat_pump": "Heat Pump Portfolio",
    "ci_demand_response": "Site DSR",
    "small_generation": "Gas Engine",
    "solar_pv": "Solar Farm",
}
TYPE_ABBR = {
    "battery": "bess", "ev_charging": "ev", "v2g": "v2g", "heat_pump": "hp",
    "ci_demand_response": "dsr", "small_generation": "gen", "solar_pv": "pv",
}  # fmt: skip
UKPN_TECHNOLOGY = {
    "battery": "Battery",
    "ev_charging": "EV Charger DSR",
    "v2g": "V2G",
    "heat_pump": "Domestic Heat Pump DSR",
    "ci_demand_response": "Flexible Site Demand",
    "small_generation": "Generator",
    "solar_pv": "Solar PV",
}
EAC_TECHNOLOGY = {
    "battery": "Batteries",
    "ev_charging": "Aggregated EV",
    "v2g": "Vehicle to Grid",
    "heat_pump": "Heat Pumps",
    "ci_demand_response": "Demand Side Response",
    "small_generation": "Gas Reciprocating Engine",
}
STORAGE = ("battery", "v2g")
DEMAND = ("ev_charging", "heat_pump", "ci_demand_response")

_MPAN_PRIMES = np.array([3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43])
_POSTCODE_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


def mpan_check_digit(first12: str) -> str:
    digits = np.array([int(c) for c in first12])
    return str(int((digits * _MPAN_PRIMES).sum() % 11 % 10))


@dataclass
class Fleet:
    assets: pl.DataFrame  # one row per physical asset (fleet.csv)
    participants: pl.DataFrame  # participants.csv

    # numpy views used by the market generators (aligned with assets rows)
    @property
    def n(self) -> int:
        return self.assets.height

    def col(self, name: str) -> np.ndarray:
        return self.assets[name].to_numpy()

    def has(self, name: str) -> np.ndarray:
        return (self.assets[name].fill_null("") != "").to_numpy()

    def fsp(self, participant_id: str) -> Fsp:
        return _FSP_BY_ID[participant_id]


_FSP_BY_ID = {f.participant_id: f for f in FSPS}


def company_name(participant_id: str, source_id: str | None = None) -> str:
    fsp = _FSP_BY_ID[participant_id]
    for src, spelling in fsp.variants:
        if src == source_id:
            return spelling
    return fsp.name


def _zone_code(zone: str) -> str:
    return "".join(ch for ch in zone.upper() if ch.isalpha())[:4]


def _unique(base: str, used: set[str], fmt: str = "{base}-{k}") -> str:
    if base not in used:
        used.add(base)
        return base
    k = 2
    while fmt.format(base=base, k=k) in used:
        k += 1
    out = fmt.format(base=base, k=k)
    used.add(out)
    return out


def _ukpn_fu_id(style: str, fsp: Fsp, zone: str, atype: str, rng: np.random.Generator, used: set[str]) -> str:
    hex4 = f"{int(rng.integers(0, 16**4)):04X}"
    if style == "space":  # like 'OVO -CAPE-DA-6864'
        return _unique(f"{fsp.code[:3]} -{_zone_code(zone)}-DA-{hex4}", used)
    if style == "slug":  # like 'halstead-da-ev-portfolio'
        slug = zone.lower().replace(" ", "-")
        return _unique(f"{slug}-da-{TYPE_ABBR[atype]}-portfolio", used, "{base}-c{k}")
    if style == "initials":  # like 'WKTW'
        initials = "".join(w[0] for w in zone.split() if w[0].isalpha()).upper()
        if len(initials) < 3:
            initials = _zone_code(zone)
        return _unique(initials, used, "{base}{k}")
    if style == "saou":  # like 'EV.E-THOR-SAOU-F901'
        return _unique(f"{fsp.code[:2]}.{fsp.code[2:]}-{_zone_code(zone)}-SAOU-{hex4}", used)
    if style == "site":  # free text with spaces
        return _unique(f"{zone} Flex Site", used, "{base} {k}")
    return _unique(f"{fsp.code}-{_zone_code(zone)}-{hex4}", used)


def build_fleet(n_assets: int, rng: np.random.Generator) -> Fleet:
    if n_assets < 7:
        raise ValueError("the demo fleet needs at least 7 assets (one per asset type)")
    dno = {row["gsp_group"]: row for row in taxonomy.table("dno_areas")}
    known_types = {row["asset_type"] for row in taxonomy.table("asset_types")}
    assert set(ASSET_TYPES) <= known_types, "asset types must come from taxonomy/asset_types.csv"

    # --- types: one of each first (tiny fleets stay diverse), the rest drawn by weight
    types = list(ASSET_TYPES) + list(
        rng.choice(ASSET_TYPES, size=n_assets - len(ASSET_TYPES), p=TYPE_WEIGHTS / TYPE_WEIGHTS.sum())
    )
    # --- location: a fixed mix first so tiny fleets cover UKPN and other DNOs
    groups_all = list(GROUP_WEIGHTS)
    gw = np.array([GROUP_WEIGHTS[g] for g in groups_all])
    forced_groups = ["_A", "_B", "_J", "_E", "_C", "_H", "_A", "_L", "_G", "_M"]
    groups = [forced_groups[i] if i < len(forced_groups) else str(rng.choice(groups_all, p=gw / gw.sum()))
              for i in range(n_assets)]  # fmt: skip
    # --- capacity
    caps = np.empty(n_assets)
    for i, t in enumerate(types):
        med, sigma, lo, hi = CAPACITY[t]
        caps[i] = float(np.clip(med * np.exp(sigma * rng.standard_normal()), lo, hi))
    caps[0] = 50.0  # one big transmission-scale battery
    caps[3] = 0.05  # a 50 kW heat-pump portfolio
    caps[5] = max(caps[5], 12.0)  # a mid-size gas engine site
    caps = np.round(caps, 3)

    order = rng.permutation(n_assets)
    types = [types[i] for i in order]
    groups = [groups[i] for i in order]
    caps = caps[order]

    used_fu: set[str] = set()
    used_bm: set[str] = set()
    counters: dict[str, int] = {}
    rows = []
    for i in range(n_assets):
        atype, gsp, cap = types[i], groups[i], float(caps[i])
        owner = str(rng.choice(OWNERS[atype]))
        fsp = _FSP_BY_ID[owner]
        zi = int(rng.integers(0, len(ZONES[gsp])))
        zone, district, zlat, zlon = ZONES[gsp][zi]
        area = dno[gsp]
        asset_id = f"AST-{i + 1:04d}"
        counters[owner] = counters.get(owner, 0) + 1
        k = counters[owner]
        is_ukpn = gsp in UKPN_GROUPS

        bm_unit = ""
        if (atype == "battery" and cap >= 20) or (atype == "small_generation" and cap >= 10):
            prefix = "T" if cap >= 40 else "E"
            stem = _unique(f"{prefix}_{fsp.code[:3]}{_zone_code(zone)[:2]}", used_bm, "{base}{k}")
            bm_unit = f"{stem}-1"
        eac = ""
        if bm_unit:
            eac = bm_unit
        elif (atype == "battery" and cap >= 1) or (atype == "small_generation" and cap >= 2):
            eac = f"NBM-{fsp.code}-{k:03d}"
        elif atype in ("ev_charging", "v2g", "ci_demand_response") and cap >= 1 and rng.random() < 0.5:
            eac = f"NBM-{fsp.code}-{k:03d}"
        ukpn_fu = ""
        comp_ref = ""
        if not bm_unit and atype != "solar_pv":
            if is_ukpn and rng.random() < 0.85:
                ukpn_fu = _ukpn_fu_id(fsp.ukpn_style, fsp, zone, atype, rng, used_fu)
            elif not is_ukpn and rng.random() < 0.8:
                comp_ref = f"{fsp.code}-{area['dno_area']}-{k:04d}"
        energy = ""
        if atype == "battery":
            energy = repr(round(cap * float(rng.choice([1.0, 1.5, 2.0])), 3))
        elif atype == "v2g":
            energy = repr(round(cap * 2.5, 3))
        core = DISTRIBUTOR_ID[gsp] + f"{int(rng.integers(0, 10**10)):010d}"
        mpan = core + mpan_check_digit(core)
        letters = rng.choice(_POSTCODE_LETTERS, size=2)
        postcode = f"{district} {int(rng.integers(1, 10))}{letters[0]}{letters[1]}"
        rows.append(
            {
                "asset_id": asset_id,
                "asset_name": f"{zone} {TYPE_LABEL[atype]} {k}",
                "owner_participant_id": owner,
                "owner_name": fsp.name,
                "asset_type": atype,
                "capacity_mw": cap,
                "energy_mwh": energy,
                "gsp_group": gsp,
                "dno_area": area["dno_area"],
                "dno_operator_id": area["operator_id"],
                "flex_zone": zone,
                "postcode": postcode,
                "lat": round(zlat + 0.03 * float(rng.standard_normal()), 5),
                "lon": round(zlon + 0.03 * float(rng.standard_normal()), 5),
                "mpan": mpan,
                "bm_unit": bm_unit,
                "eac_unit_name": eac,
                "ukpn_fu_id": ukpn_fu,
                "competition_asset_ref": comp_ref,
            }
        )
    assets = pl.DataFrame(rows)
    # guarantee both kinds of DNO market ids exist, however small the fleet
    for col, ukpn_side in (("ukpn_fu_id", True), ("competition_asset_ref", False)):
        if (assets[col] != "").any():
            continue
        cand = assets.with_row_index().filter(
            (pl.col("bm_unit") == "")
            & (pl.col("asset_type") != "solar_pv")
            & (pl.col("gsp_group").is_in(UKPN_GROUPS) == ukpn_side)
        )
        if cand.height:
            r = cand.row(0, named=True)
            fsp = _FSP_BY_ID[r["owner_participant_id"]]
            ref = (
                _ukpn_fu_id(fsp.ukpn_style, fsp, r["flex_zone"], r["asset_type"], rng, used_fu)
                if ukpn_side
                else f"{fsp.code}-{r['dno_area']}-X{r['index']:03d}"
            )
            assets[r["index"], col] = ref
    # guarantee at least one asset that stacks NESO and a DNO market (needed to plant conflicts)
    dual = (
        (assets["eac_unit_name"] != "")
        & (assets["bm_unit"] == "")
        & ((assets["ukpn_fu_id"] != "") | (assets["competition_asset_ref"] != ""))
    )
    if not dual.any():
        cand = assets.with_row_index().filter((pl.col("eac_unit_name") != "") & (pl.col("bm_unit") == ""))
        if cand.height:
            r = cand.row(0, named=True)
            idx = r["index"]
            if r["gsp_group"] in UKPN_GROUPS:
                fsp = _FSP_BY_ID[r["owner_participant_id"]]
                fu = _ukpn_fu_id(fsp.ukpn_style, fsp, r["flex_zone"], r["asset_type"], rng, used_fu)
                assets[idx, "ukpn_fu_id"] = fu
            else:
                assets[idx, "competition_asset_ref"] = (
                    f"{r['owner_participant_id'][4:]}-{r['dno_area']}-D{idx:03d}"
                )

    participants = build_participants(assets)
    return Fleet(assets=assets, participants=participants)


def build_participants(assets: pl.DataFrame) -> pl.DataFrame:
    counts = dict(assets.group_by("owner_participant_id").len().iter_rows())
    rows = []
    for i, f in enumerate(FSPS):
        rows.append(
            {
                "participant_id": f.participant_id,
                "participant_name": f.name,
                "role": "fsp",
                "in_demo_fleet": "true",
                "fleet_assets": int(counts.get(f.participant_id, 0)),
                "company_number": f"{12000000 + 7919 * (i + 1):08d}",
                "hq_city": f.hq,
                "name_variants": "|".join(sorted({v for _, v in f.variants})),
            }
        )
    for i, (pid, name) in enumerate(EXTERNAL_COMPANIES):
        rows.append(
            {
                "participant_id": pid,
                "participant_name": name,
                "role": "fsp",
                "in_demo_fleet": "false",
                "fleet_assets": 0,
                "company_number": f"{9000000 + 6007 * (i + 1):08d}",
                "hq_city": "",
                "name_variants": "",
            }
        )
    for m in taxonomy.table("markets"):
        if m["operator_id"] in ("elexon", "sfe"):
            continue
        pid = f"SO-{m['operator_id'].upper()}"
        if any(r["participant_id"] == pid for r in rows):
            continue
        rows.append(
            {
                "participant_id": pid,
                "participant_name": m["operator_name"],
                "role": "system_operator",
                "in_demo_fleet": "false",
                "fleet_assets": 0,
                "company_number": "",
                "hq_city": "",
                "name_variants": "",
            }
        )
    return pl.DataFrame(rows)
