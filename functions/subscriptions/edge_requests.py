"""The events the service's edge publishes; the subscriptions consumers decide, charge and answer.

Each event's id derives from the request that made it (the SMS's message id, the USSD session and
its inputs), so a retried webhook or a double tap publishes the same event and it is acted on once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from functions.edge.api import Publication
from functions.subscriptions.config import Plan
from shared import consent
from shared.events import (
    PlanChangeRequested,
    SubscriptionCancelRequested,
    SubscriptionChannel,
    SubscriptionRequested,
    derive_event_id,
)

REQUESTED = "subscription.requested"
CANCEL_REQUESTED = "subscription.cancel-requested"
PLAN_CHANGE_REQUESTED = "subscription.plan-change-requested"


def subscribe(
    request_id: str,
    msisdn: str,
    product_id: str,
    channel: SubscriptionChannel,
    now: datetime,
    *,
    said: consent.Answer | None = None,
    consent_reply: bool | None = None,
    given: consent.Consent | None = None,
) -> Publication:
    """`subscription.requested`: a keyword (`said`), a reply to the question (`consent_reply`), or a menu's consent."""
    payload = SubscriptionRequested(
        request_id=request_id,
        msisdn=msisdn,
        product=product_id,
        channel=channel,
        requested_at=now,
        said=said,
        consent_reply=consent_reply,
        consent=given,
    )
    return Publication(REQUESTED, payload, derive_event_id(request_id, REQUESTED))


def cancel(
    request_id: str, msisdn: str, subscription_ids: Sequence[str], channel: SubscriptionChannel, now: datetime
) -> Publication:
    """`subscription.cancel-requested` for the items named (resolved at the edge from what the subscriber saw)."""
    payload = SubscriptionCancelRequested(
        request_id=request_id, msisdn=msisdn, subscription_ids=list(subscription_ids), channel=channel, requested_at=now
    )
    return Publication(CANCEL_REQUESTED, payload, derive_event_id(request_id, CANCEL_REQUESTED))


def cancel_all(request_id: str, msisdn: str, channel: SubscriptionChannel, now: datetime) -> Publication:
    """STOP ALL: every live subscription, as the service finds them when it applies the request."""
    payload = SubscriptionCancelRequested(
        request_id=request_id, msisdn=msisdn, every=True, channel=channel, requested_at=now
    )
    return Publication(CANCEL_REQUESTED, payload, derive_event_id(request_id, CANCEL_REQUESTED))


def change_plan(request_id: str, msisdn: str, plan: Plan, now: datetime, given: consent.Consent) -> Publication:
    """`subscription.plan-change-requested`, confirmed in the session with the fee it named."""
    payload = PlanChangeRequested(
        request_id=request_id, msisdn=msisdn, plan=plan.id, channel="ussd", requested_at=now, consent=given
    )
    return Publication(PLAN_CHANGE_REQUESTED, payload, derive_event_id(request_id, PLAN_CHANGE_REQUESTED))
