"""Third-party forecast uploads (sfe.forecasts): validation with per-row errors, storage, ownership."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from sfe import forecasts
from sfe.config import LakePaths
from sfe.registry.access import AccessDenied, NotFound, Principal, Role


def _principal(role: Role = Role.INVESTOR, organisation_id: int = 7, name: str = "Bank A") -> Principal:
    return Principal(
        user_id=organisation_id * 10,
        email=f"user{organisation_id}@example.com",
        display_name="Analyst",
        role=role,
        organisation_id=organisation_id,
        organisation_name=name,
    )


@pytest.fixture
def paths(tmp_path, monkeypatch) -> LakePaths:
    monkeypatch.setenv("SFE_LAKE_DIR", str(tmp_path / "lake"))
    return LakePaths(tmp_path / "lake")


GOOD = (
    "Provider,Product,Year,Revenue_GBP_per_MW_year,scenario,asset_type,duration_h,p10_gbp_per_mw_year,"
    "p90_gbp_per_mw_year,published_on,notes\n"
    "Aurora Flex,neso_eac_dch,2027,42000,central,battery,2,31000,55000,2026-05-01,\n"
    'Aurora Flex,dynamic_containment_low,2027,"38,500",,Battery,2,,,,\n'
    "Aurora Flex,total,2028,86000,High,,,,,,all markets stacked\n"
)


def test_a_valid_upload_is_stored_as_the_providers_parquet(paths):
    result = forecasts.upload(GOOD.encode(), _principal(), "aurora.csv")
    assert result.provider == "Aurora Flex" and result.rows == 3 and result.replaced_rows == 0
    assert result.path == paths.root / "forecasts" / "aurora_flex.parquet" and result.path.exists()
    stored = forecasts.load()
    assert stored.schema == pl.Schema(forecasts.SCHEMA)
    rows = {(r["product"], r["year"]): r for r in stored.iter_rows(named=True)}
    dch = rows[("neso_eac_dch", 2027)]
    assert dch["revenue_gbp_per_mw_year"] == 42000 and dch["p10_gbp_per_mw_year"] == 31000
    assert (
        dch["duration_h"] == 2 and dch["asset_type"] == "battery" and dch["published_on"] == date(2026, 5, 1)
    )
    assert dch["source_file"] == "aurora.csv" and dch["source_line"] == 2
    assert dch["uploaded_by_organisation"] == "Bank A" and dch["uploaded_by_organisation_id"] == 7
    assert dch["uploaded_at_utc"] is not None
    dcl = rows[("dynamic_containment_low", 2027)]
    assert dcl["revenue_gbp_per_mw_year"] == 38500 and dcl["asset_type"] == "battery"
    assert dcl["scenario"] == "central"  # blank scenario defaults to central
    total = rows[("total", 2028)]
    assert (
        total["scenario"] == "high"
        and total["notes"] == "all markets stacked"
        and total["duration_h"] is None
    )
    assert forecasts.providers()["provider"].to_list() == ["Aurora Flex"]


def test_every_problem_is_reported_with_line_field_and_value(paths):
    bad = (
        "provider,product,year,revenue_gbp_per_mw_year,p10_gbp_per_mw_year,duration_h,asset_type,published_on\n"
        "Aurora,neso_eac_dch,2027,42000,50000,2,battery,2026-05-01\n"  # p10 above revenue
        "Aurora,not_a_product,27,abc,,0,toaster,01/05/2026\n"
        "Aurora,neso_eac_dch,2027,42000,,2,battery,\n"
        "Aurora,neso_eac_dch,2027,41000,,2,battery,\n"  # same key as line 4
        "Other Co,total,2027,1,,,,\n"
        "Aurora,total,2027\n"
    )
    with pytest.raises(forecasts.ForecastRejected) as caught:
        forecasts.upload(bad.encode(), _principal(), "bad.csv")
    problems = {(e.line, e.field): e for e in caught.value.errors}
    assert "above revenue" in problems[(2, "p10_gbp_per_mw_year")].reason
    assert problems[(3, "product")].value == "not_a_product"
    assert "four-digit" in problems[(3, "year")].reason
    assert problems[(3, "revenue_gbp_per_mw_year")].reason == "not a number"
    assert "more than 0" in problems[(3, "duration_h")].reason
    assert "taxonomy asset type" in problems[(3, "asset_type")].reason
    assert "YYYY-MM-DD" in problems[(3, "published_on")].reason
    assert "repeats line 4" in problems[(5, "row")].reason
    assert (
        problems[(6, "provider")].value == "Other Co"
        and "line 4 names 'Aurora'" in problems[(6, "provider")].reason
    )
    assert problems[(7, "row")].reason == "has 3 fields, the header has 8"
    assert caught.value.total_errors == len(caught.value.errors) == 10
    assert "bad.csv" in str(caught.value) and "line 2, p10_gbp_per_mw_year" in str(caught.value)
    table = caught.value.as_frame()
    assert table.columns == ["line", "field", "value", "reason"] and table.height == 10
    assert not (paths.root / "forecasts").exists()  # nothing stored


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"provider,product,year,revenue_gbp_per_mw_year\n", "no data rows"),
        (b"provider,product,year\nA,total,2027\n", "required column(s) missing"),
        (b"provider,product,year,revenue,revenue_gbp_per_mw_year\nA,total,2027,1,1\n", "unknown column"),
        (b"provider,provider,product,year,revenue_gbp_per_mw_year\n", "more than once"),
        (b"provider,product,year,revenue_gbp_per_mw_year\n\xff\xfe,total,2027,1\n", "not UTF-8"),
    ],
)
def test_file_level_problems(paths, data, reason):
    with pytest.raises(forecasts.ForecastRejected) as caught:
        forecasts.parse_csv(data, "f.csv")
    assert any(reason in e.reason for e in caught.value.errors), caught.value.errors


def test_oversized_files_are_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(forecasts, "MAX_BYTES", 100)
    with pytest.raises(forecasts.ForecastRejected, match="larger than"):
        forecasts.parse_csv(b"x" * 101)


def test_products_of_the_published_warehouse_can_be_allowed():
    data = b"provider,product,year,revenue_gbp_per_mw_year\nA,ukpn_reg_peak_2027,2027,10\n"
    with pytest.raises(forecasts.ForecastRejected):
        forecasts.parse_csv(data)
    frame = forecasts.parse_csv(data, extra_products=["ukpn_reg_peak_2027"])
    assert frame["product"].to_list() == ["ukpn_reg_peak_2027"]


def test_an_upload_replaces_the_providers_previous_forecast(paths):
    forecasts.upload(GOOD.encode(), _principal())
    newer = "provider,product,year,revenue_gbp_per_mw_year\nAURORA  flex,total,2029,90000\n"
    result = forecasts.upload(newer.encode(), _principal(), "newer.csv")
    assert result.replaced_rows == 3 and result.rows == 1
    stored = forecasts.load()
    assert stored.select("provider", "product", "year").rows() == [("AURORA  flex", "total", 2029)]
    other = "provider,product,year,revenue_gbp_per_mw_year\nModo,total,2029,80000\n"
    forecasts.upload(other.encode(), _principal())
    assert forecasts.providers()["provider"].to_list() == ["AURORA  flex", "Modo"]
    assert forecasts.load("modo")["revenue_gbp_per_mw_year"].to_list() == [80000]


def test_another_organisation_cannot_replace_or_delete_a_forecast(paths):
    forecasts.upload(GOOD.encode(), _principal(organisation_id=7))
    intruder = _principal(organisation_id=8, name="Bank B")
    with pytest.raises(AccessDenied, match="another organisation"):
        forecasts.upload(GOOD.encode(), intruder)
    with pytest.raises(AccessDenied):
        forecasts.delete("Aurora Flex", intruder)
    assert forecasts.load().height == 3
    admin = _principal(Role.ADMIN, organisation_id=1, name="SFE")
    assert forecasts.delete("aurora flex", admin) == 3
    assert forecasts.load().is_empty()
    with pytest.raises(NotFound):
        forecasts.delete("Aurora Flex", admin)


def test_system_operators_cannot_upload(paths):
    with pytest.raises(AccessDenied, match="upload forecasts"):
        forecasts.upload(GOOD.encode(), _principal(Role.SYSTEM_OPERATOR))


def test_provider_names_cannot_escape_the_forecasts_folder(paths):
    data = b"provider,product,year,revenue_gbp_per_mw_year\n../../etc/passwd,total,2027,1\n"
    result = forecasts.upload(data, _principal(), "../../x.csv")
    assert result.path == paths.root / "forecasts" / "etc_passwd.parquet"
    assert forecasts.load()["source_file"].to_list() == ["x.csv"]
    with pytest.raises(forecasts.ForecastRejected, match="letters or digits"):
        forecasts.parse_csv(b"provider,product,year,revenue_gbp_per_mw_year\n../..,total,2027,1\n")


def test_the_example_in_the_docs_is_valid():
    frame = forecasts.parse_csv(forecasts.EXAMPLE_CSV.encode(), "example.csv")
    assert frame.height == 2 and set(frame["product"]) == {"neso_eac_dch", "total"}
