"""Card charges: a top-up or an auto-recharge paid once per attempt, credited once per charge.

credits-charge (`credits.charge-requested`): before its transaction (runtime `before`) the charge
is opened — `credit_charges/{charge_id}` created on first sight, or moved to the retry's attempt,
in a small transaction of its own, so the gateway's webhook always finds it — and the gateway
charges the card on file under the idempotency key `<charge_id>.<attempt>`: a redelivery, or a
delivery after a crash, is the same PaymentIntent, never a second payment. The consumer's
transaction then applies the gateway's reply.

credits-payment-reported (`credits.payment-reported`, the gateway's signed webhook): the same
`apply`, so a webhook replayed, or arriving before or after the reply, credits nothing twice.

`apply` (one transaction): the charge re-read, `charges.settle` decides whether this answer
changes it; a success credits a lot expiring `expiry_months` later; the account's recharge state
moves (recharge.after_payment: re-armed, retried later, or auto-recharge off after the third
failure in a row); the holder is emailed (notices.py). Top-ups by hand go the same way: they
touch the auto-recharge only through the balance they add.
"""

from __future__ import annotations

import logging
from typing import Any

from google.cloud import firestore

from functions.credits import charges, notices, recharge, wallet
from functions.credits.charges import Asked, Outcome
from functions.credits.documents import CHARGES, Charge, CreditAccount, to_document
from shared import localtime, payments, runtime, store
from shared.events import CreditChargeRequested, PaymentReported, utcnow

logger = logging.getLogger("vas.credits")

# Every credits function is deployed with the payment gateway's secrets: without them it refuses to start.
payments.require_settings()

# A charge with no card to take it from (removed since it was asked for) fails like a decline, with this code.
NO_CARD = "no_card"
PURCHASE = "purchase"  # the ledger entry's reason for credits bought by card


def _charge_ref(db: firestore.Client, charge_id: str) -> firestore.DocumentReference:
    return db.collection(CHARGES).document(charge_id)


def open_charge(request: CreditChargeRequested) -> tuple[CreditAccount, Charge | None]:
    """The account and the charge to ask the gateway for (created or moved to this attempt); None: nothing to ask."""
    db = store.db()
    account_ref, charge_ref = wallet.account_ref(db, request.account_id), _charge_ref(db, request.charge_id)

    @firestore.transactional
    def in_transaction(txn: firestore.Transaction) -> tuple[CreditAccount, Charge | None]:
        found = {snap.reference.path: snap.to_dict() for snap in db.get_all([account_ref, charge_ref], transaction=txn)}
        if found.get(account_ref.path) is None:
            raise runtime.Rejected(f"no credit account {request.account_id!r} to charge")
        account = CreditAccount.model_validate(found[account_ref.path])
        stored = found.get(charge_ref.path)
        existing = None if stored is None else Charge.model_validate(stored)
        if existing is not None and existing.account_id != request.account_id:
            raise runtime.Rejected(f"charge {request.charge_id} is another account's")
        charge = charges.opened(
            existing, request, currency=account.currency, now=utcnow(), customer=account.customer, card=account.card
        )
        if charge is not None and charge != existing:
            txn.set(charge_ref, to_document(charge))
        return account, charge

    return runtime.transact(db, in_transaction, label="credits-charge/open")


