"""Subscribing, changing plan and STOP on the real emulators (spec/subscriptions-and-credits.md).

The demo operator runs demotel-subscriptions (short code 06007, menu *120#): Movies (KINO) at
20 000 so'm a month, Music (MUSIC) with a 7-day trial, the 1 GB data pack (NET1) carrying over.
M1 (tests/fixtures/operators/m1.yaml) runs m1-subscriptions: the 5 GB pack with carry-over, the
roaming pack limited to 2 (a 3rd below 2 GB), and plan changes on #100# (first free, then 1.00).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from functions.provisioning import main as provisioning
from functions.subscriptions import main as subscriptions
from functions.subscriptions import pricing, public
from functions.subscriptions.documents import BOOKS, Book
from functions.subscriptions.subscribe import REQUESTS, record_id
from shared import consent, ledger, store, texts
from shared.consent import Answer
from shared.events import Envelope, utcnow
from tests.integration.test_reassignment import archived, reassignments
from tests.integration.test_transfers import (  # noqa: F401 (fixture)
    balance,
    deliver,
    deliver_until_done,
    sms_of,
    sound,
    subscriber,
    use_operator,
)

ALICE, BOB = "+998901234567", "+998911112233"
LEE, TAN = "+6591234567", "+6598765432"
SOM, CENT = 100, 1
DEMO_CODE = "06007"


# --- helpers --------------------------------------------------------------------------------

def asked_for(product: str, request_id: str, msisdn: str = ALICE, **fields) -> dict:
    return {"request_id": request_id, "msisdn": msisdn, "product": product, "channel": "sms",
            "requested_at": utcnow().isoformat(), **fields}


def keyword(product: str, word: str, sms_id: str, msisdn: str = ALICE) -> str:
    """The subscriber texts a product's keyword: the service asks its question; returns the event id."""
    said = Answer(text=word, reference=sms_id, at=utcnow()).model_dump(mode="json")
    assert deliver(subscriptions.on_requested, asked_for(product, sms_id, msisdn, said=said), sms_id) == "processed"
    return sms_id


def replied(product: str, word: str, accepted: bool, sms_id: str, msisdn: str = ALICE) -> str:
    said = Answer(text=word, reference=sms_id, at=utcnow()).model_dump(mode="json")
    payload = asked_for(product, sms_id, msisdn, said=said, consent_reply=accepted)
    assert deliver(subscriptions.on_requested, payload, sms_id) == "processed"
    return sms_id


def on_screen(product: str, price: int, session: str, msisdn: str = ALICE, accepted: bool = True,
              period: str = "month", entry=None) -> dict:
    """A request confirmed (or closed) on the USSD screen that named the price."""
    now = utcnow()
    given = consent.given(offer=f"subscriptions.{product}", msisdn=msisdn, channel="ussd", language="en",
                          shown=f"{product}: {price} a {period}. 1 Confirm 0 Close", price=price,
                          currency="UZS" if msisdn.startswith("+998") else "SGD", period=period,
                          request=Answer(text="*120*1#", reference=session, at=now),
                          confirmation=Answer(text="1" if accepted else "0", reference=session, at=now),
                          accepted=accepted)
    return {**asked_for(product, session, msisdn), "channel": "ussd", "consent": given.model_dump(mode="json")}


def outbox(entry_point, event_id: str, topic: str) -> list[dict]:
    marker = store.db().collection(store.PROCESSED).document(f"{entry_point.consumer}:{event_id}").get()
    return [item.data for item in (Envelope.model_validate(raw) for raw in marker.get("outbox")) if item.type == topic]


def rendered(sms: dict) -> str:
    return texts.render(sms["template"], sms["language"], **sms["params"])


def book(msisdn: str = ALICE) -> Book:
    return Book.from_document(msisdn, store.db().collection(BOOKS).document(msisdn).get().to_dict())


def record(request_id: str) -> dict:
    return store.db().collection(REQUESTS).document(record_id(request_id)).get().to_dict()


def stored_consent(consent_id: str) -> dict:
    return store.db().collection(consent.COLLECTION).document(consent_id).get().to_dict()


