"""The rules engine (UC5) on a real SQLite registry: rules as data, modes, explanations, versions,
audit, and external rules judged by a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from sfe.registry import audit, db, models
from sfe.registry.access import AccessDenied
from sfe.rules import catalogue, engine, facts, store
from sfe.rules.engine import EvaluationRequest
from sfe.rules.facts import Commitment, Window
from sfe.rules.kinds import RuleError

from .rules_fixtures import build_world

T0 = datetime(2025, 6, 2, 16, 0, tzinfo=UTC)


@pytest.fixture
def world(lake_paths):
    """UKPN with a live registered product (min 0.5 MW, Ealing zone), NESO, an FSP with a 2 MW battery
    in Ealing (LPN), 0.3 MW of heat pumps in EPN without a zone, and a group of both (rules_fixtures)."""
    db.dispose_all()
    yield build_world()
    db.dispose_all()


def _request(s, product_id: str, asset: str = "REG-000001", **kw) -> EvaluationRequest:
    subject = facts.asset_subject(facts.find_asset(s, asset), kw.pop("technical", None))
    return EvaluationRequest(product=catalogue.product_info(s, product_id), subject=subject, **kw)


def _window(hours: float = 3, start: datetime = T0, power: float | None = 1.0) -> Window:
    return Window(start, start + timedelta(hours=hours), power)


def _dc(start: datetime = T0, hours: float = 4, power: float = 1.5, kind: str = "commitment") -> Commitment:
    return Commitment("neso_eac_dch", kind, start, start + timedelta(hours=hours), power, reference="DC-1")


# -- the 'done when' of UC5 ------------------------------------------------------------------------
def test_block_rule_refuses_with_its_explanation_and_notify_lets_it_through_with_a_warning(world):
    with db.session() as s:
        rule = store.create_rule(
            s,
            world["ukpn"],
            "ukpn_secure_west",
            "exclusivity",
            "Not with Dynamic Containment",
            "block",
            {"products": ["neso_eac_dch"]},
            description="DC needs the whole battery at any time",
        )
        rule_id = rule.id
    with db.session() as s:
        request = _request(
            s, "ukpn_secure_west", context="commitment", window=_window(), commitments=(_dc(),)
        )
        with pytest.raises(engine.RuleRefused) as refused:
            engine.enforce(s, request)
        message = str(refused.value)
        assert message.startswith(
            "Refused: asset Ealing battery (REG-000001) for Secure West (ukpn_secure_west)"
        )
        assert "Rule 'Not with Dynamic Containment' (exclusivity, block)" in message
        assert (
            "already committed 1.5 MW in neso_eac_dch 2025-06-02 16:00–2025-06-02 20:00 UTC [DC-1]" in message
        )
        assert "Why: DC needs the whole battery at any time." in message

    with db.session() as s:
        store.set_mode(s, world["ukpn"], rule_id, "notify")
    with db.session() as s:
        request = _request(
            s, "ukpn_secure_west", context="commitment", window=_window(), commitments=(_dc(),)
        )
        evaluation = engine.enforce(s, request)
        assert evaluation.decision == engine.ALLOWED_WITH_WARNINGS
        [warning] = evaluation.warnings
        assert warning.rule_id == f"rule-{rule_id}" and warning.rule_version == 2
        assert "(exclusivity, notify)" in warning.explanation
        assert "Allowed, with warnings" in evaluation.summary()
        # Versioned and audited: v1 as created (block), v2 switched to notify, who did it.
        versions = store.rule_history(s, rule_id)
        assert [(v.version, v.mode) for v in versions] == [(1, "block"), (2, "notify")]
        assert versions[1].changed_by_id == world["ukpn"].user_id
        events = audit.history(s, "product_rule", rule_id)
        assert [e.action for e in events] == ["rule.created", "rule.updated"]
        assert events[1].details["changes"] == {"mode": {"from": "block", "to": "notify"}}


def test_a_commitment_outside_the_exclusive_window_passes(world):
    with db.session() as s:
        store.create_rule(
            s,
            world["ukpn"],
            "ukpn_secure_west",
            "exclusivity",
            "Not with DC",
            "block",
            {"products": ["neso_eac_dch"], "margin_min": 30},
        )
    with db.session() as s:
        later = _dc(start=T0 + timedelta(hours=3, minutes=15))  # within the 30 min margin
        request = _request(
            s, "ukpn_secure_west", context="commitment", window=_window(), commitments=(later,)
        )
        assert engine.evaluate(s, request).decision == engine.REFUSED
        far = _dc(start=T0 + timedelta(hours=3, minutes=30))
        request = _request(s, "ukpn_secure_west", context="commitment", window=_window(), commitments=(far,))
        evaluation = engine.evaluate(s, request)
        assert evaluation.decision == engine.ALLOWED
        assert any(
            "No overlapping commitment or dispatch in neso_eac_dch (with a 30 min margin)" in v.explanation
            for v in evaluation.verdicts
        )


# -- who may edit ----------------------------------------------------------------------------------
def test_only_the_operator_of_the_product_or_an_admin_edits_its_rules(world):
    with db.session() as s:
        with pytest.raises(AccessDenied, match="Only System operator"):
            store.create_rule(
                s, world["fsp"], "ukpn_secure_west", "min_capacity", "Min", "block", {"min_mw": 1}
            )
        with pytest.raises(AccessDenied, match="run by operator 'ukpn'"):
            store.create_rule(
                s, world["neso"], "ukpn_secure_west", "min_capacity", "Min", "block", {"min_mw": 1}
            )
        # NESO runs the taxonomy's NESO products; admins may edit anything.
        store.create_rule(
            s, world["neso"], "neso_eac_dch", "min_capacity", "DC minimum 1 MW", "block", {"min_mw": 1}
        )
        rule = store.create_rule(
            s, world["admin"], "ukpn_secure_west", "min_capacity", "Min 1 MW", "block", {"min_mw": 1}
        )
        with pytest.raises(AccessDenied):
            store.retire_rule(s, world["neso"], rule.id)
    with db.session() as s:
        assert "ukpn_secure_west" in [p.product_id for p in catalogue.editable_products(s, world["ukpn"])]
        assert all(p.operator_id == "ukpn" for p in catalogue.editable_products(s, world["ukpn"]))
        assert catalogue.editable_products(s, world["fsp"]) == []


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("min_capacity", {}, "'min_mw' \\(Minimum capacity \\(MW\\)\\) is required"),
        ("min_capacity", {"min_mw": "lots"}, "'min_mw' must be a number, got 'lots'"),
        ("min_capacity", {"min_mw": -1}, "'min_mw' must be at least 0"),
        ("technology", {"allowed_types": ["fusion"]}, "'allowed_types' has unknown value\\(s\\) 'fusion'"),
        ("technology", {}, "give at least one of 'allowed_types' or 'excluded_types'"),
        ("exclusivity", {"products": ["nope"]}, "'products' has unknown value\\(s\\) 'nope'"),
        ("exclusivity", {"products": ["ukpn_secure_west"]}, "cannot be exclusive with itself"),
        ("max_concurrent", {"max_commitments": 1.5}, "must be a whole number"),
        (
            "min_gap",
            {"min_gap_min": 30, "scope": "galaxy"},
            "'scope' must be one of all_products, this_product",
        ),
        ("location", {"dno_areas": ["Atlantis"]}, "'dno_areas' has unknown value\\(s\\) 'Atlantis'"),
        ("teleport", {}, "unknown rule kind 'teleport'"),
        ("min_capacity", {"min_mw": 1, "colour": "red"}, "unknown parameter\\(s\\) colour"),
    ],
)
def test_invalid_rules_are_refused_naming_the_field(world, kind, params, message):
    with db.session() as s, pytest.raises(RuleError, match=message):
        store.create_rule(s, world["ukpn"], "ukpn_secure_west", kind, "A rule", "block", params)


def test_mode_and_name_are_checked(world):
    with db.session() as s:
        with pytest.raises(RuleError, match="mode: must be 'notify'"):
            store.create_rule(
                s, world["ukpn"], "ukpn_secure_west", "min_capacity", "Min", "maybe", {"min_mw": 1}
            )
        with pytest.raises(RuleError, match="name: give the rule a name"):
            store.create_rule(
                s, world["ukpn"], "ukpn_secure_west", "min_capacity", "  ", "block", {"min_mw": 1}
            )


# -- each kind -------------------------------------------------------------------------------------
def _single_verdict(s, product_id: str, **kw) -> engine.Verdict:
    request = _request(s, product_id, **kw)
    verdicts = [v for v in engine.evaluate(s, request).verdicts if v.source == "rule"]
    assert len(verdicts) == 1
    return verdicts[0]


def test_asset_rules_capacity_technology_location_response_time(world):
    with db.session() as s:
        for kind, params in [
            ("min_capacity", {"min_mw": 5}),
            ("technology", {"allowed_types": ["battery", "v2g"]}),
            ("location", {"dno_areas": ["EPN", "SPN"]}),
            ("response_time", {"max_s": 1}),
        ]:
            store.create_rule(s, world["neso"], f"neso_eac_{'dch'}", kind, f"{kind} rule", "block", params)
    with db.session() as s:
        verdicts = {
            v.kind: v for v in engine.evaluate(s, _request(s, "neso_eac_dch", context="join")).verdicts
        }
        assert verdicts["min_capacity"].outcome == "fail"
        assert (
            "The asset's capacity 2 MW is below the minimum of 5 MW" in verdicts["min_capacity"].explanation
        )
        assert verdicts["technology"].outcome == "pass"
        assert verdicts["location"].outcome == "fail"
        assert (
            "DNO licence area must be one of EPN, SPN, but REG-000001 in LPN"
            in verdicts["location"].explanation
        )
        # The registry's asset form has no response time: needs information, naming the field.
        assert verdicts["response_time"].outcome == "needs_information"
        assert verdicts["response_time"].missing_fields == ("response_time_s",)
        assert "'response_time_s'" in verdicts["response_time"].explanation

        fast = _request(s, "neso_eac_dch", context="prequalification", technical={"response_time_s": 0.8})
        verdicts = {v.kind: v for v in engine.evaluate(s, fast).verdicts}
        assert verdicts["response_time"].outcome == "pass"
        assert "responds in 0.8 s, within 1 s" in verdicts["response_time"].explanation


def test_a_group_is_judged_on_total_capacity_and_every_member(world):
    with db.session() as s:
        store.create_rule(
            s, world["neso"], "neso_eac_dcl", "min_capacity", "DC 2 MW", "block", {"min_mw": 2.2}
        )
        store.create_rule(
            s,
            world["neso"],
            "neso_eac_dcl",
            "technology",
            "Storage only",
            "notify",
            {"allowed_types": ["battery", "v2g"]},
        )
        store.create_rule(
            s, world["neso"], "neso_eac_dcl", "location", "Zone", "block", {"zones": ["ealing"]}
        )
    with db.session() as s:
        group = s.scalars(select(models.AssetGroup)).one()
        subject = facts.group_subject(s, facts.find_group(s, group.id))
        request = EvaluationRequest("join", catalogue.product_info(s, "neso_eac_dcl"), subject)
        evaluation = engine.evaluate(s, request)
        by_kind = {v.kind: v for v in evaluation.verdicts}
        assert by_kind["min_capacity"].outcome == "pass"
        assert "The group's total capacity (2 members) 2.3 MW" in by_kind["min_capacity"].explanation
        assert by_kind["technology"].outcome == "fail"
        assert "Member(s) REG-000002 (heat_pump)" in by_kind["technology"].explanation
        # One member has no flexibility zone: the location rule cannot decide.
        assert by_kind["location"].outcome == "needs_information"
        assert "for member(s) REG-000002" in by_kind["location"].explanation
        assert evaluation.decision == engine.NEEDS_INFO


def test_stacking_forbidden_and_allowed_within_capacity(world):
    with db.session() as s:
        rule = store.create_rule(
            s, world["ukpn"], "ukpn_secure_west", "stacking", "No stacking", "block", {"allowed": False}
        )
        rule_id = rule.id
    with db.session() as s:
        verdict = _single_verdict(
            s, "ukpn_secure_west", context="commitment", window=_window(), commitments=(_dc(),)
        )
        assert (
            verdict.outcome == "fail"
            and "Stacking with any other product is not allowed" in verdict.explanation
        )
        store.update_rule(s, world["ukpn"], rule_id, name="Stack within capacity", params={"allowed": True})
    with db.session() as s:
        # 1.5 MW DC + 1 MW here > 2 MW battery.
        verdict = _single_verdict(
            s, "ukpn_secure_west", context="commitment", window=_window(), commitments=(_dc(),)
        )
        assert verdict.outcome == "fail"
        assert "would deliver 2.5 MW at peak, more than its capacity of 2 MW" in verdict.explanation
        # Two DC commitments that do not overlap each other: the peak is 1.5 + 0.5, not the sum of all.
        split = (_dc(hours=1.5), _dc(start=T0 + timedelta(hours=1.5), hours=2))
        verdict = _single_verdict(
            s, "ukpn_secure_west", context="commitment", window=_window(power=0.5), commitments=split
        )
        assert verdict.outcome == "pass" and "peak at 2 MW" in verdict.explanation
        verdict = _single_verdict(
            s, "ukpn_secure_west", context="commitment", window=_window(power=None), commitments=split
        )
        assert verdict.outcome == "needs_information" and verdict.missing_fields == ("power_mw",)


def test_max_concurrent_commitments_and_min_gap_between_activations(world):
    with db.session() as s:
        store.create_rule(
            s,
            world["ukpn"],
            "ukpn_secure_west",
            "max_concurrent",
            "One at a time",
            "block",
            {"max_commitments": 1},
        )
        store.create_rule(
            s, world["ukpn"], "ukpn_secure_west", "min_gap", "Recovery", "notify", {"min_gap_min": 60}
        )
    with db.session() as s:
        evaluation = engine.evaluate(
            s, _request(s, "ukpn_secure_west", context="commitment", window=_window(), commitments=(_dc(),))
        )
        by_kind = {v.kind: v for v in evaluation.verdicts}
        assert by_kind["max_concurrent"].outcome == "fail"
        assert (
            "would hold 2 commitments at once, more than the maximum of 1"
            in by_kind["max_concurrent"].explanation
        )
        assert by_kind["min_gap"].outcome == "not_applicable"  # a commitment is not an activation

        previous = _dc(start=T0 - timedelta(hours=2), hours=1.5, kind="dispatch")  # ends 30 min before
        evaluation = engine.evaluate(
            s, _request(s, "ukpn_secure_west", context="dispatch", window=_window(), commitments=(previous,))
        )
        by_kind = {v.kind: v for v in evaluation.verdicts}
        assert by_kind["max_concurrent"].outcome == "pass"  # dispatches are not commitments
        assert by_kind["min_gap"].outcome == "fail"
        assert (
            "at least 60 min apart, but this dispatch starts 30 min after dispatched"
            in by_kind["min_gap"].explanation
        )
        assert evaluation.decision == engine.ALLOWED_WITH_WARNINGS


def test_rules_needing_a_window_are_not_applicable_when_joining(world):
    with db.session() as s:
        store.create_rule(
            s,
            world["ukpn"],
            "ukpn_secure_west",
            "exclusivity",
            "Not with DC",
            "block",
            {"products": ["neso_eac_dch"]},
        )
    with db.session() as s:
        evaluation = engine.evaluate(s, _request(s, "ukpn_secure_west", context="join"))
        rule_verdict = next(v for v in evaluation.verdicts if v.source == "rule")
        assert rule_verdict.outcome == "not_applicable"
        assert "checked when one arrives" in rule_verdict.explanation
        with pytest.raises(ValueError, match="needs the action's window"):
            _request(s, "ukpn_secure_west", context="dispatch")


def test_the_products_own_requirements_are_rules_too(world):
    with db.session() as s:
        evaluation = engine.evaluate(s, _request(s, "ukpn_secure_west", asset="REG-000002", context="join"))
        by_id = {v.rule_id: v for v in evaluation.verdicts}
        assert by_id["requirement:min_size_mw"].outcome == "fail"
        assert (
            "Product requirement 'Minimum size 0.5 MW' (minimum capacity, block)"
            in by_id["requirement:min_size_mw"].explanation
        )
        assert by_id["requirement:zones"].outcome == "needs_information"
        assert evaluation.decision == engine.REFUSED
        assert engine.evaluate(s, _request(s, "ukpn_secure_west", context="join")).decision == engine.ALLOWED


def test_retired_rules_no_longer_apply_but_keep_their_history(world):
    with db.session() as s:
        rule = store.create_rule(
            s, world["ukpn"], "ukpn_secure_west", "min_capacity", "Big", "block", {"min_mw": 50}
        )
        rule_id = rule.id
    with db.session() as s:
        assert engine.evaluate(s, _request(s, "ukpn_secure_west", context="join")).decision == engine.REFUSED
        store.retire_rule(s, world["admin"], rule_id, note="superseded by the 2026 terms")
    with db.session() as s:
        assert engine.evaluate(s, _request(s, "ukpn_secure_west", context="join")).decision == engine.ALLOWED
        assert [r.id for r in store.list_rules(s, "ukpn_secure_west", include_retired=True)] == [rule_id]
        last = store.rule_history(s, rule_id)[-1]
        assert (last.version, last.active, last.change_note) == (2, False, "superseded by the 2026 terms")
        assert last.changed_by_id == world["admin"].user_id


def test_arrivals_are_judged_in_order_against_each_other(world):
    with db.session() as s:
        store.create_rule(
            s,
            world["ukpn"],
            "ukpn_secure_west",
            "exclusivity",
            "Not with DC",
            "block",
            {"products": ["neso_eac_dch"]},
        )
        subject = facts.asset_subject(facts.find_asset(s, "REG-000001"))
        products = {p: catalogue.product_info(s, p) for p in ("ukpn_secure_west", "neso_eac_dch")}
        ours = Commitment(
            "ukpn_secure_west",
            "dispatch",
            T0 + timedelta(hours=1),
            T0 + timedelta(hours=2),
            1.0,
            reference="UKPN-7",
        )
        clear = Commitment(
            "ukpn_secure_west", "dispatch", T0 + timedelta(hours=6), T0 + timedelta(hours=7), 1.0
        )
        results = engine.evaluate_arrivals(s, subject, products, [clear, ours], known=[_dc()])
        assert [(c.reference, e.decision) for c, e in results] == [("UKPN-7", "refused"), (None, "allowed")]


# -- external rules (Option 2) ---------------------------------------------------------------------
class _RulesService(BaseHTTPRequestHandler):
    """A tiny external rules service: refuses assets under 3 MW, records what it was sent."""

    received: list[dict] = []
    behaviour = "answer"

    def do_POST(self):  # noqa: N802 - http.server naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(body)
        if self.behaviour == "slow":
            time.sleep(1.5)
        if self.behaviour == "garbage":
            payload = b'{"verdicts": [{"rule_id": "x", "outcome": "maybe"}]}'
        elif self.behaviour == "http500":
            self.send_response(500)
            self.end_headers()
            return
        else:
            capacity = body["subject"]["capacity_mw"]
            verdict = {
                "rule_id": "size-3mw",
                "rule_name": "Operator minimum 3 MW",
                "kind": "min_capacity",
                "mode": "block",
                "outcome": "fail" if capacity < 3 else "pass",
                "explanation": f"capacity {capacity} MW against the operator's 3 MW minimum",
            }
            payload = json.dumps({"request_id": body["request_id"], "verdicts": [verdict]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def rules_service():
    _RulesService.received = []
    _RulesService.behaviour = "answer"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RulesService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/evaluate"
    server.shutdown()
    server.server_close()


def test_an_external_rules_product_is_judged_by_its_http_endpoint(world, rules_service):
    _, url = rules_service
    with db.session() as s:
        store.set_endpoint(s, world["neso"], "neso_eac_dch", url, timeout_s=1.0)
    with db.session() as s:
        evaluation = engine.evaluate(s, _request(s, "neso_eac_dch", context="prequalification"))
        [verdict] = evaluation.verdicts
        assert verdict.source == "external" and verdict.rule_id == "external:size-3mw"
        assert verdict.explanation == (
            "External rule 'Operator minimum 3 MW' (block): capacity 2.0 MW against the operator's 3 MW minimum"
        )
        assert evaluation.decision == engine.REFUSED
        [sent] = _RulesService.received
        assert sent["context"] == "prequalification" and sent["schema_version"] == 1
        assert sent["product"]["product_id"] == "neso_eac_dch"
        assert sent["subject"]["members"][0]["asset_id"] == "REG-000001"
        assert sent["request_id"] == evaluation.request.request_id
        assert audit.history(s, "product", "neso_eac_dch")[0].details["url"] == url


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("slow", "did not answer within 0.5 s"),
        ("garbage", "verdicts[0].rule_name is missing"),
        ("http500", "answered HTTP 500"),
    ],
)
def test_an_unusable_external_answer_is_never_a_pass(world, rules_service, behaviour, message):
    _, url = rules_service
    _RulesService.behaviour = behaviour
    with db.session() as s:
        store.set_endpoint(s, world["neso"], "neso_eac_dch", url, timeout_s=0.5)
    with db.session() as s:
        evaluation = engine.evaluate(s, _request(s, "neso_eac_dch", context="join"))
        [verdict] = evaluation.verdicts
        assert verdict.outcome == "error" and message in verdict.explanation
        assert "could not be checked, so this is not a pass" in verdict.explanation
        assert evaluation.decision == engine.NEEDS_INFO
        with pytest.raises(engine.RuleRefused, match="Needs information"):
            engine.enforce(s, _request(s, "neso_eac_dch", context="join"))
        # An operator who prefers warnings over waiting configures notify.
        store.set_endpoint(s, world["neso"], "neso_eac_dch", url, timeout_s=0.5, failure_mode="notify")
        assert (
            engine.evaluate(s, _request(s, "neso_eac_dch", context="join")).decision
            == engine.ALLOWED_WITH_WARNINGS
        )


def test_an_unreachable_endpoint_is_an_error_verdict(world, rules_service):
    server, url = rules_service
    server.shutdown()
    server.server_close()
    with db.session() as s:
        store.set_endpoint(s, world["neso"], "neso_eac_dch", url, timeout_s=1)
    with db.session() as s:
        [verdict] = engine.evaluate(s, _request(s, "neso_eac_dch", context="join")).verdicts
        assert verdict.outcome == "error" and "could not be reached" in verdict.explanation


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://rules.example.org/x", "give a full http\\(s\\) URL"),
        ("http://rules.example.org/evaluate", "use https"),
        ("https://user:secret@rules.example.org/", "passwords in the URL are not accepted"),
    ],
)
def test_endpoint_urls_are_checked(world, url, message):
    with db.session() as s, pytest.raises(RuleError, match=message):
        store.set_endpoint(s, world["neso"], "neso_eac_dch", url)
