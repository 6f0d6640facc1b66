"""What subscriptions made of an accepted offer (`subscription.request-decided`, source voice_plus), in ONE transaction.

- started / changed: the offer recorded "activated", the funnel's activation counted;
- refused:<reason> (or any other outcome that started nothing, such as ask_again when the price
  changed since the offer named it): the offer recorded "failed:<reason>", the failure counted with
  its reason, and the campaign's budget given back its one (a refused activation does not spend it);
- asked / declined / expired: subscriptions' own SMS dialogue, not an outcome of an offer: ignored.

subscriptions has already told the subscriber the result (its receipt or refusal, in their language).
Only an offer recorded "accepted" changes, so an outcome delivered twice is applied once.
"""

from __future__ import annotations

import logging

from google.cloud import firestore

from functions.voice_plus.documents import BUDGETS, OFFERS
from functions.voice_plus.offers import SOURCE, emit_step
from shared import runtime
from shared.events import SubscriptionRequestDecided

logger = logging.getLogger("vas.voice_plus.outcomes")

ACTIVATED = frozenset({"started", "changed"})
DIALOGUE = frozenset({"asked", "declined", "expired"})  # subscriptions' own SMS question and its answers
REFUSED = "refused:"


@runtime.consumer("voice-plus-decided")
def on_request_decided(ctx: runtime.Context[None], decided: SubscriptionRequestDecided) -> None:
    """Record the activation or its failure on the offer; a refusal gives the campaign's budget back its one."""
    if decided.source != SOURCE:  # the subscription's filter keeps others' out; a push without it is not ours either
        return
    if decided.outcome in DIALOGUE:
        logger.info("not an offer's outcome", extra={"offer_id": decided.request_id, "outcome": decided.outcome})
        return
    offer_ref = ctx.doc(OFFERS, decided.request_id)
    offer = ctx.get(offer_ref).to_dict()
    if offer is None:
        raise runtime.Rejected(f"request {decided.request_id} is not an offer voice_plus made")
    if offer.get("outcome") != "accepted":  # decided already (a redelivery, or the same outcome published again)
        logger.info("offer outcome already kept", extra={"offer_id": decided.request_id, "outcome": offer["outcome"]})
        return
    if decided.outcome in ACTIVATED:
        ctx.txn.update(offer_ref, {"outcome": "activated", "decided_at": decided.decided_at})
        emit_step(ctx, offer, "activated")
        return
    reason = decided.outcome.removeprefix(REFUSED)
    ctx.txn.update(offer_ref, {"outcome": f"failed:{reason}", "decided_at": decided.decided_at})
    # An increment needs no read: giving the one back adds no contention to the accepting transactions' reads.
    ctx.txn.set(ctx.doc(BUDGETS, offer["campaign"]), {"used": firestore.Increment(-1)}, merge=True)
    emit_step(ctx, offer, "failed", detail=reason[:80])
    logger.info("offer activation refused", extra={"offer_id": decided.request_id, "reason": reason})
