"""Renewals on the real emulators with the settable clock: one charge per period whatever the redeliveries
and overlapping ticks, the grace timeline, a top-up renewing at once, reminders, and the monthly summary.

Books are written as the subscribe step leaves them (a weekly subscription paid for its first
week); the clock is moved and its ticks pushed to the sweep, whose fan-out is pushed to on_due.
The catalogue is this file's own (weekly, 5 000 so'm, retries 6/24/48 h, 3 days' grace, 7 days
suspended), so the timeline does not move when the shipped presets do.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from functions.provisioning import main as provisioning
from functions.subscriptions import lifecycle, renewals
from functions.subscriptions.config import Catalogue
from functions.subscriptions.documents import BOOKS, Book, Item
from infra.clock import LocalClock
from shared import ledger, operator, store, texts
from shared.clock import CLOCK_FILE_VARIABLE
from shared.events import Envelope, utcnow
from tests.integration.test_time_travel import outbox_of, push
from tests.integration.test_transfers import balance, deliver, deliver_until_done, sound, subscriber
from tests.integration.test_transfers_eligibility import topup

ALICE = "+998901234567"
SOM = 100
ZONE = "Asia/Tashkent"
PRICE = 5_000 * SOM


@pytest.fixture
def clock(tmp_path, monkeypatch) -> LocalClock:
    """The local stack's movable clock, read by this process as by every function."""
    path = tmp_path / "clock.json"
    monkeypatch.setenv(CLOCK_FILE_VARIABLE, str(path))
    return LocalClock(interval=0, path=path)


@pytest.fixture
def catalogue(monkeypatch) -> Catalogue:
    """The demo operator running this file's catalogue."""
    found = Catalogue.model_validate(
        {
            "name": "renewals-test",
            "title": "Renewals test",
            "currency": "UZS",
            "ussd_code": "*555#",
            "short_code": "5500",
            "subscriptions": [
                {
                    "id": "news",
                    "keyword": "NEWS",
                    "names": {"en": "Daily News", "ru": "Новости дня", "uz": "Kun yangiliklari"},
                    "price": "5000",
                    "period": "weekly",
                    "renewal": {"retry_hours": [6, 24, 48], "grace_days": 3, "suspended_days": 7},
                },
            ],
        },
        context={"currency": operator.current().currency},
    )
    monkeypatch.setattr(renewals, "service", lambda: (operator.current(), found))
    return found


def subscribed(catalogue: Catalogue, due: datetime, msisdn: str = ALICE) -> Book:
    """`msisdn` paid the first week of `news`, whose second week falls due at `due`; the book is stored."""
    item = Item(
        id="sms-SM0001",
        product="news",
        kind="subscription",
        status="active",
        price=PRICE,
        currency="UZS",
        period="weekly",
        channel="sms",
        started_at=due - timedelta(days=7),
        anchor=due - timedelta(days=7),
        periods_charged=1,
        paid_through=due,
        next_charge_at=due,
    )
    book = lifecycle.scheduled(Book(msisdn=msisdn, items={item.id: item}), catalogue, zone=ZONE)
    store.db().collection(BOOKS).document(msisdn).set(book.to_document())
    return book


def stored(msisdn: str = ALICE) -> Book:
    return Book.from_document(msisdn, store.db().collection(BOOKS).document(msisdn).get().to_dict())


def due_event(msisdn: str = ALICE) -> dict:
    return {"msisdn": msisdn, "due_before": utcnow().isoformat()}


def renewal_entries(msisdn: str = ALICE) -> list[dict]:
    entries = store.db().collection(store.ACCOUNTS).document(msisdn).collection(ledger.ENTRIES).stream()
    return [entry.to_dict() for entry in entries if entry.to_dict()["reason"] == "subscriptions:renewal"]


def rendered(sms: dict) -> str:
    return texts.render(sms["template"], sms["language"], **sms["params"])


def move(clock, by: timedelta) -> dict[str, list[Envelope]]:
    """Move the clock and run what its ticks fan out: {topic: follow-ups} of every on_due delivery."""
    found: dict[str, list[Envelope]] = {}
    for tick in clock.advance(by):
        if tick.type != "clock.subscriptions":
            continue
        assert push(renewals.on_tick, tick) == "processed"
        for due in outbox_of(renewals.on_tick, tick.id, "subscription.due"):
            assert push(renewals.on_due, due) == "processed"
            marker = store.db().collection(store.PROCESSED).document(f"subscriptions-due:{due.id}").get()
            for raw in marker.get("outbox"):
                envelope = Envelope.model_validate(raw)
                found.setdefault(envelope.type, []).append(envelope)
    return found


