"""The carrier: HLR, SMS centre, USSD gateway and Twilio's edge wired together behind one lock.

State lives in memory (this is the emulated network, not the product's state). Mutations happen
under `lock`; every HTTP call to a webhook happens outside it, and everything the network does on
its own time (routing, callbacks, Pub/Sub events, validity timers) goes through the dispatcher.
"""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import requests

from shared.msisdn import normalise
from shared.signing import USSD_SIGNATURE_HEADER, sign_body

from emulators.carrier import twilio_api
from emulators.carrier.dispatch import Dispatcher, GiveUp
from emulators.carrier.network import AttachmentChange, Network, UssdReply, parse_ussd
from emulators.carrier.smsc import Message, SmsCentre, StatusChange, new_sid

logger = logging.getLogger("carrier")

FORM = "application/x-www-form-urlencoded"


@dataclass
class CarrierConfig:
    account_sid: str
    auth_token: str
    gateway_secret: str
    ussd_webhook: str | None = None
    sms_webhook: str | None = None
    voice_webhook: str | None = None
    voice_number: str | None = None        # the VAS number calls are forwarded to (Twilio's `To`)
    network_code: str = "43405"            # MCC+MNC the USSD gateway reports (Uzbekistan, 434-05)
    publish_network_events: bool = False   # attach/detach to Pub/Sub topic network.attachment
    store_validity: timedelta = timedelta(hours=72)  # how long a detached phone's SMS waits
    webhook_timeout: float = 15.0

    def public(self) -> dict:
        """What the control API shows (no secrets)."""
        return {"account_sid": self.account_sid, "ussd_webhook": self.ussd_webhook,
                "sms_webhook": self.sms_webhook, "voice_webhook": self.voice_webhook,
                "voice_number": self.voice_number,
                "network_code": self.network_code, "publish_network_events": self.publish_network_events,
                "store_validity_seconds": int(self.store_validity.total_seconds())}


class PhoneOff(Exception):
    """The phone is detached: it can neither dial nor text."""


class NotConfigured(Exception):
    """The webhook this action needs has no URL."""


