"""API speed: p50/p95 of HTTP API routes against the same SQL on DuckDB directly.

The API runs in uvicorn on a loopback port (in a thread of this process) and is called over HTTP
with keep-alive, as a client would, with the standard library's ``http.client`` (the lightest
client: what is timed is the server, the round trip and reading the whole body, not a client
library's own bookkeeping, which for httpx is ~0.8 ms a call). The baseline runs the very statements
the route runs (``sfe.queries.page_query``: the page of rows, fetched as the Polars frame the route
encodes, and the total when the page does not imply it) on a direct read-only DuckDB connection to
the same file. So the ratio charges the API with everything it adds: HTTP, routing and validation,
authentication, row scoping, the serving layer and encoding JSON/CSV. Calls alternate (API, direct)
after a warm-up of both. Nothing is cached between calls apart from what the API keeps in normal
operation (the catalog per publish, verified keys until the registry changes).

Per-asset routes are called with a real API key (an admin, and a system operator whose rows are
restricted to its markets and area), made in a throw-away registry so no real registry is touched.
The "HTTP floor" row is the round trip of a request the API answers without any query (a 404).

    python -m bench.api_speed [--lake DIR] [--repeats 200]     # a built lake (default: SFE_LAKE_DIR)

``bench_api()`` returns ``(name, result)`` rows for bench/RESULTS.md. Targets (issue "Speed"): p95
<= 200 ms and <= 1.5x the direct query.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import duckdb

P95_TARGET_MS = 200.0
RATIO_TARGET = 1.5


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    params: dict[str, str]
    key: str | None = None  # "admin" or "so"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


@contextmanager
def _server(app) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, for the duration of the block."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def _throwaway_registry() -> Iterator[dict[str, str]]:
    """API keys of an admin and of UKPN's system operator, in a temporary registry."""
    from sfe.registry import api_keys, db, identity
    from sfe.registry.access import Principal, Role
    from sfe.registry.models import Organisation, User

    previous = os.environ.get("SFE_REGISTRY_URL")
    with tempfile.TemporaryDirectory(prefix="sfe-bench-registry-") as tmp:
        os.environ["SFE_REGISTRY_URL"] = f"sqlite:///{Path(tmp) / 'registry.sqlite'}"
        try:
            keys = {}
            with db.session() as s:
                for name, role, operator in (
                    ("Bench admin", Role.ADMIN, None),
                    ("UKPN", Role.SYSTEM_OPERATOR, "ukpn"),
                ):
                    org = Organisation(
                        name=name,
                        name_key=identity.organisation_key(name),
                        kind=role.value,
                        operator_id=operator,
                    )
                    s.add(org)
                    s.flush()
                    user = User(
                        email=f"{role.value}@bench.example",
                        display_name=name,
                        password_hash="no password: API key only",
                        role=role.value,
                        organisation_id=org.id,
                        status=identity.ACTIVE,
                    )
                    s.add(user)
                    s.flush()
                    keys[role] = Principal(user.id, user.email, name, role, org.id, name, operator)
            yield {
                "admin": api_keys.create_key(keys[Role.ADMIN], "bench")[1],
                "so": api_keys.create_key(keys[Role.SYSTEM_OPERATOR], "bench")[1],
            }
        finally:
            db.dispose_all()
            if previous is None:
                os.environ.pop("SFE_REGISTRY_URL", None)
            else:
                os.environ["SFE_REGISTRY_URL"] = previous


