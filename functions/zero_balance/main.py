"""ZeroX's entry points: an attempt refused for zero balance may bring an offer; the answer, the request.

Each runs in ONE Firestore transaction (shared/runtime.py): every read first, then the pure
decision (rules.py), then the writes — the decision record, the offer, the caller's day and the
per-day counters together — and the SMS and top-up ask leave through the outbox after the commit.
"""

from __future__ import annotations

import logging
from typing import Any

from google.cloud import firestore

from functions.credits import public as credit_accounts
from functions.zero_balance import messages, rules
from functions.zero_balance.config import PRESETS, topup_amount
from functions.zero_balance.documents import ANSWERS, ATTEMPTS, DAILY, OFFERS, USAGE, Subscriber, daily_id
from shared import archive, ledger, localtime, runtime, store
from shared.events import AttemptRefused, SubscriberReassigned, ZeroBalanceAnswered
from shared.msisdn import mask

logger = logging.getLogger("vas.zero_balance")


service = PRESETS.in_force  # () -> (operator profile, its preset); refuses the event when the service is off


def _balance(ctx: runtime.Context[None], account: dict[str, Any] | None, bucket: str) -> int:
    """What the caller can spend from `bucket` now (lots already due do not count); 0 without an account."""
    if account is None:
        return 0
    return ledger.account_from_document(account).as_of(ctx.now).balance(bucket)


def _subscriber(ctx: runtime.Context[None], msisdn: str) -> firestore.DocumentReference:
    return ctx.doc(store.SUBSCRIBERS, msisdn)


def _count(ctx: runtime.Context[None], day: str, caller: str, counter: str) -> None:
    # An increment needs no read, so counting adds no contention to the transaction's reads.
    ctx.txn.set(ctx.doc(DAILY, daily_id(day, caller)), {"day": day, counter: firestore.Increment(1)}, merge=True)


@runtime.consumer("zero-balance-offer")
def on_attempt_refused(ctx: runtime.Context[None], attempt: AttemptRefused) -> None:
    """Offer a caller whose balance really is zero a free call-me-back (or top-up) request, within the day's prompts."""
    profile, config = service()
    attempt_ref = ctx.doc(ATTEMPTS, attempt.attempt_id)
    caller_ref, usage_ref = _subscriber(ctx, attempt.caller), ctx.doc(USAGE, attempt.caller)
    account_ref, called_ref = ctx.doc(store.ACCOUNTS, attempt.caller), _subscriber(ctx, attempt.destination)
    called = [called_ref] if config.own_subscribers_only else []
    docs = ctx.read(attempt_ref, caller_ref, usage_ref, account_ref, called)
    if docs.exists(attempt_ref):
        logger.info("attempt already decided", extra={"attempt_id": attempt.attempt_id})
        return
    subscriber = Subscriber.from_document(docs.get(caller_ref))
    if subscriber is None or not subscriber.provisioned:
        raise runtime.Rejected(f"{mask(attempt.caller)} is not a subscriber of {profile.name}")
    day = localtime.day_of(attempt.at, profile.timezone)
    usage = rules.DailyUsage.on(docs.get(usage_ref), day)
    balance = _balance(ctx, docs.get(account_ref), config.bucket)
    destination = Subscriber.from_document(docs.get(called_ref)) if called else None

    record = {
        "caller": attempt.caller,
        "destination": attempt.destination,
        "kind": attempt.kind,
        "indicator": attempt.indicator,
        "attempted_at": attempt.at,
        "day": day,
        "event_id": ctx.event.id,
        "at": ctx.now,
    }
    if subscriber.status != "active":
        ctx.txn.create(attempt_ref, {**record, "outcome": "line_not_active"})
        return
    if credit_accounts.recharges_refused_attempts(
        ctx.db, attempt.caller
    ):  # its auto-recharge answers the refusal instead
        ctx.txn.create(attempt_ref, {**record, "outcome": "auto_recharge"})
        return
    decision = rules.decide_offer(
        balance, usage, config, destination_is_subscriber=destination is not None and destination.provisioned
    )
    ctx.txn.create(attempt_ref, {**record, "outcome": decision.value})
    _count(ctx, day, attempt.caller, decision.counter)
    if decision is rules.OfferDecision.OFFER:
        offer = rules.Offer(
            attempt_id=attempt.attempt_id,
            caller=attempt.caller,
            destination=attempt.destination,
            kind=attempt.kind,
            attempted_at=attempt.at,
            expires_at=ctx.now + config.offer_validity,
            topup_amount=topup_amount(profile, config),
            event_id=ctx.event.id,
        )
        ctx.txn.set(ctx.doc(OFFERS, attempt.caller), offer.to_document())
        ctx.txn.set(usage_ref, usage.prompted().to_document())
        ctx.emit("sms.send", messages.offer_sms(offer, config, profile.currency), purpose="offer")
    logger.info(
        "zero-balance attempt %s",
        decision.value,
        extra={"attempt_id": attempt.attempt_id, "caller": attempt.caller, "kind": attempt.kind},
    )