class Carrier:
    def __init__(self, config: CarrierConfig, dispatcher: Dispatcher | None = None):
        self.config = config
        self.lock = threading.RLock()
        self.network = Network()
        self.smsc = SmsCentre(config.store_validity)
        self.dispatcher = dispatcher or Dispatcher()
        self.http = requests.Session()

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
            self.dispatcher.submit(change.msisdn, f"network.attachment {event_id}",
                                   lambda: _publish_attachment(change, event_id))
        if change.state != "attached":
            return 0
        changes = self.smsc.deliver_waiting(change.msisdn, self.network)
        self._callbacks(changes)
        return len(changes)

    def _report(self, change: AttachmentChange | None, delivered: int) -> dict:
        published = change is not None and self.config.publish_network_events
        return {"changed": change is not None, "delivered_waiting": delivered,
                "event_id": self.network.event_id(change) if published else None,
                "publish_network_events": self.config.publish_network_events}

    # --- SMS centre --------------------------------------------------------------------------

    def submit(self, account_sid: str, request: twilio_api.CreateMessage) -> Message:
        """A message from the API: accepted now, routed in the background."""
        with self.lock:
            message = self.smsc.submit(account_sid=account_sid, to=request.to, sender=request.sender,
                                       body=request.body, status_callback=request.status_callback,
                                       validity=request.validity)
        self.dispatcher.submit(message.sid, f"route {message.sid}", lambda: self._route(message.sid))
        return message

    def _route(self, sid: str) -> None:
        with self.lock:
            changes = self.smsc.route(sid, self.network)
            self._callbacks(changes)
            message = self.smsc.message(sid)
            if message.status == "sent":  # waiting for its phone: give up when validity runs out
                self.dispatcher.submit(sid, f"expire {sid}", lambda: self._expire(sid),
                                       delay=message.validity.total_seconds())

    def _expire(self, sid: str) -> None:
        with self.lock:
            self._callbacks(self.smsc.expire(sid))

    def messages(self, to: str | None = None, sender: str | None = None) -> list[Message]:
        """Every message the SMSC handled, newest first (Twilio's list order)."""
        with self.lock:
            found = [m for m in self.smsc.messages.values()
                     if (to is None or m.to == to) and (sender is None or m.sender == sender)]
        return sorted(found, key=lambda m: m.date_created, reverse=True)

    def message(self, sid: str) -> Message | None:
        with self.lock:
            return self.smsc.messages.get(sid)

    def _callbacks(self, changes: list[StatusChange]) -> None:
        """Queue a signed status callback per change (caller holds the lock)."""
        for change in changes:
            message = self.smsc.message(change.sid)
            logger.info("message %s %s", message.sid, change.status,
                        extra={"to": message.to, "error_code": change.error_code})
            if message.status_callback:
                params = twilio_api.status_callback_params(message, change)
                url = message.status_callback
                self.dispatcher.submit(message.sid, f"status callback {message.sid} {change.status}",
                                       lambda url=url, params=params: self._post_signed(url, params))

    def _signed_post(self, url: str, params: dict[str, str]) -> requests.Response:
        """POST a form signed exactly as Twilio signs its webhooks."""
        headers = {"X-Twilio-Signature": twilio_api.signature(self.config.auth_token, url, params),
                   "Content-Type": FORM, "User-Agent": "TwilioProxy/1.1"}
        return self.http.post(url, data=urlencode(params), headers=headers, timeout=self.config.webhook_timeout)

    def _post_signed(self, url: str, params: dict[str, str]) -> None:
        """A callback job: 5xx and connection errors raise (retried), 4xx gives up."""
        response = self._signed_post(url, params)
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
        body = urlencode({"sessionId": session_id, "serviceCode": service_code, "phoneNumber": msisdn,
                          "networkCode": self.config.network_code, "text": text}).encode()
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
        return {"text": reply.text, "end": reply.end, "session_id": session_id, "service_code": service_code,
                "request_text": text, "webhook_status": status}

    def send_sms(self, msisdn: str, to: str, body: str) -> dict:
        """The phone texts a short code: the SMS webhook is told (signed), its TwiML replies come back."""
        msisdn = normalise(msisdn)
        if not body:
            raise ValueError("an SMS needs a body")
        url = self._webhook("sms")
        with self.lock:
            self._require_attached(msisdn)
            message = self.smsc.record_inbound(account_sid=self.config.account_sid, sender=msisdn,
                                               to=to.strip(), body=body)
            params = twilio_api.inbound_sms_params(message)
        try:
            response = self._signed_post(url, params)
            status = response.status_code
            replies = twiml_messages(response.text) if status == 200 else []
        except requests.RequestException as error:
            logger.warning("SMS webhook unreachable: %s", error)
            status, replies = None, []
        # Twilio sends the TwiML <Message> replies back to the sender as ordinary messages.
        reply_sids = [self.submit(self.config.account_sid,
                                  twilio_api.CreateMessage(to=msisdn, sender=to.strip(), body=text,
                                                           status_callback=None, validity=None)).sid
                      for text in replies]
        return {"sid": message.sid, "webhook_status": status, "replies": reply_sids}

    def call(self, msisdn: str, callee: str) -> dict:
        """The phone calls a number: connected, or forwarded to the voice webhook when the callee is off."""
        msisdn, callee = normalise(msisdn), normalise(callee)
        with self.lock:
            self._require_attached(msisdn)
            target = self.network.phones.get(callee)
        call_sid = new_sid("CA")
        if target is None:
            return {"call_sid": call_sid, "outcome": "not-exists", "forwarded": False, "webhook_status": None}
        if target.attached:
            return {"call_sid": call_sid, "outcome": "connected", "forwarded": False, "webhook_status": None}
        if not self.config.voice_webhook:
            return {"call_sid": call_sid, "outcome": "switched-off", "forwarded": False, "webhook_status": None}
        # Call forwarding on not-reachable: the network hands the call to the VAS number, as Twilio tells it.
        params = {"AccountSid": self.config.account_sid, "ApiVersion": twilio_api.API_VERSION,
                  "CallSid": call_sid, "CallStatus": "ringing", "Direction": "inbound",
                  "From": msisdn, "Caller": msisdn, "To": self.config.voice_number or callee,
                  "Called": self.config.voice_number or callee, "ForwardedFrom": callee}
        try:
            response = self._signed_post(self.config.voice_webhook, params)
            status, twiml = response.status_code, response.text
        except requests.RequestException as error:
            logger.warning("voice webhook unreachable: %s", error)
            status, twiml = None, ""
        return {"call_sid": call_sid, "outcome": "switched-off", "forwarded": True, "webhook_status": status,
                "said": twiml_said(twiml) if status == 200 else []}

    def _require_attached(self, msisdn: str) -> None:
        if not self.network.phone(msisdn).attached:
            raise PhoneOff(f"{msisdn} is switched off")

    def _webhook(self, kind: str) -> str:
        url = getattr(self.config, f"{kind}_webhook")
        if not url:
            raise NotConfigured(f"no {kind} webhook is configured (--{kind}-webhook)")
        return url

    # --- operations --------------------------------------------------------------------------

    def configure(self, **changes) -> dict:
        with self.lock:
            for name in ("ussd_webhook", "sms_webhook", "voice_webhook", "voice_number", "network_code"):
                if name in changes:
                    setattr(self.config, name, changes[name] or None)
            return self.config.public()

    def reset(self) -> None:
        """Forget every phone, message and session, and drop queued callbacks."""
        with self.lock:
            self.dispatcher.clear()
            self.network = Network()
            self.smsc = SmsCentre(self.config.store_validity)


def _twiml_root(twiml: str):
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


def twiml_said(twiml: str) -> list[str]:
    """What the caller hears: the text of the `<Say>` verbs of a TwiML answer."""
    root = _twiml_root(twiml)
    if root is None:
        return []
    return [say.text.strip() for say in root.iter("Say") if say.text and say.text.strip()]


def _publish_attachment(change: AttachmentChange, event_id: str) -> None:
    # Imported here: the runtime pulls in the Google clients, which only publishing needs.
    from shared.events import NetworkAttachment
    from shared.runtime import publish_new

    publish_new("network.attachment",
                NetworkAttachment(msisdn=change.msisdn, state=change.state, at=change.at),
                event_id=event_id, source="carrier-emulator")
