"""The carrier: HLR, SMS centre, USSD gateway and Twilio's edge wired together behind one lock.

State lives in memory (this is the emulated network, not the product's state). Mutations happen
under `lock`; every HTTP call to a webhook happens outside it, and everything the network does on
its own time (routing, callbacks, Pub/Sub events, validity timers) goes through the dispatcher.
"""

from __future__ import annotations

import functools
import logging
import threading
import xml.etree.ElementTree as ElementTree
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlparse

import requests

from emulators.carrier import twilio_api
from emulators.carrier.calls import Call, SavedRecording, WebhookAnswer, WebhookRequest
from emulators.carrier.dispatch import Dispatcher, GiveUp
from emulators.carrier.network import AttachmentChange, Network, UssdReply, is_service_number, parse_ussd
from emulators.carrier.recordings import MEDIA_PATH, Recording, RecordingStore
from emulators.carrier.smsc import Message, SmsCentre, StatusChange, new_sid
from shared.events import derive_event_id, utcnow
from shared.msisdn import InvalidMsisdn, normalise
from shared.signing import USSD_SIGNATURE_HEADER, sign_body

logger = logging.getLogger("carrier")

FORM = "application/x-www-form-urlencoded"
# STIR/SHAKEN as Twilio reports it (StirVerstat): the carrier signed the caller ID of a call that
# started on one of its own phones.
FULL_ATTESTATION = "TN-Validation-Passed-A"


@dataclass
class CarrierConfig:
    account_sid: str
    auth_token: str
    gateway_secret: str
    ussd_webhook: str | None = None
    sms_webhook: str | None = None
    voice_webhook: str | None = None
    voice_number: str | None = None  # the VAS number calls are forwarded to (Twilio's `To`)
    voice_status_callback: str | None = None  # told (signed) when a call that reached the webhook ends
    network_code: str = "43405"  # MCC+MNC the USSD gateway reports (Uzbekistan, 434-05)
    publish_network_events: bool = False  # attach/detach to Pub/Sub topic network.attachment
    store_validity: timedelta = timedelta(hours=72)  # how long a detached phone's SMS waits
    webhook_timeout: float = 15.0
    public_url: str = "http://127.0.0.1:8099"  # where others reach this emulator (RecordingUrl starts so)
    max_calls: int = 1000  # calls kept in memory; the oldest ended ones go first

    def public(self) -> dict:
        """What the control API shows (no secrets)."""
        return {
            "account_sid": self.account_sid,
            "ussd_webhook": self.ussd_webhook,
            "sms_webhook": self.sms_webhook,
            "voice_webhook": self.voice_webhook,
            "voice_number": self.voice_number,
            "voice_status_callback": self.voice_status_callback,
            "public_url": self.public_url,
            "network_code": self.network_code,
            "publish_network_events": self.publish_network_events,
            "store_validity_seconds": int(self.store_validity.total_seconds()),
        }


class PhoneOff(Exception):
    """The phone is detached: it can neither dial nor text."""


class NotConfigured(Exception):
    """The webhook this action needs has no URL."""


class UnknownCall(LookupError):
    """No call with this SID is kept by the network."""