def entries(msisdn: str, reason_prefix: str) -> list[dict]:
    account = store.db().collection(store.ACCOUNTS).document(msisdn)
    return [e for e in (snap.to_dict() for snap in account.collection(ledger.ENTRIES).stream())
            if e["reason"].startswith(reason_prefix)]


# --- subscribe by SMS: asked, then YES --------------------------------------------------------

def test_a_keyword_is_asked_with_its_price_and_yes_charges_once_with_a_receipt_and_the_consent_kept(
        firestore_clean):
    subscriber(ALICE, "en", balance=50_000 * SOM)
    asked = keyword("kino-monthly", "KINO", "SMk1")

    [question] = sms_of(subscriptions.on_requested, asked)
    assert (question["to"], question["sender"]) == (ALICE, DEMO_CODE)
    assert rendered(question) == ("Subscribe to Movies for 20 000 so'm a month? Reply YES within 15 min to confirm, "
                                  "NO to decline.")
    assert balance(ALICE) == 50_000 * SOM and record("SMk1")["outcome"] == "asked"
    pending = book().pending
    assert pending is not None and pending.product == "kino-monthly"
    assert stored_consent(pending.consent_id)["status"] == "pending"

    yes = replied("kino-monthly", "YES", True, "SMk2")
    assert deliver(subscriptions.on_requested, asked_for("kino-monthly", "SMk2", said=Answer(
        text="YES", reference="SMk2", at=utcnow()).model_dump(mode="json"), consent_reply=True), yes,
        message_id="again") == "duplicate"

    assert balance(ALICE) == 30_000 * SOM
    [receipt] = sms_of(subscriptions.on_requested, yes)
    kept = book()
    [item] = kept.live()
    next_day = item.next_charge_at.astimezone(item.next_charge_at.tzinfo)
    assert rendered(receipt).startswith("You are subscribed to Movies. Charged 20 000 so'm, balance 30 000 so'm. "
                                        "Next charge on ")
    assert (item.product, item.status, item.price, item.periods_charged, item.consent_id) == (
        "kino-monthly", "active", 20_000 * SOM, 1, pending.consent_id)
    assert next_day > utcnow() + timedelta(days=27) and kept.pending is None
    assert kept.spend == {pricing.month_of(item.started_at, "Asia/Tashkent"): {"kino-monthly": 20_000 * SOM}}
    decided = stored_consent(pending.consent_id)
    assert (decided["status"], decided["request"]["text"], decided["confirmation"]["text"]) == (
        "confirmed", "KINO", "YES")
    assert decided["shown"] == rendered(question) and decided["price"] == 20_000 * SOM
    [started] = outbox(subscriptions.on_requested, yes, "subscription.started")
    assert (started["subscription_id"], started["price"], started["status"]) == (item.id, 20_000 * SOM, "active")
    assert len(entries(ALICE, "subscription:")) == 1
    sound(ALICE)


def test_no_declines_and_the_declined_offer_is_kept_with_both_answers(firestore_clean):
    subscriber(ALICE, "ru", balance=50_000 * SOM)
    keyword("kino-monthly", "KINO", "SMd1")
    consent_id = book().pending.consent_id
    no = replied("kino-monthly", "НЕТ", False, "SMd2")

    [answer] = sms_of(subscriptions.on_requested, no)
    assert rendered(answer) == "Хорошо, подписка на Кино не оформлена. Ничего не списано."
    decided = stored_consent(consent_id)
    assert (decided["status"], decided["request"]["text"], decided["confirmation"]["text"]) == (
        "declined", "KINO", "НЕТ")
    assert balance(ALICE) == 50_000 * SOM and book().live() == [] and book().pending is None
    assert record("SMd2")["outcome"] == "declined"


# --- other channels ---------------------------------------------------------------------------

def test_a_ussd_confirmation_charges_at_once_and_the_same_session_published_twice_charges_once(firestore_clean):
    subscriber(ALICE, "en", balance=50_000 * SOM)
    payload = on_screen("kino-monthly", 20_000 * SOM, "sess-1")
    assert deliver(subscriptions.on_requested, payload, "ussd-1") == "processed"
    assert deliver(subscriptions.on_requested, payload, "ussd-1-republished") == "processed"

    assert balance(ALICE) == 30_000 * SOM and len(book().live()) == 1
    assert sms_of(subscriptions.on_requested, "ussd-1-republished") == []
    assert stored_consent(book().live()[0].consent_id)["channel"] == "ussd"


