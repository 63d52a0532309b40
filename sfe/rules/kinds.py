"""The rule kinds: their parameters, validation, and how each one judges a request.

A check returns a ``Finding`` (outcome + the reason in words); the engine turns it into a verdict
that names the rule. Rules about the asset itself (capacity, technology, location, response time)
apply in every context; rules about commitments and dispatches (exclusivity, stacking, concurrency,
gaps between activations) need the action's window and are *not applicable* without one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sfe import taxonomy

if TYPE_CHECKING:
    from sfe.rules.engine import EvaluationRequest

MODES = ("notify", "block")
PASS, FAIL, NEEDS_INFORMATION, NOT_APPLICABLE, ERROR = (
    "pass",
    "fail",
    "needs_information",
    "not_applicable",
    "error",
)
OUTCOMES = (PASS, FAIL, NEEDS_INFORMATION, NOT_APPLICABLE, ERROR)
EPSILON = 1e-9


class RuleError(ValueError):
    """A rule definition is invalid; the message names the field."""


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the engine sees it: stored rules and the product's own requirements alike."""

    rule_id: str  # "rule-12" for stored rules, "requirement:<field>" for product requirements
    name: str
    kind: str
    mode: str
    params: dict[str, Any]
    description: str | None = None
    source: str = "rule"  # rule | product_requirement
    version: int | None = None
    source_url: str | None = None


@dataclass(frozen=True)
class Finding:
    outcome: str
    reason: str
    missing_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    type: str  # float | int | bool | choice | products | asset_types | dno_areas | gsp_groups | texts
    required: bool = False
    default: Any = None
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True)
class Kind:
    kind: str
    label: str
    description: str
    params: tuple[Param, ...]
    check: Callable[[RuleSpec, EvaluationRequest], Finding]
    needs_window: bool = False
    at_least_one_of: tuple[str, ...] = field(default_factory=tuple)

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


# -- parameter validation --------------------------------------------------------------------------
def _as_list(kind: str, p: Param, value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [v for v in (part.strip() for part in value.split(",")) if v]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{kind}: '{p.name}' must be a list of text values")
    return [v.strip() for v in value if v.strip()]


def _vocabulary(p: Param, known_products: Iterable[str] | None) -> dict[str, str] | None:
    """normalised value -> canonical spelling, for the parameter types with a fixed vocabulary."""
    if p.type == "products":
        return None if known_products is None else {v.lower(): v for v in known_products}
    if p.type == "asset_types":
        return {r["asset_type"].lower(): r["asset_type"] for r in taxonomy.table("asset_types")}
    if p.type == "dno_areas":
        return {r["dno_area"].lower(): r["dno_area"] for r in taxonomy.table("dno_areas")}
    if p.type == "gsp_groups":
        return {r["gsp_group"].lower(): r["gsp_group"] for r in taxonomy.table("dno_areas")}
    return None


def validate_params(
    kind: str, params: dict[str, Any] | None, known_products: Iterable[str] | None = None
) -> dict[str, Any]:
    """The rule's parameters, type-checked and normalised. Raises RuleError naming the field."""
    if kind not in KINDS:
        raise RuleError(f"unknown rule kind {kind!r}; known: {', '.join(KINDS)}")
    spec = KINDS[kind]
    params = dict(params or {})
    unknown = sorted(set(params) - {p.name for p in spec.params})
    if unknown:
        raise RuleError(f"{kind}: unknown parameter(s) {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for p in spec.params:
        value = params.get(p.name, p.default)
        if p.type in ("products", "asset_types", "dno_areas", "gsp_groups", "texts"):
            items = _as_list(kind, p, value)
            vocabulary = _vocabulary(p, known_products)
            if vocabulary is not None:
                unknown_values = [v for v in items if v.lower() not in vocabulary]
                if unknown_values:
                    raise RuleError(
                        f"{kind}: '{p.name}' has unknown value(s) {', '.join(map(repr, unknown_values))}"
                    )
                items = [vocabulary[v.lower()] for v in items]
            if p.required and not items:
                raise RuleError(f"{kind}: '{p.name}' ({p.label}) needs at least one value")
            clean[p.name] = sorted(dict.fromkeys(items), key=items.index)
        elif p.type == "bool":
            if value is None:
                raise RuleError(f"{kind}: '{p.name}' ({p.label}) is required")
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool):
                raise RuleError(f"{kind}: '{p.name}' must be true or false, got {value!r}")
            clean[p.name] = value
        elif p.type == "choice":
            if value not in p.choices:
                raise RuleError(f"{kind}: '{p.name}' must be one of {', '.join(p.choices)}, got {value!r}")
            clean[p.name] = value
        else:  # float | int
            if value is None or value == "":
                if p.required:
                    raise RuleError(f"{kind}: '{p.name}' ({p.label}) is required")
                clean[p.name] = None
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise RuleError(f"{kind}: '{p.name}' must be a number, got {value!r}") from None
            if not math.isfinite(number):
                raise RuleError(f"{kind}: '{p.name}' must be a finite number, got {value!r}")
            if p.type == "int":
                if number != int(number):
                    raise RuleError(f"{kind}: '{p.name}' must be a whole number, got {value!r}")
                number = int(number)
            if p.minimum is not None and number < p.minimum:
                raise RuleError(f"{kind}: '{p.name}' must be at least {p.minimum:g}, got {value!r}")
            clean[p.name] = number
    if spec.at_least_one_of and not any(clean.get(n) for n in spec.at_least_one_of):
        names = " or ".join(f"'{n}'" for n in spec.at_least_one_of)
        raise RuleError(f"{kind}: give at least one of {names}")
    return clean


# -- helpers for checks ----------------------------------------------------------------------------
def _mw(value: float) -> str:
    return f"{value:,.3f}".rstrip("0").rstrip(".") + " MW"


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g} min"


