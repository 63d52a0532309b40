"""The Prequalification and Contracts pages, run headless with AppTest against a real registry and signed
in through real sessions: the done-when flow clicked through by a provider and its system operator,
a block rule's refusal shown with its explanation, and what each role sees."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from sfe.registry import contracts, db
from sfe.registry import prequalification as pq

from .identity_helpers import session_token
from .prequal_helpers import TWO_PRODUCTS, extras, group_ref, save_group_dossier
from .registry_helpers import mpan

PAGES = Path(__file__).resolve().parents[1] / "dashboards" / "pages"
TIMEOUT = 60


def _page(name: str, world, who: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=TIMEOUT)
    at.session_state["sfe_session_token"] = session_token(world[who])
    at.run()
    assert not at.exception, at.exception
    return at


def _click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [w.value for w in at.warning]
    parts += [i.value for i in at.info] + [s.value for s in at.success] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def test_a_provider_and_its_operator_click_through_prequalification_and_contracts(world):
    subject = group_ref(world)
    at = _page("prequalification.py", world, "fsp")
    at.selectbox(key="pq_subject").set_value(subject).run()

    # the dossier, once: technical data, then a meter per member
    at.number_input(key=f"pq_t_{subject}_0_flexible_capacity_mw").set_value(2.3)
    at.number_input(key=f"pq_t_{subject}_0_response_time_s").set_value(2.0)
    at.number_input(key=f"pq_t_{subject}_0_max_duration_min").set_value(120.0)
    at.selectbox(key=f"pq_t_{subject}_0_direction").set_value("up")
    at.selectbox(key=f"pq_t_{subject}_0_telemetry").set_value("near_real_time_1min")
    _click(at, "Save the technical data")
    assert "Dossier saved as version 1." in _text(at)
    at.selectbox(key="pq_m_1_asset_id").set_value("REG-000001")
    at.selectbox(key="pq_m_1_meter_type").set_value("ct_operated")
    at.text_input(key="pq_m_1_mpan").input(mpan("12", 77))
    at.checkbox(key="pq_m_1_half_hourly_settled").check()
    at.text_input(key="pq_m_1_data_provider").input("Stark Data")
    _click(at, "Add the meter")
    at.selectbox(key="pq_m_2_asset_id").set_value("REG-000002")
    at.selectbox(key="pq_m_2_meter_type").set_value("sub_meter")
    at.text_input(key="pq_m_2_meter_serial").input("SM-0002")
    at.text_input(key="pq_m_2_data_provider").input("Acme sub-metering")
    _click(at, "Add the meter")
    assert "Meter added." in _text(at) and "SM-0002" in _text(at)

    # one application form for three products: two go through, the block rule refuses the third
    at.multiselect(key="pq_products").set_value([*TWO_PRODUCTS, "neso_eac_dch"]).run()
    for pid in TWO_PRODUCTS:
        assert at.number_input(key=f"pq_e_3_{pid}_offered_capacity_mw").value == 2.3  # from the dossier
        at.selectbox(key=f"pq_e_3_{pid}_baseline_methodology").set_value("historical_rolling")
        at.number_input(key=f"pq_e_3_{pid}_availability_price_gbp_per_mw_h").set_value(12.5)
    at.text_input(key="pq_e_3_neso_eac_dch_eac_unit_name").input("ACME-1")
    at.number_input(key="pq_e_3_neso_eac_dch_monitoring_resolution_hz").set_value(20.0)
    _click(at, "Apply to 3 product(s)")
    successes = [s.value for s in at.success]
    assert any("Secure" in m and "Submitted" in m for m in successes)
    assert any("Peak Reduction" in m and "Submitted" in m for m in successes)
    [refusal] = [e.value for e in at.error]
    assert "Dynamic Containment High" in refusal and "Rule 'Full delivery within 1 s'" in refusal

    # the operator reviews both and publishes the templates: the contracts are generated
    so = _page("prequalification.py", world, "ukpn")
    for _ in TWO_PRODUCTS:
        _click(so, "Take into review")
        so.radio(key="so_decision").set_value(pq.PREQUALIFIED)
        _click(so, "Record the decision")
        assert "prequalified" in _text(so)
    assert "Nothing waits for review." in _text(so)
    templates = _page("contracts.py", world, "ukpn")
    generated = []
    for pid in TWO_PRODUCTS:
        templates.selectbox(key="ct_product").set_value(pid).run()
        assert "suggested starting text" in _text(templates)
        _click(templates, "Save the template")
        generated += [s.value for s in templates.success if "Contracts generated" in s.value]
    assert len(generated) == 2

    # both parties accept both contracts
    for who in ("fsp", "ukpn"):
        page = _page("contracts.py", world, who)
        for contract_id in _contract_ids(world, who):
            page.selectbox(key="ct_contract").set_value(contract_id).run()
            assert {b.label for b in page.get("download_button")} >= {"Download PDF", "Download HTML"}
            page.checkbox(key="ct_confirm").check()
            _click(page, "Accept version 1")
            assert "version 1 accepted" in _text(page)

    # both sides see the same state
    for who in ("fsp", "ukpn"):
        page = _page("contracts.py", world, who)
        table = page.dataframe[0].value
        assert sorted(table["Status"]) == ["Executed", "Executed"], who
    status = _page("prequalification.py", world, "fsp")
    status.selectbox(key="pq_subject").set_value(subject).run()
    statuses = {
        row["Product"]: row["Status"]
        for _, row in next(d.value for d in status.dataframe if "Contract" in d.value.columns).iterrows()
    }
    assert sorted(statuses.values()) == ["Prequalified", "Prequalified"]


def _contract_ids(world, who: str) -> list[int]:
    with db.session() as s:
        return [c.contract_id for c in contracts.list_contracts(s, world[who])]


def test_a_rejection_needs_reasons_and_the_provider_sees_them(world):
    save_group_dossier(world)
    [outcome] = pq.submit_applications(world["fsp"], group_ref(world), {"ukpn_secure": extras()})
    so = _page("prequalification.py", world, "ukpn")
    assert "Take into review" in {b.label for b in so.button}
    _click(so, "Take into review")
    so.radio(key="so_decision").set_value(pq.REJECTED)
    _click(so, "Record the decision")
    assert any("reasons" in e.value and "is required" in e.value for e in so.error)
    so.text_area(key="so_reasons").input("The sub-meter's accuracy class is not stated.")
    _click(so, "Record the decision")
    assert "rejected" in _text(so)

    fsp = _page("prequalification.py", world, "fsp")
    fsp.selectbox(key="pq_subject").set_value(group_ref(world)).run()
    fsp.selectbox(key="pq_detail").set_value(outcome.application.application_id).run()
    assert "The sub-meter's accuracy class is not stated." in _text(fsp)


def test_each_role_sees_only_its_part(world):
    save_group_dossier(world)
    pq.submit_applications(world["fsp"], group_ref(world), {"ukpn_secure": extras()})

    other = _page("prequalification.py", world, "other_fsp")
    assert list(other.selectbox(key="pq_subject").options) == ["REG-000003 · Bristol solar (solar_pv, 4 MW)"]
    assert "No applications yet." in _text(other)
    assert "No contracts yet." in _text(_page("contracts.py", world, "other_fsp"))

    nged = _page("prequalification.py", world, "nged")
    assert "Nothing waits for review." in _text(nged) and not nged.dataframe
    ukpn = _page("prequalification.py", world, "ukpn")
    assert "Acme Flex" in list(ukpn.selectbox(key="so_app").options)[0]

    for page in ("prequalification.py", "contracts.py"):
        investor = _page(page, world, "investor")
        assert "not available for your role" in investor.error[0].value
    contracts_page = _page("contracts.py", world, "fsp")
    assert not contracts_page.tabs and "ct_product" not in {sb.key for sb in contracts_page.selectbox}
