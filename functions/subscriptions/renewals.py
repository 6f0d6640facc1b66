"""Renewals' entry points: the clock's sweep over the books, one subscriber's due work, a credit retrying at once.

`on_tick` pages through `subscriptions/*` by `next_due_at` and fans out one `subscription.due`
per subscriber (shared/sweep.py), so each transaction stays one subscriber's. `on_due` runs
lifecycle.advance over the book in ONE transaction with the subscriber's ledger account: the
debits, the book (periods moved on, notices marked sent) and the processed marker commit
together, so a redelivered event or an overlapping tick finds the period paid. `on_balance_changed`
hears the credits only (its subscription filters balance.changed on `direction`, so the debits of every
call never invoke it): it reads the book once and stops there unless a renewal is unpaid.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any

from google.cloud import firestore

from functions.subscriptions import lifecycle, notices
from functions.subscriptions.config import PRESETS, Catalogue
from functions.subscriptions.documents import BOOKS, Book
from shared import ledger, runtime, store, sweep
from shared.events import BalanceChanged, ClockTick, SubscriptionFact, SubscriptionsDue
from shared.msisdn import mask
from shared.operator import OperatorProfile

logger = logging.getLogger("vas.subscriptions")

# Subscribers one clock page fans out: the page's events live in the tick's processed marker, and
# 300 envelopes stay far below Firestore's 1 MiB document; more continue in a follow-up tick.
SWEEP_PAGE = 300

service = PRESETS.in_force  # () -> (operator profile, its catalogue); refuses the event when the service is off


# --- the clock ------------------------------------------------------------------------------


@runtime.consumer("subscriptions-tick")
def on_tick(ctx: runtime.Context[None], tick: ClockTick) -> None:
    """Fan out one `subscription.due` per subscriber whose book has work due, a page at a time."""
    sweep.run(
        ctx,
        tick,
        [sweep.Sweep(functools.partial(_due_page, ctx.db))],
        follow_up="clock.subscriptions",
        page_size=SWEEP_PAGE,
    )


def _due_page(db: firestore.Client, now: datetime, after: sweep.Position | None, limit: int) -> list[sweep.Due]:
    """One page of books whose `next_due_at` has come (single-field index), each a `subscription.due`."""
    return [
        sweep.Due(
            position,
            "subscription.due",
            SubscriptionsDue(msisdn=position[1], due_before=now),
            purpose=f"due/{position[1]}",
        )
        for position in sweep.due_positions(db, BOOKS, "next_due_at", now, limit, after)
    ]


@runtime.consumer("subscriptions-due")
def on_due(ctx: runtime.Context[None], due: SubscriptionsDue) -> None:
    """Everything due in one subscriber's book: renewals, retries, suspensions, the end, notices, the summary."""
    profile, catalogue = service()
    book_ref, subscriber_ref = ctx.doc(BOOKS, due.msisdn), ctx.doc(store.SUBSCRIBERS, due.msisdn)
    docs = ctx.read(book_ref, subscriber_ref)
    if not docs.exists(book_ref):
        logger.info("no subscriptions book", extra={"msisdn": mask(due.msisdn)})
        return
    book = Book.from_document(due.msisdn, docs.get(book_ref))
    _advance(ctx, profile, catalogue, book, docs.get(subscriber_ref), retry_now=False)


# --- a credit -------------------------------------------------------------------------------


@runtime.consumer("subscriptions-topup")
def on_balance_changed(ctx: runtime.Context[None], change: BalanceChanged) -> None:
    """A credit retries an unpaid renewal at once; any other change (most of them) costs one read or none."""
    if (
        change.direction != "credit"
    ):  # the subscription's filter keeps debits away; a replay or the emulator's push may not
        return
    book_ref = ctx.doc(BOOKS, change.msisdn)
    document = ctx.get(book_ref).to_dict()
    if document is None:
        return
    book = Book.from_document(change.msisdn, document)
    if not lifecycle.failing(book, change.bucket):
        return
    profile, catalogue = service()
    subscriber = ctx.get(ctx.doc(store.SUBSCRIBERS, change.msisdn)).to_dict()
    _advance(ctx, profile, catalogue, book, subscriber, retry_now=True)


# --- applying a look ------------------------------------------------------------------------


def _advance(
    ctx: runtime.Context[None],
    profile: OperatorProfile,
    catalogue: Catalogue,
    book: Book,
    subscriber: dict[str, Any] | None,
    *,
    retry_now: bool,
) -> None:
    """Apply what is due now: debits and allowances, the book, then the SMS and facts through the outbox."""
    account = _open_account(ctx, book.msisdn)
    balances = {name: bucket.balance for name, bucket in account.account.buckets.items()} if account else {}
    result = lifecycle.advance(
        book, catalogue, now=ctx.now, zone=profile.timezone, balances=balances, retry_now=retry_now
    )
    if account is not None and result.charges:
        for charge in result.charges:
            _apply_charge(account, charge)
        ledger.save(ctx, account)
    if result.book != book:
        result.book.at(ctx.now)
        ctx.txn.set(ctx.doc(BOOKS, book.msisdn), result.book.to_document())
    language = profile.language_for((subscriber or {}).get("language"))
    for notice in result.notices:
        ctx.emit(
            "sms.send",
            notices.sms(notice, result.book, catalogue, profile=profile, language=language),
            purpose=notice.purpose,
        )
    for fact in result.facts:
        ctx.emit(fact.topic, _fact(fact, book.msisdn, ctx.now), purpose=fact.purpose)
    if result.changed:
        logger.info(
            "subscriptions advanced",
            extra={
                "msisdn": mask(book.msisdn),
                "charges": len(result.charges),
                "notices": len(result.notices),
                "facts": [fact.topic for fact in result.facts],
                "retry_now": retry_now,
            },
        )


def _open_account(ctx: runtime.Context[None], msisdn: str) -> ledger.Book | None:
    try:
        return ledger.open(ctx, msisdn)
    except ledger.UnknownAccount:
        return None  # nothing to pay with: every renewal due fails, and the timeline runs its course


def _apply_charge(account: ledger.Book, charge: lifecycle.Charge) -> None:
    """One period's debit, and a renewing pack's allowances until its validity ends."""
    if charge.amount:
        account.debit(charge.bucket, charge.amount, reason="subscriptions:renewal", reference=charge.reference)
    for bucket, amount in charge.grants:
        account.credit(
            bucket, amount, expires_at=charge.grants_expire_at, reason="subscriptions:pack", reference=charge.reference
        )


def _fact(fact: lifecycle.Fact, msisdn: str, now: datetime) -> SubscriptionFact:
    item = fact.item
    return SubscriptionFact(
        subscription_id=item.id,
        msisdn=msisdn,
        product=item.product,
        status=item.status,
        price=fact.price,
        currency=item.currency,
        at=now,
        next_charge_at=item.next_charge_at if item.live else None,
        reason=fact.reason,
    )
