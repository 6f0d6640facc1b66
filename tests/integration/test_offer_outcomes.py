"""Accepted offers on the real emulators: the consent kept, the budget exact, subscriptions' outcome, the statistics.

An offer is made the way the edge makes it: its play reserved in `offer_caps/{msisdn}` under the
offer's id; accepting it is a `voice-plus.accepted` with the consent the caller gave. The demo
operator's voice_plus preset (short code 06008) and its catalogue (the 1 GB pack at 9 000 so'm) are
in force.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import pytest

from functions.subscriptions import main as subscriptions
from functions.voice_plus import main as voice_plus
from functions.voice_plus import offers, stats
from functions.voice_plus.documents import BUDGETS, CAMPAIGNS, CAPS, LOG, OFFERS, STATS, Campaign, campaign_document
from shared import consent, store, texts
from shared.consent import Answer
from shared.events import OfferAccepted, utcnow
from tests.integration.test_subscriptions import outbox, stored_consent
from tests.integration.test_transfers import balance, deliver, deliver_until_done, sms_of, subscriber

ALICE, BOB = "+998901234567", "+998911112233"
SOM = 100
PACK = "data-1gb"  # 9 000 so'm, 1 GB for 7 days
SAID = "Press 1 for 1 GB of data for 9000 sum for a week."


def campaign(campaign_id: str = "net-week", *, budget: int | None = None, status: str = "live", kind: str = "bundle",
             product: str = PACK) -> Campaign:
    stored = Campaign.model_validate({
        "id": campaign_id, "name": "1 GB this week", "channel": "voice", "status": status, "budget": budget,
        "offer": {"kind": kind, "product": product, "confirm": True},
        "voice": {language: {"say": SAID} for language in ("en", "ru", "uz", "ky", "zh")},
        "schedule": {"starts": "2026-01-01"}, "cap": {"plays": 2, "period_hours": 24},
    })
    store.db().collection(CAMPAIGNS).document(stored.id).set(campaign_document(stored))
    return stored


def offered(msisdn: str, offer_id: str, campaign_id: str = "net-week") -> None:
    """The edge's reservation of the play: the offer is made to `msisdn` by `campaign_id`."""
    ref = store.db().collection(CAPS).document(msisdn)
    plays = (ref.get().to_dict() or {}).get("plays", [])
    ref.set({"plays": [*plays, {"campaign": campaign_id, "offer": offer_id, "at": utcnow()}], "updated_at": utcnow()})


def accepting(msisdn: str, offer_id: str, *, accepted: bool = True, campaign_id: str = "net-week",
              language: str = "en", consent_of: str | None = None, product: str = PACK) -> dict:
    """What the edge publishes once the caller pressed 1, then 1 again to confirm (or 2 to decline)."""
    now, call_sid = utcnow(), offer_id.removeprefix("voice:")
    given = consent.given(offer=f"voice_plus.{campaign_id}.{product}", msisdn=consent_of or msisdn, channel="ivr",
                          language=language, shown=SAID, price=9_000 * SOM, currency="UZS", period="once",
                          request=Answer(text="1", reference=call_sid, at=now),
                          confirmation=Answer(text="1" if accepted else "2", reference=call_sid, at=now),
                          accepted=accepted)
    return {"offer_id": offer_id, "campaign_id": campaign_id, "channel": "voice", "msisdn": msisdn,
            "language": language, "consent": given.model_dump(mode="json"), "accepted_at": now.isoformat()}


def offer(offer_id: str) -> dict | None:
    return store.db().collection(OFFERS).document(offer_id).get().to_dict()


def used(campaign_id: str = "net-week") -> int:
    return (store.db().collection(BUDGETS).document(campaign_id).get().to_dict() or {}).get("used", 0)


def funnel_steps(entry_point, event_id: str) -> list[tuple[str, str, str | None]]:
    """The funnel events a delivery left in its outbox: (event id, step, detail)."""
    marker = store.db().collection(store.PROCESSED).document(f"{entry_point.consumer}:{event_id}").get()
    return [(item["id"], item["data"]["step"], item["data"]["detail"])
            for item in marker.get("outbox") if item["type"] == stats.TOPIC]


# --- accepted, with its consent, activated by subscriptions ---------------------------------------

