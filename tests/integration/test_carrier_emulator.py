"""The carrier emulator as a real process: the twilio client, signed callbacks, the SMS centre, USSD and SMS
webhooks, and attach/detach on Pub/Sub."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest
from flask import Flask, request
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.serving import make_server

from emulators.carrier import CarrierClient, CarrierError
from emulators.process import Service, free_port
from shared.signing import USSD_SIGNATURE_HEADER, verify_body
from tests.conftest import LOG_DIR, REPO

ACCOUNT_SID = "AC" + "ab" * 16
AUTH_TOKEN = "carrier-test-auth-token"
GATEWAY_SECRET = "carrier-test-gateway-secret"
ALICE, BOB, NOBODY = "+998901234567", "+998901234568", "+998909999999"
WAIT = 20.0  # seconds to wait for something asynchronous before the test fails


class Receiver:
    """A local webhook endpoint: records what arrives and answers like the platform's edge would."""

    def __init__(self):
        self.requests: list[dict] = []
        self.failures_left = 0  # answer 503 this many times to status callbacks (a webhook that is down)
        self.changed = threading.Condition()
        self.app = Flask("receiver")
        self.app.add_url_rule("/status", "status", self._status, methods=["POST"])
        self.app.add_url_rule("/ussd", "ussd", self._ussd, methods=["POST"])
        self.app.add_url_rule("/sms", "sms", self._sms, methods=["POST"])
        self.app.add_url_rule("/voice", "voice", self._voice, methods=["POST"])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _record(self, kind: str) -> dict:
        body = request.get_data(cache=True)  # before .form, which would consume the stream
        entry = {"kind": kind, "url": request.url, "body": body, "form": request.form.to_dict(),
                 "headers": dict(request.headers)}
        with self.changed:
            self.requests.append(entry)
            self.changed.notify_all()
        return entry

    def _status(self):
        with self.changed:
            if self.failures_left:
                self.failures_left -= 1
                return "down for maintenance", 503
        self._record("status")
        return "", 204

    def _ussd(self):
        entry = self._record("ussd")
        if not verify_body(GATEWAY_SECRET, entry["body"], request.headers.get(USSD_SIGNATURE_HEADER)):
            return "unsigned", 403
        text = entry["form"]["text"]
        if text == "":
            return "CON Menu\n1. Balance\n2. Transfer"
        if text == "2":
            return "CON Enter the number"
        return f"END You typed {text}"

    def _sms(self):
        entry = self._record("sms")
        reply = MessagingResponse()
        reply.message(f"Got: {entry['form']['Body']}")
        return str(reply), 200, {"Content-Type": "text/xml"}

    def _voice(self):
        entry = self._record("voice")
        reply = VoiceResponse()
        reply.say(f"{entry['form']['ForwardedFrom']} is unavailable; we will tell them you called.")
        return str(reply), 200, {"Content-Type": "text/xml"}

    def of(self, kind: str) -> list[dict]:
        with self.changed:
            return [r for r in self.requests if r["kind"] == kind]

    def wait_for(self, kind: str, count: int, **match) -> list[dict]:
        """The first `count` requests of `kind` whose form has the `match` fields; fails after WAIT seconds."""
        def found():
            return [r for r in self.requests if r["kind"] == kind
                    and all(r["form"].get(k) == v for k, v in match.items())]
        with self.changed:
            if not self.changed.wait_for(lambda: len(found()) >= count, timeout=WAIT):
                pytest.fail(f"expected {count} {kind} request(s) matching {match}, got {found()}")
            return found()

    def clear(self) -> None:
        with self.changed:
            self.requests.clear()
            self.failures_left = 0

    def stop(self) -> None:
        self.server.shutdown()


def start_carrier(name: str, receiver, *extra: str, env: dict | None = None, account_sid: str = ACCOUNT_SID,
                  auth_token: str = AUTH_TOKEN) -> Service:
    """The carrier emulator process with its webhooks at `receiver.url` (/ussd, /sms, /voice)."""
    port = free_port()
    argv = [sys.executable, "-m", "emulators.carrier", "serve", "--port", str(port),
            "--account-sid", account_sid, "--auth-token", auth_token, "--gateway-secret", GATEWAY_SECRET,
            "--ussd-webhook", f"{receiver.url}/ussd", "--sms-webhook", f"{receiver.url}/sms",
            "--voice-webhook", f"{receiver.url}/voice", *extra]
    return Service(name, argv, ready_url=f"http://127.0.0.1:{port}/health", env=env, log_dir=LOG_DIR,
                   cwd=REPO).start().wait_ready()


