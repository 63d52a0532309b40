"""Asset groups: an FSP's portfolios (e.g. "UKPN domestic batteries"), with their membership history.

Membership rows are never deleted: removing an asset closes its row (``valid_to``), so the group's
composition at any past instant stays known. An asset may belong to several groups; a group holds
only its own organisation's assets. Groups are visible to their organisation and to admins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sfe.registry import audit
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.models import Asset, AssetGroup, AssetGroupMembership, Organisation, utcnow
from sfe.registry.validation import Conflict, Errors, FieldError, InvalidInput


@dataclass
class GroupRecord:
    group_id: int
    organisation_id: int
    organisation_name: str
    group_name: str
    description: str | None
    created_at: datetime
    current_members: int


@dataclass
class MembershipRecord:
    registry_asset_id: str
    asset_name: str
    valid_from: datetime
    valid_to: datetime | None

    @property
    def current(self) -> bool:
        return self.valid_to is None


@dataclass
class MembershipChange:
    changed: list[str]  # registry ids added (or removed)
    unchanged: list[str]  # already members (or already not members)


def _require_group_role(principal: Principal) -> None:
    principal.require(Role.FSP, action="manage asset groups")


def _group(s: Session, principal: Principal, group_id: int) -> AssetGroup:
    _require_group_role(principal)
    group = s.get(AssetGroup, group_id)
    if group is None or not (principal.is_admin or group.organisation_id == principal.organisation_id):
        raise NotFound(f"no asset group {group_id}")
    return group


def _record(s: Session, group: AssetGroup) -> GroupRecord:
    members = s.scalar(
        select(func.count())
        .select_from(AssetGroupMembership)
        .where(AssetGroupMembership.group_id == group.id, AssetGroupMembership.valid_to.is_(None))
    )
    return GroupRecord(
        group_id=group.id,
        organisation_id=group.organisation_id,
        organisation_name=s.get(Organisation, group.organisation_id).name,
        group_name=group.name,
        description=group.description,
        created_at=group.created_at,
        current_members=int(members or 0),
    )


def create_group(
    s: Session,
    principal: Principal,
    name: str,
    description: str | None = None,
    *,
    organisation_id: int | None = None,
) -> GroupRecord:
    """A new, empty group of the principal's organisation (admins: of ``organisation_id``)."""
    _require_group_role(principal)
    errors = Errors()
    clean_name = errors.text("group_name", name, required=True)
    clean_description = errors.text("description", description, max_len=2000, multiline=True)
    errors.raise_if_any()
    owner = principal.organisation_id
    if principal.is_admin:
        org = s.get(Organisation, organisation_id) if organisation_id is not None else None
        if org is None or org.kind != Role.FSP:
            raise InvalidInput(
                [FieldError("organisation_id", "admins create groups for an FSP organisation")]
            )
        owner = org.id
    elif organisation_id not in (None, principal.organisation_id):
        raise AccessDenied("You can create groups only for your own organisation.")
    group = AssetGroup(organisation_id=owner, name=clean_name, description=clean_description)
    try:
        with s.begin_nested():
            s.add(group)
            s.flush()
    except IntegrityError:
        raise Conflict(f"your organisation already has a group called {clean_name!r}") from None
    audit.record(s, principal, "group.create", "asset_group", group.id, group_name=clean_name)
    return _record(s, group)


def find_group(s: Session, principal: Principal, name: str) -> GroupRecord | None:
    """The principal's organisation's group of that name (case as stored), if any."""
    _require_group_role(principal)
    group = s.scalars(
        select(AssetGroup).where(
            AssetGroup.organisation_id == principal.organisation_id, AssetGroup.name == name.strip()
        )
    ).one_or_none()
    return None if group is None else _record(s, group)


def list_groups(s: Session, principal: Principal) -> list[GroupRecord]:
    _require_group_role(principal)
    stmt = select(AssetGroup).order_by(AssetGroup.name, AssetGroup.id)
    if not principal.is_admin:
        stmt = stmt.where(AssetGroup.organisation_id == principal.organisation_id)
    return [_record(s, g) for g in s.scalars(stmt)]


def get_group(s: Session, principal: Principal, group_id: int) -> GroupRecord:
    return _record(s, _group(s, principal, group_id))


