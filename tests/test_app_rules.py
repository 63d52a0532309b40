"""The Product rules, Eligibility and Market rules library pages, run headless with AppTest against a
real registry, signed in through real sessions."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from sfe.registry import db, identity
from sfe.rules import library_seed, store

PAGES = Path(__file__).resolve().parents[1] / "dashboards" / "pages"
TIMEOUT = 60


def _page(name: str, world, who: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / name), default_timeout=TIMEOUT)
    with db.session() as s:
        at.session_state["sfe_session_token"] = identity.create_session(s, world[who].user_id)
    at.run()
    assert not at.exception, at.exception
    return at


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [w.value for w in at.warning]
    parts += [i.value for i in at.info] + [s.value for s in at.success]
    return "\n".join(str(p) for p in parts)


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


# -- product rules ---------------------------------------------------------------------------------
def test_an_so_adds_a_block_rule_sees_a_refusal_then_switches_it_to_notify(world):
    at = _page("product_rules.py", world, "ukpn")
    products = at.selectbox(key="rules_product")
    assert any("(ukpn_secure_west)" in o for o in products.options) and all(
        "neso" not in o for o in products.options
    )
    products.set_value("ukpn_secure_west").run()

    at.selectbox(key="new_rule_kind").set_value("exclusivity").run()
    at.text_input(key="new_rule_name").input("Not with Dynamic Containment")
    at.radio(key="new_rule_mode").set_value("block")
    at.multiselect(key="new_exclusivity_products").set_value(["neso_eac_dch"])
    at.text_area(key="new_rule_desc").input("DC needs the whole battery")
    _button(at, "new_rule_submit").click().run()
    assert not at.exception, at.exception
    with db.session() as s:
        [rule] = store.list_rules(s, "ukpn_secure_west")
        assert (rule.kind, rule.mode, rule.params["products"]) == ("exclusivity", "block", ["neso_eac_dch"])

    # Test the battery: a commitment 16:00-19:00 while it holds DC 15:00-19:00 (the editor's default row).
    at.selectbox(key="test_asset").set_value("REG-000001")
    at.selectbox(key="test_context").set_value("commitment").run()
    _button(at, "test_run").click().run()
    assert not at.exception, at.exception
    [refusal] = [e.value for e in at.error]
    assert "Refused" in refusal
    text = _text(at)
    assert "Rule 'Not with Dynamic Containment' (exclusivity, block)" in text
    assert "already committed 1 MW in neso_eac_dch" in text

    # Switch the rule to notify in its edit form.
    at.radio(key=f"rule_mode_{rule.id}").set_value("notify")
    at.text_input(key=f"rule_note_{rule.id}").input("warn only during the trial")
    _button(at, f"rule_save_{rule.id}").click().run()
    assert not at.exception, at.exception
    with db.session() as s:
        assert store.get_rule(s, rule.id).mode == "notify"
        assert [v.change_note for v in store.rule_history(s, rule.id)] == [
            "created",
            "warn only during the trial",
        ]
    at.selectbox(key="test_context").set_value("commitment").run()
    _button(at, "test_run").click().run()
    assert any("Allowed, with warnings" in w.value for w in at.warning)
    assert "(exclusivity, notify)" in _text(at)


def test_invalid_rules_and_endpoints_are_explained(world):
    at = _page("product_rules.py", world, "ukpn")
    at.selectbox(key="rules_product").set_value("ukpn_secure_west").run()
    at.selectbox(key="new_rule_kind").set_value("min_capacity").run()
    at.text_input(key="new_rule_name").input("Minimum")
    _button(at, "new_rule_submit").click().run()
    assert any("'min_mw' (Minimum capacity (MW)) is required" in e.value for e in at.error)

    at.text_input(key="endpoint_url").input("http://rules.example.org/evaluate")
    _button(at, "endpoint_save").click().run()
    assert any("use https" in e.value for e in at.error)


def test_product_rules_are_for_system_operators(world):
    at = _page("product_rules.py", world, "fsp")
    assert any("not available for your role" in e.value for e in at.error)


# -- eligibility -----------------------------------------------------------------------------------
def test_a_provider_sees_the_eligibility_of_its_asset_with_reasons(world):
    at = _page("eligibility.py", world, "fsp")
    options = at.selectbox(key="elig_asset").options
    assert [o.split(" · ")[0] for o in options] == ["REG-000001", "REG-000002"]  # not the other FSP's
    at.selectbox(key="elig_asset").set_value("REG-000001").run()
    metrics = {m.label: int(m.value) for m in at.metric}
    assert metrics["Eligible"] > 0 and metrics["Not eligible"] > 0 and metrics["Needs information"] > 0
    table = at.dataframe[0].value
    row = table[table["Product id"] == "nged_peak_reduction"].iloc[0]
    assert row["Verdict"] == "Not eligible" and "REG-000001 in LPN" in row["Reasons"]
    dc = table[table["Product id"] == "neso_eac_dch"].iloc[0]
    assert dc["Verdict"] == "Needs information" and dc["Missing data"] == "response_time_s"
    assert any(b.label == "Download as CSV" for b in at.get("download_button"))

    # What if the response time were known: DC becomes eligible.
    at.number_input(key="elig_response_time").set_value(0.5).run()
    table = at.dataframe[0].value
    assert table[table["Product id"] == "neso_eac_dch"].iloc[0]["Verdict"] == "Eligible"

    # Per-product detail lists every rule with its outcome.
    at.selectbox(key="elig_detail").set_value("neso_eac_dch").run()
    assert "Rule 'Full delivery within 1 s' (response time, block)" in _text(at)

    # Groups too.
    at.radio(key="elig_kind").set_value("Asset group").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="elig_group").options == ["Portfolio (2 assets)"]
    table = at.dataframe[0].value
    secure = table[table["Product id"] == "ukpn_secure_west"].iloc[0]
    assert secure["Verdict"] == "Needs information" and secure["Missing data"] == "flexibility_zone"


def test_a_system_operator_sees_assets_in_its_area_only(world):
    at = _page("eligibility.py", world, "nged")
    assert [o.split(" · ")[0] for o in at.selectbox(key="elig_asset").options] == ["REG-000003"]
    investor = _page("eligibility.py", world, "investor")
    assert any("not available for your role" in e.value for e in investor.error)


# -- market rules library --------------------------------------------------------------------------
def test_the_library_searches_opens_shows_what_changed_and_takes_new_versions(world):
    with db.session() as s:
        library_seed.seed_library(s)
    at = _page("rules_library.py", world, "fsp")
    at.text_input(key="library_query").input("headroom footroom").run()
    headings = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert headings[0].startswith("#### Balancing Reserve")
    assert "**headroom**" in _text(at) and "**footroom**" in _text(at)

    at.text_input(key="library_query").input("Dynamic Containment service terms").run()
    dc_button = next(b for b in at.button if b.key and b.key.startswith("library_open_"))
    dc_button.click().run()
    assert not at.exception, at.exception
    assert at.header[0].value == "Dynamic Containment: service terms and technical requirements"
    diffs = [c.value for c in at.code]
    assert any("+Procurement: daily, day-ahead, for each EFA block" in d for d in diffs)
    assert not [e for e in at.expander if e.label == "Add a new version"]  # providers read only


def test_an_so_publishes_a_new_version_of_its_markets_document(world):
    with db.session() as s:
        library_seed.seed_library(s)
    at = _page("rules_library.py", world, "ukpn")
    at.text_input(key="library_query").input("10 kW per location").run()
    open_button = next(b for b in at.button if b.key and b.key.startswith("library_open_"))
    open_button.click().run()
    assert at.header[0].value.startswith("UK Power Networks")
    body = at.text_area(key="version_body")
    body.input(body.value + "\n\nNew: tenders now also run monthly.")
    at.text_input(key="version_note").input("Monthly tenders added")
    _button(at, "version_submit").click().run()
    assert not at.exception, at.exception
    assert any("Version 2 published" in s.value for s in at.success) or "version 2" in _text(at)
    from sfe.rules import library

    with db.session() as s:
        doc = library.get_document(s, "ukpn-flexibility-tenders")
        assert doc.version == 2 and doc.change_note == "Monthly tenders added"


def test_an_admin_loads_the_reference_library_into_an_empty_one(world):
    at = _page("rules_library.py", world, "admin")
    assert any("The library is empty" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Load SFE's reference documents").click().run()
    assert not at.exception, at.exception
    assert len([m for m in at.markdown if m.value.startswith("#### ")]) == len(library_seed.DOCUMENTS)
