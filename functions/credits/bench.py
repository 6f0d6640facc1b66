"""Communication credits' measurements in `make bench` (infra/bench.py).

debit → recharge   a usage that takes an account below its trigger, until the recharge is credited: the usage
                   record, the settlement that starts the recharge, the card charged at the payment emulator
                   and the lot credited (p50/p99, a few accounts at once)
hot account        usage of one business account by many users at once, with auto-recharge on: debits settled
                   per second, against the ceiling of the design that would write the account once per debit
                   (one transaction at a time on one document, measured on the same emulator in the same run)
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

from google.cloud import firestore

from functions.credits import accounts
from functions.credits.config import BUCKET, CreditsConfig, config_for
from functions.credits.documents import ACCOUNTS, CHARGES, ENTRIES, USAGE, AutoRecharge, Card
from infra import bench_common as bench
from shared import catalog, ledger, payments, runtime, store
from shared.events import Envelope, UsageCharged, utcnow
from shared.ledger_core import Account
from shared.operator import OperatorProfile

RECHARGES, DEBITS, USERS = "credit-recharges", "hot-account-debits", "hot-account-users"
SESSIONS = 4  # accounts crossing their trigger at once in the latency measurement
CEILING_TRANSACTIONS = 200


def seeded_account(config: CreditsConfig, account_id: str, balance: int, users: list[str], now: datetime) -> None:
    """An account with a visa card at the payment emulator, auto-recharge on, `balance` in one lot, and its users."""
    db, gateway = store.db(), payments.gateway()
    account = accounts.new_account(
        account_id, kind="business", name="Bench", email=None, language="en", owner=None, config=config, now=now
    )
    customer = gateway.create_customer(account_id, None, "Bench")
    card = gateway.attach_card(customer, "pm_card_visa")
    defaults = config.auto_recharge
    auto = AutoRecharge(
        enabled=True,
        trigger=defaults.trigger,
        amount=defaults.amount,
        monthly_max_count=config.limits.max_monthly_count,
        monthly_max_amount=config.limits.max_monthly_amount,
    )
    book = Account.new(account_id, now)
    entry = book.credit(BUCKET, balance, expires_at=now + timedelta(days=365), reason="bench", reference="seed", at=now)
    seeded = account.model_copy(
        update={
            "customer": customer,
            "card": Card(token=card.token, brand=card.brand, last4=card.last4),
            "auto": auto,
            "ledger": ledger.account_to_document(book),
            "next_due_at": book.next_expiry,
        }
    )
    accounts.open_account(db, seeded)
    ref = db.collection(ACCOUNTS).document(account_id)
    ref.collection(ENTRIES).document(entry.id).set(ledger.entry_to_document(entry))
    for msisdn in users:
        accounts.add_user(db, account_id, msisdn, name=None, now=now)


def usage(msisdn: str, amount: int, reference: str) -> Envelope:
    payload = UsageCharged(
        msisdn=msisdn, kind="call", amount=amount, reference=reference, at=utcnow(), charged_to="credits"
    )
    return catalog.make_envelope("bss.usage", payload, event_id=f"bench-{reference}", source="bench")


def recharge_latency(stage: bench.BenchStage, config: CreditsConfig, count: int) -> list[float]:
    """Per account: publish a usage that crosses the trigger, wait until its recharge is credited."""
    run, now = uuid.uuid4().hex[:6], utcnow()
    trigger = config.auto_recharge.trigger
    lines = [f"+9989075{stage.run}{i:04d}" for i in range(count)]
    for i, msisdn in enumerate(lines):
        seeded_account(config, f"bench-{run}-{i}", trigger + 100, [msisdn], now)
    db = store.db()

    def one(_session: object, i: int) -> float:
        account_id, started = f"bench-{run}-{i}", time.perf_counter()
        bench.publish_all([usage(lines[i], 200, f"{run}-cross-{i}")])
        charge = db.collection(CHARGES).document(f"{account_id}.auto.1")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (charge.get().to_dict() or {}).get("status") == "succeeded":
                return bench.milliseconds_since(started)
            time.sleep(0.02)
        raise RuntimeError(f"{account_id}'s recharge was not credited within 120 s")

    return bench.in_sessions(count, SESSIONS, one)


def hot_account(stage: bench.BenchStage, config: CreditsConfig, debits: int, users: int) -> tuple[float, int]:
    """`debits` usage events from `users` lines of one account, all published at once: settled per second."""
    run, now = uuid.uuid4().hex[:6], utcnow()
    account_id = f"bench-hot-{run}"
    lines = [f"+9989076{stage.run}{i:04d}" for i in range(users)]
    seeded_account(config, account_id, config.auto_recharge.trigger + debits * 100, lines, now)
    envelopes = [usage(lines[i % users], 100, f"{run}-hot-{i}") for i in range(debits)]
    settled = (
        store.db()
        .collection(USAGE)
        .where(filter=firestore.FieldFilter("account_id", "==", account_id))
        .where(filter=firestore.FieldFilter("settled", "==", True))
    )
    started = time.perf_counter()
    bench.publish_all(envelopes)
    bench.wait_until_count(lambda: _count(settled), debits, timeout=300, what="settled debits", interval=0.5)
    seconds = time.perf_counter() - started  # from the first publish: the producer's time counts too
    entries = _count(store.db().collection(ACCOUNTS).document(account_id).collection(ENTRIES))
    return debits / seconds, entries - 1  # the seed's credit is not a settlement


def _count(query: firestore.Query | firestore.CollectionReference) -> int:
    """How many documents match, counted by Firestore (an aggregation: no document is read)."""
    [[result]] = query.count().get()  # type: ignore[call-arg,misc]  # the stubs take count() for the unbound method
    return int(result.value)


def one_document_ceiling(transactions: int) -> float:
    """Transactions/s that read and write one document, one at a time: a design writing the account per debit."""
    db, ref = store.db(), store.db().document(f"ceiling_hot/{uuid.uuid4().hex[:8]}")

    @firestore.transactional
    def body(txn: firestore.Transaction) -> None:
        current = ref.get(transaction=txn).to_dict() or {}
        txn.set(ref, {"balance": current.get("balance", 0) - 100})
        txn.create(db.document(f"ceiling_hot_entries/{uuid.uuid4().hex}"), {"amount": -100})

    started = time.perf_counter()
    for _ in range(transactions):
        runtime.transact(db, body, label="ceiling")
    return transactions / (time.perf_counter() - started)


def measure(stage: bench.BenchStage) -> list[bench.Figure]:
    """Debit → recharge credited, and debits per second on one hot account against one document's ceiling."""
    config = config_for(stage.profile)
    assert config is not None  # switched on only with a preset
    p50, p99 = bench.percentiles(recharge_latency(stage, config, stage.count(RECHARGES)))
    debits = stage.count(DEBITS)
    rate, batches = hot_account(stage, config, debits, stage.count(USERS))
    ceiling = one_document_ceiling(CEILING_TRANSACTIONS)
    return [
        bench.Latency(
            "recharged",
            p50,
            p99,
            f"debit crossing the trigger → card charged → lot credited, {SESSIONS} accounts at once",
        ),
        bench.Rate("hot account", rate, "debits/s", f"{debits} debits, {stage.count(USERS)} users, one account", 0),
        bench.Rate("settlements", batches, "entries", f"ledger entries for {debits} debits (batches)", 0),
        bench.Rate("one document", ceiling, "txn/s", "one account written per debit, one at a time (same run)", 0),
        bench.ratio(rate, ceiling, "hot account debits/s ÷ one-document transactions/s (> 1: batching wins)"),
    ]


def _switched_on(profile: OperatorProfile) -> bool:
    return config_for(profile) is not None


SECTION = bench.BenchSection(
    order=70,
    measure=measure,
    options=(
        bench.BenchOption(RECHARGES, 20, "accounts crossing their trigger per run (debit → recharge latency)"),
        bench.BenchOption(DEBITS, 1000, "usage events on one hot business account per run"),
        bench.BenchOption(USERS, 100, "users of the hot account"),
    ),
    switched_on=_switched_on,
)
