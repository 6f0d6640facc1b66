"""Auto-recharge, decided: exactly one recharge per crossing of the trigger (pure: no I/O).

The account's `RechargeState` (documents.py) moves armed -> pending -> waiting -> armed:

- armed, and the balance falls below the trigger (a settlement of usage, an expiry): one
  recharge starts, with a charge id named after the crossing (`<account>.auto.<n>`), and the
  state is pending. Every later debit finds it pending and starts nothing, however many debits
  arrive at once and however often each is delivered: the state changes in the transaction that
  applies the debits, so two transactions cannot both see it armed.
- pending: the gateway is asked (and, after a failure, asked again on `retry_hours`); a confirmed
  payment credits the lot once and re-arms (the crossing is over, whatever the balance: a trigger
  raised while the recharge was under way must not leave it waiting for good); the
  `max_consecutive_failures`-th failure in a row turns auto-recharge off. A retry whose wait is
  over but whose balance is back at or above the trigger (a top-up by hand) is not charged: the
  crossing ends there. An attempt left unanswered `UNANSWERED_AFTER` (its request dead-lettered:
  the gateway down too long) is asked again by the clock, the SAME attempt under the same
  idempotency key, never a new one while the first may still be paid.
- waiting: re-armed only once the balance is back at or above the trigger, or, when the monthly
  cap stopped the crossing, once the next month begins (usage cannot lift the balance, so a
  capped account would otherwise never recharge again).

A monthly cap (count and amount of credited auto-recharges, calendar months in the operator's
zone) stops a crossing from starting a recharge; the holder is told once per crossing. The
network's refusal of a zero-balance attempt starts a recharge too (event-initiated top-up),
unless one is already pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from functions.credits.documents import AutoRecharge, RechargeState

Notice = Literal["zero", "capped", "succeeded", "failed", "disabled"]

# An attempt asked this long ago and still unanswered is asked again by the clock (same attempt, same
# idempotency key): longer than the redeliveries of one request take before it is dead-lettered
# (credits-charge: 20 attempts, about 1.5 h), so the clock picks up what the queue gave up on.
UNANSWERED_AFTER = timedelta(hours=2)


@dataclass(frozen=True)
class Recharge:
    """Ask the gateway for `amount` under `charge_id` (its `attempt`-th try)."""

    charge_id: str
    amount: int
    attempt: int = 1

    @property
    def idempotency_key(self) -> str:
        """One gateway PaymentIntent per attempt: a retry is a new payment, a redelivery is not."""
        return f"{self.charge_id}.{self.attempt}"


@dataclass(frozen=True)
class Step:
    """The state after an event, the recharge to start (if any) and the emails it calls for."""

    state: RechargeState
    recharge: Recharge | None = None
    notices: tuple[Notice, ...] = ()
    disable: bool = field(default=False)  # turn auto-recharge off (failed too often)


def crossing_id(account_id: str, crossing: int) -> str:
    return f"{account_id}.auto.{crossing}"


def after_balance(
    account_id: str, auto: AutoRecharge, state: RechargeState, *, card: bool, balance: int, month: str
) -> Step:
    """The balance changed (usage settled, credits expired, a purchase credited): start, re-arm or wait."""
    state, notices = _new_month(state, month), list[Notice]()
    if balance <= 0 and not state.zero_notified:
        state, notices = state.model_copy(update={"zero_notified": True}), ["zero"]
    elif balance > 0 and state.zero_notified:
        state = state.model_copy(update={"zero_notified": False})
    if state.phase == "waiting" and (balance >= auto.trigger or _cap_lifted(state, month)):
        state = _rearmed(state)
    if state.phase != "armed" or not auto.enabled or not card or balance >= auto.trigger:
        return Step(state, notices=tuple(notices))
    if _capped(auto, state):
        return Step(_stopped_by_cap(state, month), notices=(*notices, "capped"))
    return _start(account_id, auto, state, notices)


def after_settings(
    account_id: str, auto: AutoRecharge, state: RechargeState, *, card: bool, balance: int, month: str
) -> Step:
    """The holder changed the settings or the card: a fresh start (failures forgiven), already below -> recharge."""
    if state.phase == "pending":
        return Step(state)
    fresh = _rearmed(state).model_copy(update={"failures": 0, "disabled_reason": None, "retry_at": None})
    return after_balance(account_id, auto, fresh, card=card, balance=balance, month=month)


def after_refused_attempt(
    account_id: str, auto: AutoRecharge, state: RechargeState, *, card: bool, balance: int, month: str
) -> Step:
    """The network refused the holder's call or SMS for want of credit: recharge now unless one is under way."""
    state = _new_month(state, month)
    if not takes_refused_attempts(auto, card=card) or state.phase == "pending" or balance >= auto.trigger:
        return Step(state)
    if _capped(auto, state):
        if state.phase == "waiting" and state.capped_month == month:  # told already: a refused call is no news
            return Step(state)
        return Step(_stopped_by_cap(state, month), notices=("capped",))
    return _start(account_id, auto, state, [])


def takes_refused_attempts(auto: AutoRecharge, *, card: bool) -> bool:
    """Whether a refused attempt recharges (instead of the call-me-back offer): auto-recharge on, a card on file."""
    return auto.enabled and card


