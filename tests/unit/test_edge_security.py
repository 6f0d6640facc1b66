"""Webhook authentication: which URL Twilio signed, and the USSD body HMAC."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator
from werkzeug.datastructures import ImmutableMultiDict

from functions.edge import security
from shared import signing

TOKEN = "secret-token"
LOCAL = {"trust_request_url": True}  # the local stack: no proxy in front, the request's own URL is signed


def twilio_request(url_signed: str, seen_url: str, path: str, form: dict, query: bytes = b""):
    signature = RequestValidator(TOKEN).compute_signature(url_signed, form)
    parts = urlsplit(seen_url)
    return SimpleNamespace(headers={"X-Twilio-Signature": signature}, form=ImmutableMultiDict(form),
                           host_url=f"{parts.scheme}://{parts.netloc}/", path=path, query_string=query)


def test_locally_without_a_base_url_the_url_the_request_came_to_is_checked():
    form = {"From": "+998901234567", "Body": "BAL"}
    request = twilio_request("http://127.0.0.1:8080/", "http://127.0.0.1:8080/", "/", form)
    assert security.TwilioGuard(TOKEN, None, **LOCAL).allows(request)


def test_elsewhere_without_a_base_url_the_host_header_is_not_trusted():
    """Whoever sends the request chooses its Host: a signature over it proves nothing."""
    form = {"From": "+998901234567", "Body": "BAL"}
    request = twilio_request("https://attacker.example/", "https://attacker.example/", "/", form)
    assert not security.TwilioGuard(TOKEN, None).allows(request)


def test_behind_a_proxy_the_public_base_url_is_what_twilio_signed():
    form = {"From": "+998901234567"}
    public = "https://edge-sms-abc.a.run.app/?x=1"
    request = twilio_request(public, "http://edge-sms-abc.a.run.app/?x=1", "/", form, b"x=1")
    assert not security.TwilioGuard(TOKEN, None, **LOCAL).allows(request)
    assert security.TwilioGuard(TOKEN, "https://edge-sms-abc.a.run.app").allows(request)


def test_a_base_url_configured_without_the_final_slash_still_matches():
    request = twilio_request("https://edge.example.com", "http://internal/", "/", {"A": "1"})
    assert security.TwilioGuard(TOKEN, "https://edge.example.com/").allows(request)


def test_a_tampered_form_or_another_token_is_refused():
    request = twilio_request("http://h/", "http://h/", "/", {"Body": "BAL"})
    request.form = ImmutableMultiDict({"Body": "BALANCE"})
    assert not security.TwilioGuard(TOKEN, None, **LOCAL).allows(request)
    request = twilio_request("http://h/", "http://h/", "/", {"Body": "BAL"})
    assert not security.TwilioGuard("other", None, **LOCAL).allows(request)
    request.headers = {}
    assert not security.TwilioGuard(TOKEN, None, **LOCAL).allows(request)


def test_ussd_body_hmac():
    body = b"sessionId=1&serviceCode=%2A100%23"
    assert security.ussd_signed("s", body, signing.sign_body("s", body))
    assert not security.ussd_signed("s", body + b"x", signing.sign_body("s", body))
    assert not security.ussd_signed("s", body, None)


def test_an_action_url_with_an_encoded_colon_is_checked_as_twilio_signed_it():
    from urllib.parse import urlencode

    from flask import Flask, request as flask_request
    from twilio.request_validator import RequestValidator

    from functions.edge.security import TwilioGuard

    url = "http://127.0.0.1:8100/?" + urlencode({"step": "menu", "at": "2026-11-22T10:31:00+05:00"})
    form = {"CallSid": "CA1", "Digits": "2"}
    signature = RequestValidator("token").compute_signature(url, form)
    app = Flask("t")
    with app.test_request_context(url, method="POST", data=form, headers={"X-Twilio-Signature": signature}):
        assert "%3A" in flask_request.query_string.decode()
        assert TwilioGuard("token", None, **LOCAL).allows(flask_request)
        assert not TwilioGuard("other", None, **LOCAL).allows(flask_request)
