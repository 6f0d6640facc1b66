"""What the USSD and SMS add-ons share: the process's live campaigns, narrowed to those that fit.

An add-on is chosen only among campaigns whose text fits where it rides (under this USSD answer,
within this SMS's segment budget) and whose product is still sold, so a play is reserved only for an
offer actually shown.
"""

from __future__ import annotations

from collections.abc import Callable

from functions.subscriptions import public as subscriptions
from functions.voice_plus.documents import Campaign
from functions.voice_plus.selection import Pool
from shared.events import OfferChannel


def only_fitting(pool: Pool, channel: OfferChannel, language: str, fits: Callable[[Campaign], bool]) -> Pool:
    """The pool's campaigns of `channel` said in `language`, whose product is sold and for which `fits` holds."""

    def kept(campaign: Campaign) -> bool:
        return language in campaign.text and fits(campaign) and subscriptions.terms(campaign.offer.product) is not None

    tiers = tuple(tuple(live for live in tier if kept(live.campaign)) for tier in pool.tiers.get(channel, ()))
    return Pool(tiers={channel: tiers}, by_id=pool.by_id, zone=pool.zone)