def after_payment(
    auto: AutoRecharge,
    state: RechargeState,
    *,
    charge_id: str,
    succeeded: bool,
    amount: int,
    balance: int,
    month: str,
    now: datetime,
    retry_hours: tuple[float, ...],
    max_failures: int,
    failure: str | None = None,
) -> Step:
    """A payment of `charge_id` succeeded (and `balance` includes it) or failed for good (this attempt)."""
    state = _new_month(state, month)
    ours = state.phase == "pending" and state.charge_id == charge_id
    if succeeded:
        if ours:  # this crossing's recharge is credited: the crossing is over, whatever the trigger is now
            state = _rearmed(state).model_copy(
                update={
                    "failures": 0,
                    "retry_at": None,
                    "month_count": state.month_count + 1,
                    "month_amount": state.month_amount + amount,
                }
            )
        if balance > 0 and state.zero_notified:
            state = state.model_copy(update={"zero_notified": False})
        if balance >= auto.trigger and (state.phase == "waiting" or _retry_waiting(state)):
            state = _ended_by_balance(state)
        return Step(state, notices=("succeeded",))
    if not ours:  # a top-up by hand failed: told, nothing to retry
        return Step(state, notices=("failed",))
    failures = state.failures + 1
    if failures >= max_failures:
        reason = f"{failures} failed recharges in a row" + (f" ({failure})" if failure else "")
        ended = {"phase": "waiting", "failures": failures, "retry_at": None, "disabled_reason": reason}
        return Step(state.model_copy(update=ended), notices=("failed", "disabled"), disable=True)
    wait = timedelta(hours=retry_hours[min(failures, len(retry_hours)) - 1])
    return Step(state.model_copy(update={"failures": failures, "retry_at": now + wait}), notices=("failed",))


def retry_due(auto: AutoRecharge, state: RechargeState, *, now: datetime, balance: int) -> Step:
    """The clock: a failed recharge whose wait is over is tried again (a new attempt of the same charge),
    unless the balance is back at or above the trigger; an attempt left unanswered is asked again."""
    if state.phase != "pending" or state.charge_id is None:
        return Step(state)
    if state.retry_at is None:  # the attempt is out: asked again (same key) only once it looks lost
        if state.asked_at is None or state.asked_at + UNANSWERED_AFTER > now:
            return Step(state)
        return Step(state, recharge=Recharge(state.charge_id, _amount(auto, state), state.attempt))
    if state.retry_at > now:
        return Step(state)
    if not auto.enabled:  # turned off by its holder while waiting to retry: the crossing ends here
        return Step(state.model_copy(update={"phase": "waiting", "retry_at": None}))
    if balance >= auto.trigger:  # topped up by hand while waiting: the crossing is over, nothing to charge
        return Step(_ended_by_balance(state))
    attempt = state.attempt + 1
    retry = Recharge(state.charge_id, _amount(auto, state), attempt)
    return Step(state.model_copy(update={"attempt": attempt, "retry_at": None}), recharge=retry)


def asked(state: RechargeState, now: datetime) -> RechargeState:
    """The state once an attempt of its recharge has been requested at `now` (the clock's watchdog counts from it)."""
    return state.model_copy(update={"asked_at": now})


def due_at(state: RechargeState) -> datetime | None:
    """When the clock has recharge work on the account: a retry, or a look at an attempt still unanswered."""
    if state.phase != "pending":
        return None
    if state.retry_at is not None:
        return state.retry_at
    return None if state.asked_at is None else state.asked_at + UNANSWERED_AFTER


def _start(account_id: str, auto: AutoRecharge, state: RechargeState, notices: list[Notice]) -> Step:
    crossing = state.crossings + 1
    recharge = Recharge(crossing_id(account_id, crossing), auto.amount, 1)
    started = {
        "phase": "pending",
        "crossings": crossing,
        "charge_id": recharge.charge_id,
        "amount": recharge.amount,
        "attempt": 1,
        "retry_at": None,
        "capped_month": None,
    }
    return Step(state.model_copy(update=started), recharge=recharge, notices=tuple(notices))


def _amount(auto: AutoRecharge, state: RechargeState) -> int:
    """What the recharge under way charges (its charge's amount, even if the setting changed since)."""
    return auto.amount if state.amount is None else state.amount


def _retry_waiting(state: RechargeState) -> bool:
    return state.phase == "pending" and state.retry_at is not None


def _ended_by_balance(state: RechargeState) -> RechargeState:
    """The balance is back at or above the trigger: the crossing is over, a retry waiting for it is dropped.

    The failures in a row are kept: no auto-recharge succeeded, so a card that keeps declining still
    turns auto-recharge off at the `max_consecutive_failures`-th; a credited one or the holder's new
    settings forgive them."""
    return _rearmed(state).model_copy(update={"retry_at": None})


def _rearmed(state: RechargeState) -> RechargeState:
    return state.model_copy(update={"phase": "armed", "capped_month": None})


def _stopped_by_cap(state: RechargeState, month: str) -> RechargeState:
    """This crossing ends without a recharge: the cap of `month` is reached (the next month re-arms it)."""
    return state.model_copy(update={"phase": "waiting", "capped_month": month})


def _cap_lifted(state: RechargeState, month: str) -> bool:
    return state.capped_month is not None and state.capped_month != month


def _capped(auto: AutoRecharge, state: RechargeState) -> bool:
    return state.month_count + 1 > auto.monthly_max_count or state.month_amount + auto.amount > auto.monthly_max_amount


def _new_month(state: RechargeState, month: str) -> RechargeState:
    if state.month == month:
        return state
    return state.model_copy(update={"month": month, "month_count": 0, "month_amount": 0})
