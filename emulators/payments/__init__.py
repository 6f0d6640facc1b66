"""The payment emulator: a Stripe-compatible gateway for local runs and tests.

- Stripe's API under /v1 for the real `stripe` client (its base address pointed here): customers,
  payment methods from test tokens (tok_visa, pm_card_chargeDeclined, …) or test card numbers,
  PaymentIntents created and confirmed (off-session too), `Idempotency-Key` honoured, the Bearer
  secret key checked, errors in Stripe's JSON shape (card_error with decline_code);
- `payment_intent.succeeded` / `payment_intent.payment_failed` webhooks, signed like Stripe's, sent
  to the configured endpoint after the response and retried; a card past its expiry (by the
  platform's clock) is declined expired_card whatever its number;
- an admin API under /admin and `PaymentsEmulator` (client.py) for tests: list payment intents and
  events, replay a webhook, simulate an outage.
"""

from emulators.payments.client import PaymentsEmulator, service, start

__all__ = ["PaymentsEmulator", "service", "start"]
