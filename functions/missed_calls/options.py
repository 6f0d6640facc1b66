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
from functions.missed_calls.models import MissedCallUser
from shared import consent, texts
from shared.consent import Consent
from shared.events import MissedCallOptionsChanged
from shared.money import Currency

LIST_LIMIT = 50  # numbers per list: enough for a person, small enough for one document and one SMS
FEE_MONTHS_KEPT = 24
MAILBOX_OFFER = "missed_calls.mailbox"  # the paid sign-up's name in the consent records


@dataclass(frozen=True)
class Outcome:
    """The user fields to write (empty: nothing changes), the fee to debit now, and the confirmation."""

    template: str
    params: dict[str, Any] = field(default_factory=dict)
    update: dict[str, Any] = field(default_factory=dict)
    fee: int = 0


def new_user(msisdn: str) -> MissedCallUser:
    """Everybody has the service (unregistered) until they change it."""
    return MissedCallUser(
        msisdn=msisdn, registered=False, privacy=False, blacklist=[], whitelist=[], fee_months=[], usage={}
    )


def decide(
    user: MissedCallUser,
    request: MissedCallOptionsChanged,
    *,
    config: MissedCallConfig,
    month: str,
    balance: int,
    currency: Currency,
    next_fee_at: datetime,
    now: datetime,
) -> Outcome:
    """The outcome of one request on the user as stored (`balance`: the fee bucket's, for registering)."""
    action = request.action
    if action == "register":
        return _register(
            user, config=config, month=month, balance=balance, currency=currency, next_fee_at=next_fee_at, now=now
        )
    if action == "unregister":
        update = {"registered": False, "unregistered_at": now, "fee_due_at": None} if user.registered else {}
        return Outcome("missed_calls.options.unregistered", {}, update)
    if action in ("privacy_on", "privacy_off"):
        wanted = action == "privacy_on"
        update = {"privacy": wanted} if user.privacy != wanted else {}
        return Outcome(f"missed_calls.options.{action}", {}, update)
    if action == "pin_set":
        assert request.pin is not None  # pin_set carries the hashed PIN (MissedCallOptionsChanged's validator)
        return Outcome(
            "missed_calls.options.pin_set",
            {"voicemail_number": config.voicemail_number},
            {
                "voicemail_pin": {**request.pin.model_dump(), "set_at": now},
                "voicemail_pin_failures": [],
                "voicemail_locked_at": None,
            },
        )
    if action in ("pin_skip_on", "pin_skip_off"):
        if not user.voicemail_pin:
            return Outcome("missed_calls.options.pin_needed", {"short_code": config.short_code})
        wanted = action == "pin_skip_on"
        update = {"voicemail_trust_own_phone": wanted} if user.voicemail_trust_own_phone != wanted else {}
        return Outcome(f"missed_calls.options.{action}", {"voicemail_number": config.voicemail_number}, update)
    if action == "lists_clear":
        update = {"blacklist": [], "whitelist": []} if user.blacklist or user.whitelist else {}
        return Outcome("missed_calls.options.lists_cleared", {}, update)
    listed, verb = action.split("_")
    if request.number is None:
        return Outcome("missed_calls.options.number_missing", {})
    return _add(user, listed, request.number) if verb == "add" else _remove(user, listed, request.number)


def _register(
    user: MissedCallUser,
    *,
    config: MissedCallConfig,
    month: str,
    balance: int,
    currency: Currency,
    next_fee_at: datetime,
    now: datetime,
) -> Outcome:
    params = {"voicemail_number": config.voicemail_number}
    if user.registered:
        return Outcome("missed_calls.options.registered", params)
    fee = config.charging.monthly_fee
    update: dict[str, Any] = {"registered": True, "registered_at": now, "fee_due_at": next_fee_at}
    if month in user.fee_months or fee == 0:
        # This month is paid (registered again after leaving) or free: no second fee.
        if fee == 0:
            update["fee_months"] = paid(user, month)
        return Outcome("missed_calls.options.registered", params, update)
    if balance < fee:
        return Outcome(
            "missed_calls.options.register_refused", {"fee": currency.format(fee), "balance": currency.format(balance)}
        )
    update["fee_months"] = paid(user, month)
    return Outcome(
        "missed_calls.options.registered_charged",
        {**params, "fee": currency.format(fee), "balance": currency.format(balance - fee)},
        update,
        fee,
    )


@dataclass(frozen=True)
class SignUp:
    """A register request's step of the sign-up question: consent records to write, then register or answer."""

    records: tuple[Consent, ...] = ()
    register: bool = False  # confirmed (or nothing to confirm): register, charging as `decide` says
    answer: Outcome | None = None  # otherwise the SMS that answers (None: the USSD screen already did)


