"""The edge webhooks (HTTP functions): USSD gateway, Twilio inbound SMS and voice, message status.

Each entry point verifies its caller, parses, reads what the answer needs and answers at once.
Whatever goes wrong, the gateway gets an answer it can show (never a 500): unsigned -> 403,
unreadable -> a clear text in the subscriber's language, outage -> "try later" (or 503 where the
carrier must retry so nothing is lost).

Clients live for the process: the Firestore client is shared.store.db() (created on first use and
cached, so a module without emulator or credentials still imports and answers 403s); the Twilio
validator, the operator profile and the service registries are built here at import. Without its
secrets or public URL (outside the local stack) the module refuses to load, naming what is missing.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator

import flask
import functions_framework
from flask.typing import ResponseReturnValue
from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.exceptions import HTTPException

from functions.edge import (
    lookup,
    request_ids,
    security,
    services,
    sms_keywords,
    status,
    ussd as ussd_protocol,  # the entry point below is named `ussd` by the catalog
    voice,
)
from functions.edge.replies import Publication, Text
from functions.edge.request import Request
from functions.edge.subscribers import Caller
from shared import log, operator, runtime, settings, signing, store
from shared.events import SmsSend, derive_event_id, utcnow

logger = logging.getLogger("vas.edge")

# Twilio waits 15 s for a webhook; publishing gives up well before, so a Pub/Sub outage is
# answered with a 503 Twilio retries rather than a timeout.
TWILIO_PUBLISH_TIMEOUT = 8.0
# The USSD gateway closes a session after a few seconds: a publish that cannot finish well before
# is answered "try later" (nothing was requested, so the subscriber can simply dial again).
USSD_PUBLISH_TIMEOUT = 3.0

_MAX_BODY_BYTES = 64 * 1024  # every genuine gateway request is a few hundred bytes

_settings = settings.get()
_settings.require("twilio_auth_token", "ussd_gateway_secret", "webhook_base_url")  # else refuse to start
_profile = operator.current()
# require() raised when either is missing (locally both have stand-ins): neither is None from here on.
assert _settings.twilio_auth_token is not None and _settings.ussd_gateway_secret is not None
_USSD_GATEWAY_SECRET: str = _settings.ussd_gateway_secret
_twilio = security.TwilioGuard(
    _settings.twilio_auth_token, _settings.webhook_base_url, trust_request_url=_settings.local
)
_ussd_services = services.ussd_services(_profile)
_sms_commands = services.sms_services(_profile)
_voice_routes = services.voice_routes(_profile)


# --- answers -------------------------------------------------------------------------------


Handler = Callable[[flask.Request], ResponseReturnValue]  # an HTTP entry point, as functions_framework calls it
PlainAnswer = tuple[str, int, dict[str, str]]  # body, status, headers


def _plain(text: str, status_code: int = 200) -> PlainAnswer:
    return text, status_code, {"Content-Type": "text/plain; charset=utf-8"}


def _ussd_screen(reply: ussd_protocol.Reply) -> PlainAnswer:
    return _plain(reply.body())


def _twiml(response: TwiML) -> PlainAnswer:
    return str(response), 200, {"Content-Type": "application/xml; charset=utf-8"}


def _forbidden(webhook: str) -> PlainAnswer:
    logger.warning("refused an unsigned or wrongly signed request", extra={"webhook": webhook})
    return _plain("Forbidden", 403)


def _unavailable_screen() -> PlainAnswer:
    return _ussd_screen(ussd_protocol.Reply.end(Text("edge.unavailable").render(_profile.default_language)))


def _unavailable_voice() -> PlainAnswer:
    return _twiml(voice.announce(Text("edge.unavailable"), _profile.default_language))


def _retry_later() -> PlainAnswer:
    return _plain("Temporarily unavailable, retry later", 503)


def _webhook(name: str, on_failure: Callable[[], ResponseReturnValue]) -> Callable[[Handler], Handler]:
    """Register an HTTP entry point that caps the body and turns any crash into `on_failure()`."""

    def register(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def entry(request: flask.Request) -> ResponseReturnValue:
            log.setup(_settings.function or name, _settings.log_level)
            request.max_content_length = _MAX_BODY_BYTES
            try:
                return handler(request)
            except HTTPException:
                raise  # 413 and friends are already a proper answer
            except Exception:
                logger.exception("webhook failed; answered with its fallback", extra={"webhook": name})
                return on_failure()

        return functions_framework.http(entry)

    return register


def _publish(publications: tuple[Publication, ...], source: str, timeout: float) -> None:
    """Publish what an answer decided, before the answer is given (its ids make retries harmless)."""
    for publication in publications:
        runtime.publish_new(
            publication.topic,
            publication.payload,
            event_id=publication.event_id,
            source=source,
            timeout=timeout,
            immediate=True,
        )


@contextlib.contextmanager
def _correlated(correlation_id: str) -> Iterator[None]:
    token = log.correlation_id.set(correlation_id or None)
    try:
        yield
    finally:
        log.correlation_id.reset(token)


# --- USSD ----------------------------------------------------------------------------------


@_webhook("edge-ussd", on_failure=_unavailable_screen)
def ussd(request: flask.Request) -> ResponseReturnValue:
    """One USSD screen (CON/END) for the gateway, which signs the raw body with our shared secret."""
    signature = request.headers.get(signing.USSD_SIGNATURE_HEADER)
    if not security.ussd_signed(_USSD_GATEWAY_SECRET, request.get_data(cache=True), signature):
        return _forbidden("edge-ussd")
    try:
        dialled = ussd_protocol.parse(request.form, _profile)
    except ussd_protocol.MalformedRequest as error:
        logger.warning("unreadable USSD request", extra={"reason": str(error)})
        malformed = Text("edge.ussd.malformed").render(_profile.default_language)
        return _ussd_screen(ussd_protocol.Reply.end(malformed))
    service, seen = _ussd_services.route(dialled)
    now = utcnow()
    with _correlated(dialled.session_id):
        try:
            found = lookup.read_all(
                store.db(),
                dialled.msisdn,
                _profile,
                now=now,
                with_account=bool(service and service.needs_account),
                extra=_ussd_services.documents_for(service, seen, _profile),
            )
        except Exception:
            logger.exception(
                "USSD answered 'try later': Firestore read failed", extra={"service_code": dialled.service_code}
            )
            return _unavailable_screen()
        reply = ussd_protocol.answer(
            dialled, found.caller, _ussd_services, _profile, found.account, found.documents, now=now
        )
        try:
            _publish(reply.publish, "edge-ussd", USSD_PUBLISH_TIMEOUT)
        except Exception:
            # The screen would promise what was never requested: say "try later" instead.
            logger.exception(
                "USSD answered 'try later': publishing failed", extra={"topics": [p.topic for p in reply.publish]}
            )
            return _unavailable_screen()
        logger.info(
            "USSD answered",
            extra={
                "service_code": seen.service_code,
                "msisdn": dialled.msisdn,
                "known": found.caller.known,
                "final": not reply.keep_open,
                "published": [p.topic for p in reply.publish],
            },
        )
        return _ussd_screen(reply)


# --- Twilio inbound SMS --------------------------------------------------------------------


@_webhook("edge-sms", on_failure=_retry_later)
def sms_inbound(request: flask.Request) -> ResponseReturnValue:
    """An SMS to our short code: the reply goes out through notify as an `sms.send` event."""
    if not _twilio.allows(request):
        return _forbidden("edge-sms")
    try:
        inbound = _sms_commands.identified(sms_keywords.parse(request.form))  # a PIN stays out of its id
    except sms_keywords.MalformedMessage as error:
        logger.warning("unreadable inbound SMS", extra={"reason": str(error)})
        answer = MessagingResponse()
        answer.message(
            Text("edge.sms.malformed", {"hotline": _profile.short_codes.hotline}).render(_profile.default_language)
        )
        return _twiml(answer)
    event_id = derive_event_id(inbound.request_id, "edge/reply")
    short_code = inbound.to or _profile.short_codes.sms
    with _correlated(event_id):
        answer, language = _sms_reply(inbound, short_code)
        reply = answer.text
        try:
            _publish(answer.publish, "edge-sms", TWILIO_PUBLISH_TIMEOUT)
            if reply is not None:
                runtime.publish_new(
                    "sms.send",
                    SmsSend(
                        to=inbound.sender,
                        template=reply.key,
                        params=reply.params,
                        language=language,
                        sender=short_code,
                        reference=request_ids.sms_reference(inbound.message_sid),
                        billing=answer.billing,
                    ),
                    event_id=event_id,
                    source="edge-sms",
                    timeout=TWILIO_PUBLISH_TIMEOUT,
                )
        except Exception:
            # The reply exists only in this request: a 200 would tell Twilio the message was handled
            # and the subscriber would never hear back. A 5xx makes Twilio retry (or call the
            # fallback URL); the retry derives the same event id, so notify sends one reply at most.
            logger.exception("SMS reply could not be published; answered 503 for Twilio to retry")
            return _retry_later()
        logger.info(
            "SMS answered",
            extra={
                "template": reply.key if reply else None,
                "msisdn": inbound.sender,
                "published": [p.topic for p in answer.publish],
            },
        )
        return _twiml(MessagingResponse())


def _sms_reply(inbound: sms_keywords.InboundSms, short_code: str) -> tuple[sms_keywords.SmsAnswer, str]:
    """The reply (and what to publish) and its language; "try later" in the operator's language if Firestore fails."""
    command, word = _sms_commands.command_of(inbound.body)
    service, now = _sms_commands.service(command, short_code), utcnow()
    try:
        found = lookup.read_all(
            store.db(),
            inbound.sender,
            _profile,
            now=now,
            with_account=service.needs_account,
            extra=service.documents_for(inbound, _profile),
        )
    except Exception:
        logger.exception("SMS answered 'try later': Firestore read failed", extra={"command": command})
        return sms_keywords.SmsAnswer(Text("edge.unavailable")), _profile.default_language
    request = sms_keywords.sms_request(
        inbound=inbound,
        command=command,
        word=word,
        short_code=short_code,
        caller=found.caller,
        profile=_profile,
        account=found.account,
        documents=found.documents,
        now=now,
    )
    return _sms_commands.answer(request), found.caller.language


