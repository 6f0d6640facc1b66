"""A card charge's own record, decided: one gateway payment per attempt, credited once (pure: no I/O).

A charge (documents.Charge, `credit_charges/{charge_id}`) is opened when its request is first seen,
before the gateway is asked, so the gateway's webhook always finds it. Its status moves
requested -> succeeded (credited: final) or requested -> failed | requires_action (this attempt
answered; a retry of an auto-recharge opens the next attempt, requested again). Every answer
about an attempt, the gateway's own reply and its webhooks alike, goes through `settle`: whatever
arrives twice or late changes nothing, so the account is credited once per charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from functions.credits.documents import Card, Charge
from shared.events import CreditChargeRequested

GatewayStatus = Literal["succeeded", "failed", "requires_action", "processing"]

# Off-session, a card that wants its holder to authenticate cannot be charged: a failure like a decline.
AUTHENTICATION_REQUIRED = "authentication_required"


@dataclass(frozen=True)
class Outcome:
    """What the gateway said about one attempt of a charge (its reply, or its webhook)."""

    attempt: int
    status: GatewayStatus
    payment_intent: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class Asked:
    """A charge the gateway was asked for (outside the transaction), and its reply."""

    charge_id: str
    outcome: Outcome


def opened(
    existing: Charge | None,
    request: CreditChargeRequested,
    *,
    currency: str,
    now: datetime,
    customer: str | None = None,
    card: Card | None = None,
) -> Charge | None:
    """The charge to ask the gateway for after `request`; None when there is nothing to ask.

    Nothing to ask: the charge is credited, this attempt was already answered, or the request is of
    an older attempt. The same attempt still unanswered is asked again (a redelivery, or a crash
    between the payment and its record): the gateway's idempotency key makes it the same payment,
    so it is asked with the customer and card pinned when the attempt opened (the gateway refuses a
    key sent again with other parameters); a new attempt takes the card on file now.
    """
    if existing is None:
        return Charge(
            id=request.charge_id,
            account_id=request.account_id,
            amount=request.amount,
            currency=currency,
            reason=request.reason,
            channel=request.channel,
            attempt=request.attempt,
            requested_by=request.requested_by,
            requested_at=request.requested_at,
            updated_at=now,
            customer=customer,
            card=card,
        )
    if existing.status == "succeeded" or request.attempt < existing.attempt:
        return None
    if request.attempt == existing.attempt:
        return existing if existing.status == "requested" else None
    if existing.status == "requested":  # the earlier attempt is unanswered (processing): never two payments at once
        return None
    return existing.model_copy(
        update={
            "status": "requested",
            "attempt": request.attempt,
            "payment_intent": None,
            "failure_code": None,
            "failure_message": None,
            "updated_at": now,
            "customer": customer,
            "card": card,
        }
    )


def settle(charge: Charge, outcome: Outcome, now: datetime) -> Charge | None:
    """The charge after `outcome`; None when it changes nothing (credited already, an answered or older attempt).

    A success is taken whichever attempt it names (the money was taken); a failure only for the
    attempt under way and only once; `processing` keeps it requested, waiting for the webhook.
    """
    if charge.status == "succeeded":
        return None
    if outcome.status == "succeeded":
        return charge.model_copy(
            update={
                "status": "succeeded",
                "payment_intent": outcome.payment_intent,
                "failure_code": None,
                "failure_message": None,
                "updated_at": now,
            }
        )
    if outcome.attempt != charge.attempt or charge.status != "requested":
        return None
    if outcome.status == "processing":
        if outcome.payment_intent is None or outcome.payment_intent == charge.payment_intent:
            return None
        return charge.model_copy(update={"payment_intent": outcome.payment_intent, "updated_at": now})
    code = AUTHENTICATION_REQUIRED if outcome.status == "requires_action" else outcome.failure_code
    return charge.model_copy(
        update={
            "status": outcome.status,
            "payment_intent": outcome.payment_intent or charge.payment_intent,
            "failure_code": code or "card_declined",
            "failure_message": outcome.failure_message,
            "updated_at": now,
        }
    )
