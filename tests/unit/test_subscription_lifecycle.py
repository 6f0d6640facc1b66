"""A subscriber's book over time (functions/subscriptions/lifecycle.py): renewals charged once per period,
retries within grace, suspension and the end, trials converting, reminders and notices sent once each,
and the monthly spend summary, all on the operator's calendar (Tashkent, UTC+5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from functions.subscriptions import lifecycle
from functions.subscriptions.config import Catalogue, load_preset
from functions.subscriptions.documents import Book, Item
from functions.subscriptions.pricing import period_end
from shared import texts
from shared.operator import load_file

DEMO = load_file(Path("shared/operators/demo.yaml"))
ZONE = "Asia/Tashkent"
TASHKENT = ZoneInfo(ZONE)
ALICE = "+998901234567"
SOM = 100
PRICE_NEWS = 5_000 * SOM

CATALOGUE = Catalogue.model_validate(
    {
        "name": "lifecycle-test",
        "title": "Test catalogue",
        "currency": "UZS",
        "ussd_code": "*555#",
        "short_code": "5500",
        "summary_day": 1,
        "subscriptions": [
            {
                "id": "news",
                "keyword": "NEWS",
                "names": {"en": "Daily News", "ru": "Новости"},
                "price": "5000",
                "period": "monthly",
                "renewal": {"retry_hours": [6, 24, 48], "grace_days": 3, "suspended_days": 7},
            },
            {
                "id": "games",
                "keyword": "GAMES",
                "names": {"en": "Games"},
                "price": "3000",
                "period": "weekly",
                "trial_days": 7,
            },
            {
                "id": "music",
                "keyword": "MUSIC",
                "names": {"en": "Music"},
                "price": "10000",
                "period": "monthly",
                "price_changes": [{"price": "12000", "effective": "2026-05-01"}],
            },
            {
                "id": "ehawaii",
                "keyword": "EHAWAII",
                "names": {"en": "eHawaii"},
                "price": "50000",
                "period": "annual",
                "reminders": {"days_before": [30, 0]},
            },
            {
                "id": "horoscope",
                "keyword": "STARS",
                "names": {"en": "Horoscope"},
                "price": "500",
                "period": "daily",
                "reminders": {"days_before": []},
                "renewal": {"retry_hours": [2], "grace_days": 1, "suspended_days": 2},
            },
        ],
    },
    context={"currency": DEMO.currency},
)


def local(year, month, day, hour=12, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TASHKENT)


START = local(2026, 3, 16, 12)  # noon in Tashkent on the day Alice subscribes


def subscribed(product="news", at=START, *, price=None, trial_days=0, item_id="req-1") -> Book:
    """Alice's book just after a sign-up, as the subscribe step leaves it (first period paid, or a trial begun)."""
    found = CATALOGUE.product(product)
    anchor = at + timedelta(days=trial_days)
    first_due = anchor if trial_days else period_end(anchor, found.period, 1, ZONE)
    item = Item(
        id=item_id,
        product=product,
        kind="subscription",
        status="trial" if trial_days else "active",
        price=0 if trial_days else (found.price if price is None else price),
        currency="UZS",
        period=found.period,
        channel="sms",
        started_at=at,
        anchor=anchor,
        periods_charged=0 if trial_days else 1,
        paid_through=first_due,
        next_charge_at=first_due,
    )
    book = Book(msisdn=ALICE, items={item.id: item})
    return lifecycle.scheduled(book, CATALOGUE, zone=ZONE)


def look(book, at, balance=0, *, retry_now=False, bucket="main") -> lifecycle.Pass:
    return lifecycle.advance(book, CATALOGUE, now=at, zone=ZONE, balances={bucket: balance}, retry_now=retry_now)


def templates(result) -> list[str]:
    return [notice.template for notice in result.notices]


def topics(result) -> list[str]:
    return [fact.topic for fact in result.facts]


# --- renewals ---------------------------------------------------------------------------------