def test_an_accepted_offer_is_asked_of_subscriptions_which_keeps_the_consent_starts_it_and_the_outcome_comes_back(
        firestore_clean):
    subscriber(ALICE, "en", balance=50_000 * SOM)
    campaign(budget=5)
    offered(ALICE, "voice:CA1")
    payload = accepting(ALICE, "voice:CA1")

    assert deliver(voice_plus.on_accepted, payload, "acc-1") == "processed"
    assert deliver(voice_plus.on_accepted, payload, "acc-1", message_id="again") == "duplicate"
    assert deliver(voice_plus.on_accepted, payload, "acc-1-republished") == "processed"  # another id, same offer
    assert outbox(voice_plus.on_accepted, "acc-1-republished", "subscription.requested") == []

    [request] = outbox(voice_plus.on_accepted, "acc-1", "subscription.requested")
    assert (request["request_id"], request["product"], request["channel"], request["source"]) == (
        "voice:CA1", PACK, "ivr", "voice_plus")
    assert request["consent"]["status"] == "confirmed" and used() == 1
    assert offer("voice:CA1")["outcome"] == "accepted"
    assert funnel_steps(voice_plus.on_accepted, "acc-1") == [
        (stats.funnel_event_id("voice:CA1", "accepted"), "accepted", None)]

    assert deliver(subscriptions.on_requested, request, "req-1") == "processed"
    kept = stored_consent(request["consent"]["id"])
    assert (kept["status"], kept["channel"], kept["shown"], kept["offer"]) == (
        "confirmed", "ivr", SAID, "voice_plus.net-week.data-1gb")
    assert (kept["request"]["text"], kept["request"]["reference"], kept["confirmation"]["text"]) == ("1", "CA1", "1")
    assert balance(ALICE) == 41_000 * SOM
    [receipt] = sms_of(subscriptions.on_requested, "req-1")
    assert receipt["to"] == ALICE, "the result by SMS is subscriptions' receipt"

    [decided] = outbox(subscriptions.on_requested, "req-1", "subscription.request-decided")
    assert deliver(voice_plus.on_request_decided, decided, "dec-1") == "processed"
    assert deliver(voice_plus.on_request_decided, decided, "dec-1b") == "processed"  # published again: once
    assert offer("voice:CA1")["outcome"] == "activated" and used() == 1
    assert funnel_steps(voice_plus.on_request_decided, "dec-1") == [
        (stats.funnel_event_id("voice:CA1", "activated"), "activated", None)]
    assert funnel_steps(voice_plus.on_request_decided, "dec-1b") == []


def test_a_plan_offer_asks_for_a_plan_change_with_the_consent():
    plan_offer = Campaign.model_validate({
        "id": "net-week", "name": "Premium plan", "channel": "voice", "offer": {"kind": "plan", "product": "premium"},
        "voice": {"en": {"say": SAID}}, "schedule": {"starts": "2026-01-01"}, "cap": {"plays": 1, "period_hours": 24}})
    topic, request = offers.plan_or_product_request(
        OfferAccepted.model_validate(accepting(ALICE, "voice:CA9", product="premium")), plan_offer)
    assert topic == "subscription.plan-change-requested"
    assert (request.plan, request.request_id, request.source, request.channel, request.consent.status) == (
        "premium", "voice:CA9", "voice_plus", "ivr", "confirmed")


def test_a_refused_activation_is_recorded_as_failed_with_its_reason_and_gives_the_budget_back(firestore_clean):
    subscriber(ALICE, "en", balance=1_000 * SOM)  # too little for the 9 000 so'm pack
    campaign(budget=1)
    offered(ALICE, "voice:CA2")
    assert deliver(voice_plus.on_accepted, accepting(ALICE, "voice:CA2"), "acc-2") == "processed"
    assert used() == 1
    [request] = outbox(voice_plus.on_accepted, "acc-2", "subscription.requested")
    assert deliver(subscriptions.on_requested, request, "req-2") == "processed"
    [refusal] = sms_of(subscriptions.on_requested, "req-2")
    assert refusal["to"] == ALICE and balance(ALICE) == 1_000 * SOM

    [decided] = outbox(subscriptions.on_requested, "req-2", "subscription.request-decided")
    reason = decided["outcome"].removeprefix("refused:")
    assert decided["outcome"].startswith("refused:")
    assert deliver(voice_plus.on_request_decided, decided, "dec-2") == "processed"
    assert deliver(voice_plus.on_request_decided, decided, "dec-2b") == "processed"
    assert offer("voice:CA2")["outcome"] == f"failed:{reason}"
    assert used() == 0, "a refused activation does not spend the budget, given back once"
    assert funnel_steps(voice_plus.on_request_decided, "dec-2") == [
        (stats.funnel_event_id("voice:CA2", "failed"), "failed", reason)]


