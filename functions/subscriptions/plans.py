"""Changing tariff plan, pure (M1's `#100#`): the line active, the balance above the minimum, the first change free.

The caller reads the book (current plan, changes so far) and the main balance, calls
`decide_change` when the subscriber picks a plan (to name the fee before confirming) and again
in the transaction that applies it (the balance may have moved), then debits `fee` when it is
not zero, sets book.plan and counts the change.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.subscriptions.config import Plan, PlanChange
from functions.subscriptions.refusal import Refusal


@dataclass(frozen=True)
class PlanQuote:
    """A change allowed: to `plan`, for `fee` minor units from the rule's bucket (0: free)."""

    plan: Plan
    fee: int


def change_fee(rule: PlanChange, changes_so_far: int) -> int:
    """The fee of the next change: nothing while free changes are left, then the rule's fee."""
    return 0 if changes_so_far < rule.free_changes else rule.fee


def decide_change(
    rule: PlanChange,
    *,
    current: str | None,
    wanted: Plan | None,
    line_active: bool,
    balance: int,
    changes_so_far: int,
) -> PlanQuote | Refusal:
    """Whether the subscriber on plan `current` may change to `wanted` now, and for what fee."""
    if wanted is None:
        return Refusal(reason="unknown_plan", text="subscriptions.refused.unknown_plan")
    if wanted.id == current:
        return Refusal(reason="same_plan", text="subscriptions.refused.same_plan", params={"plan": wanted.id})
    if not line_active:
        return Refusal(reason="line_not_active", text="subscriptions.refused.line_not_active")
    fee = change_fee(rule, changes_so_far)
    if balance <= rule.min_balance or balance < fee:
        return Refusal(
            reason="insufficient_balance",
            text="subscriptions.refused.plan_balance",
            params={"min_balance": rule.min_balance, "fee": fee, "balance": balance},
        )
    return PlanQuote(plan=wanted, fee=fee)
