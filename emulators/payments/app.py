"""HTTP face of the payment emulator: Stripe's API under /v1 (what the real `stripe` client calls), and an
admin API under /admin for tests and the demo (list payment intents and events, replay a webhook,
point webhooks elsewhere, simulate an outage)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from emulators.json_body import json_object as _json
from emulators.payments import forms
from emulators.payments.processor import API_VERSION, Answer, Json, Origin, Processor, StripeError, new_id
from emulators.payments.webhooks import WebhookSender


def create_app(processor: Processor, sender: WebhookSender, secret_key: str) -> Flask:
    app = Flask("payments-emulator")

    # --- Stripe's API ----------------------------------------------------------------------------

    @app.before_request
    def authenticate() -> ResponseReturnValue | None:
        if not request.path.startswith("/v1/"):
            return None
        auth = request.headers.get("Authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme != "Bearer" or not hmac.compare_digest(key.encode(), secret_key.encode()):
            shown = f"{key[:8]}****{key[-4:]}" if len(key) > 12 else "****"
            return _error(StripeError(401, f"Invalid API Key provided: {shown}"))
        if processor.take_failure():
            return _error(
                StripeError(500, "An unknown error occurred (the emulator was asked to fail).", kind="api_error")
            )
        return None

    def post(run: Callable[[Json, Origin], Answer]) -> Response:
        """A POST run once per Idempotency-Key; the events it raised are sent after the response."""
        pairs = list(request.form.items(multi=True))
        params = forms.decode(pairs)
        key = request.headers.get("Idempotency-Key") or None
        origin = Origin(new_id("req"), key)
        answer, replayed = processor.idempotent(
            key, (request.path, urlencode(sorted(pairs))), lambda: run(params, origin)
        )
        response = _respond(answer, origin.request_id)
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        elif answer.events:
            events = answer.events
            response.call_on_close(lambda: sender.send_later(events))
        return response

    def get(found: Json) -> Response:
        return _respond(Answer(200, found), new_id("req"))

    @app.post("/v1/customers")
    def create_customer() -> ResponseReturnValue:
        return post(lambda params, _: Answer(200, processor.create_customer(params)))

    @app.get("/v1/customers/<customer_id>")
    def retrieve_customer(customer_id: str) -> ResponseReturnValue:
        return get(processor.customer(customer_id))

    @app.post("/v1/payment_methods")
    def create_payment_method() -> ResponseReturnValue:
        return post(lambda params, _: Answer(200, processor.create_payment_method(params)))

    @app.get("/v1/payment_methods/<method_id>")
    def retrieve_payment_method(method_id: str) -> ResponseReturnValue:
        return get(processor.payment_method(method_id))

    @app.post("/v1/payment_methods/<method_id>/attach")
    def attach_payment_method(method_id: str) -> ResponseReturnValue:
        return post(lambda params, _: Answer(200, processor.attach(method_id, params)))

    @app.post("/v1/payment_intents")
    def create_payment_intent() -> ResponseReturnValue:
        return post(processor.create_payment_intent)

    @app.get("/v1/payment_intents/<intent_id>")
    def retrieve_payment_intent(intent_id: str) -> ResponseReturnValue:
        return get(processor.payment_intent(intent_id))

    @app.post("/v1/payment_intents/<intent_id>/confirm")
    def confirm_payment_intent(intent_id: str) -> ResponseReturnValue:
        return post(lambda params, origin: processor.confirm_payment_intent(intent_id, params, origin))

    @app.errorhandler(StripeError)
    def stripe_error(error: StripeError) -> ResponseReturnValue:
        return _error(error)

    @app.errorhandler(forms.BadParameter)
    def bad_parameter(error: forms.BadParameter) -> ResponseReturnValue:
        return _error(StripeError(400, str(error), param=error.param))

    # --- admin API -------------------------------------------------------------------------------

    @app.get("/health")
    def health() -> ResponseReturnValue:
        return jsonify({"status": "ok", "webhook_url": sender.url, "webhooks_pending": sender.pending()})

    @app.get("/admin/payment_intents")
    def list_payment_intents() -> ResponseReturnValue:
        found = processor.list_intents(request.args.get("account_id"), request.args.get("customer"))
        return jsonify({"payment_intents": found})

    @app.get("/admin/events")
    def list_events() -> ResponseReturnValue:
        found = processor.list_events(request.args.get("payment_intent"))
        return jsonify({"events": [{**event, "deliveries": sender.deliveries(event["id"])} for event in found]})

    @app.post("/admin/events/<event_id>/replay")
    def replay_event(event_id: str) -> ResponseReturnValue:
        """Send a stored event again, now (a fresh signature, the same event id), and say how it was answered."""
        return jsonify({"event": event_id, "status": sender.deliver(processor.event(event_id))})

    @app.get("/admin/config")
    def get_config() -> ResponseReturnValue:
        return jsonify({"webhook_url": sender.url})

    @app.post("/admin/config")
    def set_config() -> ResponseReturnValue:
        body = _json()
        if "webhook_url" in body:
            url = body["webhook_url"]
            if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                raise ValueError("webhook_url must be an http(s) URL or null")
            sender.url = url
        return jsonify({"webhook_url": sender.url})

    @app.post("/admin/outage")
    def outage() -> ResponseReturnValue:
        """The next `failures` API requests answer 500, as Stripe does when it is in trouble."""
        failures = _json().get("failures", 1)
        if not isinstance(failures, int) or isinstance(failures, bool) or failures < 0:
            raise ValueError("failures must be a whole number, 0 or more")
        with processor.lock:
            processor.failures_left = failures
        return jsonify({"failures": failures})

    @app.post("/admin/reset")
    def reset() -> ResponseReturnValue:
        processor.reset()
        sender.reset()
        return jsonify({"status": "reset"})

    @app.errorhandler(ValueError)
    def bad_admin_request(error: ValueError) -> ResponseReturnValue:
        return jsonify({"error": str(error)}), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        if request.path.startswith("/v1/"):
            message = (
                f"Unrecognized request URL ({request.method}: {request.path})."
                if status in (404, 405)
                else error.description or ""
            )
            return _error(StripeError(404 if status == 405 else status, message))
        return jsonify({"error": error.description or ""}), status

    return app


def _respond(answer: Answer, request_id: str) -> Response:
    response = jsonify(answer.body)
    response.status_code = answer.status
    response.headers["Request-Id"] = request_id
    response.headers["Stripe-Version"] = API_VERSION
    return response


def _error(error: StripeError) -> Response:
    return _respond(Answer(error.status, error.body()), new_id("req"))
