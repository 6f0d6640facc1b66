"""Settlement: the account's unsettled usage records applied to its credits, a batch in ONE transaction.

`on_settle` (consumer `credits-settle`, ordered by account) opens the account, queries up to
`settle_batch` unsettled records oldest first INSIDE the transaction, takes what they used in one
debit (one ledger entry for the batch, oldest purchase first; what the balance cannot cover is
each record's shortfall: never below zero), marks every record settled with the lots it drew
from, runs auto-recharge on the new balance, and writes the account once. More records waiting
-> another settlement. A record a usage consumer is still committing while the query runs is
not lost: its own settlement is published after that commit and picks it up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from functions.credits import notices, recharge, wallet
from functions.credits.documents import USAGE, CreditAccount, LotDraw, Usage
from shared import localtime, payments, runtime
from shared.events import CreditChargeRequested, CreditsSettle
from shared.ledger_core import LotMovement

logger = logging.getLogger("vas.credits")

# Every credits function is deployed with the payment gateway's secrets: without them it refuses to start.
payments.require_settings()


class Applied(NamedTuple):
    """What one usage record took: from the credits, short of them, and from which purchases."""

    debited: int
    shortfall: int
    lots: tuple[LotDraw, ...] = ()


@runtime.consumer("credits-settle")
def on_settle(ctx: runtime.Context[None], settle: CreditsSettle) -> None:
    """Apply a batch of the account's waiting usage (oldest first), once, and recharge if it crossed the trigger."""
    try:
        opened = wallet.open(ctx, settle.account_id)
    except wallet.UnknownCreditAccount as error:
        raise runtime.Rejected(str(error)) from None
    batch = opened.config.settle_batch
    snapshots = unsettled(ctx, settle.account_id, batch + 1)  # one more than a batch: whether more wait
    waiting, more = snapshots[:batch], len(snapshots) > batch
    if not waiting and not opened.entries:
        return  # settled by an earlier settlement (most of a busy account's settlements find nothing)
    records = [Usage.model_validate(snapshot.to_dict()) for snapshot in waiting]
    applied = apply_batch(opened, records, reference=ctx.event.id)
    entry_id = opened.entries[-1].id if any(item.debited for item in applied) else None
    for snapshot, record, taken in zip(waiting, records, applied, strict=True):
        ctx.txn.update(
            snapshot.reference,
            {
                "settled": True,
                "settled_at": ctx.now,
                "debited": taken.debited,
                "shortfall": taken.shortfall,
                "lots": [draw.model_dump() for draw in taken.lots],
                "entry_id": entry_id if taken.debited else None,
            },
        )
        if taken.shortfall:
            logger.warning(
                "credits usage beyond balance",
                extra={"account_id": settle.account_id, "reference": record.reference, "shortfall": taken.shortfall},
            )
    balance_moved(ctx, opened)
    wallet.save(ctx, opened, force=True)
    if more:
        ctx.emit("credits.settle", CreditsSettle(account_id=settle.account_id), purpose="more")
    logger.info(
        "credits usage settled",
        extra={"account_id": settle.account_id, "records": len(records), "balance": opened.balance, "more": more},
    )


def unsettled(ctx: runtime.Context[Any], account_id: str, limit: int) -> list[firestore.DocumentSnapshot]:
    """The account's unsettled usage records, oldest first, read in the transaction."""
    query = (
        ctx.db.collection(USAGE)
        .where(filter=FieldFilter("account_id", "==", account_id))
        .where(filter=FieldFilter("settled", "==", False))
        .order_by("at")
        .limit(limit)
    )
    return list(query.stream(transaction=ctx.txn))


def apply_batch(opened: wallet.Wallet, records: Sequence[Usage], *, reference: str) -> list[Applied]:
    """Debit what the records used in ONE ledger entry (as far as the balance goes) and tell each its share."""
    shares = covered([record.amount for record in records], opened.balance)
    total = sum(debited for debited, _ in shares)
    movements = opened.debit(total, reason="usage", reference=reference).lots if total else ()
    draws = split_draws([debited for debited, _ in shares], movements)
    return [Applied(debited, shortfall, tuple(lots)) for (debited, shortfall), lots in zip(shares, draws, strict=True)]


def covered(amounts: Sequence[int], balance: int) -> list[tuple[int, int]]:
    """(debited, shortfall) of each amount in turn, taken from `balance` until it runs out."""
    shares, left = [], max(balance, 0)
    for amount in amounts:
        debited = min(amount, left)
        left -= debited
        shares.append((debited, amount - debited))
    return shares


def split_draws(debits: Sequence[int], movements: Sequence[LotMovement]) -> list[list[LotDraw]]:
    """The batch's lot movements (oldest purchase first) shared out to the records in turn."""
    remaining = [(movement.lot_id, -movement.amount) for movement in movements]
    draws: list[list[LotDraw]] = []
    for debit in debits:
        mine: list[LotDraw] = []
        while debit:
            lot_id, left = remaining[0]
            taken = min(left, debit)
            mine.append(LotDraw(lot_id=lot_id, amount=taken))
            debit -= taken
            remaining[0] = (lot_id, left - taken)
            if remaining[0][1] == 0:
                remaining.pop(0)
        draws.append(mine)
    if remaining:
        raise ValueError(f"{sum(left for _, left in remaining)} debited but drawn by no record")
    return draws


# --- the balance moved: auto-recharge and the zero email ------------------------------------


def balance_moved(ctx: runtime.Context[Any], opened: wallet.Wallet) -> None:
    """After usage or an expiry: run auto-recharge on the new balance (one recharge per crossing) and its emails."""
    account = opened.account
    step = recharge.after_balance(
        account.id,
        account.auto,
        account.recharge,
        card=account.card is not None,
        balance=opened.balance,
        month=localtime.month_of(ctx.now, opened.profile.timezone),
    )
    follow(ctx, opened, step)


def follow(
    ctx: runtime.Context[Any],
    opened: wallet.Wallet,
    step: recharge.Step,
    *,
    reason: Literal["auto", "network"] = "auto",
    requested_by: str | None = None,
) -> None:
    """Keep the step's recharge state, ask for the recharge it starts, and send the emails it calls for."""
    opened.account.recharge = step.state
    if step.recharge is not None:
        request_charge(ctx, opened.account, step.recharge, reason=reason, requested_by=requested_by)
    notices.tell(ctx, opened, step)


def request_charge(
    ctx: runtime.Context[Any],
    account: CreditAccount,
    asked: recharge.Recharge,
    *,
    reason: Literal["auto", "network"] = "auto",
    requested_by: str | None = None,
) -> None:
    """Ask the charging consumer for one attempt of an auto-recharge (the charge id names the crossing).

    The account's state records when (the clock asks again if the attempt is never answered).
    """
    account.recharge = recharge.asked(account.recharge, ctx.now)
    ctx.emit(
        "credits.charge-requested",
        CreditChargeRequested(
            account_id=account.id,
            charge_id=asked.charge_id,
            amount=asked.amount,
            reason=reason,
            channel=reason,
            attempt=asked.attempt,
            requested_by=requested_by,
            requested_at=ctx.now,
        ),
        purpose=f"charge/{asked.idempotency_key}",
    )
