"""What the rules engine knows about the asset or asset group it judges, and about its commitments.

An asset group is judged as the sum of its current members: capacity adds up; technology, location
and response time must hold for every member. A value the registry does not hold is ``None`` and
makes a rule that needs it answer *needs information*, naming the field, never pass silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sfe.registry.access import NotFound
from sfe.registry.models import Asset, AssetGroup, AssetGroupMembership

# Technical data the registry's asset form does not collect (prequalification adds it): field -> label.
TECHNICAL_FIELDS = {"response_time_s": "response time (s)"}


def asset_ref(asset: Asset) -> str:
    """The id people see: the registry id (REG-000001) once assigned."""
    return asset.registry_asset_id or f"asset-{asset.id}"


def group_ref(group: AssetGroup) -> str:
    return f"group-{group.id}"


@dataclass(frozen=True)
class AssetFacts:
    asset_id: str
    name: str
    asset_type: str | None
    capacity_mw: float | None
    dno_area: str | None = None
    gsp_group: str | None = None
    flexibility_zone: str | None = None
    postcode: str | None = None
    response_time_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "name": self.name,
            "asset_type": self.asset_type,
            "capacity_mw": self.capacity_mw,
            "dno_area": self.dno_area,
            "gsp_group": self.gsp_group,
            "flexibility_zone": self.flexibility_zone,
            "postcode": self.postcode,
            "response_time_s": self.response_time_s,
        }


@dataclass(frozen=True)
class Subject:
    """The asset or asset group being judged."""

    kind: str  # asset | group
    subject_id: str
    name: str
    organisation_id: int | None
    members: tuple[AssetFacts, ...]

    @property
    def capacity_mw(self) -> float | None:
        if not self.members or any(m.capacity_mw is None for m in self.members):
            return None
        return sum(m.capacity_mw for m in self.members)  # type: ignore[misc]

    @property
    def label(self) -> str:
        kind = "asset" if self.kind == "asset" else "asset group"
        return f"{kind} {self.name} ({self.subject_id})"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject_id": self.subject_id,
            "name": self.name,
            "capacity_mw": self.capacity_mw,
            "members": [m.to_json() for m in self.members],
        }


@dataclass(frozen=True)
class Commitment:
    """A commitment (accepted bid, contracted availability) or dispatch of the subject in a product."""

    product_id: str
    kind: str  # commitment | dispatch
    start_utc: datetime
    end_utc: datetime
    power_mw: float | None = None
    market_id: str | None = None
    operator_id: str | None = None
    asset_id: str | None = None  # which member, for groups
    reference: str | None = None  # the source's id (bid id, dispatch id)

    def __post_init__(self) -> None:
        if self.kind not in ("commitment", "dispatch"):
            raise ValueError(f"commitment kind {self.kind!r} must be 'commitment' or 'dispatch'")
        if self.start_utc.tzinfo is None or self.end_utc.tzinfo is None:
            raise ValueError("commitment start_utc/end_utc must be timezone-aware (UTC)")
        if self.end_utc <= self.start_utc:
            raise ValueError(
                f"commitment {self.reference or self.product_id}: end {self.end_utc.isoformat()} "
                f"is not after start {self.start_utc.isoformat()}"
            )

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start_utc < end and start < self.end_utc  # half-open windows

    def describe(self) -> str:
        what = "dispatched" if self.kind == "dispatch" else "committed"
        mw = f" {self.power_mw:g} MW" if self.power_mw is not None else ""
        ref = f" [{self.reference}]" if self.reference else ""
        return (
            f"{what}{mw} in {self.product_id} {self.start_utc:%Y-%m-%d %H:%M}–"
            f"{self.end_utc:%Y-%m-%d %H:%M} UTC{ref}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "kind": self.kind,
            "start_utc": self.start_utc.isoformat(),
            "end_utc": self.end_utc.isoformat(),
            "power_mw": self.power_mw,
            "market_id": self.market_id,
            "operator_id": self.operator_id,
            "asset_id": self.asset_id,
            "reference": self.reference,
        }


def _facts(asset: Asset, technical: Mapping[str, Any] | None) -> AssetFacts:
    technical = technical or {}
    response = technical.get("response_time_s")
    return AssetFacts(
        asset_id=asset_ref(asset),
        name=asset.name,
        asset_type=asset.asset_type,
        capacity_mw=asset.capacity_mw,
        dno_area=asset.dno_area,
        gsp_group=asset.gsp_group,
        flexibility_zone=asset.flexibility_zone,
        postcode=asset.postcode,
        response_time_s=float(response) if response is not None else None,
    )


def find_asset(s: Session, ref: str | int) -> Asset:
    """An asset by registry id (REG-000001), 'asset-<id>' or numeric id. Raises NotFound."""
    if isinstance(ref, int) or str(ref).isdigit():
        asset = s.get(Asset, int(ref))
    elif str(ref).startswith("asset-") and str(ref)[6:].isdigit():
        asset = s.get(Asset, int(str(ref)[6:]))
    else:
        asset = s.scalars(select(Asset).where(Asset.registry_asset_id == str(ref).upper())).one_or_none()
    if asset is None:
        raise NotFound(f"no asset {ref!r}")
    return asset


def find_group(s: Session, ref: str | int) -> AssetGroup:
    text = str(ref)
    number = text[6:] if text.startswith("group-") else text
    group = s.get(AssetGroup, int(number)) if number.isdigit() else None
    if group is None:
        raise NotFound(f"no asset group {ref!r}")
    return group


def current_members(s: Session, group: AssetGroup) -> list[Asset]:
    stmt = (
        select(Asset)
        .join(AssetGroupMembership, AssetGroupMembership.asset_id == Asset.id)
        .where(AssetGroupMembership.group_id == group.id, AssetGroupMembership.valid_to.is_(None))
        .order_by(Asset.id)
    )
    return list(s.scalars(stmt))


def asset_subject(asset: Asset, technical: Mapping[str, Any] | None = None) -> Subject:
    """``technical``: data beyond the asset form (e.g. ``{"response_time_s": 0.8}``)."""
    facts = _facts(asset, technical)
    return Subject("asset", facts.asset_id, asset.name, asset.organisation_id, (facts,))


def group_subject(
    s: Session, group: AssetGroup, technical: Mapping[str, Mapping[str, Any]] | None = None
) -> Subject:
    """``technical``: per member registry id, data beyond the asset form."""
    technical = technical or {}
    members = tuple(_facts(a, technical.get(asset_ref(a))) for a in current_members(s, group))
    return Subject("group", group_ref(group), group.name, group.organisation_id, members)


@dataclass(frozen=True)
class Window:
    """The window of the action being judged (a commitment or dispatch)."""

    start_utc: datetime
    end_utc: datetime
    power_mw: float | None = None
    reference: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.start_utc.tzinfo is None or self.end_utc.tzinfo is None:
            raise ValueError("the action's start and end must be timezone-aware (UTC)")
        if self.end_utc <= self.start_utc:
            raise ValueError(
                f"the action's end {self.end_utc.isoformat()} is not after its start {self.start_utc.isoformat()}"
            )
        if self.power_mw is not None and self.power_mw <= 0:
            raise ValueError(f"the action's power_mw must be positive, got {self.power_mw}")
