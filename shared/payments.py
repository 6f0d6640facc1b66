"""The payment gateway (Stripe, or emulators/payments/ locally) behind the calls the platform needs.

Built once per process from settings: the secret key, and the API base (None = Stripe itself). We
keep only the gateway's payment-method id, the card's brand, last four digits and expiry; the card
number never reaches us. Amounts are minor units, passed as Stripe's `amount` as they are.

Errors say what the caller should do: PaymentError (the gateway could not be reached or failed:
raise, so the message is retried with the same idempotency key), CardRefused (the card cannot be
attached: answer the customer), a declined charge is a PaymentResult, not an exception. Any other
error of stripe's (a wrong key, an idempotency key reused for another request) is a misconfiguration
or a bug, raised as it is.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import stripe
from stripe._base_address import BaseAddresses  # the type of StripeClient's base_addresses
from stripe.params import CustomerCreateParams, PaymentIntentCreateParams

from shared import settings

SECRETS = ("payments_secret_key", "payments_webhook_secret")
NETWORK_RETRIES = 2  # the client retries a dropped connection or a 5xx itself, with the same Idempotency-Key
TIMEOUT_SECONDS = 20
# Stripe's answer to an off-session charge that needs the cardholder (3-D Secure): they must act.
AUTHENTICATION_REQUIRED = "authentication_required"

PaymentStatus = Literal["succeeded", "failed", "requires_action", "processing"]
_STATUSES: dict[str, PaymentStatus] = {
    "succeeded": "succeeded",
    "processing": "processing",
    "requires_action": "requires_action",
}


@dataclass(frozen=True)
class PaymentResult:
    status: PaymentStatus
    payment_intent: str
    failure_code: str | None = None  # the decline code when there is one: expired_card, insufficient_funds, …
    failure_message: str | None = None


@dataclass(frozen=True)
class CardOnFile:
    token: str  # the gateway's payment-method id, charged later
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentError(Exception):
    """The gateway could not be reached or failed (5xx, rate limit): transient, the caller raises to retry."""


class CardRefused(Exception):
    """Attaching a card failed (an unknown or expired token, a refused card): answered, not retried."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class CustomerMissing(CardRefused):
    """The gateway no longer knows the customer (deleted, or the keys switched to another gateway account)."""


class WebhookRefused(Exception):
    """A webhook that is unsigned, wrongly signed, altered or too old (or not JSON)."""


def _names_missing_customer(error: stripe.StripeError) -> bool:
    """Whether the gateway refused because the customer is gone (Stripe: resource_missing, "No such customer")."""
    return error.code == "resource_missing" and (
        getattr(error, "param", None) == "customer" or "no such customer" in str(error.user_message or "").lower()
    )