# --- Twilio inbound voice ------------------------------------------------------------------


@_webhook("edge-voice", on_failure=_unavailable_voice)
def voice_inbound(request: flask.Request) -> ResponseReturnValue:
    """An inbound call: TwiML from the voice service routed for the dialled number."""
    if not _twilio.allows(request):
        return _forbidden("edge-voice")
    call = voice.parse(request.form, request.args)
    if request.args.get("callback") == "status":
        return _call_ended(call)
    with _correlated(call.call_sid):
        answer = _voice_routes.answer(_call_request(call, _voice_routes.documents_for(call, _profile), "voice"))
        try:
            _publish(answer.publish, "edge-voice", TWILIO_PUBLISH_TIMEOUT)
        except Exception:
            logger.exception("voice answered 'try later': publishing failed")
            return _unavailable_voice()
        return _twiml(answer.twiml)


def _call_request(
    call: voice.InboundCall, reads: tuple[tuple[str, str], ...], purpose: str, *, look_up: bool = True
) -> Request[voice.InboundCall]:
    """The call with its caller and what its service reads; unread (in the operator's language) when
    not looked up, the number was withheld or Firestore failed: a call is answered all the same."""
    now = utcnow()
    if look_up and call.caller is not None:
        try:
            found = lookup.read_all(store.db(), call.caller, _profile, with_account=False, now=now, extra=reads)
            return Request(
                channel="voice", input=call, caller=found.caller, profile=_profile, documents=found.documents, now=now
            )
        except Exception:
            logger.exception("call answered unread: Firestore read failed", extra={"purpose": purpose})
    unknown = Caller(msisdn=call.caller or "", known=False, language=_profile.default_language)
    return Request(channel="voice", input=call, caller=unknown, profile=_profile, now=now, read=False)


