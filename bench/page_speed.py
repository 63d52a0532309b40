"""Analytics page speed: the dashboard data functions against the same SQL on DuckDB directly, and the
time a page takes to re-render after a filter change (streamlit.testing AppTest, in process).

    python -m bench.page_speed [--lake DIR] [--repeats 30] [--renders 12]

Reads the published warehouse of ``--lake`` (default: SFE_LAKE_DIR). For each data function the
pages call when a filter changes, the sfe.queries function is timed over a cycle of filter values
(through the serving layer, uncached: what a cache miss costs), the SQL it ran is captured and the
same statements with the same parameters are timed on a plain read-only DuckDB connection. Then each
page is run headless and a filter is changed ``--renders`` times; the re-render time includes the
page's own caching (the first pass over the filter values misses the cache), but not the browser
drawing the charts. Target: p95 under 1 s per re-render at demo scale.

``bench_pages(work, repeats, renders)`` returns (name, result) lines like the other benchmarks in
``python -m bench``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import duckdb

from sfe import queries
from sfe.serving import ReadSession, get_db

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
TARGET_S = 1.0
RATIO_TARGET = 1.5  # a data function's p95 against its own SQL run directly (as the API's target)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@contextmanager
def _capturing_sql():
    """Record every (sql, params) the serving layer runs inside the block."""
    captured: list[tuple[str, object]] = []
    original = ReadSession.query

    def recording(self, sql, params=None):
        captured.append((sql, params))
        return original(self, sql, params)

    ReadSession.query = recording
    try:
        yield captured
    finally:
        ReadSession.query = original


def _query_cases(db) -> list[tuple[str, list[Callable[[], object]]]]:
    """Per data function: calls with the filter values a user would step through."""
    cases: list[tuple[str, list[Callable[[], object]]]] = []
    with db.session() as s:
        published = set(queries.published_columns(s))

    def has(table: str) -> bool:
        return table in published

    if has("mart_market_trends"):
        options = queries.market_trend_options(db)
        last = options.last_day
        first_of_year = last - timedelta(days=365)
        bands = options.size_bands["size_band"].to_list()
        types = options.asset_types["asset_type"].to_list()
        cases.append(
            (
                "market_trends_by (monthly, by breakdown / asset type)",
                [
                    lambda b=b, t=t: queries.market_trends_by(
                        "month", b, first_of_year, last, asset_types=t, db=db
                    )
                    for b, t in itertools.product(queries.TREND_BREAKDOWNS, [None, types[:1], types[:2]])
                ],
            )
        )
        cases.append(
            (
                "market_trends_by (daily, one year, by size band)",
                [
                    lambda s=s: queries.market_trends_by(
                        "day", "size_band", first_of_year, last, size_bands=s, db=db
                    )
                    for s in [None, *([b] for b in bands)]
                ],
            )
        )
        cases.append(
            (
                "market_growth (year on year, by breakdown)",
                [lambda b=b: queries.market_growth(b, None, None, db=db) for b in queries.TREND_BREAKDOWNS],
            )
        )
    if has("mart_asset_value"):
        value_options = queries.asset_value_options(db)
        areas = [None, *value_options.dno_areas["dno_area"].to_list()[:4]]
        cases.append(
            (
                "asset_value_estimate (battery, MW x DNO area)",
                [
                    lambda mw=mw, a=a: queries.asset_value_estimate("battery", mw, a, db=db)
                    for mw, a in itertools.product((0.5, 2.0, 10.0), areas)
                ],
            )
        )
    if has("mart_asset_performance"):
        perf = queries.asset_performance_options(db)
        products = perf.products["product_id"].to_list()
        cases.append(
            (
                "asset_performance_aggregate (suppressed cells, per product)",
                [
                    lambda p=p, m=m: queries.asset_performance_aggregate(
                        None, None, p, None, by_month=m, db=db
                    )
                    for p, m in itertools.product([None, *([p] for p in products[:5])], (False, True))
                ],
            )
        )
    if has("mart_dispatch_rationale"):
        rationale = queries.dispatch_rationale_options(db)
        ops = [None, *([o] for o in rationale.operators["operator_id"].to_list())]
        cases.append(
            (
                "dispatch_rationale_summary (per SO, each grouping)",
                [
                    lambda g=g, o=o: queries.dispatch_rationale_summary(g, operator_ids=o, db=db)
                    for g, o in itertools.product(queries.RATIONALE_GROUPS, ops)
                ],
            )
        )
    if has("mart_der_positions"):
        span = queries.der_position_days(everything=True, db=db)
        if span is not None:
            days = [span[1] - timedelta(days=k) for k in range(6)]
            cases.append(
                (
                    "der_positions (one GB day, all assets)",
                    [lambda d=d: queries.der_positions(d, everything=True, db=db) for d in days],
                )
            )
    return cases


def bench_queries(db_path: Path, repeats: int) -> list[tuple[str, str]]:
    db = get_db(db_path)
    direct = duckdb.connect(str(db_path), read_only=True)
    lines = []
    try:
        for name, calls in _query_cases(db):
            ours: list[float] = []
            baseline: list[float] = []
            for call in itertools.islice(itertools.cycle(calls), max(repeats, len(calls))):
                with _capturing_sql() as captured:
                    t0 = time.perf_counter()
                    call()
                    ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                for sql, params in captured:  # the same statements, same parameters, same Polars result
                    (direct.sql(sql, params=params) if params is not None else direct.sql(sql)).pl()
                baseline.append(time.perf_counter() - t0)
            o50, o95 = _percentiles(ours)
            d50, d95 = _percentiles(baseline)
            verdict = "met" if o95 / d95 <= RATIO_TARGET else "MISSED"
            lines.append(
                (
                    f"page data: {name}",
                    f"p50 {_ms(o50)}, p95 {_ms(o95)} vs direct DuckDB p50 {_ms(d50)}, p95 {_ms(d95)} "
                    f"→ p95 ratio **{o95 / d95:.2f}×** ({verdict}: ≤ {RATIO_TARGET}×)",
                )
            )
    finally:
        direct.close()
    return lines


def _sign_in_national_operator(work: Path) -> str:
    """A throwaway registry in ``work`` with one NESO control-room user; returns a session token."""
    os.environ["SFE_REGISTRY_URL"] = f"sqlite:///{work / 'page_speed_registry.sqlite'}"
    from sfe.registry import db as registry_db
    from sfe.registry import identity
    from sfe.registry.access import Role
    from sfe.registry.models import Organisation, User

    with registry_db.session() as s:
        org = Organisation(
            name="Bench NESO",
            name_key=f"bench neso {time.time_ns()}",
            kind="system_operator",
            operator_id="neso",
        )
        s.add(org)
        s.flush()
        user = User(
            email=f"bench{time.time_ns()}@example.com",
            display_name="Bench",
            password_hash="unused",
            role=Role.SYSTEM_OPERATOR.value,
            organisation_id=org.id,
            status=identity.ACTIVE,
        )
        s.add(user)
        s.flush()
        return identity.create_session(s, user.id)


def _render_cases(token: str, db) -> list[tuple[str, str, str | None, str, str, list]]:
    """(label, page, session token, widget kind, widget key, values to cycle through)."""
    zones = ["__all__"]
    span = (
        queries.der_position_days(everything=True, db=db)
        if queries.is_published("mart_der_positions", db)
        else None
    )
    if span is not None:
        busiest = queries.der_position_zones(span[1], everything=True, db=db).sort("assets", descending=True)
        zones += busiest["flex_zone"].to_list()[:3]
    return [
        ("market trends: break down by", "market_trends.py", None, "selectbox", "trends_breakdown",
         list(queries.TREND_BREAKDOWNS)),
        ("market trends: granularity", "market_trends.py", None, "button_group", "trends_granularity",
         ["day", "month"]),
        ("asset value: power (MW)", "asset_value.py", None, "number_input", "value_mw", [1.0, 2.0, 4.0, 8.0]),
        ("trade/dispatch/settlement: cells", "trade_dispatch_settlement.py", None, "button_group", "tds_grain",
         ["month", "period"]),
        ("dispatch transparency: SOs", "dispatch_transparency.py", None, "multiselect", "dt_operators",
         [[], ["neso"], ["nged"]]),
        ("DER positions (NESO): zone", "der_positions.py", token, "selectbox", "der_zone", zones),
    ]  # fmt: skip


def bench_renders(db_path: Path, work: Path, renders: int) -> list[tuple[str, str]]:
    """Page re-render times, with a throwaway registry that is dropped afterwards (later benchmarks
    in the same process see the lake's own registry again)."""
    from sfe.registry import db as registry_db

    previous = os.environ.get("SFE_REGISTRY_URL")
    try:
        return _renders(db_path, work, renders)
    finally:
        registry_db.dispose_all()
        if previous is None:
            os.environ.pop("SFE_REGISTRY_URL", None)
        else:
            os.environ["SFE_REGISTRY_URL"] = previous


def _renders(db_path: Path, work: Path, renders: int) -> list[tuple[str, str]]:
    from streamlit.testing.v1 import AppTest

    token = _sign_in_national_operator(work)
    lines = []
    for label, page, session, kind, key, values in _render_cases(token, get_db(db_path)):
        at = AppTest.from_file(str(DASHBOARDS / "pages" / page), default_timeout=120)
        if session:
            at.session_state["sfe_session_token"] = session
        t0 = time.perf_counter()
        at.run()
        first = time.perf_counter() - t0
        if at.exception:
            lines.append((f"page re-render: {label}", f"failed: {at.exception[0].value}"))
            continue
        widgets = [w for w in getattr(at, kind) if getattr(w, "key", None) == key]
        if not widgets:
            lines.append((f"page re-render: {label}", "skipped: the page shows no such filter on this lake"))
            continue
        samples = []
        for value in itertools.islice(itertools.cycle(values), renders):
            widget = next(w for w in getattr(at, kind) if getattr(w, "key", None) == key)
            widget.set_value(value)
            t0 = time.perf_counter()
            at.run()
            samples.append(time.perf_counter() - t0)
            if at.exception:
                break
        if at.exception:
            lines.append((f"page re-render: {label}", f"failed: {at.exception[0].value}"))
            continue
        p50, p95 = _percentiles(samples)
        verdict = "within" if p95 < TARGET_S else "OVER"
        lines.append(
            (
                f"page re-render: {label}",
                f"first render {_ms(first)}; after a filter change p50 {_ms(p50)}, p95 {_ms(p95)} "
                f"({len(samples)} changes) → **{verdict}** the {TARGET_S:.0f} s target",
            )
        )
    return lines


def bench_pages(work: Path, repeats: int = 30, renders: int = 12) -> list[tuple[str, str]]:
    """Data functions vs direct DuckDB, then page re-render times, on the lake SFE_LAKE_DIR points at."""
    from sfe.config import lake

    db_path = lake().serving_db
    if not db_path.exists():
        return [("page speed", "skipped: no published warehouse (build the demo first)")]
    sys.path.insert(0, str(DASHBOARDS))  # pages import dashboards/data.py and auth.py
    return bench_queries(db_path, repeats) + bench_renders(db_path, work, renders)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.page_speed")
    parser.add_argument("--lake", type=Path, help="a built lake (default: SFE_LAKE_DIR)")
    parser.add_argument("--repeats", type=int, default=30, help="calls per data function")
    parser.add_argument("--renders", type=int, default=12, help="filter changes per page")
    args = parser.parse_args()
    if args.lake:
        os.environ["SFE_LAKE_DIR"] = str(args.lake.resolve())
    with tempfile.TemporaryDirectory(prefix="sfe-page-speed-") as work:
        for name, result in bench_pages(Path(work), args.repeats, args.renders):
            print(f"- {name}: {result}")


if __name__ == "__main__":
    main()
