"""The missed-call caller IVR as a caller goes through it: each step's TwiML, what it publishes,
and the next step's signed action URL followed the way Twilio follows it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from functions.edge import services, voice
from functions.edge.request import Request, RequestDocuments
from functions.edge.subscribers import Caller
from functions.missed_calls.edge_ivr import MissedCallIvr, keyed_number, reason_of, spoken
from functions.missed_calls.config import config_for
from shared import operator
from shared.events import MissedCallRecorded

PROFILE = operator.load_file(Path("shared/operators/demo.yaml"))
CONFIG = config_for(PROFILE)
IVR = MissedCallIvr(PROFILE, CONFIG)
CALLER, CALLEE = "+998901234567", "+998971300909"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def heard(call: voice.InboundCall, language: str = "en", *, documents=None, read: bool = True
          ) -> Request[voice.InboundCall]:
    """A call as the webhook hands it to the IVR: the caller in `language`, with what was read for them."""
    caller = Caller(msisdn=call.caller or "", known=True, language=language)
    return Request(channel="voice", input=call, caller=caller, profile=PROFILE,
                   documents=RequestDocuments(documents or {}),
                   now=NOW, read=read)


def callee_documents(*, mailbox: bool = True, subscriber: bool = True) -> dict:
    """What the first request reads: the callee's subscriber record and missed-call options."""
    return {("subscribers", CALLEE): {"status": "active", "language": "ru"} if subscriber else None,
            ("missed_call_users", CALLEE): {"registered": mailbox}}


def reached(forwarded_from: str = "971300909", *, reason: str | None = None, mailbox: bool = True,
            subscriber: bool = True, caller: str = CALLER, read: bool = True, language: str = "en"
            ) -> Request[voice.InboundCall]:
    """The first request of a forwarded call, with what the webhook read for it."""
    form = {"CallSid": "CAmc0001", "From": caller, "To": "+998712000000", "ForwardedFrom": forwarded_from}
    if reason is not None:
        form["ForwardReason"] = reason
    docs = callee_documents(mailbox=mailbox, subscriber=subscriber)
    return heard(voice.parse(form, {}), language, documents=docs if read else {}, read=read)


def action_of(answer: voice.VoiceAnswer, verb: str = "Gather") -> dict[str, str]:
    """The query of the action URL of the answer's <Gather> or <Record>."""
    element = ET.fromstring(str(answer)).find(verb)
    assert element is not None, f"no <{verb}> in {answer}"
    assert element.get("action") == ET.fromstring(str(answer)).find("Redirect").text  # no key: same step
    return dict(parse_qsl(element.get("action").lstrip("?")))


def follow(answer: voice.VoiceAnswer, verb: str = "Gather", language: str = "en", **form: str) -> voice.VoiceAnswer:
    """Twilio posting the action URL of `answer` with `form` (Digits, Recording…)."""
    call = voice.parse({"CallSid": "CAmc0001", "From": CALLER, "To": "+998712000000", **form}, action_of(answer, verb))
    return IVR.answer(heard(call, language, read=False))


def said(answer: voice.VoiceAnswer) -> str:
    return " ".join(element.text for element in ET.fromstring(str(answer)).iter("Say"))


def published(answer: voice.VoiceAnswer) -> list[MissedCallRecorded]:
    assert all(p.topic == "missed-call.recorded" for p in answer.publish)
    return [p.payload for p in answer.publish]


def hangs_up(answer: voice.VoiceAnswer) -> bool:
    return ET.fromstring(str(answer)).find("Hangup") is not None


def test_the_menu_is_offered_and_the_call_is_recorded_before_any_key():
    answer = IVR.answer(reached())
    assert said(answer) == (
        "The subscriber you dialled cannot be reached. For a missed-call reminder press a key, otherwise hang up. "
        "Press 1 to leave a voice message. Press 2 to leave your own number. Press 3 to leave another number. "
        "Press 4 to be told when the subscriber is available again.")
    gather = ET.fromstring(str(answer)).find("Gather")
    assert (gather.get("numDigits"), gather.get("timeout")) == ("1", "5")
    [event] = published(answer)
    assert (event.caller, event.callee, event.reason, event.choice, event.final, event.language) == \
        (CALLER, CALLEE, "unknown", "none", False, "en")


