"""State shared by the generator steps: random streams, time base, fleet, and the physical response
(energy) every dispatch caused, which the metering step turns into half-hourly readings."""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sfe.config import LakePaths
from sfe.generate import GeneratedFile
from sfe.generate.fleet import Fleet
from sfe.generate.timebase import TimeBase

REFERENCE_DATE = dt.date(2025, 1, 1)  # market trends are anchored to calendar time, not to the range


@dataclass
class Ctx:
    paths: LakePaths
    tb: TimeBase
    fleet: Fleet
    seed: int
    files: list[GeneratedFile] = field(default_factory=list)
    _energy: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def rng(self, name: str) -> np.random.Generator:
        """An independent, named random stream: changing one step never shifts another's numbers."""
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def landing(self, source_id: str) -> Path:
        d = self.paths.landing_dir(source_id)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def record(self, source_id: str, path: Path, rows: int, **extra) -> None:
        self.files.append(GeneratedFile(source_id, path, int(rows), dict(extra)))

    # ---- calendar helpers ---------------------------------------------------------------------
    def years_since_reference(self, day_index: np.ndarray) -> np.ndarray:
        offset = (self.tb.start - REFERENCE_DATE).days
        return (np.asarray(day_index) + offset) / 365.25

    def winter(self, day_index: np.ndarray) -> np.ndarray:
        """1.0 in mid-January, 0.0 in mid-July."""
        doy = np.array([self.tb.date(0).timetuple().tm_yday], dtype=float)[0] + np.asarray(day_index)
        return 0.5 * (1 + np.cos(2 * np.pi * (doy - 15) / 365.25))

    def weekday(self, day_index: np.ndarray) -> np.ndarray:
        return (self.tb.start.weekday() + np.asarray(day_index)) % 7

    # ---- physical response for metering -------------------------------------------------------
    def add_energy(self, asset_idx, t0, t1, mw0, mw1=None) -> None:
        """Record a response profile: MW (positive = more export / less import) ramping linearly from
        mw0 at t0 to mw1 at t1 (epoch seconds) on each asset."""
        asset_idx = np.asarray(asset_idx, dtype=np.int64)
        if asset_idx.size == 0:
            return
        mw0 = np.asarray(mw0, dtype=float)
        mw1 = mw0 if mw1 is None else np.asarray(mw1, dtype=float)
        self._energy.append(
            (asset_idx, np.asarray(t0, dtype=np.int64), np.asarray(t1, dtype=np.int64), mw0, mw1)
        )

    def energy_segments(self) -> tuple[np.ndarray, ...]:
        if not self._energy:
            z = np.zeros(0)
            return z.astype(np.int64), z.astype(np.int64), z.astype(np.int64), z, z
        return tuple(np.concatenate([seg[i] for seg in self._energy]) for i in range(5))
