"""Starting a product, pure (no I/O): the consent question and its answer, then what the start charges and grants.

A paid product is charged only once the subscriber has said yes to its price and period
(DESIGN, "Consent"): a USSD session carries the answer given on its screen; an SMS keyword or
another service's request is asked by SMS, and the YES or NO reply (shared/consent.py's words)
comes back as a new request with `consent_reply`. `consent_step` says which records to keep and
whether to start now; `decide_start` says, on the book and balances read in the transaction,
what starting costs and grants (a `Start`) or why not (a `Refusal`), and the consumer applies it.

Periods count from the item's anchor: the first paid period ends at `period_end(anchor, period,
1)` and `periods_charged` says how many are paid, so the next charge is due at
`period_end(anchor, period, periods_charged)`. A trial's anchor is the end of the trial (nothing
paid yet, the first charge due then); a product's trial is given once per subscriber.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from functions.subscriptions import packs, pricing
from functions.subscriptions.config import Pack, Subscription
from functions.subscriptions.documents import Book, Item, PendingQuestion
from functions.subscriptions.refusal import Refusal
from shared import consent
from shared.consent import Answer, Consent
from shared.events import SubscriptionRequested

Product = Subscription | Pack
OFFER_PREFIX = "subscriptions."  # consent records name the product sold: subscriptions.<product id>


def offer_of(product_id: str) -> str:
    """What a consent record names as sold: one offer per product, so each product's question waits on its own."""
    return f"{OFFER_PREFIX}{product_id}"


def consented_to(given: Consent, own_offer: str, product_id: str, source: str) -> bool:
    """The consent names this product: its own offer, or (a request another service asks) that service's offer of it.

    Another service names its offer `<source>.<its offer>.<product>` (a Voice+ campaign's), so a consent
    given for one product never starts another, whatever the price.
    """
    if given.offer == own_offer:
        return True
    return source != "subscriptions" and given.offer.startswith(f"{source}.") and given.offer.endswith(f".{product_id}")


def plan_offer_of(plan_id: str) -> str:
    """What a plan change's consent names as sold."""
    return f"{OFFER_PREFIX}plan.{plan_id}"


def item_id(product_id: str, request_id: str) -> str:
    """The item a request starts: the same request (however often delivered) names the same item."""
    return f"{product_id}-{hashlib.sha256(request_id.encode()).hexdigest()[:12]}"


def local_day(at: datetime, zone: str) -> date:
    """The operator's calendar day of `at`: the day a price is in force on."""
    return at.astimezone(ZoneInfo(zone)).date()


def gets_trial(product: Product, book: Book) -> bool:
    """A subscription's trial, for a subscriber who never had this product."""
    return (
        isinstance(product, Subscription)
        and product.trial_days > 0
        and not any(item.product == product.id for item in book.items.values())
    )


# --- the question ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """What the SMS question shows: its text key and parameters (rendered into the consent record too)."""

    template: str
    params: dict[str, Any]


@dataclass(frozen=True)
class ConsentStep:
    """A request's step of the sign-up: the consent records to keep, then start now, ask, or answer."""

    records: tuple[Consent, ...] = ()
    start: bool = False  # confirmed (or free): decide_start and apply it
    consent_id: str | None = None  # the confirmed record the item names
    pending: PendingQuestion | None = None  # a new question waiting for the SMS reply
    clear_pending: bool = False  # the waiting question is decided (or replaced)
    answer: str | None = None  # the text key that answers by SMS (None: nothing to say, or the question itself)


def consent_step(
    request: SubscriptionRequested,
    product: Product,
    *,
    price: int,
    currency: str,
    waiting: Consent | None,
    language: str,
    shown: str,
) -> ConsentStep:
    """Ask before charging: a free product starts; a USSD answer or an SMS reply decides; anything else is asked.

    `price`: the product's price now (what the question names and the subscriber consents to);
    `waiting`: the question this subscriber has waiting (any product), `shown`: the question's text.
    """
    offer = offer_of(product.id)
    if request.consent is not None:  # asked and answered on a USSD screen (or in another service's offer)
        given = request.consent
        named = consented_to(given, offer, product.id, request.source)
        terms = (given.msisdn, given.price, given.currency, given.period)
        if not named or terms != (request.msisdn, price, currency, pricing.consent_period(product.period)):
            return ConsentStep(answer="subscriptions.ask_again")  # it consented to another price: ask again
        return ConsentStep((given,), start=given.confirmed, consent_id=given.id)
    open_question = waiting if waiting is not None and waiting.status == "pending" else None
    if request.consent_reply is not None:
        return _replied(request, open_question, offer=offer, price=price, currency=currency)
    if price == 0:
        return ConsentStep(start=True)  # nothing is charged: no question to ask
    asked = consent.asked(
        offer=offer,
        msisdn=request.msisdn,
        channel="sms",  # whatever asked for it, the question goes by SMS
        language=language,
        shown=shown,
        price=price,
        currency=currency,
        period=pricing.consent_period(product.period),
        request=request.said or Answer(text=product.keyword, reference=request.request_id, at=request.requested_at),
    )
    earlier = (_superseded(open_question, request.requested_at),) if open_question else ()
    assert asked.expires_at is not None  # an SMS question always has its reply window
    pending = PendingQuestion(
        product=product.id, consent_id=asked.id, asked_at=asked.request.at, expires_at=asked.expires_at
    )
    return ConsentStep((*earlier, asked), pending=pending)


