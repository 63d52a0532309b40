"""Evaluate a request against a product's rules: its stored rules, the requirements written into the
product itself (minimum size, response time, zones) and, when the product has one, its external
rules endpoint. Every verdict carries an explanation that names the rule.

Decision (what happens to the action):
- a *block* rule that fails                      -> ``refused``
- else a *block* rule that lacks data or errored -> ``needs_information`` (the action waits)
- else a *notify* rule that did not pass         -> ``allowed_with_warnings``
- else                                           -> ``allowed``
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from sfe.registry.models import utcnow
from sfe.rules import external, kinds
from sfe.rules.catalogue import ProductInfo
from sfe.rules.facts import Commitment, Subject, Window
from sfe.rules.kinds import ERROR, FAIL, NEEDS_INFORMATION, NOT_APPLICABLE, PASS, RuleSpec

SCHEMA_VERSION = 1
# join: an asset joins a product; prequalification: it applies; eligibility: UC9's what-if;
# commitment / dispatch: one arrives; on_demand: someone asks (with or without a window).
CONTEXTS = ("join", "prequalification", "eligibility", "commitment", "dispatch", "on_demand")
ACTION_CONTEXTS = ("commitment", "dispatch")

ALLOWED, ALLOWED_WITH_WARNINGS, NEEDS_INFO, REFUSED = (
    "allowed",
    "allowed_with_warnings",
    "needs_information",
    "refused",
)
DECISION_LABELS = {
    ALLOWED: "Allowed",
    ALLOWED_WITH_WARNINGS: "Allowed, with warnings",
    NEEDS_INFO: "Needs information",
    REFUSED: "Refused",
}


@dataclass(frozen=True)
class EvaluationRequest:
    context: str
    product: ProductInfo
    subject: Subject
    window: Window | None = None
    window_kind: str = "commitment"  # what the window is when the context is on_demand
    commitments: tuple[Commitment, ...] = ()  # the subject's other commitments and dispatches
    evaluated_at: datetime = field(default_factory=utcnow)
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.context not in CONTEXTS:
            raise ValueError(f"evaluation context {self.context!r} is not one of {', '.join(CONTEXTS)}")
        if self.context in ACTION_CONTEXTS and self.window is None:
            raise ValueError(f"a {self.context} evaluation needs the action's window (start, end)")
        if self.window_kind not in ("commitment", "dispatch"):
            raise ValueError(f"window_kind {self.window_kind!r} must be 'commitment' or 'dispatch'")

    @property
    def action_kind(self) -> str | None:
        """commitment | dispatch when the request judges an action with a window, else None."""
        if self.window is None:
            return None
        return self.context if self.context in ACTION_CONTEXTS else self.window_kind

    def to_json(self) -> dict[str, Any]:
        """The request as sent to external rules endpoints (docs/rules-api.md)."""
        action = None
        if self.window is not None:
            action = {
                "kind": self.action_kind,
                "start_utc": self.window.start_utc.isoformat(),
                "end_utc": self.window.end_utc.isoformat(),
                "power_mw": self.window.power_mw,
                "reference": self.window.reference,
            }
        return {
            "schema_version": SCHEMA_VERSION,
            "request_id": self.request_id,
            "context": self.context,
            "evaluated_at": self.evaluated_at.isoformat(),
            "product": self.product.to_json(),
            "subject": self.subject.to_json(),
            "action": action,
            "commitments": [c.to_json() for c in self.commitments],
        }


@dataclass(frozen=True)
class Verdict:
    rule_id: str
    rule_name: str
    kind: str
    mode: str
    outcome: str
    explanation: str
    source: str = "rule"  # rule | product_requirement | external
    missing_fields: tuple[str, ...] = ()
    rule_version: int | None = None

    @property
    def counts(self) -> bool:
        """Whether the verdict affects the decision (not a pass, not 'not applicable')."""
        return self.outcome not in (PASS, NOT_APPLICABLE)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "kind": self.kind,
            "mode": self.mode,
            "outcome": self.outcome,
            "explanation": self.explanation,
            "source": self.source,
            "missing_fields": list(self.missing_fields),
            "rule_version": self.rule_version,
        }


@dataclass(frozen=True)
class Evaluation:
    request: EvaluationRequest
    verdicts: tuple[Verdict, ...]

    @property
    def blocking(self) -> list[Verdict]:
        """Block-mode verdicts that stop the action (failures, then missing data and errors)."""
        return [v for v in self.verdicts if v.mode == "block" and v.counts]

    @property
    def warnings(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.mode == "notify" and v.counts]

    @property
    def decision(self) -> str:
        blocking = self.blocking
        if any(v.outcome == FAIL for v in blocking):
            return REFUSED
        if blocking:
            return NEEDS_INFO
        if self.warnings:
            return ALLOWED_WITH_WARNINGS
        return ALLOWED

    @property
    def allowed(self) -> bool:
        return self.decision in (ALLOWED, ALLOWED_WITH_WARNINGS)

    def summary(self) -> str:
        """One paragraph: the decision and every verdict that shaped it."""
        decision = self.decision
        head = (
            f"{DECISION_LABELS[decision]}: {self.request.subject.label} for {self.request.product.label}"
            f" ({self.request.context})."
        )
        relevant = self.blocking if decision in (REFUSED, NEEDS_INFO) else self.warnings
        if decision == REFUSED:
            relevant = [v for v in relevant if v.outcome == FAIL]
        lines = [head, *(v.explanation for v in relevant)]
        if decision == ALLOWED:
            checked = [v for v in self.verdicts if v.outcome == PASS]
            lines.append(f"{len(checked)} rule(s) passed." if checked else "No rule applies.")
        return " ".join(lines)

    def audit_details(self) -> dict[str, Any]:
        """What an action's audit event should record about the rules it went through."""
        return {
            "rules_decision": self.decision,
            "rules_request_id": self.request.request_id,
            "rules_verdicts": [
                {"rule_id": v.rule_id, "rule_version": v.rule_version, "mode": v.mode, "outcome": v.outcome}
                for v in self.verdicts
            ],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request.request_id,
            "decision": self.decision,
            "summary": self.summary(),
            "verdicts": [v.to_json() for v in self.verdicts],
        }


