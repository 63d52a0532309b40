"""Eligibility (UC9): for an asset or asset group, every live product with a verdict and its reasons.

Each product is judged by the rules engine in the ``eligibility`` context (the product's registered
requirements, its stored rules, its external rules endpoint):

- **not eligible**: a block-mode rule fails;
- **needs information**: a block-mode rule lacks data (the missing field is named), an external rules
  service could not answer, or the operator has recorded no entry requirements on SFE at all;
- **eligible**: nothing blocks (notify-mode failures are listed as warnings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sfe.registry import assets as asset_service
from sfe.registry import db
from sfe.registry import groups as group_service
from sfe.registry.access import Principal, Role
from sfe.rules import catalogue, engine, facts, store
from sfe.rules.catalogue import ProductInfo
from sfe.rules.engine import Evaluation, EvaluationRequest
from sfe.rules.kinds import FAIL, NOT_APPLICABLE, PASS

ELIGIBLE, NOT_ELIGIBLE, NEEDS_INFORMATION = "eligible", "not_eligible", "needs_information"
VERDICT_LABELS = {ELIGIBLE: "Eligible", NOT_ELIGIBLE: "Not eligible", NEEDS_INFORMATION: "Needs information"}
VERDICT_ORDER = {ELIGIBLE: 0, NEEDS_INFORMATION: 1, NOT_ELIGIBLE: 2}
ROLES = (Role.FSP, Role.SYSTEM_OPERATOR)


@dataclass(frozen=True)
class ProductEligibility:
    product: ProductInfo
    verdict: str
    reasons: tuple[str, ...]  # why not eligible / what is missing; for eligible: what was checked
    warnings: tuple[str, ...]  # notify-mode rules that did not pass
    missing_fields: tuple[str, ...]
    rules_checked: int  # verdicts that applied (not 'not applicable')
    evaluation: Evaluation

    def to_json(self) -> dict[str, Any]:
        return {
            "product_id": self.product.product_id,
            "product_name": self.product.name,
            "market_id": self.product.market_id,
            "operator_id": self.product.operator_id,
            "product_source": self.product.source,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "missing_fields": list(self.missing_fields),
            "rules_checked": self.rules_checked,
            "verdicts": [v.to_json() for v in self.evaluation.verdicts],
        }


@dataclass(frozen=True)
class EligibilityReport:
    subject: facts.Subject
    products: tuple[ProductEligibility, ...]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICT_LABELS, 0)
        for p in self.products:
            out[p.verdict] += 1
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per product (for tables and CSV)."""
        return [
            {
                "subject_kind": self.subject.kind,
                "subject_id": self.subject.subject_id,
                "subject_name": self.subject.name,
                "product_id": p.product.product_id,
                "product_name": p.product.name,
                "market_id": p.product.market_id,
                "operator_id": p.product.operator_id,
                "product_source": p.product.source,
                "verdict": p.verdict,
                "reasons": "\n".join(p.reasons),
                "warnings": "\n".join(p.warnings),
                "missing_fields": ", ".join(p.missing_fields),
                "rules_checked": p.rules_checked,
            }
            for p in self.products
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject.to_json(),
            "counts": self.counts(),
            "products": [p.to_json() for p in self.products],
        }


def judge_product(evaluation: Evaluation) -> ProductEligibility:
    """Read an eligibility-context evaluation as a verdict with reasons."""
    product = evaluation.request.product
    applied = [v for v in evaluation.verdicts if v.outcome != NOT_APPLICABLE]
    warnings = tuple(v.explanation for v in evaluation.warnings)
    blocking = evaluation.blocking
    failures = [v for v in blocking if v.outcome == FAIL]
    if failures:
        verdict, reasons = NOT_ELIGIBLE, tuple(v.explanation for v in failures)
    elif blocking:
        verdict, reasons = NEEDS_INFORMATION, tuple(v.explanation for v in blocking)
    elif not evaluation.verdicts:
        verdict = NEEDS_INFORMATION
        reasons = (
            f"No entry requirements for {product.label} are recorded on SFE: the operator "
            f"({product.operator_id}) has not published rules here, so SFE cannot judge. Check the "
            "product's service terms in the market rules library.",
        )
    else:
        verdict = ELIGIBLE
        reasons = tuple(v.explanation for v in applied if v.outcome == PASS) or (
            "No rule applies before commitments arrive.",
        )
    missing = tuple(dict.fromkeys(f for v in blocking for f in v.missing_fields))
    return ProductEligibility(product, verdict, reasons, warnings, missing, len(applied), evaluation)


def evaluate_subject(
    subject: facts.Subject,
    products: Iterable[ProductInfo],
    rule_sets: Mapping[str, engine.RuleSet],
    unreachable: set[str] | None = None,
) -> EligibilityReport:
    """Judge one subject against products with their loaded rules (no session, no access check)."""
    results = []
    for product in products:
        request = EvaluationRequest(context="eligibility", product=product, subject=subject)
        evaluation = engine.evaluate_with(rule_sets[product.product_id], request, unreachable)
        results.append(judge_product(evaluation))
    results.sort(key=lambda r: (VERDICT_ORDER[r.verdict], r.product.market_id, r.product.name))
    return EligibilityReport(subject, tuple(results))


def _products_and_rules(
    s: Session, taxonomy_ids: Iterable[str] | None
) -> tuple[list[ProductInfo], dict[str, engine.RuleSet]]:
    products = catalogue.live_products(s, taxonomy_ids)
    return products, store.rule_sets(s, [p.product_id for p in products])


def asset_eligibility(
    principal: Principal,
    registry_asset_id: str,
    taxonomy_ids: Iterable[str] | None = None,
    technical: Mapping[str, Any] | None = None,
) -> EligibilityReport:
    """Eligibility of an asset the principal may see (FSP: its own; SO: in its area; admin: all).
    ``taxonomy_ids``: the taxonomy products to include (e.g. those with data); None = all.
    Raises NotFound for an asset the principal may not see."""
    principal.require(*ROLES, action="check eligibility")
    with db.session() as s:  # read everything, then judge outside: external calls hold no lock
        record = asset_service.get_asset(s, principal, registry_asset_id)  # the access check
        subject = facts.asset_subject(facts.find_asset(s, record.registry_asset_id), technical)
        products, rule_sets = _products_and_rules(s, taxonomy_ids)
    return evaluate_subject(subject, products, rule_sets)


def group_eligibility(
    principal: Principal,
    group_id: int,
    taxonomy_ids: Iterable[str] | None = None,
    technical: Mapping[str, Mapping[str, Any]] | None = None,
) -> EligibilityReport:
    """Eligibility of one of the principal's asset groups (FSP: own; admin: all)."""
    principal.require(Role.FSP, action="check the eligibility of asset groups")
    with db.session() as s:
        record = group_service.get_group(s, principal, group_id)  # the access check
        subject = facts.group_subject(s, facts.find_group(s, record.group_id), technical)
        products, rule_sets = _products_and_rules(s, taxonomy_ids)
    return evaluate_subject(subject, products, rule_sets)
