"""Centralised prequalification (UC15) on a real SQLite registry: one dossier per asset group reused by
several products, the rules engine on submission (block refuses with its explanation, notify warns),
the SO's review, documents in the lake, access per role, and the audit trail."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from sfe.registry import audit, contracts, db, models
from sfe.registry import prequalification as pq
from sfe.registry.access import AccessDenied, NotFound
from sfe.registry.models_prequal import PrequalDossier
from sfe.registry.validation import Conflict, InvalidInput
from sfe.rules import store

from .prequal_helpers import TWO_PRODUCTS, dossier_input, extras, group_ref, save_group_dossier, save_template

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _fields(exc: InvalidInput) -> dict[str, str]:
    return {e.field: e.message for e in exc.errors}


def _submit(world, products=TWO_PRODUCTS, **extra_overrides):
    return pq.submit_applications(
        world["fsp"], group_ref(world), {p: extras(**extra_overrides) for p in products}
    )


def _prequalify(world, application_id: int, who: str = "ukpn"):
    with db.session() as s:
        pq.start_review(s, world[who], application_id, note="checking the test report")
        return pq.decide(s, world[who], application_id, pq.PREQUALIFIED, "Response test evidence accepted")


# -- the done-when flow --------------------------------------------------------------------------
def test_a_group_prequalifies_for_two_products_from_one_dossier_gets_both_contracts_and_accepts_them(world):
    dossier = save_group_dossier(world)
    assert (dossier.version, dossier.subject_kind, dossier.subject_id) == (1, "group", group_ref(world))
    assert [m.registry_asset_id for m in dossier.members] == ["REG-000001", "REG-000002"]

    # one submission, two products, the same dossier version; only the product extras were asked
    outcomes = _submit(world)
    assert [(o.product_id, o.submitted, o.decision) for o in outcomes] == [
        ("ukpn_secure", True, "allowed"),
        ("ukpn_peak_reduction", True, "allowed"),
    ]
    apps = [o.application for o in outcomes]
    assert {(a.dossier_id, a.dossier_version) for a in apps} == {(dossier.dossier_id, 1)}
    assert all(a.status == pq.SUBMITTED for a in apps)
    assert all(c["outcome"] == "pass" for a in apps for c in a.checks)
    assert any(v["rule_name"].startswith("Connected in UK Power Networks") for v in apps[0].rules_verdicts)

    # the SO of the products' operator sees exactly what the provider sees
    with db.session() as s:
        so_view = {a.application_id: a.status for a in pq.list_applications(s, world["ukpn"])}
        fsp_view = {a.application_id: a.status for a in pq.list_applications(s, world["fsp"])}
    assert so_view == fsp_view == {a.application_id: "submitted" for a in apps}

    save_template(world, "ukpn_peak_reduction")  # one product has its template before the decision
    secure, peak = apps
    decided = [_prequalify(world, peak.application_id), _prequalify(world, secure.application_id)]
    assert [d.status for d in decided] == ["prequalified", "prequalified"]
    assert decided[0].contract_reference is not None  # generated at prequalification
    assert decided[1].contract_reference is None  # waits for its product's template
    saved = save_template(world, "ukpn_secure")
    assert saved.contracts_generated and saved.contracts_generated[0].startswith("SFE-C-")

    with db.session() as s:
        mine = contracts.list_contracts(s, world["fsp"])
        assert sorted(c.product_id for c in mine) == sorted(TWO_PRODUCTS)
        for c in mine:
            assert c.status == contracts.AWAITING and c.awaiting_my_acceptance
            contracts.accept(s, world["fsp"], c.contract_id, c.current_version, c.current.content_sha256)
    with db.session() as s:
        for c in contracts.list_contracts(s, world["ukpn"]):
            assert c.current.accepted_by("fsp") is not None and c.awaiting_my_acceptance
            contracts.accept(s, world["ukpn"], c.contract_id, c.current_version, c.current.content_sha256)

    with db.session() as s:
        fsp_state = {(c.reference, c.status) for c in contracts.list_contracts(s, world["fsp"])}
        so_state = {(c.reference, c.status) for c in contracts.list_contracts(s, world["ukpn"])}
        statuses = {a.product_id: a.status for a in pq.status_by_product(s, world["fsp"], group_ref(world))}
        so_apps = {
            a.product_id: (a.status, a.contract_reference) for a in pq.list_applications(s, world["ukpn"])
        }
        events = [e.action for a in apps for e in audit.history(s, "prequal_application", a.application_id)]
    assert fsp_state == so_state and {status for _, status in fsp_state} == {contracts.EXECUTED}
    assert statuses == dict.fromkeys(TWO_PRODUCTS, "prequalified")
    assert all(ref for _, ref in so_apps.values())
    assert events.count("prequal.application_submit") == 2 and events.count("prequal.prequalified") == 2
    assert events.count("prequal.review_start") == 2


# -- rules on submission -------------------------------------------------------------------------
def test_a_block_rule_refuses_with_its_explanation_and_notify_lets_the_application_through(world):
    save_group_dossier(world, response_time_s=2.0)
    dc = {"offered_capacity_mw": 2, "eac_unit_name": "ACME-1", "monitoring_resolution_hz": 20}
    [refused] = pq.submit_applications(world["fsp"], group_ref(world), {"neso_eac_dch": dc})
    assert not refused.submitted and refused.decision == "refused"
    assert "Rule 'Full delivery within 1 s' (response time, block)" in refused.explanation
    assert "responds in 2 s" in refused.explanation
    with db.session() as s:
        assert pq.list_applications(s, world["fsp"]) == []
        [event] = [
            e for e in s.scalars(select(models.AuditEvent)) if e.action == "prequal.application_refused"
        ]
        assert event.details["product_id"] == "neso_eac_dch" and event.details["rules_decision"] == "refused"

    with db.session() as s:
        [rule] = [r for r in store.list_rules(s, "neso_eac_dch") if r.kind == "response_time"]
        store.set_mode(s, world["neso"], rule.id, "notify", note="tolerate slower units this season")
    [allowed] = pq.submit_applications(world["fsp"], group_ref(world), {"neso_eac_dch": dc})
    assert allowed.submitted and allowed.decision == "allowed_with_warnings"
    assert any("Full delivery within 1 s" in w for w in allowed.application.warnings)
    with db.session() as s:  # NESO reviews it, UKPN does not see it
        assert [a.product_id for a in pq.list_applications(s, world["neso"])] == ["neso_eac_dch"]
        assert pq.list_applications(s, world["ukpn"]) == []


def test_an_incomplete_dossier_is_refused_naming_what_the_product_needs(world):
    data = dossier_input()
    data["tests"] = []
    with db.session() as s:
        pq.save_dossier(s, world["fsp"], group_ref(world), **data)
    dc = {"offered_capacity_mw": 2, "eac_unit_name": "ACME-1", "monitoring_resolution_hz": 20}
    with db.session() as s:
        [rule] = [r for r in store.list_rules(s, "neso_eac_dch") if r.kind == "response_time"]
        store.set_mode(s, world["neso"], rule.id, "notify")
    [outcome] = pq.submit_applications(world["fsp"], group_ref(world), {"neso_eac_dch": dc})
    assert not outcome.submitted and outcome.decision == "incomplete"
    assert "the dossier has no response test evidence" in outcome.explanation
    [preview] = pq.preview(world["fsp"], group_ref(world), ["neso_eac_dch"])
    assert (
        not preview.ready and {c["need"]: c["outcome"] for c in preview.checks}["response_test"] == "missing"
    )


# -- the dossier -----------------------------------------------------------------------------------
def test_the_dossier_is_validated_naming_every_field(world):
    bad = dossier_input()
    bad["technical"].update(flexible_capacity_mw=-1, telemetry="pigeons", colour="blue")
    good = bad["metering"][0]["mpan"]
    bad["metering"][0]["mpan"] = good[:12] + str((int(good[12]) + 1) % 10)  # wrong check digit
    bad["metering"][1]["asset_id"] = "REG-000003"  # another organisation's asset
    bad["tests"][0]["test_date"] = (pq._today() + timedelta(days=3)).isoformat()
    bad["tests"][0]["document_ids"] = [99]
    with pytest.raises(InvalidInput) as refused, db.session() as s:
        pq.save_dossier(s, world["fsp"], group_ref(world), **bad)
    fields = _fields(refused.value)
    assert "must be greater than 0" in fields["technical.flexible_capacity_mw"]
    assert "'pigeons' is not one of" in fields["technical.telemetry"]
    assert "unknown field" in fields["technical.colour"]
    assert "check digit" in fields["metering[1].mpan"]
    assert "not a current member of the group" in fields["metering[2].asset_id"]
    assert "in the future" in fields["tests[1].test_date"]
    assert "not uploaded to this dossier" in fields["tests[1].document_ids"]
    with db.session() as s:
        assert s.scalars(select(PrequalDossier)).all() == []


def test_the_dossier_is_versioned_and_applications_keep_the_version_they_were_made_with(world):
    first = save_group_dossier(world)
    again = save_group_dossier(world)  # the same data: no new version
    assert again.version == first.version == 1
    [outcome] = _submit(world, products=("ukpn_secure",))
    changed = dossier_input()
    changed["technical"]["max_duration_min"] = 240
    with db.session() as s:
        second = pq.save_dossier(s, world["fsp"], group_ref(world), **changed, change_note="longer tests")
        app = pq.get_application(s, world["fsp"], outcome.application.application_id)
        versions = pq.dossier_versions(s, world["fsp"], second.dossier_id)
        technical = pq.rules_technical(s, world["fsp"], group_ref(world))  # what eligibility can reuse
    assert second.version == 2 and second.change_note == "longer tests"
    assert (app.dossier_version, app.dossier_current_version) == (1, 2)
    assert [v.technical["max_duration_min"] for v in versions] == [240, 120]
    assert technical == {"REG-000001": {"response_time_s": 2.0}, "REG-000002": {"response_time_s": 2.0}}


def test_documents_are_stored_by_hash_with_type_and_size_limits(world, lake_paths, monkeypatch):
    with pytest.raises(Conflict, match="save the dossier"), db.session() as s:
        pq.add_document(s, world["fsp"], group_ref(world), "report.pdf", PDF_BYTES)
    save_group_dossier(world)
    with db.session() as s:
        doc = pq.add_document(s, world["fsp"], group_ref(world), "C:\\tests\\Response report.pdf", PDF_BYTES)
    digest = hashlib.sha256(PDF_BYTES).hexdigest()
    assert (doc.original_name, doc.content_type, doc.sha256, doc.size_bytes) == (
        "Response report.pdf",
        "application/pdf",
        digest,
        len(PDF_BYTES),
    )
    assert (lake_paths.root / "documents" / digest).read_bytes() == PDF_BYTES

    for name, content, message in (
        ("virus.pdf", b"MZ\x90\x00binary", "its content is not"),
        ("notes.exe", b"hello", "only .csv, .docx"),
        ("empty.txt", b"", "is empty"),
    ):
        with pytest.raises(InvalidInput, match=message), db.session() as s:
            pq.add_document(s, world["fsp"], group_ref(world), name, content)
    monkeypatch.setattr(pq, "MAX_DOCUMENT_BYTES", 100)
    with pytest.raises(InvalidInput, match="at most"), db.session() as s:
        pq.add_document(s, world["fsp"], group_ref(world), "big.txt", b"x" * 101)

    # the evidence can reference it; the SO reads it once the group applies to its product
    data = dossier_input()
    data["tests"][0]["document_ids"] = [doc.document_id]
    with db.session() as s:
        pq.save_dossier(s, world["fsp"], group_ref(world), **data)
    with pytest.raises(NotFound), db.session() as s:
        pq.read_document(s, world["ukpn"], doc.document_id)
    _submit(world, products=("ukpn_secure",))
    with db.session() as s:
        view, content = pq.read_document(s, world["ukpn"], doc.document_id)
        assert content == PDF_BYTES and view.original_name == "Response report.pdf"
        for who in ("other_fsp", "nged"):
            with pytest.raises(NotFound):
                pq.read_document(s, world[who], doc.document_id)


# -- product extras ------------------------------------------------------------------------------
def test_each_product_asks_only_its_extras_and_they_are_checked(world):
    save_group_dossier(world)
    with db.session() as s:
        dno = pq.product_form(s, world["fsp"], "ukpn_secure", group_ref(world))
        dc = pq.product_form(s, world["fsp"], "neso_eac_dch", group_ref(world))
        bm = pq.product_form(s, world["fsp"], "neso_bm_boa", group_ref(world))
    assert dno.kind.kind == "dno_local_flexibility" and dno.defaults["offered_capacity_mw"] == 2.3
    assert {"baseline_methodology", "flexibility_zone"} <= {f.name for f in dno.fields}
    assert "eac_unit_name" not in {f.name for f in dno.fields}
    assert dc.kind.kind == "neso_dynamic_response" and "response_test" in dc.needs
    assert {"eac_unit_name", "monitoring_resolution_hz"} <= {f.name for f in dc.fields}
    assert bm.kind.kind == "balancing_mechanism" and "bm_unit" in {f.name for f in bm.fields}

    with pytest.raises(InvalidInput) as refused:
        pq.submit_applications(
            world["fsp"],
            group_ref(world),
            {
                "ukpn_secure": {"offered_capacity_mw": 5},
                "neso_bm_boa": {"offered_capacity_mw": 1, "bm_unit": "not a unit", "lead_party": "Acme"},
                "imbalance_nonexistent": {},
            },
        )
    fields = _fields(refused.value)
    assert "products.imbalance_nonexistent" in fields
    with pytest.raises(InvalidInput) as refused:
        pq.submit_applications(
            world["fsp"],
            group_ref(world),
            {
                "ukpn_secure": {"offered_capacity_mw": 5},
                "neso_bm_boa": {"offered_capacity_mw": 1, "bm_unit": "not a unit", "lead_party": "Acme"},
            },
        )
    fields = _fields(refused.value)
    assert "more than the dossier's flexible capacity of 2.3 MW" in fields["ukpn_secure.offered_capacity_mw"]
    assert fields["ukpn_secure.baseline_methodology"] == "is required"
    assert "is not a BM unit id" in fields["neso_bm_boa.bm_unit"]
    with db.session() as s:  # nothing was written
        assert pq.list_applications(s, world["fsp"]) == []


def test_a_registered_product_adds_its_written_requirements_zones_and_minimum_duration(world):
    with db.session() as s:
        product = s.scalars(
            select(models.Product).where(models.Product.product_id == "ukpn_secure_west")
        ).one()
        product.prequalification_requirements = "A witnessed test within the last 12 months."
        product.min_duration_min = 180
        product.availability_price_gbp_per_mw_h = 9.5
        product.zones = ["Ealing", "Acton"]
    save_group_dossier(world)
    with db.session() as s:
        form = pq.product_form(s, world["fsp"], "ukpn_secure_west", group_ref(world))
    names = {f.name: f for f in form.fields}
    assert names["requirements_confirmed"].help == "A witnessed test within the last 12 months."
    assert dict(names["flexibility_zone"].choices) == {"Ealing": "Ealing", "Acton": "Acton"}
    assert "availability_price_gbp_per_mw_h" not in names  # the product fixes its price
    request = {
        "offered_capacity_mw": 2,
        "baseline_methodology": "nominated",
        "flexibility_zone": "Ealing",
        "requirements_confirmed": False,
    }
    with pytest.raises(InvalidInput) as refused:
        pq.submit_applications(world["fsp"], group_ref(world), {"ukpn_secure_west": request})
    assert _fields(refused.value)["ukpn_secure_west.requirements_confirmed"] == "must be confirmed"
    request["requirements_confirmed"] = True
    [outcome] = pq.submit_applications(world["fsp"], group_ref(world), {"ukpn_secure_west": request})
    # the dossier sustains 120 min, the product needs 180; the heat pumps have no zone (block rule)
    assert not outcome.submitted
    assert "the dossier declares 120 min; the product needs at least 180 min" in outcome.explanation
    assert "flexibility zone" in outcome.explanation


# -- review ----------------------------------------------------------------------------------------
def test_review_moves_through_its_states_with_reasons_and_history(world):
    save_group_dossier(world)
    secure, peak = (o.application for o in _submit(world))
    with db.session() as s:
        with pytest.raises(Conflict, match="take it into review"):
            pq.decide(s, world["ukpn"], secure.application_id, pq.REJECTED, "no")
        pq.start_review(s, world["ukpn"], secure.application_id)
        with pytest.raises(Conflict, match="only a submitted one"):
            pq.start_review(s, world["ukpn"], secure.application_id)
        with pytest.raises(InvalidInput, match="reasons: is required"):
            pq.decide(s, world["ukpn"], secure.application_id, pq.REJECTED, "  ")
        with pytest.raises(InvalidInput, match="decision"):
            pq.decide(s, world["ukpn"], secure.application_id, "maybe", "x")
        rejected = pq.decide(
            s, world["ukpn"], secure.application_id, pq.REJECTED, "Sub-meter accuracy class not stated."
        )
        with pytest.raises(Conflict, match="cannot be decided again"):
            pq.decide(s, world["ukpn"], secure.application_id, pq.PREQUALIFIED, None)
        withdrawn = pq.withdraw(s, world["fsp"], peak.application_id, "re-testing first")
        with pytest.raises(Conflict, match="only an undecided one"):
            pq.withdraw(s, world["fsp"], secure.application_id)
    assert (
        rejected.status == "rejected" and rejected.decision_reasons == "Sub-meter accuracy class not stated."
    )
    assert [(h.from_status, h.to_status) for h in rejected.history] == [
        (None, "submitted"),
        ("submitted", "under_review"),
        ("under_review", "rejected"),
    ]
    assert (
        rejected.reviewer == world["ukpn"].display_name and rejected.decided_by == world["ukpn"].display_name
    )
    assert withdrawn.status == "withdrawn" and withdrawn.history[-1].note == "re-testing first"

    # an open application blocks a second one; a rejected or withdrawn one does not
    [again] = _submit(world, products=("ukpn_secure",))
    assert again.submitted
    [twice] = _submit(world, products=("ukpn_secure",))
    assert not twice.submitted and twice.decision == "already_applied"
    with db.session() as s:
        assert [p.product_id for p in pq.applicable_products(s, world["fsp"], group_ref(world))].count(
            "ukpn_secure"
        ) == 0


# -- access ----------------------------------------------------------------------------------------
def test_each_role_sees_and_does_only_its_part(world):
    save_group_dossier(world)
    secure, _ = (o.application for o in _submit(world))
    app_id = secure.application_id
    with db.session() as s:
        # another provider neither sees nor touches it
        assert pq.list_applications(s, world["other_fsp"]) == []
        with pytest.raises(NotFound):
            pq.get_application(s, world["other_fsp"], app_id)
        with pytest.raises(NotFound):
            pq.get_dossier(s, world["other_fsp"], group_ref(world))
        with pytest.raises(NotFound):
            pq.withdraw(s, world["other_fsp"], app_id)
        with pytest.raises(NotFound):
            pq.save_dossier(s, world["other_fsp"], group_ref(world), **dossier_input())
        # the SO of another operator cannot see or review it
        assert pq.list_applications(s, world["nged"]) == []
        with pytest.raises(NotFound):
            pq.start_review(s, world["nged"], app_id)
        with pytest.raises(NotFound):
            pq.dossier_by_id(s, world["nged"], secure.dossier_id)
        # the reviewing SO reads the dossier version but cannot apply or withdraw
        assert (
            pq.dossier_by_id(s, world["ukpn"], secure.dossier_id, 1).technical["flexible_capacity_mw"] == 2.3
        )
        with pytest.raises(AccessDenied):
            pq.withdraw(s, world["ukpn"], app_id)
        # the provider cannot review its own application
        with pytest.raises(AccessDenied):
            pq.start_review(s, world["fsp"], app_id)
        # investors see nothing; admins see everything but are no party
        with pytest.raises(AccessDenied):
            pq.list_applications(s, world["investor"])
        assert [a.application_id for a in pq.list_applications(s, world["admin"])].count(app_id) == 1
        with pytest.raises(AccessDenied, match="not a party"):
            pq.start_review(s, world["admin"], app_id)
    with pytest.raises(AccessDenied):
        pq.submit_applications(world["admin"], group_ref(world), {"ukpn_secure": extras()})
    with pytest.raises(AccessDenied):
        pq.submit_applications(world["ukpn"], group_ref(world), {"ukpn_secure": extras()})