class Carrier:
    def __init__(self, config: CarrierConfig, dispatcher: Dispatcher | None = None):
        self.config = config
        self.lock = threading.RLock()
        self.network = Network()
        self.smsc = SmsCentre(config.store_validity)
        self.dispatcher = dispatcher or Dispatcher()
        self.http = requests.Session()
        self.recordings = RecordingStore()
        # Calls by SID in the order they were placed; each has its own lock, so a slow IVR webhook
        # holds up only its own call while the rest of the network goes on.
        self.calls: OrderedDict[str, Call] = OrderedDict()
        self._call_locks: dict[str, threading.Lock] = {}

    # --- HLR ---------------------------------------------------------------------------------

    def provision(self, msisdn: str, attached: bool = True) -> dict:
        msisdn = normalise(msisdn)
        with self.lock:
            phone, change = self.network.provision(msisdn, attached)
            delivered = self._after_attachment(change)
            return {"phone": phone.as_json(), **self._report(change, delivered)}

    def set_attached(self, msisdn: str, attached: bool) -> dict:
        msisdn = normalise(msisdn)
        with self.lock:
            change = self.network.set_attached(msisdn, attached)
            delivered = self._after_attachment(change)
            return {"phone": self.network.phone(msisdn).as_json(), **self._report(change, delivered)}

    def set_state(self, msisdn: str, **flags: bool) -> dict:
        """Set a phone's call handling: busy, answers, forward_all, zero_balance."""
        with self.lock:
            return self.network.set_state(normalise(msisdn), flags).as_json()

    def phones(self) -> list[dict]:
        with self.lock:
            return [phone.as_json() for phone in self.network.phones.values()]

    def phone(self, msisdn: str) -> dict:
        with self.lock:
            return self.network.phone(normalise(msisdn)).as_json()

    def inbox(self, msisdn: str) -> list[dict]:
        with self.lock:
            return [item.as_json() for item in self.network.phone(normalise(msisdn)).inbox]

    def _after_attachment(self, change: AttachmentChange | None) -> int:
        if change is None:
            return 0
        if self.config.publish_network_events:
            event_id = self.network.event_id(change)
            self.dispatcher.submit(
                change.msisdn, f"network.attachment {event_id}", lambda: _publish_attachment(change, event_id)
            )
        if change.state != "attached":
            return 0
        changes = self.smsc.deliver_waiting(change.msisdn, self.network)
        self._callbacks(changes)
        return len(changes)

    def _report(self, change: AttachmentChange | None, delivered: int) -> dict:
        published = self.config.publish_network_events
        return {
            "changed": change is not None,
            "delivered_waiting": delivered,
            "event_id": self.network.event_id(change) if change is not None and published else None,
            "publish_network_events": self.config.publish_network_events,
        }

    # --- SMS centre --------------------------------------------------------------------------

    def submit(self, account_sid: str, request: twilio_api.CreateMessage) -> Message:
        """A message from the API: accepted now, routed in the background."""
        with self.lock:
            message = self.smsc.submit(
                account_sid=account_sid,
                to=request.to,
                sender=request.sender,
                body=request.body,
                status_callback=request.status_callback,
                validity=request.validity,
            )
        self.dispatcher.submit(message.sid, f"route {message.sid}", lambda: self._route(message.sid))
        return message

    def _route(self, sid: str) -> None:
        with self.lock:
            changes = self.smsc.route(sid, self.network)
            self._callbacks(changes)
            message = self.smsc.message(sid)
            # Waiting for its phone: give up when validity runs out (a message from the API always has one).
            if message.status == "sent" and message.validity is not None:
                self.dispatcher.submit(
                    sid, f"expire {sid}", lambda: self._expire(sid), delay=message.validity.total_seconds()
                )

    def _expire(self, sid: str) -> None:
        with self.lock:
            self._callbacks(self.smsc.expire(sid))

    def messages(self, to: str | None = None, sender: str | None = None) -> list[Message]:
        """Every message the SMSC handled, newest first (Twilio's list order)."""
        with self.lock:
            found = [
                m
                for m in self.smsc.messages.values()
                if (to is None or m.to == to) and (sender is None or m.sender == sender)
            ]
        return sorted(found, key=lambda m: m.date_created, reverse=True)

    def message(self, sid: str) -> Message | None:
        with self.lock:
            return self.smsc.messages.get(sid)

    def _callbacks(self, changes: list[StatusChange]) -> None:
        """Queue a signed status callback per change (caller holds the lock)."""
        for change in changes:
            message = self.smsc.message(change.sid)
            logger.info(
                "message %s %s", message.sid, change.status, extra={"to": message.to, "error_code": change.error_code}
            )
            if message.status_callback:
                params = twilio_api.status_callback_params(message, change)
                self.dispatcher.submit(
                    message.sid,
                    f"status callback {message.sid} {change.status}",
                    functools.partial(self._post_signed, message.status_callback, params),
                )

    def _signed_post(self, url: str, params: dict[str, str]) -> requests.Response:
        """POST a form signed exactly as Twilio signs its webhooks."""
        return self._signed_request("POST", url, params)

    def _signed_request(self, method: str, url: str, params: dict[str, str]) -> requests.Response:
        """A webhook request signed as Twilio signs it: a POST signs URL and form, a GET its full URL."""
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if method == "GET":
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
            headers["X-Twilio-Signature"] = twilio_api.signature(self.config.auth_token, url, {})
            return self.http.get(url, headers=headers, timeout=self.config.webhook_timeout)
        headers.update(
            {"X-Twilio-Signature": twilio_api.signature(self.config.auth_token, url, params), "Content-Type": FORM}
        )
        return self.http.post(url, data=urlencode(params), headers=headers, timeout=self.config.webhook_timeout)

    def _post_signed(self, url: str, params: dict[str, str], method: str = "POST") -> None:
        """A callback job: 5xx and connection errors raise (retried), 4xx gives up."""
        response = self._signed_request(method, url, params)
        if response.status_code >= 500:
            raise RuntimeError(f"{url} answered {response.status_code}")
        if response.status_code >= 400:
            raise GiveUp(f"{url} answered {response.status_code}: {response.text[:200]}")

    # --- a phone's own actions ---------------------------------------------------------------

    def dial(self, msisdn: str, dialled: str) -> dict:
        """The phone dials a USSD string: the gateway posts it to the USSD webhook and shows the answer."""
        msisdn = normalise(msisdn)
        dial = parse_ussd(dialled)
        with self.lock:
            self._require_attached(msisdn)
            session = self.network.open_session(msisdn, dial)
        return self._ussd_round(session.session_id, msisdn, session.service_code, session.text)

    def reply(self, msisdn: str, session_id: str, user_input: str) -> dict:
        """The subscriber answers a `CON` menu within the same session."""
        msisdn = normalise(msisdn)
        with self.lock:
            self._require_attached(msisdn)
            session = self.network.continue_session(msisdn, session_id, user_input.strip())
            text = session.text
        return self._ussd_round(session_id, msisdn, session.service_code, text)

    def _ussd_round(self, session_id: str, msisdn: str, service_code: str, text: str) -> dict:
        url = self._webhook("ussd")
        body = urlencode(
            {
                "sessionId": session_id,
                "serviceCode": service_code,
                "phoneNumber": msisdn,
                "networkCode": self.config.network_code,
                "text": text,
            }
        ).encode()
        headers = {"Content-Type": FORM, USSD_SIGNATURE_HEADER: sign_body(self.config.gateway_secret, body)}
        try:
            response = self.http.post(url, data=body, headers=headers, timeout=self.config.webhook_timeout)
            status, answer = response.status_code, response.text
        except requests.RequestException as error:
            logger.warning("USSD webhook unreachable: %s", error)
            status, answer = None, ""
        reply = UssdReply.parse(status or 0, answer)
        if reply.end:
            with self.lock:
                self.network.close_session(session_id)
        return {
            "text": reply.text,
            "end": reply.end,
            "session_id": session_id,
            "service_code": service_code,
            "request_text": text,
            "webhook_status": status,
        }

    def send_sms(self, msisdn: str, to: str, body: str) -> dict:
        """The phone texts a short code: the SMS webhook is told (signed), its TwiML replies come back."""
        msisdn = normalise(msisdn)
        if not body:
            raise ValueError("an SMS needs a body")
        to = to.strip()
        with self.lock:
            self._require_attached(msisdn)
            destination = _chargeable_destination(to)
            if destination is not None and self.network.phone(msisdn).zero_balance:
                attempt_id = new_sid("SM")
                self._refuse(attempt_id, msisdn, destination, "sms")
                return {"sid": attempt_id, "outcome": "refused-zero-balance", "webhook_status": None, "replies": []}
        url = self._webhook("sms")
        with self.lock:
            self._require_attached(msisdn)
            message = self.smsc.record_inbound(
                account_sid=self.config.account_sid, sender=msisdn, to=to.strip(), body=body
            )
            params = twilio_api.inbound_sms_params(message)
        try:
            response = self._signed_post(url, params)
            status = response.status_code
            replies = twiml_messages(response.text) if status == 200 else []
        except requests.RequestException as error:
            logger.warning("SMS webhook unreachable: %s", error)
            status, replies = None, []
        # Twilio sends the TwiML <Message> replies back to the sender as ordinary messages.
        reply_sids = [
            self.submit(
                self.config.account_sid,
                twilio_api.CreateMessage(to=msisdn, sender=to.strip(), body=text, status_callback=None, validity=None),
            ).sid
            for text in replies
        ]
        return {"sid": message.sid, "outcome": "accepted", "webhook_status": status, "replies": reply_sids}

    def call(self, msisdn: str, dialled: str) -> dict:
        """The phone calls a number; returns once the call waits for the caller or has ended.

        Charging first (a zero-balance caller is refused unless the number is a free service number),
        then the switch: a service number goes straight to the voice webhook; a subscriber is
        connected, does not exist, or is forwarded to the voice webhook with the reason. The call
        starts on one of our phones, so the network vouches for its caller ID (full attestation).
        """
        return self._place(normalise(msisdn), dialled, attestation=FULL_ATTESTATION)

    def call_from_outside(self, caller: str, dialled: str) -> dict:
        """A call arriving from another network with whatever caller ID it claims: nobody vouches for it.

        This is how a spoofed caller ID reaches the platform: the same switch, no attestation.
        """
        return self._place(caller.strip(), dialled, attestation=None)

    def _place(self, msisdn: str, dialled: str, attestation: str | None) -> dict:
        dialled = dialled.strip()
        service = is_service_number(dialled)
        to = dialled if service else normalise(dialled)
        call_sid = new_sid("CA")
        new_call = functools.partial(
            Call, sid=call_sid, account_sid=self.config.account_sid, caller=msisdn, attestation=attestation
        )
        ours = attestation is not None  # a call from one of our phones: attached, and charged by us
        with self.lock:
            if ours:
                self._require_attached(msisdn)
            if ours and not service and self.network.phone(msisdn).zero_balance:
                self._refuse(call_sid, msisdn, to, "call")
                return self._keep(new_call(to=to, outcome="refused-zero-balance")).end_unconnected()
            if service:
                call = new_call(
                    to=to,
                    outcome="service",
                    line=_CallLine(self),
                    status_callback=self.config.voice_status_callback,
                )
            else:
                route = self.network.route_call(to)
                if route.outcome == "not-exists" and self.config.voice_webhook:
                    # After the announcement the network hands the call to the platform (Voice+).
                    call = new_call(
                        to=to,
                        outcome="not-exists",
                        call_reason="not-exists",
                        line=_CallLine(self),
                        status_callback=self.config.voice_status_callback,
                    )
                elif route.outcome != "forwarded":
                    return self._keep(new_call(to=to, outcome=route.outcome)).end_unconnected()
                else:
                    # Call forwarding: the network hands the call to the VAS number, as Twilio tells it.
                    call = new_call(
                        to=self.config.voice_number or to,
                        outcome="forwarded",
                        forwarded_from=to,
                        forward_reason=route.forward_reason,
                        line=_CallLine(self),
                        status_callback=self.config.voice_status_callback,
                    )
            url = self._webhook("voice")
            lock = self._call_locks[call.sid] = threading.Lock()
            self._keep(call)
            logger.info(
                "call %s %s",
                call.sid,
                call.outcome,
                extra={"from": msisdn, "to": to, "forward_reason": call.forward_reason},
            )
        with lock:
            return call.start(url)

    def press(self, call_sid: str, digits: str) -> dict:
        """The caller presses keys while a <Gather> (or a <Record>'s finishOnKey) waits."""
        return self._on_call(call_sid, lambda call: call.press(digits))

    def silence(self, call_sid: str) -> dict:
        """The caller stays silent until the waiting <Gather> or <Record> times out."""
        return self._on_call(call_sid, lambda call: call.silence())

    def speak(self, call_sid: str, text: str, seconds: int, then: str = "silence") -> dict:
        """The caller speaks into a waiting <Record>."""
        return self._on_call(call_sid, lambda call: call.speak(text, seconds, then))

    def hang_up(self, call_sid: str) -> dict:
        return self._on_call(call_sid, lambda call: call.hang_up())

    def call_state(self, call_sid: str) -> dict:
        return self._on_call(call_sid, lambda call: {**call.snapshot(len(call.heard)), "transcript": call.transcript()})

    def list_calls(self) -> list[dict]:
        """Every call kept, newest first."""
        with self.lock:
            calls = list(self.calls.values())
        return [call.snapshot(len(call.heard)) for call in reversed(calls)]

    def _on_call(self, call_sid: str, act: Callable[[Call], dict]) -> dict:
        with self.lock:
            call = self.calls.get(call_sid)
            lock = self._call_locks.get(call_sid)
        if call is None:
            raise UnknownCall(f"no call {call_sid}")
        if lock is None:  # the network ended it at once: nothing runs on it any more
            return act(call)
        with lock:
            return act(call)

    def _keep(self, call: Call) -> Call:
        """Remember a call (caller holds the lock), forgetting the oldest ended ones beyond the cap."""
        self.calls[call.sid] = call
        excess = len(self.calls) - self.config.max_calls
        for sid in [sid for sid, kept in self.calls.items() if kept.ended and sid != call.sid][: max(excess, 0)]:
            del self.calls[sid]
            self._call_locks.pop(sid, None)
        return call

    def _refuse(self, attempt_id: str, caller: str, destination: str, kind: str) -> None:
        """The charging system refuses a zero-balance attempt; the mediation reports it (caller holds the lock)."""
        at = utcnow()
        logger.info(
            "%s refused for zero balance", kind, extra={"from": caller, "to": destination, "attempt_id": attempt_id}
        )
        if self.config.publish_network_events:
            event_id = derive_event_id(f"carrier/{attempt_id}", "network.attempt-refused")
            self.dispatcher.submit(
                caller,
                f"network.attempt-refused {event_id}",
                lambda: _publish_refusal(attempt_id, caller, destination, kind, at, event_id),
            )

    # --- recordings --------------------------------------------------------------------------

    def save_recording(self, call_sid: str, seconds: int, speech: str) -> SavedRecording:
        with self.lock:
            recording = self.recordings.add(
                Recording(
                    sid=new_sid("RE"),
                    account_sid=self.config.account_sid,
                    call_sid=call_sid,
                    seconds=seconds,
                    speech=speech,
                )
            )
        return SavedRecording(recording.sid, self.recording_url(recording))

    def recording_url(self, recording: Recording) -> str:
        return self.config.public_url.rstrip("/") + twilio_api.recording_path(recording.account_sid, recording.sid)

    def recording(self, sid: str) -> Recording | None:
        with self.lock:
            return self.recordings.get(sid)

    def list_recordings(self, call_sid: str | None = None) -> list[Recording]:
        with self.lock:
            return self.recordings.of_call(call_sid)

    def delete_recording(self, sid: str) -> bool:
        with self.lock:
            return self.recordings.delete(sid)

    def recording_speech(self, url: str) -> str | None:
        """What an emulator recording at `url` says; None when the URL is not one of ours (or it was deleted)."""
        parsed, ours = urlparse(url), urlparse(self.config.public_url)
        match = MEDIA_PATH.search(parsed.path)
        if match is None or parsed.netloc != ours.netloc:
            return None
        recording = self.recording(match["sid"])
        return recording.speech if recording is not None else None

    def _require_attached(self, msisdn: str) -> None:
        if not self.network.phone(msisdn).attached:
            raise PhoneOff(f"{msisdn} is switched off")

    def _webhook(self, kind: str) -> str:
        url = getattr(self.config, f"{kind}_webhook")
        if not url:
            raise NotConfigured(f"no {kind} webhook is configured (--{kind}-webhook)")
        return url

    # --- operations --------------------------------------------------------------------------

    def configure(self, **changes: object) -> dict:
        with self.lock:
            for name in (
                "ussd_webhook",
                "sms_webhook",
                "voice_webhook",
                "voice_number",
                "voice_status_callback",
                "network_code",
            ):
                if name in changes:
                    setattr(self.config, name, changes[name] or None)
            if changes.get("public_url"):
                self.config.public_url = str(changes["public_url"]).rstrip("/")
            return self.config.public()

    def reset(self) -> None:
        """Forget every phone, message and session, and drop queued callbacks."""
        with self.lock:
            self.dispatcher.clear()
            self.network = Network()
            self.smsc = SmsCentre(self.config.store_validity)
            self.recordings = RecordingStore()
            self.calls.clear()
            self._call_locks.clear()


