"""What a decision does (pure: no I/O): the ledger moves, the history, the records and every SMS.

`rules` says yes (a `Quote`) or no (a `Refusal`); this module turns the answer into changes of
the ledger books opened in the transaction (in memory until `ledger.save`), the parties'
movement histories, the `transfers/{reference}` record and the `sms.send` requests. Every SMS is
written in its reader's language, with money in the operator's currency and times in the
reader's zone; the language goes with the request so notify renders the whole SMS in the
language its pre-rendered parts (the refusal's reason) were written in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from functions.transfers import explain, records
from functions.transfers.policy import TransferPolicy
from functions.transfers.rules import History, Party, Quote, Refusal
from shared import ledger, localtime
from shared.events import TopUpAsked, TransferBarChanged, TransferRequested
from shared.money import Currency
from shared.operator import OperatorProfile

# Movements older than the longest window a preset looks at (30 rolling days, a calendar month)
# are dropped from `transfer_history`, so the document stays small; policies may need more.
HISTORY_DAYS = 31


@dataclass(frozen=True)
class Decided:
    """What a transfer's transaction decided, for the log once it is committed."""

    decision: str  # "accepted" or "refused (<code>)"
    reference: str


@dataclass(frozen=True)
class Addressee:
    """Who an SMS goes to, and how they read money and times."""

    msisdn: str
    language: str
    zone: tzinfo
    hotline: str = ""  # the care number reasons quote


@dataclass(frozen=True)
class Notice:
    """One `sms.send` request; `purpose` makes its event id (one per side and outcome)."""

    purpose: str
    payload: dict[str, Any]


def addressee(party: Party, profile: OperatorProfile) -> Addressee:
    """The party as an SMS goes to them: their language (one the operator offers), zone and care number."""
    return Addressee(
        party.msisdn,
        profile.language_for(party.language),
        localtime.zone_for(party.msisdn, profile.timezone),
        profile.short_codes.hotline,
    )


def sms(to: Addressee, template: str, purpose: str, reference: str, **params: Any) -> Notice:
    # The reference travels as a parameter too: the texts that show it quote it.
    return Notice(
        purpose,
        {
            "to": to.msisdn,
            "template": template,
            "params": {**params, "reference": reference},
            "language": to.language,
            "reference": reference,
        },
    )


def balances(book: ledger.Book | None) -> dict[str, int]:
    """Spendable minor units by bucket (lots already due were expired when the book was opened)."""
    if book is None:
        return {}
    return {name: bucket.balance for name, bucket in book.account.buckets.items()}


def reason(refusal: Refusal, to: Addressee, currency: Currency) -> str:
    return explain.reason(refusal, currency=currency, language=to.language, zone=to.zone, hotline=to.hotline)


# --- transfers ------------------------------------------------------------------------------


def move_money(quote: Quote, *, payer: ledger.Book, payee: ledger.Book | None, reference: str) -> None:
    """Debit amount and fee from the payer and credit the recipient, or raise before changing anything.

    The fee is its own entry so the subscriber's statement shows it. `payee` is None for a
    recipient on a partner network (`quote.abroad`): the amount leaves our ledger for settlement.
    Raises ledger.InsufficientFunds when the bucket cannot pay both (a policy that let it through).
    """
    available = payer.account.balance(quote.debit_bucket)
    if quote.debit > available:
        raise ledger.InsufficientFunds(payer.msisdn, quote.debit_bucket, quote.debit, available)
    payer.debit(quote.debit_bucket, quote.amount, reason="transfer:sent", reference=reference)
    if quote.fee:
        payer.debit(quote.debit_bucket, quote.fee, reason="transfer:fee", reference=reference)
    if payee is not None:
        payee.credit(
            quote.credit_bucket,
            quote.amount,
            expires_at=quote.credit_expires_at,
            reason="transfer:received",
            reference=reference,
        )


def unpayable(quote: Quote, payer: ledger.Book | None) -> Refusal:
    """The refusal for a quote the sender's bucket cannot pay after all."""
    available = payer.account.balance(quote.debit_bucket) if payer else 0
    return Refusal("insufficient_balance", {"balance": available, "required": quote.debit, "fee": quote.fee})