def test_key_1_is_offered_only_to_callees_with_a_voice_mailbox():
    answer = IVR.answer(reached(mailbox=False))
    assert "Press 1" not in said(answer) and "Press 2 to leave your own number." in said(answer)
    pressed = follow(answer, Digits="1")
    assert "That is not one of the choices." in said(pressed) and not published(pressed)
    assert action_of(pressed)["attempt"] == "2"


def test_key_2_leaves_the_callers_number_and_ends_the_call():
    answer = follow(IVR.answer(reached()), Digits="2")
    [event] = published(answer)
    assert (event.choice, event.final) == ("leave_number", True)
    assert said(answer) == "Thank you. The subscriber will get an SMS with your number. Goodbye." and hangs_up(answer)


def test_key_4_asks_to_be_told_when_the_callee_is_back():
    answer = follow(IVR.answer(reached()), Digits="4")
    [event] = published(answer)
    assert (event.choice, event.final) == ("notify_me", True)
    assert "We will send you an SMS when the subscriber is available." in said(answer)


def test_key_3_takes_another_number_validates_it_and_reads_it_back():
    asked = follow(IVR.answer(reached()), Digits="3")
    gather = ET.fromstring(str(asked)).find("Gather")
    assert (gather.get("finishOnKey"), gather.get("numDigits")) == ("#", "15") and not published(asked)
    assert said(asked) == "Enter the number the subscriber should call, then press hash."
    wrong = follow(asked, Digits="12")
    assert said(wrong).startswith("That number is not valid.") and not published(wrong)
    answer = follow(wrong, Digits="911112233")
    [event] = published(answer)
    assert (event.choice, event.other_number, event.final) == ("other_number", "+998911112233", True)
    assert "asked to call 9 9 8 9 1 1 1 1 2 2 3 3." in said(answer)


def test_a_second_bad_number_ends_politely_and_the_call_still_counts():
    asked = follow(IVR.answer(reached()), Digits="3")
    answer = follow(follow(asked, Digits="000"), Digits="")
    [event] = published(answer)
    assert (event.choice, event.final) == ("none", True) and hangs_up(answer)
    assert "The subscriber will still be told that you called." in said(answer)


def test_key_1_records_a_voice_message_with_the_presets_limits():
    recording = follow(IVR.answer(reached()), Digits="1")
    record = ET.fromstring(str(recording)).find("Record")
    assert (record.get("maxLength"), record.get("timeout"), record.get("playBeep")) == \
        (str(CONFIG.voicemail.max_seconds), str(CONFIG.voicemail.silence_seconds), "true")
    assert not published(recording)
    answer = follow(recording, "Record", RecordingSid="RE0001", RecordingUrl="https://api.twilio.com/rec/RE0001",
                    RecordingDuration="12")
    [event] = published(answer)
    assert (event.choice, event.recording_sid, event.recording_url, event.recording_seconds, event.final) == \
        ("voicemail", "RE0001", "https://api.twilio.com/rec/RE0001", 12, True)


def test_nothing_recorded_offers_the_menu_once_more():
    recording = follow(IVR.answer(reached()), Digits="1")
    again = follow(recording, "Record")                       # Twilio fell through to the <Redirect>
    assert said(again).startswith("No message was recorded. The subscriber you dialled cannot be reached.")
    assert action_of(again)["attempt"] == "2" and not published(again)


def test_no_key_reprompts_once_then_ends_politely():
    first = IVR.answer(reached())
    again = follow(first)                                     # the <Redirect> after a silent <Gather>
    assert said(again).startswith("The subscriber you dialled cannot be reached.") and not published(again)
    ended = follow(again, Digits="8")
    [event] = published(ended)
    assert (event.choice, event.final) == ("none", True) and hangs_up(ended)