def test_close_on_the_ussd_screen_is_kept_as_declined_and_nothing_is_charged(firestore_clean):
    subscriber(ALICE, "en", balance=50_000 * SOM)
    payload = on_screen("kino-monthly", 20_000 * SOM, "sess-2", accepted=False)
    assert deliver(subscriptions.on_requested, payload, "ussd-2") == "processed"
    assert balance(ALICE) == 50_000 * SOM and book().live() == []
    assert stored_consent(payload["consent"]["id"])["status"] == "declined"
    assert record("sess-2")["outcome"] == "declined"


def test_a_trial_starts_free_and_says_when_the_first_charge_comes(firestore_clean):
    subscriber(ALICE, "en", balance=50_000 * SOM)
    assert deliver(subscriptions.on_requested, on_screen("music-monthly", 15_000 * SOM, "sess-3"), "ussd-3") \
        == "processed"
    [item] = book().live()
    assert (item.status, item.price, balance(ALICE)) == ("trial", 0, 50_000 * SOM)
    [receipt] = sms_of(subscriptions.on_requested, "ussd-3")
    assert rendered(receipt).startswith("Your free trial of Music has started. It ends on ")
    assert "then 15 000 so'm a month is charged" in rendered(receipt)


# --- refusals ---------------------------------------------------------------------------------

def test_a_balance_short_of_the_price_is_refused_in_the_subscribers_language_before_any_question(firestore_clean):
    subscriber(ALICE, "ru", balance=5_000 * SOM)
    refused = keyword("kino-monthly", "KINO", "SMr1")
    [sms] = sms_of(subscriptions.on_requested, refused)
    assert rendered(sms) == ("Кино стоит 20 000 сумов, а ваш баланс 5 000 сумов: ничего не списано. "
                             "Пополните счёт и попробуйте снова.")
    assert book().pending is None and book().live() == [] and balance(ALICE) == 5_000 * SOM
    assert record("SMr1")["outcome"] == "refused:insufficient_balance"


def test_an_unknown_product_and_an_inactive_line_are_answered_and_nothing_charged(firestore_clean):
    subscriber(ALICE, "en", balance=50_000 * SOM)
    asked = asked_for("no-such-thing", "voice-plus/offer/1", channel="api", source="voice_plus")
    assert deliver(subscriptions.on_requested, asked, "api-1") == "processed"
    kept = record("voice-plus/offer/1")
    assert (kept["outcome"], kept["source"], kept["request_id"]) == (
        "refused:unknown_product", "voice_plus", "voice-plus/offer/1")
    [unknown] = sms_of(subscriptions.on_requested, "api-1")
    assert rendered(unknown) == "We offer no service called no-such-thing; nothing was charged. Dial *120# to see what we offer."
    subscriber(BOB, "en", balance=50_000 * SOM, status="blocked")
    assert deliver(subscriptions.on_requested, on_screen("kino-monthly", 20_000 * SOM, "sess-b", BOB), "blocked") \
        == "processed"
    [inactive] = sms_of(subscriptions.on_requested, "blocked")
    assert inactive["template"] == "subscriptions.refused.line_not_active" and balance(BOB) == 50_000 * SOM