def histories_after(
    quote: Quote, *, sender: History, recipient: History, now: datetime, keep_days: int
) -> tuple[History, History]:
    """Both parties' histories with this transfer added and movements no rule looks at any more dropped."""
    return (
        sender.with_sent(now, quote.amount).pruned(now, keep_days),
        recipient.with_received(now, quote.amount).pruned(now, keep_days),
    )


def accepted_notices(
    quote: Quote,
    *,
    reference: str,
    sender: Addressee,
    recipient: Addressee,
    sender_balance: int,
    recipient_balance: int | None,
    currency: Currency,
) -> list[Notice]:
    """The sender's receipt (amount, recipient, fee, new balance, reference) and the recipient's notice."""
    money = currency.format
    common = {"amount": money(quote.amount), "recipient": recipient.msisdn, "balance": money(sender_balance)}
    receipt = (
        sms(sender, "transfer.sent", "sender", reference, **common, fee=money(quote.fee))
        if quote.fee
        else sms(sender, "transfer.sent_free", "sender", reference, **common)
    )
    return [
        receipt,
        credit_notice(
            recipient,
            "transfer.received",
            reference,
            sender=sender.msisdn,
            amount=quote.amount,
            bucket=quote.credit_bucket,
            balance=recipient_balance,
            expires_at=quote.credit_expires_at,
            currency=currency,
        ),
    ]


def credit_notice(
    to: Addressee,
    template: str,
    reference: str,
    *,
    sender: str,
    amount: int,
    bucket: str,
    balance: int | None,
    expires_at: datetime | None,
    currency: Currency,
) -> Notice:
    """What a credited party reads: `<template>`, `<template>_until` for an expiring lot, `_abroad` off our ledger."""
    if balance is None:
        return sms(to, f"{template}_abroad", "recipient", reference, sender=sender, amount=currency.format(amount))
    params = {
        "sender": sender,
        "amount": currency.format(amount),
        "balance": currency.format(balance),
        "bucket": ledger.bucket_label(bucket, to.language),
    }
    if expires_at is not None:
        params["expires_at"] = localtime.moment(expires_at, to.zone, to.language)
        template = f"{template}_until"
    return sms(to, template, "recipient", reference, **params)


def refusal_notice(
    refusal: Refusal, *, reference: str, amount: int, recipient: str, sender: Addressee, currency: Currency
) -> Notice:
    """The sender's SMS for a refused transfer: what, why, what would work, and the reference."""
    return sms(
        sender,
        "transfer.refused",
        "refused",
        reference,
        amount=currency.format(amount),
        recipient=recipient,
        reason=reason(refusal, sender, currency),
    )


def transfer_record(
    request: TransferRequested,
    outcome: Quote | Refusal,
    *,
    reference: str,
    policy: TransferPolicy | None,
    sender_balance: int | None,
    event_id: str,
    now: datetime,
) -> dict:
    common: dict[str, Any] = {
        "ref": reference,
        "event_id": event_id,
        "request_id": request.request_id,
        "channel": request.channel,
        "sender": request.sender,
        "recipient": request.recipient,
        "amount": request.amount,
        "requested_at": request.requested_at,
        "now": now,
        "policy": policy.name if policy else None,
    }
    if isinstance(outcome, Refusal):
        return records.transfer_record(**common, refusal_code=outcome.code, refusal_params=outcome.params)
    return records.transfer_record(
        **common,
        fee=outcome.fee,
        debit_bucket=outcome.debit_bucket,
        credit_bucket=None if outcome.abroad else outcome.credit_bucket,
        credit_expires_at=outcome.credit_expires_at,
        sender_balance_after=sender_balance,
        recipient_credited=not outcome.abroad,
    )


# --- top-up requests (*116*) ----------------------------------------------------------------


def topup_ask_notices(
    quote: Quote,
    request: TopUpAsked,
    *,
    reference: str,
    requester: Addressee,
    target: Addressee,
    balance_after: int | None,
    currency: Currency,
) -> list[Notice]:
    """The target is asked (naming the requester and the amount); the requester gets a receipt."""
    money = currency.format
    ask = sms(
        target,
        "transfer.topup_ask.request",
        "target",
        reference,
        requester=requester.msisdn,
        amount=money(request.amount),
    )
    if quote.fee:
        receipt = sms(
            requester,
            "transfer.topup_ask.sent",
            "requester",
            reference,
            target=target.msisdn,
            amount=money(request.amount),
            fee=money(quote.fee),
            balance=money(balance_after or 0),
        )
    else:
        receipt = sms(
            requester,
            "transfer.topup_ask.sent_free",
            "requester",
            reference,
            target=target.msisdn,
            amount=money(request.amount),
        )
    return [ask, receipt]


