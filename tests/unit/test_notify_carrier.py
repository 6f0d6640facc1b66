"""shared.carrier: the Twilio client points where settings say, and carrier errors are classified."""

from __future__ import annotations

import json

import pytest
import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.response import Response

from shared import carrier
from shared.settings import Settings


class RecordingHttp(HttpClient):
    """Answers every request with one canned response and remembers what was asked."""

    def __init__(self, status: int, body: dict | str):
        super().__init__(logger=None, is_async=False)
        self.status, self.body, self.requests = status, body, []

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        self.requests.append({"method": method, "uri": uri, "data": data, "auth": auth})
        return Response(self.status, self.body if isinstance(self.body, str) else json.dumps(self.body))


def _client(http: RecordingHttp, **settings):
    client = carrier.build_client(Settings(twilio_account_sid="AC123", twilio_auth_token="secret", **settings))
    client.http_client = http
    return client


ACCEPTED = {"sid": "SM0001", "status": "queued", "num_segments": "2", "to": "+998901234567",
            "from": "DemoTel", "body": "hi"}


def test_messages_go_to_the_configured_api_base(monkeypatch):
    monkeypatch.setenv("TWILIO_REGION", "ie1")  # must not rewrite the emulator's host
    http = RecordingHttp(201, ACCEPTED)
    api = _client(http, twilio_api_base="http://127.0.0.1:8765/")
    answer = carrier.send_sms("+998901234567", "DemoTel", "hi", status_callback="http://edge/status", api=api)
    assert answer == carrier.AcceptedMessage(sid="SM0001", status="queued", num_segments=2)
    [sent] = http.requests
    assert sent["method"] == "POST"
    assert sent["uri"] == "http://127.0.0.1:8765/2010-04-01/Accounts/AC123/Messages.json"
    assert sent["data"] == {"To": "+998901234567", "From": "DemoTel", "Body": "hi",
                            "StatusCallback": "http://edge/status"}
    assert sent["auth"] == ("AC123", "secret")


def test_without_an_api_base_the_client_talks_to_twilio():
    http = RecordingHttp(201, ACCEPTED)
    carrier.send_sms("+998901234567", "DemoTel", "hi", api=_client(http))
    assert http.requests[0]["uri"].startswith("https://api.twilio.com/2010-04-01/Accounts/AC123/")
    assert "StatusCallback" not in http.requests[0]["data"]


@pytest.mark.parametrize("status, code", [(400, 21211), (400, 21610), (404, 20404), (403, 21408)])
def test_refusals_about_the_message_are_permanent(status, code):
    http = RecordingHttp(status, {"code": code, "message": "The 'To' number is not valid", "status": status})
    with pytest.raises(carrier.PermanentCarrierError) as raised:
        carrier.send_sms("+998901234567", "DemoTel", "hi", api=_client(http))
    assert (raised.value.status, raised.value.code) == (status, code)
    assert not raised.value.transient


@pytest.mark.parametrize("status", [500, 502, 503, 429, 401])
def test_overload_outage_and_credentials_are_transient(status):
    http = RecordingHttp(status, "<html>Service Unavailable</html>")
    with pytest.raises(carrier.TransientCarrierError) as raised:
        carrier.send_sms("+998901234567", "DemoTel", "hi", api=_client(http))
    assert raised.value.status == status


def test_an_unreachable_carrier_is_transient():
    api = carrier.build_client(Settings(twilio_api_base="http://127.0.0.1:9"))  # discard port: refused
    with pytest.raises(carrier.TransientCarrierError):
        carrier.send_sms("+998901234567", "DemoTel", "hi", api=api)


def test_classify_each_kind_of_error():
    assert carrier.is_transient(requests.Timeout("read timed out"))
    assert carrier.is_transient(requests.ConnectionError("refused"))
    assert carrier.is_transient(TwilioRestException(503, "/Messages.json", "down"))
    assert not carrier.is_transient(TwilioRestException(400, "/Messages.json", "bad To", code=21211))
    problem = TwilioServiceException(type_uri="https://www.twilio.com/docs/errors/21211", title="Invalid To",
                                     status=400, code=21211)
    assert carrier.classify(problem).code == 21211 and not carrier.is_transient(problem)
    with pytest.raises(TypeError):
        carrier.classify(KeyError("not from the carrier"))


def test_an_acceptance_without_a_sid_is_not_retried():
    http = RecordingHttp(201, {"status": "queued"})
    with pytest.raises(carrier.PermanentCarrierError):
        carrier.send_sms("+998901234567", "DemoTel", "hi", api=_client(http))

