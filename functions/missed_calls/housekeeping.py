"""When a subscriber's missed calls need attention again, and how old calls are summarised (pure: no I/O).

`missed_call_users/{msisdn}.due_at` says when the clock must look at a callee's pending calls:
for a callee away, when the oldest pending call passes retention (it is folded into the
summary, not lost); for a callee attached, when a call whose final publication never came must
be over, or at once when a capped delivery left calls behind. `fee_due_at` says when a registered
user's next monthly fee falls due. The clock queries both fields (single-field indexes) and fans
out one event per subscriber, so every transaction stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from functions.missed_calls.calls import journey_ends_at, journey_over
from functions.missed_calls.models import MissedCall, Summary

CALLERS_KEPT = 1000  # distinct callers a summary lists; more are counted, not listed


def due_for_pending(call: MissedCall, *, attached: bool, retention: timedelta, now: datetime) -> datetime:
    """When the clock should look at a call left pending now."""
    if not attached:
        return call.called_at + retention
    return now if journey_over(call, now) else journey_ends_at(call)


def earliest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


def due_after_delivery(waiting: list[MissedCall], *, capped: bool, now: datetime) -> datetime | None:
    """After a delivery: at once when the cap left deliverable calls, else when a call still in the IVR must be over."""
    if capped:
        return now
    return earliest(*(journey_ends_at(call) for call in waiting))


def due_after_summary(
    remaining: list[MissedCall], *, full_page: bool, retention: timedelta, now: datetime
) -> datetime | None:
    """After folding a page of old calls: at once if the page was full, else when the oldest left passes retention."""
    if full_page:
        return now
    return earliest(*(call.called_at + retention for call in remaining))


def folded(summary: Summary | None, calls: list[MissedCall], *, callee: str, now: datetime) -> Summary:
    """The callee's summary with `calls` counted in: how many, from how many numbers, first and last."""
    summary = summary or Summary(callee=callee, count=0, callers=[], callers_beyond=0, first_at=None, last_at=None)
    callers = list(summary.callers)
    beyond = summary.callers_beyond
    for call in calls:
        if call.caller not in callers:
            if len(callers) < CALLERS_KEPT:
                callers.append(call.caller)
            else:
                beyond += 1  # an upper bound: numbers past the list cannot be told apart
    times = [call.called_at for call in calls]
    return summary.model_copy(
        update={
            "count": summary.count + len(calls),
            "callers": callers,
            "callers_beyond": beyond,
            "first_at": earliest(summary.first_at, *times),
            "last_at": max(t for t in (summary.last_at, *times) if t is not None),
            "updated_at": now,
        }
    )


@dataclass(frozen=True)
class Summarising:
    """Calls of a callee away folded into their summary: which calls, the summary after, the next look."""

    summarised: tuple[str, ...]  # call sids now summarised
    summary: Summary | None  # the summary to write; None when nothing was folded
    due_at: datetime | None


def summarise(
    pending: list[MissedCall], summary: Summary | None, *, callee: str, cap: int, retention: timedelta, now: datetime
) -> Summarising:
    """Fold the pending calls past retention (at most `cap`, oldest first) into the summary."""
    cutoff = now - retention
    old = [call for call in pending[:cap] if call.called_at <= cutoff]
    remaining = [call for call in pending if call.called_at > cutoff]
    return Summarising(
        tuple(call.call_sid for call in old),
        folded(summary, old, callee=callee, now=now) if old else None,
        due_after_summary(remaining, full_page=len(old) == cap, retention=retention, now=now),
    )


def next_month_start(at: datetime, zone: tzinfo) -> datetime:
    """Midnight of the first day of the month after `at`, in the operator's zone."""
    local = at.astimezone(zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=zone)