def topup_ask_refusal(
    refusal: Refusal, request: TopUpAsked, *, reference: str, requester: Addressee, currency: Currency
) -> Notice:
    return sms(
        requester,
        "transfer.topup_ask.refused",
        "refused",
        reference,
        target=request.target,
        reason=reason(refusal, requester, currency),
    )


def topup_request_record(
    request: TopUpAsked,
    outcome: Quote | Refusal,
    *,
    reference: str,
    policy: TransferPolicy | None,
    balance_after: int | None,
    event_id: str,
    now: datetime,
) -> dict:
    quote, refusal = (None, outcome) if isinstance(outcome, Refusal) else (outcome, None)
    return records.topup_request_record(
        ref=reference,
        event_id=event_id,
        request_id=request.request_id,
        channel=request.channel,
        requester=request.requester,
        target=request.target,
        amount=request.amount,
        fee=quote.fee if quote is not None else 0,
        bucket=quote.debit_bucket if quote is not None else None,
        balance_after=balance_after,
        policy=policy.name if policy else None,
        requested_at=request.requested_at,
        now=now,
        refusal_code=refusal.code if refusal is not None else None,
        refusal_params=refusal.params if refusal is not None else None,
    )


# --- the bar (*111*0151#, customer care) ----------------------------------------------------

# Customer care's tool (`python -m functions.transfers unbar`) is what hotline and shop staff use.
STAFF_CHANNELS = frozenset({"care", "hotline", "shop"})


@dataclass(frozen=True)
class BarState:
    """What the bar rule reads of a subscriber: when their bar last changed, since when the number is theirs."""

    changed_at: datetime | None = None
    owner_since: datetime | None = None  # provisioning's: a change asked before it was the old owner's

    @classmethod
    def from_document(cls, subscriber: Mapping[str, Any]) -> BarState:
        return cls(changed_at=subscriber.get("transfers_bar_changed_at"), owner_since=subscriber.get("owner_since"))


@dataclass(frozen=True)
class BarDecision:
    """`apply` the change, `ignore` an older one, or `refuse` it (texts `transfer.bar.refused.<refusal>`)."""

    verdict: Literal["apply", "ignore", "refuse"]
    refusal: Literal["not_offered", "lift_elsewhere"] | None = None


def bar_change(policy: TransferPolicy | None, subscriber: BarState, change: TransferBarChanged) -> BarDecision:
    """Whether a bar change applies, is older than the one in force, or is refused.

    A subscriber bars themselves only where the policy lets them; the bar is lifted only through
    the channels the policy names (Mobiuz: web, shop, hotline), so a stolen phone cannot lift it.
    """
    applied = subscriber.changed_at or subscriber.owner_since
    if applied is not None and change.requested_at < applied:
        return BarDecision("ignore")
    if change.barred and change.channel == "ussd" and policy is not None and not policy.bar.subscriber_can_bar:
        return BarDecision("refuse", "not_offered")
    lifted_through = set(policy.bar.lifted_through) if policy is not None else STAFF_CHANNELS
    allowed = change.channel in lifted_through or (change.channel == "care" and lifted_through & STAFF_CHANNELS)
    if not change.barred and not allowed:
        return BarDecision("refuse", "lift_elsewhere")
    return BarDecision("apply")


def bar_fields(change: TransferBarChanged) -> dict[str, Any]:
    """The subscriber fields an applied bar change writes."""
    return {
        "transfers_barred": change.barred,
        "transfers_bar_changed_at": change.requested_at,
        "transfers_bar_channel": change.channel,
    }


def bar_notice(
    change: TransferBarChanged, decision: BarDecision, *, to: Addressee, reference: str, hotline: str
) -> Notice:
    if decision.refusal is not None:
        return sms(to, f"transfer.bar.refused.{decision.refusal}", "bar", reference, hotline=hotline)
    return sms(to, "transfer.bar.on" if change.barred else "transfer.bar.off", "bar", reference, hotline=hotline)