def _list(items: Iterable[str], limit: int = 3) -> str:
    items = list(items)
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def _needs_window(action: str = "a commitment or dispatch") -> Finding:
    return Finding(NOT_APPLICABLE, f"applies to {action}; checked when one arrives")


def _peak(intervals: list[tuple[datetime, datetime, float]]) -> float:
    """The largest sum of weights of intervals open at the same instant (half-open intervals)."""
    events = sorted(
        [(start, 1, w) for start, _, w in intervals] + [(end, 0, w) for _, end, w in intervals],
        key=lambda e: (e[0], e[1]),  # at equal instants, ends (0) before starts (1)
    )
    level = peak = 0.0
    for _, is_start, weight in events:
        level += weight if is_start else -weight
        peak = max(peak, level)
    return peak


def _members_missing(req: EvaluationRequest, attribute: str) -> list[str]:
    return [m.asset_id for m in req.subject.members if getattr(m, attribute) is None]


def _missing(req: EvaluationRequest, attribute: str, label: str) -> Finding:
    missing = _members_missing(req, attribute)
    where = "" if req.subject.kind == "asset" else f" for member(s) {', '.join(missing)}"
    return Finding(
        NEEDS_INFORMATION,
        f"the registry holds no {label} ('{attribute}'){where}; add it to decide",
        (attribute,),
    )


# -- checks ----------------------------------------------------------------------------------------
def check_min_capacity(rule: RuleSpec, req: EvaluationRequest) -> Finding:
    minimum = rule.params["min_mw"]
    if not req.subject.members:
        return Finding(NEEDS_INFORMATION, "the asset group has no current members", ("members",))
    capacity = req.subject.capacity_mw
    if capacity is None:
        return _missing(req, "capacity_mw", "capacity")
    whose = (
        "the asset's capacity"
        if req.subject.kind == "asset"
        else (f"the group's total capacity ({len(req.subject.members)} members)")
    )
    if capacity + EPSILON < minimum:
        return Finding(FAIL, f"{whose} {_mw(capacity)} is below the minimum of {_mw(minimum)}")
    return Finding(PASS, f"{whose} {_mw(capacity)} meets the minimum of {_mw(minimum)}")


