"""An offer accepted (or declined at its confirmation step): `voice-plus.accepted`, decided in ONE transaction.

Every read first: the campaign, the subscriber's plays (`offer_caps/{msisdn}`: the offer must have
been made, to this subscriber, by this campaign, or the event activates nothing), the campaign's
budget and the offer's record. Then one of:

- declined: the consent kept as declined, the offer recorded "declined";
- the campaign stopped, or its budget spent (`used >= budget`): the consent kept, the offer
  recorded "failed:stopped" / "failed:budget", an SMS in the subscriber's language saying the offer
  has ended and nothing was charged;
- else the budget's `used` counted up (here and only here, so it is never passed) and
  `subscription.requested` (a plan offer: `subscription.plan-change-requested`) asked with the
  consent, which subscriptions keeps when it decides; the offer recorded "accepted".

Each ends with its funnel step. An offer already recorded is never decided twice, whatever event
brings it again.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.subscriptions import public as subscriptions
from functions.voice_plus.config import in_force
from functions.voice_plus.documents import BUDGETS, CAMPAIGNS, CAPS, OFFERS, Campaign
from functions.voice_plus.offer_events import consent_offer
from functions.voice_plus.stats import funnel_envelope
from shared import consent, runtime
from shared.consent import Consent
from shared.events import (
    FunnelStep,
    OfferAccepted,
    OfferChannel,
    OfferFunnel,
    PlanChangeRequested,
    SmsSend,
    SubscriptionChannel,
    SubscriptionRequested,
)
from shared.msisdn import mask

logger = logging.getLogger("vas.voice_plus.offers")

SOURCE = "voice_plus"  # the `source` of the requests it sends subscriptions: their outcomes come back by it
REQUEST_CHANNEL: dict[OfferChannel, SubscriptionChannel] = {"voice": "ivr", "ussd": "ussd", "sms": "sms"}


def was_made(caps: dict[str, Any] | None, offer_id: str, campaign_id: str) -> bool:
    """Whether the subscriber's plays hold this offer, made by this campaign (reserved when it was chosen)."""
    plays = (caps or {}).get("plays") or []
    return any(play.get("offer") == offer_id and play.get("campaign") == campaign_id for play in plays)


def emit_step(ctx: runtime.Context[Any], offer: dict[str, Any], step: FunnelStep, detail: str | None = None) -> None:
    """Count `step` of the recorded offer: its funnel event leaves with the outbox, its id from the offer and step."""
    funnel = OfferFunnel(
        offer_id=offer["offer_id"],
        campaign_id=offer["campaign"],
        channel=offer["channel"],
        language=offer["language"],
        msisdn=offer["msisdn"],
        step=step,
        at=ctx.now,
        detail=detail,
    )
    ctx.outbox.append(funnel_envelope(funnel, source=ctx.consumer))


def _check(accepted: OfferAccepted, campaign: Campaign | None, caps: dict[str, Any] | None) -> Campaign:
    """The campaign the offer was made by; Rejected for an event no retry can make true (forged or stray)."""
    if not accepted.offer_id.startswith(f"{accepted.channel}:"):
        raise runtime.Rejected(f"offer {accepted.offer_id} was not made on the {accepted.channel} channel")
    if campaign is None:
        raise runtime.Rejected(f"campaign {accepted.campaign_id} does not exist")
    if not was_made(caps, accepted.offer_id, accepted.campaign_id):
        raise runtime.Rejected(f"offer {accepted.offer_id} of {accepted.campaign_id} was never made to this subscriber")
    given = accepted.consent
    if given.msisdn != accepted.msisdn or not given.offer.startswith(f"{SOURCE}.{accepted.campaign_id}."):
        raise runtime.Rejected(f"offer {accepted.offer_id}: the consent is not this subscriber's for this campaign")
    if given.status == "pending":
        raise runtime.Rejected(f"offer {accepted.offer_id}: the consent is still waiting for its answer")
    return campaign


def _ended_because(campaign: Campaign, used: int, given: Consent) -> str | None:
    """Why the offer can no longer be taken (the campaign stopped, its product changed, its budget spent), or None."""
    if campaign.status == "stopped":
        return "stopped"
    if given.offer != consent_offer(campaign):  # consented to the product shown then, not the campaign's now
        return "changed"
    if campaign.budget is not None and used >= campaign.budget:
        return "budget"
    return None


