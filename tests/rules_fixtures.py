"""A small registry for the rules, eligibility and library tests, created directly with the models:
UKPN and NESO system operators, NGED, an FSP (Acme Flex) with two assets and a group, an admin, an
investor, and a live UKPN product registered on SFE."""

from __future__ import annotations

from dataclasses import dataclass

from sfe.registry import db, models
from sfe.registry.access import Principal, Role

from .registry_helpers import make_principal


@dataclass(frozen=True)
class World:
    people: dict[str, Principal]
    group_id: int

    def __getitem__(self, name: str) -> Principal:
        return self.people[name]


def build_world() -> World:
    people = {
        "ukpn": make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"),
        "neso": make_principal("NESO", Role.SYSTEM_OPERATOR, operator_id="neso"),
        "nged": make_principal("NGED", Role.SYSTEM_OPERATOR, operator_id="nged"),
        "fsp": make_principal("Acme Flex", Role.FSP),
        "other_fsp": make_principal("Other Flex", Role.FSP),
        "admin": make_principal("SFE", Role.ADMIN),
        "investor": make_principal("Bank", Role.INVESTOR),
    }
    org = {name: p.organisation_id for name, p in people.items()}
    with db.session() as s:
        s.add(
            models.Product(
                product_id="ukpn_secure_west",
                organisation_id=org["ukpn"],
                operator_id="ukpn",
                market_id="ukpn_flex",
                name="Secure West",
                service_type="Local flexibility",
                direction="up",
                status="live",
                min_size_mw=0.5,
                zones=["Ealing"],
            )
        )
        s.add(
            models.Product(
                product_id="ukpn_draft_east",
                organisation_id=org["ukpn"],
                operator_id="ukpn",
                market_id="ukpn_flex",
                name="Draft East",
                service_type="Local flexibility",
                direction="up",
                status="draft",
            )
        )
        battery = models.Asset(
            registry_asset_id="REG-000001",
            organisation_id=org["fsp"],
            name="Ealing battery",
            asset_type="battery",
            capacity_mw=2.0,
            dno_area="LPN",
            gsp_group="_C",
            flexibility_zone="Ealing",
            postcode="W5 2HL",
        )
        heat = models.Asset(
            registry_asset_id="REG-000002",
            organisation_id=org["fsp"],
            name="Heat pumps",
            asset_type="heat_pump",
            capacity_mw=0.3,
            dno_area="EPN",
            gsp_group="_A",
        )
        elsewhere = models.Asset(
            registry_asset_id="REG-000003",
            organisation_id=org["other_fsp"],
            name="Bristol solar",
            asset_type="solar_pv",
            capacity_mw=4.0,
            dno_area="SWEB",
            gsp_group="_L",
        )
        group = models.AssetGroup(organisation_id=org["fsp"], name="Portfolio")
        s.add_all([battery, heat, elsewhere, group])
        s.flush()
        s.add_all(
            [
                models.AssetGroupMembership(group_id=group.id, asset_id=battery.id),
                models.AssetGroupMembership(group_id=group.id, asset_id=heat.id),
            ]
        )
        group_id = group.id
    return World(people, group_id)