def _call_ended(call: voice.InboundCall) -> ResponseReturnValue:
    """The number's status callback: what a call's end publishes (a forwarded call's final record)."""
    with _correlated(call.call_sid):
        reads = _voice_routes.documents_for_end(call, _profile)
        # Not looked up when nothing is to be read; published unread when Firestore fails: the
        # consumer refuses a callee who is not a subscriber.
        ended = _call_request(call, reads, "call end", look_up=bool(reads))
        try:
            _publish(_voice_routes.ended(ended), "edge-voice", TWILIO_PUBLISH_TIMEOUT)
        except Exception:
            logger.exception("call end could not be published; answered 503 for the carrier to retry")
            return _retry_later()
        return "", 204


# --- Twilio message status callbacks -------------------------------------------------------


@_webhook("edge-message-status", on_failure=_retry_later)
def message_status(request: flask.Request) -> ResponseReturnValue:
    """A delivery status of an SMS notify sent, forwarded as `sms.status` (duplicates share an id)."""
    if not _twilio.allows(request):
        return _forbidden("edge-message-status")
    try:
        update = status.parse(request.form, received_at=utcnow(), query=request.args)
    except status.BadCallback as error:
        logger.warning("refused a status callback", extra={"reason": str(error)})
        return _plain(f"Bad status callback: {error}", 400)
    if update is None:
        logger.info("status not tracked by notify; acknowledged", extra={"status": request.form.get("MessageStatus")})
        return "", 204
    event_id = status.event_id(update)
    with _correlated(event_id):
        try:
            runtime.publish_new(
                "sms.status", update, event_id=event_id, source="edge-message-status", timeout=TWILIO_PUBLISH_TIMEOUT
            )
        except Exception:
            # Twilio retries a failed callback; acknowledging it would lose the status for good.
            logger.exception("status could not be published; answered 503")
            return _retry_later()
        return "", 204
