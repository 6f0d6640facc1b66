"""The carrier's REST API (Twilio, or the carrier emulator that speaks Twilio's API): one client, one error taxonomy.

notify sends SMS through it now and voice will place calls through it later; both build the client
here so the emulator switch (VAS_TWILIO_API_BASE) and the timeout live in one place.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from shared import settings as settings_module

# Seconds to wait for the carrier. Pub/Sub's ack deadline (catalog: 60 s) must leave room for it.
REQUEST_TIMEOUT = 15.0

# HTTP statuses worth another try: the carrier is overloaded (429) or broken (5xx), or our account
# credentials are refused (401) — a deployment fault an operator fixes, after which the retried or
# replayed dead letter goes out. Every other 4xx is about this message (invalid 'To', unsubscribed
# recipient, body too long) and no retry can fix it.
_RETRYABLE_STATUSES = frozenset({401, 408, 429})


class CarrierError(Exception):
    """The carrier did not take the request; `transient` says whether trying again can help."""

    transient: bool = False

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class TransientCarrierError(CarrierError):
    """Try again later: the carrier was unreachable, overloaded or failing."""

    transient = True


class PermanentCarrierError(CarrierError):
    """The carrier refused this request for good (e.g. 21211 invalid 'To' number)."""


@dataclass(frozen=True)
class AcceptedMessage:
    """What the carrier answered when it took a message."""

    sid: str
    status: str
    num_segments: int | None


def build_client(config: settings_module.Settings) -> Client:
    """A Twilio REST client from settings, pointed at the carrier emulator when twilio_api_base is set."""
    client = Client(
        config.twilio_account_sid, config.twilio_auth_token, http_client=TwilioHttpClient(timeout=REQUEST_TIMEOUT)
    )
    if config.twilio_api_base:
        # twilio 9.x joins Domain.base_url with each request's path at request time, so replacing it
        # on the `api` domain (Messages, Calls) redirects every call. TWILIO_EDGE/TWILIO_REGION in
        # the environment would rewrite the host into '<product>.<edge>.<region>.twilio.com': drop them.
        client.api.base_url = config.twilio_api_base.rstrip("/")
        client.edge = client.region = None
    return client


@functools.cache
def client() -> Client:
    """The process's client, created once (functions reuse it across requests)."""
    return build_client(settings_module.get())


def classify(error: BaseException) -> CarrierError:
    """Turn what the twilio client or requests raised into a transient or permanent CarrierError."""
    if isinstance(error, CarrierError):
        return error
    if isinstance(error, (TwilioRestException, TwilioServiceException)):
        status = int(error.status) if error.status is not None else None
        code = int(error.code) if isinstance(error.code, int) or str(error.code).isdigit() else None
        message = getattr(error, "msg", None) or getattr(error, "detail", None) or getattr(error, "title", "")
        retry = status is None or status >= 500 or status in _RETRYABLE_STATUSES
        kind = TransientCarrierError if retry else PermanentCarrierError
        return kind(f"carrier answered {status}: {message}", status=status, code=code)
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        return TransientCarrierError(f"carrier unreachable: {error.__class__.__name__}: {error}")
    if isinstance(error, (requests.RequestException, TwilioException)):
        return TransientCarrierError(f"carrier request failed: {error.__class__.__name__}: {error}")
    raise TypeError(f"not a carrier error: {error!r}") from error


def is_transient(error: BaseException) -> bool:
    """True when retrying the same request later may succeed."""
    return classify(error).transient


def send_sms(
    to: str, sender: str, body: str, *, status_callback: str | None = None, api: Client | None = None
) -> AcceptedMessage:
    """Hand one SMS to the carrier; raises TransientCarrierError or PermanentCarrierError."""
    optional = {"status_callback": status_callback} if status_callback else {}
    try:
        message = (api or client()).messages.create(to=to, from_=sender, body=body, **optional)
    except (TwilioException, requests.RequestException) as error:
        raise classify(error) from error
    if not message.sid:
        # Retrying could send the SMS twice; without a SID it cannot be tracked either.
        raise PermanentCarrierError("carrier accepted the message but returned no SID")
    segments = message.num_segments
    return AcceptedMessage(
        sid=message.sid,
        status=message.status or "queued",
        num_segments=int(segments) if segments not in (None, "") else None,
    )


def delete_recording(recording_sid: str, *, api: Client | None = None) -> bool:
    """Delete a call recording: True when deleted, False when it was already gone (404).

    Other refusals raise PermanentCarrierError, outages TransientCarrierError.
    """
    try:
        return bool((api or client()).recordings(recording_sid).delete())
    except TwilioRestException as error:
        if error.status == 404:
            return False
        raise classify(error) from error
    except (TwilioException, requests.RequestException) as error:
        raise classify(error) from error
