from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from sfe import taxonomy
from sfe.cli import main


def test_project_taxonomy_is_valid():
    assert taxonomy.validate() == []
    result = CliRunner().invoke(main, ["taxonomy", "validate"])
    assert result.exit_code == 0 and "valid" in result.output


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("products.csv", "neso_eac_dch,neso_eac,", "neso_eac_dch,nowhere,", "unknown market_id 'nowhere'"),
        ("products.csv", "neso_eac_dcl,", "neso_eac_dch,", "duplicate product_id"),
        ("size_bands.csv", "1_5mw,1 - 5 MW,1,5", "1_5mw,1 - 5 MW,1.5,5", "contiguous"),
        (
            "source_value_mappings.csv",
            "product,Day-Ahead,product_id,ukpn_day_ahead",
            "product,Day-Ahead,product_id,ukpn_peak_reduction",
            "equivalent spelling",
        ),
        (
            "source_value_mappings.csv",
            "Battery,asset_type,battery",
            "Battery,asset_type,rocket",
            "does not exist",
        ),
        (
            "operators.csv",
            "ukpn,UK Power Networks,ukpn_flex,",
            "ukpn,UK Power Networks,nowhere,",
            "unknown default_market_id",
        ),
        (
            "operators.csv",
            "ukpn,UK Power Networks,ukpn_flex,",
            "ukpn,UK Power Networks,nged_flex,",
            "operated by 'nged'",
        ),
        ("operators.csv", "ukpn_flex,ukpn_fu_id,", "ukpn_flex,postcode,", "asset_ref_type 'postcode'"),
        ("operators.csv", "ukpn_fu_id,system_operator", "ukpn_fu_id,trader", "role 'trader'"),
        ("operators.csv", "nged,National Grid", "ukpn,National Grid", "duplicate operator_id"),
        ("markets.csv", ",spen,SP Energy Networks,", ",spx,SP Energy Networks,", "not in operators.csv"),
        ("mpan_distributors.csv", "12,_C,London", "12,_Z,London", "unknown gsp_group '_Z'"),
        ("mpan_distributors.csv", "12,_C,London", "120,_C,London", "not two digits"),
    ],
)
def test_validation_names_file_row_and_problem(tmp_path, file, old, new, expected):
    copy = tmp_path / "taxonomy"
    shutil.copytree(taxonomy.TAXONOMY_DIR, copy)
    text = (copy / file).read_text()
    assert old in text
    (copy / file).write_text(text.replace(old, new, 1))
    problems = taxonomy.validate(copy)
    assert any(expected in p and p.startswith(file) for p in problems), problems
    result = CliRunner().invoke(main, ["taxonomy", "validate", "--dir", str(copy)])
    assert result.exit_code == 1 and expected in result.output


def test_normalise_value_and_size_bands():
    assert taxonomy.normalise_value(" Day-Ahead ") == taxonomy.normalise_value("day ahead") == "day ahead"
    assert taxonomy.size_band(0.05) == "lt_100kw"
    assert taxonomy.size_band(2.0) == "1_5mw"
    assert taxonomy.size_band(50) == "gt_20mw"


def test_operators_and_mpan_distributors_cover_the_markets():
    operators = {row["operator_id"]: row for row in taxonomy._read("operators")}
    markets = {row["market_id"]: row for row in taxonomy._read("markets")}
    assert {m["operator_id"] for m in markets.values()} <= set(operators)
    assert operators["neso"]["default_market_id"] == "neso_eac"
    assert operators["ukpn"]["default_market_id"] == "ukpn_flex"
    distributors = {row["distributor_id"]: row["gsp_group"] for row in taxonomy._read("mpan_distributors")}
    assert len(distributors) == 14 and set(distributors.values()) == {
        r["gsp_group"] for r in taxonomy._read("dno_areas")
    }
