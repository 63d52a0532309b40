"""Assets, registered once for all markets (UC3).

One registry entry per physical asset. Its MPAN and every id it already has in a market (BM unit, EAC
unit name, UKPN flexible-unit id, DNO competition asset ref) are unique across the whole registry:
the database's unique constraints refuse a second entry, so concurrent registrations cannot create
one whatever the timing, and the caller gets a pointer to the entry that holds the id.

What a refusal reveals: the existing entry's registry id always (an opaque sequence number; the caller
already holds the id they typed, and uniqueness cannot be enforced without saying it is taken), the
owning organisation only when it is the caller's own. Another organisation's name would disclose who
operates a site, which is commercially sensitive; the registry id is enough for the SFE admins to
settle a dispute.

Who sees what: flexibility providers (FSPs) their own organisation's assets (read and write); system
operators the assets connected in their area, read-only (a DNO: its licence areas; NESO: all of GB);
admins everything; investors and analysts no individual assets (they read aggregates in the warehouse).

Service functions take an open ``Session`` (``with db.session() as s: ...``) and a ``Principal``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import polars as pl
from sqlalchemy import Select, and_, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from sfe import taxonomy
from sfe.registry import audit
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.models import Asset, AssetGroupMembership, AssetMarketId, Organisation, utcnow
from sfe.registry.validation import Conflict, Errors, FieldError, InvalidInput

__all__ = [
    "ASSET_FIELDS",
    "MARKET_REF_TYPES",
    "AccessDenied",
    "AssetRecord",
    "DuplicateAsset",
    "FieldError",
    "InvalidInput",
    "LikelyDuplicate",
    "NotFound",
    "get_asset",
    "list_assets",
    "register_asset",
    "retire_asset",
    "update_asset",
]

# The ids an asset may already have in a market, as the warehouse's asset crosswalk names them.
MARKET_REF_TYPES = ("bm_unit", "eac_unit_name", "ukpn_fu_id", "competition_asset_ref")
REF_TYPE_LABELS = {
    "mpan": "MPAN",
    "bm_unit": "BM unit",
    "eac_unit_name": "EAC unit name",
    "ukpn_fu_id": "UKPN flexible-unit id",
    "competition_asset_ref": "DNO competition asset ref",
}
# Every field an asset is registered with, in form/CSV order (also the CSV template's columns).
ASSET_FIELDS = (
    "asset_name",
    "asset_type",
    "capacity_mw",
    "energy_mwh",
    "postcode",
    "latitude",
    "longitude",
    "mpan",
    "gsp_group",
    "dno_area",
    "flexibility_zone",
    *MARKET_REF_TYPES,
)
FIELD_HELP = {
    "asset_name": "Your name for the asset (required, up to 200 characters).",
    "asset_type": "Asset type id from the SFE taxonomy (required).",
    "capacity_mw": "Flexible capacity in MW (required, > 0).",
    "energy_mwh": "Energy capacity in MWh (required for storage: battery, V2G).",
    "postcode": "UK postcode of the site (this or latitude/longitude required).",
    "latitude": "WGS84 latitude, decimal degrees (with longitude; inside Great Britain).",
    "longitude": "WGS84 longitude, decimal degrees (with latitude).",
    "mpan": "13-digit MPAN core (a full 21-digit MPAN is accepted); the check digit is verified.",
    "gsp_group": "GSP group _A to _P (derived from the MPAN when given).",
    "dno_area": "DNO licence area id, e.g. EPN (derived from the MPAN or GSP group when given).",
    "flexibility_zone": "The DNO's flexibility zone name, if any.",
    "bm_unit": "Balancing Mechanism unit id, e.g. T_ABCD-1.",
    "eac_unit_name": "Unit name in NESO's Enduring Auction Capability.",
    "ukpn_fu_id": "UK Power Networks flexible-unit id.",
    "competition_asset_ref": "Asset reference used in DNO flexibility competitions.",
}

MAX_CAPACITY_MW = 2000.0  # larger than any single GB unit: a bigger number is a unit slip (kW as MW)
GB_LAT = (49.8, 60.9)
GB_LON = (-8.7, 1.8)
LIKELY_DUPLICATE_CAPACITY_TOLERANCE = 0.05  # 5 %
LIKELY_DUPLICATE_DISTANCE_M = 100.0
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")
_BM_UNIT = re.compile(r"^[A-Z0-9]_[A-Z0-9_\-]{2,18}$")
_MPAN_PRIMES = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)


class DuplicateAsset(Exception):
    """An id of the new asset already belongs to a registered asset."""

    def __init__(self, ref_type: str, ref: str, registry_asset_id: str, own_organisation: str | None):
        self.ref_type = ref_type
        self.source_asset_ref = ref
        self.registry_asset_id = registry_asset_id
        self.organisation_name = own_organisation  # only when the caller's own organisation holds it
        where = (
            f"by your organisation ({own_organisation})"
            if own_organisation
            else "by another organisation; if this is your asset, contact the SFE administrators "
            f"quoting {registry_asset_id}"
        )
        super().__init__(
            f"{REF_TYPE_LABELS[ref_type]} {ref!r} is already registered as {registry_asset_id}, {where}. "
            "An asset is registered once for all markets."
        )


@dataclass(frozen=True)
class SimilarAsset:
    registry_asset_id: str
    own: bool
    asset_name: str | None  # only for the caller's own organisation's assets
    distance_m: float | None


class LikelyDuplicate(Exception):
    """Same type, size within 5 % and same place as a registered asset: confirm before registering."""

    def __init__(self, matches: list[SimilarAsset]):
        self.matches = matches
        parts = [
            f"{m.registry_asset_id} ({m.asset_name})"
            if m.own
            else f"{m.registry_asset_id} (another organisation)"
            for m in matches
        ]
        super().__init__(
            "this looks like an asset that is already registered: same type, capacity within 5 % and the "
            f"same postcode or within {LIKELY_DUPLICATE_DISTANCE_M:.0f} m of "
            + ", ".join(parts)
            + ". Register it anyway only if it is a different physical asset (confirm the likely duplicate)."
        )


@dataclass
class AssetRecord:
    registry_asset_id: str
    organisation_id: int
    organisation_name: str
    asset_name: str
    asset_type: str
    capacity_mw: float
    energy_mwh: float | None
    postcode: str | None
    latitude: float | None
    longitude: float | None
    mpan: str | None
    gsp_group: str | None
    dno_area: str | None
    flexibility_zone: str | None
    bm_unit: str | None
    eac_unit_name: str | None
    ukpn_fu_id: str | None
    competition_asset_ref: str | None
    registered_at: datetime
    updated_at: datetime
    retired_at: datetime | None
    editable: bool = False  # may the principal who read it change it?
    groups: list[str] = field(default_factory=list)  # current groups

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- taxonomy lookups ---------------------------------------------------------------------------
@cache
def asset_types() -> dict[str, dict[str, str]]:
    """Registrable asset types (taxonomy/asset_types.csv; 'unknown' is the warehouse's, not a choice)."""
    return {r["asset_type"]: r for r in taxonomy.table("asset_types") if r["asset_type"] != "unknown"}


def storage_types() -> set[str]:
    return {k for k, r in asset_types().items() if r["is_storage"].strip().lower() == "true"}


@cache
def dno_areas() -> dict[str, dict[str, str]]:
    """gsp_group -> dno_areas.csv row."""
    return {r["gsp_group"]: r for r in taxonomy.table("dno_areas")}


@cache
def _gsp_of_distributor() -> dict[str, str]:
    return {r["distributor_id"]: r["gsp_group"] for r in taxonomy.table("mpan_distributors")}


def operator_areas(operator_id: str | None) -> set[str] | None:
    """The DNO areas a system operator covers; None = all of Great Britain (NESO, the national SO)."""
    if operator_id is None:
        return set()
    areas = {r["dno_area"] for r in dno_areas().values() if r["operator_id"] == operator_id}
    if areas:
        return areas
    operators = {r["operator_id"]: r for r in taxonomy.table("operators")}
    if operator_id == "neso" or operators.get(operator_id, {}).get("role") == "system_operator":
        return None  # a system operator without distribution areas operates the national system
    return set()


def mpan_check_digit(first12: str) -> int:
    """The MPAN core's check digit: primes-weighted sum of the first 12 digits, mod 11, mod 10."""
    return sum(int(d) * p for d, p in zip(first12, _MPAN_PRIMES, strict=True)) % 11 % 10


# -- reading an input -------------------------------------------------------------------------
def _postcode(errors: Errors, value: Any) -> str | None:
    text = errors.text("postcode", value, max_len=16)
    if text is None:
        return None
    compact = re.sub(r"\s+", "", text.upper())
    match = _POSTCODE.match(compact)
    if not match:
        errors.add("postcode", f"{text!r} is not a UK postcode (e.g. CB6 9EN)")
        return None
    return f"{match.group(1)} {match.group(2)}"


def _mpan(errors: Errors, value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = errors.text("mpan", value, max_len=40)
    if text is None:
        return None
    digits = re.sub(r"[\s\-]", "", text)
    if not digits.isdigit() or len(digits) not in (13, 21):
        errors.add("mpan", f"{text!r} is not an MPAN: give the 13-digit core (or the full 21 digits)")
        return None
    core = digits[-13:]  # a full MPAN ends with its 13-digit core
    if mpan_check_digit(core[:12]) != int(core[12]):
        errors.add("mpan", f"{core} fails the MPAN check digit (expected {mpan_check_digit(core[:12])} last)")
        return None
    if core[:2] not in _gsp_of_distributor():
        errors.add("mpan", f"{core} starts with {core[:2]}, which is not a GB distributor id (10-23)")
        return None
    return core


def _market_ref(errors: Errors, ref_type: str, value: Any) -> str | None:
    text = errors.text(ref_type, value, max_len=100)
    if text is None:
        return None
    if ref_type == "bm_unit":
        text = text.upper()  # Elexon publishes BM unit ids in upper case
        if not _BM_UNIT.match(text):
            errors.add(ref_type, f"{text!r} is not a BM unit id (e.g. T_ABCD-1, E_ABCD-1, 2__ABCD001)")
            return None
    return text


def _connection(errors: Errors, data: Mapping[str, Any], mpan: str | None) -> tuple[str | None, str | None]:
    """(gsp_group, dno_area), consistent with each other and with the MPAN's distributor."""
    areas = dno_areas()
    gsp = errors.text("gsp_group", data.get("gsp_group"), max_len=8)
    if gsp is not None:
        gsp = gsp.upper()
        gsp = gsp if gsp.startswith("_") else f"_{gsp}"
        if gsp not in areas:
            errors.add("gsp_group", f"{gsp!r} is not a GSP group (_A to _P: {', '.join(sorted(areas))})")
            gsp = None
    area = errors.text("dno_area", data.get("dno_area"), max_len=32)
    if area is not None:
        by_area = {r["dno_area"].lower(): g for g, r in areas.items()}
        area_gsp = by_area.get(area.lower())
        if area_gsp is None:
            known = ", ".join(sorted(r["dno_area"] for r in areas.values()))
            errors.add("dno_area", f"{area!r} is not a DNO licence area ({known})")
            area = None
        else:
            area = areas[area_gsp]["dno_area"]
            if gsp is not None and gsp != area_gsp:
                errors.add("dno_area", f"{area} is GSP group {area_gsp}, but gsp_group is {gsp}")
            gsp = gsp or area_gsp
    if mpan is not None:
        mpan_gsp = _gsp_of_distributor()[mpan[:2]]
        if gsp is not None and gsp != mpan_gsp:
            field_name = "gsp_group" if data.get("gsp_group") else "dno_area"
            errors.add(
                field_name,
                f"the MPAN {mpan} is connected in GSP group {mpan_gsp} ({areas[mpan_gsp]['dno_area_name']}), "
                f"not {gsp} ({areas[gsp]['dno_area_name']})",
            )
        gsp = mpan_gsp
    if gsp is None and not errors.has("gsp_group") and not errors.has("dno_area") and not errors.has("mpan"):
        errors.add("mpan", "give the connection point: the MPAN, or at least the GSP group or DNO area")
    return gsp, (areas[gsp]["dno_area"] if gsp in areas else None)


def clean_asset(data: Mapping[str, Any]) -> dict[str, Any]:
    """The registrable form of ``data`` (field -> value), or InvalidInput naming every bad field."""
    unknown = sorted(set(data) - set(ASSET_FIELDS))
    errors = Errors()
    for name in unknown:
        errors.add(name, f"unknown field; the fields are: {', '.join(ASSET_FIELDS)}")
    out: dict[str, Any] = {}
    out["asset_name"] = errors.text("asset_name", data.get("asset_name"), required=True)
    out["asset_type"] = errors.choice("asset_type", data.get("asset_type"), list(asset_types()))
    out["capacity_mw"] = errors.number(
        "capacity_mw",
        data.get("capacity_mw"),
        required=True,
        positive=True,
        maximum=MAX_CAPACITY_MW,
        unit="MW",
    )
    storage = out["asset_type"] in storage_types()
    energy = errors.number("energy_mwh", data.get("energy_mwh"), required=storage, positive=True, unit="MWh")
    if energy is not None and out["asset_type"] is not None and not storage:
        errors.add("energy_mwh", f"applies to storage assets only; a {out['asset_type']} has no MWh capacity")
        energy = None
    out["energy_mwh"] = energy

    out["postcode"] = _postcode(errors, data.get("postcode"))
    lat = errors.number("latitude", data.get("latitude"), minimum=GB_LAT[0], maximum=GB_LAT[1])
    lon = errors.number("longitude", data.get("longitude"), minimum=GB_LON[0], maximum=GB_LON[1])
    lat_given = data.get("latitude") not in (None, "") and not _is_nan(data.get("latitude"))
    lon_given = data.get("longitude") not in (None, "") and not _is_nan(data.get("longitude"))
    if lat_given != lon_given:
        errors.add("longitude" if lat_given else "latitude", "give latitude and longitude together")
    if (errors.has("latitude") or errors.has("longitude")) and (lat_given or lon_given):
        pass  # already reported (outside Great Britain or not a number)
    elif out["postcode"] is None and not errors.has("postcode") and (lat is None or lon is None):
        errors.add("postcode", "give the location: a postcode, or latitude and longitude")
    out["latitude"], out["longitude"] = (lat, lon) if lat is not None and lon is not None else (None, None)

    out["mpan"] = _mpan(errors, data.get("mpan"))
    out["gsp_group"], out["dno_area"] = _connection(errors, data, out["mpan"])
    out["flexibility_zone"] = errors.text("flexibility_zone", data.get("flexibility_zone"), max_len=100)
    for ref_type in MARKET_REF_TYPES:
        out[ref_type] = _market_ref(errors, ref_type, data.get(ref_type))
    errors.raise_if_any()
    return out


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _ref_pairs(clean: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs = [("mpan", clean["mpan"])] if clean.get("mpan") else []
    return pairs + [(t, clean[t]) for t in MARKET_REF_TYPES if clean.get(t)]


# -- access -----------------------------------------------------------------------------------
def _visible(principal: Principal) -> Select:
    """Assets the principal may read (AccessDenied for roles that see no individual assets)."""
    stmt = select(Asset)
    if principal.is_admin:
        return stmt
    if principal.role == Role.FSP:
        return stmt.where(Asset.organisation_id == principal.organisation_id)
    if principal.role == Role.SYSTEM_OPERATOR:
        areas = operator_areas(principal.operator_id)
        return stmt if areas is None else stmt.where(Asset.dno_area.in_(sorted(areas)))
    raise AccessDenied(
        "Individual assets are visible to their owners and the system operators they connect to; "
        "investors and analysts see aggregates in the market data pages."
    )


def _can_edit(principal: Principal, asset: Asset) -> bool:
    return principal.is_admin or (
        principal.role == Role.FSP and asset.organisation_id == principal.organisation_id
    )


def _load(s: Session, principal: Principal, registry_asset_id: str) -> Asset:
    try:
        stmt = _visible(principal)
    except AccessDenied:
        raise NotFound(f"no asset {registry_asset_id!r}") from None
    asset = s.scalars(
        stmt.where(Asset.registry_asset_id == str(registry_asset_id).strip().upper()).options(
            selectinload(Asset.market_ids)
        )
    ).one_or_none()
    if asset is None:
        raise NotFound(f"no asset {registry_asset_id!r}")
    return asset


def _load_for_change(s: Session, principal: Principal, registry_asset_id: str) -> Asset:
    asset = _load(s, principal, registry_asset_id)
    if not _can_edit(principal, asset):
        raise AccessDenied(
            f"{asset.registry_asset_id} belongs to another organisation; system operators see assets in "
            "their area read-only."
        )
    if asset.retired_at is not None:
        raise Conflict(
            f"{asset.registry_asset_id} was retired on {asset.retired_at:%Y-%m-%d}; it cannot change"
        )
    return asset


def _records(s: Session, principal: Principal, assets: list[Asset]) -> list[AssetRecord]:
    from sfe.registry.models import AssetGroup

    if not assets:
        return []
    ids = [a.id for a in assets]
    org_names = dict(
        s.execute(
            select(Organisation.id, Organisation.name).where(
                Organisation.id.in_({a.organisation_id for a in assets})
            )
        ).all()
    )
    groups: dict[int, list[str]] = {}
    for asset_id, name in s.execute(
        select(AssetGroupMembership.asset_id, AssetGroup.name)
        .join(AssetGroup, AssetGroup.id == AssetGroupMembership.group_id)
        .where(AssetGroupMembership.asset_id.in_(ids), AssetGroupMembership.valid_to.is_(None))
        .order_by(AssetGroup.name)
    ):
        groups.setdefault(asset_id, []).append(name)
    out = []
    for a in assets:
        refs = {m.ref_type: m.source_asset_ref for m in a.market_ids}
        out.append(
            AssetRecord(
                registry_asset_id=a.registry_asset_id or "",
                organisation_id=a.organisation_id,
                organisation_name=org_names.get(a.organisation_id, ""),
                asset_name=a.name,
                asset_type=a.asset_type,
                capacity_mw=a.capacity_mw,
                energy_mwh=a.energy_mwh,
                postcode=a.postcode,
                latitude=a.latitude,
                longitude=a.longitude,
                mpan=a.mpan,
                gsp_group=a.gsp_group,
                dno_area=a.dno_area,
                flexibility_zone=a.flexibility_zone,
                bm_unit=refs.get("bm_unit"),
                eac_unit_name=refs.get("eac_unit_name"),
                ukpn_fu_id=refs.get("ukpn_fu_id"),
                competition_asset_ref=refs.get("competition_asset_ref"),
                registered_at=a.created_at,
                updated_at=a.updated_at,
                retired_at=a.retired_at,
                editable=_can_edit(principal, a) and a.retired_at is None,
                groups=groups.get(a.id, []),
            )
        )
    return out


# -- duplicates -------------------------------------------------------------------------------
def _existing_holder(
    s: Session, principal: Principal, pairs: list[tuple[str, str]], exclude_asset_id: int | None = None
) -> DuplicateAsset | None:
    if not pairs:
        return None
    stmt = (
        select(
            AssetMarketId.ref_type,
            AssetMarketId.source_asset_ref,
            Asset.registry_asset_id,
            Asset.organisation_id,
        )
        .join(Asset, Asset.id == AssetMarketId.asset_id)
        .where(tuple_(AssetMarketId.ref_type, AssetMarketId.source_asset_ref).in_(pairs))
    )
    if exclude_asset_id is not None:
        stmt = stmt.where(AssetMarketId.asset_id != exclude_asset_id)
    order = {pair: i for i, pair in enumerate(pairs)}
    rows = sorted(s.execute(stmt).all(), key=lambda r: order.get((r[0], r[1]), 99))
    if not rows:
        return None
    ref_type, ref, registry_id, org_id = rows[0]
    own = org_id == principal.organisation_id
    return DuplicateAsset(
        ref_type, ref, registry_id or "(being registered)", principal.organisation_name if own else None
    )


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def likely_duplicates(
    s: Session, principal: Principal, clean: Mapping[str, Any], exclude_asset_id: int | None = None
) -> list[SimilarAsset]:
    """Registered (not retired) assets of the same type, capacity within 5 % and the same postcode or
    within 100 m: probably the same physical asset registered without the same ids. Assets that both
    carry an id of the same kind (e.g. two MPANs) are told apart by it: neighbours' home batteries
    behind their own meters are not duplicates."""
    cap = clean["capacity_mw"]
    tolerance = 1 + LIKELY_DUPLICATE_CAPACITY_TOLERANCE
    stmt = select(Asset).where(
        Asset.asset_type == clean["asset_type"],
        Asset.retired_at.is_(None),
        Asset.capacity_mw >= cap / tolerance,
        Asset.capacity_mw <= cap * tolerance,
    )
    if exclude_asset_id is not None:
        stmt = stmt.where(Asset.id != exclude_asset_id)
    places = []
    if clean["postcode"] is not None:
        places.append(Asset.postcode == clean["postcode"])
    if clean["latitude"] is not None and clean["longitude"] is not None:
        # a box larger than 100 m each way: 0.001 deg of latitude is 111 m, 0.0025 deg of longitude >= 134 m in GB
        places.append(
            and_(
                Asset.latitude.between(clean["latitude"] - 0.001, clean["latitude"] + 0.001),
                Asset.longitude.between(clean["longitude"] - 0.0025, clean["longitude"] + 0.0025),
            )
        )
    if not places:
        return []
    stmt = stmt.where(or_(*places))
    kinds = [ref_type for ref_type, _ in _ref_pairs(clean)]
    if kinds:
        # Both carrying an id of the same kind tells them apart: the ids differ (an equal id is a
        # DuplicateAsset, checked first), so they are two metering points / units.
        stmt = stmt.where(
            ~select(AssetMarketId.id)
            .where(AssetMarketId.asset_id == Asset.id, AssetMarketId.ref_type.in_(kinds))
            .exists()
        )
    matches = []
    for other in s.scalars(stmt.order_by(Asset.id)):
        distance = None
        if None not in (clean["latitude"], clean["longitude"], other.latitude, other.longitude):
            distance = _distance_m(clean["latitude"], clean["longitude"], other.latitude, other.longitude)
        same_postcode = clean["postcode"] is not None and clean["postcode"] == other.postcode
        if same_postcode or (distance is not None and distance <= LIKELY_DUPLICATE_DISTANCE_M):
            own = other.organisation_id == principal.organisation_id
            matches.append(
                SimilarAsset(
                    registry_asset_id=other.registry_asset_id or "",
                    own=own,
                    asset_name=other.name if own else None,
                    distance_m=None if distance is None else round(distance, 1),
                )
            )
    return matches


# -- changes ----------------------------------------------------------------------------------
def _owning_organisation(s: Session, principal: Principal, organisation_id: int | None) -> Organisation:
    principal.require(Role.FSP, action="register assets")
    if not principal.is_admin:
        if organisation_id not in (None, principal.organisation_id):
            raise AccessDenied("You can register assets only for your own organisation.")
        return s.get(Organisation, principal.organisation_id)
    org = s.get(Organisation, organisation_id) if organisation_id is not None else None
    if org is None or org.kind != Role.FSP:
        raise InvalidInput(
            [
                FieldError(
                    "organisation_id", "admins register assets on behalf of an FSP organisation; give its id"
                )
            ]
        )
    return org


def _apply(asset: Asset, clean: Mapping[str, Any]) -> None:
    asset.name = clean["asset_name"]
    for name in ("asset_type", "capacity_mw", "energy_mwh", "postcode", "latitude", "longitude", "mpan"):
        setattr(asset, name, clean[name])
    asset.gsp_group, asset.dno_area = clean["gsp_group"], clean["dno_area"]
    asset.flexibility_zone = clean["flexibility_zone"]
    wanted = dict(_ref_pairs(clean))
    for existing in list(asset.market_ids):
        if wanted.get(existing.ref_type) == existing.source_asset_ref:
            del wanted[existing.ref_type]
        else:
            asset.market_ids.remove(existing)
    for ref_type, ref in wanted.items():
        asset.market_ids.append(AssetMarketId(ref_type=ref_type, source_asset_ref=ref))


def _flush_guarded(
    s: Session, principal: Principal, write, pairs, exclude_asset_id: int | None = None
) -> None:
    """Run ``write`` in a savepoint; a unique-constraint race becomes DuplicateAsset with its pointer."""
    try:
        with s.begin_nested():
            write()
            s.flush()
    except IntegrityError:
        duplicate = _existing_holder(s, principal, pairs, exclude_asset_id)
        if duplicate is not None:
            raise duplicate from None
        raise


def register_asset(
    s: Session,
    principal: Principal,
    data: Mapping[str, Any],
    *,
    confirm_likely_duplicate: bool = False,
    organisation_id: int | None = None,
) -> AssetRecord:
    """Register one physical asset for the principal's organisation (admins: for ``organisation_id``).

    Raises InvalidInput (every bad field), DuplicateAsset (an id is already registered),
    LikelyDuplicate (unless confirmed) or AccessDenied.
    """
    org = _owning_organisation(s, principal, organisation_id)
    clean = clean_asset(data)
    pairs = _ref_pairs(clean)
    duplicate = _existing_holder(s, principal, pairs)
    if duplicate is not None:
        raise duplicate
    if not confirm_likely_duplicate:
        similar = likely_duplicates(s, principal, clean)
        if similar:
            raise LikelyDuplicate(similar)
    asset = Asset(organisation_id=org.id, created_by_id=principal.user_id)
    _apply(asset, clean)

    def write() -> None:
        s.add(asset)
        s.flush()
        asset.registry_asset_id = f"REG-{asset.id:06d}"

    _flush_guarded(s, principal, write, pairs)
    audit.record(
        s,
        principal,
        "asset.register",
        "asset",
        asset.registry_asset_id,
        organisation_id=org.id,
        asset_type=clean["asset_type"],
        capacity_mw=clean["capacity_mw"],
        market_ids=dict(pairs) or None,
        confirmed_likely_duplicate=True if confirm_likely_duplicate else None,
    )
    return _records(s, principal, [asset])[0]


def update_asset(
    s: Session,
    principal: Principal,
    registry_asset_id: str,
    changes: Mapping[str, Any],
    *,
    confirm_likely_duplicate: bool = False,
) -> AssetRecord:
    """Change fields of an own asset (admins: any). Fields absent from ``changes`` keep their value; a
    field given as None or '' is cleared. The whole asset is re-checked as on registration."""
    asset = _load_for_change(s, principal, registry_asset_id)
    current = _records(s, principal, [asset])[0].to_dict()
    merged = {name: current[name] for name in ASSET_FIELDS}
    unknown = sorted(set(changes) - set(ASSET_FIELDS))
    if unknown:
        raise InvalidInput([FieldError(n, "unknown field (or not changeable)") for n in unknown])
    merged.update(changes)
    clean = clean_asset(merged)
    changed = {k: clean[k] for k in ASSET_FIELDS if clean[k] != current[k]}
    if not changed:
        return _records(s, principal, [asset])[0]
    pairs = _ref_pairs(clean)
    duplicate = _existing_holder(s, principal, pairs, exclude_asset_id=asset.id)
    if duplicate is not None:
        raise duplicate
    placement = {"asset_type", "capacity_mw", "postcode", "latitude", "longitude"}
    if placement & set(changed) and not confirm_likely_duplicate:
        similar = likely_duplicates(s, principal, clean, exclude_asset_id=asset.id)
        if similar:
            raise LikelyDuplicate(similar)
    _flush_guarded(s, principal, lambda: _apply(asset, clean), pairs, exclude_asset_id=asset.id)
    asset.updated_at = utcnow()
    audit.record(
        s,
        principal,
        "asset.update",
        "asset",
        asset.registry_asset_id,
        changed={k: (current[k], v) for k, v in changed.items()},
    )
    return _records(s, principal, [asset])[0]


def retire_asset(
    s: Session, principal: Principal, registry_asset_id: str, reason: str | None = None
) -> AssetRecord:
    """Retire an own asset (decommissioned, sold, no longer offered). It leaves its groups; its entry
    and ids stay so the warehouse keeps attributing its history to it."""
    asset = _load_for_change(s, principal, registry_asset_id)
    errors = Errors()
    reason = errors.text("reason", reason, max_len=500)
    errors.raise_if_any()
    now = utcnow()
    asset.retired_at = now
    asset.updated_at = now
    for membership in s.scalars(
        select(AssetGroupMembership).where(
            AssetGroupMembership.asset_id == asset.id, AssetGroupMembership.valid_to.is_(None)
        )
    ):
        membership.valid_to = now
        membership.changed_by_id = principal.user_id
    audit.record(s, principal, "asset.retire", "asset", asset.registry_asset_id, reason=reason)
    return _records(s, principal, [asset])[0]


# -- reading ----------------------------------------------------------------------------------
def get_asset(s: Session, principal: Principal, registry_asset_id: str) -> AssetRecord:
    """One asset the principal may see; NotFound otherwise (other organisations' assets included)."""
    return _records(s, principal, [_load(s, principal, registry_asset_id)])[0]


def list_assets(
    s: Session,
    principal: Principal,
    *,
    include_retired: bool = False,
    organisation_id: int | None = None,
) -> list[AssetRecord]:
    """The assets the principal may see, by registry id (admins may filter by organisation)."""
    stmt = _visible(principal).options(selectinload(Asset.market_ids)).order_by(Asset.id)
    if not include_retired:
        stmt = stmt.where(Asset.retired_at.is_(None))
    if organisation_id is not None:
        stmt = stmt.where(Asset.organisation_id == organisation_id)
    return _records(s, principal, list(s.scalars(stmt)))


def records_for(s: Session, principal: Principal, assets: list[Asset]) -> list[AssetRecord]:
    """AssetRecords of already loaded (and already access-checked) assets, for sibling services."""
    return _records(s, principal, assets)


RECORD_COLUMNS = (
    "registry_asset_id",
    "asset_name",
    "organisation_name",
    *ASSET_FIELDS[1:],
    "groups",
    "registered_at",
    "updated_at",
    "retired_at",
)


def records_frame(records: list[AssetRecord]) -> pl.DataFrame:
    """AssetRecords as a table (one row per asset; groups joined by ', ') for lists and CSV."""
    schema: dict[str, Any] = {c: pl.String for c in RECORD_COLUMNS}
    schema |= {c: pl.Float64 for c in ("capacity_mw", "energy_mwh", "latitude", "longitude")}
    schema |= {c: pl.Datetime("us", "UTC") for c in ("registered_at", "updated_at", "retired_at")}
    rows = [{**{c: getattr(r, c) for c in RECORD_COLUMNS}, "groups": ", ".join(r.groups)} for r in records]
    return pl.DataFrame(rows, schema=schema, orient="row")