def _superseded(question: Consent, now: datetime) -> Consent:
    """A question a newer one takes the place of: expired if its reply window has passed unanswered, else replaced."""
    if question.expires_at is not None and question.expires_at <= now:
        return question.model_copy(update={"status": "expired", "decided_at": question.expires_at})
    return consent.replaced(question, now)


def _replied(
    request: SubscriptionRequested, waiting: Consent | None, *, offer: str, price: int, currency: str
) -> ConsentStep:
    """A YES or NO by SMS: it decides the question about this product, if one is waiting, at the price it named."""
    said, accepted = request.said, request.consent_reply
    assert said is not None and accepted is not None  # a reply carries its message (the event's validator)
    if waiting is None or waiting.offer != offer:
        return ConsentStep(answer="subscriptions.nothing_to_confirm")
    decided = consent.answered(waiting, said, accepted=accepted)
    if decided.confirmed and (waiting.price, waiting.currency) != (price, currency):
        # A YES consents to the price its question showed; since then the price changed: charge nothing.
        return ConsentStep((consent.replaced(waiting, said.at),), clear_pending=True, answer="subscriptions.ask_again")
    if decided.confirmed:
        return ConsentStep((decided,), start=True, consent_id=decided.id, clear_pending=True)
    template = "subscriptions.declined" if decided.status == "declined" else "subscriptions.expired"
    return ConsentStep((decided,), clear_pending=True, answer=template)


# --- the start ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """What starting a product does: the item, the charge, the allowances granted and carried over."""

    item: Item
    charge: int  # minor units debited from item.bucket now (0: a trial, or free)
    month: str  # the spend month the charge counts in
    grants: list[tuple[str, int]] = field(default_factory=list)
    carried: list[tuple[str, int]] = field(default_factory=list)
    superseded: tuple[str, ...] = ()  # live identical packs whose remainder the new one took over


def decide_start(
    product: Product,
    *,
    book: Book,
    request_id: str,
    channel: str,
    consent_id: str | None,
    line_active: bool,
    balances: Mapping[str, int],
    currency: str,
    zone: str,
    now: datetime,
) -> Start | Refusal:
    """Whether `product` can start now for the book's subscriber, and what it charges and grants.

    `balances`: the subscriber's spendable balance of the product's bucket and of every
    allowance bucket; `zone`: the operator's (periods and the spend month count in it).
    """
    name_params = {"product": product.id}
    if not line_active:
        return Refusal("line_not_active", "subscriptions.refused.line_not_active", name_params)
    live_same = [item for item in book.live() if item.product == product.id]
    bought_again = isinstance(product, Pack) and product.period is None  # a one-off pack may be bought again
    if live_same and not bought_again:
        return Refusal("already_subscribed", "subscriptions.refused.already_subscribed", name_params)
    purchase: packs.PackPurchase | None = None
    if isinstance(product, Pack):  # its limits and carry-over
        decided = packs.decide_purchase(product, now=now, live_same=live_same, balances=balances)
        if isinstance(decided, Refusal):
            return decided
        purchase = decided
    price = pricing.price_at(product, local_day(now, zone))
    trial = gets_trial(product, book)
    charge = 0 if trial else price
    balance = balances.get(product.bucket, 0)
    if charge > balance:
        return Refusal("insufficient_balance", "subscriptions.refused.balance", {"price": charge, "balance": balance})
    item = _item(
        product,
        item_id(product.id, request_id),
        charge=charge,
        trial=trial,
        purchase=purchase,
        channel=channel,
        consent_id=consent_id,
        currency=currency,
        zone=zone,
        now=now,
    )
    return Start(
        item,
        charge,
        pricing.month_of(now, zone),
        grants=purchase.grants if purchase else [],
        carried=purchase.carried if purchase else [],
        superseded=purchase.superseded if purchase else (),
    )


def _item(
    product: Product,
    new_id: str,
    *,
    charge: int,
    trial: bool,
    purchase: packs.PackPurchase | None,
    channel: str,
    consent_id: str | None,
    currency: str,
    zone: str,
    now: datetime,
) -> Item:
    """The book's new item: a paid first period, a trial until its first charge, or a pack until it expires."""
    period = product.period
    paid_through: datetime | None
    next_charge_at: datetime | None
    if trial:
        assert isinstance(product, Subscription) and period is not None  # only subscriptions have trials
        anchor = now + timedelta(days=product.trial_days)
        paid_through, next_charge_at, periods_charged = anchor, anchor, 0
    else:
        anchor, periods_charged = now, 1
        paid_through = pricing.period_end(anchor, period, 1, zone) if period else None
        next_charge_at = paid_through
    expires_at = purchase.expires_at if purchase else None
    return Item(
        id=new_id,
        product=product.id,
        kind="pack" if isinstance(product, Pack) else "subscription",
        status="trial" if trial else "active",
        price=charge,
        currency=currency,
        bucket=product.bucket,
        period=period,
        channel=channel,
        consent_id=consent_id,
        started_at=now,
        anchor=anchor,
        periods_charged=periods_charged,
        paid_through=paid_through or expires_at,
        next_charge_at=next_charge_at,
        expires_at=expires_at,
    )


def started(book: Book, start: Start, *, now: datetime) -> None:
    """The book after the start: the new item, the packs it superseded, the month's spend, the question closed."""
    for superseded in start.superseded:
        old = book.items[superseded]
        book.items[superseded] = old.model_copy(
            update={"status": "expired", "ended_at": now, "end_reason": f"carried_over:{start.item.id}"}
        )
    book.items[start.item.id] = start.item
    if start.charge:
        month = book.spend.setdefault(start.month, {})
        month[start.item.product] = month.get(start.item.product, 0) + start.charge
    book.at(now)