@runtime.consumer("zero-balance-answer")
def on_answer(ctx: runtime.Context[None], answer: ZeroBalanceAnswered) -> None:
    """Resolve the caller's open offer once: the free message to the callee, a top-up ask, or a recorded no."""
    profile, config = service()
    offer_ref, usage_ref = ctx.doc(OFFERS, answer.caller), ctx.doc(USAGE, answer.caller)
    caller_ref, account_ref = _subscriber(ctx, answer.caller), ctx.doc(store.ACCOUNTS, answer.caller)
    docs = ctx.read(offer_ref, caller_ref, usage_ref, account_ref)
    offer = rules.Offer.from_document(docs.get(offer_ref))
    caller = Subscriber.from_document(docs.get(caller_ref))
    if caller is None or not caller.provisioned:
        raise runtime.Rejected(f"{mask(answer.caller)} is not a subscriber of {profile.name}")
    # The callee is known only once the offer is read: a second round trip.
    callee = Subscriber.from_document(ctx.get(_subscriber(ctx, offer.destination)).to_dict()) if offer else None
    day = localtime.day_of(answer.answered_at, profile.timezone)
    usage = rules.DailyUsage.on(docs.get(usage_ref), day)
    balance = _balance(ctx, docs.get(account_ref), config.bucket)

    outcome = rules.decide_answer(
        offer,
        answer.answer,
        offer_id=answer.offer_id,
        answered_at=answer.answered_at,
        balance=balance,
        usage=usage,
        config=config,
    )
    ctx.txn.set(
        ctx.doc(ANSWERS, answer.request_id),
        {
            "caller": answer.caller,
            "answer": answer.answer,
            "outcome": outcome.value,
            "offer_id": offer.attempt_id if offer else None,
            "destination": offer.destination if offer else None,
            "answered_at": answer.answered_at,
            "day": day,
            "event_id": ctx.event.id,
            "at": ctx.now,
        },
    )
    if outcome.counter:
        _count(ctx, day, answer.caller, outcome.counter)
    if outcome.closes_offer:
        assert offer is not None  # only an answer to an open offer closes one (rules.decide_answer)
        ctx.txn.set(
            offer_ref,
            {
                **rules.closed(offer, outcome).to_document(),
                "answer": answer.answer,
                "answered_at": answer.answered_at,
                "request_id": answer.request_id,
            },
        )
    if outcome.uses_request:
        ctx.txn.set(usage_ref, usage.requested().to_document())
    for topic, purpose, payload in messages.after_answer(
        outcome,
        offer,
        caller=answer.caller,
        request_id=answer.request_id,
        answered_at=answer.answered_at,
        config=config,
        currency=profile.currency,
        caller_name=caller.name,
        callee_language=profile.language_for(callee.language if callee else None),
        operator_zone=profile.timezone,
        operator_country=profile.country,
    ):
        ctx.emit(topic, payload, purpose=purpose)
    logger.info(
        "zero-balance answer %s",
        outcome.value,
        extra={"request_id": answer.request_id, "caller": answer.caller, "answer": answer.answer},
    )


@runtime.consumer("zero-balance-reassigned")
def on_reassigned(ctx: runtime.Context[None], event: SubscriberReassigned) -> None:
    """The number has a new owner: the old owner's open offer and today's prompts and requests go to the archive.

    An offer still open would let the new owner send a callback request in the old owner's name.
    """
    offer_ref, usage_ref = ctx.doc(OFFERS, event.msisdn), ctx.doc(USAGE, event.msisdn)
    docs = ctx.read(offer_ref, usage_ref)
    offer, usage = docs.get(offer_ref), docs.get(usage_ref)
    stored_offer = rules.Offer.from_document(offer)
    if offer is not None and stored_offer is not None and stored_offer.attempted_at < event.effective_at:
        archive.move(ctx, event.archive_id, offer_ref, offer)  # as stored; a later offer is the new owner's own
    if usage is not None:
        archive.move(ctx, event.archive_id, usage_ref, usage)
