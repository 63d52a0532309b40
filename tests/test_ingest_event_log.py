"""A ranged ingest run records its daily partitions through the batched SQLite event log exactly as
the stock storage does, in a few transactions instead of several per partition."""

import shutil
import sqlite3
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.defs.ingest import event_log
from pipelines.defs.ingest.assets import INGEST_ASSETS, ingest_asset_key
from sfe import ingest
from sfe.config import LakePaths
from tests.conftest import FIXTURES, land

SOURCE = "meter_readings"
FIRST, LAST = date(2025, 3, 1), date(2025, 3, 31)


def _ranged_run(tmp_path: Path, monkeypatch, *, batched: bool) -> tuple[dg.DagsterInstance, Path]:
    """Ingest the March meter readings over the range of March's days into a fresh lake and instance."""
    root = tmp_path / ("batched" if batched else "stock")
    paths = LakePaths(root)
    land(paths, SOURCE, FIXTURES / SOURCE / "meter_readings_2025-03.csv")
    monkeypatch.setenv("SFE_LAKE_DIR", str(root))
    home = root / "dagster_home"
    home.mkdir(parents=True)
    config = "telemetry:\n  enabled: false\n"
    if batched:
        config += event_log.instance_config(str(home))
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", str(event_log.EVENT_BATCH_SIZE))
    else:
        monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    (home / "dagster.yaml").write_text(config, encoding="utf-8")
    instance = dg.DagsterInstance.from_config(str(home))
    asset = next(a for a in INGEST_ASSETS if a.key == ingest_asset_key(SOURCE))
    result = dg.materialize(
        [asset],
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: FIRST.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: LAST.isoformat(),
        },
        raise_on_error=False,
    )
    assert result.success
    return instance, home / "history" / "runs" / "index.db"


def _recorded(instance: dg.DagsterInstance, index_db: Path) -> dict:
    key = ingest_asset_key(SOURCE)
    materializations = instance.fetch_materializations(key, limit=1000).records
    with sqlite3.connect(index_db) as db:
        events = db.execute(
            "SELECT dagster_event_type, partition, COUNT(*) FROM event_logs "
            "WHERE dagster_event_type LIKE 'ASSET%' GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        tags = db.execute("SELECT key, COUNT(*) FROM asset_event_tags GROUP BY 1 ORDER BY 1").fetchall()
    return {
        "materialized partitions": sorted(instance.get_materialized_partitions(key)),
        "latest partition": instance.get_latest_materialization_event(key).dagster_event.partition,
        "metadata by partition": sorted(
            (r.partition_key, sorted((k, str(v.value)) for k, v in r.asset_materialization.metadata.items()))
            for r in materializations
        ),
        "index events": events,
        "asset event tags": tags,
        "check passed": instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(key, "great_expectations")]
        )[dg.AssetCheckKey(key, "great_expectations")].status.value,
    }


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """The size of every batch written as one transaction."""
    sizes: list[int] = []
    store = event_log.BatchedSqliteEventLogStorage._store_asset_events

    def counted(self, events):
        sizes.append(len(events))
        return store(self, events)

    monkeypatch.setattr(event_log.BatchedSqliteEventLogStorage, "_store_asset_events", counted)
    return sizes


@pytest.mark.slow  # two Dagster runs, one of them through the stock one-commit-per-event storage
def test_ranged_run_is_recorded_in_batches_as_the_stock_storage_records_it(tmp_path, monkeypatch, calls):
    days = (LAST - FIRST).days + 1
    batched, batched_db = _ranged_run(tmp_path, monkeypatch, batched=True)
    assert isinstance(batched.event_log_storage, event_log.BatchedSqliteEventLogStorage)
    # The planned events of the run, then the materializations of the step: one write each.
    assert calls == [days, days]
    stock, stock_db = _ranged_run(tmp_path, monkeypatch, batched=False)
    assert not isinstance(stock.event_log_storage, event_log.BatchedSqliteEventLogStorage)

    recorded = _recorded(batched, batched_db)
    assert recorded["materialized partitions"] == [
        date.fromordinal(d).isoformat() for d in range(FIRST.toordinal(), LAST.toordinal() + 1)
    ]
    assert ("ASSET_MATERIALIZATION", FIRST.isoformat(), 1) in recorded["index events"]
    expected = _recorded(stock, stock_db)
    # Run ids, timestamps and lake paths differ between the two runs; everything else is equal.
    for name in (
        "materialized partitions",
        "latest partition",
        "index events",
        "asset event tags",
        "check passed",
    ):
        assert recorded[name] == expected[name], name
    assert [len(m) for _, m in recorded["metadata by partition"]] == [
        len(m) for _, m in expected["metadata by partition"]
    ]
    # Each day's materialization carries that day's own counts.
    manifest = ingest.partition_manifest(LakePaths(tmp_path / "batched"), SOURCE)
    loaded = {day: dict(metadata)["day_rows_loaded"] for day, metadata in recorded["metadata by partition"]}
    assert loaded == {day: str(manifest[day]["rows"]) if day in manifest else "0" for day in loaded}
    assert sum(int(v) for v in loaded.values()) > 0


def test_a_batch_mixing_other_events_keeps_their_order(tmp_path, monkeypatch, calls):
    """Events that are not asset events of one run are stored one by one, in order, between the
    batched stretches."""
    instance, _ = _ranged_run(tmp_path, monkeypatch, batched=True)
    days = (LAST - FIRST).days + 1
    assert calls == [days, days]
    assert len(instance.get_materialized_partitions(ingest_asset_key(SOURCE))) == days
    run_id = instance.get_runs(limit=1)[0].run_id
    stored = instance.all_logs(run_id)
    types = [e.dagster_event_type.value for e in stored if e.is_dagster_event]
    first_check = types.index("ASSET_CHECK_EVALUATION_PLANNED")
    planned = [i for i, t in enumerate(types) if t == "ASSET_MATERIALIZATION_PLANNED"]
    assert len(planned) == days
    assert planned == list(range(planned[0], planned[0] + len(planned)))  # one unbroken stretch
    assert first_check in (planned[0] - 1, planned[-1] + 1)
    stretches = event_log._stretches(stored)
    assert sum(len(s) for s in stretches) == len(stored)
    assert [e for s in stretches for e in s] == list(stored)
    # Grouped again from the stored log: the planned events and the materializations.
    assert sorted(len(s) for s in stretches if len(s) > 1) == [days, days]


def test_every_lake_selects_the_batched_event_log_in_its_own_history(tmp_path, monkeypatch):
    from sfe import pipeline

    for name in ("SFE_LAKE_DIR", "DAGSTER_HOME"):  # prepare_environment sets them; restored after
        monkeypatch.setenv(name, str(tmp_path))
    from sfe.config import LakePaths

    original = LakePaths(tmp_path / "original")
    pipeline.prepare_environment(original)
    config = (original.dagster_home / "dagster.yaml").read_text(encoding="utf-8")
    assert "BatchedSqliteEventLogStorage" in config and "enabled: false" in config
    assert f"{original.dagster_home}/history/runs/" in config

    copy = LakePaths(tmp_path / "copy")  # a lake copied with its dagster_home keeps nothing of the original's
    shutil.copytree(original.root, copy.root)
    pipeline.prepare_environment(copy)
    copied = (copy.dagster_home / "dagster.yaml").read_text(encoding="utf-8")
    assert f"{copy.dagster_home}/history/runs/" in copied and str(original.root) not in copied
