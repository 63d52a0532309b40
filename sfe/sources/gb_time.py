"""GB settlement time as Polars expressions: settlement days are Europe/London local days."""

from __future__ import annotations

import polars as pl

LONDON = "Europe/London"


def local_midnight_utc(settlement_date: pl.Expr) -> pl.Expr:
    """The UTC instant at which a GB settlement day starts (00:00 Europe/London)."""
    return settlement_date.cast(pl.Datetime("us")).dt.replace_time_zone(LONDON).dt.convert_time_zone("UTC")


def periods_in_day(settlement_date: pl.Expr) -> pl.Expr:
    """48, or 46 on the spring clock-change day, or 50 in autumn — from the tz database."""
    start = local_midnight_utc(settlement_date)
    end = local_midnight_utc(settlement_date.dt.offset_by("1d"))
    return ((end - start).dt.total_minutes() // 30).cast(pl.Int64)


def period_start_utc(settlement_date: pl.Expr, settlement_period: pl.Expr) -> pl.Expr:
    """Start of settlement period N (1-based) of a settlement day, in UTC."""
    return local_midnight_utc(settlement_date) + pl.duration(minutes=(settlement_period - 1) * 30)