def test_a_monthly_renewal_is_charged_once_on_its_due_date_and_not_a_minute_before():
    book = subscribed()
    assert book.next_due_at <= local(2026, 4, 16, 12)
    before = look(book, local(2026, 4, 16, 11, 59), balance=100_000 * SOM)
    assert before.charges == []

    due = look(before.book, local(2026, 4, 16, 12), balance=100_000 * SOM)
    [charge] = due.charges
    assert (charge.amount, charge.period, charge.bucket) == (5_000 * SOM, 1, "main")
    assert charge.reference == "subscription:req-1:1"
    item = due.book.items["req-1"]
    assert (item.status, item.periods_charged) == ("active", 2)
    assert item.next_charge_at == item.paid_through == local(2026, 5, 16, 12)
    assert topics(due) == ["subscription.renewed"]
    assert templates(due)[-1] == lifecycle.RENEWED
    assert due.book.spend == {"2026-04": {"news": 5_000 * SOM}}

    again = look(due.book, local(2026, 4, 16, 12, 15), balance=95_000 * SOM)
    assert again.charges == [] and again.facts == [], "a second look at the same period charges nothing"


def test_a_month_end_anchor_is_due_on_the_last_day_of_shorter_months_and_back_on_the_31st():
    book = subscribed(at=local(2026, 1, 31, 9))
    dues = []
    at = local(2026, 1, 31, 9)
    for _ in range(3):
        dues.append(book.items["req-1"].next_charge_at)
        result = look(book, book.items["req-1"].next_charge_at, balance=10**9)
        book = result.book
    assert [due.date().isoformat() for due in dues] == ["2026-02-28", "2026-03-31", "2026-04-30"]
    assert at < dues[0]


def test_an_annual_subscription_renews_on_its_anniversary():
    book = subscribed("ehawaii", at=local(2028, 2, 29, 8))
    item = book.items["req-1"]
    assert item.next_charge_at == local(2029, 2, 28, 8), "Feb 29 renews on Feb 28 in a common year"
    assert look(book, local(2029, 2, 27, 23), balance=10**9).charges == []
    [charge] = look(book, local(2029, 2, 28, 8), balance=10**9).charges
    assert charge.amount == 50_000 * SOM


def test_a_clock_moved_past_several_periods_charges_one_the_period_holding_now():
    book = subscribed("horoscope")
    result = look(book, START + timedelta(days=10, hours=1), balance=10**9)
    [charge] = result.charges
    assert charge.period == 10
    assert result.book.items["req-1"].next_charge_at == START + timedelta(days=11)


def test_a_trial_converts_on_its_first_charge():
    book = subscribed("games", trial_days=7)
    assert book.items["req-1"].status == "trial"
    result = look(book, START + timedelta(days=7), balance=10_000 * SOM)
    [charge] = result.charges
    assert (charge.amount, charge.period) == (3_000 * SOM, 0)
    item = result.book.items["req-1"]
    assert (item.status, item.price, item.periods_charged) == ("active", 3_000 * SOM, 1)
    assert item.next_charge_at == START + timedelta(days=14)
    assert topics(result) == ["subscription.renewed"]


@pytest.mark.parametrize("balance, charged", [(PRICE_NEWS - 1, False), (PRICE_NEWS, True)])
def test_a_renewal_is_charged_only_when_the_balance_holds_the_whole_price(balance, charged):
    result = look(subscribed(), local(2026, 4, 16, 12), balance=balance)
    assert bool(result.charges) is charged
    assert result.book.items["req-1"].status == ("active" if charged else "grace"), "never a part payment"


# --- unpaid --------------------------------------------------------------------------------------


def test_the_grace_timeline_retries_then_suspends_then_cancels_each_told_once():
    book = subscribed()
    due = local(2026, 4, 16, 12)
    failed = look(book, due, balance=1_000 * SOM)
    assert failed.charges == []
    item = failed.book.items["req-1"]
    assert (item.status, item.failed_attempts, item.next_retry_at) == ("grace", 1, due + timedelta(hours=6))
    assert topics(failed) == ["subscription.renewal-failed"]
    [notice] = failed.notices
    assert notice.template == lifecycle.FAILED and notice.dates["date"] == due + timedelta(days=3)
    assert failed.book.next_due_at == due + timedelta(hours=6)

    book = failed.book
    for hours in (6, 24, 48):
        retried = look(book, due + timedelta(hours=hours), balance=1_000 * SOM)
        assert topics(retried) == ["subscription.renewal-failed"] and retried.notices == [], "retries are silent"
        book = retried.book
    assert book.items["req-1"].next_retry_at is None
    assert book.next_due_at == due + timedelta(days=3)

    suspended = look(book, due + timedelta(days=3), balance=1_000 * SOM)
    item = suspended.book.items["req-1"]
    assert (item.status, item.suspended_at) == ("suspended", due + timedelta(days=3))
    assert topics(suspended) == ["subscription.suspended"] and templates(suspended) == [lifecycle.SUSPENDED]
    assert suspended.book.next_due_at == due + timedelta(days=10)
    assert look(suspended.book, due + timedelta(days=5), balance=0).facts == []

    ended = look(suspended.book, due + timedelta(days=10), balance=1_000 * SOM)
    item = ended.book.items["req-1"]
    assert (item.status, item.end_reason) == ("cancelled", "unpaid")
    assert topics(ended) == ["subscription.cancelled"] and templates(ended) == [lifecycle.CANCELLED]
    assert ended.book.next_due_at is None
    assert look(ended.book, due + timedelta(days=40), balance=10**9).charges == [], "a cancelled one never renews"


