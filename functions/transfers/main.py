"""Balance transfers' entry points: a transfer, a top-up request, the bar, pay cards (vouchers).

Each runs in ONE Firestore transaction (shared/runtime.py): every read first, then the decision
on that fresh state — authoritative, because the edge answered from an earlier read and another
request may have spent the limit since — then every write, and the SMS requests leave through
the outbox after the commit. A refusal moves no money, is recorded under its reference and told
to the subscriber; it is not an error, so the message is acknowledged.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.transfers import documents, execution, rules, vouchers
from functions.transfers.policy import PolicySet, policies_for
from functions.transfers.rules import Quote, Refusal
from shared import archive, ledger, operator, runtime, settings
from shared.events import (
    ZERO_BALANCE_CHANNEL,
    SubscriberReassigned,
    TopUpAsked,
    TransferBarChanged,
    TransferRequested,
    VoucherIssued,
    VoucherRedeemRequested,
)
from shared.operator import OperatorProfile

logger = logging.getLogger("vas.transfers")

settings.get().require("voucher_code_key")  # pay cards cannot be loaded or found without it: refuse to start

_in_force: tuple[OperatorProfile, PolicySet] | None = None


def policies() -> tuple[OperatorProfile, PolicySet]:
    """The operator profile and its transfer policies, loaded once per profile (not per message)."""
    global _in_force
    profile = operator.current()
    if _in_force is None or _in_force[0] is not profile:
        _in_force = (profile, policies_for(profile))
    return _in_force


def _after_transfer(ctx: runtime.Context[execution.Decided], request: TransferRequested) -> None:
    """Log the decision once it is committed (a retried transaction runs the handler again)."""
    decided = ctx.handoff
    if decided is not None:  # only on the delivery that made the decision
        logger.info(
            "transfer %s",
            decided.decision,
            extra={
                "reference": decided.reference,
                "sender": request.sender,
                "recipient": request.recipient,
                "amount": request.amount,
            },
        )


@runtime.consumer("transfers-execute", after_commit=_after_transfer)
def on_transfer_requested(ctx: runtime.Context[execution.Decided], request: TransferRequested) -> None:
    """Re-decide the transfer on fresh state; apply it atomically, or record and explain the refusal."""
    profile, in_force = policies()
    pair = documents.read_pair(
        ctx,
        request.sender,
        request.recipient,
        kind="transfer",
        histories=True,
        default_language=profile.default_language,
    )
    payer = documents.open_book(ctx, request.sender)
    # The same number twice is refused by the rules; never open one account twice.
    payee = documents.open_book(ctx, request.recipient) if request.recipient != request.sender else None
    policy = in_force.for_transfer(pair.first, pair.second)
    outcome = (
        rules.decide(
            policy,
            sender=pair.first,
            recipient=pair.second,
            amount=request.amount,
            balances=execution.balances(payer),
            sender_history=pair.first_history,
            recipient_history=pair.second_history,
            now=ctx.now,
            requested_at=request.requested_at,
        )
        if policy
        else rules.NO_POLICY
    )
    if isinstance(outcome, Quote):
        outcome = _apply_transfer(
            ctx, outcome, pair, payer, payee, keep_days=max(execution.HISTORY_DAYS, in_force.history_days)
        )
    sender, recipient = execution.addressee(pair.first, profile), execution.addressee(pair.second, profile)
    balance = None
    if isinstance(outcome, Quote):
        assert payer is not None  # applied: _apply_transfer refuses a transfer without a payer's book
        balance = payer.account.balance(outcome.debit_bucket)
        credited = None if outcome.abroad or payee is None else payee.account.balance(outcome.credit_bucket)
        notices = execution.accepted_notices(
            outcome,
            reference=pair.reference,
            sender=sender,
            recipient=recipient,
            sender_balance=balance,
            recipient_balance=credited,
            currency=profile.currency,
        )
    else:
        notices = [
            execution.refusal_notice(
                outcome,
                reference=pair.reference,
                amount=request.amount,
                recipient=request.recipient,
                sender=sender,
                currency=profile.currency,
            )
        ]
    documents.write_record(
        ctx,
        execution.transfer_record(
            request,
            outcome,
            reference=pair.reference,
            policy=policy,
            sender_balance=balance,
            event_id=ctx.event.id,
            now=ctx.now,
        ),
    )
    _send(ctx, notices)
    ctx.handoff = execution.Decided(
        "accepted" if isinstance(outcome, Quote) else f"refused ({outcome.code})", reference=pair.reference
    )


def _apply_transfer(
    ctx: runtime.Context[execution.Decided],
    quote: Quote,
    pair: documents.Pair,
    payer: ledger.Book | None,
    payee: ledger.Book | None,
    *,
    keep_days: int,
) -> Quote | Refusal:
    """Move the money and count the transfer in both histories; a refusal when the ledger cannot pay."""
    if payee is None and not quote.abroad:
        # The rules accepted a home recipient this operator keeps no account for: nothing to credit.
        return Refusal("recipient_unknown", {"recipient": pair.second.msisdn})
    if payer is None:
        return execution.unpayable(quote, payer)
    credited = None if quote.abroad else payee  # abroad: a partner network credits the recipient
    try:
        execution.move_money(quote, payer=payer, payee=credited, reference=pair.reference)
    except ledger.InsufficientFunds:
        logger.error("the rules accepted a transfer the balance cannot pay", extra={"reference": pair.reference})
        return execution.unpayable(quote, payer)
    ledger.save(ctx, *(book for book in (payer, credited) if book is not None))
    sent, received = execution.histories_after(
        quote, sender=pair.first_history, recipient=pair.second_history, now=ctx.now, keep_days=keep_days
    )
    documents.write_history(ctx, pair.first.msisdn, sent)
    documents.write_history(ctx, pair.second.msisdn, received)
    return quote


@runtime.consumer("transfers-topup-asked")
def on_topup_asked(ctx: runtime.Context[None], request: TopUpAsked) -> None:
    """Charge the top-up-request fee and ask the target by SMS, or tell the requester why not."""
    profile, in_force = policies()
    pair = documents.read_pair(
        ctx, request.requester, request.target, kind="topup_request", default_language=profile.default_language
    )
    book = documents.open_book(ctx, request.requester)
    policy = in_force.for_sender(pair.first)
    outcome = (
        rules.decide_top_up_ask(
            policy,
            requester=pair.first,
            target=pair.second,
            amount=request.amount,
            balances=execution.balances(book),
            fee_waived=request.channel == ZERO_BALANCE_CHANNEL,
            requested_at=request.requested_at,
        )
        if policy
        else rules.NO_POLICY
    )
    requester, target = execution.addressee(pair.first, profile), execution.addressee(pair.second, profile)
    balance = None
    if isinstance(outcome, Quote):
        assert book is not None  # every subscriber has an account (provisioning), and the rules accept only those
        if outcome.fee:
            book.debit(outcome.debit_bucket, outcome.fee, reason="topup_request:fee", reference=pair.reference)
            ledger.save(ctx, book)
        balance = book.account.balance(outcome.debit_bucket)
        notices = execution.topup_ask_notices(
            outcome,
            request,
            reference=pair.reference,
            requester=requester,
            target=target,
            balance_after=balance,
            currency=profile.currency,
        )
    else:
        notices = [
            execution.topup_ask_refusal(
                outcome, request, reference=pair.reference, requester=requester, currency=profile.currency
            )
        ]
    documents.write_record(
        ctx,
        execution.topup_request_record(
            request,
            outcome,
            reference=pair.reference,
            policy=policy,
            balance_after=balance,
            event_id=ctx.event.id,
            now=ctx.now,
        ),
    )
    _send(ctx, notices)


@runtime.consumer("transfers-bar")
def on_bar_changed(ctx: runtime.Context[None], change: TransferBarChanged) -> None:
    """Bar or lift the bar on a subscriber's outgoing transfers, and confirm it (or say why not) by SMS."""
    profile, in_force = policies()
    ref = documents.subscriber(ctx, change.msisdn)
    subscriber = ctx.read(ref).get(ref)
    if subscriber is None:
        raise runtime.Rejected(f"bar change for {change.msisdn}, who is not a subscriber")
    party = rules.Party.from_documents(change.msisdn, subscriber, profile.default_language)
    decision = execution.bar_change(in_force.for_sender(party), execution.BarState.from_document(subscriber), change)
    if decision.verdict == "ignore":
        logger.info("older bar change ignored", extra={"msisdn": change.msisdn, "barred": change.barred})
        return
    if decision.verdict == "apply":
        ctx.txn.update(ref, execution.bar_fields(change))
    _send(
        ctx,
        [
            execution.bar_notice(
                change,
                decision,
                to=execution.addressee(party, profile),
                reference=f"bar:{change.request_id}",
                hotline=profile.short_codes.hotline,
            )
        ],
    )


