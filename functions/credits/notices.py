"""What a credit account's holder is told when auto-recharge moves: recharge.Step's notices as emails.

    notices.tell(ctx, opened, step, charge=charge)   # after a payment (charging.py) or a balance change

One email per notice, in the account's language (mail.send, templates `email.credits_*`): a
recharge or top-up credited (amount, new balance, expiry date), a payment failed (the reason — an
expired card named by its last four digits — and what happens next), auto-recharge turned off,
the monthly cap reached, the balance at zero. Each email's purpose names what it is about (the
charge's attempt, the crossing), so a redelivery sends it once.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from functions.credits import mail, recharge, wallet
from functions.credits.documents import Charge
from shared import localtime, runtime, texts

FAILURE_TEXTS = "credits.payment_failed"
GENERIC_FAILURE = "card_declined"  # any decline code without a text of its own
_FAILURES_EXPLAINED = frozenset(
    {"card_declined", "expired_card", "insufficient_funds", "authentication_required", "no_card"}
)


def tell(
    ctx: runtime.Context[Any], opened: wallet.Wallet, step: recharge.Step, *, charge: Charge | None = None
) -> None:
    """Queue the emails `step` calls for (`charge`: the payment it followed, for the payment emails)."""
    account, money = opened.account, opened.profile.currency.format
    about = f"{charge.id}.{charge.attempt}" if charge is not None else f"{account.id}.{step.state.crossings}"
    for notice in step.notices:
        template, params = _email(notice, opened, step, charge)
        mail.send(ctx, account, template, {"balance": money(opened.balance), **params}, purpose=f"{notice}/{about}")


def _email(
    notice: recharge.Notice, opened: wallet.Wallet, step: recharge.Step, charge: Charge | None
) -> tuple[str, dict[str, Any]]:
    account, money = opened.account, opened.profile.currency.format
    if notice == "zero":
        return "email.credits_zero", {}
    if notice == "capped":
        auto = account.auto
        return "email.credits_capped", {"count": auto.monthly_max_count, "amount": money(auto.monthly_max_amount)}
    if charge is None:
        raise ValueError(f"the {notice!r} email is about a payment: give its charge")
    if notice == "succeeded":
        assert charge.expires_at is not None  # a credited charge names its lot's expiry
        expires = mail.day(charge.expires_at, opened.profile, account.language)
        return "email.credits_recharged", {"amount": money(charge.amount), "expires": expires, "reference": charge.id}
    reason = failure_reason(charge, opened)
    if notice == "failed":
        return "email.credits_payment_failed", {
            "amount": money(charge.amount),
            "reason": reason,
            "next": _what_next(step, opened, charge),
        }
    return "email.credits_auto_recharge_off", {"count": step.state.failures, "reason": reason}


def failure_reason(charge: Charge, opened: wallet.Wallet) -> str:
    """Why the payment failed, in the holder's words: an expired card is named by its last four digits."""
    code = charge.failure_code if charge.failure_code in _FAILURES_EXPLAINED else GENERIC_FAILURE
    card = charge.card or opened.account.card  # the card this attempt was charged to
    last4 = card.last4 if card is not None else "????"
    return texts.render(f"{FAILURE_TEXTS}.{code}", opened.account.language, last4=last4)


def _what_next(step: recharge.Step, opened: wallet.Wallet, charge: Charge) -> str:
    """Auto-recharge off, tried again at a time, or (a top-up by hand) up to the holder."""
    language, state = opened.account.language, step.state
    if step.disable:
        return texts.render(f"{FAILURE_TEXTS}.off", language)
    if state.phase == "pending" and state.charge_id == charge.id and state.retry_at is not None:
        when = localtime.moment(state.retry_at, ZoneInfo(opened.profile.timezone), language)
        return texts.render(f"{FAILURE_TEXTS}.retry", language, when=when)
    return texts.render(f"{FAILURE_TEXTS}.by_hand", language)