class Gateway:
    """The calls the platform makes to the payment gateway."""

    def __init__(self, client: stripe.StripeClient):
        self._client = client

    def create_customer(self, account_id: str, email: str | None, name: str, *, replacing: str | None = None) -> str:
        """The gateway's customer id for a credit account; a retry of the same request gets the same customer.

        `replacing`: the customer the gateway no longer knows, so the idempotency key is a new one (not its replay).
        """
        params: CustomerCreateParams = {"name": name, "metadata": {"account_id": account_id}}
        if email:
            params["email"] = email
        # The key names the request's content too: asked again after a change of name or email, the gateway
        # makes a customer rather than refusing a key reused with other parameters.
        content = hashlib.sha256(f"{name}\n{email or ''}\n{replacing or ''}".encode()).hexdigest()[:16]
        with _translated():
            customer = self._client.v1.customers.create(
                params=params, options={"idempotency_key": f"customer.{account_id}.{content}"}
            )
        return str(customer.id)

    def attach_card(self, customer: str, token: str) -> CardOnFile:
        """Attach the card a token (tok_…) or payment method (pm_…) names to the customer; what we may keep of it."""
        try:
            with _translated():
                method_id = token
                if token.startswith("tok_"):
                    method_id = self._client.v1.payment_methods.create(
                        params={"type": "card", "card": {"token": token}}
                    ).id
                method = self._client.v1.payment_methods.attach(method_id, params={"customer": customer})
        except (stripe.CardError, stripe.InvalidRequestError) as error:
            refused = CustomerMissing if _names_missing_customer(error) else CardRefused
            raise refused(error.code or "invalid_card", error.user_message or str(error)) from error
        card = method.card
        if card is None:
            raise CardRefused("not_a_card", "Only cards can pay for credits.")
        return CardOnFile(method.id, card.brand, card.last4, card.exp_month, card.exp_year)

    def charge(
        self,
        *,
        customer: str,
        card: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> PaymentResult:
        """Charge the card off-session (a PaymentIntent created and confirmed); a decline is a result, not an error."""
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": card,
            "confirm": True,
            "off_session": True,
            "metadata": metadata,
        }
        try:
            with _translated():
                intent = self._client.v1.payment_intents.create(
                    params=params, options={"idempotency_key": idempotency_key}
                )
        except stripe.CardError as error:
            return _declined(error)
        status = _STATUSES.get(intent.status, "failed")  # requires_payment_method: the card was declined
        failure = intent.last_payment_error
        return PaymentResult(
            status,
            intent.id,
            None if failure is None else failure.decline_code or failure.code,
            None if failure is None else failure.message,
        )


def _declined(error: stripe.CardError) -> PaymentResult:
    """A declined charge: the decline code (expired_card, insufficient_funds, …) and the gateway's message."""
    details = error.error
    intent = details.payment_intent if details else None
    if intent is None:
        raise PaymentError(f"the gateway declined without a PaymentIntent: {error}") from error
    code = (details.decline_code if details else None) or error.code or "card_declined"
    status: PaymentStatus = "requires_action" if code == AUTHENTICATION_REQUIRED else "failed"
    return PaymentResult(status, intent.id, code, error.user_message or str(error))


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Connection failures, 5xx and rate limits become PaymentError; any other error passes as it is."""
    try:
        yield
    except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as error:
        raise PaymentError(f"the payment gateway failed: {error}") from error


@functools.cache
def gateway() -> Gateway:
    """The process's gateway, from settings (the secret key required outside the local stack)."""
    config = settings.get()
    config.require(*SECRETS)
    assert config.payments_secret_key is not None  # require() raised otherwise (locally a stand-in)
    stripe.enable_telemetry = False  # no usage reports to Stripe from our servers, nor a file in $HOME
    base: BaseAddresses = {"api": config.payments_api_base.rstrip("/")} if config.payments_api_base else {}
    return Gateway(
        stripe.StripeClient(
            config.payments_secret_key,
            base_addresses=base,
            max_network_retries=NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        )
    )


def require_settings(*also: str) -> None:
    """Refuse to start (MissingSetting naming each) without the gateway's secrets (and `also`), outside the local
    stack: every function of a service is given its service's secrets."""
    settings.get().require(*SECRETS, *also)


def verify_webhook(payload: bytes, signature: str | None) -> dict[str, Any]:
    """The gateway's event once its Stripe-Signature is checked (stripe.Webhook.construct_event: 5 minutes' grace)."""
    secret = settings.get().payments_webhook_secret
    if not secret:
        raise settings.MissingSetting("VAS_PAYMENTS_WEBHOOK_SECRET not set: webhooks cannot be verified")
    if not signature:
        raise WebhookRefused("no Stripe-Signature header")
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
        event: dict[str, Any] = json.loads(payload)
    except stripe.SignatureVerificationError as error:
        raise WebhookRefused(f"bad signature: {error.user_message or error}") from error
    except ValueError as error:  # not UTF-8 or not JSON, though signed
        raise WebhookRefused(f"not a JSON event: {error}") from error
    return event
