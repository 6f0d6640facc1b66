"""Carrier emulator: Twilio-shaped JSON, request checks with Twilio's error codes, and signing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest
from twilio.request_validator import RequestValidator

from emulators.carrier import twilio_api
from emulators.carrier.smsc import UNKNOWN_HANDSET, SmsCentre, StatusChange
from emulators.carrier.twilio_api import TwilioError

ACCOUNT = "AC" + "1" * 32


def _message(body: str = "Hello", to: str = "+998901234567"):
    return SmsCentre(timedelta(hours=1)).submit(account_sid=ACCOUNT, to=to, sender="DemoTel", body=body,
                                                status_callback="http://edge/status")


def test_a_message_resource_has_twilios_fields_and_formats():
    message = _message("Привет")
    resource = twilio_api.message_resource(message)
    assert resource["sid"].startswith("SM") and len(resource["sid"]) == 34
    assert resource["status"] == "queued"
    assert (resource["to"], resource["from"], resource["account_sid"]) == ("+998901234567", "DemoTel", ACCOUNT)
    assert resource["num_segments"] == "1"
    assert resource["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{message.sid}.json"
    assert parsedate_to_datetime(resource["date_created"]) == message.date_created.replace(microsecond=0)
    assert resource["date_created"].endswith("+0000")


def test_segments_follow_the_encoding():
    assert twilio_api.message_resource(_message("a" * 161))["num_segments"] == "2"
    assert twilio_api.message_resource(_message("ж" * 71))["num_segments"] == "2"


def test_pages_are_found_by_the_client_and_link_to_the_next_one():
    messages = [_message(str(i)) for i in range(5)]
    first = twilio_api.page_body(ACCOUNT, messages, page=0, page_size=2, filters={"To": "+998901234567"})
    assert [m["body"] for m in first["messages"]] == ["0", "1"]
    assert "Page=1" in first["next_page_uri"] and "To=%2B998901234567" in first["next_page_uri"]
    last = twilio_api.page_body(ACCOUNT, messages, page=2, page_size=2, filters={})
    assert [m["body"] for m in last["messages"]] == ["4"]
    assert last["next_page_uri"] is None
    # twilio.base.page.Page reads the records from the one key that is not a paging key.
    from twilio.base.page import Page
    assert set(last) - Page.META_KEYS == {"messages"}


@pytest.mark.parametrize("form, code", [
    ({"From": "DemoTel", "Body": "x"}, 21604),
    ({"To": "998901234567", "From": "DemoTel", "Body": "x"}, 21211),
    ({"To": "+99890", "From": "DemoTel", "Body": "x"}, 21211),
    ({"To": "+998901234567", "Body": "x"}, 21603),
    ({"To": "+998901234567", "From": "Not a valid sender id", "Body": "x"}, 21212),
    ({"To": "+998901234567", "From": "DemoTel"}, 21602),
    ({"To": "+998901234567", "From": "DemoTel", "Body": "x" * 1601}, 21617),
    ({"To": "+998901234567", "From": "DemoTel", "Body": "x", "StatusCallback": "ftp://x"}, 21609),
])
def test_bad_create_requests_get_twilios_error_codes(form, code):
    with pytest.raises(TwilioError) as refused:
        twilio_api.parse_create(form)
    assert refused.value.code == code and refused.value.status == 400
    assert refused.value.body()["more_info"].endswith(str(code))


def test_a_good_create_request_is_normalised():
    request = twilio_api.parse_create({"To": "+998 90 123-45-67", "From": "21112", "Body": "hi",
                                       "ValidityPeriod": "600"})
    assert (request.to, request.sender, request.validity) == ("+998901234567", "21112", timedelta(seconds=600))


def test_status_callbacks_carry_the_change_and_verify_with_twilios_validator():
    message = _message()
    params = twilio_api.status_callback_params(message, StatusChange(message.sid, "undelivered", UNKNOWN_HANDSET))
    assert params["MessageStatus"] == "undelivered" and params["ErrorCode"] == "30005"
    assert params["MessageSid"] == message.sid and params["AccountSid"] == ACCOUNT
    url = "http://127.0.0.1:8080/edge-message-status?x=1"
    signature = twilio_api.signature("token", url, params)
    assert RequestValidator("token").validate(url, params, signature)
    assert not RequestValidator("other").validate(url, params, signature)


def test_date_sent_filters():
    sent = _message()
    sent.date_sent = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    unsent = _message()
    keep = twilio_api.date_sent_filter({"DateSent>": "2026-03-01"})
    assert keep(sent) and not keep(unsent)
    assert not twilio_api.date_sent_filter({"DateSent<": "2026-02-28T00:00:00Z"})(sent)
    assert twilio_api.date_sent_filter({})(unsent)
