"""Credits usage on the real emulators: recorded once per reference, settled into the account in batches,
oldest purchase first and never below zero, a hot account's hundreds of concurrent users debited exactly
once each; expiry, its notices (each once) and its emails with the settable clock.
"""

from __future__ import annotations

import os
import queue
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from google.api_core import exceptions
from google.cloud.firestore_v1.base_query import FieldFilter

from functions.credits import expiry, settle, usage, wallet
from functions.credits.config import BUCKET, in_force
from functions.credits.documents import (
    ACCOUNTS,
    ENTRIES,
    USAGE,
    USERS,
    AutoRecharge,
    Card,
    CreditAccount,
    RechargeState,
    to_document,
)
from functions.notify import main as notify
from functions.provisioning import main as provisioning
from shared import store
from shared.events import Envelope, utcnow
from shared.ledger import account_from_document, account_to_document, entry_from_document, entry_to_document
from shared.ledger_core import Account, Bucket, reconcile
from tests.integration.test_email import mailbox  # noqa: F401 - a fixture
from tests.integration.test_time_travel import moved_clock, outbox_of, push  # noqa: F401 - a fixture
from tests.integration.test_transfers import deliver

ACME = "acme-contact"
AGENT = "+998901110001"
SOM = 100
CALLS = int(os.environ.get("CREDITS_HOT_CALLS") or 300)


def open_account(account_id: str = ACME, purchases: tuple[tuple[int, datetime], ...] = (), *, email: str | None = None,
                 language: str = "en", users: tuple[str, ...] = (AGENT,), trigger: int = 20_000 * SOM,
                 auto: bool = False, recharge: RechargeState | None = None) -> None:
    """A business account holding `purchases` (amount, bought at: each a lot expiring 12 months on), its users added."""
    book = Account(account_id, {BUCKET: Bucket(BUCKET)}, created_at=utcnow(), updated_at=utcnow())
    entries = [book.credit(BUCKET, amount, expires_at=wallet.add_months(at, 12), reason="purchase",
                              reference=f"seed-{n}", at=at) for n, (amount, at) in enumerate(purchases)]
    account = CreditAccount(
        id=account_id, kind="business", name="Acme contact centre", email=email, language=language, currency="UZS",
        auto=AutoRecharge(enabled=auto, trigger=trigger, amount=100_000 * SOM, monthly_max_count=5,
                          monthly_max_amount=500_000 * SOM),
        ledger=account_to_document(book), created_at=utcnow(), updated_at=utcnow(),
        card=Card(token="pm_card_visa", brand="visa", last4="4242") if auto else None,
        recharge=recharge or RechargeState(),
    )
    account.next_due_at = wallet.next_due(account, book, in_force()[1])   # as wallet.save leaves it
    db = store.db()
    ref = db.collection(ACCOUNTS).document(account_id)
    ref.set(to_document(account))
    for entry in entries:
        ref.collection(ENTRIES).document(entry.id).set(entry_to_document(entry))
    for msisdn in users:
        db.collection(USERS).document(msisdn).set({"account_id": account_id, "msisdn": msisdn, "added_at": utcnow()})


def call(reference: str, amount: int, msisdn: str = AGENT, **fields) -> dict:
    return {"msisdn": msisdn, "kind": "call", "amount": amount, "reference": reference, "at": utcnow().isoformat(),
            "charged_to": "credits", "destination": "998712000123", "duration_seconds": 60, **fields}


def balance(account_id: str = ACME) -> int:
    return wallet.credits_of(wallet.read_account(store.db(), account_id)).balance(BUCKET)


def records(account_id: str = ACME) -> list[dict]:
    query = store.db().collection(USAGE).where(filter=FieldFilter("account_id", "==", account_id))
    return [snap.to_dict() for snap in query.stream()]


def sound(account_id: str = ACME) -> list[dict]:
    """The account's entries, checked: they run gap-free and sum to its balance (shared/ledger_core.reconcile)."""
    ref = store.db().collection(ACCOUNTS).document(account_id)
    document = ref.get().to_dict()
    entries = [entry_from_document(doc.to_dict()) for doc in ref.collection(ENTRIES).stream()]
    book = account_from_document(document["ledger"])
    assert reconcile(book, entries, {BUCKET: book.balance(BUCKET)}) == []
    return [doc.to_dict() for doc in ref.collection(ENTRIES).stream()]


def settle_after(event_id: str) -> list[Envelope]:
    return outbox_of(usage.on_usage, event_id, "credits.settle")


def until_done(deliver_once, attempts: int = 40) -> str:
    """Like Pub/Sub after a 500: a transaction that gave up under contention is delivered again, after a backoff."""
    for attempt in range(attempts):
        try:
            return deliver_once()
        except (exceptions.Aborted, ValueError):
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2 ** attempt)))
    raise AssertionError("kept aborting")


