"""notify on the real Firestore and Pub/Sub emulators, sending through the real twilio client.

The carrier here is a minimal HTTP server speaking Twilio's Messages create endpoint; the carrier
emulator (emulators/carrier/) replaces it once it exists.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

from emulators.process import free_port
from functions.notify import main, messages
from shared import bus, carrier, catalog, runtime, settings, sms, store, text_catalog, texts
from shared.events import utcnow

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "notify-test-token"
TO = "+998901234567"
STATUS_CALLBACK = "http://127.0.0.1:1/edge-message-status"

SAMPLE_TEXTS = """\
test.balance:
  en: "Your balance is {amount}"
  ru: "Ваш баланс: {amount}"
  uz: "Balansingiz: {amount}"
  ky: "Балансыңыз: {amount}"
  zh: "您的余额：{amount}"
"""


class TwilioMessagesStub:
    """Twilio's `POST /2010-04-01/Accounts/{sid}/Messages.json`, and nothing else."""

    PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Messages\.json$")

    def __init__(self):
        self.created: list[dict] = []           # form fields of every message the carrier took
        self.next_answers: list[tuple[int, dict]] = []  # canned failures answered before creating
        self.arrived = threading.Event()         # a create request came in
        self.gate: threading.Event | None = None  # when set by a test, creates wait for it to open
        self._sids = itertools.count(1)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                match = stub.PATH.match(self.path)
                expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
                form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                if not match or match["account"] != ACCOUNT_SID:
                    return self._answer(404, {"code": 20404, "message": "The requested resource was not found",
                                              "status": 404})
                if self.headers.get("Authorization") != expected:
                    return self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                stub.arrived.set()
                if stub.gate is not None:
                    stub.gate.wait(timeout=30)
                if stub.next_answers:
                    return self._answer(*stub.next_answers.pop(0))
                sid = f"SM{next(stub._sids):032x}"
                stub.created.append({**form, "Sid": sid})
                self._answer(201, {"sid": sid, "account_sid": ACCOUNT_SID, "status": "queued",
                                   "to": form["To"], "from": form["From"], "body": form["Body"],
                                   "num_segments": str(sms.segments(form["Body"]).segments),
                                   "direction": "outbound-api", "error_code": None})

            def _answer(self, status: int, body: dict):
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def twilio(firestore_clean, monkeypatch, tmp_path):
    """A carrier speaking Twilio's API, notify configured to use it, and a known text catalog."""
    (tmp_path / "sample.yaml").write_text(SAMPLE_TEXTS, encoding="utf-8")
    monkeypatch.setattr(text_catalog, "TEXTS_DIR", tmp_path)  # where the catalog is read from
    monkeypatch.setattr(text_catalog, "SERVICES_DIR", tmp_path)  # the sample alone, no service texts
    with TwilioMessagesStub() as stub:
        monkeypatch.setenv("VAS_TWILIO_API_BASE", stub.url)
        monkeypatch.setenv("VAS_TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        monkeypatch.setenv("VAS_TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        monkeypatch.setenv("VAS_SMS_STATUS_CALLBACK_URL", STATUS_CALLBACK)
        _reset()
        yield stub
    _reset()


def _reset():
    for cached in (settings.get, carrier.client, texts.catalog):
        cached.cache_clear()


def send(event_id="evt-1", delivery="m-1", **fields):
    """Deliver an sms.send event to notify as its push subscription would."""
    payload = {"to": TO, "template": "test.balance", "params": {"amount": "25 000 UZS"}, **fields}
    data, attributes = bus.encode(catalog.make_envelope("sms.send", payload, event_id=event_id))
    return runtime.process("notify-sms-send", main.on_sms_send.handler, delivery, data, attributes,
                           after_commit=main.send_to_carrier)


def callback(sid, status, event_id, reported_ago=timedelta(0), error_code=None, message_id=None):
    """Deliver an sms.status event (a carrier status callback the edge published)."""
    payload = {"message_sid": sid, "status": status, "error_code": error_code,
               "reported_at": (utcnow() - reported_ago).isoformat(), "message_id": message_id}
    data, attributes = bus.encode(catalog.make_envelope("sms.status", payload, event_id=event_id))
    return runtime.process("notify-sms-status", main.on_sms_status.handler, event_id, data, attributes)


def crash_once(monkeypatch, module, name: str, why: str) -> None:
    """`module.name` raises SystemError(why) on its next call only, as an instance that died would."""
    real = getattr(module, name)

    def crash(*args, **kwargs):
        monkeypatch.setattr(module, name, real)
        raise SystemError(why)

    monkeypatch.setattr(module, name, crash)


def record(event_id="evt-1") -> dict | None:
    return store.db().collection(store.MESSAGES).document(messages.message_id(event_id)).get().to_dict()


def all_records() -> list[dict]:
    return [doc.to_dict() for doc in store.db().collection(store.MESSAGES).stream()]


def test_an_sms_send_delivered_twice_makes_one_record_and_one_carrier_call(twilio):
    assert send(delivery="m-1") == "processed"
    assert send(delivery="m-2") == "duplicate"

    [created] = twilio.created
    assert created["To"] == TO and created["From"] == "DemoTel"     # the demo operator's sender id
    assert created["Body"] == "Balansingiz: 25 000 UZS"                 # the operator's default language
    [message] = all_records()
    # The callback URL names the message, so a callback finds it before the SID is stored.
    assert created["StatusCallback"] == f"{STATUS_CALLBACK}?message_id={message['message_id']}"
    assert message["carrier_sid"] == created["Sid"]
    assert (message["status"], message["encoding"], message["segments"]) == ("queued", "GSM-7", 1)
    link = store.db().collection(messages.MESSAGE_SIDS).document(created["Sid"]).get()
    assert link.get("message_id") == message["message_id"]


def test_a_crash_between_commit_and_the_carrier_call_sends_exactly_once_on_redelivery(twilio, monkeypatch):
    crash_once(monkeypatch, carrier, "send_sms", "instance stopped after the commit, before calling the carrier")
    with pytest.raises(SystemError):
        send(delivery="m-1")
    assert record()["carrier_sid"] is None and twilio.created == []

    assert send(delivery="m-1") == "duplicate"
    assert send(delivery="m-1") == "duplicate"
    assert len(twilio.created) == 1
    assert record()["carrier_sid"] == twilio.created[0]["Sid"]
    assert record()["send_attempts"] == 2


def test_a_concurrent_redelivery_does_not_send_while_the_first_is_with_the_carrier(twilio):
    from concurrent.futures import ThreadPoolExecutor

    twilio.gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(send, delivery="m-1")
        assert twilio.arrived.wait(timeout=30), "the first delivery never reached the carrier"
        with pytest.raises(messages.SendInProgress):
            send(delivery="m-2")                  # Pub/Sub handed the same event to a second instance
        twilio.gate.set()
        assert first.result(timeout=30) == "processed"
    assert send(delivery="m-3") == "duplicate"
    assert len(twilio.created) == 1 and record()["send_attempts"] == 1


def test_an_instance_that_died_holding_the_send_blocks_redeliveries_until_its_lease_expires(twilio, monkeypatch):
    real_send = carrier.send_sms

    def crash(*args, **kwargs):
        raise SystemError("instance stopped before calling the carrier")

    monkeypatch.setattr(carrier, "send_sms", crash)
    with pytest.raises(SystemError):
        send()
    monkeypatch.setattr(carrier, "send_sms", real_send)
    ref = store.db().collection(store.MESSAGES).document(messages.message_id("evt-1"))
    # What a process killed mid-call leaves behind: its claim, never released.
    ref.update({"send_lease_until": utcnow() + messages.SEND_LEASE})
    with pytest.raises(messages.SendInProgress):
        send()
    assert twilio.created == []

    ref.update({"send_lease_until": utcnow() - timedelta(seconds=1)})  # the lease ran out
    assert send() == "duplicate"
    assert len(twilio.created) == 1 and record()["carrier_sid"] == twilio.created[0]["Sid"]


def test_a_carrier_outage_is_retried_and_the_sms_goes_out_once(twilio):
    twilio.next_answers.append((503, {"code": 20500, "message": "Service unavailable", "status": 503}))
    with pytest.raises(carrier.TransientCarrierError):
        send()
    assert send() == "duplicate"
    assert len(twilio.created) == 1 and record()["status"] == "queued"


def test_a_permanent_refusal_fails_the_message_without_retrying(twilio):
    twilio.next_answers.append((400, {"code": 21211, "message": "The 'To' number +998901234567 is not valid",
                                      "status": 400}))
    assert send() == "processed"
    assert send() == "duplicate"
    message = record()
    assert message["status"] == "failed" and message["error"]["code"] == 21211
    assert message["send_attempts"] == 1 and twilio.created == []


def test_a_redelivery_while_the_first_delivery_holds_its_claim_from_the_commit_does_not_send(twilio):
    """The record is created claimed: an instance that died right after the commit blocks no SMS for long
    and sends none twice."""
    payload = {"to": TO, "template": "test.balance", "params": {"amount": "25 000 UZS"}}
    data, attributes = bus.encode(catalog.make_envelope("sms.send", payload, event_id="evt-1"))
    # The first delivery commits its record and dies before the carrier call (no after_commit ran).
    assert runtime.process("notify-sms-send", main.on_sms_send.handler, "m-1", data, attributes) == "processed"
    assert record()["send_attempts"] == 1 and record()["send_lease_until"] > utcnow()
    with pytest.raises(messages.SendInProgress):
        send(delivery="m-2")
    assert twilio.created == []

    ref = store.db().collection(store.MESSAGES).document(messages.message_id("evt-1"))
    ref.update({"send_lease_until": utcnow() - timedelta(seconds=1)})  # the dead delivery's lease ran out
    assert send(delivery="m-3") == "duplicate"
    assert send(delivery="m-4") == "duplicate"
    assert len(twilio.created) == 1 and record()["send_attempts"] == 2


def test_a_callback_that_beats_the_carriers_answer_lands_on_its_message_at_once(twilio):
    from concurrent.futures import ThreadPoolExecutor

    sid = f"SM{1:032x}"                           # the SID the stub gives its first message
    message_id = messages.message_id("evt-1")
    twilio.gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(send, delivery="m-1")
        assert twilio.arrived.wait(timeout=30), "the delivery never reached the carrier"
        # The carrier calls back before notify stored its answer: no retry, the status is applied.
        assert callback(sid, "sent", "cb-1", message_id=message_id) == "processed"
        assert callback(sid, "delivered", "cb-2", message_id=message_id) == "processed"
        assert (record()["status"], record()["carrier_sid"]) == ("delivered", sid)
        twilio.gate.set()
        assert first.result(timeout=30) == "processed"
    message = record()
    assert message["status"] == "delivered" and message["send_lease_until"] is None
    assert [(e["source"], e["status"], e["applied"]) for e in message["history"]] == [
        ("notify", "queued", True), ("callback", "sent", True), ("callback", "delivered", True),
        ("carrier-api", "queued", False)]
    link = store.db().collection(messages.MESSAGE_SIDS).document(sid).get()
    assert link.get("message_id") == message_id
    assert send(delivery="m-2") == "duplicate" and len(twilio.created) == 1


def test_an_sms_whose_carrier_answer_was_lost_is_not_sent_again_once_a_callback_named_it(twilio, monkeypatch):
    real_send = carrier.send_sms

    def answer_lost(*args, **kwargs):
        real_send(*args, **kwargs)
        raise carrier.TransientCarrierError("carrier unreachable: ReadTimeout")  # it took the SMS anyway

    monkeypatch.setattr(carrier, "send_sms", answer_lost)
    with pytest.raises(carrier.TransientCarrierError):
        send(delivery="m-1")
    monkeypatch.setattr(carrier, "send_sms", real_send)
    [created] = twilio.created
    assert callback(created["Sid"], "sent", "cb-1", message_id=messages.message_id("evt-1")) == "processed"

    assert send(delivery="m-2") == "duplicate"
    assert len(twilio.created) == 1
    assert (record()["status"], record()["carrier_sid"]) == ("sent", created["Sid"])


def test_a_callback_naming_a_message_with_another_sid_is_rejected(twilio):
    send()
    message_id = messages.message_id("evt-1")
    assert callback("SM" + "d" * 32, "delivered", "cb-forged", message_id=message_id) == "rejected"
    assert callback("SM" + "d" * 32, "delivered", "cb-lost", message_id="no-such-message") == "rejected"
    assert record()["status"] == "queued"
    reasons = [doc.get("reason") for doc in store.db().collection(store.REJECTED).stream()]
    assert sorted(reasons) == [f"message {message_id} has carrier SID {record()['carrier_sid']},"
                               f" the callback names {'SM' + 'd' * 32}", "no message has id no-such-message"]


def test_status_callbacks_out_of_order_end_delivered(twilio):
    send()
    sid = record()["carrier_sid"]
    assert callback(sid, "delivered", "cb-1") == "processed"
    assert callback(sid, "sent", "cb-2") == "processed"
    message = record()
    assert message["status"] == "delivered"
    assert [(e["status"], e["applied"]) for e in message["history"] if e["source"] == "callback"] == [
        ("delivered", True), ("sent", False)]


def test_a_duplicate_callback_changes_nothing(twilio):
    send()
    sid = record()["carrier_sid"]
    callback(sid, "sent", "cb-1")
    callback(sid, "delivered", "cb-2")
    before = record()

    assert callback(sid, "delivered", "cb-2") == "duplicate"       # the same event redelivered
    assert record() == before

    assert callback(sid, "delivered", "cb-3") == "processed"       # the carrier called back twice
    after = record()
    assert (after["status"], after["status_at"], after["final_at"]) == (
        before["status"], before["status_at"], before["final_at"])
    assert len(after["history"]) == len(before["history"]) + 1 and not after["history"][-1]["applied"]


def test_an_undelivered_message_keeps_the_carriers_error(twilio):
    send()
    sid = record()["carrier_sid"]
    callback(sid, "undelivered", "cb-1", error_code="30003")
    callback(sid, "delivered", "cb-2")
    assert record()["status"] == "undelivered" and record()["error"]["code"] == "30003"


def test_a_russian_speaking_subscriber_gets_russian_counted_as_ucs2(twilio):
    store.db().collection(store.SUBSCRIBERS).document(TO).set({"msisdn": TO, "language": "ru"})
    send()
    message = record()
    assert message["body"] == "Ваш баланс: 25 000 UZS" == twilio.created[0]["Body"]
    assert (message["language"], message["encoding"], message["segments"]) == ("ru", "UCS-2", 1)


def test_without_a_known_language_the_operators_default_is_used_and_the_request_can_override(twilio):
    send(event_id="evt-default")
    send(event_id="evt-zh", language="zh")
    assert record("evt-default")["body"] == "Balansingiz: 25 000 UZS"    # the demo operator speaks uz first
    assert record("evt-zh")["body"] == "您的余额：25 000 UZS"
    assert record("evt-zh")["encoding"] == "UCS-2"


def test_an_unknown_template_is_rejected_and_recorded_not_retried(twilio):
    assert send(template="no.such.text", delivery="m-bad") == "rejected"
    rejected = store.db().collection(store.REJECTED).document("notify-sms-send:m-bad").get()
    assert "unknown text template 'no.such.text'" in rejected.get("reason")
    assert all_records() == [] and twilio.created == []


def test_a_callback_for_an_unknown_sid_waits_for_the_link_then_is_rejected(twilio):
    with pytest.raises(main.MessageNotLinkedYet):
        callback("SM" + "f" * 32, "delivered", "cb-early")
    assert callback("SM" + "f" * 32, "delivered", "cb-old",
                    reported_ago=messages.LINK_GRACE + timedelta(seconds=1)) == "rejected"
    rejected = store.db().collection(store.REJECTED).document("notify-sms-status:cb-old").get()
    assert "no message has carrier SID" in rejected.get("reason")


def test_push_deliveries_through_functions_framework_send_and_track_an_sms(twilio):
    """The raw push bodies a subscription posts reach both entry points as CloudEvents."""
    import functions_framework

    def push(target, topic, payload, event_id):
        app = functions_framework.create_app(target=target, source=main.__file__)
        data, attributes = bus.encode(catalog.make_envelope(topic, payload, event_id=event_id))
        body = {"subscription": f"projects/vas-test/subscriptions/notify-{topic.replace('.', '-')}",
                "message": {"data": base64.b64encode(data).decode(), "attributes": attributes,
                            "messageId": event_id, "publishTime": "2026-11-22T10:00:00Z"}}
        return app.test_client().post(f"/projects/vas-test/topics/{topic}", json=body)

    sms_send = {"to": TO, "template": "test.balance", "params": {"amount": "5 UZS"}, "language": "en"}
    assert push("on_sms_send", "sms.send", sms_send, "evt-push").status_code == 200
    [created] = twilio.created
    assert created["Body"] == "Your balance is 5 UZS"

    early = {"message_sid": "SM" + "e" * 32, "status": "sent", "reported_at": utcnow().isoformat()}
    assert push("on_sms_status", "sms.status", early, "cb-early").status_code == 500  # Pub/Sub retries it

    delivered = {"message_sid": created["Sid"], "status": "delivered", "reported_at": utcnow().isoformat()}
    assert push("on_sms_status", "sms.status", delivered, "cb-push").status_code == 200
    assert record("evt-push")["status"] == "delivered"


# --- billing: sms.final for services that charge delivered SMS -------------------------------

def finals(status_event_id: str) -> list[dict]:
    """The sms.final events a status callback's delivery left in its outbox."""
    marker = store.db().collection(store.PROCESSED).document(f"notify-sms-status:{status_event_id}").get()
    return [item["data"] for item in marker.get("outbox") if item["type"] == "sms.final"]


def test_a_billable_sms_reports_its_final_status_once_however_often_the_callback_repeats(twilio):
    assert send(billing="missed-calls/reminder", reference="notice-1") == "processed"
    sid = twilio.created[0]["Sid"]
    assert record()["billing"] == "missed-calls/reminder"

    for status, event_id in (("sent", "cb-1"), ("delivered", "cb-2"), ("delivered", "cb-3"), ("failed", "cb-4")):
        assert callback(sid, status, event_id, message_id=messages.message_id("evt-1")) == "processed"

    assert finals("cb-1") == [] and finals("cb-3") == [] and finals("cb-4") == []
    [final] = finals("cb-2")
    assert (final["message_id"], final["to"], final["status"], final["billing"], final["reference"]) == \
        (messages.message_id("evt-1"), TO, "delivered", "missed-calls/reminder", "notice-1")
    assert final["template"] == "test.balance" and final["segments"] == 1


def test_an_undelivered_billable_sms_reports_undelivered_and_an_unbilled_one_reports_nothing(twilio):
    assert send(event_id="evt-billed", delivery="m-b", billing="missed-calls/reminder") == "processed"
    assert send(event_id="evt-free", delivery="m-f") == "processed"
    billed, free = (c["Sid"] for c in twilio.created)

    assert callback(billed, "undelivered", "cb-billed", error_code="30003") == "processed"
    assert callback(free, "delivered", "cb-free") == "processed"

    assert [f["status"] for f in finals("cb-billed")] == ["undelivered"]
    assert finals("cb-free") == []
