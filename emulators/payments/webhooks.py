"""Webhooks as Stripe sends them: the event's JSON POSTed to the endpoint, signed in `Stripe-Signature`.

`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the endpoint's secret>`, checked by
stripe.Webhook.construct_event. Sent after the API response (from a small pool of threads), retried
a few times with a growing wait while the endpoint does not answer 2xx; a test replays one on demand.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from shared.events import utcnow

SIGNATURE_HEADER = "Stripe-Signature"
ATTEMPTS = 4
FIRST_WAIT = 0.5  # seconds before the first retry; doubled each time
TIMEOUT = 10.0

logger = logging.getLogger("payments.webhooks")


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header of `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookSender:
    """Delivers events to the one configured endpoint and remembers every attempt."""

    def __init__(self, secret: str, url: str | None, *, attempts: int = ATTEMPTS, first_wait: float = FIRST_WAIT):
        self.secret, self.url, self.attempts, self.first_wait = secret, url, attempts, first_wait
        self._lock = threading.Lock()
        self._deliveries: dict[str, list[dict[str, Any]]] = {}  # event id -> attempts
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="payments-webhook")
        self._in_flight = 0

    def send_later(self, events: list[dict[str, Any]]) -> None:
        """Queue each event for delivery with retries (called once the API response is out)."""
        for event in events:
            with self._lock:
                self._in_flight += 1
            self._pool.submit(self._deliver_with_retries, event)

    def deliver(self, event: dict[str, Any]) -> int | None:
        """One signed POST of the event now: the endpoint's status code, None when it could not be reached."""
        url = self.url
        if not url:
            self._record(event["id"], None, "no webhook endpoint is configured")
            return None
        body = json.dumps(event, indent=2).encode()
        # The receiver's stripe library compares `t` with its machine's time.time(), not with the
        # platform's settable clock, so the signature carries the real time.
        header = sign(body, self.secret, int(time.time()))
        try:
            answer = requests.post(
                url,
                data=body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    SIGNATURE_HEADER: header,
                },
                timeout=TIMEOUT,
            )
        except requests.RequestException as error:
            self._record(event["id"], None, str(error))
            return None
        self._record(event["id"], answer.status_code, None if answer.ok else answer.text[:300])
        return answer.status_code

    def deliveries(self, event_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._deliveries.get(event_id, []))

    def pending(self) -> int:
        """Events still being delivered (or waiting for a retry)."""
        with self._lock:
            return self._in_flight

    def reset(self) -> None:
        with self._lock:
            self._deliveries.clear()

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _deliver_with_retries(self, event: dict[str, Any]) -> None:
        try:
            for attempt in range(self.attempts):
                status = self.deliver(event)
                if not self.url or (status is not None and 200 <= status < 300):
                    return
                if attempt + 1 < self.attempts:
                    time.sleep(self.first_wait * 2**attempt)
            logger.warning("webhook not delivered", extra={"event": event["id"], "url": self.url})
        finally:
            with self._lock:
                self._in_flight -= 1

    def _record(self, event_id: str, status: int | None, error: str | None) -> None:
        with self._lock:
            self._deliveries.setdefault(event_id, []).append(
                {"at": utcnow().isoformat(), "url": self.url, "status": status, "error": error}
            )