def texts_of(follow_ups: dict[str, list[Envelope]]) -> list[str]:
    return [envelope.data["template"] for envelope in follow_ups.get("sms.send", [])]


# --- exactly once ----------------------------------------------------------------------------


def test_a_renewal_delivered_twice_charges_once(firestore_clean, catalogue):
    subscriber(ALICE, "en", balance=20_000 * SOM)
    subscribed(catalogue, due=utcnow() - timedelta(minutes=5))

    assert deliver(renewals.on_due, due_event(), "due-1") == "processed"
    assert deliver(renewals.on_due, due_event(), "due-1") == "duplicate"
    assert deliver(renewals.on_due, due_event(), "due-2") == "processed", "another tick's fan-out of the same book"

    assert balance(ALICE) == 15_000 * SOM
    [entry] = renewal_entries()
    assert (entry["delta"], entry["reference"]) == (-PRICE, "subscription:sms-SM0001:1")
    item = stored().items["sms-SM0001"]
    assert (item.status, item.periods_charged) == ("active", 2)
    [receipt] = outbox_of(renewals.on_due, "due-1", "sms.send")
    assert rendered(receipt.data).startswith("Daily News renewed: 5 000 so'm charged. Next renewal on ")
    assert outbox_of(renewals.on_due, "due-2", "sms.send") == []
    [fact] = outbox_of(renewals.on_due, "due-1", "subscription.renewed")
    assert (fact.data["subscription_id"], fact.data["price"], fact.data["status"]) == ("sms-SM0001", PRICE, "active")
    sound(ALICE)


def test_twenty_concurrent_clock_ticks_charge_once(firestore_clean, catalogue):
    subscriber(ALICE, "en", balance=20_000 * SOM)
    subscribed(catalogue, due=utcnow() - timedelta(minutes=5))
    ticks = [f"tick-{uuid.uuid4().hex[:8]}" for _ in range(20)]

    with ThreadPoolExecutor(10) as pool:
        swept = list(pool.map(lambda tick: deliver_until_done(renewals.on_tick, {}, tick), ticks))
    assert swept == ["processed"] * 20
    fanned_out = [due for tick in ticks for due in outbox_of(renewals.on_tick, tick, "subscription.due")]
    assert len(fanned_out) == 20, "every tick saw the book due"
    with ThreadPoolExecutor(10) as pool:
        looked = list(pool.map(lambda due: deliver_until_done(renewals.on_due, due.data, due.id), fanned_out))
    assert set(looked) == {"processed"}

    assert balance(ALICE) == 15_000 * SOM, "charged once"
    assert len(renewal_entries()) == 1
    receipts = [sms for due in fanned_out for sms in outbox_of(renewals.on_due, due.id, "sms.send")]
    assert len(receipts) == 1, "one receipt"
    sound(ALICE)


# --- unpaid ---------------------------------------------------------------------------------


def test_the_grace_timeline_with_the_clock(firestore_clean, catalogue, clock):
    subscriber(ALICE, "ru", balance=1_000 * SOM)
    due = utcnow() + timedelta(hours=1)
    subscribed(catalogue, due=due)

    failed = move(clock, timedelta(hours=1, minutes=20))
    assert texts_of(failed) == ["renewals.failed"]
    [sms] = failed["sms.send"]
    grace_end = (due + timedelta(days=3)).astimezone(ZoneInfo(ZONE))
    assert rendered(sms.data) == (
        f"Не удалось продлить Новости дня: стоимость 5 000 сумов, на балансе 1 000 сумов. Пополните счёт до "
        f"{grace_end:%d.%m.%Y}, чтобы сохранить услугу; после пополнения она продлится сразу."
    )
    [fact] = failed["subscription.renewal-failed"]
    assert (fact.data["status"], fact.data["reason"]) == ("grace", "insufficient_balance")
    assert stored().items["sms-SM0001"].status == "grace"

    retried = move(clock, timedelta(hours=6))
    assert texts_of(retried) == [] and len(retried["subscription.renewal-failed"]) == 1, "a silent retry"

    suspended = move(clock, timedelta(days=3))
    assert texts_of(suspended) == ["renewals.suspended"]
    assert suspended["subscription.suspended"][0].data["status"] == "suspended"

    cancelled = move(clock, timedelta(days=7))
    assert texts_of(cancelled) == ["renewals.cancelled"]
    assert cancelled["subscription.cancelled"][0].data["reason"] == "unpaid"
    item = stored().items["sms-SM0001"]
    assert (item.status, item.end_reason) == ("cancelled", "unpaid")
    assert stored().next_due_at is None or stored().next_due_at > utcnow(), "nothing left for the sweep"
    assert balance(ALICE) == 1_000 * SOM, "nothing was charged"
    assert move(clock, timedelta(days=7)) == {}, "an ended subscription is never looked at again"
    sound(ALICE)


