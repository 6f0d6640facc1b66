"""Flows that take days, with the local clock moved instead of waited for (infra.clock).

Functions run through the runtime on the real emulators, as in test_transfers.py; the clock is
the movable one every local process reads, and a move fires the catalog schedules for the time
skipped, whose ticks are delivered to their consumers here as Pub/Sub would push them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from functions.ledger import main as ledger_functions
from functions.transfers import main as transfers
from infra.clock import LocalClock
from shared import bus, operator, runtime, store
from shared.clock import CLOCK_FILE_VARIABLE
from shared.events import Envelope, utcnow
from tests.integration.test_transfers import (balance, deliver, record, reference, sms_of, sound, subscriber,  # noqa: F401
                                              transfer, use_operator)
from tests.integration.test_transfers_eligibility import provision, topup, usage

SG_A, SG_B, BANGLADESH = "+6591234567", "+6591234568", "+8801712345678"
ZAIN_A, ZAIN_B = "+9647801234567", "+9647801234568"


@pytest.fixture
def moved_clock(tmp_path, monkeypatch) -> LocalClock:
    """The local stack's movable clock for this test (this process reads it as every function would)."""
    path = tmp_path / "clock.json"
    monkeypatch.setenv(CLOCK_FILE_VARIABLE, str(path))
    return LocalClock(interval=0, path=path)


def push(entry_point, envelope: Envelope) -> str:
    """Deliver a published envelope (a schedule's tick, a follow-up) to its consumer, as Pub/Sub would."""
    data, attributes = bus.encode(envelope)
    return runtime.process(entry_point.consumer, entry_point.handler, f"m-{envelope.id}", data, attributes,
                           after_commit=entry_point.after_commit)


def outbox_of(entry_point, event_id: str, topic: str) -> list[Envelope]:
    """The follow-ups of `topic` a delivery left in its outbox."""
    marker = store.db().collection(store.PROCESSED).document(f"{entry_point.consumer}:{event_id}").get()
    return [item for item in (Envelope.model_validate(raw) for raw in marker.get("outbox")) if item.type == topic]


def test_an_m1_transferred_bonus_lot_expires_after_30_days_with_its_event_and_its_sms(firestore_clean, use_operator, moved_clock,
                                                                           tap):
    use_operator("m1")
    subscriber(SG_A, "en", balance=2_000)
    subscriber(SG_B, "zh")
    deliver(transfers.on_transfer_requested, transfer("m1-gift", 500, SG_A, SG_B), "m1-gift")
    assert balance(SG_B, "bonus") == 500
    expired = tap("ledger.lot-expired")

    [early] = [tick for tick in moved_clock.advance(timedelta(days=29)) if tick.type == "clock.ledger-expiry"]
    assert push(ledger_functions.on_expiry_tick, early) == "processed"
    assert outbox_of(ledger_functions.on_expiry_tick, early.id, "ledger.expire-account") == [], "not due on day 29"
    assert balance(SG_B, "bonus") == 500

    [tick] = [tick for tick in moved_clock.advance(timedelta(days=1, hours=1)) if tick.type == "clock.ledger-expiry"]
    assert push(ledger_functions.on_expiry_tick, tick) == "processed"
    [order] = outbox_of(ledger_functions.on_expiry_tick, tick.id, "ledger.expire-account")
    assert order.data["msisdn"] == SG_B
    assert push(ledger_functions.on_expire_account, order) == "processed"
    assert balance(SG_B, "bonus") == 0 and balance(SG_A) == 2_000 - 505, "only the gift expired"
    [event] = expired(1)
    assert (event.data["msisdn"], event.data["bucket"], event.data["amount"]) == (SG_B, "bonus", 500)
    assert push(ledger_functions.on_lot_expired, event) == "processed"
    [notice] = outbox_of(ledger_functions.on_lot_expired, event.id, "sms.send")
    assert (notice.data["to"], notice.data["template"], notice.data["language"]) == \
        (SG_B, "ledger.expiry.notice", "zh"), notice.data
    assert notice.data["params"]["bucket"] == "赠送余额" and "5" in notice.data["params"]["amount"], notice.data
    assert notice.data["reference"] == f"ledger-expiry:{SG_B}:{event.data['lot_id']}", "names the number and its lot"
    assert push(ledger_functions.on_lot_expired, event) == "duplicate", "told once, however often it is delivered"
    sound(SG_A, SG_B)


def test_a_7_day_rolling_limit_frees_up_on_day_8(firestore_clean, use_operator, moved_clock):
    use_operator("m1")
    subscriber(SG_A, "en", balance=100_000)
    for day in range(1, 6):   # 30 SGD a day (the daily cap) for five days: the 7-day 150 SGD is used up
        deliver(transfers.on_transfer_requested, transfer(f"day{day}", 3_000, SG_A, BANGLADESH), f"day{day}")
        assert record(reference(f"day{day}"))["status"] == "accepted", day
        moved_clock.advance(timedelta(days=1))

    deliver(transfers.on_transfer_requested, transfer("day6", 100, SG_A, BANGLADESH), "day6")
    [refused] = [sms for sms in sms_of(transfers.on_transfer_requested, "day6") if sms["to"] == SG_A]
    assert "limit of 150 SGD per 7 days" in refused["params"]["reason"], refused

    moved_clock.advance(timedelta(days=2))   # day 8: day 1's 30 SGD left the window
    deliver(transfers.on_transfer_requested, transfer("day8", 3_000, SG_A, BANGLADESH), "day8")
    assert record(reference("day8"))["status"] == "accepted"
    assert balance(SG_A) == 100_000 - 6 * 3_000
    sound(SG_A)


def test_a_calendar_month_limit_resets_on_the_1st_in_the_operators_zone(firestore_clean, use_operator, moved_clock):
    use_operator("zain")
    zone = ZoneInfo(operator.current().timezone)
    local_now = utcnow().astimezone(zone)
    next_month = datetime(local_now.year + local_now.month // 12, local_now.month % 12 + 1, 1, tzinfo=zone)
    moved_clock.set_to(next_month - timedelta(minutes=30))   # 23:30 on the month's last day in Baghdad

    provision(ZAIN_A, tariff_plan="alamodak")
    provision(ZAIN_B)
    topup(ZAIN_A, 10_000, "first")
    assert usage(ZAIN_A, "call", 10_000, "cdr-first") == "processed"   # eligible: called and spent the first top-up
    topup(ZAIN_A, 50_000, "second")
    for n in range(1, 6):
        deliver(transfers.on_transfer_requested, transfer(f"month{n}", 1_000, ZAIN_A, ZAIN_B), f"month{n}")
        assert record(reference(f"month{n}"))["status"] == "accepted", n
    deliver(transfers.on_transfer_requested, transfer("sixth", 1_000, ZAIN_A, ZAIN_B), "sixth")
    [refused] = [sms for sms in sms_of(transfers.on_transfer_requested, "sixth") if sms["to"] == ZAIN_A]
    assert "allowed this month" in refused["params"]["reason"], refused

    moved_clock.advance(timedelta(hours=1))   # 00:30 on the 1st in Baghdad; still the old month in UTC
    assert utcnow().astimezone(zone).day == 1 and utcnow().day != 1
    deliver(transfers.on_transfer_requested, transfer("new-month", 1_000, ZAIN_A, ZAIN_B), "new-month")
    assert record(reference("new-month"))["status"] == "accepted"
    sound(ZAIN_A, ZAIN_B)
