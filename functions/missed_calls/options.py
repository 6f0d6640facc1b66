"""A subscriber's missed-call options and what each request changes (pure: no I/O).

Spec, "Subscribers and options": registered users have a voice mailbox (a monthly fee), the
others get SMS reminders only; privacy withholds 'is available again' SMS about me; a black list
drops the listed callers, a non-empty white list keeps only the listed ones. Every request is
confirmed by SMS with the state it leaves, so a repeated request changes nothing and reads the
same. A number is on at most one list: adding it to one takes it off the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions.missed_calls.config import MissedCallConfig
from shared.events import MissedCallOptionsChanged
from shared.money import Currency

LIST_LIMIT = 50  # numbers per list: enough for a person, small enough for one document and one SMS
FEE_MONTHS_KEPT = 24


@dataclass(frozen=True)
class Outcome:
    """The user fields to write (empty: nothing changes), the fee to debit now, and the confirmation."""

    template: str
    params: dict[str, Any] = field(default_factory=dict)
    update: dict[str, Any] = field(default_factory=dict)
    fee: int = 0


def new_user(msisdn: str) -> dict[str, Any]:
    """Everybody has the service (unregistered) until they change it."""
    return {"msisdn": msisdn, "registered": False, "privacy": False, "blacklist": [], "whitelist": [],
            "fee_months": [], "usage": {}}


def decide(user: dict[str, Any], request: MissedCallOptionsChanged, *, config: MissedCallConfig, month: str,
           balance: int, currency: Currency, next_fee_at: datetime, now: datetime) -> Outcome:
    """The outcome of one request on the user as stored (`balance`: the fee bucket's, for registering)."""
    action = request.action
    if action == "register":
        return _register(user, config=config, month=month, balance=balance, currency=currency,
                         next_fee_at=next_fee_at, now=now)
    if action == "unregister":
        update = {"registered": False, "unregistered_at": now, "fee_due_at": None} if user.get("registered") else {}
        return Outcome("missed_calls.options.unregistered", {}, update)
    if action in ("privacy_on", "privacy_off"):
        wanted = action == "privacy_on"
        update = {"privacy": wanted} if bool(user.get("privacy")) != wanted else {}
        return Outcome(f"missed_calls.options.{action}", {}, update)
    if action == "lists_clear":
        update = {"blacklist": [], "whitelist": []} if user.get("blacklist") or user.get("whitelist") else {}
        return Outcome("missed_calls.options.lists_cleared", {}, update)
    listed, verb = action.split("_")
    if request.number is None:
        return Outcome("missed_calls.options.number_missing", {})
    return _add(user, listed, request.number) if verb == "add" else _remove(user, listed, request.number)


def _register(user, *, config, month, balance, currency, next_fee_at, now) -> Outcome:
    params = {"voicemail_number": config.voicemail_number}
    if user.get("registered"):
        return Outcome("missed_calls.options.registered", params)
    fee = config.charging.monthly_fee
    update = {"registered": True, "registered_at": now, "fee_due_at": next_fee_at}
    if month in (user.get("fee_months") or []) or fee == 0:
        # This month is paid (registered again after leaving) or free: no second fee.
        if fee == 0:
            update["fee_months"] = paid(user, month)
        return Outcome("missed_calls.options.registered", params, update)
    if balance < fee:
        return Outcome("missed_calls.options.register_refused",
                       {"fee": currency.format(fee), "balance": currency.format(balance)})
    update["fee_months"] = paid(user, month)
    return Outcome("missed_calls.options.registered_charged",
                   {**params, "fee": currency.format(fee), "balance": currency.format(balance - fee)}, update, fee)


def paid(user: dict[str, Any], month: str) -> list[str]:
    """`fee_months` with `month` added, the latest FEE_MONTHS_KEPT kept."""
    return sorted({*(user.get("fee_months") or []), month})[-FEE_MONTHS_KEPT:]


def _add(user, listed: str, number: str) -> Outcome:
    other = "whitelist" if listed == "blacklist" else "blacklist"
    numbers = list(user.get(listed) or [])
    update: dict[str, Any] = {}
    if number not in numbers:
        if len(numbers) >= LIST_LIMIT:
            return Outcome(f"missed_calls.options.{listed}_full", {"limit": LIST_LIMIT})
        numbers.append(number)
        update[listed] = numbers
    if number in (user.get(other) or []):
        update[other] = [n for n in user[other] if n != number]
    return Outcome(f"missed_calls.options.{listed}_added",
                   {"number": number, "count": len(numbers), "limit": LIST_LIMIT}, update)


def _remove(user, listed: str, number: str) -> Outcome:
    numbers = list(user.get(listed) or [])
    update = {listed: [n for n in numbers if n != number]} if number in numbers else {}
    return Outcome(f"missed_calls.options.{listed}_removed", {"number": number}, update)