def check_technology(rule: RuleSpec, req: EvaluationRequest) -> Finding:
    allowed, excluded = rule.params.get("allowed_types") or [], rule.params.get("excluded_types") or []
    if not req.subject.members:
        return Finding(NEEDS_INFORMATION, "the asset group has no current members", ("members",))
    if _members_missing(req, "asset_type"):
        return _missing(req, "asset_type", "asset type")
    offending = [
        m
        for m in req.subject.members
        if (allowed and m.asset_type not in allowed) or (m.asset_type in excluded)
    ]
    terms = []
    if allowed:
        terms.append(f"allowed: {', '.join(allowed)}")
    if excluded:
        terms.append(f"excluded: {', '.join(excluded)}")
    if offending:
        who = (
            f"the asset's technology is {offending[0].asset_type}"
            if req.subject.kind == "asset"
            else "member(s) "
            + _list(f"{m.asset_id} ({m.asset_type})" for m in offending)
            + " have a technology that is not allowed"
        )
        return Finding(FAIL, f"{who} ({'; '.join(terms)})")
    types = sorted({m.asset_type for m in req.subject.members if m.asset_type})
    return Finding(PASS, f"technology {', '.join(types)} is accepted ({'; '.join(terms)})")


_LOCATION_FIELDS = (
    ("zones", "flexibility_zone", "flexibility zone"),
    ("dno_areas", "dno_area", "DNO licence area"),
    ("gsp_groups", "gsp_group", "GSP group"),
)


def check_location(rule: RuleSpec, req: EvaluationRequest) -> Finding:
    if not req.subject.members:
        return Finding(NEEDS_INFORMATION, "the asset group has no current members", ("members",))
    reasons, passes = [], []
    for param, attribute, label in _LOCATION_FIELDS:
        wanted = rule.params.get(param) or []
        if not wanted:
            continue
        if _members_missing(req, attribute):
            return _missing(req, attribute, label)
        accepted = {taxonomy.normalise_value(w) for w in wanted}
        outside = [
            m for m in req.subject.members if taxonomy.normalise_value(getattr(m, attribute)) not in accepted
        ]
        if outside:
            where = _list(f"{m.asset_id} in {getattr(m, attribute)}" for m in outside)
            reasons.append(f"{label} must be one of {', '.join(wanted)}, but {where}")
        else:
            values = sorted({getattr(m, attribute) for m in req.subject.members})
            passes.append(f"{label} {', '.join(values)} is inside {', '.join(wanted)}")
    if reasons:
        return Finding(FAIL, "; ".join(reasons))
    return Finding(PASS, "; ".join(passes))


def check_response_time(rule: RuleSpec, req: EvaluationRequest) -> Finding:
    maximum = rule.params["max_s"]
    if not req.subject.members:
        return Finding(NEEDS_INFORMATION, "the asset group has no current members", ("members",))
    if _members_missing(req, "response_time_s"):
        return _missing(req, "response_time_s", "response time")
    slowest = max(req.subject.members, key=lambda m: m.response_time_s or 0.0)
    value = slowest.response_time_s or 0.0
    who = "the asset" if req.subject.kind == "asset" else f"the slowest member {slowest.asset_id}"
    if value > maximum + EPSILON:
        return Finding(
            FAIL, f"{who} responds in {value:g} s; the product needs full response within {maximum:g} s"
        )
    return Finding(PASS, f"{who} responds in {value:g} s, within {maximum:g} s")


