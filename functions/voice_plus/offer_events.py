"""The offer's events as every channel publishes them: one funnel step, one acceptance, with their ids.

A funnel step's id comes from the offer and the step's place in it (`funnel/<step>/<n>`), so the
same step published again (a retried webhook, a redelivered event) is counted once by the stats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.subscriptions.public import Terms
from functions.voice_plus.documents import Campaign
from functions.voice_plus.stats import funnel_event_id
from shared import catalog, runtime, texts
from shared.consent import Consent
from shared.events import FunnelStep, OfferAccepted, OfferChannel, OfferFunnel, Payload, derive_event_id
from shared.money import Currency

FUNNEL = "voice-plus.funnel"
ACCEPTED = "voice-plus.accepted"


def funnel_step(
    offer_id: str,
    campaign: Campaign,
    language: str,
    msisdn: str,
    step: FunnelStep,
    at: datetime,
    n: int,
    detail: str | None = None,
) -> tuple[OfferFunnel, str]:
    """(the funnel event, its id): the step of `offer_id` at place `n`."""
    event = OfferFunnel(
        offer_id=offer_id,
        campaign_id=campaign.id,
        channel=campaign.channel,
        language=language,
        msisdn=msisdn,
        step=step,
        at=at,
        detail=detail,
    )
    return event, funnel_event_id(offer_id, step, n)


def acceptance(
    offer_id: str, campaign: Campaign, channel: OfferChannel, consent: Consent, at: datetime
) -> tuple[OfferAccepted, str]:
    """(the acceptance or the declined confirmation with its consent, its id): one per offer."""
    event = OfferAccepted(
        offer_id=offer_id,
        campaign_id=campaign.id,
        channel=channel,
        msisdn=consent.msisdn,
        language=consent.language,
        consent=consent,
        accepted_at=at,
    )
    return event, derive_event_id(offer_id, ACCEPTED)  # one per offer, whichever channel or step accepts it


def emit(ctx: runtime.Context[Any], topic: str, event_and_id: tuple[Payload, str]) -> None:
    """Queue an event with its own id in a consumer's outbox (ctx.emit derives ids from the cause instead)."""
    event, event_id = event_and_id
    ctx.outbox.append(
        catalog.make_envelope(
            topic, event, event_id=event_id, correlation_id=ctx.event.correlation_id, source=ctx.consumer
        )
    )


def priced(terms: Terms, language: str, currency: Currency) -> dict[str, str]:
    """The product's name, price and period as the texts name them (`{name} {price}/{period}`)."""
    return {
        "name": terms.name_in(language),
        "price": currency.format(terms.price),
        "period": texts.render(f"voice_plus.addon.period.{terms.period}", language),
    }


def consent_offer(campaign: Campaign) -> str:
    """What a campaign's consent records as sold: the campaign and its product (subscriptions starts only that one)."""
    return f"voice_plus.{campaign.id}.{campaign.offer.product}"
