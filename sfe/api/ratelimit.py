"""Per-client rate limiting: a token bucket per API key (or per client address without a key).

Each client may make ``SFE_API_RATE_PER_MIN`` requests a minute on average (default 600) with bursts
of up to ``SFE_API_RATE_BURST`` (default: a tenth of a minute's worth, at least 10). Over the limit
the API answers 429 with ``Retry-After`` and a JSON error. A client that presents an API key is
limited per key; an address is in addition capped at 10x the rate whatever keys it presents, so
inventing keys does not lift the limit.

Requests from the loopback address are not limited unless ``SFE_API_RATE_LIMIT_LOOPBACK=1`` (tests,
benchmarks and a local analyst are not throttled). Behind a reverse proxy on the same host, run
uvicorn with ``--proxy-headers --forwarded-allow-ips=<proxy>`` so the client address is the real one.
``SFE_API_RATE_PER_MIN=0`` turns the limit off.

The buckets live in the process: several API workers each allow the rate.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

ADDRESS_FACTOR = 10  # an address's cap, in multiples of the per-client rate
MAX_BUCKETS = 50_000  # idle buckets are dropped beyond this many


@dataclass(frozen=True)
class RateLimitConfig:
    per_minute: float
    burst: float
    limit_loopback: bool

    @classmethod
    def from_env(cls) -> RateLimitConfig:
        per_minute = _env_number("SFE_API_RATE_PER_MIN", 600.0)
        burst = _env_number("SFE_API_RATE_BURST", max(10.0, per_minute / 10))
        loopback = os.environ.get("SFE_API_RATE_LIMIT_LOOPBACK", "").strip().lower() in {"1", "true", "yes"}
        return cls(per_minute=per_minute, burst=burst, limit_loopback=loopback)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"{name}={text!r} must be a finite number >= 0")
    return value


class TokenBuckets:
    """Token buckets keyed by client: ``take(key)`` -> seconds to wait (0.0 = allowed)."""

    def __init__(self, per_minute: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate = per_minute / 60.0  # tokens per second
        self.capacity = max(burst, 1.0)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > MAX_BUCKETS:
                    self._drop_full(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _drop_full(self, now: float) -> None:
        """Forget buckets that have refilled completely (they equal a new bucket)."""
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.capacity:
                del self._buckets[key]


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The credential a request presents (X-API-Key, else a bearer token), or None."""
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def _is_loopback(host: str | None) -> bool:
    if host in ("testclient", "localhost"):  # Starlette's TestClient, a local socket
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RateLimitMiddleware:
    """ASGI middleware applying the token buckets to every HTTP request."""

    def __init__(
        self, app, config: RateLimitConfig | None = None, clock: Callable[[], float] = time.monotonic
    ):
        self.app = app
        self.config = config or RateLimitConfig.from_env()
        self.clients = TokenBuckets(self.config.per_minute, self.config.burst, clock)
        self.addresses = TokenBuckets(
            self.config.per_minute * ADDRESS_FACTOR, self.config.burst * ADDRESS_FACTOR, clock
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not self.config.enabled:
            await self.app(scope, receive, send)
            return
        host = scope["client"][0] if scope.get("client") else None
        if _is_loopback(host) and not self.config.limit_loopback:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        key = presented_key(headers.get("authorization"), headers.get("x-api-key"))
        address = f"ip:{host}"
        wait = self.addresses.take(address)
        if key is not None:
            # Keys are secrets: only a digest of one is kept in memory.
            wait = max(wait, self.clients.take("key:" + hashlib.sha256(key.encode()).hexdigest()))
        else:
            wait = max(wait, self.clients.take(address))
        if wait > 0:
            await self._too_many(send, wait)
            return
        await self.app(scope, receive, send)

    async def _too_many(self, send, wait: float) -> None:
        retry_after = max(1, math.ceil(wait))
        per_minute = f"{self.config.per_minute:g}"
        body = json.dumps(
            {
                "error": "rate_limited",
                "message": f"too many requests: this API allows {per_minute} requests a minute per client; "
                f"retry after {retry_after} s",
                "retry_after_s": retry_after,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after).encode()),
                    (b"x-ratelimit-limit", per_minute.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
