"""Publish does not rewrite the Parquet export of a table that did not change."""

from __future__ import annotations

import duckdb
import polars as pl

from sfe import publish


def _build(paths, facts: int, dims: str) -> None:
    paths.warehouse.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(paths.build_db))
    try:
        con.execute("create or replace table fct_example as select range as id from range(?)", [facts])
        con.execute("create or replace table dim_example as select ? as label", [dims])
    finally:
        con.close()


def test_unchanged_exports_are_linked_and_changed_ones_written(lake_paths):
    _build(lake_paths, facts=1000, dims="a")
    publish.publish(lake_paths)
    fact, dim = lake_paths.exports / "fct_example.parquet", lake_paths.exports / "dim_example.parquet"
    fact_inode, dim_inode = fact.stat().st_ino, dim.stat().st_ino

    _build(lake_paths, facts=1000, dims="b")  # the fact table is rebuilt identical, the dimension changes
    publish.publish(lake_paths)
    assert fact.stat().st_ino == fact_inode, "an unchanged table was exported again"
    assert dim.stat().st_ino != dim_inode
    assert pl.read_parquet(dim)["label"].to_list() == ["b"]
    assert pl.read_parquet(fact).height == 1000

    _build(lake_paths, facts=999, dims="b")
    publish.publish(lake_paths)
    assert pl.read_parquet(fact).height == 999


def test_a_changed_schema_is_exported_again(lake_paths):
    _build(lake_paths, facts=10, dims="a")
    publish.publish(lake_paths)
    con = duckdb.connect(str(lake_paths.build_db))
    con.execute("create or replace table fct_example as select range::integer as id from range(10)")
    con.close()
    publish.publish(lake_paths)
    assert pl.read_parquet(lake_paths.exports / "fct_example.parquet").schema["id"] == pl.Int32
