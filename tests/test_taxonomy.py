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