@pytest.fixture(scope="module")
def receiver():
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def carrier_service(receiver):
    service = start_carrier("carrier-emulator", receiver, "--publish-network-events", "off")
    yield service
    service.stop()


@pytest.fixture
def carrier(carrier_service, receiver) -> CarrierClient:
    client = CarrierClient(carrier_service.ready_url.removesuffix("/health"))
    client.reset()
    receiver.clear()
    return client


@pytest.fixture
def twilio(carrier) -> Client:
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = carrier.base_url
    return client


def statuses(receiver: Receiver, sid: str) -> list[str]:
    return [r["form"]["MessageStatus"] for r in receiver.of("status") if r["form"]["MessageSid"] == sid]


# --- the Twilio API, through the real twilio client -----------------------------------------

def test_the_twilio_client_creates_lists_and_fetches_messages(carrier, twilio):
    carrier.provision(ALICE)
    created = twilio.messages.create(to=ALICE, from_="DemoTel", body="Your balance is 5 000.00 so'm")
    assert created.sid.startswith("SM") and len(created.sid) == 34
    assert (created.status, created.to, created.from_, created.num_segments) == ("queued", ALICE, "DemoTel", "1")
    assert created.account_sid == ACCOUNT_SID and created.date_created is not None

    carrier.wait_for_inbox(ALICE, 1)
    fetched = twilio.messages(created.sid).fetch()
    assert (fetched.sid, fetched.status, fetched.body) == (created.sid, "delivered", created.body)

    other = twilio.messages.create(to=BOB, from_="DemoTel", body="second")
    listed = twilio.messages.list()
    assert [m.sid for m in listed] == [other.sid, created.sid]  # newest first, like Twilio
    assert [m.sid for m in twilio.messages.list(to=ALICE)] == [created.sid]
    assert len(twilio.messages.list(page_size=1)) == 2  # the client follows next_page_uri


def test_wrong_credentials_get_twilios_401(carrier):
    intruder = Client(ACCOUNT_SID, "not-the-token")
    intruder.api.base_url = carrier.base_url
    with pytest.raises(TwilioRestException) as refused:
        intruder.messages.create(to=ALICE, from_="DemoTel", body="x")
    assert (refused.value.status, refused.value.code) == (401, 20003)


def test_an_invalid_to_number_gets_21211(twilio):
    with pytest.raises(TwilioRestException) as refused:
        twilio.messages.create(to="+99890", from_="DemoTel", body="x")
    assert (refused.value.status, refused.value.code) == (400, 21211)


def test_fetching_an_unknown_message_is_a_404(twilio):
    with pytest.raises(TwilioRestException) as refused:
        twilio.messages("SM" + "0" * 32).fetch()
    assert (refused.value.status, refused.value.code) == (404, 20404)


# --- the SMS centre and its signed status callbacks ------------------------------------------

def test_callbacks_are_signed_and_arrive_sent_then_delivered(carrier, twilio, receiver):
    carrier.provision(ALICE)
    message = twilio.messages.create(to=ALICE, from_="DemoTel", body="hello",
                                     status_callback=f"{receiver.url}/status?tenant=demo")
    callbacks = receiver.wait_for("status", 2, MessageSid=message.sid)
    assert [c["form"]["MessageStatus"] for c in callbacks] == ["sent", "delivered"]
    validator = RequestValidator(AUTH_TOKEN)
    for callback in callbacks:
        assert callback["form"]["AccountSid"] == ACCOUNT_SID
        assert (callback["form"]["To"], callback["form"]["From"]) == (ALICE, "DemoTel")
        assert validator.validate(callback["url"], callback["form"], callback["headers"]["X-Twilio-Signature"])
    assert [m["body"] for m in carrier.inbox(ALICE)] == ["hello"]


def test_a_detached_phone_gets_its_message_only_after_it_attaches(carrier, twilio, receiver):
    carrier.provision(BOB, attached=False)
    message = twilio.messages.create(to=BOB, from_="DemoTel", body="while you were away",
                                     status_callback=f"{receiver.url}/status")
    receiver.wait_for("status", 1, MessageSid=message.sid, MessageStatus="sent")
    assert carrier.inbox(BOB) == []
    assert twilio.messages(message.sid).fetch().status == "sent"

    attached = carrier.attach(BOB)
    assert attached["delivered_waiting"] == 1
    receiver.wait_for("status", 1, MessageSid=message.sid, MessageStatus="delivered")
    assert statuses(receiver, message.sid) == ["sent", "delivered"]
    assert [m["body"] for m in carrier.inbox(BOB)] == ["while you were away"]


