"""The credits-payment-webhook function (functions/credits/webhook.py): a verified payment outcome is published as
credits.payment-reported under an id of the gateway's event; anything unsigned, altered or stale is refused."""

from __future__ import annotations

import json
import time

import functions_framework
import pytest

from emulators.payments.webhooks import SIGNATURE_HEADER, sign
from shared import runtime
from shared.events import derive_event_id
from shared.settings import LOCAL_STAND_INS

SOURCE = "functions/credits/webhook.py"
SECRET = LOCAL_STAND_INS["payments_webhook_secret"]
INTENT = {"id": "pi_1", "object": "payment_intent", "amount": 5000, "currency": "uzs", "status": "succeeded",
          "metadata": {"account_id": "acme-contact", "charge_id": "chg-7", "attempt": "2"},
          "last_payment_error": None}
DECLINE = {"type": "card_error", "code": "expired_card", "decline_code": "expired_card",
           "message": "Your card has expired."}


def event(kind: str = "payment_intent.succeeded", event_id: str = "evt_1", **intent) -> dict:
    return {"id": event_id, "object": "event", "type": kind, "data": {"object": {**INTENT, **intent}}}


@pytest.fixture
def published(monkeypatch):
    sent: list[tuple[str, dict, str]] = []

    def publish_new(topic, payload, *, event_id, **_):
        sent.append((topic, payload.model_dump(mode="json"), event_id))

    monkeypatch.setattr(runtime, "publish_new", publish_new)
    return sent


@pytest.fixture
def post():
    client = functions_framework.create_app(target="payment_webhook", source=SOURCE).test_client()

    def send(body: dict | bytes, signature: str | None = "sign", at: int | None = None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {}
        if signature == "sign":
            headers[SIGNATURE_HEADER] = sign(raw, SECRET, at if at is not None else int(time.time()))
        elif signature is not None:
            headers[SIGNATURE_HEADER] = signature
        return client.post("/", data=raw, headers={"Content-Type": "application/json", **headers})

    return send


def test_a_signed_success_is_published_once_under_the_gateways_event_and_a_replay_is_the_same_event(post, published):
    assert post(event()).status_code == 200
    assert post(event()).status_code == 200  # the gateway sends it again (a retry, a replay): freshly signed
    expected = ("credits.payment-reported",
                {"gateway_event": "evt_1", "payment_intent": "pi_1", "status": "succeeded", "account_id": "acme-contact",
                 "charge_id": "chg-7", "attempt": 2, "amount": 5000, "currency": "UZS", "failure_code": None,
                 "failure_message": None},
                derive_event_id("evt_1", "credits.payment-reported"))
    assert published == [expected, expected]


def test_a_failed_payment_is_reported_with_its_decline_code_and_message(post, published):
    assert post(event("payment_intent.payment_failed", status="requires_payment_method",
                      last_payment_error=DECLINE)).status_code == 200
    [(_, payload, _)] = published
    assert (payload["status"], payload["failure_code"], payload["failure_message"]) == \
        ("failed", "expired_card", "Your card has expired.")


@pytest.mark.parametrize("stranger", [
    event("payment_intent.created"),
    event("charge.succeeded"),
    event(metadata={"order": "42"}),
    event(metadata={"account_id": "acme-contact"}),
])
def test_an_event_about_no_charge_of_ours_is_acknowledged_and_not_published(post, published, stranger):
    assert post(stranger).status_code == 200
    assert published == []


@pytest.mark.parametrize("why", ["unsigned", "altered", "stale", "other secret", "garbled"])
def test_an_unsigned_altered_or_stale_webhook_is_refused_with_400_and_nothing_published(post, published, why):
    body = json.dumps(event()).encode()
    now = int(time.time())
    answer = {
        "unsigned": lambda: post(body, signature=None),
        "altered": lambda: post(body.replace(b"5000", b"9000000"), signature=sign(body, SECRET, now)),
        "stale": lambda: post(body, at=now - 301),
        "other secret": lambda: post(body, signature=sign(body, "whsec_other", now)),
        "garbled": lambda: post(body, signature="t=x,v1"),
    }[why]()
    assert answer.status_code == 400
    assert published == []


def test_a_signed_event_of_ours_that_cannot_be_read_is_refused_and_not_published(post, published):
    assert post(event(currency="not-a-currency")).status_code == 400
    assert post(event(metadata={"account_id": "acme-contact", "charge_id": "chg-7", "attempt": "x"})).status_code == 400
    assert published == []


def test_a_publishing_failure_is_answered_503_for_the_gateway_to_retry(post, monkeypatch):
    def down(*_, **__):
        raise TimeoutError("Pub/Sub is unreachable")

    monkeypatch.setattr(runtime, "publish_new", down)
    assert post(event()).status_code == 503