def test_a_top_up_during_grace_renews_at_once(firestore_clean, catalogue):
    subscriber(ALICE, "en", balance=1_000 * SOM)
    due = utcnow() - timedelta(minutes=5)
    subscribed(catalogue, due=due)
    assert deliver(renewals.on_due, due_event(), "due-1") == "processed"
    assert stored().items["sms-SM0001"].status == "grace"

    topup(ALICE, 10_000 * SOM, "tp-1")
    [credit] = outbox_of(provisioning.on_topup, "tp-1", "balance.changed")
    assert push(renewals.on_balance_changed, credit) == "processed"

    assert balance(ALICE) == (1_000 + 10_000 - 5_000) * SOM
    item = stored().items["sms-SM0001"]
    assert (item.status, item.periods_charged, item.next_charge_at) == ("active", 2, due + timedelta(days=7))
    [receipt] = outbox_of(renewals.on_balance_changed, credit.id, "sms.send")
    assert receipt.data["template"] == "renewals.renewed"
    [fact] = outbox_of(renewals.on_balance_changed, credit.id, "subscription.renewed")
    assert fact.data["status"] == "active"
    [debit] = outbox_of(renewals.on_balance_changed, credit.id, "balance.changed")
    assert debit.data["delta"] == -PRICE
    assert push(renewals.on_balance_changed, debit) == "processed"
    assert balance(ALICE) == 6_000 * SOM, "its own debit retries nothing"
    sound(ALICE)


def test_a_credit_for_a_subscriber_with_nothing_unpaid_leaves_the_book_alone(firestore_clean, catalogue):
    subscriber(ALICE, "en", balance=1_000 * SOM)
    before = subscribed(catalogue, due=utcnow() + timedelta(days=5))
    topup(ALICE, 10_000 * SOM, "tp-1")
    [credit] = outbox_of(provisioning.on_topup, "tp-1", "balance.changed")
    assert push(renewals.on_balance_changed, credit) == "processed"
    assert stored() == before
    assert outbox_of(renewals.on_balance_changed, credit.id, "sms.send") == []
    assert balance(ALICE) == 11_000 * SOM


# --- notices --------------------------------------------------------------------------------


