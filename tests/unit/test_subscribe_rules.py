"""Subscribing and stopping, pure (spec/subscriptions-and-credits.md, "Subscription tracking"): the consent
question and its answers, what a start charges and grants (trials, packs with carry-over and limits, the
annual anniversary), the refusals, and what STOP and STOP ALL stop."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from functions.subscriptions import lifecycle, pricing, signup, stopping, wording
from functions.subscriptions.config import load_preset
from functions.subscriptions.documents import Book, Item
from functions.subscriptions.refusal import Refusal
from shared import consent, sms, texts
from shared.consent import Answer
from shared.events import SubscriptionCancelRequested, SubscriptionRequested
from shared.money import Currency
from shared.text_catalog import SERVICES_DIR

UZS = Currency(code="UZS", minor_unit=2, symbol="so'm")
SGD = Currency(code="SGD", minor_unit=2)
DEMO = load_preset("demotel-subscriptions", UZS)
M1 = load_preset("m1-subscriptions", SGD)
TASHKENT, SINGAPORE = "Asia/Tashkent", "Asia/Singapore"
ALICE = "+998901234567"
NOW = datetime(2026, 3, 16, 5, 0, tzinfo=timezone.utc)  # 10:00 in Tashkent
SOM = 100


def product(catalogue, product_id: str):
    found = catalogue.product(product_id)
    assert found is not None
    return found


def request(product_id: str = "music-monthly", *, request_id: str = "SM1", at: datetime = NOW,
            **fields) -> SubscriptionRequested:
    return SubscriptionRequested(**{"request_id": request_id, "msisdn": ALICE, "product": product_id,
                                    "channel": "sms", "requested_at": at, **fields})


def reply(text: str, accepted: bool, *, at: datetime, product_id: str = "music-monthly") -> SubscriptionRequested:
    said = Answer(text=text, reference=f"SM-{text}", at=at)
    return request(product_id, request_id=f"SM-{text}", at=at, said=said, consent_reply=accepted)


def step(req: SubscriptionRequested, product_id: str = "music-monthly", *, waiting=None, price: int | None = None):
    found = product(DEMO, product_id)
    return signup.consent_step(req, found, price=found.price if price is None else price, currency="UZS",
                               waiting=waiting, language="en", shown="Subscribe to Music for 15 000 so'm a month?")


def start(product_id: str, *, book: Book | None = None, balance: int = 500_000 * SOM, catalogue=DEMO,
          zone: str = TASHKENT, now: datetime = NOW, request_id: str = "SM1", line_active: bool = True,
          balances: dict[str, int] | None = None):
    found = product(catalogue, product_id)
    return signup.decide_start(found, book=book or Book.empty(ALICE), request_id=request_id, channel="sms",
                               consent_id="c1", line_active=line_active,
                               balances={found.bucket: balance, **(balances or {})},
                               currency="UZS" if catalogue is DEMO else "SGD", zone=zone, now=now)


def held(product_id: str, item_id: str, *, kind: str = "subscription", status: str = "active",
         expires_at: datetime | None = None, started_at: datetime = NOW - timedelta(days=3)) -> Item:
    return Item(id=item_id, product=product_id, kind=kind, status=status, price=1000, currency="UZS", channel="sms",
                started_at=started_at, anchor=started_at, expires_at=expires_at)


def book_with(*items: Item) -> Book:
    return Book(msisdn=ALICE, items={item.id: item for item in items})


# --- the question before a paid start -------------------------------------------------------------

def test_a_paid_keyword_is_asked_by_sms_naming_its_price_and_period_and_nothing_starts():
    asked = step(request(said=Answer(text="MUSIC", reference="SM1", at=NOW)))
    assert not asked.start and asked.answer is None
    [record] = asked.records
    assert (record.offer, record.status, record.channel, record.price, record.currency, record.period) == (
        "subscriptions.music-monthly", "pending", "sms", 15_000 * SOM, "UZS", "month")
    assert record.shown == "Subscribe to Music for 15 000 so'm a month?" and record.request.text == "MUSIC"
    assert record.expires_at == NOW + consent.SMS_REPLY_WINDOW
    assert asked.pending is not None
    assert (asked.pending.product, asked.pending.consent_id, asked.pending.expires_at) == (
        "music-monthly", record.id, record.expires_at)


def test_another_service_asking_without_consent_gets_the_question_asked_by_sms_too():
    asked = step(SubscriptionRequested(request_id="offer-7", msisdn=ALICE, product="music-monthly", channel="api",
                                       requested_at=NOW, source="voice_plus"))
    [record] = asked.records
    assert record.channel == "sms" and record.request.text == "MUSIC" and record.request.reference == "offer-7"
    assert not asked.start


def test_yes_to_the_waiting_question_starts_with_both_answers_kept():
    [question] = step(request()).records
    confirmed = step(reply("YES", True, at=NOW + timedelta(minutes=3)), waiting=question)
    assert confirmed.start and confirmed.clear_pending and confirmed.consent_id == question.id
    [record] = confirmed.records
    assert (record.status, record.request.text, record.confirmation.text) == ("confirmed", "MUSIC", "YES")


def test_no_declines_and_a_late_yes_expires_and_neither_starts():
    [question] = step(request()).records
    declined = step(reply("NO", False, at=NOW + timedelta(minutes=3)), waiting=question)
    assert not declined.start and declined.answer == "subscriptions.declined" and declined.clear_pending
    assert declined.records[0].status == "declined"
    late = step(reply("YES", True, at=NOW + consent.SMS_REPLY_WINDOW), waiting=question)
    assert not late.start and late.answer == "subscriptions.expired" and late.records[0].status == "expired"


def test_a_reply_with_nothing_waiting_or_about_another_product_confirms_nothing():
    assert step(reply("YES", True, at=NOW)).answer == "subscriptions.nothing_to_confirm"
    [kino_question] = step(request("kino-monthly"), "kino-monthly").records
    other = step(reply("YES", True, at=NOW + timedelta(minutes=1)), waiting=kino_question)
    assert not other.start and other.answer == "subscriptions.nothing_to_confirm" and other.records == ()


def test_a_yes_after_the_price_changed_charges_nothing_and_asks_again():
    [question] = step(request()).records
    answered = step(reply("YES", True, at=NOW + timedelta(minutes=1)), waiting=question, price=16_000 * SOM)
    assert not answered.start and answered.answer == "subscriptions.ask_again"
    assert answered.records[0].status == "replaced"


def test_a_new_keyword_replaces_the_question_still_waiting():
    [first] = step(request("kino-monthly", request_id="SM0"), "kino-monthly").records
    replaced, asked = step(request(), waiting=first).records
    assert (replaced.id, replaced.status) == (first.id, "replaced") and asked.status == "pending"


def ussd_consent(accepted: bool, price: int = 15_000 * SOM) -> consent.Consent:
    shown = Answer(text="*120*1*3#", reference="sess-1", at=NOW)
    return consent.given(offer="subscriptions.music-monthly", msisdn=ALICE, channel="ussd", language="en",
                         shown="Music 15 000 so'm a month. 1 Confirm 0 Close", price=price, currency="UZS",
                         period="month", request=shown, confirmation=Answer(text="1" if accepted else "0",
                                                                            reference="sess-1", at=NOW),
                         accepted=accepted)


def test_a_ussd_confirmation_starts_and_a_close_declines_both_kept():
    given_yes = step(request(channel="ussd", consent=ussd_consent(True)))
    assert given_yes.start and given_yes.records[0].status == "confirmed"
    given_no = step(request(channel="ussd", consent=ussd_consent(False)))
    assert not given_no.start and given_no.records[0].status == "declined" and given_no.answer is None


def test_a_ussd_confirmation_of_another_price_charges_nothing_and_asks_again():
    stale = step(request(channel="ussd", consent=ussd_consent(True, price=14_000 * SOM)))
    assert not stale.start and stale.records == () and stale.answer == "subscriptions.ask_again"


def test_a_consent_another_service_took_in_its_own_name_starts_but_only_that_product_for_that_service():
    offered = ussd_consent(True).model_copy(update={"offer": "voice_plus.music-week.music-monthly", "channel": "ivr"})
    taken = step(request(channel="ivr", source="voice_plus", consent=offered))
    assert taken.start and taken.records == (offered,) and taken.consent_id == offered.id
    posing = step(request(channel="ivr", source="credits", consent=offered))
    assert not posing.start and posing.answer == "subscriptions.ask_again", "another service's consent is not its own"
    unnamed = step(request(channel="ussd", consent=offered))
    assert not unnamed.start and unnamed.answer == "subscriptions.ask_again"
    other = offered.model_copy(update={"offer": "voice_plus.music-week.kino-monthly"})
    swapped = step(request(channel="ivr", source="voice_plus", consent=other))
    assert not swapped.start and swapped.answer == "subscriptions.ask_again", "a consent to another product"
    weekly = offered.model_copy(update={"period": "week"})
    assert not step(request(channel="ivr", source="voice_plus", consent=weekly)).start, "consented to another period"


def test_a_free_product_starts_without_a_question():
    free = step(request(), price=0)
    assert free.start and free.records == () and free.pending is None


# --- what a start charges and grants --------------------------------------------------------------

def test_a_monthly_subscription_is_charged_its_price_and_paid_to_the_same_day_next_month():
    started = start("kino-monthly")
    assert isinstance(started, signup.Start)
    item = started.item
    assert started.charge == 20_000 * SOM and (item.status, item.price, item.periods_charged) == ("active", 20_000 * SOM, 1)
    assert item.paid_through == item.next_charge_at == pricing.period_end(NOW, "monthly", 1, TASHKENT)
    assert item.next_charge_at.astimezone(timezone.utc) == datetime(2026, 4, 16, 5, 0, tzinfo=timezone.utc)
    assert (item.consent_id, item.channel, item.id) == ("c1", "sms", signup.item_id("kino-monthly", "SM1"))
    assert started.month == "2026-03"


def test_the_price_in_force_on_the_day_is_charged():
    after = datetime(2027, 1, 2, 5, 0, tzinfo=timezone.utc)
    started = start("kino-monthly", now=after)
    assert isinstance(started, signup.Start) and started.charge == 25_000 * SOM


def test_a_trial_charges_nothing_until_it_ends_and_is_given_once():
    started = start("music-monthly")
    assert isinstance(started, signup.Start) and started.charge == 0
    item = started.item
    assert (item.status, item.price, item.periods_charged) == ("trial", 0, 0)
    assert item.anchor == item.paid_through == item.next_charge_at == NOW + timedelta(days=7)
    had_it = book_with(held("music-monthly", "old", status="cancelled"))
    again = start("music-monthly", book=had_it)
    assert isinstance(again, signup.Start) and again.charge == 15_000 * SOM and again.item.status == "active"


def test_an_annual_subscription_is_paid_to_its_anniversary():
    leap_day = datetime(2028, 2, 29, 4, 0, tzinfo=timezone.utc)
    started = start("shield-annual", now=leap_day)
    assert isinstance(started, signup.Start)
    assert started.item.next_charge_at.astimezone(timezone.utc) == datetime(2029, 2, 28, 4, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("status", ["active", "trial", "grace", "suspended"])
def test_a_subscriber_already_subscribed_is_refused_and_nothing_charged(status):
    refused = start("kino-monthly", book=book_with(held("kino-monthly", "k1", status=status)))
    assert refused == Refusal("already_subscribed", "subscriptions.refused.already_subscribed",
                              {"product": "kino-monthly"})


def test_a_balance_short_of_the_price_is_refused_naming_both():
    refused = start("kino-monthly", balance=19_999 * SOM)
    assert isinstance(refused, Refusal) and refused.reason == "insufficient_balance"
    assert refused.params == {"price": 20_000 * SOM, "balance": 19_999 * SOM}


def test_an_inactive_line_is_refused_even_for_a_trial():
    refused = start("music-monthly", line_active=False)
    assert isinstance(refused, Refusal) and refused.reason == "line_not_active"


def test_m1_data_pack_bought_again_carries_the_remaining_data_over_within_30_days():
    live = held("data-5gb", "p1", kind="pack", expires_at=NOW + timedelta(days=20))
    started = start("data-5gb", catalogue=M1, zone=SINGAPORE, book=book_with(live), balance=20_00,
                    balances={"data_mb": 1000})
    assert isinstance(started, signup.Start)
    assert started.grants == [("data_mb", 5120)] and started.carried == [("data_mb", 1000)]
    assert started.superseded == ("p1",) and started.item.expires_at == NOW + timedelta(days=30)
    assert started.charge == 10_00


def test_m1_roaming_packs_at_most_2_and_a_3rd_only_below_2_gb():
    two = book_with(*(held("roam-asia-3gb", f"r{n}", kind="pack", expires_at=NOW + timedelta(days=9))
                      for n in (1, 2)))
    refused = start("roam-asia-3gb", catalogue=M1, zone=SINGAPORE, book=two, balance=50_00,
                    balances={"roaming_data_mb": 2048})
    assert isinstance(refused, Refusal) and refused.reason == "pack_limit"
    assert wording.refusal_text(refused) == "subscriptions.refused.pack_limit_below"
    third = start("roam-asia-3gb", catalogue=M1, zone=SINGAPORE, book=two, balance=50_00,
                  balances={"roaming_data_mb": 2047})
    assert isinstance(third, signup.Start) and third.grants == [("roaming_data_mb", 3072)]


def test_a_start_counts_the_spend_of_its_month_and_ends_the_packs_it_took_over():
    live = held("data-1gb", "p1", kind="pack", expires_at=NOW + timedelta(days=2))
    book = book_with(live)
    started = start("data-1gb", book=book, balances={"data_mb": 300})
    assert isinstance(started, signup.Start)
    signup.started(book, started, now=NOW)
    assert book.spend == {"2026-03": {"data-1gb": 9_000 * SOM}}
    assert (book.items["p1"].status, book.items["p1"].end_reason) == ("expired", f"carried_over:{started.item.id}")
    assert book.items[started.item.id].status == "active" and [item.id for item in book.live()] == [started.item.id]
    due = lifecycle.scheduled(book, DEMO, zone=TASHKENT).next_due_at
    assert due is not None and NOW <= due <= started.item.expires_at


def test_the_clock_first_looks_at_a_new_subscription_on_its_earliest_reminder_or_the_summary_of_its_charge():
    started = start("shield-annual")
    assert isinstance(started, signup.Start)
    book = Book.empty(ALICE)
    signup.started(book, started, now=NOW)
    scheduled = lifecycle.scheduled(book, DEMO, zone=TASHKENT)
    first_charge = started.item.next_charge_at.astimezone(ZoneInfo(TASHKENT))
    # Reminders 30, 7 and 0 days before the anniversary, at 10:00 in the operator's zone: the first is 30 days before.
    expected = datetime.combine((first_charge - timedelta(days=30)).date(), time(10), tzinfo=ZoneInfo(TASHKENT))
    summary = lifecycle.summary_moment("2026-03", DEMO.summary_day, TASHKENT)  # what March's charge brings
    assert scheduled.next_due_at == min(expected, summary)
    assert lifecycle.scheduled(book.model_copy(update={"spend": {}}), DEMO, zone=TASHKENT).next_due_at == expected


@given(price=st.integers(min_value=1, max_value=10**9), balance=st.integers(min_value=0, max_value=10**9))
def test_a_start_charges_the_price_exactly_or_nothing_and_never_beyond_the_balance(price, balance):
    found = product(DEMO, "kino-monthly").model_copy(update={"price": price})
    decided = signup.decide_start(found, book=Book.empty(ALICE), request_id="r", channel="sms", consent_id=None,
                                  line_active=True, balances={"main": balance}, currency="UZS", zone=TASHKENT,
                                  now=NOW)
    if isinstance(decided, signup.Start):
        assert decided.charge == price <= balance
    else:
        assert decided.reason == "insufficient_balance" and price > balance


def test_the_same_request_names_the_same_item_and_another_request_another():
    assert signup.item_id("kino-monthly", "SM1") == signup.item_id("kino-monthly", "SM1")
    assert signup.item_id("kino-monthly", "SM1") != signup.item_id("kino-monthly", "SM2")


# --- STOP -----------------------------------------------------------------------------------------

def cancel(**fields) -> SubscriptionCancelRequested:
    return SubscriptionCancelRequested(request_id="SM9", msisdn=ALICE, channel="sms", requested_at=NOW, **fields)


def test_stop_all_stops_every_live_one_and_stop_one_only_that_one():
    book = book_with(held("kino-monthly", "k1"), held("news-weekly", "n1", status="grace"),
                     held("music-monthly", "m1", status="cancelled"))
    assert [item.id for item in stopping.to_stop(book, cancel(every=True))] == ["k1", "n1"]
    assert [item.id for item in stopping.to_stop(book, cancel(subscription_ids=["n1", "m1"]))] == ["n1"]


def test_a_stopped_subscription_has_no_next_charge_and_keeps_what_it_paid_for():
    item = held("kino-monthly", "k1").model_copy(update={"next_charge_at": NOW + timedelta(days=9),
                                                         "paid_through": NOW + timedelta(days=9)})
    ended = stopping.stopped(item, reason="stop:sms", now=NOW)
    assert (ended.status, ended.next_charge_at, ended.ended_at, ended.end_reason) == ("cancelled", None, NOW,
                                                                                      "stop:sms")
    assert ended.paid_through == item.paid_through and not ended.live


# --- wording --------------------------------------------------------------------------------------

def test_amounts_are_written_in_the_operators_currency_and_the_rest_left_alone():
    assert wording.money({"price": 20_000 * SOM, "name": "Kino", "limit": 2}, UZS) == {
        "price": "20 000 so'm", "name": "Kino", "limit": 2}


def test_a_name_missing_in_the_readers_language_falls_back_to_the_first():
    assert product(M1, "data-5gb").name_in("ru") == "5 GB data pack"
    assert product(DEMO, "kino-monthly").name_in("ru") == "Кино"


@given(replies=st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=30)), max_size=6))
def test_whatever_replies_come_a_question_starts_at_most_once_and_only_on_a_timely_first_yes(replies):
    [question] = step(request()).records
    waiting, starts = question, 0
    for n, (accepted, minute) in enumerate(replies):
        answered = step(reply(f"R{n}", accepted, at=NOW + timedelta(minutes=minute)), waiting=waiting)
        starts += answered.start
        if answered.records:
            waiting = answered.records[-1]
    first_yes_in_time = bool(replies) and replies[0][0] and replies[0][1] < 15
    assert starts == int(first_yes_in_time)


def test_a_question_left_unanswered_past_its_window_is_kept_as_expired_when_the_next_one_is_asked():
    [first] = step(request("kino-monthly", request_id="SM0"), "kino-monthly").records
    later = request(request_id="SM5", at=NOW + consent.SMS_REPLY_WINDOW + timedelta(minutes=1))
    expired, asked = step(later, waiting=first).records
    assert (expired.id, expired.status, expired.decided_at) == (first.id, "expired", first.expires_at)
    assert asked.status == "pending"


# The longest values a text of this service is filled with (an annual antivirus at 1 234 567 so'm, …).
LONGEST = dict(name="Antivirus (yillik)", price="1 234 567 so'm", period="yiliga", yes="YES", no="NO", minutes=15,
               days=30, allowances="10 240 MB, 100 min, 200 SMS", carried="5 120 MB", expires="16/04/2026",
               next="16/04/2026", balance="1 234 567 so'm", short_code="06007", keyword="SHIELD", ussd="*120#",
               hotline="0890", product="no-such-thing", limit=2, below_mb=2048, data_left_mb=6144,
               since="16.03.2026 10:00", plan_ussd="#100#", plan="Prepaid Data", min_balance="1 SGD", fee="1 SGD",
               next_fee="1 SGD", names="Kino, Haftalik yangiliklar, Musiqa", count=3, amount=10240, day="01",
               month="02", year=2026)


@pytest.mark.parametrize("language", ["en", "ru", "uz", "ky", "zh"])
def test_every_sms_of_the_service_fits_three_segments_in_every_language(language):
    keys = yaml.safe_load((SERVICES_DIR / "subscriptions" / "texts" / "subscriptions.yaml").read_text())
    too_long = {key: sms.segments(text).segments for key in keys
                if sms.segments(text := texts.render(key, language, **LONGEST)).segments > 3}
    assert too_long == {}
