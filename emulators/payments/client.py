"""Start the payment emulator as a process and drive its admin API (the stack, the tests, the demo)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from emulators.process import Service, free_port

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0


@dataclass
class PaymentsEmulator:
    service: Service

    @property
    def url(self) -> str:
        return self.service.ready_url.removesuffix("/health")

    @property
    def env(self) -> dict[str, str]:
        """What a function needs to charge through this emulator (the keys are the local stand-ins)."""
        return {"VAS_PAYMENTS_API_BASE": self.url}

    def configure(self, webhook_url: str | None) -> None:
        """Send webhooks to `webhook_url` from now on (None: nowhere)."""
        self._call("post", "/admin/config", json={"webhook_url": webhook_url})

    def payment_intents(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """Every PaymentIntent created, oldest first; only one account's (metadata account_id) when given."""
        params = {"account_id": account_id} if account_id else {}
        return list(self._call("get", "/admin/payment_intents", params=params)["payment_intents"])

    def events(self, payment_intent: str | None = None) -> list[dict[str, Any]]:
        """Every event raised, each with its webhook `deliveries`; only one PaymentIntent's when given."""
        params = {"payment_intent": payment_intent} if payment_intent else {}
        return list(self._call("get", "/admin/events", params=params)["events"])

    def replay(self, event_id: str) -> int | None:
        """Send an event's webhook again now; the endpoint's status code (None: unreachable)."""
        status = self._call("post", f"/admin/events/{event_id}/replay")["status"]
        return None if status is None else int(status)

    def fail_next(self, requests_: int) -> None:
        """The next `requests_` API requests answer 500 (a gateway outage)."""
        self._call("post", "/admin/outage", json={"failures": requests_})

    def reset(self) -> None:
        self._call("post", "/admin/reset")

    def stop(self) -> None:
        self.service.stop()

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        answer = requests.request(method, self.url + path, timeout=TIMEOUT, **options)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body


def service(
    log_dir: Path, port: int | None = None, *, webhook_url: str | None = None, env: dict[str, str] | None = None
) -> Service:
    """The emulator's process, not started; `env` adds to the caller's environment (the clock, the stack's)."""
    port = port or free_port()
    argv = [sys.executable, "-m", "emulators.payments", "serve", "--port", str(port)]
    if webhook_url:
        argv += ["--webhook-url", webhook_url]
    return Service(
        "payments-emulator",
        argv,
        ready_url=f"http://127.0.0.1:{port}/health",
        # Local only: card expiry and `created` follow the platform's settable clock (shared.events.utcnow).
        env={"VAS_ENV": "local", **(env or {}), "PYTHONPATH": str(REPO)},
        log_dir=log_dir,
        cwd=REPO,
    )


def start(log_dir: Path, port: int | None = None, *, webhook_url: str | None = None) -> PaymentsEmulator:
    """The emulator answering on `port` (a free one by default)."""
    return PaymentsEmulator(service(log_dir, port, webhook_url=webhook_url).start().wait_ready())
