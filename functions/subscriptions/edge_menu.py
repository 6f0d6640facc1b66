"""The catalogue's USSD menu: subscribe with consent, and "My subscriptions" with cancel.

    root ── 1 Services and packs ── n: the product's terms ── 1 Confirm -> subscription.requested
      │                                                     └ 0 Close (or any other key) -> declined, recorded
      └──── 2 My subscriptions ──── n: the item ──────────── 1 Cancel it -> subscription.cancel-requested

The product list names each product's price, period and trial; the confirm screen names them again
with when the price is charged, and is the exact text the consent record keeps. A decline is
published too, so the service keeps that record (nothing is charged). The gateway resends every
input each round, so the menu is a pure fold over them (api.replay); the edge pages long screens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from functions.edge import api
from functions.edge.api import Text
from functions.subscriptions import edge_requests, pricing, signup
from functions.subscriptions.config import Catalogue, Pack, Subscription
from functions.subscriptions.documents import Book
from functions.subscriptions.edge_terms import Shop, book_of, book_reads, live_subscription
from shared import consent
from shared.operator import OperatorProfile

ROOT, PRODUCTS, CONFIRM, MINE, ITEM = "root", "products", "confirm", "mine", "item"
SUBSCRIBE, ALREADY, CANCEL = "subscribe", "already", "cancel"  # how a session ends
PRODUCTS_KEY, MINE_KEY, CONFIRM_KEY, CANCEL_KEY, BACK = "1", "2", "1", "1", "0"


@dataclass(frozen=True)
class Position:
    """Where the session is: a screen, the product or item on it, or how it ended."""

    screen: str = ROOT
    product: str | None = None
    item: str | None = None
    chosen: str | None = None  # the key that picked the product (the consent's request)
    answer: str | None = None  # the key pressed on the confirm screen
    mistake: bool = False
    done: str | None = None


def _picked(key: str, count: int) -> int | None:
    """The 0-based index a key picks from a numbered list of `count`, None when it picks none."""
    return int(key) - 1 if key.isdigit() and 1 <= int(key) <= count else None


def step(position: Position, typed: str, catalogue: Catalogue, book: Book) -> Position:
    """The position after one input."""
    key = typed.strip()
    if position.screen == CONFIRM:  # 1 confirms; 0 closes, and so does anything else: nothing is charged
        return replace(position, answer=key[:20], done=SUBSCRIBE)
    if position.screen == ROOT:
        if key == PRODUCTS_KEY:
            return Position(PRODUCTS)
        if key == MINE_KEY:
            return Position(MINE)
        return Position(mistake=True)
    if key == BACK:
        return Position(MINE) if position.screen == ITEM else Position()
    if position.screen == PRODUCTS:
        index = _picked(key, len(catalogue.products))
        if index is None:
            return Position(PRODUCTS, mistake=True)
        product = catalogue.products[index]
        done = ALREADY if live_subscription(book, product.id) else None
        return Position(CONFIRM, product=product.id, chosen=key, done=done)
    if position.screen == MINE:
        live = book.live()
        index = _picked(key, len(live))
        return Position(MINE, mistake=True) if index is None else Position(ITEM, item=live[index].id)
    if key == CANCEL_KEY:
        return replace(position, done=CANCEL)
    return replace(position, mistake=True)


@dataclass(frozen=True)
class Menu:
    """The catalogue's menu for one operator."""

    profile: OperatorProfile
    catalogue: Catalogue

    def answer(self, request: api.Request[api.UssdRequest]) -> api.Reply:
        shop = Shop.for_request(request, self.catalogue)
        book = book_of(request)
        position = api.replay(request.input.inputs, lambda at, typed: step(at, typed, self.catalogue, book), Position())
        if position.done == ALREADY:
            return api.Reply.end(self._already(shop, position))
        if position.done == SUBSCRIBE:
            return self._subscribe(request, shop, position)
        if position.done == CANCEL:
            assert position.item is not None  # the item screen is reached only with an item picked
            event = edge_requests.cancel(
                request.input.request_id, request.caller.msisdn, [position.item], "ussd", request.now
            )
            return api.Reply.end(shop.render(Text("edge.subscriptions.ussd.accepted")), (event,))
        mistake = shop.render(Text("edge.menu.invalid_choice")) + "\n" if position.mistake else ""
        return api.Reply.con(mistake + self._screen(shop, book, position))

    def _screen(self, shop: Shop, book: Book, position: Position) -> str:
        if position.screen == PRODUCTS:
            lines = [
                shop.render(
                    Text("edge.subscriptions.product", {"name": shop.name(product), "terms": shop.terms(product)})
                )
                for product in self.catalogue.products
            ]
            return shop.render(Text("edge.subscriptions.ussd.products", {"lines": shop.numbered(lines)}))
        if position.screen == MINE:
            live = book.live()
            if not live:
                return shop.render(Text("edge.subscriptions.ussd.none"))
            numbered = shop.numbered([shop.item_line(item) for item in live])
            return shop.render(Text("edge.subscriptions.ussd.mine", {"lines": numbered}))
        if position.screen == ITEM:
            item = book.items[position.item or ""]
            return shop.render(Text("edge.subscriptions.ussd.item", {"item": shop.item_line(item)}))
        if position.screen == CONFIRM:
            return self._confirm_screen(shop, self._product(position))
        return shop.render(Text("edge.subscriptions.ussd.root"))

    def _product(self, position: Position) -> Subscription | Pack:
        product = self.catalogue.product(position.product or "")
        assert product is not None  # the confirm screen is reached only from the catalogue's own list
        return product

    def _confirm_screen(self, shop: Shop, product: Subscription | Pack) -> str:
        """What the subscriber reads before anything is charged, and what the consent record keeps."""
        return shop.render(
            Text(
                "edge.subscriptions.ussd.confirm",
                {"name": shop.name(product), "terms": shop.terms(product), "charging": shop.charging(product)},
            )
        )

    def _already(self, shop: Shop, position: Position) -> str:
        return shop.render(
            Text(
                "edge.subscriptions.ussd.already",
                {"name": shop.name(self._product(position)), "code": self.catalogue.ussd_code},
            )
        )

    def _subscribe(self, request: api.Request[api.UssdRequest], shop: Shop, position: Position) -> api.Reply:
        """The confirm screen answered: the request with its consent record, accepted or declined."""
        product, msisdn, now = self._product(position), request.caller.msisdn, request.now
        request_id = request.input.request_id
        accepted = position.answer == CONFIRM_KEY
        # USSD inputs carry no time of their own: both answers are stamped with this round.
        record = consent.given(
            offer=signup.offer_of(product.id),
            msisdn=msisdn,
            channel="ussd",
            language=shop.language,
            shown=self._confirm_screen(shop, product),
            price=shop.price_today(product),
            currency=self.profile.currency.code,  # what the charge is made in (the service checks it)
            period=pricing.consent_period(product.period),
            request=consent.Answer(text=position.chosen or "", reference=request_id, at=now),
            confirmation=consent.Answer(text=position.answer or "", reference=request_id, at=now),
            accepted=accepted,
        )
        event = edge_requests.subscribe(request_id, msisdn, product.id, "ussd", now, given=record)
        key = "edge.subscriptions.ussd.accepted" if accepted else "edge.subscriptions.ussd.declined"
        return api.Reply.end(shop.render(Text(key, {"name": shop.name(product)})), (event,))


def ussd_service(profile: OperatorProfile, catalogue: Catalogue) -> api.UssdService:
    menu = Menu(profile, catalogue)
    return api.UssdService(
        code=catalogue.ussd_code,
        name="edge.subscriptions.service",
        handler=menu.answer,
        reads=lambda request, _profile: book_reads(request.msisdn),
    )
