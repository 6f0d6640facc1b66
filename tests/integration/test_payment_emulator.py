"""The payment emulator as a real process, driven by the real stripe client (shared/payments.py), and its signed
webhooks reaching the credits-payment-webhook function: published once per gateway event, refused unsigned."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from emulators.payments.webhooks import SIGNATURE_HEADER, sign
from shared import payments as gateway_module
from shared.events import derive_event_id
from shared.settings import LOCAL_STAND_INS

TOPIC = "credits.payment-reported"
WAIT = 20.0  # seconds for a webhook to arrive


@pytest.fixture
def gateway(payments):
    return gateway_module.gateway()


@pytest.fixture
def webhook(payments, function_server):
    """The credits-payment-webhook function serving, the emulator's webhooks pointed at it (and nowhere after)."""
    server = function_server("credits-payment-webhook")
    payments.configure(server.ready_url)
    yield server.ready_url
    payments.configure(None)


def account() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}"


def charge(gateway, token: str, account_id: str, charge_id: str | None = None, amount: int = 5000,
           customer: str | None = None, card: str | None = None):
    """Charge the account's card (a new customer and card from `token` unless given), as a recharge does."""
    charge_id = charge_id or f"chg-{uuid.uuid4().hex[:8]}"
    customer = customer or gateway.create_customer(account_id, f"owner@{account_id}.example", account_id)
    card = card or gateway.attach_card(customer, token).token
    return gateway.charge(customer=customer, card=card, amount=amount, currency="UZS",
                          idempotency_key=f"{charge_id}.1",
                          metadata={"account_id": account_id, "charge_id": charge_id, "attempt": "1"})


def intent_charge_id(payments, account_id: str) -> str:
    return payments.payment_intents(account_id)[0]["metadata"]["charge_id"]


def delivered_event(payments, payment_intent: str) -> dict:
    """The intent's event once its webhook was answered 200."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        events = payments.events(payment_intent)
        if events and any(d["status"] == 200 for d in events[0]["deliveries"]):
            return events[0]
        time.sleep(0.1)
    raise AssertionError(f"no webhook of {payment_intent} was answered 200: {payments.events(payment_intent)}")


def test_the_real_stripe_client_charges_cards_on_file_through_the_emulator(payments, gateway):
    account_id = account()
    result = charge(gateway, "tok_visa", account_id, charge_id=f"chg-{account_id}")
    assert result == gateway_module.PaymentResult("succeeded", result.payment_intent)
    [first] = payments.payment_intents(account_id)
    again = charge(gateway, "tok_visa", account_id, charge_id=f"chg-{account_id}", customer=first["customer"],
                   card=first["payment_method"])
    assert again == result  # the same idempotency key: the same PaymentIntent, no second payment
    [intent] = payments.payment_intents(account_id)
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 5000, "uzs")
    declined = charge(gateway, "pm_card_chargeDeclinedInsufficientFunds", account())
    assert (declined.status, declined.failure_code) == ("failed", "insufficient_funds")


def test_a_signed_webhook_is_published_once_per_gateway_event_and_a_replay_is_the_same_event(
        payments, gateway, webhook, tap):
    reports = tap(TOPIC)
    account_id = account()
    result = charge(gateway, "tok_visa", account_id)
    event = delivered_event(payments, result.payment_intent)
    [envelope] = reports(1, timeout=WAIT)
    assert envelope.id == derive_event_id(event["id"], TOPIC)
    assert envelope.data == {
        "gateway_event": event["id"], "payment_intent": result.payment_intent, "status": "succeeded",
        "account_id": account_id, "charge_id": intent_charge_id(payments, account_id), "attempt": 1, "amount": 5000, "currency": "UZS",
        "failure_code": None, "failure_message": None}
    assert payments.replay(event["id"]) == 200
    [replayed] = reports(1, timeout=WAIT)
    assert replayed.id == envelope.id and replayed.data == envelope.data
    assert reports.rest() == []


def test_a_declined_charge_is_reported_failed_with_its_reason_and_a_stranger_event_is_ignored(
        payments, gateway, webhook, tap):
    reports = tap(TOPIC)
    account_id = account()
    result = charge(gateway, "pm_card_chargeDeclinedExpiredCard", account_id)
    delivered_event(payments, result.payment_intent)
    [envelope] = reports(1, timeout=WAIT)
    assert (envelope.data["status"], envelope.data["failure_code"]) == ("failed", "expired_card")
    assert envelope.data["failure_message"] == "Your card has expired."
    # A payment that is not one of our charges (no account_id / charge_id): acknowledged, nothing published.
    customer = gateway.create_customer(account(), None, "someone")
    card = gateway.attach_card(customer, "tok_visa")
    other = gateway.charge(customer=customer, card=card.token, amount=100, currency="UZS",
                           idempotency_key=uuid.uuid4().hex, metadata={"order": "42"})
    delivered_event(payments, other.payment_intent)
    assert reports.rest() == []


@pytest.mark.parametrize("why", ["unsigned", "altered", "stale", "other secret"])
def test_an_unsigned_altered_or_stale_webhook_is_refused_and_nothing_is_published(
        payments, gateway, webhook, tap, why):
    reports = tap(TOPIC)
    result = charge(gateway, "tok_visa", account())
    delivered_event(payments, result.payment_intent)
    assert len(reports(1, timeout=WAIT)) == 1  # the genuine one
    [event] = payments.events(result.payment_intent)
    event.pop("deliveries")
    body = json.dumps(event).encode()
    secret, now = LOCAL_STAND_INS["payments_webhook_secret"], int(time.time())
    forged = {
        "unsigned": (body, {}),
        "altered": (body.replace(b'"amount": 5000', b'"amount": 9000000'), {SIGNATURE_HEADER: sign(body, secret, now)}),
        "stale": (body, {SIGNATURE_HEADER: sign(body, secret, now - 600)}),
        "other secret": (body, {SIGNATURE_HEADER: sign(body, "whsec_someone_else", now)}),
    }[why]
    assert b'"amount": 5000' in body
    answer = requests.post(webhook, data=forged[0], headers={"Content-Type": "application/json", **forged[1]},
                           timeout=10)
    assert answer.status_code == 400
    assert reports.rest() == []
