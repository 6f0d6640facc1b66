"""The carrier's TwiML interpreter with canned answers: what the caller hears and what the webhook is asked."""

from __future__ import annotations

import io
import wave

import pytest

from emulators.carrier.calls import (APPLICATION_ERROR, Call, NotWaiting, SavedRecording, WebhookAnswer,
                                     WebhookRequest)
from emulators.carrier.network import Network, is_service_number
from emulators.carrier.recordings import silence_wav

ALICE, BOB = "+998901234567", "+998901234568"
VOICE = "http://ivr.test/voice"


class CannedLine:
    """A webhook that answers each URL (query included) with canned TwiML, and a recordings store."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.requests: list[WebhookRequest] = []
        self.saved: list[tuple[str, int, str]] = []
        self.notified: list[WebhookRequest] = []

    def request(self, request: WebhookRequest) -> WebhookAnswer:
        self.requests.append(request)
        if request.url not in self.answers:
            return WebhookAnswer(404, "not here")
        return WebhookAnswer(200, self.answers[request.url])

    def save_recording(self, call_sid: str, seconds: int, speech: str) -> SavedRecording:
        sid = f"RE{len(self.saved):032d}"
        self.saved.append((call_sid, seconds, speech))
        return SavedRecording(sid, f"http://carrier.test/2010-04-01/Accounts/AC1/Recordings/{sid}")

    def notify(self, request: WebhookRequest) -> None:
        self.notified.append(request)

    def recording_speech(self, url: str) -> str | None:
        for index, (_, _, speech) in enumerate(self.saved):
            if url.startswith(f"http://carrier.test/2010-04-01/Accounts/AC1/Recordings/RE{index:032d}"):
                return speech
        return None


def forwarded_call(line: CannedLine, **options) -> Call:
    return Call(sid="CA" + "1" * 32, account_sid="AC1", caller=ALICE, to="+998712000000", outcome="forwarded",
                forwarded_from=BOB, forward_reason="unreachable", line=line, **options)


MENU = """<Response>
  <Gather numDigits="1" timeout="5" action="/menu?step=choice">
    <Say language="ru-RU">Абонент недоступен. Нажмите 1, 2, 3 или 4.</Say>
  </Gather>
  <Say>We did not get your choice. Goodbye.</Say>
  <Hangup/>
