"""The HTTP API under load, over loopback only: a real uvicorn server on a free port and N
concurrent clients (httpx) for a fixed time, idle and while `sfe build` rebuilds and republishes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# A mix of public market-data reads, the dashboard-style queries the API serves most.
REQUESTS: tuple[tuple[str, dict[str, str | int]], ...] = (
    ("/v1/auction-results", {"from": "2025-06-01", "to": "2025-07-01", "limit": 1000}),
    ("/v1/system-prices", {"from": "2025-06-01", "to": "2025-06-08", "limit": 500}),
    ("/v1/dispatches", {"from": "2025-06-01", "to": "2025-06-15", "limit": 500}),
    ("/v1/health", {}),
)


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float] = field(default_factory=list)  # of the successful requests, seconds
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def summary(self) -> str:
        return (
            f"{self.requests / self.seconds:,.0f} req/s, p50 {self.percentile(0.5) * 1000:.0f} ms, "
            f"p95 {self.percentile(0.95) * 1000:.0f} ms, p99 {self.percentile(0.99) * 1000:.0f} ms, "
            f"errors {self.errors}" + (f" ({self.error_kinds})" if self.error_kinds else "")
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def api_server(lake_root: Path) -> Iterator[str]:
    """uvicorn serving sfe.api.app on 127.0.0.1 (never another interface); yields its base URL."""
    port = free_port()
    env = {**os.environ, "SFE_LAKE_DIR": str(lake_root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "sfe.api.app:app", "--host", "127.0.0.1", "--port", str(port)]
        + ["--log-level", "warning", "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the API did not start: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{base}/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not answer /v1/health within 120 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _client(http: httpx.AsyncClient, k: int, until, result: LoadResult) -> None:
    i = k
    while not until():
        path, params = REQUESTS[i % len(REQUESTS)]
        i += 1
        t0 = time.perf_counter()
        try:
            response = await http.get(path, params=params)
            if response.status_code == 200:
                result.latencies.append(time.perf_counter() - t0)
                continue
            kind = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
        result.errors += 1
        result.error_kinds[kind] = result.error_kinds.get(kind, 0) + 1


async def _load(base: str, clients: int, until) -> LoadResult:
    result = LoadResult(seconds=0.0)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        await asyncio.gather(*(_client(http, k, until, result) for k in range(clients)))
    result.seconds = time.perf_counter() - t0
    return result


def run_load(base: str, clients: int, seconds: float) -> LoadResult:
    """N clients, each sending its next request as soon as the last one is answered, for `seconds`."""
    stop_at = time.monotonic() + seconds
    return asyncio.run(_load(base, clients, lambda: time.monotonic() > stop_at))


def run_load_while(base: str, clients: int, proc: subprocess.Popen) -> LoadResult:
    """The same load for as long as `proc` runs."""
    return asyncio.run(_load(base, clients, lambda: proc.poll() is not None))


def load_benchmark(lake_root: Path, clients: int, seconds: float) -> list[tuple[str, str]]:
    with api_server(lake_root) as base:
        run_load(base, clients, 3)  # warm-up: connections, DuckDB caches
        result = run_load(base, clients, seconds)
    return [
        (
            f"load: {clients} concurrent clients × {seconds:.0f} s, loopback (mix of {len(REQUESTS)} routes)",
            result.summary(),
        )
    ]


def serving_during_build_benchmark(lake_root: Path, clients: int, seconds: float) -> list[tuple[str, str]]:
    """p95 and errors while `sfe build` rebuilds and republishes the same lake, vs idle."""
    env = {**os.environ, "SFE_LAKE_DIR": str(lake_root)}
    with api_server(lake_root) as base:
        run_load(base, clients, 3)
        idle = run_load(base, clients, seconds)
        build_log = lake_root / "bench_build.log"
        with open(build_log, "wb") as log:
            t0 = time.perf_counter()
            build = subprocess.Popen(
                [sys.executable, "-m", "sfe.cli", "build"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            during = run_load_while(base, clients, build)
            build_s = time.perf_counter() - t0
        if build.returncode != 0:
            raise RuntimeError(f"sfe build failed during the benchmark: {build_log.read_text()[-2000:]}")
        after = httpx.get(f"{base}/v1/health", timeout=30).json()
    ratio = during.percentile(0.95) / idle.percentile(0.95)
    met = during.errors == 0 and ratio <= 2
    return [
        (f"serving idle ({clients} clients)", idle.summary()),
        (
            f"serving during `sfe build` ({build_s:.0f} s, {clients} clients)",
            f"{during.summary()} → p95 **{ratio:.2f}× idle** (target 0 errors and ≤ 2×: "
            f"{'met' if met else 'MISSED'}); serving the new publish of {after.get('published_at')} after it",
        ),
    ]