def ask_gateway(request: CreditChargeRequested) -> Asked | None:
    """Open the charge and charge its card (outside any transaction); None when there is nothing to ask.

    The card is the one pinned on the charge when this attempt opened, not the card on file now: a
    redelivery is the same request under the same idempotency key.

    payments.PaymentError (the gateway unreachable) propagates: the message is delivered again and
    asks again under the same idempotency key.
    """
    account, charge = open_charge(request)
    if charge is None:
        logger.info("charge needs no payment", extra={"charge_id": request.charge_id, "attempt": request.attempt})
        return None
    if charge.card is None or charge.customer is None:
        return Asked(charge.id, Outcome(charge.attempt, "failed", failure_code=NO_CARD))
    result = payments.gateway().charge(
        customer=charge.customer,
        card=charge.card.token,
        amount=charge.amount,
        currency=charge.currency,
        idempotency_key=recharge.Recharge(charge.id, charge.amount, charge.attempt).idempotency_key,
        metadata={"account_id": account.id, "charge_id": charge.id, "attempt": str(charge.attempt)},
    )
    logger.info(
        "card charged",
        extra={"charge_id": charge.id, "attempt": charge.attempt, "status": result.status, "code": result.failure_code},
    )
    outcome = Outcome(charge.attempt, result.status, result.payment_intent, result.failure_code, result.failure_message)
    return Asked(charge.id, outcome)


@runtime.consumer("credits-charge", before=ask_gateway)
def on_charge_requested(ctx: runtime.Context[None], request: CreditChargeRequested) -> None:
    """Apply the gateway's reply to the charge it was asked for (before this transaction)."""
    asked: Asked | None = ctx.prepared
    if asked is not None:
        apply(ctx, request.account_id, asked.charge_id, asked.outcome)


@runtime.consumer("credits-payment-reported")
def on_payment_reported(ctx: runtime.Context[None], report: PaymentReported) -> None:
    """Apply the gateway's webhook about a charge: the same path as its reply, so it counts once."""
    outcome = Outcome(report.attempt, report.status, report.payment_intent, report.failure_code, report.failure_message)
    apply(ctx, report.account_id, report.charge_id, outcome, reported=(report.amount, report.currency))


def apply(
    ctx: runtime.Context[Any],
    account_id: str,
    charge_id: str,
    outcome: Outcome,
    *,
    reported: tuple[int, str] | None = None,
) -> None:
    """Record `outcome` on the charge once: credit on success, recharge state and emails either way."""
    account_ref, charge_ref = wallet.account_ref(ctx.db, account_id), _charge_ref(ctx.db, charge_id)
    docs = ctx.read(account_ref, charge_ref)
    account, charge = docs.model(account_ref, CreditAccount), docs.model(charge_ref, Charge)
    if account is None or charge is None or charge.account_id != account_id:
        raise runtime.Rejected(f"no charge {charge_id} of credit account {account_id!r}")
    if reported is not None and reported != (charge.amount, charge.currency):
        raise runtime.Rejected(
            f"the gateway reports {reported} for charge {charge_id} of {charge.amount} {charge.currency}"
        )
    settled = charges.settle(charge, outcome, ctx.now)
    if settled is None:
        logger.info("payment already applied", extra={"charge_id": charge_id, "attempt": outcome.attempt})
        return
    if settled.status == "requested":  # processing: the webhook will tell
        ctx.txn.set(charge_ref, to_document(settled))
        return
    opened = wallet.wallet_of(account, ctx.now)
    succeeded = settled.status == "succeeded"
    if succeeded:
        entry = opened.credit(settled.amount, reason=PURCHASE, reference=settled.id)
        settled = settled.model_copy(update={"entry_id": entry.id, "expires_at": entry.expires_at})
    step = recharge.after_payment(
        account.auto,
        account.recharge,
        charge_id=settled.id,
        succeeded=succeeded,
        amount=settled.amount,
        balance=opened.balance,
        month=localtime.month_of(ctx.now, opened.profile.timezone),
        now=ctx.now,
        retry_hours=opened.config.retry_hours,
        max_failures=opened.config.max_consecutive_failures,
        failure=settled.failure_code,
    )
    account.recharge = step.state
    if step.disable:
        account.auto = account.auto.model_copy(update={"enabled": False})
    notices.tell(ctx, opened, step, charge=settled)
    wallet.save(ctx, opened, force=True)
    ctx.txn.set(charge_ref, to_document(settled))
    logger.info(
        "charge %s",
        settled.status,
        extra={"charge_id": settled.id, "attempt": settled.attempt, "account_id": account_id},
    )
