"""Auto-recharge, decided: exactly one recharge per crossing of the trigger (pure: no I/O).

The account's `RechargeState` (documents.py) moves armed -> pending -> waiting -> armed:

- armed, and the balance falls below the trigger (a settlement of usage, an expiry): one
  recharge starts, with a charge id named after the crossing (`<account>.auto.<n>`), and the
  state is pending. Every later debit finds it pending and starts nothing, however many debits
  arrive at once and however often each is delivered: the state changes in the transaction that
  applies the debits, so two transactions cannot both see it armed.
- pending: the gateway is asked (and, after a failure, asked again on `retry_hours`); a confirmed
  payment credits the lot once and the state waits; the `max_consecutive_failures`-th failure in a
  row turns auto-recharge off.
- waiting: re-armed only once the balance is back at or above the trigger (a recharge adds at
  least the trigger, so a credited recharge from an empty account re-arms it), or, when the
  monthly cap stopped the crossing, once the next month begins (usage cannot lift the balance,
  so a capped account would otherwise never recharge again).

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
        if ours:
            state = state.model_copy(
                update={
                    "phase": "waiting",
                    "failures": 0,
                    "retry_at": None,
                    "month_count": state.month_count + 1,
                    "month_amount": state.month_amount + amount,
                }
            )
        if balance > 0 and state.zero_notified:
            state = state.model_copy(update={"zero_notified": False})
        if state.phase == "waiting" and balance >= auto.trigger:
            state = _rearmed(state)
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


def retry_due(auto: AutoRecharge, state: RechargeState, *, now: datetime) -> Step:
    """The clock: a failed recharge whose wait is over is tried again (a new attempt of the same charge)."""
    if state.phase != "pending" or state.retry_at is None or state.retry_at > now or state.charge_id is None:
        return Step(state)
    if not auto.enabled:  # turned off by its holder while waiting to retry: the crossing ends here
        return Step(state.model_copy(update={"phase": "waiting", "retry_at": None}))
    attempt = state.attempt + 1
    retry = Recharge(state.charge_id, auto.amount, attempt)
    return Step(state.model_copy(update={"attempt": attempt, "retry_at": None}), recharge=retry)


def _start(account_id: str, auto: AutoRecharge, state: RechargeState, notices: list[Notice]) -> Step:
    crossing = state.crossings + 1
    recharge = Recharge(crossing_id(account_id, crossing), auto.amount, 1)
    started = {
        "phase": "pending",
        "crossings": crossing,
        "charge_id": recharge.charge_id,
        "attempt": 1,
        "retry_at": None,
        "capped_month": None,
    }
    return Step(state.model_copy(update=started), recharge=recharge, notices=tuple(notices))


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
