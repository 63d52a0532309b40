"""A small registry for the rules, eligibility and library tests, created directly with the models:
UKPN and NESO system operators, NGED, an FSP (Acme Flex) with two assets and a group, an admin, an
investor, and a live UKPN product registered on SFE."""

from __future__ import annotations

from dataclasses import dataclass

from sfe.registry import db, models
from sfe.registry.access import Principal, Role


def principal(user: models.User, org: models.Organisation) -> Principal:
    return Principal(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=Role(user.role),
        organisation_id=org.id,
        organisation_name=org.name,
        operator_id=org.operator_id,
    )


def add_user(s, org: models.Organisation, email: str, role: str) -> Principal:
    user = models.User(
        email=email,
        display_name=email.split("@")[0],
        password_hash="not-a-login",
        role=role,
        organisation_id=org.id,
        status="active",
    )
    s.add(user)
    s.flush()
    return principal(user, org)


@dataclass(frozen=True)
class World:
    people: dict[str, Principal]
    group_id: int

    def __getitem__(self, name: str) -> Principal:
        return self.people[name]


def build_world() -> World:
    with db.session() as s:
        orgs = {
            "ukpn": models.Organisation(
                name="UK Power Networks",
                name_key="uk power networks",
                kind="system_operator",
                operator_id="ukpn",
            ),
            "neso": models.Organisation(
                name="NESO", name_key="neso", kind="system_operator", operator_id="neso"
            ),
            "nged": models.Organisation(
                name="NGED", name_key="nged", kind="system_operator", operator_id="nged"
            ),
            "fsp": models.Organisation(name="Acme Flex", name_key="acme flex", kind="fsp"),
            "other_fsp": models.Organisation(name="Other Flex", name_key="other flex", kind="fsp"),
            "admin": models.Organisation(name="SFE", name_key="sfe", kind="admin"),
            "investor": models.Organisation(name="Bank", name_key="bank", kind="investor"),
        }
        s.add_all(orgs.values())
        s.flush()
        roles = {"fsp": "fsp", "other_fsp": "fsp", "admin": "admin", "investor": "investor"}
        people = {
            key: add_user(s, org, f"{key}@{key}.example", roles.get(key, "system_operator"))
            for key, org in orgs.items()
        }
        s.add(
            models.Product(
                product_id="ukpn_secure_west",
                organisation_id=orgs["ukpn"].id,
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
                organisation_id=orgs["ukpn"].id,
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
            organisation_id=orgs["fsp"].id,
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
            organisation_id=orgs["fsp"].id,
            name="Heat pumps",
            asset_type="heat_pump",
            capacity_mw=0.3,
            dno_area="EPN",
            gsp_group="_A",
        )
        elsewhere = models.Asset(
            registry_asset_id="REG-000003",
            organisation_id=orgs["other_fsp"].id,
            name="Bristol solar",
            asset_type="solar_pv",
            capacity_mw=4.0,
            dno_area="SWEB",
            gsp_group="_L",
        )
        group = models.AssetGroup(organisation_id=orgs["fsp"].id, name="Portfolio")
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
