"""Prices and periods, pure: the price in force on a date, where the n-th period ends, the consent's period word.

Periods are counted from the item's anchor on the operator's local calendar, never by adding
seconds: a monthly subscription started on Jan 31 is due on Feb 28 and then on Mar 31 (each due
date is computed from the anchor, so a short month does not pull every later one back), and an
annual one started on Feb 29 renews on Feb 28 in common years (eHawaii: on the anniversary).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from functions.subscriptions.config import Period, Product
from shared.localtime import month_of  # noqa: F401 - what Book.spend counts by, named here for callers

# What shared/consent.py records as the period a paid sign-up repeats on.
CONSENT_PERIOD: dict[Period, str] = {"daily": "day", "weekly": "week", "monthly": "month", "annual": "year"}
ONCE = "once"


def price_at(product: Product, on: date) -> int:
    """The price (minor units) in force on local date `on`: the latest change effective by then, else the price."""
    price = product.price
    for change in sorted(product.price_changes, key=lambda change: change.effective):
        if change.effective <= on:
            price = change.price
    return price


def _add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the target month's last day (Jan 31 + 1 -> Feb 28/29)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def period_end(anchor: datetime, period: Period, n: int, zone: str) -> datetime:
    """The end of the n-th period from `anchor` (n=0: the anchor), at the anchor's local time in `zone`.

    The result is an aware datetime in `zone`; a local time that does not exist on that date
    (a daylight-saving gap) is resolved by zoneinfo's rules and normalised through UTC.
    """
    if anchor.tzinfo is None:
        raise ValueError("period_end needs an aware anchor (UTC or the operator's zone)")
    if n < 0:
        raise ValueError(f"period index {n} is negative")
    tz = ZoneInfo(zone)
    local = anchor.astimezone(tz)
    start = local.date()
    if period == "daily":
        end = start + timedelta(days=n)
    elif period == "weekly":
        end = start + timedelta(weeks=n)
    elif period == "monthly":
        end = _add_months(start, n)
    elif period == "annual":
        end = _add_months(start, 12 * n)
    else:
        raise ValueError(f"unknown period {period!r}")
    wall_clock = datetime.combine(end, local.timetz().replace(tzinfo=None), tzinfo=tz)
    return wall_clock.astimezone(UTC).astimezone(tz)


def consent_period(period: Period | None) -> str:
    """The word shared/consent.py records for how often a sign-up charges: day, week, month, year, or once."""
    if period is None:
        return ONCE
    return CONSENT_PERIOD[period]