def _assets(s: Session, group: AssetGroup, registry_asset_ids: Iterable[str]) -> list[Asset]:
    wanted = list(dict.fromkeys(str(r).strip().upper() for r in registry_asset_ids if str(r).strip()))
    if not wanted:
        raise InvalidInput([FieldError("registry_asset_ids", "name at least one asset")])
    found = {
        a.registry_asset_id: a
        for a in s.scalars(
            select(Asset).where(
                Asset.registry_asset_id.in_(wanted), Asset.organisation_id == group.organisation_id
            )
        )
    }
    missing = [r for r in wanted if r not in found]
    if missing:
        raise NotFound(f"no asset {', '.join(missing)} in this group's organisation")
    return [found[r] for r in wanted]


def add_to_group(
    s: Session, principal: Principal, group_id: int, registry_asset_ids: Iterable[str]
) -> MembershipChange:
    """Add own (not retired) assets to a group; assets already in it are left as they are."""
    group = _group(s, principal, group_id)
    assets = _assets(s, group, registry_asset_ids)
    retired = [a.registry_asset_id for a in assets if a.retired_at is not None]
    if retired:
        raise Conflict(f"retired assets cannot join a group: {', '.join(retired)}")
    current = set(
        s.scalars(
            select(AssetGroupMembership.asset_id).where(
                AssetGroupMembership.group_id == group.id, AssetGroupMembership.valid_to.is_(None)
            )
        )
    )
    added, unchanged = [], []
    now = utcnow()
    for asset in assets:
        if asset.id in current:
            unchanged.append(asset.registry_asset_id)
            continue
        try:
            with s.begin_nested():
                s.add(
                    AssetGroupMembership(
                        group_id=group.id, asset_id=asset.id, valid_from=now, changed_by_id=principal.user_id
                    )
                )
                s.flush()
        except IntegrityError:  # added concurrently: it is a member, which is what was asked
            unchanged.append(asset.registry_asset_id)
            continue
        added.append(asset.registry_asset_id)
    if added:
        audit.record(s, principal, "group.add_assets", "asset_group", group.id, registry_asset_ids=added)
    return MembershipChange(changed=added, unchanged=unchanged)


def remove_from_group(
    s: Session, principal: Principal, group_id: int, registry_asset_ids: Iterable[str]
) -> MembershipChange:
    """End the current membership of these assets (the history row stays)."""
    group = _group(s, principal, group_id)
    assets = _assets(s, group, registry_asset_ids)
    by_asset = {
        m.asset_id: m
        for m in s.scalars(
            select(AssetGroupMembership).where(
                AssetGroupMembership.group_id == group.id,
                AssetGroupMembership.asset_id.in_([a.id for a in assets]),
                AssetGroupMembership.valid_to.is_(None),
            )
        )
    }
    removed, unchanged = [], []
    now = utcnow()
    for asset in assets:
        membership = by_asset.get(asset.id)
        if membership is None:
            unchanged.append(asset.registry_asset_id)
            continue
        membership.valid_to = now
        membership.changed_by_id = principal.user_id
        removed.append(asset.registry_asset_id)
    if removed:
        audit.record(s, principal, "group.remove_assets", "asset_group", group.id, registry_asset_ids=removed)
    return MembershipChange(changed=removed, unchanged=unchanged)


def group_members(
    s: Session, principal: Principal, group_id: int, *, include_past: bool = True
) -> list[MembershipRecord]:
    """The group's memberships, current first then past, newest first within each."""
    group = _group(s, principal, group_id)
    stmt = (
        select(AssetGroupMembership, Asset.registry_asset_id, Asset.name)
        .join(Asset, Asset.id == AssetGroupMembership.asset_id)
        .where(AssetGroupMembership.group_id == group.id)
    )
    if not include_past:
        stmt = stmt.where(AssetGroupMembership.valid_to.is_(None))
    rows = [
        MembershipRecord(registry_asset_id=rid, asset_name=name, valid_from=m.valid_from, valid_to=m.valid_to)
        for m, rid, name in s.execute(stmt)
    ]
    rows.sort(
        key=lambda r: (r.valid_to is not None, -(r.valid_to or r.valid_from).timestamp(), r.registry_asset_id)
    )
    return rows
