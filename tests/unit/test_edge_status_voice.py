"""Twilio status callbacks become sms.status events; inbound calls are told there is no voice service."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from functions.edge import status, voice
from functions.edge.request import Request
from functions.edge.subscribers import Caller
from shared.operator import PROFILES_DIR, load_file

AT = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
PROFILE = load_file(PROFILES_DIR / "demo.yaml")


def heard(call: voice.InboundCall, language: str) -> Request[voice.InboundCall]:
    """A call as the webhook hands it to the router, from a caller speaking `language`."""
    caller = Caller(call.caller or "", True, language)
    return Request(channel="voice", input=call, caller=caller, profile=PROFILE, now=AT)


def test_a_tracked_status_becomes_an_event_with_its_error_code():
    update = status.parse({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}, AT)
    assert (update.message_sid, update.status, update.error_code) == ("SM1", "undelivered", "30003")


def test_the_message_id_notify_put_in_the_callback_url_travels_with_the_status():
    update = status.parse({"MessageSid": "SM1", "MessageStatus": "sent"}, AT, query={"message_id": "m-42"})
    assert (update.message_sid, update.message_id) == ("SM1", "m-42")
    assert status.parse({"MessageSid": "SM1", "MessageStatus": "sent"}, AT, query={}).message_id is None
    with pytest.raises(status.BadCallback, match="message_id"):
        status.parse({"MessageSid": "SM1", "MessageStatus": "sent"}, AT, query={"message_id": "m" * 65})


def test_duplicate_callbacks_share_an_event_id_and_other_statuses_do_not():
    first = status.parse({"MessageSid": "SM1", "MessageStatus": "delivered"}, AT)
    again = status.parse({"MessageSid": "SM1", "MessageStatus": "delivered", "ErrorCode": ""}, datetime.now(timezone.utc))
    sent = status.parse({"MessageSid": "SM1", "MessageStatus": "sent"}, AT)
    assert status.event_id(first) == status.event_id(again) != status.event_id(sent)


def test_statuses_twilio_has_but_notify_does_not_track_are_acknowledged_silently():
    assert status.parse({"MessageSid": "SM1", "MessageStatus": "accepted"}, AT) is None


@pytest.mark.parametrize("form, reason", [
    ({"MessageSid": "SM1", "MessageStatus": "exploded"}, "unknown MessageStatus 'exploded'"),
    ({"MessageSid": "SM1"}, "unknown MessageStatus ''"),
    ({"MessageStatus": "sent"}, "MessageSid is missing"),
])
def test_bad_callbacks_say_what_is_wrong(form, reason):
    with pytest.raises(status.BadCallback, match=reason):
        status.parse(form, AT)


def test_an_inbound_call_hears_in_russian_that_there_is_no_voice_service_then_hangs_up():
    call = voice.parse({"CallSid": "CA1", "From": "+998901234567", "To": "+998712000000"})
    twiml = str(voice.VoiceRouter().answer(heard(call, "ru")))
    assert '<Say language="ru-RU" voice="Polly.Tatyana">Здравствуйте. Этот номер не предоставляет' in twiml
    assert twiml.endswith("<Hangup /></Response>")


def test_languages_twilio_cannot_speak_are_said_without_a_language_attribute():
    twiml = str(voice.VoiceRouter().answer(heard(voice.parse({"From": "x"}), "uz")))
    assert "<Say>Assalomu alaykum." in twiml


def test_a_route_for_a_number_takes_its_calls_and_others_keep_the_default():
    router = voice.VoiceRouter()
    unavailable = voice.Text("edge.unavailable")
    router.add(voice.VoiceEntry(voice.ServiceNumber("+998712000001"),
                                lambda request: voice.announce(unavailable, request.caller.language)))
    routed = voice.parse({"From": "+998901234567", "To": "+998712000001"})
    other = voice.parse({"From": "+998901234567", "To": "+998712000000"})
    assert "temporarily unavailable" in str(router.answer(heard(routed, "en")))
    assert "no voice service" in str(router.answer(heard(other, "en")))


def test_entries_are_tried_in_priority_order_whatever_order_they_were_added_in():
    router = voice.VoiceRouter()
    said = {name: (lambda name: lambda request: voice.announce(voice.Text(name), request.caller.language))(name)
            for name in ("edge.unavailable", "edge.voice.no_service")}
    router.add(voice.VoiceEntry(voice.NumberNotInService(), said["edge.voice.no_service"], priority=90))
    router.add(voice.VoiceEntry(voice.Forwarded(frozenset({"busy"})), said["edge.unavailable"], priority=10))
    busy = voice.parse({"From": "+998901234567", "To": "+998712000000", "ForwardedFrom": "+998911112233",
                        "ForwardReason": "busy"})
    unanswered = voice.parse({"From": "+998901234567", "To": "+998712000000", "ForwardedFrom": "+998911112233",
                              "ForwardReason": "no-answer"})
    assert router.handler_for(busy) is said["edge.unavailable"]
    assert router.handler_for(unanswered) is said["edge.voice.no_service"]   # the catch-all, tried last
