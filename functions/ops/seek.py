"""Seeking a subscription back in time: what an operator types, checked before anything moves.

A seek to time T marks every message published before T acknowledged and every later one
unacknowledged (re-delivered if the subscription retains acknowledged messages). So a T in the
future, or after the oldest undelivered message, silently drops messages: both are refused unless
the operator says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.ops.backlog import Backlog

RELATIVE = re.compile(r"-((?:\d+[smhd])+)")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class SeekRefused(ValueError):
    """The seek would lose messages, or its target is not a usable time."""


def parse_time(text: str, now: datetime) -> datetime:
    """An ISO 8601 time with its zone, or a relative one such as -15m, -2h, -1d12h; never in the future."""
    relative = RELATIVE.fullmatch(text.strip())
    if relative:
        parts = re.findall(r"(\d+)([smhd])", relative.group(1))
        moment = now - sum((timedelta(**{UNITS[unit]: int(n)}) for n, unit in parts), timedelta())
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise SeekRefused(
                f"{text!r} is not a time: write ISO 8601 with a zone (2026-12-01T09:30:00+05:00, "
                "2026-12-01T04:30:00Z) or a time ago (-15m, -2h, -1d)"
            ) from None
        if moment.tzinfo is None:
            raise SeekRefused(f"{text!r} has no time zone: add Z for UTC or an offset such as +05:00")
    if moment > now:
        raise SeekRefused(
            f"{moment.isoformat()} is in the future: seeking there would acknowledge every "
            "message published until then, and they would never be delivered"
        )
    return moment


@dataclass(frozen=True)
class SeekPlan:
    subscription: str
    to: datetime


def plan(subscription: str, to: datetime, backlog: Backlog, *, discard_older: bool) -> SeekPlan:
    """The seek, unless it would acknowledge undelivered messages published before `to` unasked."""
    oldest = backlog.oldest_published
    if oldest is not None and oldest < to and not discard_older:
        raise SeekRefused(
            f"{subscription} holds {backlog.undelivered} undelivered message(s), the oldest published at "
            f"{oldest.isoformat()}; seeking to {to.isoformat()} would acknowledge those published before it and "
            f"they would never be delivered. Seek to {oldest.isoformat()} or earlier, or add --discard-older "
            "to drop them on purpose"
        )
    return SeekPlan(subscription, to)
