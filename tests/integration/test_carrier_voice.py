"""Voice through the carrier emulator as a real process: forwarded calls reach a small TwiML app signed
like Twilio, the caller keys and speaks, recordings live behind Twilio's REST API, and zero-balance
attempts are refused and reported on Pub/Sub."""

from __future__ import annotations

import subprocess
import sys
import threading
from urllib.parse import urlencode

import pytest
from flask import Flask, request
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse
from werkzeug.serving import make_server

from emulators.carrier import CarrierClient, CarrierError
from emulators.process import Service, free_port
from shared import carrier as carrier_adapter
from tests.conftest import REPO
from tests.integration.test_carrier_emulator import start_carrier as carrier_process

ACCOUNT_SID = "AC" + "cd" * 16
AUTH_TOKEN = "voice-test-auth-token"
ALICE, BOB, NOBODY = "+998901234567", "+998901234568", "+998909999999"
VAS_NUMBER = "+998712000000"


class Ivr:
    """A tiny caller IVR: menu → 1 records a message, 2 says thanks; /listen plays a recording back."""

    def __init__(self):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.app = Flask("ivr")
        for path, view in (("/voice", self._voice), ("/menu", self._menu), ("/saved", self._saved),
                           ("/service", self._service), ("/sms", self._sms)):
            self.app.add_url_rule(path, path, view, methods=["GET", "POST"])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _record(self) -> dict:
        # The URL exactly as requested: werkzeug's request.url re-quotes the query, which a GET signs.
        url = request.host_url.rstrip("/") + request.environ.get("RAW_URI", request.full_path)
        entry = {"path": request.path, "url": url, "method": request.method,
                 "form": (request.form if request.method == "POST" else request.args).to_dict(),
                 "signature": request.headers.get("X-Twilio-Signature", "")}
        with self.lock:
            self.requests.append(entry)
        return entry["form"]

    @staticmethod
    def _twiml(response) -> tuple[str, int, dict]:
        return str(response), 200, {"Content-Type": "text/xml"}

    def _voice(self):
        form = self._record()
        response = VoiceResponse()
        if request.args.get("listen"):  # the callee listens to a voice message
            response.play(request.args["listen"])
            return self._twiml(response)
        gather = Gather(num_digits=1, timeout=5, action="menu?step=choice")
        gather.say(f"{form['ForwardedFrom']} cannot take your call. Press 1 to leave a message, 2 to hang up.",
                   language="en-US")
        response.append(gather)
        response.say("No choice, goodbye.")
        response.hangup()
        return self._twiml(response)

    def _menu(self):
        form = self._record()
        response = VoiceResponse()
        if form.get("Digits") == "1":
            response.say("Speak after the beep.")
            response.record(action=f"{self.url}/saved", method="GET", max_length=20, timeout=5)
            response.say("We did not hear a message.")
        else:
            response.say("Thank you, goodbye.")
            response.hangup()
        return self._twiml(response)

    def _saved(self):
        form = self._record()
        response = VoiceResponse()
        response.say(f"Your {form['RecordingDuration']} second message is saved.")
        return self._twiml(response)

    def _service(self):
        self._record()
        response = VoiceResponse()
        response.say("Welcome to the missed-call service.")
        return self._twiml(response)

    def _sms(self):
        form = self._record()
        reply = MessagingResponse()
        reply.message(f"Got: {form['Body']}")
        return self._twiml(reply)

    def of(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    def stop(self) -> None:
        self.server.shutdown()


def start_carrier(name: str, ivr: Ivr, publish: str, env: dict | None = None) -> Service:
    return carrier_process(name, ivr, "--voice-number", VAS_NUMBER, "--publish-network-events", publish,
                           env=env, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)


@pytest.fixture(scope="module")
def ivr():
    running = Ivr()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def carrier_service(ivr):
    service = start_carrier("carrier-voice", ivr, "off")
    yield service
    service.stop()


@pytest.fixture
def carrier(carrier_service, ivr) -> CarrierClient:
    client = CarrierClient(carrier_service.ready_url.removesuffix("/health"))
    client.reset()
    ivr.clear()
    client.provision(ALICE)
    client.provision(BOB)
    return client


@pytest.fixture
def twilio(carrier) -> Client:
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = carrier.base_url
    return client


def signed(entry: dict) -> bool:
    params = entry["form"] if entry["method"] == "POST" else {}
    return RequestValidator(AUTH_TOKEN).validate(entry["url"], params, entry["signature"])


# --- the switch -------------------------------------------------------------------------------

@pytest.mark.parametrize("state, attached, reason", [
    ({}, False, "unreachable"),
    ({"busy": True}, True, "busy"),
    ({"answers": False}, True, "no-answer"),
    ({"forward_all": True}, True, "unconditional"),
])
def test_a_call_the_callee_cannot_take_is_forwarded_with_its_reason(carrier, ivr, state, attached, reason):
    if state:
        assert carrier.set_state(BOB, **state) == {**carrier.phone(BOB), **state}
    if not attached:
        carrier.detach(BOB)
    call = carrier.call(ALICE, BOB)
    assert (call["outcome"], call["forwarded"], call["forward_reason"]) == ("forwarded", True, reason)
    assert call["waiting"] == "digits" and call["heard"] == [
        f"{BOB} cannot take your call. Press 1 to leave a message, 2 to hang up."]
    [post] = ivr.of("/voice")
    form = post["form"]
    assert (form["From"], form["To"], form["ForwardedFrom"], form["ForwardReason"]) == (ALICE, VAS_NUMBER, BOB, reason)
    assert (form["CallSid"], form["AccountSid"], form["Direction"]) == (call["call_sid"], ACCOUNT_SID, "inbound")
    assert signed(post)


def test_only_calls_from_the_carriers_own_phones_carry_a_vouched_caller_id(carrier, ivr):
    carrier.configure(voice_webhook=f"{ivr.url}/service")
    try:
        ours = carrier.call(ALICE, "06002")
        spoofed = carrier.call_from_outside(ALICE, "06002")     # another network claims to be ALICE
        stranger = carrier.call_from_outside("+14155550100", "06002")
    finally:
        carrier.configure(voice_webhook=f"{ivr.url}/voice")
    assert ours["outcome"] == spoofed["outcome"] == stranger["outcome"] == "service"
    own, claimed, foreign = (post["form"] for post in ivr.of("/service"))
    assert (own["From"], own["StirVerstat"]) == (ALICE, "TN-Validation-Passed-A")
    assert claimed["From"] == ALICE and "StirVerstat" not in claimed
    assert foreign["From"] == "+14155550100" and "StirVerstat" not in foreign
    assert all(signed(post) for post in ivr.of("/service"))


def test_a_call_from_outside_to_a_switched_off_subscriber_is_forwarded_without_attestation(carrier, ivr):
    carrier.detach(BOB)
    call = carrier.call_from_outside("+14155550100", BOB)
    assert (call["outcome"], call["forward_reason"]) == ("forwarded", "unreachable")
    [post] = ivr.of("/voice")
    assert post["form"]["ForwardedFrom"] == BOB and "StirVerstat" not in post["form"]


def test_a_callee_who_answers_is_connected_and_an_unknown_number_does_not_exist(carrier, ivr):
    assert carrier.call(ALICE, BOB)["outcome"] == "connected"
    assert ivr.of("/voice") == []
    carrier.configure(voice_webhook=f"{ivr.url}/service")
    try:
        wrong = carrier.call(ALICE, NOBODY)
    finally:
        carrier.configure(voice_webhook=f"{ivr.url}/voice")
    # The network's announcement first, then the platform's webhook (Voice+) answers the call.
    assert (wrong["outcome"], wrong["call_reason"], wrong["forwarded"]) == ("not-exists", "not-exists", False)
    assert wrong["heard"] == ["The number you have dialled does not exist.", "Welcome to the missed-call service."]
    [post] = ivr.of("/service")
    assert (post["form"]["From"], post["form"]["To"], post["form"]["CallReason"]) == (ALICE, NOBODY, "not-exists")
    assert "ForwardedFrom" not in post["form"] and signed(post)


def test_a_service_number_is_answered_by_the_voice_webhook_without_forwarding(carrier, ivr):
    carrier.configure(voice_webhook=f"{ivr.url}/service")
    try:
        call = carrier.call(ALICE, "06002")
    finally:
        carrier.configure(voice_webhook=f"{ivr.url}/voice")
    assert (call["outcome"], call["forwarded"], call["heard"]) == ("service", False,
                                                                 ["Welcome to the missed-call service."])
    assert call["ended"] and call["ended_by"] == "end-of-document"
    [post] = ivr.of("/service")
    assert post["form"]["To"] == "06002" and "ForwardedFrom" not in post["form"]
    assert signed(post)


# --- the caller in the IVR --------------------------------------------------------------------

def test_a_key_and_a_voice_message_reach_the_ivr_and_the_recording_is_served_like_twilio(carrier, ivr, twilio):
    carrier.detach(BOB)
    call = carrier.call(ALICE, BOB)
    keyed = carrier.press(call["call_sid"], "1")
    assert (keyed["heard_now"], keyed["waiting"]) == (["Speak after the beep.", "[beep]"], "recording")
    saved = carrier.speak(call["call_sid"], "Call me back at six", seconds=25)
    assert saved["heard_now"] == ["Your 20 second message is saved."]  # cut to maxLength
    assert saved["ended"] and saved["ended_by"] == "end-of-document"

    [choice] = ivr.of("/menu")
    assert choice["url"].endswith("/menu?step=choice") and choice["form"]["Digits"] == "1"
    [action] = ivr.of("/saved")
    assert action["method"] == "GET"
    assert all(signed(entry) for entry in ivr.requests)
    sid, url = action["form"]["RecordingSid"], action["form"]["RecordingUrl"]
    assert url == f"{carrier.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
    assert action["form"]["RecordingDuration"] == "20"

    fetched = twilio.recordings(sid).fetch()
    assert (fetched.call_sid, fetched.duration, fetched.status) == (call["call_sid"], "20", "completed")
    assert [r.sid for r in twilio.recordings.list(call_sid=call["call_sid"])] == [sid]
    assert twilio.recordings.list(call_sid="CA" + "0" * 32) == []
    audio = carrier.http.get(url + ".wav", timeout=10)
    assert audio.headers["Content-Type"] == "audio/x-wav" and audio.content[:4] == b"RIFF"
    assert len(audio.content) == 44 + 20 * 8000 * 2  # 20 s of 8 kHz 16-bit mono after the header
    assert carrier.call_state(call["call_sid"])["recordings"] == [sid]


def test_a_played_back_recording_is_heard_as_the_message(carrier, ivr):
    carrier.detach(BOB)
    call = carrier.call(ALICE, BOB)
    carrier.press(call["call_sid"], "1")
    carrier.speak(call["call_sid"], "See you at noon", seconds=3)
    url = ivr.of("/saved")[0]["form"]["RecordingUrl"]
    carrier.attach(BOB)  # back in coverage, BOB calls the service to listen
    carrier.configure(voice_webhook=f"{ivr.url}/voice?{urlencode({'listen': url})}")
    try:
        played = carrier.call(BOB, "06001")
    finally:
        carrier.configure(voice_webhook=f"{ivr.url}/voice")
    assert played["heard"] == ["[voice message: See you at noon]"]
    assert signed(ivr.of("/voice")[-1])  # the query is part of what Twilio signs


def test_hanging_up_during_the_recording_still_delivers_it(carrier, ivr):
    carrier.set_state(BOB, busy=True)
    call = carrier.call(ALICE, BOB)
    carrier.press(call["call_sid"], "1")
    carrier.speak(call["call_sid"], "Short one", seconds=4, then="continue")
    ended = carrier.hang_up(call["call_sid"])
    assert (ended["ended"], ended["ended_by"]) == (True, "caller")
    [action] = ivr.of("/saved")
    assert (action["form"]["Digits"], action["form"]["CallStatus"], action["form"]["RecordingDuration"]) == (
        "hangup", "completed", "4")


def test_silence_at_the_menu_falls_through_to_goodbye(carrier, ivr):
    carrier.detach(BOB)
    call = carrier.call(ALICE, BOB)
    ended = carrier.silence(call["call_sid"])
    assert ended["heard_now"] == ["No choice, goodbye."] and ended["ended_by"] == "hangup"
    assert ivr.of("/menu") == []
    assert [c["call_sid"] for c in carrier.calls()] == [call["call_sid"]]


def test_call_control_refuses_clearly(carrier):
    with pytest.raises(CarrierError) as unknown:
        carrier.press("CA" + "0" * 32, "1")
    assert unknown.value.status == 404
    carrier.detach(BOB)
    call = carrier.call(ALICE, BOB)
    with pytest.raises(CarrierError) as not_recording:
        carrier.speak(call["call_sid"], "hello")
    assert not_recording.value.status == 409
    with pytest.raises(CarrierError) as bad_keys:
        carrier.press(call["call_sid"], "12a")
    assert bad_keys.value.status == 400
    carrier.hang_up(call["call_sid"])
    with pytest.raises(CarrierError) as over:
        carrier.press(call["call_sid"], "1")
    assert over.value.status == 409
    with pytest.raises(CarrierError) as bad_state:
        carrier.set_state(BOB, roaming=True)
    assert bad_state.value.status == 400


def test_delete_recording_through_the_adapter_then_it_is_gone(carrier, ivr, twilio):
    carrier.detach(BOB)
    call = carrier.call(ALICE, BOB)
    carrier.press(call["call_sid"], "1")
    carrier.speak(call["call_sid"], "Delete me later", seconds=2)
    sid = ivr.of("/saved")[0]["form"]["RecordingSid"]
    assert carrier_adapter.delete_recording(sid, api=twilio) is True
    with pytest.raises(TwilioRestException) as gone:
        twilio.recordings(sid).fetch()
    assert gone.value.status == 404
    assert carrier_adapter.delete_recording(sid, api=twilio) is False
    assert carrier.http.get(f"{carrier.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}.wav",
                            timeout=10).status_code == 404


def test_the_phone_cli_plays_the_call_and_takes_keys_and_speech(carrier, ivr):
    carrier.detach(BOB)
    shown = subprocess.run(
        [sys.executable, "-m", "emulators.carrier", "phone", "--carrier", carrier.base_url, "--msisdn", ALICE,
         "call", BOB], input="1\nplease call me back\n", capture_output=True, text=True, cwd=REPO, timeout=60)
    assert shown.returncode == 0, shown.stderr
    for line in ("Forwarded (unreachable)", "Speak after the beep.", "message is saved", "Call ended"):
        assert line in shown.stdout
    assert ivr.of("/saved")[0]["form"]["RecordingDuration"] == "2"


# --- zero balance (ZeroX) ---------------------------------------------------------------------

def test_zero_balance_attempts_are_refused_and_published_while_service_numbers_stay_free(emulators, ivr, tap):
    refused = tap("network.attempt-refused")
    service = start_carrier("carrier-voice-zero", ivr, "on", env=emulators.env)
    try:
        carrier = CarrierClient(service.ready_url.removesuffix("/health"))
        carrier.provision(ALICE)
        carrier.provision(BOB)
        carrier.set_state(ALICE, zero_balance=True)
        ivr.clear()

        call = carrier.call(ALICE, BOB)
        assert (call["outcome"], call["ended"], call["forwarded"]) == ("refused-zero-balance", True, False)
        sms = carrier.send_sms(ALICE, BOB, "call me")
        assert sms["outcome"] == "refused-zero-balance"
        assert carrier.send_sms(ALICE, "06001", "D")["outcome"] == "accepted"
        assert carrier.call(ALICE, "06002")["outcome"] == "service"
        assert [r["path"] for r in ivr.requests] == ["/sms", "/voice"]  # only the free ones got through
        assert carrier.inbox(BOB) == []

        events = {e.data["kind"]: e for e in refused(2)}
        assert set(events) == {"call", "sms"}
        assert events["call"].data["attempt_id"] == call["call_sid"]
        assert events["sms"].data["attempt_id"] == sms["sid"]
        for event in events.values():
            assert (event.type, event.data["caller"], event.data["destination"], event.data["indicator"]) == (
                "network.attempt-refused", ALICE, BOB, "zero")
    finally:
        service.stop()