@runtime.consumer("transfers-voucher-issued")
def on_voucher_issued(ctx: runtime.Context[None], card: VoucherIssued) -> None:
    """Load a pay card from the BSS; the same card again changes nothing, a clashing one is rejected."""
    by_code, by_serial = documents.card(ctx, card.secret_code), documents.card_serial(ctx, card.serial)
    docs = ctx.read(by_code, by_serial)
    serial = docs.get(by_serial)
    try:
        document = vouchers.issued(
            card,
            stored_by_code=vouchers.Card.from_document(docs.get(by_code)),
            serial_code_key=None if serial is None else serial.get("code_key"),
            event_id=ctx.event.id,
            now=ctx.now,
        )
    except vouchers.VoucherConflict as error:
        raise runtime.Rejected(str(error)) from None
    if document is None:
        logger.info("voucher already loaded", extra={"serial": card.serial})
        return
    ctx.txn.create(by_code, document)
    ctx.txn.create(by_serial, {"serial": card.serial, "code_key": by_code.id, "issued_at": ctx.now})


def _tell_card_locked(ctx: runtime.Context[bool], request: VoucherRedeemRequested) -> None:
    """After the commit: tell the operator when this wrong code locked a card."""
    if ctx.handoff:  # this delivery's wrong code locked the card
        logger.warning(
            "pay card locked: too many wrong codes from any callers",
            extra={"card_serial": request.card_serial, "max_wrong_codes": vouchers.MAX_WRONG_CODES_PER_CARD},
        )