def _twiml_root(twiml: str) -> ElementTree.Element | None:
    """The `<Response>` element of a TwiML answer, or None when it is not TwiML."""
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        return None
    return root if root.tag == "Response" else None


def twiml_messages(twiml: str) -> list[str]:
    """Bodies of the `<Message>` verbs of a TwiML answer (none when it is empty or not TwiML)."""
    root = _twiml_root(twiml)
    if root is None:
        return []
    bodies = []
    for verb in root.iter("Message"):
        body = verb.find("Body")
        text = (body.text if body is not None else verb.text) or ""
        if text.strip():
            bodies.append(text.strip())
    return bodies


class _CallLine:
    """A call's way out to the network: signed webhook requests and the recordings store."""

    def __init__(self, carrier: Carrier):
        self.carrier = carrier

    def request(self, request: WebhookRequest) -> WebhookAnswer:
        try:
            response = self.carrier._signed_request(request.method, request.url, request.params)
        except requests.RequestException as error:
            logger.warning("voice webhook unreachable: %s", error, extra={"url": request.url})
            return WebhookAnswer(None)
        return WebhookAnswer(response.status_code, response.text)

    def save_recording(self, call_sid: str, seconds: int, speech: str) -> SavedRecording:
        return self.carrier.save_recording(call_sid, seconds, speech)

    def recording_speech(self, url: str) -> str | None:
        return self.carrier.recording_speech(url)

    def notify(self, request: WebhookRequest) -> None:
        self.carrier.dispatcher.submit(
            request.params.get("CallSid", request.url),
            f"callback {request.url} {request.params.get('RecordingSid') or request.params.get('CallStatus')}",
            lambda: self.carrier._post_signed(request.url, request.params, request.method),
        )


def _chargeable_destination(to: str) -> str | None:
    """The MSISDN an SMS goes to when it is a subscriber's number; None for a (free) short code."""
    if is_service_number(to):
        return None
    try:
        return normalise(to)
    except InvalidMsisdn:
        return None


def _publish_refusal(attempt_id: str, caller: str, destination: str, kind: str, at: datetime, event_id: str) -> None:
    from shared.events import AttemptRefused
    from shared.runtime import publish_new

    publish_new(
        "network.attempt-refused",
        AttemptRefused(
            attempt_id=attempt_id, caller=caller, destination=destination, kind=kind, indicator="zero", at=at
        ),
        event_id=event_id,
        source="carrier-emulator",
    )


def _publish_attachment(change: AttachmentChange, event_id: str) -> None:
    # Imported here: the runtime pulls in the Google clients, which only publishing needs.
    from shared.events import NetworkAttachment
    from shared.runtime import publish_new

    publish_new(
        "network.attachment",
        NetworkAttachment(msisdn=change.msisdn, state=change.state, at=change.at),
        event_id=event_id,
        source="carrier-emulator",
    )