class RuleRefused(PermissionError):
    """A block-mode rule stops the action (or lacks data to allow it). The message explains why."""

    def __init__(self, evaluation: Evaluation):
        super().__init__(evaluation.summary())
        self.evaluation = evaluation


# -- rule sources ----------------------------------------------------------------------------------
def product_requirements(product: ProductInfo) -> list[RuleSpec]:
    """The entry requirements written into the product's registration, as block-mode rules."""
    specs = []
    if product.min_size_mw is not None:
        specs.append(
            RuleSpec(
                "requirement:min_size_mw",
                f"Minimum size {product.min_size_mw:g} MW",
                "min_capacity",
                "block",
                {"min_mw": product.min_size_mw},
                source="product_requirement",
            )
        )
    if product.response_time_s is not None:
        specs.append(
            RuleSpec(
                "requirement:response_time_s",
                f"Full response within {product.response_time_s:g} s",
                "response_time",
                "block",
                {"max_s": product.response_time_s},
                source="product_requirement",
            )
        )
    if product.zones:
        specs.append(
            RuleSpec(
                "requirement:zones",
                "Connected in the product's zones",
                "location",
                "block",
                {"zones": list(product.zones), "dno_areas": [], "gsp_groups": []},
                source="product_requirement",
            )
        )
    return specs


def _title(spec: RuleSpec) -> str:
    what = "Product requirement" if spec.source == "product_requirement" else "Rule"
    label = kinds.KINDS[spec.kind].label.lower() if spec.kind in kinds.KINDS else spec.kind
    return f"{what} '{spec.name}' ({label}, {spec.mode})"