@runtime.consumer("transfers-voucher-redeem", after_commit=_tell_card_locked)
def on_voucher_redeem(ctx: runtime.Context[bool], request: VoucherRedeemRequested) -> None:
    """Activate a pay card for a subscriber once (marked used with the credit), or tell the caller why not."""
    profile, in_force = policies()
    card_ref = documents.card(ctx, request.secret_code)
    attempts_ref = documents.wrong_codes_of_caller(ctx, request.caller)
    card_attempts_ref = documents.wrong_codes_on_card(ctx, request.card_serial)
    pair = documents.read_pair(
        ctx,
        request.caller,
        request.recipient,
        kind="voucher",
        default_language=profile.default_language,
        extra=[card_ref, attempts_ref, card_attempts_ref],
    )
    attempts = vouchers.WrongCodes.from_document(pair.extra.get(attempts_ref))
    card_attempts = vouchers.WrongCodes.from_document(pair.extra.get(card_attempts_ref))
    card = vouchers.Card.from_document(pair.extra.get(card_ref))
    outcome = vouchers.redeem(
        in_force.for_voucher(pair.first),
        card,
        serial=request.card_serial,
        caller=pair.first,
        recipient=pair.second,
        attempts=attempts,
        card_attempts=card_attempts,
        now=ctx.now,
        requested_at=request.requested_at,
    )
    payee = documents.open_book(ctx, request.recipient) if isinstance(outcome, vouchers.VoucherCredit) else None
    if isinstance(outcome, vouchers.VoucherCredit) and payee is None:
        outcome = Refusal("recipient_unknown", {"recipient": request.recipient})  # a subscriber without an account
    caller, recipient = execution.addressee(pair.first, profile), execution.addressee(pair.second, profile)
    if isinstance(outcome, vouchers.VoucherCredit):
        assert payee is not None  # a credit without a payee's book was refused above
        payee.credit(
            outcome.bucket, outcome.amount, expires_at=outcome.expires_at, reason="voucher", reference=pair.reference
        )
        ledger.save(ctx, payee)
        ctx.txn.update(
            card_ref,
            vouchers.used(caller=request.caller, recipient=request.recipient, reference=pair.reference, now=ctx.now),
        )
        notices = vouchers.notices(
            outcome,
            reference=pair.reference,
            caller=caller,
            recipient=recipient,
            balance=payee.account.balance(outcome.bucket),
            currency=profile.currency,
        )
    else:
        if outcome.code == "voucher_wrong_code":
            caller_after = vouchers.with_wrong_code(attempts, ctx.now)
            ctx.txn.set(attempts_ref, vouchers.wrong_codes_document(caller_after, ctx.now))
            card_after = vouchers.with_wrong_code(card_attempts, ctx.now)
            ctx.txn.set(card_attempts_ref, vouchers.wrong_codes_document(card_after, ctx.now))
            ctx.handoff = vouchers.card_locked(card_after, ctx.now)
        notices = [
            vouchers.refusal_notice(
                outcome, reference=pair.reference, recipient=request.recipient, caller=caller, currency=profile.currency
            )
        ]
    documents.write_record(
        ctx, vouchers.record(request, outcome, reference=pair.reference, event_id=ctx.event.id, now=ctx.now)
    )
    _send(ctx, notices)


@runtime.consumer("transfers-reassigned")
def on_reassigned(ctx: runtime.Context[None], event: SubscriberReassigned) -> None:
    """The number has a new owner: the old owner's transfers (their limits) and wrong pay-card codes go to the archive.

    The bar on outgoing transfers lives on the subscriber record, which provisioning starts afresh.
    """
    history_ref = documents.history(ctx, event.msisdn)
    attempts_ref = documents.wrong_codes_of_caller(ctx, event.msisdn)
    docs = ctx.read(history_ref, attempts_ref)
    if docs.exists(history_ref):
        old, new = rules.History.from_document(docs.get(history_ref)).split(event.effective_at)
        ctx.txn.set(
            archive.filed(ctx, event.archive_id, documents.HISTORY, event.msisdn),
            {**old.to_document(), "archived_at": ctx.now},
        )
        if new.sent or new.received:
            documents.write_history(ctx, event.msisdn, new)
        else:
            ctx.txn.delete(history_ref)
    attempts = docs.get(attempts_ref)
    if attempts is not None:
        archive.move(ctx, event.archive_id, attempts_ref, attempts)


def _send(ctx: runtime.Context[Any], notices: list[execution.Notice]) -> None:
    for notice in notices:
        ctx.emit("sms.send", notice.payload, purpose=notice.purpose)
