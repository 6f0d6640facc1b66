"""The emulated payment processor: customers, cards, PaymentIntents and the events they raise, in memory.

Memory is the right store: this IS the external system, and one process serves a stack or a test
session. Every change happens under one lock, so concurrent requests (and two requests with one
Idempotency-Key) see one consistent state; webhooks leave after the lock is released (webhooks.py).
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.payments import cards, forms
from emulators.payments.cards import Decline, TestCard
from shared.events import utcnow

API_VERSION = "2026-10-28.endive"  # the version stripe==16.1.0 pins (stripe.api_version)

Json = dict[str, Any]


class StripeError(Exception):
    """An API error in Stripe's JSON shape, so the stripe client raises the matching exception."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline: Decline | None = None,
        payment_intent: Json | None = None,
        payment_method: Json | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param
        self.decline, self.payment_intent, self.payment_method = decline, payment_intent, payment_method

    def body(self) -> Json:
        error: Json = {"type": self.kind, "message": self.message}
        if self.decline is not None:
            error |= {"type": "card_error", "code": self.decline.code, "decline_code": self.decline.decline_code}
        elif self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        if self.payment_intent is not None:
            error["payment_intent"] = self.payment_intent
        if self.payment_method is not None:
            error["payment_method"] = self.payment_method
        return {"error": error}