@runtime.consumer("voice-plus-accept")
def on_accepted(ctx: runtime.Context[None], accepted: OfferAccepted) -> None:
    """Ask subscriptions to start the offer within the campaign's budget, or keep why not; the consent kept always."""
    _, config = in_force()
    campaign_ref, caps_ref = ctx.doc(CAMPAIGNS, accepted.campaign_id), ctx.doc(CAPS, accepted.msisdn)
    budget_ref, offer_ref = ctx.doc(BUDGETS, accepted.campaign_id), ctx.doc(OFFERS, accepted.offer_id)
    docs = ctx.read(campaign_ref, caps_ref, budget_ref, offer_ref)
    if docs.exists(offer_ref):
        logger.info("offer already decided", extra={"offer_id": accepted.offer_id})
        return
    campaign = _check(accepted, docs.model(campaign_ref, Campaign), docs.get(caps_ref))
    used = int((docs.get(budget_ref) or {}).get("used", 0))
    offer = {
        "offer_id": accepted.offer_id,
        "campaign": campaign.id,
        "channel": accepted.channel,
        "msisdn": accepted.msisdn,
        "language": accepted.language,
        "product": campaign.offer.product,
        "kind": campaign.offer.kind,
        "shown": accepted.consent.shown,
        "consent_id": accepted.consent.id,
        "accepted_at": accepted.accepted_at,
        "at": ctx.now,
    }
    # Kept whatever follows (declined, ended, or refused by subscriptions before it writes its own copy).
    consent.write(ctx, accepted.consent)
    if not accepted.consent.confirmed:
        ctx.txn.create(offer_ref, {**offer, "outcome": "declined"})
        emit_step(ctx, offer, "declined")
        return
    ended = _ended_because(campaign, used, accepted.consent)
    if ended is not None:
        ctx.txn.create(offer_ref, {**offer, "outcome": f"failed:{ended}"})
        ctx.emit("sms.send", _ended_sms(accepted, campaign, config.short_code), purpose="ended")
        emit_step(ctx, offer, "failed", detail=ended)
        logger.info("offer ended before it was taken", extra={"offer_id": accepted.offer_id, "reason": ended})
        return
    ctx.txn.set(budget_ref, {"campaign": campaign.id, "used": used + 1, "updated_at": ctx.now})
    ctx.txn.create(offer_ref, {**offer, "outcome": "accepted"})
    topic, request = plan_or_product_request(accepted, campaign)
    ctx.emit(topic, request, purpose="request")
    emit_step(ctx, offer, "accepted")
    logger.info("offer accepted", extra={"offer_id": accepted.offer_id, "msisdn": mask(accepted.msisdn)})


def plan_or_product_request(
    accepted: OfferAccepted, campaign: Campaign
) -> tuple[str, SubscriptionRequested | PlanChangeRequested]:
    """What subscriptions is asked: start the product (or pack), or change plan; the offer's id is the request's."""
    common = {
        "request_id": accepted.offer_id,
        "msisdn": accepted.msisdn,
        "channel": REQUEST_CHANNEL[accepted.channel],
        "requested_at": accepted.accepted_at,
        "source": SOURCE,
        "consent": accepted.consent,
    }
    if campaign.offer.kind == "plan":
        return subscriptions.PLAN_CHANGE_REQUESTED, PlanChangeRequested(plan=campaign.offer.product, **common)
    return subscriptions.REQUESTED, SubscriptionRequested(product=campaign.offer.product, **common)


def _ended_sms(accepted: OfferAccepted, campaign: Campaign, short_code: str) -> SmsSend:
    """The subscriber is told the offer they took has ended and nothing was charged, in their language."""
    terms = subscriptions.terms(campaign.offer.product)
    name = terms.name_in(accepted.language) if terms is not None else campaign.name
    return SmsSend(
        to=accepted.msisdn,
        template="voice_plus.offer.ended",
        params={"name": name},
        language=accepted.language,
        sender=short_code,
        reference=accepted.offer_id,
    )
