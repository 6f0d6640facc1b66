"""What other services may ask of subscription tracking (the only subscriptions module they may import).

An offer of another service (a Voice+ campaign, a USSD or SMS add-on) names a product or a tariff
plan of the catalogue in force; before it is shown it must know the product's name, price and
period (the consent names them) and whether the subscriber already holds it (who holds it is not
offered it again). Accepting it publishes `subscription.requested` (or
`subscription.plan-change-requested`) with the consent, and `subscription.request-decided` says
what became of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from functions.subscriptions.documents import BOOKS, LIVE
from shared import operator

__all__ = ["BOOKS", "PLAN_CHANGE_REQUESTED", "REQUESTED", "Terms", "held", "holds", "terms"]

REQUESTED = "subscription.requested"
PLAN_CHANGE_REQUESTED = "subscription.plan-change-requested"


@dataclass(frozen=True)
class Terms:
    """A product or plan of the catalogue in force, as an offer names it and its consent records it."""

    id: str
    kind: Literal["subscription", "pack", "plan"]
    names: Mapping[str, str]  # per language; the first is the fallback
    description: Mapping[str, str]  # "more information", per language (may be empty)
    price: int  # minor units: every period's, a pack's, or a plan change's fee
    currency: str
    period: Literal["once", "day", "week", "month", "year"]  # as shared/consent.Consent records it
    request_topic: str  # what accepting it publishes

    def name_in(self, language: str) -> str:
        return self.names.get(language) or next(iter(self.names.values()))

    def description_in(self, language: str) -> str | None:
        return self.description.get(language) or (next(iter(self.description.values()), None))


def _per_language(texts: Mapping[Any, str]) -> dict[str, str]:
    return {str(language): text for language, text in texts.items()}


def terms(product_id: str) -> Terms | None:
    """The product or plan `product_id` of the catalogue in force; None when there is none (or the service is off)."""
    from functions.subscriptions import pricing
    from functions.subscriptions.config import config_for

    catalogue = config_for(operator.current())
    if catalogue is None:
        return None
    product = catalogue.product(product_id)
    if product is not None:
        return Terms(
            id=product.id,
            kind=product.kind,
            names=_per_language(product.names),
            description=_per_language(product.description),
            price=product.price,
            currency=catalogue.currency,
            period=pricing.consent_period(product.period),  # type: ignore[arg-type]  # one of the Literal's values
            request_topic=REQUESTED,
        )
    plan = catalogue.plan(product_id)
    if plan is None or catalogue.plan_change is None:
        return None
    return Terms(
        id=plan.id,
        kind="plan",
        names=_per_language(plan.names),
        description={},
        price=catalogue.plan_change.fee,
        currency=catalogue.currency,
        period="once",
        request_topic=PLAN_CHANGE_REQUESTED,
    )


def held(book: Mapping[str, Any] | None) -> frozenset[str]:
    """The products live in the subscriber's book (the `subscriptions/{msisdn}` document), and their plan."""
    if not book:
        return frozenset()
    items = book.get("items") or {}
    live = {item.get("product") for item in items.values() if item.get("status") in LIVE}
    plan = book.get("plan")
    return frozenset(product for product in (*live, plan) if isinstance(product, str))


def holds(book: Mapping[str, Any] | None, product_id: str) -> bool:
    """Whether the subscriber's book has `product_id` live, or is on that plan."""
    return product_id in held(book)