def test_a_late_tick_keeps_the_timeline_of_the_due_date():
    """A look long after the due date suspends as of the grace's end, and ends it when that is past too."""
    book = subscribed()
    due = local(2026, 4, 16, 12)
    result = look(book, due + timedelta(days=4), balance=0)
    item = result.book.items["req-1"]
    assert (item.status, item.suspended_at) == ("suspended", due + timedelta(days=3))
    gone = look(book, due + timedelta(days=11), balance=0)
    assert gone.book.items["req-1"].status == "cancelled"
    assert topics(gone) == ["subscription.suspended", "subscription.cancelled"]
    assert templates(gone) == [lifecycle.CANCELLED], "only the news that still matters is sent"


def test_a_credit_during_grace_renews_at_once_without_waiting_for_the_next_retry():
    book = look(subscribed(), local(2026, 4, 16, 12), balance=0).book
    topped_up = look(book, local(2026, 4, 16, 13), balance=6_000 * SOM, retry_now=True)
    [charge] = topped_up.charges
    assert charge.period == 1
    item = topped_up.book.items["req-1"]
    assert (item.status, item.failed_attempts, item.next_retry_at) == ("active", 0, None)
    assert item.next_charge_at == local(2026, 5, 16, 12), "the period keeps its dates"
    assert templates(topped_up) == [lifecycle.RENEWED]


def test_a_credit_during_suspension_resumes_it_for_the_period_holding_now():
    book = look(subscribed("horoscope"), START + timedelta(days=2), balance=0).book
    assert book.items["req-1"].status == "suspended"
    resumed = look(book, START + timedelta(days=2, hours=5), balance=1_000 * SOM, retry_now=True)
    [charge] = resumed.charges
    assert charge.period == 2, "the days spent suspended are not charged"
    assert resumed.book.items["req-1"].status == "active"


def test_only_a_credit_to_the_bucket_an_unpaid_renewal_is_charged_from_is_worth_a_retry():
    book = subscribed()
    assert not lifecycle.failing(book, "main"), "nothing unpaid"
    unpaid = look(book, local(2026, 4, 16, 12), balance=0).book
    assert lifecycle.failing(unpaid, "main")
    assert not lifecycle.failing(unpaid, "data_mb"), "a pack's megabytes pay no renewal"


def test_a_credit_too_small_leaves_it_in_grace_and_says_nothing_new():
    book = look(subscribed(), local(2026, 4, 16, 12), balance=0).book
    small = look(book, local(2026, 4, 16, 13), balance=100 * SOM, retry_now=True)
    assert small.charges == [] and small.notices == []
    assert small.book.items["req-1"].status == "grace"


# --- notices ---------------------------------------------------------------------------------


def test_reminders_go_3_days_before_and_on_the_day_each_once():
    book = subscribed()
    first = local(2026, 4, 13, 10)  # 3 days before, at the reminder hour
    assert book.next_due_at == first
    early = look(book, first - timedelta(minutes=1), balance=10**9)
    assert early.notices == []
    sent = look(book, first, balance=10**9)
    [reminder] = sent.notices
    assert (reminder.template, reminder.dates["date"]) == (lifecycle.REMINDER, local(2026, 4, 16, 12))
    assert reminder.amounts["price"] == 5_000 * SOM
    assert look(sent.book, first + timedelta(hours=1), balance=10**9).notices == [], "once per renewal"
    assert sent.book.next_due_at == local(2026, 4, 16, 10)
    on_the_day = look(sent.book, local(2026, 4, 16, 10), balance=10**9)
    assert templates(on_the_day) == [lifecycle.REMINDER]
    assert on_the_day.book.next_due_at == local(2026, 4, 16, 12)
    renewed = look(on_the_day.book, local(2026, 4, 16, 12), balance=10**9)
    assert renewed.book.next_due_at == local(2026, 5, 1, 10), "April's spend summary comes first"
    told = look(renewed.book, local(2026, 5, 1, 10), balance=10**9)
    assert templates(told) == [lifecycle.SUMMARY]
    assert told.book.next_due_at == local(2026, 5, 13, 10), "the next renewal's reminders start over"