def test_every_publication_of_a_call_carries_the_same_state_and_a_retry_the_same_event_id():
    first = IVR.answer(reached(language="ru"))
    chosen = follow(first, language="en", Digits="2")         # a later read fell back to another language
    retried = follow(first, language="en", Digits="2")
    [offered], [left], [again] = published(first), published(chosen), published(retried)
    assert (left.called_at, left.language, left.reason) == (offered.called_at, "ru", offered.reason)
    assert chosen.publish[0].event_id == retried.publish[0].event_id != first.publish[0].event_id
    assert "Абонент получит SMS с вашим номером." in said(chosen)


@pytest.mark.parametrize("raw, reason, handling", [
    (None, "unknown", "menu"), ("busy", "busy", "reminder"), ("BUSY", "busy", "reminder"),
    ("no-answer", "no-answer", "menu"), ("no_answer", "no-answer", "menu"), ("unreachable", "unreachable", "menu"),
    ("weather", "unknown", "menu")])
def test_the_forward_reason_picks_the_presets_handling(raw, reason, handling):
    assert reason_of(raw) == reason
    assert CONFIG.forwards.handling(reason) == handling


def test_a_busy_callee_gets_a_reminder_without_the_menu():
    answer = IVR.answer(reached(reason="busy"))
    assert said(answer) == "The subscriber you dialled is busy. They will get an SMS saying that you called. Goodbye."
    [event] = published(answer)
    assert (event.reason, event.choice, event.final) == ("busy", "none", True) and hangs_up(answer)


def test_a_callee_who_is_not_our_subscriber_or_a_hidden_caller_hears_why_and_nothing_is_published():
    stranger = IVR.answer(reached(subscriber=False))
    assert said(stranger) == "The subscriber you dialled cannot be reached. Please call again later. Goodbye."
    hidden = IVR.answer(reached(caller="anonymous"))
    assert "Your number is hidden" in said(hidden)
    garbled = IVR.answer(reached(forwarded_from="12"))
    assert not published(stranger) and not published(hidden) and not published(garbled)


def test_when_firestore_is_out_the_call_is_still_recorded_as_a_reminder():
    answer = IVR.answer(reached(read=False, language="uz"))
    [event] = published(answer)
    assert (event.choice, event.final, event.language) == ("none", True, "uz")
    assert "Abonent qo'ng'irog'ingiz haqida SMS oladi." in said(answer)


def test_a_step_url_we_did_not_write_publishes_nothing():
    call = voice.parse({"CallSid": "CAmc0001", "From": CALLER, "Digits": "2"},
                       {"step": "menu", "callee": CALLEE, "lang": "en"})
    answer = IVR.answer(heard(call, read=False))
    assert not published(answer) and hangs_up(answer)


@pytest.mark.parametrize("typed, number", [("911112233", "+998911112233"), ("998911112233", "+998911112233"),
                                           ("911112233#", "+998911112233"), ("", None), ("12", None),
                                           ("9111122339999999", None), ("91111*233", None)])
def test_keyed_numbers_are_validated_with_the_operator_profile(typed, number):
    assert keyed_number(typed, PROFILE) == number


def test_numbers_are_spoken_digit_by_digit():
    assert spoken("+998911112233") == "9 9 8 9 1 1 1 1 2 2 3 3"


# --- routing -------------------------------------------------------------------------------

def entry_handler(router: voice.VoiceRouter, matcher):
    """The handler of the router's entry with this matcher; None when no service declared it."""
    return next((entry.handler for entry in router.entries if entry.matcher == matcher), None)


def test_forwarded_calls_and_their_later_steps_reach_the_ivr_and_06002_the_voicemail_line():
    router = services.voice_routes(PROFILE)
    first = voice.parse({"CallSid": "CA1", "From": CALLER, "To": "+998712000000", "ForwardedFrom": CALLEE})
    later = voice.parse({"CallSid": "CA1", "From": CALLER, "To": "+998712000000"}, {"step": "menu", "callee": CALLEE})
    mailbox = voice.parse({"CallSid": "CA2", "From": CALLEE, "To": CONFIG.voicemail_number})
    assert router.handler_for(first) is entry_handler(router, voice.Forwarded()) is router.handler_for(later)
    assert router.documents_for(first, PROFILE) == (("subscribers", CALLEE), ("missed_call_users", CALLEE))
    assert router.documents_for(later, PROFILE) == ()                   # later steps carry their state in the URL
    assert router.documents_for(mailbox, PROFILE) == (("missed_call_users", CALLEE),)
    pay_card = voice.parse({"CallSid": "CA3", "From": CALLER, "To": "0670"})
    assert router.handler_for(pay_card) is entry_handler(router, voice.ServiceNumber("0670"))


