"""GB time arithmetic for the generator, vectorised over int64 epoch seconds (UTC).

Settlement days are Europe/London local days of 48 half-hour periods (46 on the spring clock-change
day, 50 in autumn). EFA blocks are 4-hour blocks starting 23:00 local the evening before. Nothing here
uses fixed offsets: every local<->UTC conversion goes through the UK summer-time rule (BST from 01:00
UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

HALF_HOUR = 1800
HOUR = 3600
DAY = 86400
_EPOCH = dt.date(1970, 1, 1)


def date_to_epoch(d: dt.date) -> int:
    """Midnight of ``d`` read as if UTC (a 'local clock' epoch)."""
    return (d - _EPOCH).days * DAY


def _last_sunday(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() + 1) % 7)


def bst_transitions(first_year: int, last_year: int) -> np.ndarray:
    """Sorted epoch seconds [start_1, end_1, start_2, end_2, ...] of British Summer Time."""
    out = []
    for year in range(first_year, last_year + 1):
        out.append(date_to_epoch(_last_sunday(year, 3)) + HOUR)
        out.append(date_to_epoch(_last_sunday(year, 10)) + HOUR)
    return np.asarray(out, dtype=np.int64)


@dataclass
class TimeBase:
    """Settlement days and periods of the generated range (plus one spare day for look-ups)."""

    start: dt.date
    days: int
    transitions: np.ndarray = field(repr=False)
    day_start: np.ndarray = field(repr=False)  # (days + 2,) UTC epoch of local midnight
    sp_start: np.ndarray = field(repr=False)  # UTC epoch of every settlement period start
    sp_day: np.ndarray = field(repr=False)  # index of the settlement day of each period
    sp_num: np.ndarray = field(repr=False)  # settlement period number 1..50
    periods_in_day: np.ndarray = field(repr=False)  # (days + 1,)

    @classmethod
    def build(cls, start: dt.date, days: int) -> TimeBase:
        end = start + dt.timedelta(days=days + 2)
        transitions = bst_transitions(start.year - 1, end.year + 1)
        local_midnights = date_to_epoch(start) + DAY * np.arange(days + 2, dtype=np.int64)
        day_start = _local_to_utc(local_midnights, transitions)
        periods = ((day_start[1:] - day_start[:-1]) // HALF_HOUR).astype(np.int64)
        sp_day = np.repeat(np.arange(days + 1, dtype=np.int64), periods)
        offsets_in_day = np.arange(sp_day.size) - np.repeat(np.cumsum(periods) - periods, periods)
        sp_start = day_start[sp_day] + HALF_HOUR * offsets_in_day
        return cls(
            start=start,
            days=days,
            transitions=transitions,
            day_start=day_start,
            sp_start=sp_start,
            sp_day=sp_day,
            sp_num=(offsets_in_day + 1).astype(np.int64),
            periods_in_day=periods,
        )

    # ---- range -------------------------------------------------------------------------------
    @property
    def range_start(self) -> int:
        return int(self.day_start[0])

    @property
    def range_end(self) -> int:
        """Exclusive end: local midnight after the last generated day."""
        return int(self.day_start[self.days])

    @property
    def n_periods(self) -> int:
        """Settlement periods inside the range (the spare day excluded)."""
        return int(self.periods_in_day[: self.days].sum())

    def date(self, day_index: int) -> dt.date:
        return self.start + dt.timedelta(days=int(day_index))

    @property
    def end_date(self) -> dt.date:
        """Last generated settlement day (inclusive)."""
        return self.date(self.days - 1)

    # ---- conversions -------------------------------------------------------------------------
    def offset(self, epoch: np.ndarray) -> np.ndarray:
        """UTC offset in seconds (0 or 3600) in force at each UTC instant."""
        idx = np.searchsorted(self.transitions, np.asarray(epoch, dtype=np.int64), side="right")
        return np.where(idx % 2 == 1, HOUR, 0).astype(np.int64)

    def local_to_utc(self, local_epoch: np.ndarray) -> np.ndarray:
        return _local_to_utc(np.asarray(local_epoch, dtype=np.int64), self.transitions)

    def local_clock(self, epoch: np.ndarray) -> np.ndarray:
        """Local wall-clock epoch (UTC epoch + offset)."""
        epoch = np.asarray(epoch, dtype=np.int64)
        return epoch + self.offset(epoch)

    def local_minute_of_day(self, epoch: np.ndarray) -> np.ndarray:
        return (self.local_clock(epoch) % DAY) // 60

    def settlement_of(self, epoch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(day index, settlement period number) of the period containing each instant."""
        idx = np.searchsorted(self.sp_start, np.asarray(epoch, dtype=np.int64), side="right") - 1
        return self.sp_day[idx], self.sp_num[idx]

    def day_local_epoch(self, day_index: np.ndarray) -> np.ndarray:
        return date_to_epoch(self.start) + DAY * np.asarray(day_index, dtype=np.int64)


def _local_to_utc(local_epoch: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    def off(e: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(transitions, e, side="right")
        return np.where(idx % 2 == 1, HOUR, 0).astype(np.int64)

    guess = local_epoch - off(local_epoch)
    return local_epoch - off(guess)


# ---- string formatting (polars expressions over int64 epoch columns) ----------------------------


def _dt(col: str | pl.Expr) -> pl.Expr:
    expr = pl.col(col) if isinstance(col, str) else col
    return pl.from_epoch(expr, time_unit="s")


def fmt_utc_z(col: str | pl.Expr) -> pl.Expr:
    """2025-01-01T00:00:00Z"""
    return _dt(col).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_naive(col: str | pl.Expr) -> pl.Expr:
    """2025-01-01T00:00:00 (no offset)."""
    return _dt(col).dt.strftime("%Y-%m-%dT%H:%M:%S")


def fmt_offset_suffix(offset_col: str | pl.Expr) -> pl.Expr:
    expr = pl.col(offset_col) if isinstance(offset_col, str) else offset_col
    return pl.when(expr == HOUR).then(pl.lit("+01:00")).otherwise(pl.lit("+00:00"))


def fmt_local_iso(epoch_col: str, offset_col: str, sep: str = "T") -> pl.Expr:
    """Local wall clock with its offset: 2025-04-30T17:00:00+01:00."""
    local = pl.col(epoch_col) + pl.col(offset_col)
    return pl.concat_str([_dt(local).dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S"), fmt_offset_suffix(offset_col)])


def fmt_date(col: str | pl.Expr) -> pl.Expr:
    return _dt(col).dt.strftime("%Y-%m-%d")