def check_exclusivity(rule: RuleSpec, req: EvaluationRequest) -> Finding:
    if req.window is None:
        return _needs_window()
    products = rule.params["products"]
    margin = timedelta(minutes=rule.params.get("margin_min") or 0)
    start, end = req.window.start_utc - margin, req.window.end_utc + margin
    conflicts = [c for c in req.commitments if c.product_id in products and c.overlaps(start, end)]
    scope = f"{', '.join(products)}" + (f" (with a {_minutes(margin)} margin)" if margin else "")
    if conflicts:
        return Finding(
            FAIL,
            f"the product is exclusive with {scope}, and the asset is already "
            + _list(c.describe() for c in conflicts),
        )
    return Finding(PASS, f"no overlapping commitment or dispatch in {scope}")


def check_stacking(rule: RuleSpec, req: EvaluationRequest) -> Finding:
    if req.window is None:
        return _needs_window()
    with_products = rule.params.get("with_products") or []
    others = [
        c
        for c in req.commitments
        if c.product_id != req.product.product_id
        and (not with_products or c.product_id in with_products)
        and c.overlaps(req.window.start_utc, req.window.end_utc)
    ]
    scope = ", ".join(with_products) if with_products else "any other product"
    if not rule.params["allowed"]:
        if others:
            return Finding(
                FAIL,
                f"stacking with {scope} is not allowed, and in this window the asset is already "
                + _list(c.describe() for c in others),
            )
        return Finding(PASS, f"no overlapping commitment in {scope}, so nothing is stacked")
    # Stacking allowed: the stacked services must fit in the asset's capacity at every instant.
    capacity = req.subject.capacity_mw
    if capacity is None:
        return _missing(req, "capacity_mw", "capacity")
    if req.window.power_mw is None:
        return Finding(
            NEEDS_INFORMATION, "the action gives no power_mw to check against capacity", ("power_mw",)
        )
    unknown = [c for c in others if c.power_mw is None]
    if unknown:
        return Finding(
            NEEDS_INFORMATION,
            "overlapping commitment(s) without a power: " + _list(c.describe() for c in unknown),
            ("power_mw",),
        )
    start, end = req.window.start_utc, req.window.end_utc
    intervals = [(max(c.start_utc, start), min(c.end_utc, end), c.power_mw or 0.0) for c in others]
    peak = _peak([*intervals, (start, end, req.window.power_mw)])
    if peak > capacity + EPSILON:
        return Finding(
            FAIL,
            f"stacked with {scope} the asset would deliver {_mw(peak)} at peak, more than its "
            f"capacity of {_mw(capacity)} (" + _list(c.describe() for c in others) + ")",
        )
    return Finding(PASS, f"stacked commitments peak at {_mw(peak)}, within the capacity of {_mw(capacity)}")


def check_max_concurrent(rule: RuleSpec, req: EvaluationRequest) -> Finding:
    if req.window is None:
        return _needs_window()
    maximum = rule.params["max_commitments"]
    start, end = req.window.start_utc, req.window.end_utc
    overlapping = [c for c in req.commitments if c.kind == "commitment" and c.overlaps(start, end)]
    intervals = [(max(c.start_utc, start), min(c.end_utc, end), 1.0) for c in overlapping]
    peak = int(_peak([*intervals, (start, end, 1.0)]))
    if peak > maximum:
        return Finding(
            FAIL,
            f"the asset would hold {peak} commitments at once, more than the maximum of {maximum} "
            "(already " + _list(c.describe() for c in overlapping) + ")",
        )
    return Finding(PASS, f"at most {peak} concurrent commitment(s), within the maximum of {maximum}")


