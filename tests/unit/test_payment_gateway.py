"""The payment gateway adapter (shared/payments.py) driving the real stripe client against the payment emulator
(emulators/payments/) served in this process: cards on file, idempotent charges, Stripe's test cards, expiry by
the platform's clock, outages, and the webhooks' signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from datetime import timedelta

import pytest
import stripe
from flask import Flask, request
from werkzeug.serving import make_server

from emulators.payments import forms
from emulators.payments.app import create_app
from emulators.payments.processor import Processor
from emulators.payments.webhooks import SIGNATURE_HEADER, WebhookSender, sign
from emulators.process import free_port
from shared import payments, settings
from shared.events import CLOCK_OFFSET_VARIABLE, utcnow
from shared.settings import LOCAL_STAND_INS

SECRET_KEY = LOCAL_STAND_INS["payments_secret_key"]
WEBHOOK_SECRET = LOCAL_STAND_INS["payments_webhook_secret"]
METADATA = {"account_id": "acme-contact", "charge_id": "chg-1", "attempt": "1"}


class Receiver:
    """A webhook endpoint: what arrived, answering 503 `failures` times first (an endpoint that is down)."""

    def __init__(self):
        self.bodies: list[tuple[bytes, str | None]] = []
        self.failures = 0
        self.arrived = threading.Condition()
        app = Flask("receiver")
        app.add_url_rule("/hook", "hook", self._hook, methods=["POST"])
        self.server = make_server("127.0.0.1", free_port(), app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _hook(self):
        with self.arrived:
            if self.failures:
                self.failures -= 1
                return "down", 503
            self.bodies.append((request.get_data(), request.headers.get(SIGNATURE_HEADER)))
            self.arrived.notify_all()
        return "", 200

    def wait(self, count: int, timeout: float = 10.0) -> list[tuple[bytes, str | None]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.bodies) >= count, timeout)
            return list(self.bodies)


class Emulator:
    def __init__(self):
        self.processor = Processor()
        self.receiver = Receiver()
        self.sender = WebhookSender(WEBHOOK_SECRET, self.receiver.url, first_wait=0.05)
        self.server = make_server("127.0.0.1", free_port(), create_app(self.processor, self.sender, SECRET_KEY),
                                  threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.receiver.server.shutdown()
        self.sender.stop()


@pytest.fixture(scope="module")
def emulator():
    running = Emulator()
    yield running
    running.stop()


@pytest.fixture
def gateway(emulator, monkeypatch):
    monkeypatch.setenv("VAS_ENV", "local")
    monkeypatch.setenv("VAS_PAYMENTS_API_BASE", emulator.url)
    settings.get.cache_clear()
    payments.gateway.cache_clear()
    yield payments.gateway()
    settings.get.cache_clear()
    payments.gateway.cache_clear()


def new_customer(gateway: payments.Gateway) -> str:
    """A customer of a credit account of its own (one account has one customer: the key is the account)."""
    return gateway.create_customer(f"acme-{uuid.uuid4().hex[:8]}", "owner@acme.example", "Acme Contact")


def card_on_file(gateway: payments.Gateway, token: str = "tok_visa"):
    customer = new_customer(gateway)
    return customer, gateway.attach_card(customer, token)


def charge(gateway: payments.Gateway, customer: str, card: str, key: str, amount: int = 5000):
    return gateway.charge(customer=customer, card=card, amount=amount, currency="UZS", idempotency_key=key,
                          metadata=METADATA)


def intents_of(emulator: Emulator, customer: str) -> list[dict]:
    return emulator.processor.list_intents(customer=customer)


def test_a_card_is_kept_as_the_gateways_token_brand_last_four_and_expiry(gateway, emulator):
    customer, card = card_on_file(gateway, "tok_mastercard")
    assert card.token.startswith("pm_") and (card.brand, card.last4) == ("mastercard", "4444")
    assert (card.exp_month, card.exp_year) == (12, utcnow().year + 3)
    assert emulator.processor.payment_method(card.token)["customer"] == customer
    assert emulator.processor.customer(customer)["metadata"]["account_id"].startswith("acme-")


def test_an_account_gets_one_customer_however_often_it_is_asked(gateway):
    first = gateway.create_customer("acme-once", "owner@acme.example", "Acme")
    assert gateway.create_customer("acme-once", "owner@acme.example", "Acme") == first


def test_one_idempotency_key_charges_once_and_another_parameter_under_it_is_refused(gateway, emulator):
    customer, card = card_on_file(gateway)
    first = charge(gateway, customer, card.token, "chg-1.1")
    again = charge(gateway, customer, card.token, "chg-1.1")
    assert first == again == payments.PaymentResult("succeeded", first.payment_intent, None, None)
    [intent] = intents_of(emulator, customer)
    assert (intent["amount"], intent["currency"], intent["metadata"]) == (5000, "uzs", METADATA)
    with pytest.raises(stripe.IdempotencyError):
        charge(gateway, customer, card.token, "chg-1.1", amount=6000)
    assert charge(gateway, customer, card.token, "chg-1.2").payment_intent != first.payment_intent
    assert len(intents_of(emulator, customer)) == 2


@pytest.mark.parametrize(("token", "status", "code"), [
    ("pm_card_chargeDeclined", "failed", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "failed", "insufficient_funds"),
    ("pm_card_chargeDeclinedExpiredCard", "failed", "expired_card"),
    ("pm_card_authenticationRequired", "requires_action", "authentication_required"),
])
def test_a_declined_test_card_is_a_result_naming_the_reason_and_raises_a_failed_event(gateway, emulator, token,
                                                                                       status, code):
    customer, card = card_on_file(gateway, token)
    result = charge(gateway, customer, card.token, f"{token}.1")
    assert (result.status, result.failure_code) == (status, code) and result.failure_message
    [intent] = intents_of(emulator, customer)
    assert intent["id"] == result.payment_intent and intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["decline_code"] == code
    [event] = emulator.processor.list_events(result.payment_intent)
    assert event["type"] == "payment_intent.payment_failed"
    assert charge(gateway, customer, card.token, f"{token}.1") == result  # the retry of one attempt: same answer


def test_a_card_past_its_expiry_by_the_platforms_clock_is_declined_expired_card_whatever_its_number(
        gateway, emulator, monkeypatch):
    customer = new_customer(gateway)
    today = utcnow()
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": emulator.url})
    details = {"number": "4242424242424242", "exp_month": today.month, "exp_year": today.year, "cvc": "123"}
    on_file, spare = (client.v1.payment_methods.create(params={"type": "card", "card": details}) for _ in "12")
    card = gateway.attach_card(customer, on_file.id)
    assert charge(gateway, customer, card.token, "exp.1").status == "succeeded"
    offset = float(os.environ.get(CLOCK_OFFSET_VARIABLE) or 0)
    monkeypatch.setenv(CLOCK_OFFSET_VARIABLE, str(offset + timedelta(days=32).total_seconds()))
    result = charge(gateway, customer, card.token, "exp.2")
    assert (result.status, result.failure_code) == ("failed", "expired_card")
    with pytest.raises(payments.CardRefused) as refused:
        gateway.attach_card(customer, spare.id)
    assert refused.value.code == "expired_card"


def test_an_unknown_token_is_refused_with_the_gateways_code(gateway):
    with pytest.raises(payments.CardRefused) as refused:
        gateway.attach_card(new_customer(gateway), "tok_nonsense")
    assert refused.value.code == "resource_missing" and "tok_nonsense" in refused.value.message


def test_an_outage_is_a_payment_error_and_the_clients_retry_under_the_same_key_charges_once(gateway, emulator):
    customer, card = card_on_file(gateway)
    with emulator.processor.lock:
        emulator.processor.failures_left = 1 + payments.NETWORK_RETRIES
    with pytest.raises(payments.PaymentError):
        charge(gateway, customer, card.token, "outage.1")
    assert intents_of(emulator, customer) == []
    with emulator.processor.lock:
        emulator.processor.failures_left = 1
    assert charge(gateway, customer, card.token, "outage.1").status == "succeeded"
    assert len(intents_of(emulator, customer)) == 1


def test_an_unreachable_gateway_is_a_payment_error(monkeypatch):
    monkeypatch.setenv("VAS_PAYMENTS_API_BASE", f"http://127.0.0.1:{free_port()}")
    settings.get.cache_clear()
    payments.gateway.cache_clear()
    try:
        with pytest.raises(payments.PaymentError):
            payments.gateway().create_customer("acme-contact", None, "Acme Contact")
    finally:
        settings.get.cache_clear()
        payments.gateway.cache_clear()


def test_a_wrong_secret_key_and_an_unknown_parameter_get_stripes_errors(emulator):
    wrong = stripe.StripeClient("sk_test_wrong_key_123456", base_addresses={"api": emulator.url})
    with pytest.raises(stripe.AuthenticationError):
        wrong.v1.customers.create(params={"name": "x"})
    right = stripe.StripeClient(SECRET_KEY, base_addresses={"api": emulator.url})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        right.v1.customers.create(params={"nmae": "x"})  # type: ignore[typeddict-unknown-key]
    assert refused.value.param == "nmae"


def test_webhooks_follow_the_response_signed_so_that_stripe_verifies_them_and_are_retried(gateway, emulator):
    customer, card = card_on_file(gateway)
    emulator.receiver.failures = 1
    before = len(emulator.receiver.bodies)
    result = charge(gateway, customer, card.token, "hook.1")
    body, signature = emulator.receiver.wait(before + 1)[before]
    event = payments.verify_webhook(body, signature)
    assert event["type"] == "payment_intent.succeeded" and event["data"]["object"]["id"] == result.payment_intent
    deadline = time.monotonic() + 10
    while len(emulator.sender.deliveries(event["id"])) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the receiver has the body before the sender has its answer
    assert [d["status"] for d in emulator.sender.deliveries(event["id"])] == [503, 200]


def signed(event: dict, secret: str = WEBHOOK_SECRET, at: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(event).encode()
    return body, sign(body, secret, at if at is not None else int(time.time()))


EVENT = {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}}


def test_a_webhook_signed_with_the_endpoint_secret_is_accepted():
    body, signature = signed(EVENT)
    assert payments.verify_webhook(body, signature) == EVENT
    digest = hmac.new(WEBHOOK_SECRET.encode(), signature.split(",")[0][2:].encode() + b"." + body,
                      hashlib.sha256).hexdigest()
    assert signature.endswith(f"v1={digest}")  # Stripe's scheme: HMAC-SHA256 of "<t>.<body>"


@pytest.mark.parametrize("why", ["unsigned", "altered", "other secret", "stale", "garbled header", "not JSON"])
def test_a_webhook_unsigned_altered_stale_or_garbled_is_refused(why):
    body, signature = signed(EVENT)
    cases = {
        "unsigned": (body, None),
        "altered": (body.replace(b"pi_1", b"pi_2"), signature),
        "other secret": signed(EVENT, secret="whsec_other"),
        "stale": signed(EVENT, at=int(time.time()) - 301),
        "garbled header": (body, "v1=abc"),
        "not JSON": (b"{not json", sign(b"{not json", WEBHOOK_SECRET, int(time.time()))),
    }
    with pytest.raises(payments.WebhookRefused):
        payments.verify_webhook(*cases[why])


def test_stripes_form_encoding_is_read_as_nested_hashes_and_lists():
    pairs = [("amount", "5"), ("metadata[charge_id]", "c-1"), ("card[token]", "tok_visa"), ("expand[1]", "b"),
             ("expand[0]", "a")]
    assert forms.decode(pairs) == {"amount": "5", "metadata": {"charge_id": "c-1"}, "card": {"token": "tok_visa"},
                                   "expand": ["a", "b"]}
    with pytest.raises(forms.BadParameter):
        forms.decode([("card", "x"), ("card[token]", "y")])