def test_without_the_service_forwarded_calls_hear_that_there_is_no_voice_service():
    profile = PROFILE.model_copy(update={"services": {"transfers": ["mobiuz-direct"]}})
    router = services.voice_routes(profile)
    call = voice.parse({"CallSid": "CA1", "From": CALLER, "To": "+998712000000", "ForwardedFrom": CALLEE})
    assert entry_handler(router, voice.Forwarded()) is None and router.handler_for(call) is voice.no_voice_service


# --- any request ---------------------------------------------------------------------------

QUERIES = st.fixed_dictionaries({}, optional={
    "step": st.sampled_from(["menu", "recorded", "other_number", "nope", ""]),
    "attempt": st.sampled_from(["1", "2", "3", "x"]), "callee": st.sampled_from([CALLEE, "971300909", "x", ""]),
    "reason": st.sampled_from(["busy", "unknown", "x"]),
    "at": st.sampled_from([voice.stamp(NOW), "2026-03-02", "99999999999999999999", "x"]),
    "lang": st.sampled_from(["en", "zh", "fr"]), "keys": st.sampled_from(["1234", "234", "5", ""])})


@hsettings(max_examples=300, deadline=None)
@given(query=QUERIES, digits=st.one_of(st.none(), st.text(max_size=20)),
       forwarded=st.one_of(st.none(), st.text(max_size=16)),
       caller=st.sampled_from([CALLER, "", "anonymous", "+1"]), reason=st.one_of(st.none(), st.text(max_size=12)),
       recording=st.booleans())
def test_any_request_gets_twiml_and_only_valid_publications(query, digits, forwarded, caller, reason, recording):
    form = {"CallSid": "CAfuzz", "From": caller, "ForwardedFrom": forwarded or "", "Digits": digits or "",
            "ForwardReason": reason or ""}
    if recording:
        form.update(RecordingSid="RE1", RecordingUrl="https://r/RE1", RecordingDuration="3")
    # The callee is ours, with a mailbox; whatever number the call names is read as the webhook would.
    call = voice.parse(form, query)
    read = {where: callee_documents().get(where) for where in IVR.reads(call, PROFILE)}
    answer = IVR.answer(heard(call, documents=read))
    root = ET.fromstring(str(answer))
    assert root.tag == "Response" and (root.find("Hangup") is not None or root.find("Redirect") is not None)
    for event in published(answer):
        assert MissedCallRecorded.model_validate(event.model_dump()) == event
        assert event.callee == CALLEE or event.callee.startswith("+")


def test_key_4_is_offered_only_when_the_callees_phone_is_off():
    from functions.missed_calls.edge_ivr import offered_keys

    assert offered_keys("unreachable", mailbox=True) == "1234"
    assert offered_keys("unknown", mailbox=False) == "234"
    assert offered_keys("busy", mailbox=True) == "123"          # "available again" would be untrue at once
    assert offered_keys("no-answer", mailbox=False) == "23"


def test_only_a_final_call_status_reports_the_hang_up():
    base = dict(call_sid="CA77", caller="+998901234567", called="+998712000000", forwarded_from="+998971300909")
    callee = {("subscribers", "+998971300909"): {"status": "active"}}
    assert IVR.ended(heard(voice.InboundCall(**base, status="in-progress"), documents=callee)) == ()
    [report] = IVR.ended(heard(voice.InboundCall(**base, status="completed", duration=12), documents=callee))
    assert (report.payload.hung_up, report.payload.final, report.payload.choice) == (True, False, "none")
