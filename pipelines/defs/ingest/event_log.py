"""Dagster's SQLite event log, storing a batch of asset events in one transaction per database.

An ingest run over a range of daily partitions records two asset events per day (the planned
materialization and the materialization), so that the asset catalog shows which days exist. The
stock SQLite storage writes each event on its own: a new connection, a commit and, on closing it,
a WAL checkpoint - twice per event (the run's database and the cross-run index). For a year of
partitions that took several times longer than the ingest itself.

Dagster hands the asset events of one step (and the planned events of one run) to
``store_event_batch`` when the environment variable ``DAGSTER_EVENT_BATCH_SIZE`` is set; the stock
storage then still stores them one by one. Here a batch of asset events of one run is one
transaction in the run's database and one in the index, with the same rows the one-by-one path
writes. Anything else takes the stock path.

Select it in ``$DAGSTER_HOME/dagster.yaml`` (:func:`instance_config`). Every process that loads
the instance then imports this module, which turns batching on (unless the environment sets it).
"""

import os
from collections.abc import Sequence

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result

# Events per batch: a year of daily partitions is a few hundred.
EVENT_BATCH_SIZE = 1000
# Dagster reads the switch from the environment each time it stores an event.
os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))

INSTANCE_CONFIG = """\
event_log_storage:
  module: pipelines.defs.ingest.event_log
  class: BatchedSqliteEventLogStorage
  config:
    base_dir: {base_dir}
"""


def instance_config(dagster_home: str) -> str:
    """The dagster.yaml lines that select this storage, in Dagster's default place for the event log."""
    return INSTANCE_CONFIG.format(base_dir=f"{dagster_home.rstrip('/')}/history/runs/")


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log storage whose batches of asset events are one transaction per database."""

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "BatchedSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        # In order: each stretch of asset events of one run as one write, anything else one by one.
        for batch in _stretches(events):
            if len(batch) > 1 and _is_asset_event(batch[0]):
                self._store_asset_events(batch)
            else:
                for event in batch:
                    self.store_event(event)

    def _store_asset_events(self, events: Sequence[EventLogEntry]) -> None:
        """What SqliteEventLogStorage.store_event does for each asset event, in one transaction
        per database: the event in the run's shard, then mirrored into the index with its tags and
        the asset's latest-event record."""
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            for statement in statements:
                conn.execute(statement)
        with self.index_transaction() as conn:
            event_ids = []
            for statement in statements:
                with db_result(conn, statement) as result:
                    event_ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in zip(events, event_ids, strict=True):
                self._store_asset_event(conn, event, event_id)


def _is_asset_event(event: EventLogEntry) -> bool:
    return (
        event.is_dagster_event
        and event.dagster_event_type in ASSET_EVENTS
        and event.dagster_event.asset_key is not None
    )


def _stretches(events: Sequence[EventLogEntry]) -> list[list[EventLogEntry]]:
    """Consecutive events grouped: asset events of one run together, every other event alone."""
    stretches: list[list[EventLogEntry]] = []
    for event in events:
        previous = stretches[-1][-1] if stretches else None
        if (
            previous is not None
            and _is_asset_event(event)
            and _is_asset_event(previous)
            and event.run_id == previous.run_id
        ):
            stretches[-1].append(event)
        else:
            stretches.append([event])
    return stretches