def test_a_reminder_when_the_balance_cannot_pay_the_renewal_warns_of_the_low_balance():
    result = look(subscribed(), local(2026, 4, 13, 10), balance=4_999 * SOM)
    [warning] = result.notices
    assert warning.template == lifecycle.REMINDER_LOW_BALANCE
    assert (warning.amounts["price"], warning.amounts["balance"]) == (5_000 * SOM, 4_999 * SOM)


def test_a_trial_ending_notice_comes_before_the_first_charge():
    book = subscribed("games", trial_days=7)
    notice_at = local(2026, 3, 20, 10)  # 3 days before the trial ends on the 23rd
    assert book.next_due_at == notice_at
    result = look(book, notice_at, balance=3_000 * SOM)
    [notice] = result.notices
    assert (notice.template, notice.amounts["price"]) == (lifecycle.TRIAL_ENDING, 3_000 * SOM)
    assert look(result.book, notice_at + timedelta(days=1), balance=0).notices == []
    [warning] = look(book, notice_at, balance=2_999 * SOM).notices
    assert warning.template == lifecycle.TRIAL_ENDING_LOW_BALANCE, "the first charge would fail"
    assert warning.amounts["balance"] == 2_999 * SOM


def test_a_price_increase_is_announced_before_the_first_higher_charge_only():
    book = subscribed("music", at=local(2026, 4, 10))
    notice_at = local(2026, 5, 7, 10)
    result = look(book, notice_at, balance=10**9)
    assert templates(result) == [lifecycle.PRICE_INCREASE, lifecycle.REMINDER]
    increase = result.notices[0]
    assert (increase.amounts["old_price"], increase.amounts["price"]) == (10_000 * SOM, 12_000 * SOM)
    [charge] = look(result.book, local(2026, 5, 10), balance=10**9).charges
    assert charge.amount == 12_000 * SOM
    later = look(look(result.book, local(2026, 5, 10), balance=10**9).book, local(2026, 6, 7, 10), balance=10**9)
    assert lifecycle.REMINDER in templates(later)
    assert lifecycle.PRICE_INCREASE not in templates(later), "the new price is the usual one now"


def test_a_clock_moved_far_marks_old_reminders_without_sending_them():
    result = look(subscribed(), local(2026, 4, 16, 12), balance=10**9)
    assert templates(result) == [lifecycle.RENEWED]


# --- the summary ---------------------------------------------------------------------------


def test_the_monthly_summary_tells_each_service_and_the_total_on_the_summary_day_once():
    book = subscribed()
    book = book.model_copy(update={"spend": {"2026-03": {"news": 5_000 * SOM, "games": 3_000 * SOM}}})
    book = lifecycle.scheduled(book, CATALOGUE, zone=ZONE)
    assert book.summary_due_at == local(2026, 4, 1, 10)
    assert book.next_due_at == local(2026, 4, 1, 10)
    result = look(book, local(2026, 4, 1, 10), balance=10**9)
    [summary] = result.notices
    assert summary.template == lifecycle.SUMMARY and summary.month == "2026-03"
    assert summary.lines == (("news", 5_000 * SOM), ("games", 3_000 * SOM))
    assert summary.amounts["total"] == 8_000 * SOM
    assert result.book.summarised_through == "2026-03"
    assert look(result.book, local(2026, 4, 1, 11), balance=10**9).notices == []
    assert result.book.next_due_at == local(2026, 4, 13, 10)


# --- what the sweep queries -------------------------------------------------------------------


def test_next_due_at_is_the_earliest_of_every_items_work():
    book = subscribed()
    other = subscribed("horoscope", item_id="req-2").items["req-2"]
    both = lifecycle.scheduled(book.model_copy(update={"items": {**book.items, "req-2": other}}), CATALOGUE, zone=ZONE)
    assert both.next_due_at == START + timedelta(days=1)


