"""Product rules as data: create, edit, switch mode, retire — only by the SO that runs the product
(or an admin); every change is audited and writes a new version with the rule's full state."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sfe.registry import audit
from sfe.registry.access import AccessDenied, NotFound, Principal, Role
from sfe.registry.models import utcnow
from sfe.registry.models_rules import ProductRule, ProductRulesEndpoint, ProductRuleVersion
from sfe.rules import catalogue, external, kinds
from sfe.rules.catalogue import ProductInfo
from sfe.rules.engine import Endpoint, RuleSet
from sfe.rules.kinds import MODES, RuleError, RuleSpec

VERSIONED_FIELDS = ("kind", "name", "mode", "params", "description", "source_url", "active")
FAILURE_MODES = MODES
MAX_NAME = 200


def _check_owner(s: Session, principal: Principal, product_id: str) -> ProductInfo:
    principal.require(Role.SYSTEM_OPERATOR, action="edit product rules")
    product = catalogue.product_info(s, product_id)
    if not catalogue.owns(principal, product):
        raise AccessDenied(
            f"{product.label} is run by operator {product.operator_id!r}; only that system operator "
            "(or an SFE administrator) can edit its rules."
        )
    return product


def _known_product_ids(s: Session) -> set[str]:
    return {p.product_id for p in catalogue.rule_products(s)}


def _clean(
    s: Session,
    product_id: str,
    kind: str,
    name: str,
    mode: str,
    params: dict[str, Any] | None,
    source_url: str | None,
) -> tuple[str, str, dict[str, Any], str | None]:
    name = " ".join((name or "").split())
    if not name:
        raise RuleError("name: give the rule a name people will recognise in explanations")
    if len(name) > MAX_NAME:
        raise RuleError(f"name: at most {MAX_NAME} characters")
    if mode not in MODES:
        raise RuleError(f"mode: must be 'notify' (warn, allow) or 'block' (refuse), got {mode!r}")
    clean = kinds.validate_params(kind, params, known_products=_known_product_ids(s))
    if kind == "exclusivity" and product_id in clean["products"]:
        raise RuleError("exclusivity: a product cannot be exclusive with itself")
    source_url = (source_url or "").strip() or None
    if source_url and not source_url.startswith(("https://", "http://")):
        raise RuleError(f"source_url: {source_url!r} is not an http(s) link")
    return name, mode, clean, source_url


def _snapshot(rule: ProductRule, principal: Principal | None, note: str | None) -> ProductRuleVersion:
    return ProductRuleVersion(
        version=rule.version,
        kind=rule.kind,
        name=rule.name,
        mode=rule.mode,
        params=dict(rule.params),
        description=rule.description,
        source_url=rule.source_url,
        active=rule.active,
        change_note=(note or "").strip() or None,
        changed_by_id=principal.user_id if principal else None,
    )


def create_rule(
    s: Session,
    principal: Principal,
    product_id: str,
    kind: str,
    name: str,
    mode: str,
    params: dict[str, Any] | None = None,
    description: str | None = None,
    source_url: str | None = None,
    change_note: str | None = None,
) -> ProductRule:
    _check_owner(s, principal, product_id)
    return insert_rule(
        s, principal, product_id, kind, name, mode, params, description, source_url, change_note
    )


def insert_rule(
    s: Session,
    actor: Principal | None,
    product_id: str,
    kind: str,
    name: str,
    mode: str,
    params: dict[str, Any] | None,
    description: str | None,
    source_url: str | None,
    change_note: str | None,
    **audit_details: Any,
) -> ProductRule:
    """Validate and store a new rule with its first version, audited. No ownership check: for
    ``create_rule`` (which checks) and SFE's own seeding (``actor`` None)."""
    name, mode, clean, source_url = _clean(s, product_id, kind, name, mode, params, source_url)
    actor_id = actor.user_id if actor else None
    rule = ProductRule(
        product_id=product_id,
        kind=kind,
        name=name,
        mode=mode,
        params=clean,
        description=(description or "").strip() or None,
        source_url=source_url,
        active=True,
        version=1,
        created_by_id=actor_id,
        updated_by_id=actor_id,
    )
    rule.versions.append(_snapshot(rule, actor, change_note or "created"))
    s.add(rule)
    s.flush()
    audit.record(
        s,
        actor,
        "rule.created",
        "product_rule",
        rule.id,
        product_id=product_id,
        kind=kind,
        name=name,
        mode=mode,
        params=clean,
        version=1,
        **audit_details,
    )
    return rule


def get_rule(s: Session, rule_id: int) -> ProductRule:
    rule = s.get(ProductRule, rule_id)
    if rule is None:
        raise NotFound(f"no rule {rule_id}")
    return rule


def update_rule(
    s: Session, principal: Principal, rule_id: int, change_note: str | None = None, **changes: Any
) -> ProductRule:
    """Change any of name, mode, params, description, source_url, active. A no-op writes nothing."""
    unknown = sorted(set(changes) - {"name", "mode", "params", "description", "source_url", "active"})
    if unknown:
        raise RuleError(f"cannot change {', '.join(unknown)} of a rule")
    rule = get_rule(s, rule_id)
    _check_owner(s, principal, rule.product_id)
    name, mode, clean, source_url = _clean(
        s,
        rule.product_id,
        rule.kind,
        changes.get("name", rule.name),
        changes.get("mode", rule.mode),
        changes.get("params", rule.params),
        changes.get("source_url", rule.source_url),
    )
    after = {
        "name": name,
        "mode": mode,
        "params": clean,
        "description": (changes.get("description", rule.description) or "").strip() or None,
        "source_url": source_url,
        "active": bool(changes.get("active", rule.active)),
    }
    diff = {k: {"from": getattr(rule, k), "to": v} for k, v in after.items() if getattr(rule, k) != v}
    if not diff:
        return rule
    for k, v in after.items():
        setattr(rule, k, v)
    rule.version += 1
    rule.updated_by_id = principal.user_id
    rule.updated_at = utcnow()
    rule.versions.append(_snapshot(rule, principal, change_note))
    s.flush()
    audit.record(
        s,
        principal,
        "rule.updated",
        "product_rule",
        rule.id,
        product_id=rule.product_id,
        version=rule.version,
        changes=diff,
        note=change_note,
    )
    return rule


