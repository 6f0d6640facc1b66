"""The edge's request ids: a gateway's retry of one request keeps its id; another subscriber's or
another request under the same gateway id (a reused USSD session) gets its own."""

from __future__ import annotations

from datetime import datetime, timezone

from functions.edge import sms_keywords, status, ussd
from functions.edge.request_ids import request_id
from shared import operator
from shared.events import derive_event_id

PHONE, OTHER_PHONE = "+998901000001", "+998901000002"


def gateway_form(phone: str, text: str, session: str = "ATUid_7", code: str = "*112#") -> dict[str, str]:
    return {"sessionId": session, "serviceCode": code, "phoneNumber": phone, "networkCode": "43401", "text": text}


def ussd_id(**form) -> str:
    return ussd.parse(gateway_form(**form), operator.current()).request_id


def test_a_retry_of_the_same_request_gets_the_same_id():
    assert ussd_id(phone=PHONE, text="998901000004*2500") == ussd_id(phone=PHONE, text="998901000004*2500")
    assert request_id("sms", "SM1", PHONE, "21112", "hi") == request_id("sms", "SM1", PHONE, "21112", "hi")


def test_a_reused_session_id_names_who_and_what_was_asked():
    first = ussd_id(phone=PHONE, text="998901000004*2500")
    assert first.startswith("ussd:ATUid_7:")
    others = {ussd_id(phone=OTHER_PHONE, text="998901000004*2500"),    # another subscriber
              ussd_id(phone=PHONE, text="998901000004*5000"),          # another amount
              ussd_id(phone=PHONE, text="998901000004*2500", code="*116#"),   # another service
              ussd_id(phone=PHONE, text="998901000004*2500", session="ATUid_8")}
    assert first not in others and len(others) == 4


def test_fields_cannot_run_into_each_other():
    assert request_id("ussd", "S", PHONE, "ab", "c") != request_id("ussd", "S", PHONE, "a", "bc")


def test_an_odd_or_long_gateway_id_is_hashed_into_a_document_id():
    for gateway_id in ("a/b", "x" * 200, "sess ion"):
        made = request_id("ussd", gateway_id, PHONE, "*112#")
        assert "/" not in made and " " not in made and len(made) <= 200
        assert made != request_id("ussd", gateway_id + "1", PHONE, "*112#")


def test_an_sms_id_names_its_sender_short_code_and_text():
    message = sms_keywords.parse({"MessageSid": "SM42", "From": PHONE, "To": "21112", "Body": "998901000004 2500"})
    same_sid = [sms_keywords.parse({"MessageSid": "SM42", "From": OTHER_PHONE, "To": "21112", "Body": message.body}),
                sms_keywords.parse({"MessageSid": "SM42", "From": PHONE, "To": "06001", "Body": message.body})]
    assert message.request_id.startswith("sms:SM42:")
    assert message.request_id not in {other.request_id for other in same_sid}


def test_a_status_callback_event_id_derives_from_the_message_it_reports_on():
    # A stored id: the helper must give what the callbacks' ids were always derived from.
    update = status.parse({"MessageSid": "SM42", "MessageStatus": "delivered"}, datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert update is not None
    assert status.event_id(update) == derive_event_id("twilio-message:SM42", "status/delivered")
