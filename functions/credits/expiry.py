"""The clock's work on credit accounts: expiry notices, expiries, auto-recharge retries.

`on_tick` (every 15 minutes, `clock.credits`) pages through `credit_accounts` by `next_due_at`
and fans out one `credits.due` per account (shared/sweep.py), so each transaction is one
account's. `on_due` opens the account (lots past their 12 months are forfeited: `credits.expired`
and an email each, wallet.save), sends each expiry notice once (`expiry_notices` records it),
runs auto-recharge on the balance (an expiry can take it below the trigger), retries a failed
recharge whose wait is over (unless the balance is back at or above the trigger), asks again for an
attempt left unanswered (its request dead-lettered), and sets `next_due_at` for the next look.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from google.cloud import firestore

from functions.credits import mail, recharge, wallet
from functions.credits.documents import ACCOUNTS
from functions.credits.settle import balance_moved, request_charge
from shared import payments, runtime, sweep
from shared.events import ClockTick, CreditsDue

logger = logging.getLogger("vas.credits")

# Every credits function is deployed with the payment gateway's secrets: without them it refuses to start.
payments.require_settings()

# Accounts one clock page fans out: the page's events live in the tick's processed marker, and
# 300 envelopes stay far below Firestore's 1 MiB document; more continue in a follow-up tick.
SWEEP_PAGE = 300


@runtime.consumer("credits-tick")
def on_tick(ctx: runtime.Context[None], tick: ClockTick) -> None:
    """Fan out one `credits.due` per account whose `next_due_at` has come, a page at a time."""
    sweep.run(
        ctx, tick, [sweep.Sweep(functools.partial(_due_page, ctx.db))], follow_up="clock.credits", page_size=SWEEP_PAGE
    )


def _due_page(db: firestore.Client, now: datetime, after: sweep.Position | None, limit: int) -> list[sweep.Due]:
    return [
        sweep.Due(
            position, "credits.due", CreditsDue(account_id=position[1], due_before=now), purpose=f"due/{position[1]}"
        )
        for position in sweep.due_positions(db, ACCOUNTS, "next_due_at", now, limit, after)
    ]


@runtime.consumer("credits-due")
def on_due(ctx: runtime.Context[None], due: CreditsDue) -> None:
    """Everything due on one account: expiries, notices, auto-recharge on the new balance, a retry."""
    try:
        opened = wallet.open(ctx, due.account_id)  # forfeits the lots due (saved below, with their emails)
    except wallet.UnknownCreditAccount:
        logger.info("credit account gone before its due look", extra={"account_id": due.account_id})
        return
    send_expiry_notices(ctx, opened)
    balance_moved(ctx, opened)
    account = opened.account
    retry = recharge.retry_due(account.auto, account.recharge, now=ctx.now, balance=opened.balance)
    account.recharge = retry.state
    if retry.recharge is not None:
        request_charge(ctx, account, retry.recharge)
    wallet.save(ctx, opened, force=True)


def send_expiry_notices(ctx: runtime.Context[None], opened: wallet.Wallet) -> None:
    """Tell the holder of each purchase about to expire, once per notice (the nearest one due)."""
    account, profile = opened.account, opened.profile
    for lot, days in wallet.notices_due(opened.book, opened.config, account.expiry_notices, ctx.now):
        assert lot.expires_at is not None  # notices_due gives dated lots only
        mail.send(
            ctx,
            account,
            "email.credits_expiry_notice",
            {
                "amount": profile.currency.format(lot.amount),
                "expires": mail.day(lot.expires_at, profile, account.language),
                "purchased": mail.day(lot.credited_at, profile, account.language),
                "days": days,
            },
            purpose=f"expiry-notice/{account.id}/{lot.id}/{days}",
        )
        account.expiry_notices = sorted(set(account.expiry_notices) | set(wallet.notice_keys(lot, days, opened.config)))
