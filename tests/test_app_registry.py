"""Registry pages in the app (Streamlit AppTest with a signed-in session in session_state): assets with
the CSV upload and groups, products with the lifecycle, consultations with answers and results."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sfe.registry import assets, db
from sfe.registry.access import Role

from .identity_helpers import session_token
from .registry_helpers import asset_row, make_principal, mpan

PAGES = Path(__file__).resolve().parents[1] / "dashboards" / "pages"
TIMEOUT = 60


@pytest.fixture
def people(registry):
    return {
        "fsp_a": make_principal("Acme Flex", Role.FSP),
        "fsp_b": make_principal("Beta Flex", Role.FSP),
        "ukpn": make_principal("UK Power Networks", Role.SYSTEM_OPERATOR, operator_id="ukpn"),
        "nged": make_principal("NGED", Role.SYSTEM_OPERATOR, operator_id="nged"),
        "investor": make_principal("Capital Partners", Role.INVESTOR),
        "analyst": make_principal("Analysis Ltd", Role.ANALYST),
    }


def page(name: str, principal=None) -> AppTest:
    at = AppTest.from_file(PAGES / f"{name}.py", default_timeout=TIMEOUT)
    if principal is not None:
        at.session_state["sfe_session_token"] = session_token(principal)
    at.run()
    assert not at.exception, at.exception
    return at


def run(target) -> AppTest:
    """Rerun the app (``target`` is the AppTest or a widget that was just set or clicked)."""
    at = target.run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return matches[0]


def by_key(at: AppTest, kind: str, key: str):
    return next(e for e in getattr(at, kind) if e.key == key)


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def table_ids(at: AppTest, column: str = "Registry id") -> set[str]:
    ids: set[str] = set()
    for frame in at.dataframe:
        if column in frame.value.columns:
            ids |= set(frame.value[column])
    return ids


def register_direct(principal, i: int, **overrides):
    with db.session() as s:
        return assets.register_asset(s, principal, asset_row(i, **overrides))


# -- who may open the pages ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["my_assets", "consultations"])
def test_investors_analysts_and_anonymous_visitors_are_refused(people, name):
    register_direct(people["fsp_a"], 1)
    for who in ("investor", "analyst"):
        at = page(name, people[who])
        assert "not available for your role" in texts(at.error)
        assert not at.dataframe and not at.text_input
    at = page(name)
    assert "Please sign in" in texts(at.info) and not at.dataframe


# -- assets -------------------------------------------------------------------------------------------
def fill_asset_form(at: AppTest, prefix: str, **values) -> None:
    for field, value in values.items():
        element = next(e for e in at.get(_KIND[field]) if e.key == f"{prefix}_{field}")
        element.set_value(value)


_KIND = {
    "name": "text_input",
    "type": "selectbox",
    "mw": "number_input",
    "mwh": "number_input",
    "postcode": "text_input",
    "lat": "number_input",
    "lon": "number_input",
    "mpan": "text_input",
    "bm": "text_input",
    "fu": "text_input",
}


def test_an_fsp_registers_an_asset_by_form_and_sees_only_its_own(people):
    at = page("my_assets", people["fsp_a"])
    assert at.title[0].value == "My assets"
    fill_asset_form(
        at,
        "new",
        name="Takeley battery",
        type="battery",
        mw=4.0,
        mwh=8.0,
        postcode="cm22 6fs",
        mpan=mpan("10", 77),
        bm="e_take-1",
    )
    run(button(at, "Register").click())
    assert "Registered as **REG-000001**" in texts(at.success)
    at = page("my_assets", people["fsp_a"])
    assert table_ids(at) == {"REG-000001"}
    frame = next(f.value for f in at.dataframe if "Registry id" in f.value.columns)
    row = frame.iloc[0]
    assert (row["Postcode"], row["GSP group"], row["DNO area"], row["BM unit"]) == (
        "CM22 6FS",
        "_A",
        "EPN",
        "E_TAKE-1",
    )
    assert (
        page("my_assets", people["fsp_b"]).dataframe == []
        or table_ids(page("my_assets", people["fsp_b"])) == set()
    )

    # the same MPAN again: refused with a pointer to the entry
    at = page("my_assets", people["fsp_b"])
    fill_asset_form(
        at, "new", name="Mine now", type="battery", mw=4.0, mwh=8.0, postcode="CM22 6FS", mpan=mpan("10", 77)
    )
    run(button(at, "Register").click())
    error = texts(at.error)
    assert (
        "already registered as REG-000001" in error
        and "another organisation" in error
        and "Acme" not in error
    )


def test_bad_fields_are_named_and_a_likely_duplicate_needs_confirmation(people):
    register_direct(
        people["fsp_a"], 1, mpan=None, gsp_group="_A", capacity_mw=3.0, latitude=52.0, longitude=0.1
    )
    at = page("my_assets", people["fsp_a"])
    fill_asset_form(at, "new", name="", type="battery", mw=3.0, postcode="CB6 9EN")
    run(button(at, "Register").click())
    error = texts(at.error)
    assert "**asset_name**: is required" in error and "**energy_mwh**: is required" in error
    assert "**mpan**: give the connection point" in error
    fill_asset_form(at, "new", name="Second battery", mwh=6.0, lat=52.0003, lon=0.1)
    by_key(at, "selectbox", "new_gsp").set_value("_A")
    run(button(at, "Register").click())
    assert "looks like an asset that is already registered" in texts(at.warning)
    run(button(at, "Register anyway: it is a different physical asset").click())
    assert "Registered as **REG-000002**" in texts(at.success)


def _upload_csv(rows: list[dict]) -> bytes:
    from sfe.registry.asset_import import TEMPLATE_COLUMNS

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(TEMPLATE_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_csv_upload_of_fifty_with_two_bad_rows_into_a_new_group(people):
    rows = [
        asset_row(i, asset_name=f"Home battery {i}", capacity_mw=0.005 * (i + 1), energy_mwh=0.01 * (i + 1))
        for i in range(50)
    ]
    rows[9]["mpan"] = "1000000000019"  # row 11: bad check digit
    rows[40]["asset_type"] = "flux_capacitor"  # row 42
    content = _upload_csv(rows)
    at = page("my_assets", people["fsp_a"])
    assert any(e.proto.label == "Download the CSV template" for e in at.get("download_button"))
    by_key(at, "file_uploader", "asset_csv").set_value(("homes.csv", content, "text/csv"))
    by_key(at, "radio", "import_target").set_value("A new group")
    run(at)
    by_key(at, "text_input", "import_new_group").set_value("Home batteries")
    run(button(at, "Check the file (registers nothing)").click())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows would be registered"] == "48" and metrics["Rows rejected"] == "2"
    with db.session() as s:
        assert assets.list_assets(s, people["fsp_a"]) == []

    run(button(at, "Register the valid rows").click())
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows"], metrics["Rows registered"], metrics["Rows rejected"]) == ("50", "48", "2")
    assert at.get("progress"), "a progress bar is shown while rows are registered"
    assert "rejected: 11, 42" in texts(at.error)
    errors = next(f.value for f in at.dataframe if list(f.value.columns) == ["row", "field", "message"])
    assert list(errors["row"]) == [11, 42] and list(errors["field"]) == ["mpan", "asset_type"]
    assert "Added to group **Home batteries** (48 members)" in texts(at.caption)
    labels = {e.proto.label for e in at.get("download_button")}
    assert {"Download the error report", "Download the rejected rows to fix"} <= labels

    # the assets are the FSP's own: listed for A, invisible to B
    at = page("my_assets", people["fsp_a"])
    assert len(table_ids(at)) == 48
    assert table_ids(page("my_assets", people["fsp_b"])) == set()


def test_groups_tab_adds_removes_and_keeps_history(people):
    first, second = register_direct(people["fsp_a"], 1), register_direct(people["fsp_a"], 2)
    at = page("my_assets", people["fsp_a"])
    by_key(at, "text_input", "group_name").set_value("Eastern")
    run(button(at, "Create group").click())
    assert "Group 'Eastern' created." in texts(at.success)
    at = page("my_assets", people["fsp_a"])
    group_key = next(e.key for e in at.multiselect if e.key.startswith("add_"))
    by_key(at, "multiselect", group_key).set_value([first.registry_asset_id, second.registry_asset_id])
    run(button(at, "Add to group").click())
    remove_key = next(e.key for e in at.multiselect if e.key.startswith("remove_"))
    by_key(at, "multiselect", remove_key).set_value([first.registry_asset_id])
    run(button(at, "Remove from group").click())
    markdown = texts(at.markdown)
    assert "**Current members**: 1" in markdown and "**Past members**: 1" in markdown
    past = [f.value for f in at.dataframe if "member_until_utc" in f.value.columns]
    assert list(past[0]["registry_asset_id"]) == [first.registry_asset_id]


def test_a_system_operator_sees_the_assets_in_its_area_read_only(people):
    register_direct(people["fsp_a"], 1)  # Eastern: UKPN
    register_direct(people["fsp_b"], 2, mpan=mpan("11", 5))  # East Midlands: NGED
    at = page("my_assets", people["ukpn"])
    assert at.title[0].value == "Assets in your area"
    assert table_ids(at) == {"REG-000001"}
    assert (
        not at.text_input
        and not at.get("file_uploader")
        and not [b for b in at.button if b.label == "Register"]
    )
    assert any(e.proto.label == "Download as CSV" for e in at.get("download_button"))
    assert table_ids(page("my_assets", people["nged"])) == {"REG-000002"}


# -- products -------------------------------------------------------------------------------------------
def test_an_so_registers_a_product_and_takes_it_live_and_others_see_the_catalogue(people):
    at = page("products_registry", people["ukpn"])
    assert at.title[0].value == "Products"
    by_key(at, "text_input", "new_id").set_value("ukpn_reg_peak_2027")
    by_key(at, "text_input", "new_name").set_value("Peak 2027")
    by_key(at, "selectbox", "new_service").set_value("Local flexibility")
    by_key(at, "text_area", "new_zones").set_value("Aldreth\nHalstead")
    by_key(at, "number_input", "new_utilisation").set_value(600.0)
    run(button(at, "Register product").click())
    assert "Registered **ukpn_reg_peak_2027** as a draft." in texts(at.success)

    # not live yet: FSPs see an empty catalogue
    fsp_view = page("products_registry", people["fsp_a"])
    assert fsp_view.title[0].value == "Product catalogue" and "No system operator has published" in texts(
        fsp_view.info
    )
    assert not fsp_view.text_input  # no registration form for FSPs

    at = page("products_registry", people["ukpn"])
    run(button(at, "Make live").click())
    at = page("products_registry", people["ukpn"])
    history = next(f.value for f in at.dataframe if "to_status" in f.value.columns)
    assert list(history["to_status"]) == ["draft", "live"]
    assert [b.label for b in at.button if b.key and b.key.startswith("move_")] == ["Retire"]

    for who in ("fsp_a", "investor", "analyst", "nged"):
        view = page("products_registry", people[who])
        catalogue = next(f.value for f in view.dataframe if "product_id" in f.value.columns)
        assert list(catalogue["product_id"]) == ["ukpn_reg_peak_2027"]
        assert "Zones**: Aldreth, Halstead" in texts(view.markdown)


def test_product_form_reports_every_bad_field(people):
    at = page("products_registry", people["ukpn"])
    by_key(at, "text_input", "new_id").set_value("ukpn_day_ahead")  # a taxonomy id
    run(button(at, "Register product").click())
    error = texts(at.error)
    assert "**product_id**" in error and "taxonomy" in error and "**product_name**: is required" in error


# -- consultations --------------------------------------------------------------------------------------
def test_so_opens_a_consultation_two_fsps_answer_and_the_so_sees_the_results(people):
    from sfe.registry import products

    with db.session() as s:
        products.register_product(
            s,
            people["ukpn"],
            {
                "product_id": "ukpn_reg_peak_2027",
                "market_id": "ukpn_flex",
                "product_name": "Peak 2027",
                "service_type": "Local flexibility",
                "direction": "up",
            },
        )
    at = page("consultations", people["ukpn"])
    by_key(at, "number_input", "q_count").set_value(2)
    run(at)
    by_key(at, "text_input", "c_title").set_value("Peak 2027 market test")
    by_key(at, "selectbox", "q_kind_0").set_value("rating")
    by_key(at, "text_input", "q_prompt_0").set_value("How attractive is the price?")
    by_key(at, "selectbox", "q_kind_1").set_value("text")
    by_key(at, "text_input", "q_prompt_1").set_value("What would stop you bidding?")
    run(button(at, "Open the consultation").click())
    assert "Consultation opened" in texts(at.success)

    for who, rating, text in (("fsp_a", 4, "Baseline rules"), ("fsp_b", 2, "Price")):
        fsp = page("consultations", people[who])
        assert fsp.subheader[0].value == "Peak 2027 market test"
        [rating_widget] = fsp.radio
        rating_widget.set_value(rating)
        [text_widget] = [t for t in fsp.text_area if t.key.startswith("a_")]
        text_widget.set_value(text)
        run(button(fsp, "Send our answers").click())
        assert "answers are saved" in texts(fsp.success)
    # editable until close: A changes its rating
    fsp = page("consultations", people["fsp_a"])
    assert fsp.radio[0].value == 4
    fsp.radio[0].set_value(5)
    run(button(fsp, "Update our answers").click())

    so = page("consultations", people["ukpn"])
    metrics = {m.label: m.value for m in so.metric}
    assert metrics["Responding organisations"] == "2" and metrics["Mean rating"] == "3.50"
    [chart] = [json.loads(c.proto.spec) for c in so.get("vega_lite_chart")]
    assert chart["mark"]["type"] == "bar"
    answers = next(f.value for f in so.dataframe if "answer" in f.value.columns)
    assert sorted(zip(answers["organisation"], answers["answer"], strict=True)) == [
        ("Acme Flex", "Baseline rules"),
        ("Beta Flex", "Price"),
    ]
    labels = {e.proto.label for e in so.get("download_button")}
    assert {"Download the summary (CSV)", "Download every answer (CSV)"} <= labels

    run(button(so, "Close now").click())
    fsp = page("consultations", people["fsp_a"])
    assert "has closed" in texts(fsp.warning) and not fsp.radio  # no more editing
    assert page("consultations", people["nged"]).get("vega_lite_chart") == []  # another SO sees nothing


def test_the_registry_pages_through_the_app_menu(people):
    app_file = PAGES.parent / "app.py"

    def app(principal) -> AppTest:
        at = AppTest.from_file(app_file, default_timeout=TIMEOUT)
        at.session_state["sfe_session_token"] = session_token(principal)
        return run(at)

    def opens(principal, name: str) -> bool:
        at = app(principal)
        try:
            at.switch_page(f"pages/{name}.py")
        except ValueError:  # not in this principal's navigation
            return False
        run(at)
        return True

    at = app(people["fsp_a"])
    at.switch_page("pages/my_assets.py")
    assert run(at).title[0].value == "My assets"
    assert opens(people["ukpn"], "my_assets") and opens(people["ukpn"], "consultations")
    assert opens(people["investor"], "products_registry")
    assert not opens(people["investor"], "my_assets") and not opens(people["analyst"], "consultations")
