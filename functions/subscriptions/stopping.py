"""Stopping subscriptions (subscription.cancel-requested) and a recycled number's old owner (subscriber.reassigned).

STOP is effective at once: the item is cancelled in the transaction that reads it, nothing more
is charged for it (a renewal due later finds it cancelled), and one SMS confirms what stopped.
Whatever was paid for stays: a pack's allowances keep their expiry. STOP ALL stops every live one.
"""

from __future__ import annotations

import logging
from datetime import datetime

from functions.subscriptions.documents import Book, Item
from functions.subscriptions.subscriber import book_ref, file_old_owners, old_owners, session, signed
from shared import archive, runtime
from shared.events import SubscriberReassigned, SubscriptionCancelRequested

logger = logging.getLogger("vas.subscriptions.stopping")


def to_stop(book: Book, request: SubscriptionCancelRequested) -> list[Item]:
    """The live items a request names (every live one for STOP ALL), in the order SUBS lists them."""
    live = book.live()
    if request.every:
        return live
    named = set(request.subscription_ids)
    return [item for item in live if item.id in named]


def stopped(item: Item, *, reason: str, now: datetime) -> Item:
    """The item cancelled now: no next charge, no retry."""
    return item.model_copy(
        update={
            "status": "cancelled",
            "ended_at": now,
            "end_reason": reason,
            "next_charge_at": None,
            "next_retry_at": None,
        }
    )


@runtime.consumer("subscriptions-cancel")
def on_cancel(ctx: runtime.Context[None], request: SubscriptionCancelRequested) -> None:
    """Cancel the named subscriptions (or all) at once, confirm by SMS, and tell others each one ended."""
    here = session(ctx, request.msisdn, f"subscriptions-stop:{request.request_id}")
    here.start_writing()
    items = to_stop(here.book, request)
    if not items:
        live = here.book.live()
        here.tell(
            "subscriptions.not_running" if live and not request.every else "subscriptions.nothing_to_stop",
            {},
            purpose="stop",
        )
        logger.info("nothing to stop", extra={"msisdn": request.msisdn, "every": request.every})
        return
    reason = f"stop:{request.channel}" + (f":{request.by}" if request.by else "")
    names = []
    for item in items:
        here.book.items[item.id] = stopped(item, reason=reason, now=ctx.now)
        product = here.catalogue.product(item.product)
        names.append(product.name_in(here.language) if product else item.product)
        here.fact("subscription.cancelled", item.id, item.product, "cancelled", item.price, reason=reason)
    here.save_book()
    here.tell("subscriptions.cancelled", {"names": ", ".join(names), "count": len(names)}, purpose="stop")
    logger.info(
        "subscriptions stopped",
        extra={"msisdn": request.msisdn, "items": [item.id for item in items], "channel": request.channel},
    )


@runtime.consumer("subscriptions-reassigned")
def on_reassigned(ctx: runtime.Context[None], event: SubscriberReassigned) -> None:
    """The number has a new owner: the old owner's book goes to the archive, so nobody renews it on the new owner.

    The new owner's first request files it already (subscribe.py): then the book is theirs and stays.
    """
    ref, root = book_ref(ctx, event.msisdn), archive.root(ctx, event.archive_id)
    docs = ctx.read(ref, root)
    if signed(docs.get(root)):
        logger.info("old owner's subscriptions were filed already", extra={"msisdn": event.msisdn})
        return
    file_old_owners(ctx, old_owners(ctx, event.archive_id, event.msisdn, docs.get(ref)))
