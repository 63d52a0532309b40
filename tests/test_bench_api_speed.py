"""The API benchmark runs end to end on a small published warehouse: every route answers 200 over
real HTTP with real API keys, and each figure is set against the same statements run directly."""

from __future__ import annotations

import re

import pytest

from bench import api_speed
from sfe.registry import db as registry_db
from sfe.serving import reset_db_registry

from .test_api_v1 import _publish


@pytest.fixture
def published_lake(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    monkeypatch.setenv("SFE_LAKE_DIR", str(root))
    _publish(root)
    yield root
    reset_db_registry()
    registry_db.dispose_all()


def test_every_route_is_timed_against_its_own_statements(published_lake):
    rows = api_speed.bench_api(repeats=3)
    names = [name for name, _ in rows]
    assert names[0] == "API HTTP floor: a 404, no query"
    assert len(rows) == 8 and all(name.startswith("API /v1/") for name in names[1:])
    figure = re.compile(
        r"^p50 [\d.]+ ms, p95 [\d.]+ ms vs direct DuckDB p50 [\d.]+ ms, p95 [\d.]+ ms → p95 ratio "
        r"\*\*[\d.]+×\*\* \(p50 [\d.]+×; (met|MISSED): p95 ≤ 200 ms and ≤ 1.5×\)$"
    )
    timed = [(name, value) for name, value in rows[1:] if not value.startswith("skipped")]
    skipped = [name for name, value in rows[1:] if value == "skipped: fct_system_price is not published"]
    assert skipped == ["API /v1/system-prices: system prices, 1 month"]  # not in this fixture
    assert len(timed) == 6
    for name, value in timed:
        assert figure.match(value), (name, value)


def test_no_warehouse_is_reported_not_timed(tmp_path, monkeypatch):
    monkeypatch.setenv("SFE_LAKE_DIR", str(tmp_path / "empty"))
    [(name, value)] = api_speed.bench_api(repeats=1)
    assert name == "API speed" and value.startswith("skipped: no published warehouse")
