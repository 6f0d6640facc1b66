"""HTTP face of the carrier: Twilio's Messages and Recordings API under /2010-04-01, the network's
control API under /control, and /health for whoever waits for it to start."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from emulators.carrier import twilio_api
from emulators.carrier.calls import NotWaiting
from emulators.carrier.network import InvalidUssd, UnknownPhone, UnknownSession
from emulators.carrier.recordings import MEDIA_PATH, silence_wav
from emulators.carrier.service import Carrier, NotConfigured, PhoneOff, UnknownCall
from emulators.carrier.smsc import Message
from emulators.carrier.twilio_api import TwilioError
from emulators.json_body import json_object as _json
from shared.msisdn import InvalidMsisdn, normalise

TWILIO = f"/{twilio_api.API_VERSION}/Accounts/<account_sid>"


def create_app(carrier: Carrier) -> Flask:
    app = Flask("carrier-emulator")
    app.config["carrier"] = carrier

    # --- Twilio REST ---------------------------------------------------------------------------

    @app.before_request
    def authenticate() -> Response | None:
        if not request.path.startswith(f"/{twilio_api.API_VERSION}/"):
            return None
        if request.method == "GET" and _is_media(request.path):
            return None  # recording media is public by default on Twilio (whoever <Play>s it fetches it)
        auth = request.authorization
        config = carrier.config
        if not (
            auth
            and auth.type == "basic"
            and hmac.compare_digest(auth.username or "", config.account_sid)
            and hmac.compare_digest(auth.password or "", config.auth_token)
        ):
            response = jsonify(twilio_api.error_body(401, 20003, "Authenticate"))
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return response
        account_sid = (request.view_args or {}).get("account_sid")
        if account_sid is not None and account_sid != config.account_sid:
            return _not_found()
        return None

    @app.post(f"{TWILIO}/Messages.json")
    def create_message(account_sid: str) -> ResponseReturnValue:
        message = carrier.submit(account_sid, twilio_api.parse_create(request.form))
        return jsonify(twilio_api.message_resource(message)), 201

    @app.get(f"{TWILIO}/Messages.json")
    def list_messages(account_sid: str) -> ResponseReturnValue:
        page, page_size = twilio_api.paging(request.args)
        filters = {
            key: request.args[key]
            for key in ("To", "From", "DateSent", "DateSent<", "DateSent>")
            if request.args.get(key)
        }
        keep = twilio_api.date_sent_filter(request.args)
        found = [
            m
            for m in carrier.messages(
                to=_number_or_code(filters.get("To")), sender=_number_or_code(filters.get("From"))
            )
            if keep(m)
        ]
        return jsonify(twilio_api.page_body(account_sid, found, page=page, page_size=page_size, filters=filters))

    @app.get(f"{TWILIO}/Messages/<sid>.json")
    def fetch_message(account_sid: str, sid: str) -> ResponseReturnValue:
        message = carrier.message(sid)
        if message is None:
            return _not_found()
        return jsonify(twilio_api.message_resource(message))

    @app.get(f"{TWILIO}/Recordings.json")
    def list_recordings(account_sid: str) -> ResponseReturnValue:
        page, page_size = twilio_api.paging(request.args)
        call_sid = request.args.get("CallSid") or None
        found = carrier.list_recordings(call_sid)
        return jsonify(
            twilio_api.recordings_page(
                account_sid,
                found,
                carrier.config.public_url,
                page=page,
                page_size=page_size,
                filters={"CallSid": call_sid} if call_sid else {},
            )
        )

    @app.get(f"{TWILIO}/Recordings/<name>")
    def fetch_recording(account_sid: str, name: str) -> ResponseReturnValue:
        sid, _, extension = name.partition(".")
        recording = carrier.recording(sid)
        if recording is None or recording.account_sid != account_sid or extension not in ("", "json", "wav"):
            return _not_found()
        if extension == "json":
            return jsonify(twilio_api.recording_resource(recording, carrier.config.public_url))
        # Twilio serves WAV when the URL has no extension.
        return Response(silence_wav(recording.seconds), mimetype="audio/x-wav")

    @app.delete(f"{TWILIO}/Recordings/<name>")
    def delete_recording(account_sid: str, name: str) -> ResponseReturnValue:
        sid, _, extension = name.partition(".")
        if extension not in ("", "json") or not carrier.delete_recording(sid):
            return _not_found()
        return "", 204

    @app.errorhandler(TwilioError)
    def twilio_error(error: TwilioError) -> ResponseReturnValue:
        return jsonify(error.body()), error.status

    # --- control API ---------------------------------------------------------------------------

    @app.get("/health")
    def health() -> ResponseReturnValue:
        return jsonify({"status": "ok", **carrier.config.public(), "outbound_pending": carrier.dispatcher.pending()})

    @app.get("/control/config")
    def get_config() -> ResponseReturnValue:
        return jsonify(carrier.config.public())

    @app.post("/control/config")
    def set_config() -> ResponseReturnValue:
        return jsonify(carrier.configure(**_json()))

    @app.post("/control/phones")
    def provision() -> ResponseReturnValue:
        body = _json()
        result = carrier.provision(_required(body, "msisdn"), attached=bool(body.get("attached", True)))
        return jsonify(result), 201

    @app.get("/control/phones")
    def phones() -> ResponseReturnValue:
        return jsonify({"phones": carrier.phones()})

    @app.get("/control/phones/<msisdn>")
    def phone(msisdn: str) -> ResponseReturnValue:
        return jsonify(carrier.phone(msisdn))

    @app.post("/control/phones/<msisdn>/attach")
    def attach(msisdn: str) -> ResponseReturnValue:
        return jsonify(carrier.set_attached(msisdn, True))

    @app.post("/control/phones/<msisdn>/detach")
    def detach(msisdn: str) -> ResponseReturnValue:
        return jsonify(carrier.set_attached(msisdn, False))

    @app.post("/control/phones/<msisdn>/ussd")
    def dial(msisdn: str) -> ResponseReturnValue:
        return jsonify(carrier.dial(msisdn, _required(_json(), "ussd")))

    @app.post("/control/phones/<msisdn>/ussd/<session_id>")
    def reply(msisdn: str, session_id: str) -> ResponseReturnValue:
        return jsonify(carrier.reply(msisdn, session_id, str(_required(_json(), "input"))))

    @app.post("/control/phones/<msisdn>/sms")
    def send_sms(msisdn: str) -> ResponseReturnValue:
        body = _json()
        return jsonify(carrier.send_sms(msisdn, str(_required(body, "to")), str(_required(body, "body")))), 201

    @app.post("/control/phones/<msisdn>/state")
    def set_state(msisdn: str) -> ResponseReturnValue:
        return jsonify(carrier.set_state(msisdn, **_json()))

    @app.post("/control/phones/<msisdn>/call")
    def call(msisdn: str) -> ResponseReturnValue:
        return jsonify(carrier.call(msisdn, str(_required(_json(), "to"))))

    @app.post("/control/interconnect/call")
    def call_from_outside() -> ResponseReturnValue:
        body = _json()
        return jsonify(carrier.call_from_outside(str(_required(body, "from")), str(_required(body, "to"))))

    @app.get("/control/calls")
    def calls() -> ResponseReturnValue:
        return jsonify({"calls": carrier.list_calls()})

    @app.get("/control/calls/<call_sid>")
    def call_state(call_sid: str) -> ResponseReturnValue:
        return jsonify(carrier.call_state(call_sid))

    @app.post("/control/calls/<call_sid>/digits")
    def press(call_sid: str) -> ResponseReturnValue:
        return jsonify(carrier.press(call_sid, str(_required(_json(), "digits"))))

    @app.post("/control/calls/<call_sid>/silence")
    def silence(call_sid: str) -> ResponseReturnValue:
        return jsonify(carrier.silence(call_sid))

    @app.post("/control/calls/<call_sid>/speak")
    def speak(call_sid: str) -> ResponseReturnValue:
        body = _json()
        seconds = body.get("seconds", 5)
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise ValueError("seconds must be a whole number")
        return jsonify(
            carrier.speak(call_sid, str(_required(body, "text")), seconds, str(body.get("then") or "silence"))
        )

    @app.post("/control/calls/<call_sid>/hangup")
    def hang_up(call_sid: str) -> ResponseReturnValue:
        return jsonify(carrier.hang_up(call_sid))

    @app.get("/control/phones/<msisdn>/inbox")
    def inbox(msisdn: str) -> ResponseReturnValue:
        return jsonify({"msisdn": normalise(msisdn), "messages": carrier.inbox(msisdn)})

    @app.get("/control/messages")
    def messages() -> ResponseReturnValue:
        return jsonify({"messages": [_control_view(m) for m in carrier.messages()]})

    @app.get("/control/messages/count")
    def message_count() -> ResponseReturnValue:
        # A count without the list: what a load test polls while thousands of SMS go through.
        return jsonify({"count": len(carrier.messages(to=request.args.get("to")))})

    @app.post("/control/reset")
    def reset() -> ResponseReturnValue:
        carrier.reset()
        return jsonify({"status": "reset"})

    # --- control API errors: a clear JSON answer, never a stack trace ----------------------

    def refuse(status: int) -> Callable[[Exception], ResponseReturnValue]:
        return lambda error: (jsonify({"error": str(error) or error.__class__.__name__}), status)

    app.register_error_handler(InvalidMsisdn, refuse(400))
    app.register_error_handler(InvalidUssd, refuse(400))
    app.register_error_handler(ValueError, refuse(400))
    app.register_error_handler(UnknownPhone, refuse(404))
    app.register_error_handler(UnknownSession, refuse(404))
    app.register_error_handler(UnknownCall, refuse(404))
    app.register_error_handler(NotWaiting, refuse(409))
    app.register_error_handler(PhoneOff, refuse(409))
    app.register_error_handler(NotConfigured, refuse(503))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        status, description = error.code or 500, error.description or ""  # werkzeug's own errors set both
        if request.path.startswith(f"/{twilio_api.API_VERSION}/"):
            return jsonify(twilio_api.error_body(status, 20404 if status == 404 else 20001, description)), status
        return jsonify({"error": description}), status

    return app


def _not_found() -> Response:
    response = jsonify(twilio_api.error_body(404, 20404, f"The requested resource {request.path} was not found"))
    response.status_code = 404
    return response


def _is_media(path: str) -> bool:
    match = MEDIA_PATH.search(path)
    return match is not None and match["extension"] in (None, "wav")


def _number_or_code(value: str | None) -> str | None:
    """A filter value as the store spells it: E.164 for numbers, as-is for short codes."""
    if value is None or not value.startswith("+"):
        return value
    try:
        return normalise(value)
    except InvalidMsisdn:
        return value


def _required(body: dict[str, Any], key: str) -> Any:  # a JSON value: whatever the caller sent
    if body.get(key) in (None, ""):
        raise ValueError(f"{key!r} is required")
    return body[key]


def _control_view(message: Message) -> dict[str, Any]:
    return {
        **twilio_api.message_resource(message),
        "encoding": message.segmentation.encoding,
        "history": [{"status": status, "at": at.isoformat()} for status, at in message.history],
    }