def sign_up(
    user: MissedCallUser,
    request: MissedCallOptionsChanged,
    pending: Consent | None,
    *,
    config: MissedCallConfig,
    currency: Currency,
    language: str,
) -> SignUp:
    """Ask before charging: a register request asks (SMS) or carries its answer (USSD, or the SMS reply)."""
    fee = config.charging.monthly_fee
    if fee == 0:
        return SignUp(register=True)  # nothing is charged: no question to ask
    if request.consent is not None:  # asked and answered in one USSD session
        answered = request.consent
        if (answered.msisdn, answered.offer, answered.price) != (request.msisdn, MAILBOX_OFFER, fee):
            return SignUp(answer=Outcome("missed_calls.options.register_expired", _ask_again(config)))
        return SignUp((answered,), register=answered.confirmed)
    waiting = pending if pending is not None and pending.status == "pending" else None
    # A YES consents to the price its question showed: after a fee change it confirms nothing, and the
    # question is asked again (replacing the old one) with the price that would be charged now.
    stale = (
        waiting is not None
        and request.consent_reply is True
        and (waiting.price, waiting.currency) != (fee, currency.code)
    )
    if request.consent_reply is not None and waiting is not None and not stale:
        return _answered(waiting, request, config)
    if user.registered:
        return SignUp(register=True)  # already on: `decide` says so and charges nothing
    if request.consent_reply is not None and not stale:
        return SignUp(answer=Outcome("missed_calls.options.nothing_to_confirm", _ask_again(config)))
    params = {
        "fee": currency.format(fee),
        "short_code": config.short_code,
        "yes": consent.YES_WORD[language],
        "no": consent.NO_WORD[language],
        "minutes": int(consent.SMS_REPLY_WINDOW.total_seconds() // 60),
    }
    template = "missed_calls.options.confirm_register"
    asked = consent.asked(
        offer=MAILBOX_OFFER,
        msisdn=request.msisdn,
        channel=request.channel,
        language=language,
        shown=texts.render(template, language, **params),
        price=fee,
        currency=currency.code,
        period="month",
        request=request.said
        or consent.Answer(text=request.action, reference=request.request_id, at=request.requested_at),
    )
    earlier = (consent.replaced(waiting, request.requested_at),) if waiting else ()
    return SignUp((*earlier, asked), answer=Outcome(template, params))


def _answered(waiting: Consent, request: MissedCallOptionsChanged, config: MissedCallConfig) -> SignUp:
    """The SMS reply to the waiting question: confirmed (register now), declined, or too late."""
    said, accepted = request.said, request.consent_reply
    assert said is not None and accepted is not None  # a reply, which carries its message (the event's validator)
    decided = consent.answered(waiting, said, accepted=accepted)
    if decided.confirmed:
        return SignUp((decided,), register=True)
    template = (
        "missed_calls.options.register_declined"
        if decided.status == "declined"
        else "missed_calls.options.register_expired"
    )
    return SignUp((decided,), answer=Outcome(template, _ask_again(config)))


def _ask_again(config: MissedCallConfig) -> dict[str, Any]:
    return {"short_code": config.short_code, "ussd": config.ussd_menu}


def fee_falls_due(user: MissedCallUser, now: datetime) -> bool:
    """A registered user's monthly fee is due by `now`."""
    return user.registered and user.fee_due_at is not None and user.fee_due_at <= now


@dataclass(frozen=True)
class MonthlyFee:
    """A new month for a registered user: the fee to debit (0: none), the user fields, and the SMS to tell."""

    update: dict[str, Any]
    debit: int = 0
    template: str | None = None  # missed_calls.fee.charged | missed_calls.fee.lapsed, None: nothing to tell
    balance: int = 0  # the bucket's balance the SMS shows (after the debit)


def monthly_fee(
    user: MissedCallUser,
    *,
    blocked: bool,
    month: str,
    fee: int,
    balance: int | None,
    next_fee_at: datetime,
    now: datetime,
) -> MonthlyFee:
    """Charge the month's fee once, or let the mailbox lapse when the balance (None: no account) cannot pay it."""
    if blocked:
        # No fee while the operator has the line blocked; the next month is looked at again.
        return MonthlyFee({"fee_due_at": next_fee_at})
    if month in user.fee_months:
        return MonthlyFee({"fee_due_at": next_fee_at})  # paid already (registered this month)
    if balance is not None and balance >= fee:
        update = {"fee_due_at": next_fee_at, "fee_months": paid(user, month)}
        return MonthlyFee(update, fee, "missed_calls.fee.charged", balance - fee) if fee else MonthlyFee(update)
    return MonthlyFee(
        {"registered": False, "lapsed_at": now, "fee_due_at": None},
        template="missed_calls.fee.lapsed",
        balance=balance or 0,
    )


def paid(user: MissedCallUser, month: str) -> list[str]:
    """`fee_months` with `month` added, the latest FEE_MONTHS_KEPT kept."""
    return sorted({*user.fee_months, month})[-FEE_MONTHS_KEPT:]


def _listed(user: MissedCallUser, listed: str) -> list[str]:
    return list(user.blacklist if listed == "blacklist" else user.whitelist)


def _add(user: MissedCallUser, listed: str, number: str) -> Outcome:
    other = "whitelist" if listed == "blacklist" else "blacklist"
    numbers = _listed(user, listed)
    update: dict[str, Any] = {}
    if number not in numbers:
        if len(numbers) >= LIST_LIMIT:
            return Outcome(f"missed_calls.options.{listed}_full", {"limit": LIST_LIMIT})
        numbers.append(number)
        update[listed] = numbers
    if number in _listed(user, other):
        update[other] = [n for n in _listed(user, other) if n != number]
    return Outcome(
        f"missed_calls.options.{listed}_added", {"number": number, "count": len(numbers), "limit": LIST_LIMIT}, update
    )


def _remove(user: MissedCallUser, listed: str, number: str) -> Outcome:
    numbers = _listed(user, listed)
    update = {listed: [n for n in numbers if n != number]} if number in numbers else {}
    return Outcome(f"missed_calls.options.{listed}_removed", {"number": number}, update)