def test_usage_is_recorded_once_per_reference_and_settled_once_however_often_it_arrives(firestore_clean):
    open_account(purchases=((10_000 * SOM, utcnow() - timedelta(days=1)),))
    assert deliver(usage.on_usage, call("cdr-1", 1_500 * SOM), "u-1") == "processed"
    assert deliver(usage.on_usage, call("cdr-1", 1_500 * SOM), "u-1") == "duplicate"
    # The charging system sends the same call again under another event id: nothing more is recorded.
    assert deliver(usage.on_usage, call("cdr-1", 1_500 * SOM), "u-1-again") == "processed"
    assert settle_after("u-1-again") == []
    [order] = settle_after("u-1")
    assert order.data == {"account_id": ACME}
    assert balance() == 10_000 * SOM, "recorded, not yet settled: the account document is not touched by usage"

    assert push(settle.on_settle, order) == "processed"
    assert push(settle.on_settle, order) == "duplicate"
    assert balance() == 8_500 * SOM
    [record] = records()
    assert (record["settled"], record["debited"], record["shortfall"]) == (True, 1_500 * SOM, 0)
    assert [draw["amount"] for draw in record["lots"]] == [1_500 * SOM]
    [purchase, used] = sound()
    assert (used["delta"], used["reason"], record["entry_id"]) == (-1_500 * SOM, "usage", used["id"])


def test_a_reused_reference_an_unknown_line_and_main_usage_are_refused_or_left_to_provisioning(firestore_clean):
    open_account(purchases=((10_000 * SOM, utcnow()),))
    assert deliver(usage.on_usage, call("cdr-1", 1_500 * SOM), "u-1") == "processed"
    assert deliver(usage.on_usage, call("cdr-1", 9_999 * SOM), "u-2") == "rejected", "another call under cdr-1"
    assert deliver(usage.on_usage, call("cdr-3", 100, msisdn="+998909999999"), "u-3") == "rejected", "nobody's user"
    assert deliver(usage.on_usage, call("cdr-4", 100, charged_to="main"), "u-4") == "processed"
    assert [record["reference"] for record in records()] == ["cdr-1"]
    # ...and provisioning leaves credits usage alone: no debit of the line's own balance, no record.
    assert deliver(provisioning.on_usage, call("cdr-5", 100), "u-5") == "processed"
    assert store.db().collection("usage_charges").document("cdr-5").get().exists is False


def test_usage_beyond_the_credits_takes_them_to_zero_oldest_purchase_first_and_records_the_shortfall(firestore_clean):
    older, newer = utcnow() - timedelta(days=40), utcnow() - timedelta(days=3)
    open_account(purchases=((500 * SOM, newer), (300 * SOM, older)))
    for n, amount in enumerate((200, 400, 500)):
        assert deliver(usage.on_usage, call(f"cdr-{n}", amount * SOM), f"u-{n}") == "processed"
    [order] = settle_after("u-2")
    assert push(settle.on_settle, order) == "processed"
    assert balance() == 0
    by_reference = {record["reference"]: record for record in records()}
    oldest, newest = "000000000002", "000000000001"   # lot ids are the purchases' entry ids
    assert by_reference["cdr-0"]["lots"] == [{"lot_id": oldest, "amount": 200 * SOM}]
    assert by_reference["cdr-1"]["lots"] == [{"lot_id": oldest, "amount": 100 * SOM},
                                             {"lot_id": newest, "amount": 300 * SOM}]
    assert (by_reference["cdr-2"]["debited"], by_reference["cdr-2"]["shortfall"]) == (200 * SOM, 300 * SOM)
    entries = sound()
    assert [entry["delta"] for entry in entries if entry["reason"] == "usage"] == [-800 * SOM], "one entry a batch"