def test_a_reminder_then_the_renewal_then_the_monthly_summary_with_the_clock(
    firestore_clean, catalogue, clock
):
    subscriber(ALICE, "en", balance=2_000 * SOM)
    zone = ZoneInfo(ZONE)
    today = utcnow().astimezone(zone)
    due = datetime(today.year, today.month, today.day, 14, tzinfo=zone) + timedelta(days=4)
    subscribed(catalogue, due=due)
    reminder_at = datetime(today.year, today.month, today.day, 10, tzinfo=zone) + timedelta(days=1)

    reminded = move(clock, reminder_at - utcnow() + timedelta(minutes=20))
    assert texts_of(reminded) == ["renewals.reminder_low_balance"], "the balance cannot pay the renewal"
    [sms] = reminded["sms.send"]
    assert rendered(sms.data) == (
        f"Daily News renews on {due:%d/%m/%Y} for 5 000 so'm, but your balance is 2 000 so'm. "
        f"Top up before then to keep it."
    )
    assert move(clock, timedelta(minutes=30)) == {}, "once per renewal"

    topup(ALICE, 10_000 * SOM, "tp-1")
    on_the_day = move(clock, due - utcnow() - timedelta(hours=2))
    assert texts_of(on_the_day) == ["renewals.reminder"]
    renewed = move(clock, timedelta(hours=2, minutes=20))
    assert texts_of(renewed) == ["renewals.renewed"]
    assert balance(ALICE) == 7_000 * SOM

    month_start = datetime(due.year + due.month // 12, due.month % 12 + 1, 1, 10, tzinfo=zone)
    summary = move(clock, month_start - utcnow() + timedelta(minutes=20))
    summaries = [sms for sms in summary.get("sms.send", []) if sms.data["template"] == "renewals.summary"]
    assert len(summaries) == 1
    spent = stored().spend[f"{due.year:04d}-{due.month:02d}"]["news"]
    assert spent % PRICE == 0 and spent >= PRICE
    total = operator.current().currency.format(spent)
    assert rendered(summaries[0].data) == (
        f"Your subscriptions in {due.month:02d}/{due.year}: Daily News {total}. Total: {total}."
    )
    sound(ALICE)


# --- the shipped preset ---------------------------------------------------------------------


def test_demotels_music_trial_is_announced_in_uzbek_then_converts_on_its_first_charge(firestore_clean, clock):
    """The demo operator's own catalogue (music-monthly: a week free, then 15 000 so'm a month)."""
    catalogue = renewals.service()[1]
    subscriber(ALICE, "uz", balance=20_000 * SOM)
    zone = ZoneInfo(ZONE)
    started = utcnow()
    trial_end = started + timedelta(days=7)
    item = Item(
        id="ussd-music",
        product="music-monthly",
        kind="subscription",
        status="trial",
        price=0,
        currency="UZS",
        period="monthly",
        channel="ussd",
        started_at=started,
        anchor=trial_end,
        periods_charged=0,
        paid_through=trial_end,
        next_charge_at=trial_end,
    )
    book = lifecycle.scheduled(Book(msisdn=ALICE, items={item.id: item}), catalogue, zone=ZONE)
    store.db().collection(BOOKS).document(ALICE).set(book.to_document())
    local_end = trial_end.astimezone(zone)
    notice_at = datetime(local_end.year, local_end.month, local_end.day, 10, tzinfo=zone) - timedelta(days=3)

    told = move(clock, notice_at - utcnow() + timedelta(minutes=20))
    [notice] = told["sms.send"]
    assert rendered(notice.data) == (
        f"Musiqa bepul sinov muddati {local_end:%d.%m.%Y} kuni tugaydi; keyin har oy uchun 15 000 so'm. "
        f"O'chirish uchun 06007 raqamiga STOP MUSIC yuboring."
    )
    converted = move(clock, trial_end - utcnow() + timedelta(minutes=20))
    assert texts_of(converted) == ["renewals.renewed"]
    [fact] = converted["subscription.renewed"]
    assert (fact.data["status"], fact.data["price"]) == ("active", 15_000 * SOM)
    assert balance(ALICE) == 5_000 * SOM
    assert stored().items["ussd-music"].status == "active"
    sound(ALICE)


def test_demotels_monthly_data_pack_renews_with_its_megabytes_again_until_its_validity_ends(firestore_clean):
    catalogue = renewals.service()[1]
    subscriber(ALICE, "en", balance=50_000 * SOM)
    due = utcnow() - timedelta(minutes=5)
    item = Item(
        id="sms-net10",
        product="data-monthly",
        kind="pack",
        status="active",
        price=45_000 * SOM,
        currency="UZS",
        period="monthly",
        channel="sms",
        started_at=due - timedelta(days=31),
        anchor=due,
        periods_charged=0,
        next_charge_at=due,
    )
    book = lifecycle.scheduled(Book(msisdn=ALICE, items={item.id: item}), catalogue, zone=ZONE)
    store.db().collection(BOOKS).document(ALICE).set(book.to_document())

    assert deliver(renewals.on_due, due_event(), "due-pack") == "processed"
    assert balance(ALICE) == 5_000 * SOM
    assert balance(ALICE, "data_mb") == 10240
    [lot] = ledger.read_account(store.db(), ALICE).buckets["data_mb"].lots
    assert abs(lot.expires_at - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    assert stored().items["sms-net10"].expires_at == lot.expires_at
    sound(ALICE)