</Response>"""


def test_the_forwarded_call_is_asked_with_twilios_parameters_and_hears_the_menu():
    line = CannedLine({VOICE: MENU})
    state = forwarded_call(line).start(VOICE)
    assert state["heard"] == ["Абонент недоступен. Нажмите 1, 2, 3 или 4."]
    assert (state["waiting"], state["ended"], state["webhook_status"]) == ("digits", False, 200)
    [first] = line.requests
    assert (first.method, first.url) == ("POST", VOICE)
    assert first.params == {**first.params, "From": ALICE, "ForwardedFrom": BOB, "ForwardReason": "unreachable",
                            "CallSid": "CA" + "1" * 32, "AccountSid": "AC1", "Direction": "inbound",
                            "CallStatus": "ringing"}


def test_a_key_goes_to_the_relative_action_and_its_answer_is_played():
    line = CannedLine({VOICE: MENU, "http://ivr.test/menu?step=choice": "<Response><Say>Thanks</Say></Response>"})
    call = forwarded_call(line)
    call.start(VOICE)
    state = call.press("2")
    assert state["heard_now"] == ["Thanks"]
    assert (state["ended"], state["ended_by"], state["status"]) == (True, "end-of-document", "completed")
    action = line.requests[-1]
    assert action.url == "http://ivr.test/menu?step=choice"
    assert (action.params["Digits"], action.params["CallStatus"]) == ("2", "in-progress")


def test_no_key_within_the_timeout_falls_through_to_the_verb_after_the_gather():
    line = CannedLine({VOICE: MENU})
    call = forwarded_call(line)
    call.start(VOICE)
    state = call.silence()
    assert state["heard_now"] == ["We did not get your choice. Goodbye."]
    assert state["ended_by"] == "hangup"
    assert len(line.requests) == 1  # the action was never requested


def test_action_on_empty_result_requests_the_action_with_empty_digits():
    twiml = '<Response><Gather actionOnEmptyResult="true" action="http://other.test/empty"/></Response>'
    line = CannedLine({VOICE: twiml, "http://other.test/empty": "<Response><Hangup/></Response>"})
    call = forwarded_call(line)
    call.start(VOICE)
    call.silence()
    assert (line.requests[-1].url, line.requests[-1].params["Digits"]) == ("http://other.test/empty", "")


def test_digits_collect_until_the_finish_key_which_is_not_part_of_them():
    twiml = '<Response><Gather action="number"><Say>Key in the number, then hash</Say></Gather></Response>'
    line = CannedLine({VOICE: twiml, "http://ivr.test/number": "<Response/>"})
    call = forwarded_call(line)
    call.start(VOICE)
    assert call.press("99890")["waiting"] == "digits"  # still keying
    call.press("1234567#")
    assert line.requests[-1].params["Digits"] == "998901234567"
    assert line.requests[-1].params["FinishedOnKey"] == "#"


def test_a_gather_without_an_action_posts_back_to_the_current_document():
    line = CannedLine({VOICE: '<Response><Gather numDigits="1"/></Response>'})
    call = forwarded_call(line)
    call.start(VOICE)
    call.press("5")
    assert [(r.url, r.params.get("Digits")) for r in line.requests] == [(VOICE, None), (VOICE, "5")]


def test_a_get_action_is_requested_with_get():
    line = CannedLine({VOICE: '<Response><Gather numDigits="1" method="GET" action="/k"/></Response>',
                       "http://ivr.test/k": "<Response/>"})
    call = forwarded_call(line)
    call.start(VOICE)
    call.press("1")
    assert (line.requests[-1].method, line.requests[-1].url) == ("GET", "http://ivr.test/k")


def test_redirect_requests_its_url_and_an_absolute_url_is_kept():
    line = CannedLine({VOICE: "<Response><Say>One</Say><Redirect>http://elsewhere.test/two</Redirect>"
                              "<Say>never</Say></Response>",
                       "http://elsewhere.test/two": "<Response><Say>Two</Say><Hangup/></Response>"})
    state = forwarded_call(line).start(VOICE)
    assert state["heard"] == ["One", "Two"]
    assert state["ended_by"] == "hangup"


def test_record_saves_the_message_and_tells_the_action_with_the_recording():
    twiml = ('<Response><Say>Leave a message</Say><Record action="/saved" maxLength="30" timeout="5"/>'
             '<Say>No message recorded</Say></Response>')
    line = CannedLine({VOICE: twiml, "http://ivr.test/saved": "<Response><Say>Saved</Say><Hangup/></Response>"})
    call = forwarded_call(line)
    started = call.start(VOICE)
    assert (started["heard"], started["waiting"]) == (["Leave a message", "[beep]"], "recording")
    state = call.speak("Call me at six", seconds=8)
    assert state["heard_now"] == ["Saved"]
    assert line.saved == [(call.sid, 8, "Call me at six")]
    params = line.requests[-1].params
    assert params["RecordingSid"] == state["recordings"][0]
    assert params["RecordingUrl"].endswith(f"/Recordings/{params['RecordingSid']}")
    assert (params["RecordingDuration"], params["Digits"]) == ("8", "")


def test_the_recording_status_callback_is_told_apart_from_the_action():
    line = CannedLine({VOICE: '<Response><Record action="/saved" recordingStatusCallback="/rec-status"/></Response>',
                       "http://ivr.test/saved": "<Response/>"})
    call = forwarded_call(line)
    call.start(VOICE)
    state = call.speak("hello", seconds=3)
    [callback] = line.notified
    assert callback.url == "http://ivr.test/rec-status"
    assert callback.params == {**callback.params, "RecordingStatus": "completed", "RecordingDuration": "3",
                               "RecordingSid": state["recordings"][0]}


def test_a_message_longer_than_max_length_is_cut_to_it():
    line = CannedLine({VOICE: '<Response><Record maxLength="10" action="/saved"/></Response>',
                       "http://ivr.test/saved": "<Response/>"})
    call = forwarded_call(line)
    call.start(VOICE)
    call.speak("a long story", seconds=45, then="continue")
    assert line.requests[-1].params["RecordingDuration"] == "10"


def test_a_finish_key_ends_the_recording_and_is_reported():
    line = CannedLine({VOICE: '<Response><Record finishOnKey="*" action="/saved"/></Response>',
                       "http://ivr.test/saved": "<Response/>"})
    call = forwarded_call(line)
    call.start(VOICE)
    call.speak("hello", seconds=3, then="continue")
    assert call.press("5")["waiting"] == "recording"   # not a finish key: only a tone in the audio
    call.press("*")
    assert line.requests[-1].params["Digits"] == "*"


def test_silence_at_the_beep_records_nothing_and_goes_on_with_the_next_verb():
    line = CannedLine({VOICE: '<Response><Record action="/saved"/><Say>No message recorded</Say></Response>'})
    call = forwarded_call(line)
    call.start(VOICE)
    state = call.silence()
    assert state["heard_now"] == ["No message recorded"]
    assert line.saved == [] and len(line.requests) == 1


def test_hanging_up_while_recording_still_tells_the_action_and_plays_nothing_more():
    line = CannedLine({VOICE: '<Response><Record action="/saved"/></Response>',
                       "http://ivr.test/saved": "<Response><Say>Not heard</Say></Response>"})
    call = forwarded_call(line)
    call.start(VOICE)
    state = call.speak("I will call later", seconds=4, then="hangup")
    assert (state["ended_by"], state["heard_now"]) == ("caller", [])
    params = line.requests[-1].params
    assert (params["Digits"], params["CallStatus"], params["RecordingDuration"]) == ("hangup", "completed", "4")


def test_playing_a_recording_of_this_network_tells_what_was_said():
    line = CannedLine({VOICE: '<Response><Record action="/saved"/></Response>'})
    call = forwarded_call(line)
    call.start(VOICE)
    line.answers["http://ivr.test/saved"] = "<Response/>"
    call.speak("See you at noon", seconds=2)
    url = line.requests[-1].params["RecordingUrl"]
    listener = forwarded_call(CannedLine({VOICE: f"<Response><Play>{url}</Play><Play>/music.mp3</Play></Response>"}))
    listener.line.saved = line.saved
    assert listener.start(VOICE)["heard"] == ["[voice message: See you at noon]", "[audio: http://ivr.test/music.mp3]"]


def test_a_redirect_loop_ends_at_the_hop_limit_with_twilios_application_error():
    line = CannedLine({VOICE: "<Response><Redirect/></Response>"})
    state = forwarded_call(line, max_hops=5).start(VOICE)
    assert len(line.requests) == 5
    assert (state["ended_by"], state["heard"][-1]) == ("error", APPLICATION_ERROR)
    assert "more than 5" in state["error"]


@pytest.mark.parametrize("status, body", [(500, "<Response/>"), (200, "not xml"), (200, "<Html/>"),
                                          (200, "<Response><Dial>+1</Dial></Response>")])
def test_a_failing_webhook_or_unknown_verb_ends_with_the_application_error(status, body):
    class Broken(CannedLine):
        def request(self, request):
            self.requests.append(request)
            return WebhookAnswer(status, body)

    state = forwarded_call(Broken({})).start(VOICE)
    assert (state["ended"], state["heard"]) == (True, [APPLICATION_ERROR])


def test_the_caller_cannot_act_on_what_the_call_is_not_waiting_for():
    line = CannedLine({VOICE: MENU})
    call = forwarded_call(line)
    call.start(VOICE)
    with pytest.raises(NotWaiting):
        call.speak("hello", seconds=2)
    with pytest.raises(ValueError):
        call.press("x")
    call.hang_up()
    with pytest.raises(NotWaiting):
        call.press("1")
    assert len(line.requests) == 1  # hanging up during a Gather asks nothing


def test_reject_ends_the_call_busy():
    state = forwarded_call(CannedLine({VOICE: '<Response><Reject reason="busy"/></Response>'})).start(VOICE)
    assert (state["status"], state["ended_by"], state["heard"]) == ("busy", "reject", ["[busy tone]"])


# --- the switch and the recordings' audio ---------------------------------------------------

@pytest.mark.parametrize("flags, outcome, reason", [
    ({}, "connected", None),
    ({"forward_all": True}, "forwarded", "unconditional"),
    ({"busy": True}, "forwarded", "busy"),
    ({"answers": False}, "forwarded", "no-answer"),
])
def test_the_switch_routes_a_call_by_the_callees_state(flags, outcome, reason):
    network = Network()
    network.provision(BOB, attached=True)
    if flags:
        network.set_state(BOB, flags)
    route = network.route_call(BOB)
    assert (route.outcome, route.forward_reason) == (outcome, reason)


def test_a_detached_callee_is_forwarded_as_unreachable_and_an_unknown_one_does_not_exist():
    network = Network()
    network.provision(BOB, attached=False)
    assert network.route_call(BOB).forward_reason == "unreachable"
    assert network.route_call(ALICE).outcome == "not-exists"


def test_phone_state_accepts_only_known_boolean_flags():
    network = Network()
    network.provision(BOB, attached=True)
    with pytest.raises(ValueError):
        network.set_state(BOB, {"roaming": True})
    with pytest.raises(ValueError):
        network.set_state(BOB, {"busy": "yes"})


@pytest.mark.parametrize("number, service", [("06002", True), ("21112", True), ("112", True),
                                              ("+998901234567", False), ("998901234567", False), ("12", False)])
def test_short_numbers_are_service_numbers(number, service):
    assert is_service_number(number) is service


def test_recording_audio_is_a_wav_of_silence_of_its_length():
    with wave.open(io.BytesIO(silence_wav(3))) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getnframes()) == (8000, 1, 24000)


def test_the_network_keeps_a_bounded_number_of_calls_dropping_the_oldest_ended_first():
    from emulators.carrier.service import Carrier, CarrierConfig

    carrier = Carrier(CarrierConfig(account_sid="AC1", auth_token="t", gateway_secret="g", max_calls=3))
    try:
        carrier.provision(ALICE)
        carrier.provision(BOB)
        placed = [carrier.call(ALICE, BOB)["call_sid"] for _ in range(5)]
        assert [c["call_sid"] for c in carrier.list_calls()] == placed[:1:-1]  # the three newest, newest first
        assert carrier.call_state(placed[-1])["outcome"] == "connected"
    finally:
        carrier.dispatcher.stop()


def test_a_caller_hanging_up_in_the_menu_is_told_to_the_numbers_status_callback_once():
    status = "http://ivr.test/voice?callback=status"
    line = CannedLine({VOICE: MENU})
    call = forwarded_call(line, status_callback=status)
    call.start(VOICE)
    assert line.notified == []          # still in the menu: nothing to tell yet
    call.hang_up()
    with pytest.raises(NotWaiting):
        call.hang_up()                  # an ended call cannot end again, nor be told twice
    [told] = line.notified
    assert (told.method, told.url) == ("POST", status)
    assert told.params == {**told.params, "CallStatus": "completed", "ForwardedFrom": BOB, "From": ALICE}
    assert int(told.params["CallDuration"]) >= 0


def test_no_status_callback_for_a_call_the_network_ended_before_any_webhook():
    line = CannedLine({})
    Call(sid="CA" + "2" * 32, account_sid="AC1", caller=ALICE, to=BOB, outcome="connected", line=line,
         status_callback="http://ivr.test/voice?callback=status").end_unconnected()
    assert line.notified == []


# --- wrong numbers: the network's announcement, then the platform (Voice+) ----------------------

def test_a_wrong_number_is_announced_then_handed_to_the_webhook_with_its_reason_on_every_request():
    status = "http://ivr.test/voice?callback=status"
    line = CannedLine({VOICE: MENU, "http://ivr.test/menu?step=choice": "<Response><Say>Thanks</Say></Response>"})
    call = Call(sid="CA" + "3" * 32, account_sid="AC1", caller=ALICE, to=BOB, outcome="not-exists",
                call_reason="not-exists", line=line, status_callback=status)
    first = call.start(VOICE)
    assert first["heard"][0] == "The number you have dialled does not exist."
    assert first["heard"][1] == "Абонент недоступен. Нажмите 1, 2, 3 или 4."
    assert first["call_reason"] == "not-exists" and not first["forwarded"]
    call.press("2")
    [told] = line.notified
    for request in [*line.requests, told]:
        assert (request.params["From"], request.params["To"], request.params["CallReason"]) == (
            ALICE, BOB, "not-exists")
        assert "ForwardedFrom" not in request.params and "ForwardReason" not in request.params


def test_a_wrong_number_without_a_webhook_ends_at_the_announcement_as_before():
    from emulators.carrier.service import Carrier, CarrierConfig

    carrier = Carrier(CarrierConfig(account_sid="AC1", auth_token="t", gateway_secret="g"))
    try:
        carrier.provision(ALICE)
        state = carrier.call(ALICE, BOB)
        assert (state["outcome"], state["ended_by"], state["call_reason"], state["webhook_requests"]) == (
            "not-exists", "network", None, 0)
    finally:
        carrier.dispatcher.stop()


def test_the_phone_shows_a_wrong_number_handed_on_as_what_was_heard():
    from emulators.carrier.phone import _call_text

    handed_on = {"outcome": "not-exists", "call_reason": "not-exists", "forwarded": False, "ended": True,
                 "heard": ["The number you have dialled does not exist."]}
    assert _call_text(BOB, handed_on) == f"Calling {BOB}…\n\nThe number you have dialled does not exist.\n\nCall ended"
    ended_by_network = {"outcome": "not-exists", "call_reason": None, "forwarded": False, "ended": True, "heard": []}
    assert _call_text(BOB, ended_by_network) == f"Calling {BOB}…\nThe number you dialled does not exist"