def test_a_number_the_network_does_not_know_ends_undelivered(carrier, twilio, receiver):
    message = twilio.messages.create(to=NOBODY, from_="DemoTel", body="anyone?",
                                     status_callback=f"{receiver.url}/status")
    [undelivered] = receiver.wait_for("status", 1, MessageSid=message.sid, MessageStatus="undelivered")
    assert undelivered["form"]["ErrorCode"] == "30005"
    fetched = twilio.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30005)
    assert [(m["sid"], m["status"]) for m in carrier.messages()] == [(message.sid, "undelivered")]
    assert (carrier.message_count(), carrier.message_count(to=NOBODY), carrier.message_count(to=ALICE)) == (1, 1, 0)


def test_a_callback_refused_while_the_webhook_is_down_is_retried(carrier, twilio, receiver):
    carrier.provision(ALICE)
    receiver.failures_left = 1
    message = twilio.messages.create(to=ALICE, from_="DemoTel", body="retry me",
                                     status_callback=f"{receiver.url}/status")
    receiver.wait_for("status", 1, MessageSid=message.sid, MessageStatus="sent")
    receiver.wait_for("status", 1, MessageSid=message.sid, MessageStatus="delivered")


# --- what a phone does -----------------------------------------------------------------------

def test_a_ussd_dial_is_posted_signed_and_a_menu_continues_in_the_same_session(carrier, receiver):
    carrier.provision(ALICE)
    first = carrier.dial(ALICE, "*100#")
    assert (first["text"], first["end"]) == ("Menu\n1. Balance\n2. Transfer", False)
    second = carrier.reply(ALICE, first["session_id"], "2")
    assert (second["text"], second["end"]) == ("Enter the number", False)
    last = carrier.reply(ALICE, first["session_id"], "998901234568")
    assert (last["text"], last["end"]) == ("You typed 2*998901234568", True)

    posts = receiver.of("ussd")
    assert [p["form"]["text"] for p in posts] == ["", "2", "2*998901234568"]
    assert {p["form"]["sessionId"] for p in posts} == {first["session_id"]}
    assert {(p["form"]["serviceCode"], p["form"]["phoneNumber"]) for p in posts} == {("*100#", ALICE)}
    assert all(p["form"]["networkCode"] for p in posts)
    assert all(verify_body(GATEWAY_SECRET, p["body"], p["headers"][USSD_SIGNATURE_HEADER]) for p in posts)
    with pytest.raises(CarrierError) as ended:  # the session ended with END
        carrier.reply(ALICE, first["session_id"], "1")
    assert ended.value.status == 404


def test_a_dial_with_inputs_splits_into_service_code_and_text(carrier, receiver):
    carrier.provision(ALICE)
    reply = carrier.dial(ALICE, "*112*998971300909*2500#")
    assert reply == {**reply, "text": "You typed 998971300909*2500", "end": True}
    [post] = receiver.of("ussd")
    assert (post["form"]["serviceCode"], post["form"]["text"]) == ("*112#", "998971300909*2500")


def test_a_switched_off_phone_cannot_dial(carrier):
    carrier.provision(ALICE, attached=False)
    with pytest.raises(CarrierError) as refused:
        carrier.dial(ALICE, "*100#")
    assert refused.value.status == 409


def test_an_sms_to_a_short_code_is_posted_signed_and_the_twiml_reply_arrives(carrier, receiver):
    carrier.provision(ALICE)
    sent = carrier.send_sms(ALICE, "21112", "BALANCE")
    assert sent["webhook_status"] == 200 and len(sent["replies"]) == 1
    [post] = receiver.of("sms")
    form = post["form"]
    assert (form["From"], form["To"], form["Body"], form["MessageSid"]) == (ALICE, "21112", "BALANCE", sent["sid"])
    assert (form["AccountSid"], form["NumMedia"]) == (ACCOUNT_SID, "0")
    assert RequestValidator(AUTH_TOKEN).validate(post["url"], form, post["headers"]["X-Twilio-Signature"])

    [reply] = carrier.wait_for_inbox(ALICE, 1)
    assert (reply["from"], reply["body"]) == ("21112", "Got: BALANCE")
    directions = {m["sid"]: (m["direction"], m["status"]) for m in carrier.messages()}
    assert directions[sent["sid"]] == ("inbound", "received")