def test_a_hot_account_used_by_300_concurrent_calls_is_debited_exactly_once_each(firestore_clean):
    """Calls recorded by 12 workers at once, every message twice, while the account's settlements run one at a
    time (their ordering key) and query records still being written; the account ends exact."""
    users = tuple(f"+99890200{n:04d}" for n in range(30))
    bought = 800_000 * SOM  # the calls use about 900 000: the last ones find the credits gone (shortfall)
    open_account(purchases=((bought // 2, utcnow() - timedelta(days=60)), (bought // 2, utcnow() - timedelta(days=1))),
                 users=users)
    rng = random.Random(12)
    calls = [(f"hot-{n}", rng.randint(1, 6_000) * SOM, users[n % len(users)]) for n in range(CALLS)]
    orders: queue.Queue[Envelope | None] = queue.Queue()

    def one_call(item: tuple[str, int, str]) -> None:
        reference, amount, msisdn = item
        event_id = f"u-{reference}"
        for _ in range(2):   # every message delivered twice
            until_done(lambda: deliver(usage.on_usage, call(reference, amount, msisdn), event_id,
                                       message_id=f"m-{event_id}-{uuid.uuid4().hex[:8]}"))
        [order] = settle_after(event_id)
        orders.put(order)

    def settlements() -> None:
        """Pub/Sub's ordered delivery: one settlement of the account at a time, each delivered twice."""
        while (order := orders.get()) is not None:
            for _ in range(2):
                until_done(lambda: push(settle.on_settle, order))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=13) as pool:
        settling = pool.submit(settlements)
        list(pool.map(one_call, calls))
        orders.put(None)
        settling.result()
    elapsed = time.monotonic() - started

    used = sum(amount for _, amount, _ in calls)
    stored = records()
    assert len(stored) == CALLS and all(record["settled"] for record in stored)
    assert sum(record["debited"] for record in stored) == min(used, bought)
    assert sum(record["debited"] + record["shortfall"] for record in stored) == used
    assert all(sum(draw["amount"] for draw in record["lots"]) == record["debited"] for record in stored)
    assert balance() == max(bought - used, 0)
    batches = [entry for entry in sound() if entry["reason"] == "usage"]
    assert sum(entry["delta"] for entry in batches) == -min(used, bought)
    assert len(batches) < CALLS, f"{len(batches)} settlements wrote the account for {CALLS} calls in {elapsed:.0f} s"
    print(f"{CALLS} calls: {len(batches)} account writes in {elapsed:.1f} s")



def test_settlements_delivered_at_once_out_of_order_still_debit_each_usage_once(firestore_clean):
    """Ordering is Pub/Sub's promise, not our safety: overlapping settlements of one account (a redelivery
    racing the next message) each run in a transaction over the account, so a record is applied once."""
    open_account(purchases=((50_000 * SOM, utcnow() - timedelta(days=1)),))
    calls = [(f"race-{n}", (n + 1) * 20 * SOM) for n in range(40)]
    for reference, amount in calls:
        assert deliver(usage.on_usage, call(reference, amount), f"u-{reference}") == "processed"
    orders = [order for reference, _ in calls[::10] for order in settle_after(f"u-{reference}")]
    with ThreadPoolExecutor(max_workers=len(orders)) as pool:
        list(pool.map(lambda order: until_done(lambda: push(settle.on_settle, order)), orders))
    used = sum(amount for _, amount in calls)
    assert sum(record["debited"] for record in records()) == used == 50_000 * SOM - balance()
    assert all(record["settled"] for record in records())
    assert -sum(entry["delta"] for entry in sound() if entry["reason"] == "usage") == used



def test_settlements_crossing_the_trigger_ask_for_one_recharge_and_reaching_zero_emails_once(firestore_clean):
    open_account(purchases=((30_000 * SOM, utcnow()),), auto=True, email="owner@acme.example")
    follow_ups: list[Envelope] = []
    for n, amount in enumerate((5_000, 6_000, 4_000, 9_000, 7_000, 3_000)):   # below 20 000 after the second
        assert deliver(usage.on_usage, call(f"cdr-{n}", amount * SOM), f"u-{n}") == "processed"
        [order] = settle_after(f"u-{n}")
        assert push(settle.on_settle, order) == "processed"
        marker = store.db().collection(store.PROCESSED).document(f"credits-settle:{order.id}").get()
        follow_ups += [Envelope.model_validate(raw) for raw in marker.get("outbox")]
    [asked] = [envelope for envelope in follow_ups if envelope.type == "credits.charge-requested"]
    assert asked.data | {"requested_at": None} == {
        "account_id": ACME, "charge_id": f"{ACME}.auto.1", "amount": 100_000 * SOM, "reason": "auto",
        "channel": "auto", "attempt": 1, "requested_by": None, "requested_at": None}
    assert [envelope.data["template"] for envelope in follow_ups if envelope.type == "email.send"] == \
        ["email.credits_zero"]
    state = wallet.read_account(store.db(), ACME).recharge
    assert (state.phase, state.crossings, state.zero_notified) == ("pending", 1, True)


def test_a_failed_recharge_is_asked_again_by_the_clock_once_its_wait_is_over(firestore_clean, moved_clock):
    waiting = RechargeState(phase="pending", crossings=1, charge_id=f"{ACME}.auto.1", attempt=1, failures=1,
                            retry_at=utcnow() + timedelta(hours=1))
    open_account(purchases=((5_000 * SOM, utcnow()),), auto=True, recharge=waiting)
    assert "credits.charge-requested" not in move(moved_clock, timedelta(minutes=45))
    follow_ups = move(moved_clock, timedelta(minutes=30))
    [asked] = follow_ups["credits.charge-requested"]
    assert (asked.data["charge_id"], asked.data["attempt"]) == (f"{ACME}.auto.1", 2)
    state = wallet.read_account(store.db(), ACME).recharge
    assert (state.attempt, state.retry_at) == (2, None)
    assert "credits.charge-requested" not in move(moved_clock, timedelta(hours=2)), "asked once"


def move(clock, by: timedelta) -> dict[str, list[Envelope]]:
    """Move the clock and run what its credits ticks fan out: {topic: follow-ups} of every on_due delivery."""
    found: dict[str, list[Envelope]] = {}
    for tick in clock.advance(by):
        if tick.type != "clock.credits":
            continue
        assert push(expiry.on_tick, tick) == "processed"
        for due in outbox_of(expiry.on_tick, tick.id, "credits.due"):
            assert push(expiry.on_due, due) == "processed"
            assert push(expiry.on_due, due) == "duplicate"
            marker = store.db().collection(store.PROCESSED).document(f"credits-due:{due.id}").get()
            for raw in marker.get("outbox"):
                envelope = Envelope.model_validate(raw)
                found.setdefault(envelope.type, []).append(envelope)
    return found


def emails(follow_ups: dict[str, list[Envelope]]) -> list[str]:
    return [envelope.data["template"] for envelope in follow_ups.get("email.send", [])]


def test_each_expiry_notice_goes_once_then_the_purchase_expires_with_its_event_and_email(firestore_clean, moved_clock,
                                                                                         mailbox):
    bought_at = utcnow()
    expires_at = wallet.add_months(bought_at, 12)
    open_account(purchases=((5_000 * SOM, bought_at),), email=mailbox.address, language="ru")
    assert move(moved_clock, expires_at - utcnow() - timedelta(days=31)) == {}, "nothing due a month and a day before"

    follow_ups = move(moved_clock, timedelta(days=1, hours=1))
    assert emails(follow_ups) == ["email.credits_expiry_notice"]
    [notice] = follow_ups["email.send"]
    assert (notice.data["to"], notice.data["language"], notice.data["params"]["days"]) == (mailbox.address, "ru", 30)
    assert move(moved_clock, timedelta(days=2)) == {}, "the 30-day notice goes once"
    assert emails(move(moved_clock, timedelta(days=21))) == ["email.credits_expiry_notice"], "then the 7-day one"
    assert move(moved_clock, timedelta(days=3)) == {}
    assert balance() == 5_000 * SOM

    follow_ups = move(moved_clock, timedelta(days=4, hours=1))
    [expired] = follow_ups["credits.expired"]
    assert (expired.data["amount"], expired.data["lot_id"]) == (5_000 * SOM, "000000000001")
    assert sorted(emails(follow_ups)) == ["email.credits_expired", "email.credits_zero"]
    assert balance() == 0
    assert move(moved_clock, timedelta(days=30)) == {}, "nothing left to do"
    [*_, forfeited] = sound()
    assert (forfeited["kind"], forfeited["delta"]) == ("expiry", -5_000 * SOM)

    [mail] = [envelope for envelope in follow_ups["email.send"] if envelope.data["template"] == "email.credits_expired"]
    assert push(notify.on_email_send, mail) == "processed"
    [sent] = mailbox()
    assert sent["subject"] == "5 000 сумов кредитов сгорели", "read back from SES, in the account's language"


def test_expired_credits_are_never_spent_even_before_the_sweep_comes(firestore_clean, moved_clock):
    old, recent = utcnow() - timedelta(days=2), utcnow() - timedelta(days=1)
    open_account(purchases=((1_000 * SOM, old), (400 * SOM, recent)))
    moved_clock.advance(wallet.add_months(old, 12) - utcnow() + timedelta(minutes=1))   # ticks left unrun
    assert deliver(usage.on_usage, call("late-call", 600 * SOM), "u-late") == "processed"
    [order] = settle_after("u-late")
    assert push(settle.on_settle, order) == "processed"
    [record] = records()
    assert (record["debited"], record["shortfall"]) == (400 * SOM, 200 * SOM), "only the purchase still valid paid"
    assert [envelope.data["lot_id"] for envelope in outbox_of(settle.on_settle, order.id, "credits.expired")] == \
        ["000000000001"]
    assert balance() == 0
    assert "credits.expired" not in move(moved_clock, timedelta(minutes=15)), "the sweep finds it forfeited already"
    kinds = [entry["kind"] for entry in sound()]
    assert kinds == ["credit", "credit", "expiry", "debit"]