def check_min_gap(rule: RuleSpec, req: EvaluationRequest) -> Finding:
    if req.window is None or req.action_kind != "dispatch":
        return _needs_window("dispatches (activations)")
    minimum = timedelta(minutes=rule.params["min_gap_min"])
    this_product_only = rule.params.get("scope") == "this_product"
    start, end = req.window.start_utc, req.window.end_utc
    too_close = []
    for c in req.commitments:
        if c.kind != "dispatch" or (this_product_only and c.product_id != req.product.product_id):
            continue
        if c.overlaps(start, end):
            too_close.append(f"overlaps {c.describe()}")
        elif c.end_utc <= start and start - c.end_utc < minimum:
            too_close.append(f"starts {_minutes(start - c.end_utc)} after {c.describe()}")
        elif end <= c.start_utc and c.start_utc - end < minimum:
            too_close.append(f"ends {_minutes(c.start_utc - end)} before {c.describe()}")
    scope = "in this product" if this_product_only else "in any product"
    if too_close:
        return Finding(
            FAIL,
            f"activations {scope} must be at least {_minutes(minimum)} apart, but this dispatch "
            + _list(too_close),
        )
    return Finding(PASS, f"no other activation {scope} within {_minutes(minimum)}")


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind(
            "exclusivity",
            "Exclusivity",
            "The asset may not be committed or dispatched in the named products in an overlapping window.",
            (
                Param("products", "Exclusive with products", "products", required=True),
                Param("margin_min", "Margin before/after (minutes)", "float", default=0, minimum=0),
            ),
            check_exclusivity,
            needs_window=True,
        ),
        Kind(
            "stacking",
            "Stacking",
            "Whether the asset may deliver this product at the same time as others. When allowed, the "
            "stacked services must fit in its capacity.",
            (
                Param("allowed", "Stacking allowed", "bool", required=True, default=False),
                Param(
                    "with_products",
                    "With products (empty: any other product)",
                    "products",
                    help="Only these products count; leave empty for every other product.",
                ),
            ),
            check_stacking,
            needs_window=True,
        ),
        Kind(
            "min_capacity",
            "Minimum capacity",
            "The asset's capacity (a group's total) must be at least this.",
            (Param("min_mw", "Minimum capacity (MW)", "float", required=True, minimum=0),),
            check_min_capacity,
        ),
        Kind(
            "technology",
            "Technology",
            "Which asset types may take part (every member of a group).",
            (
                Param("allowed_types", "Allowed asset types", "asset_types"),
                Param("excluded_types", "Excluded asset types", "asset_types"),
            ),
            check_technology,
            at_least_one_of=("allowed_types", "excluded_types"),
        ),
        Kind(
            "location",
            "Location",
            "Where the asset must be connected: flexibility zones, DNO licence areas or GSP groups "
            "(every member of a group; every criterion given must hold).",
            (
                Param("zones", "Flexibility zones", "texts"),
                Param("dno_areas", "DNO licence areas", "dno_areas"),
                Param("gsp_groups", "GSP groups", "gsp_groups"),
            ),
            check_location,
            at_least_one_of=("zones", "dno_areas", "gsp_groups"),
        ),
        Kind(
            "response_time",
            "Response time",
            "The asset (every member of a group) must reach full response within this many seconds.",
            (Param("max_s", "Maximum response time (s)", "float", required=True, minimum=0),),
            check_response_time,
        ),
        Kind(
            "max_concurrent",
            "Maximum concurrent commitments",
            "How many commitments (in any product) the asset may hold at the same time.",
            (Param("max_commitments", "Maximum concurrent commitments", "int", required=True, minimum=1),),
            check_max_concurrent,
            needs_window=True,
        ),
        Kind(
            "min_gap",
            "Minimum gap between activations",
            "Dispatches of the asset must be at least this far apart (recovery time).",
            (
                Param("min_gap_min", "Minimum gap (minutes)", "float", required=True, minimum=0),
                Param(
                    "scope",
                    "Counted across",
                    "choice",
                    default="all_products",
                    choices=("all_products", "this_product"),
                ),
            ),
            check_min_gap,
            needs_window=True,
        ),
    )
}


def describe_params(kind: str, params: dict[str, Any]) -> str:
    """A one-line reading of a rule's parameters, for lists."""
    spec = KINDS[kind]
    parts = []
    for p in spec.params:
        value = params.get(p.name)
        if value in (None, [], ""):
            continue
        if isinstance(value, list):
            value = ", ".join(value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, float):
            value = f"{value:g}"
        parts.append(f"{p.label}: {value}")
    return "; ".join(parts)
