"""Products registered by system operators: full detail, validation against the taxonomy, the
lifecycle with its history, and who sees and edits what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sfe.registry import audit, consultations, db, products
from sfe.registry.access import AccessDenied, NotFound, Role
from sfe.registry.validation import Conflict, InvalidInput

try:
    from registry_helpers import make_principal
except ImportError:  # tests/ imported as a package
    from tests.registry_helpers import make_principal


@pytest.fixture
def people(registry):
    return {
        "ukpn": make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"),
        "ukpn2": make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"),
        "nged": make_principal(
            "National Grid Electricity Distribution", Role.SYSTEM_OPERATOR, operator_id="nged"
        ),
        "fsp": make_principal("Acme Flex", Role.FSP),
        "investor": make_principal("Capital Partners", Role.INVESTOR),
        "admin": make_principal("SFE", Role.ADMIN),
    }


PEAK = {
    "product_id": "ukpn_reg_peak_reduction_2027",
    "market_id": "ukpn_flex",
    "product_name": "Peak Reduction 2027",
    "service_type": "Local flexibility",
    "direction": "up",
    "standard_product": "peak_reduction",
    "zones": "Aldreth, Halstead\nTakeley",
    "service_windows": [{"days": "weekdays", "start": "16:00", "end": "19:00", "months": [11, 12, 1, 2]}],
    "min_size_mw": 0.05,
    "response_time_s": 900,
    "min_duration_min": 30,
    "availability_price_gbp_per_mw_h": 0,
    "utilisation_price_gbp_per_mwh": 600,
    "prequalification_requirements": "Half-hourly metering; a signed framework agreement.",
    "rules_text": "Delivery is measured against a baseline of the previous 10 working days.",
}


def register(principal, data=PEAK, **kwargs):
    with db.session() as s:
        return products.register_product(s, principal, data, **kwargs)


def test_an_so_registers_a_product_in_full_detail(people):
    record = register(people["ukpn"])
    assert record.product_id == "ukpn_reg_peak_reduction_2027"
    assert (record.operator_id, record.market_id, record.status) == ("ukpn", "ukpn_flex", "draft")
    assert record.zones == ["Aldreth", "Halstead", "Takeley"]
    assert record.service_windows == [
        {"days": "weekdays", "start": "16:00", "end": "19:00", "months": [1, 2, 11, 12]}
    ]
    assert (record.min_size_mw, record.response_time_s, record.min_duration_min) == (0.05, 900, 30)
    assert (record.availability_price_gbp_per_mw_h, record.utilisation_price_gbp_per_mwh) == (0, 600)
    assert record.prequalification_requirements.startswith("Half-hourly") and record.rules_text
    assert record.own and record.editable and record.organisation_name == "UK Power Networks"
    with db.session() as s:
        [event] = audit.history(s, "product", record.product_id)
        [change] = products.status_history(s, people["ukpn"], record.product_id)
    assert event.action == "product.register"
    assert (change.from_status, change.to_status) == (None, "draft")


def test_without_a_product_id_a_unique_slug_is_made(people):
    data = {k: v for k, v in PEAK.items() if k != "product_id"}
    first, second = register(people["ukpn"], data), register(people["ukpn"], data)
    assert first.product_id == "ukpn_peak_reduction_2027"
    assert second.product_id == "ukpn_peak_reduction_2027_2"


def test_product_rules(people):
    with pytest.raises(InvalidInput) as exc:
        register(
            people["ukpn"],
            PEAK
            | {
                "product_id": "ukpn_day_ahead",  # a taxonomy product id
                "market_id": "nged_flex",  # another operator's market
                "service_type": "Teleportation",
                "direction": "sideways",
                "standard_product": "nope",
                "service_windows": [{"days": "someday", "start": "25:00", "end": "19:00", "months": [13]}],
                "min_size_mw": -1,
                "response_time_s": 0,
                "utilisation_price_gbp_per_mwh": -5,
                "colour": "blue",
            },
        )
    errors = {e.field: e.message for e in exc.value.errors}
    assert "already a product id in the SFE taxonomy" in errors["product_id"]
    assert "run by National Grid Electricity Distribution" in errors["market_id"]
    assert "Local flexibility" in errors["service_type"]
    assert "up, down, both" in errors["direction"] or "both, down, up" in errors["direction"]
    assert "standard_product" in errors
    assert "someday" in errors["service_windows[0].days"]
    assert "25:00" in errors["service_windows[0].start"]
    assert "1-12" in errors["service_windows[0].months"]
    assert "greater than 0" in errors["min_size_mw"] and "greater than 0" in errors["response_time_s"]
    assert "at least 0" in errors["utilisation_price_gbp_per_mwh"]
    assert "unknown field" in errors["colour"]
    with pytest.raises(InvalidInput, match="lower-case"):
        register(people["ukpn"], PEAK | {"product_id": "Bad Id!"})
    register(people["ukpn"])
    with pytest.raises(InvalidInput, match="already used"):
        register(people["ukpn"])


def test_roles_that_cannot_register_products(people):
    for who in ("fsp", "investor"):
        with pytest.raises(AccessDenied):
            register(people[who])
    with pytest.raises(InvalidInput, match="system operator organisation"):
        register(people["admin"])
    record = register(
        people["admin"],
        organisation_id=people["nged"].organisation_id,
        data=PEAK | {"market_id": "nged_flex"},
    )
    assert record.operator_id == "nged"


def test_lifecycle_transitions_and_history(people):
    product_id = register(people["ukpn"]).product_id
    me = people["ukpn"]
    with db.session() as s:
        with pytest.raises(Conflict, match="open a consultation"):
            products.transition(s, me, product_id, "consultation")
        consultations.open_consultation(
            s,
            me,
            product_id,
            title="Peak Reduction 2027 market test",
            closes_at=datetime.now(UTC) + timedelta(days=14),
            questions=[{"kind": "rating", "prompt": "How attractive is the price?"}],
        )
        assert products.get_product(s, me, product_id).status == "consultation"
        products.update_product(s, people["ukpn2"], product_id, {"utilisation_price_gbp_per_mwh": 650})
        products.transition(s, me, product_id, "live", note="market test positive")
        live = products.get_product(s, me, product_id)
        assert live.status == "live" and live.live_from is not None and not live.editable
        [consultation] = consultations.list_consultations(s, me)
        assert not consultation.is_open  # going live closed the market test
        with pytest.raises(Conflict, match="only drafts and products in consultation"):
            products.update_product(s, me, product_id, {"min_size_mw": 1})
        with pytest.raises(Conflict, match="can move to: retired"):
            products.transition(s, me, product_id, "draft")
        products.transition(s, me, product_id, "retired")
        with pytest.raises(Conflict, match="retired is final"):
            products.transition(s, me, product_id, "live")
        history = products.status_history(s, me, product_id)
    assert [(h.from_status, h.to_status) for h in history] == [
        (None, "draft"),
        ("draft", "consultation"),
        ("consultation", "live"),
        ("live", "retired"),
    ]
    assert history[2].note == "market test positive" and history[2].by == me.display_name
    with db.session() as s:
        record = products.get_product(s, me, product_id)
        actions = [e.action for e in audit.history(s, "product", product_id)]
    assert record.retired_at is not None
    assert actions == [
        "product.register",
        "product.status",
        "product.update",
        "product.status",
        "product.status",
    ]


def test_draft_can_go_live_or_be_withdrawn_and_consultation_can_return_to_draft(people):
    me = people["ukpn"]
    a = register(me, PEAK | {"product_id": "ukpn_a"}).product_id
    b = register(me, PEAK | {"product_id": "ukpn_b"}).product_id
    with db.session() as s:
        assert products.transition(s, me, a, "live").status == "live"
        assert products.transition(s, me, b, "retired").status == "retired"
        c = products.register_product(s, me, PEAK | {"product_id": "ukpn_c"}).product_id
        consultations.open_consultation(
            s,
            me,
            c,
            title="t",
            closes_at=datetime.now(UTC) + timedelta(days=1),
            questions=[{"kind": "text", "prompt": "?"}],
        )
        assert products.transition(s, me, c, "draft").status == "draft"
        products.update_product(s, me, c, {"product_name": "Reworked"})
        with pytest.raises(products.Conflict):
            products.transition(s, me, c, "sideways")


def test_who_sees_and_edits_which_product(people):
    draft = register(people["ukpn"], PEAK | {"product_id": "ukpn_draft"}).product_id
    live = register(people["ukpn"], PEAK | {"product_id": "ukpn_live"}).product_id
    nged = register(people["nged"], PEAK | {"product_id": "nged_own", "market_id": "nged_flex"}).product_id
    with db.session() as s:
        products.transition(s, people["ukpn"], live, "live")

        def ids(who, **kw):
            return [p.product_id for p in products.list_products(s, people[who], **kw)]

        assert sorted(ids("ukpn")) == ["ukpn_draft", "ukpn_live"]
        assert sorted(ids("ukpn2")) == ["ukpn_draft", "ukpn_live"]  # a colleague
        assert sorted(ids("nged")) == ["nged_own", "ukpn_live"]
        assert ids("nged", scope="own") == ["nged_own"]
        assert ids("fsp") == ids("investor") == ids("fsp", scope="live") == ["ukpn_live"]
        assert sorted(ids("admin")) == ["nged_own", "ukpn_draft", "ukpn_live"]
        for who in ("fsp", "investor", "nged"):
            with pytest.raises(NotFound):
                products.get_product(s, people[who], draft)
            seen = products.get_product(s, people[who], live)
            assert not seen.own and not seen.editable
        with pytest.raises(AccessDenied):
            products.update_product(s, people["nged"], live, {"min_size_mw": 1})
        with pytest.raises(NotFound):
            products.update_product(s, people["nged"], draft, {"min_size_mw": 1})
        with pytest.raises(AccessDenied):
            products.transition(s, people["fsp"], draft, "live")
        with pytest.raises(AccessDenied):
            products.status_history(s, people["fsp"], live)
        assert products.update_product(s, people["admin"], nged, {"min_size_mw": 2}).min_size_mw == 2
        # a product in consultation is shown to the providers asked about it, not to others
        consultations.open_consultation(
            s,
            people["ukpn"],
            draft,
            title="t",
            closes_at=datetime.now(UTC) + timedelta(days=1),
            questions=[{"kind": "text", "prompt": "?"}],
        )
        assert products.get_product(s, people["fsp"], draft).status == "consultation"
        assert "ukpn_draft" not in ids("fsp")  # the catalogue stays live products only
        for who in ("investor", "nged"):
            with pytest.raises(NotFound):
                products.get_product(s, people[who], draft)
