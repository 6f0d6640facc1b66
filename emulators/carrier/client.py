"""Python client of the carrier emulator's control API (used by the local stack, tests and the phone CLI)."""

from __future__ import annotations

import time
from urllib.parse import quote

import requests


class CarrierError(RuntimeError):
    """The emulator refused a request; `status` is the HTTP status, the message its reason."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status


class CarrierClient:
    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    # --- the network -------------------------------------------------------------------------

    def provision(self, msisdn: str, attached: bool = True) -> dict:
        return self._call("POST", "/control/phones", {"msisdn": msisdn, "attached": attached})

    def attach(self, msisdn: str) -> dict:
        return self._call("POST", f"{self._phone(msisdn)}/attach")

    def detach(self, msisdn: str) -> dict:
        return self._call("POST", f"{self._phone(msisdn)}/detach")

    def phone(self, msisdn: str) -> dict:
        return self._call("GET", self._phone(msisdn))

    def phones(self) -> list[dict]:
        return self._call("GET", "/control/phones")["phones"]

    def set_state(self, msisdn: str, **flags: bool) -> dict:
        """Set call handling: busy, answers, forward_all, zero_balance (booleans); returns the phone."""
        return self._call("POST", f"{self._phone(msisdn)}/state", flags)

    # --- what a phone does -------------------------------------------------------------------

    def dial(self, msisdn: str, ussd: str) -> dict:
        """Dial a USSD string; returns {text, end, session_id, …} as the phone's screen shows it."""
        return self._call("POST", f"{self._phone(msisdn)}/ussd", {"ussd": ussd})

    def reply(self, msisdn: str, session_id: str, input: str) -> dict:  # noqa: A002 - the gateway's word
        """Answer a `CON` menu in the same USSD session."""
        return self._call("POST", f"{self._phone(msisdn)}/ussd/{quote(session_id, safe='')}", {"input": input})

    def send_sms(self, msisdn: str, to: str, body: str) -> dict:
        """Text a short code; returns {sid, outcome accepted|refused-zero-balance, webhook_status, replies}."""
        return self._call("POST", f"{self._phone(msisdn)}/sms", {"to": to, "body": body})

    def call(self, msisdn: str, to: str) -> dict:
        """Call a number; returns once the call waits for the caller or has ended.

        {call_sid, outcome connected|not-exists|forwarded|service|refused-zero-balance, forwarded,
        forward_reason, heard, heard_now, waiting None|"digits"|"recording", ended, webhook_status, …}
        """
        return self._call("POST", f"{self._phone(msisdn)}/call", {"to": to})

    def call_from_outside(self, caller: str, to: str) -> dict:
        """A call from another network claiming any caller ID (no attestation); returns as `call` does."""
        return self._call("POST", "/control/interconnect/call", {"from": caller, "to": to})

    # --- a call in progress (each returns the call's state after the step) ---------------------

    def press(self, call_sid: str, digits: str) -> dict:
        """Press keys while the call waits for digits (or to end a recording with a finish key)."""
        return self._call("POST", f"{self._call_path(call_sid)}/digits", {"digits": digits})

    def silence(self, call_sid: str) -> dict:
        """Say nothing until the waiting Gather or Record times out."""
        return self._call("POST", f"{self._call_path(call_sid)}/silence")

    def speak(self, call_sid: str, text: str, seconds: int = 5, then: str = "silence") -> dict:
        """Leave a voice message into a waiting Record; `then`: silence, hangup, continue or a key."""
        return self._call(
            "POST", f"{self._call_path(call_sid)}/speak", {"text": text, "seconds": seconds, "then": then}
        )

    def hang_up(self, call_sid: str) -> dict:
        return self._call("POST", f"{self._call_path(call_sid)}/hangup")

    def call_state(self, call_sid: str) -> dict:
        """The call's state with its transcript (what was heard, with language and audio URLs)."""
        return self._call("GET", self._call_path(call_sid))

    def calls(self) -> list[dict]:
        """Every call the network keeps, newest first."""
        return self._call("GET", "/control/calls")["calls"]

    def inbox(self, msisdn: str) -> list[dict]:
        """Messages the phone received, oldest first: {sid, from, body, received_at}."""
        return self._call("GET", f"{self._phone(msisdn)}/inbox")["messages"]

    def wait_for_inbox(self, msisdn: str, count: int, timeout: float = 30.0) -> list[dict]:
        """Poll until the phone holds at least `count` messages; raises TimeoutError with what it has."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.inbox(msisdn)
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{msisdn} has {len(messages)} of {count} messages after {timeout}s: "
                    f"{[m['body'] for m in messages]}"
                )
            time.sleep(0.1)

    # --- the SMS centre and operations --------------------------------------------------------

    def messages(self) -> list[dict]:
        """Every SMS the SMS centre handled, newest first, with status and history."""
        return self._call("GET", "/control/messages")["messages"]

    def message_count(self, to: str | None = None) -> int:
        """How many SMS the SMS centre handled (to one number when `to` is given), without listing them."""
        path = "/control/messages/count" + (f"?to={quote(to, safe='')}" if to else "")
        return int(self._call("GET", path)["count"])

    def configure(self, **webhooks: str | None) -> dict:
        """Change ussd_webhook, sms_webhook, voice_webhook, voice_number or network_code while running."""
        return self._call("POST", "/control/config", webhooks)

    def config(self) -> dict:
        return self._call("GET", "/control/config")

    def reset(self) -> None:
        self._call("POST", "/control/reset")

    def health(self) -> dict:
        return self._call("GET", "/health")

    # --- plumbing ----------------------------------------------------------------------------

    @staticmethod
    def _phone(msisdn: str) -> str:
        return f"/control/phones/{quote(msisdn, safe='')}"

    @staticmethod
    def _call_path(call_sid: str) -> str:
        return f"/control/calls/{quote(call_sid, safe='')}"

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = self.http.request(method, self.base_url + path, json=body, timeout=self.timeout)
        try:
            payload = response.json()
        except ValueError:
            payload = {"error": response.text[:500]}
        if response.status_code >= 400:
            raise CarrierError(response.status_code, payload.get("error") or str(payload))
        return payload
