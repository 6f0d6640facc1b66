"""What the edge shows of the catalogue and of a subscriber's book: names, prices, periods, next dates.

Every screen and SMS of the service's edge names a product the same way: its name in the
reader's language, its price in force today with its period ("500 so'm a day"), the trial or the
allowances it comes with; and a subscriber's item with what it costs next and when. Rendered here,
in the caller's language, so an SMS answer carries plain strings that notify fills in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from functions.edge import api
from functions.edge.api import Text
from functions.subscriptions import pricing
from functions.subscriptions.config import Catalogue, Pack, Period, Product, Subscription
from functions.subscriptions.documents import BOOKS, Book, Item
from shared import localtime
from shared.operator import OperatorProfile

_PERIOD_KEYS: dict[Period | None, str] = {
    "daily": "edge.subscriptions.price.daily",
    "weekly": "edge.subscriptions.price.weekly",
    "monthly": "edge.subscriptions.price.monthly",
    "annual": "edge.subscriptions.price.annual",
    None: "edge.subscriptions.price.once",
}
_ALLOWANCE_KEYS = {
    "data_mb": "edge.subscriptions.allowance.data_mb",
    "voice_min": "edge.subscriptions.allowance.voice_min",
    "sms": "edge.subscriptions.allowance.sms",
}


@dataclass(frozen=True)
class Shop:
    """One operator's catalogue as the edge shows it to one caller: their language, their zone, their today."""

    profile: OperatorProfile
    catalogue: Catalogue
    language: str
    zone: tzinfo
    now: datetime

    @classmethod
    def for_request(cls, request: api.Request[Any], catalogue: Catalogue) -> Shop:
        zone = localtime.zone_for(request.caller.msisdn, request.profile.timezone)
        return cls(request.profile, catalogue, request.caller.language, zone, request.now)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def render(self, text: Text) -> str:
        return text.render(self.language)

    def money(self, minor: int) -> str:
        return self.profile.currency.format(minor)

    def day(self, when: datetime) -> str:
        local = when.astimezone(self.zone)
        return self.render(
            Text(
                "edge.subscriptions.date",
                {"day": f"{local.day:02d}", "month": f"{local.month:02d}", "year": local.year},
            )
        )

    def name(self, product: Product) -> str:
        return product.name_in(self.language)

    def price_today(self, product: Product) -> int:
        return pricing.price_at(product, self.today)

    def priced(self, price: int, period: Period | None) -> str:
        """ "500 so'm a day", "5 000 so'm a month", "2 000 so'm" (bought once)."""
        return self.render(Text(_PERIOD_KEYS[period], {"price": self.money(price)}))

    def terms(self, product: Subscription | Pack) -> str:
        """The price and period in force today, with the trial or what a pack grants and for how long."""
        priced = self.priced(self.price_today(product), product.period)
        if isinstance(product, Pack):
            allowances = ", ".join(
                self.render(Text(_ALLOWANCE_KEYS[allowance.kind], {"amount": allowance.amount}))
                for allowance in product.allowances
            )
            return self.render(
                Text(
                    "edge.subscriptions.terms.pack",
                    {"price": priced, "allowances": allowances, "days": product.validity_days},
                )
            )
        if product.trial_days:
            return self.render(Text("edge.subscriptions.terms.trial", {"price": priced, "days": product.trial_days}))
        return priced

    def charging(self, product: Subscription | Pack) -> str:
        """When the price is charged: now and every period, after the trial, or once."""
        if product.period is None:
            return self.render(Text("edge.subscriptions.charge.once"))
        if isinstance(product, Subscription) and product.trial_days:
            return self.render(Text("edge.subscriptions.charge.after_trial", {"days": product.trial_days}))
        return self.render(Text("edge.subscriptions.charge.recurring"))

    # --- a subscriber's items ----------------------------------------------------------------

    def item_name(self, item: Item) -> str:
        product = self.catalogue.product(item.product)
        return self.name(product) if product else item.product

    def next_price(self, item: Item) -> int:
        """What the next charge costs: the catalogue's price on its due date (a price change included)."""
        product = self.catalogue.product(item.product)
        if product is None or item.next_charge_at is None:
            return item.price
        return pricing.price_at(product, item.next_charge_at.astimezone(self.zone).date())

    def when(self, item: Item) -> str:
        """Its next date: the next charge, the trial's end, a pack's expiry, or why it is not running."""
        if item.status == "suspended":
            return self.render(Text("edge.subscriptions.when.suspended"))
        if item.status == "grace":
            return self.render(Text("edge.subscriptions.when.unpaid"))
        if item.next_charge_at is not None:
            key = "edge.subscriptions.when.trial" if item.status == "trial" else "edge.subscriptions.when.next"
            return self.render(Text(key, {"date": self.day(item.next_charge_at)}))
        ends = item.expires_at or item.paid_through
        if ends is not None:
            return self.render(Text("edge.subscriptions.when.until", {"date": self.day(ends)}))
        return self.render(Text("edge.subscriptions.when.running"))

    def item_line(self, item: Item) -> str:
        """ "News: 500 so'm a day, next 02/12/2026"."""
        return self.render(
            Text(
                "edge.subscriptions.item",
                {
                    "name": self.item_name(item),
                    "price": self.priced(self.next_price(item), item.period),
                    "when": self.when(item),
                },
            )
        )

    def numbered(self, lines: list[str], *, separator: str = " ") -> str:
        """ "1 News…" lines as a menu numbers them (an SMS list writes "1. News…")."""
        return "\n".join(f"{number}{separator}{line}" for number, line in enumerate(lines, start=1))

    def listed(self, items: list[Item]) -> str:
        """A subscriber's items as SUBS numbers them, the numbers STOP takes."""
        return self.numbered([self.item_line(item) for item in items], separator=". ")


def book_of(request: api.Request[Any]) -> Book:
    """The caller's book, as the entry's reads fetched it (an empty one when they never subscribed)."""
    msisdn = request.caller.msisdn
    return Book.from_document(msisdn, request.document(BOOKS, msisdn))


def book_reads(msisdn: str) -> list[tuple[str, str]]:
    return [(BOOKS, msisdn)]


def live_subscription(book: Book, product_id: str) -> Item | None:
    """A live recurring subscription of this product: signing up again would double it (packs may be bought again)."""
    return next((item for item in book.live() if item.product == product_id and item.kind == "subscription"), None)
