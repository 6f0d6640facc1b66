"""Lot expiry: the clock's sweep fans out one event per account with due lots; each event expires them.

Expiry is an event, never a silent disappearance: every expired lot leaves a ledger entry, a
`ledger.lot-expired` event and a `balance.changed` event (shared/ledger.py emits them on save).
"""

from __future__ import annotations

import logging
from datetime import datetime

from shared import ledger, runtime
from shared.events import ClockTick, ExpireAccount

logger = logging.getLogger("vas.ledger.expiry")

# Accounts per sweep page: the page's events are stored in the processed marker's outbox, and
# 400 envelopes stay far below Firestore's 1 MiB document limit. Longer lists continue in a
# follow-up tick carrying a cursor.
SWEEP_PAGE = 400


@runtime.consumer("ledger-expiry-sweep")
def on_expiry_tick(ctx: runtime.Context, tick: ClockTick) -> None:
    """Queue `ledger.expire-account` for each account with a lot due, one page at a time."""
    due_before = min(tick.at or ctx.now, ctx.now)  # a tick from the future never expires money early
    page = ledger.accounts_due(ctx.db, due_before, SWEEP_PAGE, after=parse_cursor(tick.cursor))
    for _, msisdn in page:
        ctx.emit("ledger.expire-account", ExpireAccount(msisdn=msisdn, due_before=due_before),
                 purpose=f"expire/{msisdn}")
    if len(page) == SWEEP_PAGE:
        ctx.emit("clock.ledger-expiry", ClockTick(at=due_before, cursor=format_cursor(*page[-1])),
                 purpose="next-page")
    logger.info("expiry sweep page", extra={"accounts": len(page), "continues": len(page) == SWEEP_PAGE})


@runtime.consumer("ledger-expire-account")
def on_expire_account(ctx: runtime.Context, order: ExpireAccount) -> None:
    """Expire the account's due lots; a second run finds nothing due and changes nothing."""
    try:
        book = ledger.open(ctx, order.msisdn)  # opening records the expiry of every lot due now
    except ledger.UnknownAccount:
        logger.warning("expiry for an account that no longer exists", extra={"msisdn": order.msisdn})
        return
    ledger.save(ctx, book)


def format_cursor(next_expiry: datetime, msisdn: str) -> str:
    return f"{next_expiry.isoformat()}|{msisdn}"


def parse_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        when, msisdn = cursor.split("|", 1)
        return datetime.fromisoformat(when), msisdn
    except ValueError:
        raise runtime.Rejected(f"not a sweep cursor: {cursor!r}") from None
