"""What other services may ask of Voice+ (the only voice_plus module they may import): the SMS add-on
a top-up confirmation carries.

provisioning credits a top-up and confirms it in ONE SMS; inside that same transaction it asks
`topup_addon` for an offer to append. The add-on reads (the subscriber's caps document and
subscriptions book, in one round trip) before anything is written, so provisioning asks after its
own reads and before its writes. When a campaign fits, its play is reserved in the caps document,
the offer waits for its keyword in `offer_sms/{msisdn}`, the funnel counts it offered, and the text
to append is returned; when none fits (or the confirmation with it would pass the SMS segment
budget) nothing is written and the confirmation goes alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from functions.subscriptions import public as subscriptions
from functions.voice_plus import caps, fit, selection
from functions.voice_plus.addons import only_fitting
from functions.voice_plus.config import config_for
from functions.voice_plus.documents import CAPS, SMS_OFFERS
from functions.voice_plus.live import process_pool
from functions.voice_plus.offer_events import FUNNEL, emit, funnel_step
from shared import operator, runtime

__all__ = ["offer_id_for_topup", "topup_addon"]


def offer_id_for_topup(reference: str) -> str:
    """`sms:<the top-up's BSS reference>`, the reference cut to what an offer id carries."""
    cleaned = "".join(char if char.isalnum() or char in "._:-" else "-" for char in reference)
    return f"sms:{cleaned[:140] or '-'}"


def topup_addon(
    ctx: runtime.Context[Any],
    *,
    msisdn: str,
    language: str,
    subscriber: Mapping[str, Any],
    reference: str,
    message: str,
) -> str | None:
    """The SMS add-on to append to `message` (the top-up confirmation, as rendered), or None.

    Reads first (the caps document, the subscriptions book), then, when a campaign fits, writes its
    play, the open offer and the funnel's "offered" in `ctx`'s transaction.
    """
    profile = operator.current()
    config = config_for(profile)
    if config is None:
        return None
    caps_ref, book_ref = ctx.doc(CAPS, msisdn), ctx.doc(subscriptions.BOOKS, msisdn)
    found = ctx.read(caps_ref, book_ref)
    who = selection.audience(msisdn, language, subscriber, found.get(book_ref))
    if who is None:
        return None
    offer_id = offer_id_for_topup(reference)
    pool = only_fitting(
        process_pool(profile.timezone, config.campaign_refresh_seconds).current(),
        "sms",
        language,
        lambda campaign: fit.with_sms_addon(message, fit.sms_addon(campaign, language, config.short_code), config)
        is not None,
    )

    def choose(plays: caps.Plays) -> selection.Live | None:
        return selection.choose(pool, "sms", who, ctx.now, plays, seed=offer_id)

    written, campaign_id = caps.reserve(
        found.get(caps_ref), offer_id, choose, ctx.now, timedelta(days=config.caps_horizon_days)
    )
    if written is None or campaign_id is None:  # none fits (or this top-up's offer was made already)
        return None
    campaign = pool.by_id[campaign_id].campaign
    addon = fit.sms_addon(campaign, language, config.short_code)
    ctx.txn.set(caps_ref, written)
    ctx.txn.set(
        ctx.doc(SMS_OFFERS, msisdn),
        {
            "campaign": campaign.id,
            "offer": offer_id,
            "keyword": campaign.keyword,
            "product": campaign.offer.product,
            "language": language,
            "shown": addon,
            "offered_at": ctx.now,
            "until": ctx.now + timedelta(hours=config.sms_offer_hours),
        },
    )
    emit(ctx, FUNNEL, funnel_step(offer_id, campaign, language, msisdn, "offered", ctx.now, 0))
    return addon
