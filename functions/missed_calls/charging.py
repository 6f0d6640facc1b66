"""What a final SMS of this service costs its recipient (pure: no I/O).

Spec, "Charging": entering the IVR is free; only a reminder SMS whose delivery is confirmed is
charged, an undelivered one never; per-use prices stop at the monthly cap. Money never goes
below zero and a charge is never split: a balance short of the price charges nothing. Near the
cap the charge is what is left under it, so a month's per-use charges add up to the cap exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.missed_calls import documents
from functions.missed_calls.config import MissedCallConfig
from shared.localtime import month_of  # noqa: F401 - the month fees and caps count by, named here for callers

USAGE_MONTHS_KEPT = 13  # a year back and this month, for customer care


@dataclass(frozen=True)
class Charge:
    """The amount to debit (0 when nothing is charged) and, when nothing is, why."""

    amount: int
    price: int
    why_not: str | None = None

    @property
    def charged(self) -> bool:
        return self.why_not is None and self.amount > 0


def price_of(billing: str, config: MissedCallConfig) -> int | None:
    """The price of a billing tag of this service; None for another service's tag."""
    prices = {
        documents.BILL_REMINDER: config.charging.reminder_price,
        documents.BILL_AVAILABILITY: config.charging.availability_price,
        documents.BILL_DETAILS: config.charging.details_query_price,
    }
    return prices.get(billing)


def decide(*, status: str, price: int, subscriber: bool, used: int, cap: int | None, balance: int) -> Charge:
    """The charge for one final SMS: `used` is what the recipient paid per use this month, `balance` the bucket's."""
    if status != "delivered":
        return Charge(0, price, f"not charged: {status}")
    if not subscriber:
        return Charge(0, price, "not charged: not our subscriber")
    if price == 0:
        return Charge(0, price, "not charged: free")
    amount = price
    if cap is not None:
        left = cap - used
        if left <= 0:
            return Charge(0, price, "not charged: monthly cap reached")
        amount = min(price, left)
    if balance < amount:
        return Charge(0, price, "not charged: insufficient balance")
    return Charge(amount, price)


def usage_after(usage: dict[str, int] | None, month: str, amount: int) -> dict[str, int]:
    """The per-month usage map with `amount` added to `month`, older months beyond a year dropped."""
    months = dict(usage or {})
    months[month] = months.get(month, 0) + amount
    return {key: months[key] for key in sorted(months)[-USAGE_MONTHS_KEPT:]}