def test_the_phone_cli_shows_the_menu_and_takes_the_next_input(carrier):
    import subprocess

    carrier.provision(ALICE)
    shown = subprocess.run(
        [sys.executable, "-m", "emulators.carrier", "phone", "--carrier", carrier.base_url, "--msisdn", ALICE,
         "dial", "*100#"], input="2\n777\n", capture_output=True, text=True, cwd=REPO, timeout=60)
    assert shown.returncode == 0, shown.stderr
    for line in ("1. Balance", "Enter the number", "You typed 2*777"):
        assert line in shown.stdout


def test_a_call_to_a_switched_off_phone_is_forwarded_to_the_voice_webhook_signed(carrier, receiver):
    carrier.provision(ALICE)
    carrier.provision(BOB, attached=False)
    forwarded = carrier.call(ALICE, BOB)
    assert (forwarded["outcome"], forwarded["forwarded"], forwarded["forward_reason"]) == (
        "forwarded", True, "unreachable")
    assert forwarded["heard"] == [f"{BOB} is unavailable; we will tell them you called."]
    [post] = receiver.of("voice")
    assert (post["form"]["From"], post["form"]["ForwardedFrom"]) == (ALICE, BOB)
    assert post["form"]["CallSid"] == forwarded["call_sid"] and post["form"]["CallSid"].startswith("CA")
    assert RequestValidator(AUTH_TOKEN).validate(post["url"], post["form"], post["headers"]["X-Twilio-Signature"])

    carrier.attach(BOB)
    assert carrier.call(ALICE, BOB)["outcome"] == "connected"
    assert len(receiver.of("voice")) == 1
    wrong = carrier.call(ALICE, NOBODY)
    assert wrong["outcome"] == "not-exists" and wrong["heard"][0] == "The number you have dialled does not exist."
    # A wrong number is handed to the voice webhook after the announcement (Voice+), said why.
    assert [post["form"].get("CallReason") for post in receiver.of("voice")] == [None, "not-exists"]


# --- the network's events on Pub/Sub ---------------------------------------------------------

def test_attach_and_detach_are_published_to_the_network_topic(emulators, receiver):
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(emulators.project, f"carrier-test-{int(time.time() * 1000)}")
    subscriber.create_subscription(name=subscription,
                                   topic=f"projects/{emulators.project}/topics/network.attachment")
    service = start_carrier("carrier-emulator-pubsub", receiver, "--publish-network-events", "on",
                            env=emulators.env)
    try:
        carrier = CarrierClient(service.ready_url.removesuffix("/health"))
        assert carrier.health()["publish_network_events"] is True
        provisioned = carrier.provision(BOB, attached=False)
        attached = carrier.attach(BOB)
        assert carrier.attach(BOB)["event_id"] is None  # no change, no event
        expected = {provisioned["event_id"]: "detached", attached["event_id"]: "attached"}

        received: dict[str, dict] = {}
        deadline = time.monotonic() + WAIT
        while set(received) != set(expected) and time.monotonic() < deadline:
            response = subscriber.pull(subscription=subscription, max_messages=10, timeout=5)
            for item in response.received_messages:
                envelope = json.loads(item.message.data)
                received[envelope["id"]] = envelope
            if response.received_messages:
                subscriber.acknowledge(subscription=subscription,
                                       ack_ids=[item.ack_id for item in response.received_messages])
        assert set(received) == set(expected)
        for event_id, state in expected.items():
            envelope = received[event_id]
            assert envelope["type"] == "network.attachment"
            assert (envelope["data"]["msisdn"], envelope["data"]["state"]) == (BOB, state)
    finally:
        service.stop()
        subscriber.delete_subscription(subscription=subscription)


def test_control_api_refuses_clearly(carrier):
    with pytest.raises(CarrierError) as unknown:
        carrier.attach(NOBODY)
    assert unknown.value.status == 404
    with pytest.raises(CarrierError) as invalid:
        carrier.provision("12")
    assert invalid.value.status == 400
    carrier.provision(ALICE)
    with pytest.raises(CarrierError) as not_ussd:
        carrier.dial(ALICE, "100")
    assert not_ussd.value.status == 400
