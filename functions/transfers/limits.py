"""Window math for transfer limits (pure): calendar days and months in the operator's zone, rolling N-day windows.

A calendar window runs from the start of the current local day (or month) to now and resets at
the next one. A rolling window of N days holds the movements made after `now - N days`; it frees
up as each of them turns N days old.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo


@dataclass(frozen=True, slots=True)
class Movement:
    """One past transfer: when, and how much (minor units, the amount without the fee)."""

    at: datetime
    amount: int


@dataclass(frozen=True, slots=True)
class CompiledLimit:
    """One limit of a policy in the plain form the window math reads."""

    scope: str  # sender | recipient
    period: str | None  # day | month (calendar, in `zone`)
    rolling_days: int | None
    max_count: int | None
    max_amount: int | None
    count_code: str  # refusal code when the count is reached
    amount_code: str  # refusal code when the amount would pass the cap


@dataclass(frozen=True, slots=True)
class LimitLeft:
    """What one limit leaves for the subscriber now (for menus, SMS and refusals)."""

    scope: str  # sender | recipient
    period: str | None  # day | month for calendar limits, None for rolling ones
    rolling_days: int | None
    max_count: int | None
    max_amount: int | None  # minor units
    count_used: int
    amount_used: int  # minor units
    count_left: int | None  # None when the limit has no count cap
    amount_left: int | None  # None when the limit has no amount cap
    resets_at: datetime | None  # calendar: next period start; rolling: when the oldest counted movement drops out


def window_start(limit: CompiledLimit, now: datetime, zone: tzinfo) -> datetime:
    """The first instant that counts towards the limit."""
    if limit.rolling_days is not None:
        return now - timedelta(days=limit.rolling_days)
    local = now.astimezone(zone)
    if limit.period == "day":
        return datetime(local.year, local.month, local.day, tzinfo=zone)
    return datetime(local.year, local.month, 1, tzinfo=zone)


def next_period(period: str, now: datetime, zone: tzinfo) -> datetime:
    """The start of the next local calendar day or month."""
    local = now.astimezone(zone)
    if period == "day":
        tomorrow = local.date() + timedelta(days=1)
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=zone)


def in_window(movements: Iterable[Movement], start: datetime, rolling: bool) -> list[Movement]:
    """Movements inside the window: a rolling window excludes its start instant, a calendar one includes it."""
    if rolling:
        return [m for m in movements if m.at > start]
    return [m for m in movements if m.at >= start]


def frees_at(
    limit: CompiledLimit,
    counted: list[Movement],
    now: datetime,
    zone: tzinfo,
    *,
    count_over: int = 1,
    amount_over: int = 0,
) -> datetime | None:
    """When enough of the counted movements leave the window to free `count_over` transfers and `amount_over` units."""
    if limit.period is not None:
        return next_period(limit.period, now, zone)
    assert limit.rolling_days is not None  # a limit has a period or rolling days (policy.Limit's validator)
    window = timedelta(days=limit.rolling_days)
    freed_amount = 0
    for freed_count, movement in enumerate(sorted(counted, key=lambda m: m.at), start=1):
        freed_amount += movement.amount
        if freed_count >= count_over and freed_amount >= amount_over:
            return movement.at + window
    return None


def left(limit: CompiledLimit, movements: Iterable[Movement], now: datetime, zone: tzinfo) -> LimitLeft:
    """How much of one limit is used and left at `now`."""
    rolling = limit.rolling_days is not None
    counted = in_window(movements, window_start(limit, now, zone), rolling)
    count, amount = len(counted), sum(m.amount for m in counted)
    resets = frees_at(limit, counted, now, zone) if (counted or not rolling) else None
    return LimitLeft(
        scope=limit.scope,
        period=limit.period,
        rolling_days=limit.rolling_days,
        max_count=limit.max_count,
        max_amount=limit.max_amount,
        count_used=count,
        amount_used=amount,
        count_left=None if limit.max_count is None else max(0, limit.max_count - count),
        amount_left=None if limit.max_amount is None else max(0, limit.max_amount - amount),
        resets_at=resets,
    )