def judge(spec: RuleSpec, request: EvaluationRequest) -> Verdict:
    """One rule's verdict. A rule that cannot be judged gives an error verdict, never a pass."""
    try:
        finding = kinds.KINDS[spec.kind].check(spec, request)
    except Exception as exc:  # a broken rule must not let actions through silently
        finding = kinds.Finding(ERROR, f"the rule could not be evaluated ({type(exc).__name__}: {exc})")
    sentence = finding.reason[:1].upper() + finding.reason[1:]
    if finding.outcome == NOT_APPLICABLE:
        sentence = "Not applicable here: " + finding.reason
    elif finding.outcome == NEEDS_INFORMATION:
        sentence = "Needs information: " + finding.reason
    explanation = f"{_title(spec)}: {sentence}."
    if finding.outcome == FAIL and spec.description:
        explanation += f" Why: {spec.description.strip().rstrip('.')}."
    return Verdict(
        rule_id=spec.rule_id,
        rule_name=spec.name,
        kind=spec.kind,
        mode=spec.mode,
        outcome=finding.outcome,
        explanation=explanation,
        source=spec.source,
        missing_fields=finding.missing_fields,
        rule_version=spec.version,
    )


@dataclass(frozen=True)
class Endpoint:
    url: str
    timeout_s: float
    failure_mode: str  # block | notify: how an unusable answer counts


@dataclass(frozen=True)
class RuleSet:
    """A product's stored rules and external endpoint, loaded once: evaluating with it needs no
    database session, so slow external calls never hold the registry's write lock."""

    product_id: str
    specs: tuple[RuleSpec, ...] = ()
    endpoint: Endpoint | None = None


def _external_verdicts(
    endpoint: Endpoint, request: EvaluationRequest, unreachable: set[str] | None
) -> list[Verdict]:
    name = f"External rules service of {request.product.product_id}"
    try:
        if unreachable is not None and endpoint.url in unreachable:
            raise external.ExternalRulesError("it failed earlier in this run, so it was not called again")
        answers = external.call(endpoint.url, request.to_json(), endpoint.timeout_s)
    except external.ExternalRulesError as exc:
        if unreachable is not None:
            unreachable.add(endpoint.url)
        return [
            Verdict(
                rule_id="external:endpoint",
                rule_name=name,
                kind="external",
                mode=endpoint.failure_mode,
                outcome=ERROR,
                explanation=(
                    f"External rules service ({endpoint.url}): {exc}. The product's external rules "
                    "could not be checked, so this is not a pass; try again or ask the operator."
                ),
                source="external",
            )
        ]
    return [
        Verdict(
            rule_id=f"external:{a['rule_id']}",
            rule_name=a["rule_name"],
            kind=a["kind"],
            mode=a["mode"],
            outcome=a["outcome"],
            explanation=f"External rule '{a['rule_name']}' ({a['mode']}): {a['explanation']}",
            source="external",
            missing_fields=tuple(a["missing_fields"]),
        )
        for a in answers
    ]


def evaluate_with(
    rules: RuleSet, request: EvaluationRequest, unreachable: set[str] | None = None
) -> Evaluation:
    """Judge the request against the product's requirements, its stored rules and its external
    endpoint. ``unreachable``: for batch runs, a set collecting endpoint URLs that failed, so a dead
    rules service costs one timeout per run rather than one per asset (still an error verdict)."""
    if rules.product_id != request.product.product_id:
        raise ValueError(
            f"rules of {rules.product_id!r} given for a request about {request.product.product_id!r}"
        )
    specs = [*product_requirements(request.product), *rules.specs]
    verdicts = [judge(spec, request) for spec in specs]
    if rules.endpoint is not None:
        verdicts += _external_verdicts(rules.endpoint, request, unreachable)
    return Evaluation(request, tuple(verdicts))


