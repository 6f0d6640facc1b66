"""Lot expiry: the clock's sweep fans out one event per account with due lots; each event expires them.

Expiry is an event, never a silent disappearance: every expired lot leaves a ledger entry, a
`ledger.lot-expired` event and a `balance.changed` event (shared/ledger.py emits them on save),
and the subscriber is told by SMS (`on_lot_expired`), whichever transaction found the lot due.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from google.cloud import firestore

from shared import ledger, operator, runtime, store, sweep
from shared.events import ClockTick, ExpireAccount, LotExpired, SmsSend

logger = logging.getLogger("vas.ledger.expiry")

# Accounts per sweep page: the page's events are stored in the processed marker's outbox, and
# 400 envelopes stay far below Firestore's 1 MiB document limit. Longer lists continue in a
# follow-up tick carrying a cursor.
SWEEP_PAGE = 400


@runtime.consumer("ledger-expiry-sweep")
def on_expiry_tick(ctx: runtime.Context[None], tick: ClockTick) -> None:
    """Queue `ledger.expire-account` for each account with a lot due, one page at a time."""
    sweep.run(
        ctx,
        tick,
        [sweep.Sweep(functools.partial(_accounts_due, ctx.db))],
        follow_up="clock.ledger-expiry",
        page_size=SWEEP_PAGE,
    )


def _accounts_due(
    db: firestore.Client, due_before: datetime, after: sweep.Position | None, limit: int
) -> list[sweep.Due]:
    """One page of the accounts with a lot due by `due_before`, each an expiry order."""
    return [
        sweep.Due(
            (next_expiry, msisdn),
            "ledger.expire-account",
            ExpireAccount(msisdn=msisdn, due_before=due_before),
            purpose=f"expire/{msisdn}",
        )
        for next_expiry, msisdn in ledger.accounts_due(db, due_before, limit, after=after)
    ]


@runtime.consumer("ledger-expire-account")
def on_expire_account(ctx: runtime.Context[None], order: ExpireAccount) -> None:
    """Expire the account's due lots; a second run finds nothing due and changes nothing."""
    try:
        book = ledger.open(ctx, order.msisdn)  # opening records the expiry of every lot due now
    except ledger.UnknownAccount:
        logger.warning("expiry for an account that no longer exists", extra={"msisdn": order.msisdn})
        return
    ledger.save(ctx, book)


@runtime.consumer("ledger-expiry-notice")
def on_lot_expired(ctx: runtime.Context[None], expired: LotExpired) -> None:
    """Tell the subscriber how much of which balance expired, and what is left of it."""
    subscriber_ref, account_ref = ctx.doc(store.SUBSCRIBERS, expired.msisdn), ctx.doc(store.ACCOUNTS, expired.msisdn)
    docs = ctx.read(subscriber_ref, account_ref)
    subscriber, account_document = docs.get(subscriber_ref), docs.get(account_ref)
    if subscriber is None or account_document is None:
        logger.info(
            "expired credit of a number with no subscriber left; nobody to tell",
            extra={"msisdn": expired.msisdn, "lot_id": expired.lot_id},
        )
        return
    profile = operator.current()
    language = profile.language_for(subscriber.get("language"))
    ctx.emit(
        "sms.send",
        SmsSend(
            to=expired.msisdn,
            template="ledger.expiry.notice",
            language=language,
            reference=f"ledger-expiry:{expired.msisdn}:{expired.lot_id}",  # lot ids count per account
            params={
                "amount": ledger.bucket_amount(expired.bucket, expired.amount, language, profile.currency),
                "bucket": ledger.bucket_label(expired.bucket, language),
                "balance": ledger.bucket_amount(
                    expired.bucket,
                    ledger.account_from_document(account_document).as_of(ctx.now).balance(expired.bucket),
                    language,
                    profile.currency,
                ),
            },
        ),
        purpose="notice",
    )