def not_found(kind: str, identifier: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{identifier}'", code="resource_missing", param=param)


@dataclass
class Answer:
    """What one API request answered, kept whole for its Idempotency-Key, and the events it raised."""

    status: int
    body: Json
    events: list[Json] = field(default_factory=list)


@dataclass(frozen=True)
class Origin:
    """The request a change came from, as Stripe names it in the event's `request`."""

    request_id: str
    idempotency_key: str | None


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _now() -> int:
    """Unix seconds on the platform's clock (settable locally), for `created` and card expiry."""
    return int(utcnow().timestamp())


def card_expired(exp_month: int, exp_year: int) -> bool:
    """A card is good through the last day of its expiry month, by the platform's clock."""
    today = utcnow()
    return (exp_year, exp_month) < (today.year, today.month)


CUSTOMER_PARAMS = frozenset({"email", "name", "description", "metadata", "phone"})
PAYMENT_METHOD_PARAMS = frozenset({"type", "card", "metadata", "billing_details"})
ATTACH_PARAMS = frozenset({"customer"})
INTENT_PARAMS = frozenset(
    {
        "amount",
        "currency",
        "customer",
        "payment_method",
        "confirm",
        "off_session",
        "metadata",
        "description",
        "payment_method_types",
        "error_on_requires_action",
        "receipt_email",
        "statement_descriptor_suffix",
    }
)
CONFIRM_PARAMS = frozenset({"payment_method", "off_session", "error_on_requires_action"})


class Processor:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._clear()

    def reset(self) -> None:
        with self.lock:
            self._clear()

    def _clear(self) -> None:
        self.customers: dict[str, Json] = {}
        self.payment_methods: dict[str, Json] = {}
        self._cards: dict[str, TestCard] = {}  # payment method id -> the test card behind it (never in a response)
        self.payment_intents: dict[str, Json] = {}
        self.events: dict[str, Json] = {}
        self._answered: dict[str, tuple[tuple[str, str], Answer]] = {}  # Idempotency-Key -> (request, answer)
        self.failures_left = 0  # the next requests answered 500 (an outage a test asks for)

    # --- idempotency -------------------------------------------------------------------------

    def idempotent(self, key: str | None, request: tuple[str, str], run: Callable[[], Answer]) -> tuple[Answer, bool]:
        """Run once per key: the same key answers the stored answer again (True), with other parameters 400."""
        with self.lock:
            if key is not None and key in self._answered:
                first, answer = self._answered[key]
                if first != request:
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                        kind="idempotency_error",
                    )
                return answer, True
            try:
                answer = run()
            except StripeError as error:
                answer = Answer(error.status, error.body())
            except forms.BadParameter as error:
                answer = Answer(400, StripeError(400, str(error), param=error.param).body())
            if key is not None:
                self._answered[key] = (request, answer)
            return answer, False

    def take_failure(self) -> bool:
        """Whether this request is one of the outage's (counted down)."""
        with self.lock:
            if self.failures_left <= 0:
                return False
            self.failures_left -= 1
            return True

    # --- customers ---------------------------------------------------------------------------

    def create_customer(self, params: Json) -> Json:
        forms.refuse_unknown(params, CUSTOMER_PARAMS)
        customer: Json = {
            "id": new_id("cus"),
            "object": "customer",
            "created": _now(),
            "email": forms.text(params, "email"),
            "name": forms.text(params, "name"),
            "description": forms.text(params, "description"),
            "phone": forms.text(params, "phone"),
            "metadata": forms.metadata(params),
            "livemode": False,
            "invoice_settings": {"default_payment_method": None},
        }
        with self.lock:
            self.customers[customer["id"]] = customer
        return customer

    def customer(self, customer_id: str) -> Json:
        with self.lock:
            if customer_id not in self.customers:
                raise not_found("customer", customer_id)
            return copy.deepcopy(self.customers[customer_id])

    # --- payment methods ---------------------------------------------------------------------

    def create_payment_method(self, params: Json) -> Json:
        """A card from a test token (`card[token]=tok_visa`) or from test-mode card details."""
        forms.refuse_unknown(params, PAYMENT_METHOD_PARAMS)
        if forms.text(params, "type", required=True) != "card":
            raise StripeError(400, "Only card payment methods are supported here.", param="type")
        details = params.get("card")
        if not isinstance(details, dict):
            raise StripeError(400, "Missing required param: card.", param="card")
        token = details.get("token")
        if token is not None:
            card = cards.by_shortcut(str(token), "tok_")
            if card is None:
                raise not_found("token", str(token), "card[token]")
            return self._store_card(card, *self._test_expiry(), forms.metadata(params))
        return self._card_from_details(details, forms.metadata(params))

    def _card_from_details(self, details: Json, metadata: dict[str, str]) -> Json:
        number = forms.text(details, "number", required=True) or ""
        exp_month = forms.integer(details, "exp_month", required=True) or 0
        exp_year = forms.integer(details, "exp_year", required=True) or 0
        if not cards.luhn_valid(number):
            raise StripeError(
                402, "Your card number is incorrect.", kind="card_error", code="incorrect_number", param="number"
            )
        if not 1 <= exp_month <= 12:
            raise StripeError(
                402,
                "Your card's expiration month is invalid.",
                kind="card_error",
                code="invalid_expiry_month",
                param="exp_month",
            )
        if card_expired(exp_month, exp_year):
            raise StripeError(
                402,
                "Your card's expiration year is invalid.",
                kind="card_error",
                code="invalid_expiry_year",
                param="exp_year",
            )
        return self._store_card(cards.by_number(number), exp_month, exp_year, metadata)

    @staticmethod
    def _test_expiry() -> tuple[int, int]:
        """Test tokens carry an expiry a few years out, as Stripe's do."""
        return 12, utcnow().year + 3

    def _store_card(self, card: TestCard, exp_month: int, exp_year: int, metadata: dict[str, str]) -> Json:
        method: Json = {
            "id": new_id("pm"),
            "object": "payment_method",
            "type": "card",
            "created": _now(),
            "customer": None,
            "livemode": False,
            "metadata": metadata,
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": card.brand,
                "last4": card.number[-4:],
                "exp_month": exp_month,
                "exp_year": exp_year,
                "funding": "credit",
                "country": "US",
                "fingerprint": secrets.token_hex(8),
            },
        }
        with self.lock:
            self.payment_methods[method["id"]] = method
            self._cards[method["id"]] = card
        return copy.deepcopy(method)

    def payment_method(self, method_id: str) -> Json:
        with self.lock:
            return copy.deepcopy(self._method(method_id))

    def _method(self, method_id: str, param: str = "id") -> Json:
        """A stored payment method; a `pm_card_…` shortcut becomes a new one, as on Stripe."""
        with self.lock:
            if method_id in self.payment_methods:
                return self.payment_methods[method_id]
            card = cards.by_shortcut(method_id, "pm_card_")
            if card is None:
                raise not_found("PaymentMethod", method_id, param)
            created = self._store_card(card, *self._test_expiry(), {})
            return self.payment_methods[created["id"]]

    def attach(self, method_id: str, params: Json) -> Json:
        forms.refuse_unknown(params, ATTACH_PARAMS)
        customer_id = forms.text(params, "customer", required=True) or ""
        with self.lock:
            self.customer(customer_id)
            method = self._method(method_id)
            if method["customer"] not in (None, customer_id):
                raise StripeError(
                    400,
                    "The payment method you provided has already been attached to a customer.",
                    code="payment_method_unexpected_state",
                )
            card = method["card"]
            if card_expired(card["exp_month"], card["exp_year"]):
                raise StripeError(402, cards.EXPIRED_CARD.message, decline=cards.EXPIRED_CARD, param="exp_year")
            method["customer"] = customer_id
            return copy.deepcopy(method)

    # --- payment intents ---------------------------------------------------------------------

    def create_payment_intent(self, params: Json, origin: Origin) -> Answer:
        forms.refuse_unknown(params, INTENT_PARAMS)
        amount = forms.integer(params, "amount", required=True) or 0
        if amount < 1:
            raise StripeError(
                400, "This value must be greater than or equal to 1.", code="parameter_invalid_integer", param="amount"
            )
        currency = (forms.text(params, "currency", required=True) or "").lower()
        if len(currency) != 3 or not currency.isalpha():
            raise StripeError(400, f"Invalid currency: {currency}.", param="currency")
        with self.lock:
            customer_id = forms.text(params, "customer")
            if customer_id is not None:
                self.customer(customer_id)
            method_id = forms.text(params, "payment_method")
            method = self._method(method_id, "payment_method") if method_id else None
            intent: Json = {
                "id": new_id("pi"),
                "object": "payment_intent",
                "amount": amount,
                "amount_received": 0,
                "currency": currency,
                "customer": customer_id,
                "payment_method": method["id"] if method else None,
                "payment_method_types": ["card"],
                "status": "requires_confirmation" if method else "requires_payment_method",
                "metadata": forms.metadata(params),
                "description": forms.text(params, "description"),
                "capture_method": "automatic",
                "confirmation_method": "automatic",
                "created": _now(),
                "livemode": False,
                "last_payment_error": None,
                "latest_charge": None,
                "next_action": None,
            }
            intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
            self.payment_intents[intent["id"]] = intent
            if not forms.boolean(params, "confirm"):
                return Answer(200, copy.deepcopy(intent))
            return self._confirm(intent, forms.boolean(params, "off_session"), origin)

    def confirm_payment_intent(self, intent_id: str, params: Json, origin: Origin) -> Answer:
        forms.refuse_unknown(params, CONFIRM_PARAMS)
        with self.lock:
            intent = self._intent(intent_id)
            if intent["status"] not in ("requires_confirmation", "requires_payment_method", "requires_action"):
                raise StripeError(
                    400,
                    f"This PaymentIntent's status is {intent['status']}, so it cannot be confirmed.",
                    code="payment_intent_unexpected_state",
                    payment_intent=copy.deepcopy(intent),
                )
            method_id = forms.text(params, "payment_method")
            if method_id:
                intent["payment_method"] = self._method(method_id, "payment_method")["id"]
            return self._confirm(intent, forms.boolean(params, "off_session"), origin)

    def payment_intent(self, intent_id: str) -> Json:
        with self.lock:
            return copy.deepcopy(self._intent(intent_id))

    def _intent(self, intent_id: str) -> Json:
        if intent_id not in self.payment_intents:
            raise not_found("payment_intent", intent_id)
        return self.payment_intents[intent_id]

    def _confirm(self, intent: Json, off_session: bool, origin: Origin) -> Answer:
        """Charge the intent's card: succeeded, failed (402 card_error) or waiting for authentication."""
        if intent["payment_method"] is None:
            raise StripeError(
                400,
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
                param="payment_method",
            )
        method = self.payment_methods[intent["payment_method"]]
        if intent["customer"] is not None and method["customer"] not in (None, intent["customer"]):
            raise StripeError(400, "The provided PaymentMethod belongs to another customer.", param="payment_method")
        decline = self._decline(method, off_session)
        if decline is None and self._cards[method["id"]].needs_authentication:
            intent |= {"status": "requires_action", "next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {}}}
            return Answer(200, copy.deepcopy(intent))
        if decline is None:
            intent |= {
                "status": "succeeded",
                "amount_received": intent["amount"],
                "latest_charge": new_id("ch"),
                "last_payment_error": None,
                "next_action": None,
            }
            return Answer(200, copy.deepcopy(intent), [self._event("payment_intent.succeeded", intent, origin)])
        intent |= {
            "status": "requires_payment_method",
            "last_payment_error": {
                "type": "card_error",
                "code": decline.code,
                "decline_code": decline.decline_code,
                "message": decline.message,
                "payment_method": copy.deepcopy(method),
            },
        }
        error = StripeError(
            402,
            decline.message,
            decline=decline,
            payment_intent=copy.deepcopy(intent),
            payment_method=copy.deepcopy(method),
        )
        return Answer(402, error.body(), [self._event("payment_intent.payment_failed", intent, origin)])

    def _decline(self, method: Json, off_session: bool) -> Decline | None:
        """Why this card's charge fails now, or None; an expired card fails whatever its number."""
        card, test_card = method["card"], self._cards[method["id"]]
        if card_expired(card["exp_month"], card["exp_year"]):
            return cards.EXPIRED_CARD
        if test_card.needs_authentication and not off_session:
            return None  # on-session the customer is asked to authenticate
        return test_card.decline

    def _event(self, kind: str, intent: Json, origin: Origin) -> Json:
        event: Json = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": _now(),
            "type": kind,
            "data": {"object": copy.deepcopy(intent)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": origin.request_id, "idempotency_key": origin.idempotency_key},
        }
        self.events[event["id"]] = event
        return event

    # --- the admin view ----------------------------------------------------------------------

    def list_intents(self, account_id: str | None = None, customer: str | None = None) -> list[Json]:
        """Every PaymentIntent, oldest first; optionally one account's (metadata account_id) or customer's."""
        with self.lock:
            return [
                copy.deepcopy(intent)
                for intent in self.payment_intents.values()
                if (account_id is None or intent["metadata"].get("account_id") == account_id)
                and (customer is None or intent["customer"] == customer)
            ]

    def event(self, event_id: str) -> Json:
        with self.lock:
            if event_id not in self.events:
                raise not_found("event", event_id)
            return copy.deepcopy(self.events[event_id])

    def list_events(self, payment_intent: str | None = None) -> list[Json]:
        with self.lock:
            return [
                copy.deepcopy(event)
                for event in self.events.values()
                if payment_intent is None or event["data"]["object"]["id"] == payment_intent
            ]