def evaluate(s: Session, request: EvaluationRequest) -> Evaluation:
    """Load the product's rules and evaluate (reads the registry, writes nothing)."""
    from sfe.rules import store

    return evaluate_with(store.rule_set(s, request.product.product_id), request)


def enforce(s: Session, request: EvaluationRequest) -> Evaluation:
    """Evaluate and raise ``RuleRefused`` unless the action may go ahead (possibly with warnings).
    The caller records ``evaluation.audit_details()`` in the audit event of the action it takes."""
    evaluation = evaluate(s, request)
    if not evaluation.allowed:
        raise RuleRefused(evaluation)
    return evaluation


def _horizon(rule_sets: Iterable[RuleSet]) -> timedelta:
    """How far around an action its rules look (minimum gaps, exclusivity margins), at least a day:
    commitments further away cannot change a verdict, so they need not be sent."""
    minutes = [
        float(spec.params.get(name) or 0)
        for rules in rule_sets
        for spec in rules.specs
        for name in ("min_gap_min", "margin_min")
    ]
    return max(timedelta(days=1), timedelta(minutes=max(minutes, default=0)))


def evaluate_arrivals(
    s: Session | None,
    subject: Subject,
    products: dict[str, ProductInfo],
    arrivals: Iterable[Commitment],
    known: Iterable[Commitment] = (),
    rule_sets: dict[str, RuleSet] | None = None,
    unreachable: set[str] | None = None,
) -> list[tuple[Commitment, Evaluation]]:
    """Judge commitments and dispatches as they arrive, each against its product's rules. A decision
    other than allowed marks a breach: what arrived already happened elsewhere, so SFE flags it, it
    cannot undo it.

    Context of each arrival: everything ``known`` (judged earlier), the arrivals of the same batch
    that start before it, and the batch's arrivals in *other* products. So a limit within one product
    (a minimum gap, a maximum of concurrent commitments) is broken by the later activity only, one
    breach per incident, while a rule about other products (exclusivity, stacking) sees them whatever
    their order. Only activities within the rules' horizon of the window are sent (``_horizon``).
    ``rule_sets``: the products' rules loaded beforehand (then ``s`` may be None and nothing here
    touches the registry); ``unreachable``: see ``evaluate_with``."""
    arrivals = sorted(arrivals, key=lambda c: (c.start_utc, c.end_utc, c.product_id, c.reference or ""))
    if rule_sets is None:
        from sfe.rules import store

        if s is None:
            raise ValueError("evaluate_arrivals needs a registry session or the products' rule_sets")
        rule_sets = store.rule_sets(s, {a.product_id for a in arrivals})
    horizon = _horizon(rule_sets.values())
    # (commitment, batch position or None for known) by start, for picking each window's neighbours.
    pool = sorted(
        [(c, None) for c in known] + [(c, i) for i, c in enumerate(arrivals)],
        key=lambda item: item[0].start_utc,
    )
    starts = [c.start_utc for c, _ in pool]
    longest = max((c.end_utc - c.start_utc for c, _ in pool), default=timedelta(0))
    results = []
    for i, arrival in enumerate(arrivals):
        low, high = arrival.start_utc - horizon, arrival.end_utc + horizon
        first = bisect.bisect_left(starts, low - longest)
        last = bisect.bisect_left(starts, high)
        others = tuple(
            c
            for c, position in pool[first:last]
            if position != i
            and c.overlaps(low, high)
            and (position is None or position < i or c.product_id != arrival.product_id)
        )
        request = EvaluationRequest(
            context=arrival.kind,
            product=products[arrival.product_id],
            subject=subject,
            window=Window(arrival.start_utc, arrival.end_utc, arrival.power_mw, arrival.reference),
            commitments=others,
        )
        results.append((arrival, evaluate_with(rule_sets[arrival.product_id], request, unreachable)))
    return results