def test_outcomes_of_other_services_requests_and_subscriptions_questions_change_no_offer(firestore_clean):
    subscriber(ALICE, "en", balance=50_000 * SOM)
    campaign(budget=2)
    offered(ALICE, "voice:CA3")
    assert deliver(voice_plus.on_accepted, accepting(ALICE, "voice:CA3"), "acc-3") == "processed"
    decided = {"request_id": "voice:CA3", "msisdn": ALICE, "product": PACK, "kind": "product", "channel": "ivr",
               "decided_at": utcnow().isoformat()}
    assert deliver(voice_plus.on_request_decided, {**decided, "source": "subscriptions", "outcome": "refused:x"},
                   "dec-3a") == "processed"
    assert deliver(voice_plus.on_request_decided, {**decided, "source": "voice_plus", "outcome": "asked"},
                   "dec-3b") == "processed"
    assert offer("voice:CA3")["outcome"] == "accepted" and used() == 1
    stray = {**decided, "request_id": "voice:NEVER", "source": "voice_plus", "outcome": "started"}
    assert deliver(voice_plus.on_request_decided, stray, "dec-3c") == "rejected"
    price_changed = {**decided, "source": "voice_plus", "outcome": "ask_again"}  # subscriptions started nothing
    assert deliver(voice_plus.on_request_decided, price_changed, "dec-3d") == "processed"
    assert offer("voice:CA3")["outcome"] == "failed:ask_again" and used() == 0


# --- declined, forged, ended --------------------------------------------------------------------

def test_a_declined_offer_keeps_its_consent_as_declined_and_activates_nothing(firestore_clean):
    subscriber(ALICE, "ru", balance=50_000 * SOM)
    campaign(budget=5)
    offered(ALICE, "voice:CA4")
    payload = accepting(ALICE, "voice:CA4", accepted=False, language="ru")
    assert deliver(voice_plus.on_accepted, payload, "acc-4") == "processed"

    kept = stored_consent(payload["consent"]["id"])
    assert (kept["status"], kept["channel"], kept["shown"], kept["price"], kept["currency"]) == (
        "declined", "ivr", SAID, 9_000 * SOM, "UZS")
    assert (kept["request"]["text"], kept["confirmation"]["text"], kept["request"]["reference"]) == ("1", "2", "CA4")
    assert kept["decided_at"] is not None
    assert outbox(voice_plus.on_accepted, "acc-4", "subscription.requested") == []
    assert sms_of(voice_plus.on_accepted, "acc-4") == []
    assert offer("voice:CA4")["outcome"] == "declined" and used() == 0
    assert [step for _, step, _ in funnel_steps(voice_plus.on_accepted, "acc-4")] == ["declined"]


@pytest.mark.parametrize(("case", "why"), [
    ("never offered", "was never made"),
    ("offered by another campaign", "was never made"),
    ("someone else's consent", "not this subscriber's"),
    ("no such campaign", "does not exist"),
    ("made on another channel", "not made on the voice channel"),
])
def test_an_accepted_event_for_an_offer_never_made_activates_nothing(firestore_clean, case, why):
    subscriber(ALICE, "en", balance=50_000 * SOM)
    campaign(budget=5)
    campaign("other-one")
    payload = accepting(ALICE, "voice:CA5")
    if case == "offered by another campaign":
        offered(ALICE, "voice:CA5", campaign_id="other-one")
    elif case == "someone else's consent":
        offered(ALICE, "voice:CA5")
        payload = accepting(ALICE, "voice:CA5", consent_of=BOB)
    elif case == "made on another channel":
        offered(ALICE, "ussd:CA5")
        payload = {**accepting(ALICE, "ussd:CA5"), "channel": "voice"}
    elif case == "no such campaign":
        offered(ALICE, "voice:CA5", campaign_id="gone-away")
        payload = accepting(ALICE, "voice:CA5", campaign_id="gone-away")
    assert deliver(voice_plus.on_accepted, payload, "acc-5") == "rejected"
    rejected = store.db().collection(store.REJECTED).document("voice-plus-accept:m-acc-5").get().to_dict()
    assert why in rejected["reason"]
    assert offer("voice:CA5") is None and used() == 0
    assert not store.db().collection(consent.COLLECTION).document(payload["consent"]["id"]).get().exists


def test_a_stopped_campaigns_offer_is_not_activated_and_the_caller_is_told_in_their_language(firestore_clean):
    subscriber(ALICE, "uz", balance=50_000 * SOM)
    campaign(budget=5, status="stopped")
    offered(ALICE, "voice:CA6")
    payload = accepting(ALICE, "voice:CA6", language="uz")
    assert deliver(voice_plus.on_accepted, payload, "acc-6") == "processed"
    [told] = sms_of(voice_plus.on_accepted, "acc-6")
    assert (told["to"], told["language"], told["sender"]) == (ALICE, "uz", "06008")
    assert texts.render(told["template"], "uz", **told["params"]) == (
        "Afsuski, «1 GB internet» taklifi tugadi, shu sababli ulanmadi. Hech narsa yechilmadi.")
    assert offer("voice:CA6")["outcome"] == "failed:stopped" and used() == 0
    assert stored_consent(payload["consent"]["id"])["status"] == "confirmed"
    assert outbox(voice_plus.on_accepted, "acc-6", "subscription.requested") == []
    assert funnel_steps(voice_plus.on_accepted, "acc-6")[0][1:] == ("failed", "stopped")


