"""Usage the charging system reports (pure: no I/O): what the ledger takes, and the eligibility stats.

A prepaid line never goes negative: when the charging system reports more usage than the main
balance holds (it rated the call before the balance dropped, or two sessions overlapped), the
ledger takes what is there and the shortfall is written on the entry's reason and the usage
record, for the operator's revenue assurance to collect.

The stats feed the transfer policies' new-customer rule (Zain: eligible after the first call and
after spending the first top-up): `first_call_at`, and `spent_since_first_topup` (what was
actually charged from the first top-up on; a shortfall was not spent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.events import UsageCharged

COLLECTION = "usage_charges"  # one document per charging-system reference: usage is charged once


@dataclass(frozen=True)
class Charge:
    """What the ledger takes for one usage report."""

    debited: int
    shortfall: int

    @property
    def reason(self) -> str:
        return "usage" if not self.shortfall else f"usage:shortfall={self.shortfall}"


def charge(usage: UsageCharged, balance: int) -> Charge:
    """Take the usage from `balance`, never more than it holds."""
    debited = min(usage.amount, max(balance, 0))
    return Charge(debited=debited, shortfall=usage.amount - debited)


def same_usage(record: dict[str, Any], usage: UsageCharged) -> bool:
    """Whether the usage stored under a reference is this one (not a reused reference)."""
    return (record.get("msisdn"), record.get("kind"), record.get("amount")) == (usage.msisdn, usage.kind, usage.amount)


def record(
    usage: UsageCharged, applied: Charge, *, entry_id: str | None, event_id: str, now: datetime
) -> dict[str, Any]:
    return {
        "reference": usage.reference,
        "msisdn": usage.msisdn,
        "kind": usage.kind,
        "amount": usage.amount,
        "debited": applied.debited,
        "shortfall": applied.shortfall,
        "entry_id": entry_id,
        "at": usage.at,
        "event_id": event_id,
        "applied_at": now,
    }


def stats(subscriber: dict[str, Any], usage: UsageCharged, applied: Charge) -> dict[str, Any]:
    """The subscriber fields this usage changes (empty when none)."""
    fields: dict[str, Any] = {}
    first_call = subscriber.get("first_call_at")
    # Reports arrive out of order: the earliest call wins.
    if usage.kind == "call" and (first_call is None or usage.at < first_call):
        fields["first_call_at"] = usage.at
    first_topup = subscriber.get("first_topup_at")
    if applied.debited and first_topup is not None and usage.at >= first_topup:
        fields["spent_since_first_topup"] = subscriber.get("spent_since_first_topup", 0) + applied.debited
    return fields


def first_topup(subscriber: dict[str, Any], *, amount: int, at: datetime) -> dict[str, Any]:
    """The fields marking a subscriber's first top-up (empty when one is already recorded)."""
    if subscriber.get("first_topup_at") is not None:
        return {}
    return {
        "first_topup_amount": amount,
        "first_topup_at": at,
        "spent_since_first_topup": subscriber.get("spent_since_first_topup", 0),
    }
