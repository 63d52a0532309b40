"""The registry through crashes and builds (issue #8): a registration acknowledged to its caller survives
the process being killed (SQLite WAL, synchronous=FULL), and registrations made while `sfe build` runs
all succeed and reach the next registry snapshot. Real SQLite files, real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, text

from sfe.registry import assets, db, snapshot
from sfe.registry.access import Role
from sfe.registry.models import Asset
from sfe.registry_schema import snapshot_path

from .registry_helpers import asset_row, make_principal

REPO = Path(__file__).resolve().parents[1]

# Registers assets one at a time and prints each id only after its transaction committed: what a caller
# would have been told. It never stops by itself; the test kills it.
_REGISTRAR = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from sfe.registry import assets, db
    from sfe.registry.access import Role
    from tests.registry_helpers import asset_row, make_principal

    fsp = make_principal("Crash Flex", Role.FSP)
    i = 0
    while True:
        data = asset_row(i, capacity_mw=1.0, latitude=52.0 + 0.0001 * i)
        with db.session() as s:
            record = assets.register_asset(s, fsp, data, confirm_likely_duplicate=True)
        print(record.registry_asset_id, flush=True)  # acknowledged: the commit has returned
        i += 1
    """
)


def _register(principal, i: int, prefix: int) -> str:
    data = asset_row(prefix * 10_000 + i, capacity_mw=1.0, latitude=52.0 + 0.0001 * i)
    with db.session() as s:
        return assets.register_asset(s, principal, data, confirm_likely_duplicate=True).registry_asset_id


def test_every_acknowledged_registration_survives_the_process_being_killed(registry):
    env = {**os.environ, "SFE_LAKE_DIR": str(registry.root)}
    child = subprocess.Popen(
        [sys.executable, "-c", _REGISTRAR.format(repo=str(REPO))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acknowledged: list[str] = []
    try:
        for line in child.stdout:
            acknowledged.append(line.strip())
            if len(acknowledged) == 40:
                child.send_signal(signal.SIGKILL)  # mid-stream: the next registration is under way
                break
    finally:
        child.kill()
        child.wait(timeout=30)
    assert len(acknowledged) == 40, child.stderr.read()
    assert child.returncode == -signal.SIGKILL

    db.dispose_all()  # a fresh process's view: open the file again
    with db.engine().connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    with db.session() as s:
        stored = set(s.scalars(select(Asset.registry_asset_id)))
    assert set(acknowledged) <= stored  # nothing acknowledged is lost
    assert len(stored) - len(acknowledged) <= 1  # at most the one committed as it was killed
    # The registry goes on: the next registration works and gets the next id.
    after = _register(make_principal("After Crash Flex", Role.FSP), 7, prefix=9)
    assert after not in stored


@pytest.mark.slow
def test_registrations_while_sfe_build_runs_all_succeed_and_reach_the_next_snapshot(registry):
    from sfe.generate import generate

    generate(registry, assets=20, days=10, progress=False)
    fsps = [make_principal(f"Busy Flex {n}", Role.FSP) for n in range(3)]
    env = {**os.environ, "SFE_LAKE_DIR": str(registry.root)}
    build = subprocess.Popen(
        [str(Path(sys.executable).with_name("sfe")), "build"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    registered: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def keep_registering(n: int) -> None:
        i = 0
        while build.poll() is None:
            try:
                rid = _register(fsps[n], i, prefix=n + 1)
            except BaseException as exc:  # any failure fails the test
                with lock:
                    failures.append(exc)
                return
            with lock:
                registered.append(rid)
            i += 1

    threads = [threading.Thread(target=keep_registering, args=(n,)) for n in range(len(fsps))]
    for t in threads:
        t.start()
    _, errors = build.communicate(timeout=900)
    for t in threads:
        t.join(timeout=60)
    assert build.returncode == 0, errors.decode(errors="replace")[-3000:]
    assert not failures, failures
    assert len(registered) >= 30  # registrations ran throughout the build, not just at its start
    with db.session() as s:
        stored = set(s.scalars(select(Asset.registry_asset_id)))
    assert set(registered) <= stored
    snapshot.write_snapshot(registry)  # what the next build reads
    exported = set(pq.read_table(snapshot_path("assets", registry)).column("registry_asset_id").to_pylist())
    assert set(registered) <= exported
