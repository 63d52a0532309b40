"""Publish: atomic swap of the serving DB, metadata tables, Parquet exports."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from sfe import publish


def _build(paths, *statements):
    paths.warehouse.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(paths.build_db))
    for sql in statements:
        con.execute(sql)
    con.close()


def test_publish_swaps_in_the_build_with_metadata(lake_paths):
    _build(lake_paths, "CREATE TABLE fct_example AS SELECT 1 AS id")
    info = publish.publish(lake_paths)
    assert info.path == lake_paths.serving_db and info.table_rows["fct_example"] == 1
    con = duckdb.connect(str(lake_paths.serving_db), read_only=True)
    assert con.execute("SELECT count(*) FROM meta_publish").fetchone()[0] == 1
    con.close()
    assert not [p for p in lake_paths.warehouse.iterdir() if p.name.endswith(".tmp")]


def test_publish_exports_contract_tables_as_parquet(lake_paths):
    _build(
        lake_paths,
        "CREATE TABLE fct_example AS SELECT 1 AS id, TIMESTAMPTZ '2025-10-26 01:30:00+00' AS start_utc",
        "CREATE TABLE scratch AS SELECT 1 AS id",
    )
    lake_paths.exports.mkdir(parents=True)
    (lake_paths.exports / "fct_gone.parquet").write_bytes(b"stale")
    publish.publish(lake_paths)
    exported = pl.read_parquet(lake_paths.exports / "fct_example.parquet")
    assert exported["id"].to_list() == [1] and exported["start_utc"].dtype.time_zone == "UTC"
    assert not (lake_paths.exports / "scratch.parquet").exists()
    assert not (lake_paths.exports / "fct_gone.parquet").exists()  # a dropped table's export goes too


def test_publish_without_a_build_says_so(lake_paths):
    with pytest.raises(FileNotFoundError, match="nothing to publish"):
        publish.publish(lake_paths)


def test_data_dictionary_is_published_and_served(lake_paths):
    from fastapi.testclient import TestClient

    from sfe.api.app import app

    client = TestClient(app)
    assert client.get("/dbt-docs/").status_code == 404  # nothing published yet
    staged = lake_paths.warehouse / "dbt_docs_build"
    staged.mkdir(parents=True)
    for name in ("index.html", "manifest.json", "catalog.json"):
        (staged / name).write_text(f"<!-- {name} -->")
    _build(lake_paths, "CREATE TABLE fct_example AS SELECT 1 AS id")
    publish.publish(lake_paths)
    assert not staged.exists() and (lake_paths.warehouse / "dbt_docs" / "index.html").exists()
    page = client.get("/dbt-docs/")
    assert page.status_code == 200 and "index.html" in page.text
    assert client.get("/dbt-docs/catalog.json").status_code == 200
    assert client.get("/dbt-docs/secrets.txt").status_code == 404
    assert client.get("/dbt-docs/..%2Fsfe.duckdb").status_code == 404