def test_a_product_the_operator_withdrew_ends_at_its_due_date_without_a_charge():
    book = subscribed()
    item = book.items["req-1"].model_copy(update={"product": "gone"})
    book = book.model_copy(update={"items": {"req-1": item}})
    result = look(book, local(2026, 4, 16, 12), balance=10**9)
    assert result.charges == [] and result.book.items["req-1"].status == "cancelled"
    assert templates(result) == [lifecycle.WITHDRAWN]


# --- properties ---------------------------------------------------------------------------------

Look = tuple[int, int, bool]  # (minutes after the previous look, credit before it in soms, a top-up event)


@settings(max_examples=150)
@given(
    product=st.sampled_from(["news", "games", "horoscope", "music"]),
    looks=st.lists(
        st.tuples(st.integers(0, 60 * 24 * 9), st.sampled_from([0, 0, 0, 500, 3_000, 20_000]), st.booleans()),
        min_size=1,
        max_size=40,
    ),
    repeats=st.lists(st.integers(1, 3), min_size=40, max_size=40),
    opening=st.one_of(st.integers(0, 3_000_000), st.sampled_from([499_999, 500_000, 299_999, 300_000])),
)
def test_whatever_the_order_and_repetition_of_looks_each_period_is_charged_once_and_money_is_conserved(
    product, looks, repeats, opening
):
    book = subscribed(product, trial_days=7 if product == "games" else 0)
    balance, credited, charged = opening, 0, []
    at = START
    for (minutes, credit, topped_up), repeat in zip(looks, repeats, strict=False):
        at += timedelta(minutes=minutes)
        balance += credit * SOM
        credited += credit * SOM
        for _ in range(repeat):  # a redelivered event, or overlapping clock ticks: the same look again
            result = look(book, at, balance, retry_now=topped_up and credit > 0)
            for charge in result.charges:
                assert charge.amount <= balance, "never more than the balance holds"
                balance -= charge.amount
                charged.append(charge)
            book = result.book
    periods = [charge.period for charge in charged]
    assert len(periods) == len(set(periods)), "one charge per period"
    assert periods == sorted(periods)
    assert opening + credited == balance + sum(charge.amount for charge in charged), "money is conserved"
    assert sum(sum(month.values()) for month in book.spend.values()) == sum(charge.amount for charge in charged)
    item = book.items["req-1"]
    if charged:
        assert item.periods_charged == charged[-1].period + 1
    if item.live:
        assert book.next_due_at is not None and book.next_due_at >= min(at, book.next_due_at)


@settings(max_examples=100)
@given(
    at=st.datetimes(min_value=datetime(2026, 3, 17), max_value=datetime(2027, 3, 1), timezones=st.just(UTC))  # noqa: DTZ001
)
def test_nothing_is_due_before_next_due_at(at):
    """The sweep looks at a book only from its next_due_at on: a look before it never finds work."""
    book = subscribed()
    for balance in (0, 10**9):
        if at < book.next_due_at:
            result = look(book, at, balance)
            assert not result.changed and result.book == book


@pytest.mark.parametrize("product", ["news", "ehawaii", "horoscope"])
def test_a_look_at_next_due_at_always_finds_work_or_moves_it_on(product):
    """Else the sweep would fan the same book out on every tick forever."""
    book = subscribed(product)
    for _ in range(30):
        if book.next_due_at is None:
            break
        moment = book.next_due_at
        book = look(book, moment, balance=0).book
        assert book.next_due_at is None or book.next_due_at > moment


# --- the shipped presets ----------------------------------------------------------------------

M1 = load_file(Path("tests/fixtures/operators/m1.yaml"))
M1_CATALOGUE = load_preset("m1-subscriptions", M1.currency)
DEMO_CATALOGUE = load_preset("demotel-subscriptions", DEMO.currency)
SINGAPORE = ZoneInfo(M1.timezone)


def preset_book(catalogue, product_id, at, zone) -> Book:
    product = catalogue.product(product_id)
    item = Item(
        id="care-1", product=product_id, kind=product.kind, status="active", price=product.price, currency="SGD",
        period=product.period, channel="ussd", started_at=at, anchor=at, periods_charged=1,
        paid_through=period_end(at, product.period, 1, zone), next_charge_at=period_end(at, product.period, 1, zone),
    )
    return lifecycle.scheduled(Book(msisdn="+6591234567", items={item.id: item}), catalogue, zone=zone)


