"""The payment gateway's webhook (`credits-payment-webhook`): a charge's outcome, verified, published once.

The gateway (Stripe; emulators/payments/ locally) POSTs `payment_intent.succeeded` and
`payment_intent.payment_failed`, signed in Stripe-Signature. Unsigned, altered or stale -> 400 and
nothing published. An event that is not one of our charges (another type, a PaymentIntent without our
account_id and charge_id metadata) -> 200, ignored, so the gateway stops sending it. Ours ->
`credits.payment-reported`, its id derived from the gateway's event id: a replayed webhook publishes
the same event again, which its consumer applies once. Publishing failed -> 503, and the gateway retries.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import flask
import functions_framework
from flask.typing import ResponseReturnValue

from shared import log, payments, runtime, settings
from shared.events import PaymentReported, derive_event_id

logger = logging.getLogger("vas.credits.webhook")

TOPIC = "credits.payment-reported"
SIGNATURE_HEADER = "Stripe-Signature"
# The gateway gives up on an endpoint after some seconds and retries later: answer well before.
PUBLISH_TIMEOUT = 8.0
MAX_BODY_BYTES = 256 * 1024  # a PaymentIntent event is a few kilobytes
OUTCOMES: dict[str, Literal["succeeded", "failed"]] = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "failed",
}

# Deployed like every webhook, with its public URL (the endpoint the operator registers at the gateway), and
# like every credits function, with the gateway's secrets: without them it refuses to start.
payments.require_settings("webhook_base_url")
_settings = settings.get()


class UnreadablePayment(ValueError):
    """A signed event about one of our charges that does not say what a payment report needs."""


def reported_payment(event: dict[str, Any]) -> PaymentReported | None:
    """The payment report a verified gateway event makes; None when it is not about one of our charges."""
    status = OUTCOMES.get(str(event.get("type")))
    intent = _mapping(_mapping(event.get("data")).get("object"))
    metadata = _mapping(intent.get("metadata"))
    if status is None or not metadata.get("account_id") or not metadata.get("charge_id"):
        return None
    failure = _mapping(intent.get("last_payment_error"))
    message = failure.get("message")
    try:
        return PaymentReported(
            gateway_event=event["id"],
            payment_intent=intent["id"],
            status=status,
            account_id=metadata["account_id"],
            charge_id=metadata["charge_id"],
            attempt=int(metadata.get("attempt") or 1),
            amount=intent["amount"],
            currency=str(intent["currency"]).upper(),
            failure_code=failure.get("decline_code") or failure.get("code"),  # the most specific reason
            failure_message=str(message)[:300] if message else None,
        )
    except (KeyError, TypeError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        raise UnreadablePayment(f"{event.get('id')}: {error}") from error


def _mapping(value: Any) -> dict[str, Any]:  # a JSON value: whatever the gateway sent
    return value if isinstance(value, dict) else {}


def event_id(report: PaymentReported) -> str:
    """One event per gateway event, however often the gateway sends it."""
    return derive_event_id(report.gateway_event, TOPIC)


def _plain(text: str, status: int) -> tuple[str, int, dict[str, str]]:
    return text, status, {"Content-Type": "text/plain; charset=utf-8"}


@functions_framework.http
def payment_webhook(request: flask.Request) -> ResponseReturnValue:
    log.setup(_settings.function or "credits-payment-webhook", _settings.log_level)
    request.max_content_length = MAX_BODY_BYTES
    try:
        event = payments.verify_webhook(request.get_data(), request.headers.get(SIGNATURE_HEADER))
    except payments.WebhookRefused as error:
        logger.warning("refused a payment webhook", extra={"reason": str(error)})
        return _plain(f"Refused: {error}", 400)
    try:
        report = reported_payment(event)
    except UnreadablePayment as error:
        logger.error("a signed payment event could not be read", extra={"reason": str(error)})
        return _plain(f"Unreadable payment event: {error}", 400)
    if report is None:
        logger.info("ignored a gateway event that is not one of our charges", extra={"gateway_event": event.get("id")})
        return _plain("Ignored: not a credits charge", 200)
    try:
        runtime.publish_new(
            TOPIC,
            report,
            event_id=event_id(report),
            source="credits-payment-webhook",
            timeout=PUBLISH_TIMEOUT,
            immediate=True,
        )
    except Exception:
        # The gateway retries a failed delivery; acknowledging it would lose the payment's outcome.
        logger.exception("payment report could not be published; answered 503")
        return _plain("Temporarily unavailable, retry later", 503)
    logger.info(
        "payment reported",
        extra={"gateway_event": report.gateway_event, "charge_id": report.charge_id, "status": report.status},
    )
    return _plain("Received", 200)
