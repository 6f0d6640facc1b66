"""SMS to the catalogue's short code: product keywords, YES/NO to the question, SUBS and STOP.

- `<KEYWORD>` (a product's): published as `subscription.requested` with the message (`said`); the
  service names the price and period and asks YES or NO itself, so the edge sends nothing.
- `YES` / `NO` (shared/consent.py's words): answer the question the book holds open
  (`book.pending`), published with the reply; with no open question, or a late one, answered at once.
- `SUBS`: every live subscription, numbered, with its price and next date.
- `STOP <n>` (SUBS's number), `STOP <name or keyword>`, `STOP ALL`, or `STOP` alone for one's only
  subscription: published as `subscription.cancel-requested`; the service cancels and confirms.
- `HELP` or anything else: what the short code understands, with each product's price and period.

Every word in the five languages (edge_words.py); nothing is published for what is not understood.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.edge import api
from functions.edge.api import Text
from functions.subscriptions import edge_requests
from functions.subscriptions.config import Catalogue
from functions.subscriptions.documents import Book, Item
from functions.subscriptions.edge_terms import Shop, book_of, book_reads, live_subscription
from functions.subscriptions.edge_words import ALL, HELP, NO, STOP, SUBS, YES, fold, read_ask
from shared import consent

_MAX_WORD_SHOWN = 20
_MIN_NAME_PART = 3  # `STOP new` finds "Daily news"; one or two letters would find too much


def _shortened(word: str) -> str:
    """What the subscriber typed, quoted back, but never a whole essay."""
    return word if len(word) <= _MAX_WORD_SHOWN else word[: _MAX_WORD_SHOWN - 1] + "…"


@dataclass(frozen=True)
class ShortCode:
    """The catalogue's short code for one operator: it reads every message's body itself."""

    catalogue: Catalogue

    def answer(self, request: api.Request[api.SmsMessage]) -> api.SmsAnswer:
        inbound = request.input.inbound
        ask = read_ask(inbound.body, self.catalogue)
        shop = Shop.for_request(request, self.catalogue)
        if ask.command == HELP:
            return api.SmsAnswer(self._help())
        if ask.command is None:
            return api.SmsAnswer(self._help(unknown=ask.word))
        book = book_of(request)
        if ask.command == SUBS:
            return api.SmsAnswer(self._list(shop, book))
        if ask.command == STOP:
            return self._stop(request, shop, book, ask.argument)
        said = consent.Answer(text=inbound.body[:160], reference=inbound.request_id, at=request.now)
        if ask.command in (YES, NO):
            return self._reply(request, book, said, accepted=ask.command == YES)
        product = self.catalogue.by_keyword(ask.command)
        assert product is not None  # read_ask names a product only by a keyword of the catalogue
        if live_subscription(book, product.id):
            return api.SmsAnswer(Text("edge.subscriptions.sms.already", {"name": shop.name(product)}))
        event = edge_requests.subscribe(
            inbound.request_id, request.caller.msisdn, product.id, "sms", request.now, said=said
        )
        return api.SmsAnswer(None, (event,))

    def _help(self, unknown: str | None = None) -> Text:
        """The keywords and commands (each product's price and period come in the question before any charge)."""
        params = {
            "short_code": self.catalogue.short_code,
            "ussd": self.catalogue.ussd_code,
            "keywords": ", ".join(product.keyword for product in self.catalogue.products),
        }
        if unknown is None:
            return Text("edge.subscriptions.sms.help", params)
        return Text("edge.subscriptions.sms.unknown", {"word": _shortened(unknown), **params})

    def _list(self, shop: Shop, book: Book) -> Text:
        live = book.live()
        if not live:
            return Text("edge.subscriptions.sms.none", {"short_code": self.catalogue.short_code})
        lines = shop.listed(live)
        return Text("edge.subscriptions.sms.list", {"lines": lines, "short_code": self.catalogue.short_code})

    def _stop(self, request: api.Request[api.SmsMessage], shop: Shop, book: Book, argument: str) -> api.SmsAnswer:
        """What STOP names, resolved against the numbered list SUBS shows; the service cancels and confirms."""
        live, msisdn, request_id = book.live(), request.caller.msisdn, request.input.inbound.request_id
        if not live:
            return api.SmsAnswer(
                Text("edge.subscriptions.sms.nothing_to_stop", {"short_code": self.catalogue.short_code})
            )
        if argument and fold(argument) in ALL:
            return api.SmsAnswer(None, (edge_requests.cancel_all(request_id, msisdn, "sms", request.now),))
        named = self._named(live, argument)
        if not named:
            lines = shop.listed(live)
            key = "edge.subscriptions.sms.stop_which" if not argument else "edge.subscriptions.sms.stop_unknown"
            return api.SmsAnswer(
                Text(key, {"word": _shortened(argument), "lines": lines, "short_code": self.catalogue.short_code})
            )
        event = edge_requests.cancel(request_id, msisdn, [item.id for item in named], "sms", request.now)
        return api.SmsAnswer(None, (event,))

    def _named(self, live: list[Item], argument: str) -> list[Item]:
        """The live items STOP's argument names: a number of the list, a keyword or a name (or a unique part of
        one); STOP alone names one's only subscription. Empty: it names none, or not one for sure."""
        wanted = fold(argument)
        if not wanted:
            return live if len(live) == 1 else []
        if wanted.isdigit():
            number = int(wanted)
            return [live[number - 1]] if 1 <= number <= len(live) else []
        products = {item.product for item in live}
        exact = {product for product in products if wanted in self._words_for(product)}
        if not exact and len(wanted) >= _MIN_NAME_PART:
            exact = {product for product in products if any(wanted in word for word in self._words_for(product))}
        if len(exact) != 1:
            return []
        return [item for item in live if item.product in exact]

    def _words_for(self, product_id: str) -> set[str]:
        """Everything a product is called: its keyword and its names in every language (folded)."""
        product = self.catalogue.product(product_id)
        if product is None:
            return {fold(product_id)}
        return {fold(product.keyword), fold(product.id), *(fold(name) for name in product.names.values())}

    def _reply(
        self, request: api.Request[api.SmsMessage], book: Book, said: consent.Answer, *, accepted: bool
    ) -> api.SmsAnswer:
        """YES or NO to the open question; with none open, said so at once and nothing published."""
        pending = book.pending
        if pending is None:
            return api.SmsAnswer(self._nothing_to_confirm())
        product = self.catalogue.product(pending.product)
        if request.now >= pending.expires_at:
            keyword = product.keyword if product else pending.product
            return api.SmsAnswer(
                Text(
                    "edge.subscriptions.sms.question_expired",
                    {"keyword": keyword, "short_code": self.catalogue.short_code},
                )
            )
        event = edge_requests.subscribe(
            said.reference,
            request.caller.msisdn,
            pending.product,
            "sms",
            request.now,
            said=said,
            consent_reply=accepted,
        )
        return api.SmsAnswer(None, (event,))

    def _nothing_to_confirm(self) -> Text:
        return Text(
            "edge.subscriptions.sms.nothing_to_confirm",
            {"short_code": self.catalogue.short_code, "ussd": self.catalogue.ussd_code},
        )


def sms_service(catalogue: Catalogue) -> api.SmsService:
    short_code = ShortCode(catalogue)
    return api.SmsService(short_code.answer, reads=lambda inbound, _profile: book_reads(inbound.sender))