def test_m1_an_annual_subscription_renews_on_its_anniversary_and_cancelling_before_that_date_stops_it():
    """eHawaii: renews automatically on the anniversary date; closed before it, it is never charged again."""
    zone = M1.timezone
    signed_up = datetime(2026, 3, 16, 13, tzinfo=SINGAPORE)
    book = preset_book(M1_CATALOGUE, "ehawaii-annual", signed_up, zone)
    anniversary = datetime(2027, 3, 16, 13, tzinfo=SINGAPORE)
    first_reminder = look_at(M1_CATALOGUE, book, datetime(2027, 2, 14, 10, tzinfo=SINGAPORE), zone)
    assert [notice.template for notice in first_reminder.notices] == [lifecycle.REMINDER], "30 days before"
    [charge] = look_at(M1_CATALOGUE, book, anniversary, zone).charges
    assert (charge.amount, charge.period) == (9_900, 1)
    assert look_at(M1_CATALOGUE, book, anniversary - timedelta(minutes=1), zone).charges == []

    closed_item = book.items["care-1"].model_copy(
        update={"status": "cancelled", "ended_at": anniversary - timedelta(days=1), "next_charge_at": None}
    )
    closed = lifecycle.scheduled(book.model_copy(update={"items": {"care-1": closed_item}}), M1_CATALOGUE, zone=zone)
    assert look_at(M1_CATALOGUE, closed, anniversary + timedelta(days=1), zone).charges == []
    assert closed.next_due_at is None


def test_demotel_a_monthly_price_change_is_announced_then_charged_from_its_effective_date():
    zone = DEMO.timezone
    book = preset_book(DEMO_CATALOGUE, "kino-monthly", local(2026, 12, 5, 9), zone)
    told = look_at(DEMO_CATALOGUE, book, local(2027, 1, 2, 10), zone)
    assert lifecycle.PRICE_INCREASE in [notice.template for notice in told.notices]
    [charge] = look_at(DEMO_CATALOGUE, told.book, local(2027, 1, 5, 9), zone).charges
    assert charge.amount == 25_000 * SOM


def look_at(catalogue, book, at, zone, balance=10**9):
    return lifecycle.advance(book, catalogue, now=at, zone=zone, balances={"main": balance})


def test_a_renewing_pack_grants_its_allowance_again_for_its_validity_with_each_charge():
    zone = DEMO.timezone
    book = preset_book(DEMO_CATALOGUE, "data-monthly", local(2026, 3, 16), zone)
    due = local(2026, 4, 16)
    [charge] = look_at(DEMO_CATALOGUE, book, due, zone).charges
    assert (charge.amount, charge.grants) == (45_000 * SOM, (("data_mb", 10240),))
    assert charge.grants_expire_at == due + timedelta(days=30)


def test_a_one_off_pack_ends_when_its_allowance_expires_and_is_never_charged():
    product = DEMO_CATALOGUE.product("data-1gb")
    bought = local(2026, 3, 16)
    item = Item(
        id="pack-1", product="data-1gb", kind="pack", status="active", price=product.price, currency="UZS",
        channel="sms", started_at=bought, anchor=bought, periods_charged=1, paid_through=bought + timedelta(days=7),
        expires_at=bought + timedelta(days=7),
    )
    book = lifecycle.scheduled(Book(msisdn=ALICE, items={"pack-1": item}), DEMO_CATALOGUE, zone=DEMO.timezone)
    assert book.next_due_at == bought + timedelta(days=7)
    result = look_at(DEMO_CATALOGUE, book, bought + timedelta(days=7), DEMO.timezone)
    assert result.charges == [] and result.book.items["pack-1"].status == "expired"
    assert result.book.next_due_at is None


def test_the_summary_writes_every_amount_in_the_readers_words():
    from functions.subscriptions import notices

    summary = lifecycle.Notice(
        "summary", "renewals.summary", amounts={"total": 10_000 * SOM}, lines=(("news", 10_000 * SOM),), month="2026-03"
    )
    sent = notices.sms(summary, Book(msisdn=ALICE), CATALOGUE, profile=DEMO, language="ru")
    text = texts.render(sent.template, "ru", **sent.params)
    assert "Новости 10 000 сумов" in text and "so'm" not in text, text
