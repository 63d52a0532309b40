"""Demo registrations: the demo FSP organisations register part of the generated fleet with the ids
its assets have in each market, as an aggregator on SFE would.

This is what ties together, in the warehouse, the ids of one physical asset that no source links
(e.g. a battery's EAC unit name and its DNO competition ref): the registry snapshot lists them under
one registered asset, and the crosswalk resolves them to it. About a third of the fleet is registered
(the portfolios of a few fleet companies), the rest stays unregistered as on a real platform that not
every provider has joined yet.

Idempotent: an asset whose MPAN is registered already is left alone; groups are reused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from sqlalchemy import select

from sfe.config import LakePaths, lake
from sfe.registry import assets, db, groups
from sfe.registry.access import Principal, Role
from sfe.registry.models import Organisation, User

# demo organisation -> (fleet owners whose assets it registers, its group: name, which assets)
DEMO_PORTFOLIOS: dict[str, tuple[tuple[str, ...], str, Callable[[dict], bool]]] = {
    "Demo Flex Ltd": (
        ("FSP-KSTR", "FSP-FENW", "FSP-PKMR"),
        "UK Power Networks portfolio",
        lambda row: row["dno_operator_id"] == "ukpn",
    ),
    "Second Flex Ltd": (
        ("FSP-MILL", "FSP-GRDW"),
        "Battery fleet",
        lambda row: row["asset_type"] == "battery",
    ),
}
FLEET_TO_ASSET = {
    "asset_name": "asset_name",
    "asset_type": "asset_type",
    "capacity_mw": "capacity_mw",
    "energy_mwh": "energy_mwh",
    "postcode": "postcode",
    "lat": "latitude",
    "lon": "longitude",
    "mpan": "mpan",
    "gsp_group": "gsp_group",
    "dno_area": "dno_area",
    "flex_zone": "flexibility_zone",
    **{ref: ref for ref in assets.MARKET_REF_TYPES},
}


@dataclass
class DemoPortfolio:
    organisation: str
    registered: list[str] = field(default_factory=list)  # registry ids registered by this run
    already: list[str] = field(default_factory=list)  # registered before (by this organisation)
    refused: list[str] = field(default_factory=list)  # fleet asset ids held by someone else, or invalid
    group: str | None = None
    group_members: int = 0


def _organisation(name: str) -> Organisation:
    from sfe.registry.identity import organisation_key

    with db.session() as s:
        org = s.scalar(select(Organisation).where(Organisation.name_key == organisation_key(name)))
        if org is None:
            org = Organisation(name=name, name_key=organisation_key(name), kind=Role.FSP.value)
            s.add(org)
            s.flush()
        return org


def _acting(org: Organisation) -> Principal:
    """The organisation's first member acts (so the audit trail names a person); without members the
    seeding itself acts (no user id), as ``sfe`` maintenance commands do."""
    with db.session() as s:
        user = s.scalars(select(User).where(User.organisation_id == org.id).order_by(User.id)).first()
    return Principal(
        user_id=user.id if user else None,  # type: ignore[arg-type]
        email=user.email if user else "",
        display_name=user.display_name if user else "SFE demo seeding",
        role=Role.FSP,
        organisation_id=org.id,
        organisation_name=org.name,
    )


def read_fleet(paths: LakePaths | None = None) -> pl.DataFrame:
    path: Path = (paths or lake()).generated / "fleet.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: generate the demo data first (sfe generate)")
    return pl.read_csv(path, infer_schema=False)


def seed_demo_assets(paths: LakePaths | None = None) -> list[DemoPortfolio]:
    """Register the demo organisations' share of the generated fleet, and their groups."""
    fleet = read_fleet(paths)
    result = []
    for org_name, (owners, group_name, in_group) in DEMO_PORTFOLIOS.items():
        org = _organisation(org_name)
        me = _acting(org)
        portfolio = DemoPortfolio(org_name, group=group_name)
        grouped: list[str] = []
        rows = fleet.filter(pl.col("owner_participant_id").is_in(owners)).sort("asset_id")
        with db.session() as s:  # one transaction per organisation; a savepoint per asset
            for row in rows.iter_rows(named=True):
                data = {target: row[source] for source, target in FLEET_TO_ASSET.items() if row.get(source)}
                try:
                    with s.begin_nested():
                        registry_id = assets.register_asset(
                            s, me, data, confirm_likely_duplicate=True
                        ).registry_asset_id
                    portfolio.registered.append(registry_id)
                except assets.DuplicateAsset as exc:
                    if exc.organisation_name is None:  # held by another organisation
                        portfolio.refused.append(row["asset_id"])
                        continue
                    registry_id = exc.registry_asset_id
                    portfolio.already.append(registry_id)
                except assets.InvalidInput:
                    portfolio.refused.append(row["asset_id"])
                    continue
                if in_group(row):
                    grouped.append(registry_id)
            group = groups.find_group(s, me, group_name) or groups.create_group(
                s, me, group_name, "Registered by the SFE demo."
            )
            if grouped:
                groups.add_to_group(s, me, group.group_id, grouped)
            portfolio.group_members = groups.get_group(s, me, group.group_id).current_members
        result.append(portfolio)
    return result
