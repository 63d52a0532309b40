"""Great Expectations suites (expectations/<source_id>.json) run on the rows an ingest run wrote.

GX is imported lazily: importing it takes seconds, and the CLI, API and apps never need it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from sfe.config import EXPECTATIONS_DIR, LakePaths, lake

SAMPLE_ROWS = 200_000


@dataclass
class ExpectationOutcome:
    expectation: str
    kwargs: dict
    success: bool
    unexpected_count: int | None = None
    unexpected_examples: list = field(default_factory=list)


@dataclass
class SuiteResult:
    source_id: str
    validated_at: str
    rows_validated: int
    success: bool
    outcomes: list[ExpectationOutcome]

    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def summary(self) -> str:
        failed = self.failures()
        if not failed:
            return f"{len(self.outcomes)} expectations passed on {self.rows_validated:,} rows"
        return "; ".join(
            f"{o.expectation}({o.kwargs.get('column') or o.kwargs.get('column_list') or o.kwargs.get('column_A')}) "
            f"failed: {o.unexpected_count} unexpected, e.g. {o.unexpected_examples[:3]}"
            for o in failed
        )


def load_suite(source_id: str) -> list[dict]:
    path = EXPECTATIONS_DIR / f"{source_id}.json"
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))["expectations"]


def _class_name(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def sample_of(files: list[Path], n: int = SAMPLE_ROWS, seed: int = 0) -> pl.DataFrame:
    """A uniform sample of ``n`` rows of these Parquet files (all rows when they hold fewer), read one
    file at a time: a year of 10^8 meter readings read at once took ingest past 8 GiB for a
    200,000-row sample."""
    counts = [pl.scan_parquet(f).select(pl.len()).collect().item() for f in files]
    total = sum(counts)
    if total <= n:
        return pl.read_parquet(files)
    picks = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
    bounds = np.cumsum([0, *counts])
    parts = []
    for f, lo, hi in zip(files, bounds[:-1], bounds[1:], strict=True):
        rows = picks[(picks >= lo) & (picks < hi)] - lo
        if len(rows):
            parts.append(pl.read_parquet(f)[rows])
    return pl.concat(parts)


def validate(source_id: str, rows: pl.DataFrame) -> SuiteResult:
    """Run the source's suite on (a sample of) rows. Empty input or no suite → success."""
    specs = load_suite(source_id)
    validated_at = datetime.now(UTC).isoformat(timespec="seconds")
    if not specs or rows.is_empty():
        return SuiteResult(source_id, validated_at, rows.height, True, [])
    import great_expectations as gx

    sample = rows.sample(n=SAMPLE_ROWS, seed=0) if rows.height > SAMPLE_ROWS else rows
    frame = sample.to_pandas()
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("sfe")
        .add_dataframe_asset(source_id)
        .add_batch_definition_whole_dataframe("rows")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=source_id))
    for spec in specs:
        suite.add_expectation(getattr(gx.expectations, _class_name(spec["type"]))(**spec["kwargs"]))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch, suite=suite, name=source_id)
    )
    result = definition.run(batch_parameters={"dataframe": frame})
    outcomes = []
    for r in result.results:
        config = r.expectation_config
        details = r.result or {}
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                kwargs={k: v for k, v in config.kwargs.items() if k != "batch_id"},
                success=bool(r.success),
                unexpected_count=details.get("unexpected_count"),
                unexpected_examples=[str(v) for v in (details.get("partial_unexpected_list") or [])[:5]],
            )
        )
    return SuiteResult(source_id, validated_at, frame.shape[0], bool(result.success), outcomes)


def record(result: SuiteResult, days: list[date], paths: LakePaths | None = None) -> None:
    """Keep the result: lake/quality/<source_id>/<timestamp>.json."""
    paths = paths or lake()
    folder = paths.root / "quality" / result.source_id
    folder.mkdir(parents=True, exist_ok=True)
    payload = asdict(result) | {"partitions": [d.isoformat() for d in days[:1] + days[-1:]]}
    stamp = result.validated_at.replace(":", "").replace("+0000", "Z")
    (folder / f"{stamp}.json").write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
