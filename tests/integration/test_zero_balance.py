"""ZeroX on the real emulators (spec/missed-calls.md, "Zero-balance callback request").

The demo operator runs demotel-zerox: offers from and answers to 06005, at most 3 prompts and 3
requests a caller a day, an hour to answer, and option 2 asks the callee for 5 000 so'm through
Mobiuz "Direct transfer" (whose *116* request otherwise costs 100 so'm).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import functions_framework
import pytest
from twilio.request_validator import RequestValidator

from functions.transfers import main as transfers
from functions.zero_balance import main as zero_balance
from functions.zero_balance import __main__ as cli
from functions.zero_balance import stats
from functions.zero_balance.documents import ANSWERS, ATTEMPTS, OFFERS
from shared import bus, catalog, ledger, localtime, operator, runtime, settings, store, texts
from shared.events import Envelope, utcnow
from tests.integration.test_transfers import balance, deliver, subscriber

ALICE, BOB, CAROL = "+998901234567", "+998911112233", "+998935556677"   # Alice has no money left
SOM = 100
TOKEN = "zerox-twilio-token"
URL = "http://localhost/"


# --- helpers --------------------------------------------------------------------------------

def follow_ups(entry_point, event_id: str, topic: str = "sms.send") -> list[dict]:
    """The events of `topic` a delivery left in its outbox."""
    marker = store.db().collection(store.PROCESSED).document(f"{entry_point.consumer}:{event_id}").get()
    return [item.data for item in (Envelope.model_validate(raw) for raw in marker.get("outbox"))
            if item.type == topic]


def refused(attempt_id: str, caller: str = ALICE, destination: str = BOB, kind: str = "call",
            at: datetime | None = None) -> str:
    """The network reports an attempt refused for zero balance; returns the event id delivered."""
    event_id = f"net-{attempt_id}-{time.monotonic_ns()}"
    outcome = deliver(zero_balance.on_attempt_refused, {
        "attempt_id": attempt_id, "caller": caller, "destination": destination, "kind": kind, "indicator": "zero",
        "at": (at or utcnow()).isoformat()}, event_id)
    assert outcome == "processed"
    return event_id


def answered(request_id: str, answer: str, caller: str = ALICE, at: datetime | None = None) -> str:
    event_id = f"ans-{request_id}"
    assert deliver(zero_balance.on_answer, {"request_id": request_id, "caller": caller, "answer": answer,
                                            "answered_at": (at or utcnow()).isoformat()}, event_id) == "processed"
    return event_id


def rendered(sms: dict, language: str) -> str:
    return texts.render(sms["template"], sms.get("language") or language, **sms["params"])


def counts() -> dict[str, int]:
    """Today's and yesterday's counters summed (a test near midnight spans both operator's days)."""
    today = localtime.day_of(utcnow(), operator.current().timezone)
    return dict(stats.total(stats.read(store.db(), stats.days_back(today, 2))).counts)


@pytest.fixture
def sms_webhook(firestore_clean, monkeypatch):
    """The edge's inbound SMS webhook, loaded against the emulators: `text(sender, to, body, sid)`."""
    monkeypatch.setenv("VAS_TWILIO_AUTH_TOKEN", TOKEN)
    for cached in (settings.get, operator.current, store.db, bus._publisher):
        cached.cache_clear()
    app = functions_framework.create_app("sms_inbound", "functions/edge/main.py").test_client()

    def text(sender: str, to: str, body: str, sid: str):
        form = {"MessageSid": sid, "From": sender, "To": to, "Body": body}
        response = app.post("/", data=form, headers={
            "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(URL, form)})
        assert response.status_code == 200
        return response

    yield text
    monkeypatch.undo()
    for cached in (settings.get, operator.current, store.db, bus._publisher):
        cached.cache_clear()


# --- the spec's flow ------------------------------------------------------------------------

def test_a_zero_balance_caller_is_offered_and_answering_1_sends_the_callee_a_free_callback_and_a_confirmation(
        sms_webhook, tap):
    subscriber(ALICE, "en", name="Chris Jones")
    subscriber(BOB, "ru", balance=50_000 * SOM)
    attempted = utcnow() - timedelta(minutes=2)
    event = refused("att-1", at=attempted)

    [offer] = follow_ups(zero_balance.on_attempt_refused, event)
    assert (offer["to"], offer["sender"]) == (ALICE, "06005")
    assert rendered(offer, "en") == (f"You have zero balance. Reply 1 to send {BOB} a free message asking to call "
                                     f"you back, 2 to ask them to top you up with 5 000 so'm, 0 for no.")

    answers = tap("zero-balance.answered")
    response = sms_webhook(ALICE, "06005", "1", "SMzb0001")
    assert response.data.decode().endswith("<Response />")   # no inline reply: the service answers
    [answer] = answers(1)
    assert (answer.data["caller"], answer.data["answer"], answer.data["offer_id"]) == (ALICE, "callback", "att-1")
    assert deliver(zero_balance.on_answer, answer.data, answer.id) == "processed"

    [to_bob, to_alice] = follow_ups(zero_balance.on_answer, answer.id)
    moment = localtime.moment(attempted, localtime.zone_for(BOB, "Asia/Tashkent"), "ru")
    assert (to_bob["to"], to_bob["sender"], to_bob["language"]) == (BOB, "06005", "ru")
    assert rendered(to_bob, "ru") == (f"Здравствуйте, это Chris Jones (90 123 45 67). Не удалось дозвониться до вас "
                                      f"{moment}: у меня закончились деньги на балансе. Пожалуйста, перезвоните мне.")
    assert to_alice["to"] == ALICE and rendered(to_alice, "en") == f"Your call-me-back request was sent to {BOB}."
    assert to_bob.get("billing") is None and to_alice.get("billing") is None     # free for both
    assert store.db().collection(ANSWERS).document(answer.data["request_id"]).get().get("outcome") == "callback"


@pytest.mark.parametrize("name", ["Zafar Zero", None])
def test_the_callees_sms_names_the_number_to_call_back_with_or_without_a_name(firestore_clean, name):
    subscriber(ALICE, "uz", **({"name": name} if name else {}))
    subscriber(BOB, "zh", balance=50_000 * SOM)
    refused("att-1", kind="sms")
    [to_bob, _] = follow_ups(zero_balance.on_answer, answered("sms:SMzb-name", "callback"))
    body = rendered(to_bob, "en")
    # The SMS comes from 06005: without Alice's number Bob cannot call back unless he has it saved.
    assert to_bob["sender"] == "06005" and "90 123 45 67" in body, body
    assert (name in body) if name else body.startswith("您好，我是90 123 45 67。"), body


def test_a_caller_with_a_positive_balance_is_offered_nothing_and_counted(firestore_clean):
    subscriber(ALICE, "en", balance=1 * SOM)     # one so'm is not zero: asking for free callbacks is abuse
    subscriber(BOB, "ru")
    event = refused("att-rich")
    assert follow_ups(zero_balance.on_attempt_refused, event) == []
    assert not store.db().collection(OFFERS).document(ALICE).get().exists
    assert store.db().collection(ATTEMPTS).document("att-rich").get().get("outcome") == "positive_balance"
    assert counts()["positive_balance"] == 1 and counts()["prompts"] == 0


def test_someone_elses_subscriber_is_rejected(firestore_clean):
    event_id = "net-foreign"
    topic = catalog.load().consumer("zero-balance-offer").topic
    data, attributes = bus.encode(catalog.make_envelope(topic, {
        "attempt_id": "att-x", "caller": CAROL, "destination": BOB, "kind": "sms", "indicator": "zero",
        "at": utcnow().isoformat()}, event_id=event_id))
    assert runtime.process("zero-balance-offer", zero_balance.on_attempt_refused.handler, "m-x", data,
                           attributes) == "rejected"
    assert not store.db().collection(OFFERS).document(CAROL).get().exists


def test_prompts_stop_at_the_daily_limit_and_a_repeated_attempt_is_decided_once(firestore_clean):
    subscriber(ALICE, "uz")
    subscriber(BOB, "ru")
    offers = [follow_ups(zero_balance.on_attempt_refused, refused(f"att-{n}")) for n in range(5)]
    assert all(len(sent) == 1 for sent in offers)
    again = refused("att-4")                         # the network reports attempt 4 again, under a new event
    assert follow_ups(zero_balance.on_attempt_refused, again) == []
    sixth = refused("att-5")
    assert follow_ups(zero_balance.on_attempt_refused, sixth) == []
    assert store.db().collection(ATTEMPTS).document("att-5").get().get("outcome") == "prompt_limited"
    assert (counts()["prompts"], counts()["prompt_limited"]) == (5, 1)
    # The open offer is the latest one prompted.
    assert store.db().collection(OFFERS).document(ALICE).get().get("attempt_id") == "att-4"


def test_answer_2_asks_the_callee_for_a_top_up_without_charging_the_caller(firestore_clean):
    subscriber(ALICE, "en")
    subscriber(BOB, "ru", balance=50_000 * SOM)
    refused("att-t")
    event = answered("sms:SMzb0002", "transfer")
    assert follow_ups(zero_balance.on_answer, event) == []     # transfers tells Alice itself
    [ask] = follow_ups(zero_balance.on_answer, event, "transfer.topup-asked")
    assert (ask["channel"], ask["requester"], ask["target"], ask["amount"]) == ("zero-balance", ALICE, BOB, 500_000)

    assert deliver(transfers.on_topup_asked, ask, "topup-1") == "processed"
    to_bob, to_alice = sorted(follow_ups(transfers.on_topup_asked, "topup-1"), key=lambda sms: sms["to"] != BOB)
    assert to_bob["template"] == "transfer.topup_ask.request" and to_bob["params"]["amount"] == "5 000 so'm"
    assert to_alice["template"] == "transfer.topup_ask.sent_free"
    assert balance(ALICE) == 0 and ledger.check(store.db(), ALICE) == []
    assert counts()["transfer"] == 1


def test_the_top_up_request_fee_is_waived_only_for_the_zero_balance_channel(firestore_clean):
    subscriber(ALICE, "en")
    subscriber(BOB, "ru")
    deliver(transfers.on_topup_asked, {"request_id": "ussd:1", "channel": "ussd", "requester": ALICE, "target": BOB,
                                       "amount": 500_000, "requested_at": utcnow().isoformat()}, "topup-ussd")
    [refusal] = follow_ups(transfers.on_topup_asked, "topup-ussd")
    assert refusal["to"] == ALICE and refusal["template"] == "transfer.topup_ask.refused"


def test_a_second_answer_changes_nothing(sms_webhook, tap):
    subscriber(ALICE, "en")
    subscriber(BOB, "ru")
    refused("att-2x")
    first = answered("sms:SMzb0003", "callback")
    assert len(follow_ups(zero_balance.on_answer, first)) == 2
    second = answered("sms:SMzb0004", "transfer")            # raced past the edge: the service refuses it
    [reply] = follow_ups(zero_balance.on_answer, second)
    assert (reply["to"], reply["template"]) == (ALICE, "zero_balance.no_offer")
    assert follow_ups(zero_balance.on_answer, second, "transfer.topup-asked") == []
    replies = tap("sms.send")
    sms_webhook(ALICE, "06005", "0", "SMzb0005")              # the edge sees the closed offer and says so
    [edge_reply] = replies(1)
    assert edge_reply.data["template"] == "zero_balance.no_offer"
    offer = store.db().collection(OFFERS).document(ALICE).get().to_dict()
    assert (offer["status"], offer["answer"]) == ("answered", "callback")
    assert counts()["callback"] == 1 and counts()["transfer"] == 0


def test_the_edge_explains_the_choices_and_an_answer_without_an_offer(sms_webhook, tap):
    subscriber(ALICE, "ru")
    subscriber(BOB, "en")
    replies = tap("sms.send")
    sms_webhook(ALICE, "06005", "1", "SMzb0006")
    refused("att-e")
    sms_webhook(ALICE, "06005", "перезвоните мне когда-нибудь", "SMzb0007")
    edge_replies = sorted((e for e in replies(3) if e.data["reference"].startswith("twilio:")),
                          key=lambda e: e.data["reference"])
    first, second = edge_replies
    assert first.data["template"] == "zero_balance.no_offer" and first.data["sender"] == "06005"
    assert second.data["template"] == "zero_balance.answer.help_topup"
    assert store.db().collection(OFFERS).document(ALICE).get().get("status") == "open"


def test_every_answer_is_recorded_and_the_counters_add_up(firestore_clean, capsys):
    one, two, three, four, five, rich = (f"+99890100000{n}" for n in range(1, 7))
    subscriber(BOB, "en")
    for caller in (one, two, three, four, five):
        subscriber(caller, "uz")
    subscriber(rich, "en", balance=10 * SOM)

    for caller, answer in ((one, "callback"), (two, "no"), (three, "transfer")):
        refused(f"att-{caller}", caller=caller)
        answered(f"sms:{caller}", answer, caller=caller)
    refused("att-late", caller=four)
    answered("sms:late", "callback", caller=four, at=utcnow() + timedelta(hours=2))
    for n in range(4):                               # three requests a day; the fourth yes is refused
        refused(f"att-5-{n}", caller=five)
        answered(f"sms:5-{n}", "callback", caller=five)
    assert follow_ups(zero_balance.on_answer, "ans-sms:5-3")[0]["template"] == "zero_balance.request_limited"
    refused("att-5-4", caller=five)                  # the fifth prompt of the day
    refused("att-5-5", caller=five)                  # over the prompts: counted, not offered
    refused("att-rich", caller=rich)

    assert counts() == {"prompts": 9, "positive_balance": 1, "prompt_limited": 1, "callback": 4, "transfer": 1,
                        "no": 1, "request_limited": 1, "expired": 1, "foreign_destination": 0}
    recorded = sorted(doc.to_dict()["outcome"] for doc in store.db().collection(ANSWERS).stream())
    assert recorded == sorted(["callback"] * 4 + ["no", "transfer", "expired", "request_limited"])
    today = localtime.day_of(utcnow(), operator.current().timezone)
    assert stats.total(stats.read(store.db(), stats.days_back(today, 2))).yes_rate == pytest.approx(6 / 7)

    assert cli.main(["stats", "--days", "2"]) == 0     # what the operator reads
    *_, last = capsys.readouterr().out.strip().splitlines()
    assert last.split() == ["total", "9", "1", "1", "4", "1", "1", "1", "1", "0", "86%"]


def test_both_entry_points_take_the_emulators_raw_push_bodies(firestore_clean, pubsub_push):
    subscriber(ALICE, "en")
    subscriber(BOB, "ru")

    def push(target, topic, payload, event_id):
        return pubsub_push(zero_balance.__file__, target, topic, payload, event_id)

    attempt = {"attempt_id": "att-push", "caller": ALICE, "destination": BOB, "kind": "sms", "indicator": "zero",
               "at": utcnow().isoformat()}
    assert push("on_attempt_refused", "network.attempt-refused", attempt, "push-attempt").status_code == 200
    [offer] = follow_ups(zero_balance.on_attempt_refused, "push-attempt")
    assert offer["template"] == "zero_balance.offer.callback_or_topup"
    answer = {"request_id": "sms:SMpush", "caller": ALICE, "answer": "no", "answered_at": utcnow().isoformat(),
              "offer_id": "att-push"}
    assert push("on_answer", "zero-balance.answered", answer, "push-answer").status_code == 200
    [declined] = follow_ups(zero_balance.on_answer, "push-answer")
    assert rendered(declined, "en") == f"OK, nothing was sent to {BOB}."
    assert counts()["no"] == 1
