"""ZeroX's entry points: an attempt refused for zero balance may bring an offer; the answer, the request.

Each runs in ONE Firestore transaction (shared/runtime.py): every read first, then the pure
decision (rules.py), then the writes — the decision record, the offer, the caller's day and the
per-day counters together — and the SMS and top-up ask leave through the outbox after the commit.
"""

from __future__ import annotations

import logging

from google.cloud import firestore

from functions.zero_balance import messages, rules
from functions.zero_balance.config import PRESETS, topup_amount
from functions.zero_balance.documents import ANSWERS, ATTEMPTS, DAILY, OFFERS, USAGE, daily_id
from shared import archive, ledger, runtime, store
from shared.events import AttemptRefused, SubscriberReassigned, ZeroBalanceAnswered
from shared.msisdn import mask

logger = logging.getLogger("vas.zero_balance")


service = PRESETS.in_force  # () -> (operator profile, its preset); refuses the event when the service is off


def _balance(ctx: runtime.Context, msisdn: str, bucket: str) -> int:
    """What the caller can spend from `bucket` now (lots already due do not count); 0 without an account."""
    snapshot = ctx.get(ctx.doc(store.ACCOUNTS, msisdn))
    if not snapshot.exists:
        return 0
    return ledger.account_from_document(snapshot.to_dict()).as_of(ctx.now).balance(bucket)


def _count(ctx: runtime.Context, day: str, caller: str, counter: str) -> None:
    # An increment needs no read, so counting adds no contention to the transaction's reads.
    ctx.txn.set(ctx.doc(DAILY, daily_id(day, caller)), {"day": day, counter: firestore.Increment(1)}, merge=True)


@runtime.consumer("zero-balance-offer")
def on_attempt_refused(ctx: runtime.Context, attempt: AttemptRefused) -> None:
    """Offer a caller whose balance really is zero a free call-me-back (or top-up) request, within the day's prompts."""
    profile, config = service()
    attempt_ref = ctx.doc(ATTEMPTS, attempt.attempt_id)
    if ctx.get(attempt_ref).exists:
        logger.info("attempt already decided", extra={"attempt_id": attempt.attempt_id})
        return
    subscriber = ctx.get(ctx.doc(store.SUBSCRIBERS, attempt.caller)).to_dict()
    if subscriber is None or "status" not in subscriber:
        raise runtime.Rejected(f"{mask(attempt.caller)} is not a subscriber of {profile.name}")
    day = rules.local_day(attempt.at, profile.timezone)
    usage_ref = ctx.doc(USAGE, attempt.caller)
    usage = rules.DailyUsage.on(ctx.get(usage_ref).to_dict(), day)
    balance = _balance(ctx, attempt.caller, config.bucket)
    called = ctx.get(ctx.doc(store.SUBSCRIBERS, attempt.destination)).to_dict() if config.own_subscribers_only else None

    record = {"caller": attempt.caller, "destination": attempt.destination, "kind": attempt.kind,
              "indicator": attempt.indicator, "attempted_at": attempt.at, "day": day, "event_id": ctx.event.id,
              "at": ctx.now}
    if subscriber["status"] != "active":
        ctx.txn.create(attempt_ref, {**record, "outcome": "line_not_active"})
        return
    decision = rules.decide_offer(balance, usage, config,
                                  destination_is_subscriber=bool(called and "status" in called))
    ctx.txn.create(attempt_ref, {**record, "outcome": decision.value})
    _count(ctx, day, attempt.caller, decision.counter)
    if decision is rules.OfferDecision.OFFER:
        offer = rules.Offer(attempt_id=attempt.attempt_id, caller=attempt.caller, destination=attempt.destination,
                            kind=attempt.kind, attempted_at=attempt.at, expires_at=ctx.now + config.offer_validity,
                            topup_amount=topup_amount(profile, config), event_id=ctx.event.id)
        ctx.txn.set(ctx.doc(OFFERS, attempt.caller), offer.to_document())
        ctx.txn.set(usage_ref, usage.prompted().to_document())
        ctx.emit("sms.send", messages.offer_sms(offer, config, profile.currency), purpose="offer")
    logger.info("zero-balance attempt %s", decision.value,
                extra={"attempt_id": attempt.attempt_id, "caller": attempt.caller, "kind": attempt.kind})


@runtime.consumer("zero-balance-answer")
def on_answer(ctx: runtime.Context, answer: ZeroBalanceAnswered) -> None:
    """Resolve the caller's open offer once: the free message to the callee, a top-up ask, or a recorded no."""
    profile, config = service()
    offer_ref = ctx.doc(OFFERS, answer.caller)
    offer = rules.Offer.from_document(ctx.get(offer_ref).to_dict())
    caller = ctx.get(ctx.doc(store.SUBSCRIBERS, answer.caller)).to_dict()
    if caller is None or "status" not in caller:
        raise runtime.Rejected(f"{mask(answer.caller)} is not a subscriber of {profile.name}")
    callee = (ctx.get(ctx.doc(store.SUBSCRIBERS, offer.destination)).to_dict() or {}) if offer else {}
    day = rules.local_day(answer.answered_at, profile.timezone)
    usage_ref = ctx.doc(USAGE, answer.caller)
    usage = rules.DailyUsage.on(ctx.get(usage_ref).to_dict(), day)
    balance = _balance(ctx, answer.caller, config.bucket)

    outcome = rules.decide_answer(offer, answer.answer, offer_id=answer.offer_id, answered_at=answer.answered_at,
                                  balance=balance, usage=usage, config=config)
    ctx.txn.set(ctx.doc(ANSWERS, answer.request_id), {
        "caller": answer.caller, "answer": answer.answer, "outcome": outcome.value,
        "offer_id": offer.attempt_id if offer else None, "destination": offer.destination if offer else None,
        "answered_at": answer.answered_at, "day": day, "event_id": ctx.event.id, "at": ctx.now})
    if outcome.counter:
        _count(ctx, day, answer.caller, outcome.counter)
    if outcome.closes_offer:
        ctx.txn.set(offer_ref, {**rules.closed(offer, outcome).to_document(), "answer": answer.answer,
                                "answered_at": answer.answered_at, "request_id": answer.request_id})
    if outcome.uses_request:
        ctx.txn.set(usage_ref, usage.requested().to_document())
    for topic, purpose, payload in messages.after_answer(
            outcome, offer, caller=answer.caller, request_id=answer.request_id, answered_at=answer.answered_at,
            config=config, currency=profile.currency, caller_name=caller.get("name"),
            callee_language=profile.language_for(callee.get("language")), operator_zone=profile.timezone,
            operator_country=profile.country):
        ctx.emit(topic, payload, purpose=purpose)
    logger.info("zero-balance answer %s", outcome.value,
                extra={"request_id": answer.request_id, "caller": answer.caller, "answer": answer.answer})


@runtime.consumer("zero-balance-reassigned")
def on_reassigned(ctx: runtime.Context, event: SubscriberReassigned) -> None:
    """The number has a new owner: the old owner's open offer and today's prompts and requests go to the archive.

    An offer still open would let the new owner send a callback request in the old owner's name.
    """
    refs = [ctx.doc(OFFERS, event.msisdn), ctx.doc(USAGE, event.msisdn)]
    for snapshot in ctx.db.get_all(refs, transaction=ctx.txn):
        document = snapshot.to_dict()
        if document is None:
            continue
        if snapshot.reference.parent.id == OFFERS and document["attempted_at"] >= event.effective_at:
            continue  # the new owner's own offer
        archive.move(ctx, event.archive_id, snapshot.reference, document)