def test_ten_subscribers_accepting_at_once_a_budget_of_three_start_three_and_the_others_are_told(firestore_clean):
    callers = [f"+99890700000{i}" for i in range(10)]
    for number in callers:
        subscriber(number, "ky", balance=50_000 * SOM)
        offered(number, f"voice:CB{number[-1]}")
    campaign(budget=3)
    go = threading.Barrier(10)

    def accept(number: str) -> str:
        go.wait()
        return deliver_until_done(voice_plus.on_accepted, accepting(number, f"voice:CB{number[-1]}", language="ky"),
                                  f"acc-{number}")

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(accept, callers)) == ["processed"] * 10

    requested = [n for n in callers if outbox(voice_plus.on_accepted, f"acc-{n}", "subscription.requested")]
    told = [n for n in callers if sms_of(voice_plus.on_accepted, f"acc-{n}")]
    assert len(requested) == 3 and used() == 3, "exactly the budget, never more"
    assert sorted(told) == sorted(set(callers) - set(requested))
    assert {offer(f"voice:CB{n[-1]}")["outcome"] for n in told} == {"failed:budget"}
    assert {sms_of(voice_plus.on_accepted, f"acc-{n}")[0]["language"] for n in told} == {"ky"}
    for number in told:  # the consent is kept even for the offer that could not be taken
        kept = stored_consent(accepting(number, f"voice:CB{number[-1]}")["consent"]["id"])
        assert kept["status"] == "confirmed"


# --- statistics ------------------------------------------------------------------------------------

def funnel_event(i: int, step: str, at: datetime, language: str = "en") -> tuple[dict, str]:
    offer_id = f"voice:CS{i}"
    payload = {"offer_id": offer_id, "campaign_id": "net-week", "channel": "voice", "language": language,
               "msisdn": f"+9989070{i:05d}", "step": step, "at": at.isoformat()}
    return payload, stats.funnel_event_id(offer_id, step)


def test_two_hundred_funnel_events_delivered_twice_at_once_are_counted_once_and_reconcile_with_the_log(
        firestore_clean):
    campaign()
    at = datetime(2026, 3, 16, 5, 0, tzinfo=timezone.utc)
    steps = ["offered"] * 100 + ["key"] * 50 + ["confirmation"] * 25 + ["accepted"] * 15 + ["activated"] * 10
    events = [funnel_event(i, step, at, ("en", "ru")[i % 2]) for i, step in enumerate(steps)]

    def count(item: tuple[int, tuple[dict, str]]) -> str:
        n, (payload, event_id) = item
        return deliver_until_done(voice_plus.on_funnel, payload, event_id)

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(count, enumerate(events + events)))
    assert outcomes.count("processed") == 200 and outcomes.count("duplicate") == 200

    day = date(2026, 3, 16)
    assert stats.reconcile(store.db(), "net-week", day) == []
    rows = stats.funnel(store.db(), "net-week", day, day)
    assert [(row.language, row.count("offered"), row.count("activated")) for row in rows] == [
        ("en", 50, 5), ("ru", 50, 5)]
    assert sum(row.count("key") for row in rows) == 50 and rows[0].conversion == 0.1
    shards = list(store.db().collection(STATS).document("net-week_en_2026-03-16").collection("shards").stream())
    assert len(shards) > 1, "the counter is spread over shards"
    assert len(list(store.db().collection(LOG).stream())) == 200
    table = stats.format_funnel(rows)
    assert "net-week" in table and "10.0%" in table

    # A counter that drifts from the log is named, exactly.
    shards[0].reference.update({"offered": shards[0].to_dict().get("offered", 0) + 1})
    assert stats.reconcile(store.db(), "net-week", day) == [stats.Difference("en", "offered", 50, 51)]


def test_a_step_is_counted_on_the_operators_day_not_the_utc_one(firestore_clean):
    campaign()
    late_evening_utc = datetime(2026, 3, 16, 19, 30, tzinfo=timezone.utc)  # 00:30 on the 17th in Tashkent
    payload, event_id = funnel_event(1, "offered", late_evening_utc)
    assert deliver(voice_plus.on_funnel, payload, event_id) == "processed"
    assert stats.funnel(store.db(), None, date(2026, 3, 16), date(2026, 3, 16)) == []
    [row] = stats.funnel(store.db(), None, date(2026, 3, 17), date(2026, 3, 17) + timedelta(days=1))
    assert (row.day, row.count("offered"), row.conversion) == ("2026-03-17", 1, 0.0)