def test_two_confirmations_of_one_subscription_at_once_charge_it_once(firestore_clean):
    subscriber(ALICE, "en", balance=100_000 * SOM)
    outcomes = []

    def confirm(n: int) -> None:
        outcomes.append(deliver_until_done(subscriptions.on_requested,
                                           on_screen("kino-monthly", 20_000 * SOM, f"sess-c{n}"), f"ussd-c{n}"))

    threads = [threading.Thread(target=confirm, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes == ["processed"] * 4
    assert balance(ALICE) == 80_000 * SOM and len(book().live()) == 1
    refusals = [record(f"sess-c{n}")["outcome"] for n in range(4)]
    assert sorted(refusals) == ["refused:already_subscribed"] * 3 + ["started"]
    sound(ALICE)


# --- M1: packs and plans ----------------------------------------------------------------------

@pytest.fixture
def m1(firestore_clean, use_operator):  # noqa: F811 (the imported fixture)
    use_operator("m1")
    subscriber(LEE, "en", balance=100 * 100 * CENT)
    return LEE


def test_m1_data_pack_bought_again_carries_the_remaining_data_over_to_the_new_expiry(m1):
    assert deliver(subscriptions.on_requested, on_screen("data-5gb", 10_00, "s-d1", LEE, period="once"), "d1") \
        == "processed"
    first = book(LEE).live()[0]
    account = ledger.read_account(store.db(), LEE)
    assert account.balance("data_mb") == 5120 and account.balance("main") == 90_00
    assert deliver(subscriptions.on_requested, on_screen("data-5gb", 10_00, "s-d2", LEE, period="once"), "d2") \
        == "processed"

    account = ledger.read_account(store.db(), LEE)
    [lot_a, lot_b] = account.buckets["data_mb"].lots
    assert account.balance("data_mb") == 2 * 5120 and lot_a.expires_at == lot_b.expires_at
    [second] = book(LEE).live()
    assert second.expires_at == lot_a.expires_at <= second.started_at + timedelta(days=30)
    assert book(LEE).items[first.id].status == "expired"
    [receipt] = sms_of(subscriptions.on_requested, "d2")
    assert "plus 5120 MB carried over" in rendered(receipt) and "Charged 10 SGD, balance 80 SGD." in rendered(receipt)
    sound(LEE)


def test_m1_roaming_pack_a_third_is_refused_while_2_gb_or_more_is_left(m1):
    for n in (1, 2):
        assert deliver(subscriptions.on_requested, on_screen("roam-asia-3gb", 15_00, f"s-r{n}", LEE, period="once"),
                       f"r{n}") == "processed"
    assert deliver(subscriptions.on_requested, on_screen("roam-asia-3gb", 15_00, "s-r3", LEE, period="once"),
                   "r3") == "processed"
    [refused] = sms_of(subscriptions.on_requested, "r3")
    assert rendered(refused) == ("You already have 2 Asia roaming 3 GB packs active: one more is sold only when less "
                                 "than 2048 MB is left (you have 6144 MB). Nothing was charged.")
    assert balance(LEE) == 70_00 and len(book(LEE).live()) == 2


def plan_change(plan: str, request_id: str, fee: int | None = None) -> dict:
    payload = {"request_id": request_id, "msisdn": LEE, "plan": plan, "channel": "ussd",
               "requested_at": utcnow().isoformat()}
    if fee is not None:
        now = utcnow()
        payload["consent"] = consent.given(
            offer=f"subscriptions.plan.{plan}", msisdn=LEE, channel="ussd", language="en",
            shown=f"Change to {plan} for {fee}? 1 Confirm 0 Close", price=fee, currency="SGD", period="once",
            request=Answer(text="#100#", reference=request_id, at=now),
            confirmation=Answer(text="1", reference=request_id, at=now), accepted=True).model_dump(mode="json")
    return payload


def test_m1_plan_change_first_free_then_1_00_confirmed_and_told_by_sms(m1):
    assert deliver(subscriptions.on_plan_change, plan_change("prepaid-data", "p1"), "p1") == "processed"
    [free] = sms_of(subscriptions.on_plan_change, "p1")
    assert rendered(free) == "Your tariff plan is now Prepaid Data. This change was free; the next one costs 1 SGD."
    assert balance(LEE) == 100_00

    assert deliver(subscriptions.on_plan_change, plan_change("prepaid-talk", "p2"), "p2") == "processed"
    [unconfirmed] = sms_of(subscriptions.on_plan_change, "p2")
    assert unconfirmed["template"] == "subscriptions.refused.plan_fee_not_confirmed" and balance(LEE) == 100_00

    assert deliver(subscriptions.on_plan_change, plan_change("prepaid-talk", "p3", fee=1_00), "p3") == "processed"
    [paid] = sms_of(subscriptions.on_plan_change, "p3")
    assert rendered(paid) == "Your tariff plan is now Prepaid Talk. Charged 1 SGD, balance 99 SGD."
    assert (book(LEE).plan, book(LEE).plan_changes, balance(LEE)) == ("prepaid-talk", 2, 99_00)
    sound(LEE)


def test_m1_plan_change_needs_a_balance_above_1_00(firestore_clean, use_operator):  # noqa: F811
    use_operator("m1")
    subscriber(TAN, "en", balance=1_00)
    payload = {**plan_change("prepaid-data", "low"), "msisdn": TAN}
    assert deliver(subscriptions.on_plan_change, payload, "low") == "processed"
    [refused] = sms_of(subscriptions.on_plan_change, "low")
    assert rendered(refused) == "A plan change needs a balance above 1 SGD; your balance is 1 SGD. Nothing was changed."
    assert book(TAN).plan is None


# --- STOP -------------------------------------------------------------------------------------

def subscribed(*products: tuple[str, int], msisdn: str = ALICE) -> list[str]:
    for product, price in products:
        session = f"sess-{product}-{time.monotonic_ns()}"
        period = public.terms(product).period  # the screen names the product's own period
        assert deliver(subscriptions.on_requested, on_screen(product, price, session, msisdn, period=period),
                       session) == "processed"
    return [item.id for item in book(msisdn).live()]


def stop(request_id: str, msisdn: str = ALICE, **fields) -> str:
    payload = {"request_id": request_id, "msisdn": msisdn, "channel": "sms", "requested_at": utcnow().isoformat(),
               **fields}
    assert deliver(subscriptions.on_cancel, payload, request_id) == "processed"
    return request_id


@pytest.mark.parametrize(("language", "confirmation"), [
    ("en", "Stopped at once: Movies. Nothing more will be charged for it."),
    ("ru", "Отключено сразу: Кино. Больше ничего за неё не спишется."),
    ("uz", "Darhol o'chirildi: Kino. Uning uchun boshqa hech narsa yechilmaydi."),
    ("ky", "Дароо өчүрүлдү: Кино. Ал үчүн мындан ары эч нерсе алынбайт."),
    ("zh", "已立即退订：电影。今后不再为此扣费。"),
])
def test_stop_cancels_at_once_and_is_confirmed_in_the_subscribers_language(firestore_clean, language, confirmation):
    subscriber(ALICE, language, balance=100_000 * SOM)
    [kino, news] = subscribed(("kino-monthly", 20_000 * SOM), ("news-weekly", 2_000 * SOM))
    stopped = stop("SMs1", subscription_ids=[kino])

    [sms] = sms_of(subscriptions.on_cancel, stopped)
    assert rendered(sms) == confirmation
    after = book()
    assert (after.items[kino].status, after.items[kino].next_charge_at) == ("cancelled", None)
    assert [item.id for item in after.live()] == [news] and balance(ALICE) == 78_000 * SOM
    [fact] = outbox(subscriptions.on_cancel, stopped, "subscription.cancelled")
    assert (fact["subscription_id"], fact["status"], fact["reason"]) == (kino, "cancelled", "stop:sms")


def test_stop_all_cancels_every_live_one_and_a_second_stop_all_says_nothing_is_running(firestore_clean):
    subscriber(ALICE, "en", balance=100_000 * SOM)
    ids = subscribed(("kino-monthly", 20_000 * SOM), ("news-weekly", 2_000 * SOM), ("music-monthly", 15_000 * SOM))
    stop("SMall", every=True)
    assert book().live() == [] and {book().items[i].status for i in ids} == {"cancelled"}
    assert len(outbox(subscriptions.on_cancel, "SMall", "subscription.cancelled")) == 3
    [sms] = sms_of(subscriptions.on_cancel, "SMall")
    assert rendered(sms) == "Stopped at once: Movies, Weekly news, Music. Nothing more will be charged for them."
    [none] = sms_of(subscriptions.on_cancel, stop("SMall2", every=True))
    assert none["template"] == "subscriptions.nothing_to_stop"


def test_care_cancels_for_a_subscriber_and_the_agent_is_named_on_the_fact(firestore_clean):
    subscriber(ALICE, "en", balance=100_000 * SOM)
    [kino, _news] = subscribed(("kino-monthly", 20_000 * SOM), ("news-weekly", 2_000 * SOM))
    stop("care-1", channel="care", by="agent-7", subscription_ids=[kino])
    assert book().items[kino].end_reason == "stop:care:agent-7"
    [fact] = outbox(subscriptions.on_cancel, "care-1", "subscription.cancelled")
    assert (fact["subscription_id"], fact["reason"]) == (kino, "stop:care:agent-7")
    [again] = sms_of(subscriptions.on_cancel, stop("care-2", channel="care", subscription_ids=[kino]))
    assert rendered(again) == ("Nothing was stopped: that subscription is not running. Dial *120# and choose My "
                               "subscriptions to see yours.")


# --- a recycled number ------------------------------------------------------------------------

def recycled(*, old_question: bool = False) -> tuple[str, Envelope]:
    """The number's old owner subscribes to Movies (and leaves a question open); the BSS gives it to someone else.

    Returns the old owner's item and the subscriber.reassigned event, not delivered yet.
    """
    assert deliver(provisioning.on_subscriber, {"msisdn": ALICE, "subscriber_id": "cust-0001", "language": "ru"},
                   "old") == "processed"
    assert deliver(provisioning.on_topup, {"msisdn": ALICE, "amount": 100_000 * SOM, "reference": "old-money"},
                   "old-money") == "processed"
    [kino] = subscribed(("kino-monthly", 20_000 * SOM))
    if old_question:
        keyword("news-weekly", "NEWS", "SMold")  # a question the old owner never answered
    assert deliver(provisioning.on_subscriber, {"msisdn": ALICE, "subscriber_id": "cust-0002", "language": "en"},
                   "new") == "processed"
    [moved] = reassignments("new")
    return kino, moved


def test_a_recycled_numbers_new_owner_inherits_no_subscription_and_the_old_book_is_archived(firestore_clean):
    kino, moved = recycled(old_question=True)
    archive_id = moved.data["archive_id"]

    assert deliver(subscriptions.on_reassigned, moved.data, moved.id) == "processed"
    assert store.db().collection(BOOKS).document(ALICE).get().to_dict() is None
    old_book = archived(archive_id, BOOKS)[ALICE]
    assert old_book["items"][kino]["product"] == "kino-monthly"
    assert archived(archive_id, consent.PENDING)  # the old owner's question can no longer be answered
    yes = replied("news-weekly", "YES", True, "SMnew")
    [answer] = sms_of(subscriptions.on_requested, yes)
    assert answer["template"] == "subscriptions.nothing_to_confirm"


def test_the_new_owners_first_request_files_the_old_book_and_the_late_reassignment_keeps_theirs(firestore_clean):
    old_kino, moved = recycled()
    assert deliver(provisioning.on_topup, {"msisdn": ALICE, "amount": 50_000 * SOM, "reference": "new-money"},
                   "new-money") == "processed"

    [new_kino] = subscribed(("kino-monthly", 20_000 * SOM))  # not "already subscribed": that was the old owner
    assert deliver(subscriptions.on_reassigned, moved.data, moved.id) == "processed"

    assert [item.id for item in book().live()] == [new_kino] and new_kino != old_kino
    assert old_kino in archived(moved.data["archive_id"], BOOKS)[ALICE]["items"]
    assert balance(ALICE) == 30_000 * SOM


def test_the_new_owners_stop_all_before_the_reassignment_arrives_stops_nothing_of_the_old_owners(firestore_clean):
    old_kino, moved = recycled()

    [none] = sms_of(subscriptions.on_cancel, stop("SMnew-all", every=True))
    assert none["template"] == "subscriptions.nothing_to_stop"  # the old owner's Movies are not named to them
    assert book().items == {}
    assert archived(moved.data["archive_id"], BOOKS)[ALICE]["items"][old_kino]["status"] == "active"
    assert deliver(subscriptions.on_reassigned, moved.data, moved.id) == "processed"
    assert old_kino in archived(moved.data["archive_id"], BOOKS)[ALICE]["items"]