def _next_month(day: date | datetime) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _cases(direct: duckdb.DuckDBPyConnection) -> list[Case]:
    """Routes of each kind, with ranges inside the data of the lake being measured."""
    first = direct.sql("SELECT min(delivery_start_utc) FROM fct_auction_result").fetchall()[0][0]
    month_start = _next_month(first) if first.day > 1 or first.hour else first.date().replace(day=1)
    next_month = _next_month(month_start)
    week_end = month_start + timedelta(days=7)
    product = direct.sql(
        "SELECT product_id FROM fct_auction_result GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchall()[0][0]
    published = _published_tables(direct)
    asset = "none"
    if "fct_metering" in published:
        first_metered = direct.sql("SELECT min(asset_id) FROM fct_metering").fetchall()[0][0]
        asset = first_metered or asset
    span = {"from": month_start.isoformat(), "to": next_month.isoformat()}
    return [
        Case("auction results, 1 month, 1000 rows", "/v1/auction-results", {**span, "limit": "1000"}),
        Case(
            "auction results, 1 product, 1 month, CSV",
            "/v1/auction-results",
            {**span, "product_id": product, "format": "csv"},
        ),
        Case("dispatches, operator ukpn, 1 month", "/v1/dispatches", {**span, "operator_id": "ukpn"}),
        Case("market trends, monthly, 1 product", "/v1/market-trends", {"product_id": product}),
        Case("system prices, 1 month", "/v1/system-prices", span),
        Case(
            "metering, 1 asset, 1 week (admin key)",
            "/v1/metering",
            {"asset_id": asset, "from": span["from"], "to": week_end.isoformat()},
            "admin",
        ),  # fmt: skip
        Case("settlements, 1 month (SO key: its markets and area)", "/v1/settlements", span, "so"),
    ]


def _published_tables(direct: duckdb.DuckDBPyConnection) -> set[str]:
    rows = direct.sql("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()
    return {name for (name,) in rows}


def _direct_statements(case: Case):
    """The statements the route runs for ``case`` (same SQL, same parameters)."""
    from sfe import queries
    from sfe.api import datasets, scoping
    from sfe.api.common import list_values, time_range

    dataset = datasets.BY_PATH[case.path]
    params = dict(case.params)
    start, end = time_range(params.pop("from", None), params.pop("to", None))
    limit = int(params.pop("limit", queries.DEFAULT_LIMIT))
    params.pop("format", None)
    filters = {name: list_values([value]) for name, value in params.items()}
    for choice in dataset.choices:
        filters.setdefault(choice.param, [choice.default])
    scope = None
    if case.key == "admin":
        scope = queries.RowScope(everything=True)
    elif case.key == "so":
        scope = queries.RowScope(operator_id="ukpn", dno_areas=scoping.operator_areas("ukpn"))
    return queries.page_query(dataset.spec, filters, start, end, limit, 0, scope)


class _Client:
    """Keep-alive GETs on one connection (``http.client``); the whole body is read on every call."""

    def __init__(self, base: str):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def get(self, path: str, params: dict[str, str] | None = None, headers: dict | None = None):
        self.connection.request(
            "GET", f"{path}?{urlencode(params)}" if params else path, headers=headers or {}
        )
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


def _interleaved(calls: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each function, called in turn ``repeats`` times (after a warm-up of 5)."""
    for _ in range(5):  # first queries load the catalog and column segments
        for call in calls.values():
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - t0)
    return samples


def _measure(
    client: _Client, direct, case: Case, headers: dict, statements, repeats: int
) -> tuple[list[float], list[float]]:
    """Seconds per call of the route and of its statements, interleaved (after a warm-up of both)."""
    from sfe import queries

    def call_api() -> None:
        status, body = client.get(case.path, case.params, headers)
        if status != 200:
            raise RuntimeError(f"{case.path}: {status} {body[:300]!r}")

    def call_direct() -> None:
        rows = direct.sql(statements.rows_sql, params=statements.rows_params).pl()
        if queries.total_of_page(rows.height, statements.rows_params["limit"], 0) is None:
            direct.sql(statements.count_sql, params=statements.params or None).fetchall()

    samples = _interleaved({"api": call_api, "direct": call_direct}, repeats)
    return samples["api"], samples["direct"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def bench_api(repeats: int = 200) -> list[tuple[str, str]]:
    """p50/p95 per route over HTTP vs the same statements on DuckDB directly (lake: SFE_LAKE_DIR)."""
    from sfe.api.app import create_app
    from sfe.api.ratelimit import RateLimitConfig
    from sfe.config import lake

    db_path = lake().serving_db
    if not db_path.exists():
        return [("API speed", f"skipped: no published warehouse at {db_path} (run with build)")]
    from sfe.api.datasets import BY_PATH

    direct = duckdb.connect(str(db_path), read_only=True)
    direct.sql("SET TimeZone = 'UTC'")
    published = _published_tables(direct)
    if "fct_auction_result" not in published:
        direct.close()
        return [("API speed", "skipped: the published warehouse has no auction results to pick ranges from")]
    cases = _cases(direct)
    rows: list[tuple[str, str]] = []
    app = create_app(rate_limit=RateLimitConfig(per_minute=0, burst=0, limit_loopback=False))
    with _throwaway_registry() as keys, _server(app) as base:
        client = _Client(base)
        try:
            floor = _interleaved({"404": lambda: client.get("/v1/no-such-route")}, repeats)["404"]
            f50, f95 = _percentiles(floor)
            rows.append(
                (
                    "API HTTP floor: a 404, no query",
                    f"p50 {_ms(f50)}, p95 {_ms(f95)} (round trip on loopback)",
                )
            )
            for case in cases:
                table = BY_PATH[case.path].spec.table
                if table not in published:  # a lake built before the table existed
                    rows.append((f"API {case.path}: {case.name}", f"skipped: {table} is not published"))
                    continue
                headers = {"X-API-Key": keys[case.key]} if case.key else {}
                statements = _direct_statements(case)
                api_t, direct_t = _measure(client, direct, case, headers, statements, repeats)
                a50, a95 = _percentiles(api_t)
                d50, d95 = _percentiles(direct_t)
                ratio = a95 / d95 if d95 else float("inf")
                met = a95 * 1000 <= P95_TARGET_MS and ratio <= RATIO_TARGET
                rows.append(
                    (
                        f"API {case.path}: {case.name}",
                        f"p50 {_ms(a50)}, p95 {_ms(a95)} vs direct DuckDB p50 {_ms(d50)}, p95 {_ms(d95)} "
                        f"→ p95 ratio **{ratio:.2f}×** (p50 {a50 / d50:.2f}×; "
                        f"{'met' if met else 'MISSED'}: p95 ≤ {P95_TARGET_MS:.0f} ms and ≤ {RATIO_TARGET}×)",
                    )
                )
        finally:
            client.close()
    direct.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", type=Path, help="a built lake (default: SFE_LAKE_DIR)")
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    if args.lake:
        os.environ["SFE_LAKE_DIR"] = str(args.lake)
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(f"API speed, {stamp}\n\n| benchmark | result |\n|---|---|")
    for name, value in bench_api(args.repeats):
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