def set_mode(
    s: Session, principal: Principal, rule_id: int, mode: str, note: str | None = None
) -> ProductRule:
    return update_rule(s, principal, rule_id, change_note=note or f"mode set to {mode}", mode=mode)


def retire_rule(s: Session, principal: Principal, rule_id: int, note: str | None = None) -> ProductRule:
    return update_rule(s, principal, rule_id, change_note=note or "retired", active=False)


def list_rules(s: Session, product_id: str, include_retired: bool = False) -> list[ProductRule]:
    stmt = select(ProductRule).where(ProductRule.product_id == product_id)
    if not include_retired:
        stmt = stmt.where(ProductRule.active.is_(True))
    return list(s.scalars(stmt.order_by(ProductRule.id)))


def rule_history(s: Session, rule_id: int) -> list[ProductRuleVersion]:
    return list(get_rule(s, rule_id).versions)


def spec_of(rule: ProductRule) -> RuleSpec:
    return RuleSpec(
        rule_id=f"rule-{rule.id}",
        name=rule.name,
        kind=rule.kind,
        mode=rule.mode,
        params=dict(rule.params),
        description=rule.description,
        source="rule",
        version=rule.version,
        source_url=rule.source_url,
    )


def rule_specs(s: Session, product_id: str) -> list[RuleSpec]:
    return [spec_of(r) for r in list_rules(s, product_id)]


def rule_sets(s: Session, product_ids: Iterable[str]) -> dict[str, RuleSet]:
    """Active rules and active endpoint of each product (two queries, whatever the number)."""
    ids = sorted(set(product_ids))
    specs: dict[str, list[RuleSpec]] = {p: [] for p in ids}
    rules = s.scalars(
        select(ProductRule)
        .where(ProductRule.product_id.in_(ids), ProductRule.active.is_(True))
        .order_by(ProductRule.id)
    )
    for rule in rules:
        specs[rule.product_id].append(spec_of(rule))
    endpoints = {
        e.product_id: Endpoint(e.url, e.timeout_s, e.failure_mode)
        for e in s.scalars(
            select(ProductRulesEndpoint).where(
                ProductRulesEndpoint.product_id.in_(ids), ProductRulesEndpoint.active.is_(True)
            )
        )
    }
    return {p: RuleSet(p, tuple(specs[p]), endpoints.get(p)) for p in ids}


def rule_set(s: Session, product_id: str) -> RuleSet:
    return rule_sets(s, [product_id])[product_id]


# -- external rules endpoint -----------------------------------------------------------------------
def get_endpoint(s: Session, product_id: str) -> ProductRulesEndpoint | None:
    return s.scalars(
        select(ProductRulesEndpoint).where(ProductRulesEndpoint.product_id == product_id)
    ).one_or_none()


def set_endpoint(
    s: Session,
    principal: Principal,
    product_id: str,
    url: str,
    timeout_s: float = 5.0,
    failure_mode: str = "block",
    active: bool = True,
) -> ProductRulesEndpoint:
    """Configure (or change) the product's external rules endpoint."""
    _check_owner(s, principal, product_id)
    url = external.validate_url(url)
    try:
        timeout_s = float(timeout_s)
    except (TypeError, ValueError):
        raise RuleError(f"timeout_s: {timeout_s!r} is not a number") from None
    if not 0.1 <= timeout_s <= external.MAX_TIMEOUT_S:
        raise RuleError(f"timeout_s: must be between 0.1 and {external.MAX_TIMEOUT_S:g} seconds")
    if failure_mode not in FAILURE_MODES:
        raise RuleError(f"failure_mode: must be 'block' or 'notify', got {failure_mode!r}")
    endpoint = get_endpoint(s, product_id)
    before = None
    if endpoint is None:
        endpoint = ProductRulesEndpoint(product_id=product_id, created_by_id=principal.user_id, url=url)
        s.add(endpoint)
    else:
        before = {
            "url": endpoint.url,
            "timeout_s": endpoint.timeout_s,
            "failure_mode": endpoint.failure_mode,
            "active": endpoint.active,
        }
    endpoint.url, endpoint.timeout_s, endpoint.failure_mode, endpoint.active = (
        url,
        timeout_s,
        failure_mode,
        active,
    )
    endpoint.updated_by_id = principal.user_id
    endpoint.updated_at = utcnow()
    s.flush()
    audit.record(
        s,
        principal,
        "rules_endpoint.set",
        "product",
        product_id,
        url=url,
        timeout_s=timeout_s,
        failure_mode=failure_mode,
        active=active,
        before=before,
    )
    return endpoint


def remove_endpoint(s: Session, principal: Principal, product_id: str) -> None:
    _check_owner(s, principal, product_id)
    endpoint = get_endpoint(s, product_id)
    if endpoint is None:
        return
    audit.record(s, principal, "rules_endpoint.removed", "product", product_id, url=endpoint.url)
    s.delete(endpoint)
    s.flush()
