"""Subscriptions' measurements in `make bench` (infra/bench.py).

my subscriptions  the *120# "My subscriptions" screen's latency (the edge reads the caller's book), 8 sessions at once
renewals          a clock tick → one renewal receipt per subscriber: the sweep fans out, each subscriber's
                  transaction charges their due subscription (seeded books, one due weekly subscription each)
lifecycle         the pure decision of what is due for a book, per second in one process
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

import requests

from emulators.carrier.client import CarrierClient
from functions.subscriptions import lifecycle, pricing
from functions.subscriptions.config import Catalogue, Subscription, config_for
from functions.subscriptions.documents import BOOKS, Book, Item, read_book
from functions.subscriptions.edge_menu import MINE_KEY
from infra import bench_common as bench
from infra.cost import SMS_MINIMUM, Minimum
from infra.demo_common import DemoSubscriber
from shared import bus, catalog, operator, store
from shared.events import ClockTick, utcnow
from shared.operator import OperatorProfile

REQUESTS, RENEWALS = "subscription-screens", "renewals"
PRODUCT = "news-weekly"  # the demo catalogue's weekly service: what every seeded book renews
DECISIONS = 20_000  # books the lifecycle decides in the in-process measurement
# A renewal at the least: its share of the sweep's query (one book read), the due event's transaction reads its
# marker, the book and the account, and writes the book, the account, the ledger entry and the marker; it
# publishes the due event, the receipt's sms.send, subscription.renewed and balance.changed (the ledger's
# record for others); then the receipt costs what notify's SMS does.
RENEWAL_MINIMUM = Minimum(reads=4, writes=4, commits=1, published=4, delivered=1, invocations=1) + SMS_MINIMUM
# The screen at the least: the webhook reads the caller's subscriber record and their book, and writes nothing.
SCREEN_MINIMUM = Minimum(reads=2, writes=0, invocations=1)


def my_subscriptions_latency(stage: bench.BenchStage, catalogue: Catalogue, count: int, sessions: int) -> list[float]:
    """Timings of the "My subscriptions" screen (its menu key straight after the code), `sessions` at once."""
    url, callers, run = stage.stack.url_of("edge-ussd"), [s.msisdn for s in stage.subscribers], uuid.uuid4().hex[:8]

    def screen(session: requests.Session, i: int) -> float:
        started = time.perf_counter()
        answer = bench.ussd(
            session, url, f"bench-subs-{run}-{i}", callers[i % len(callers)], catalogue.ussd_code, MINE_KEY
        )
        elapsed = bench.milliseconds_since(started)
        if not answer.startswith(("CON ", "END ")):
            raise RuntimeError(f"unexpected {catalogue.ussd_code} answer: {answer[:200]}")
        return elapsed

    return bench.in_sessions(count, sessions, screen)


def paid_a_period_ago(product: Subscription, item_id: str, anchor: datetime, zone: str) -> Item:
    """An active item of `product` started at `anchor` with its first period paid: the next is due a period on."""
    assert product.period is not None
    due = pricing.period_end(anchor, product.period, 1, zone)
    profile = operator.current()
    return Item(
        id=item_id, product=product.id, kind="subscription", status="active", price=product.price,
        currency=profile.currency.code, bucket=product.bucket, period=product.period, channel="ussd",
        started_at=anchor, anchor=anchor, periods_charged=1, paid_through=due, next_charge_at=due,
    )  # fmt: skip


def seed_due_books(subscribers: list[str], product: Subscription, now: datetime) -> None:
    """Each subscriber's book with the weekly service paid a week ago: its renewal is due now."""
    zone = operator.current().timezone
    anchor = now - timedelta(days=7, minutes=1)  # a week and a minute ago: the weekly renewal is due
    db, batch = store.db(), None
    for i, msisdn in enumerate(subscribers):
        item = paid_a_period_ago(product, f"{product.id}-bench", anchor, zone)
        book = Book(msisdn=msisdn, items={item.id: item}, next_due_at=item.next_charge_at)
        batch = batch or db.batch()
        batch.set(db.collection(BOOKS).document(msisdn), book.to_document())
        if i % 400 == 399:
            batch.commit()
            batch = None
    if batch is not None:
        batch.commit()


def renewals(stage: bench.BenchStage, catalogue: Catalogue, count: int) -> list[bench.Figure]:
    """A tick → `count` renewals, each charged once with its receipt at the carrier."""
    product = catalogue.product(PRODUCT)
    if not isinstance(product, Subscription):
        raise RuntimeError(f"the bench's catalogue {catalogue.name} has no subscription {PRODUCT}")
    subscribers = [f"+9989070{stage.run}{i:04d}" for i in range(count)]
    stage.provision([DemoSubscriber(m, "Bench", "en", main=10 * product.price) for m in subscribers])
    now = utcnow()
    seed_due_books(subscribers, product, now)
    carrier = CarrierClient(stage.stack.carrier_url)
    before = carrier.message_count()
    with stage.costs(count) as usage:
        tick = catalog.make_envelope(
            "clock.subscriptions", ClockTick(at=now), event_id=f"bench-renewals-{uuid.uuid4().hex[:8]}", source="bench"
        )
        bus.publish([tick])
        seconds = bench.wait_until_count(
            lambda: carrier.message_count() - before, count, timeout=300, what="renewal receipts", interval=0.5
        )
    charged = sum(1 for m in subscribers if renewed_once(m))
    return [
        bench.Rate("renewals", count / seconds, "/s", f"clock tick → {count} receipts at the carrier, one each"),
        bench.Rate("charged once", charged, "of " + str(count), "books whose due period was charged exactly once", 0),
        *bench.cost_figures("renewal", usage[0], RENEWAL_MINIMUM, "/renewal"),
    ]


def renewed_once(msisdn: str) -> bool:
    return [item.periods_charged for item in read_book(msisdn).items.values()] == [2]


def measure(stage: bench.BenchStage) -> list[bench.Figure]:
    """The My subscriptions screen's latency, and renewals from a clock tick."""
    catalogue = config_for(stage.profile)
    assert catalogue is not None  # switched on only with a catalogue
    count, sessions = stage.count(REQUESTS), stage.count(bench.SESSIONS)
    with stage.costs(count) as usage:
        p50, p99 = bench.percentiles(my_subscriptions_latency(stage, catalogue, count, sessions))
    return [
        bench.Latency(
            "My subs USSD",
            p50,
            p99,
            f"My subscriptions, {count} requests, {sessions} sessions at once; target p99 ≤ 50 ms",
        ),
        *bench.cost_figures("screen", usage[0], SCREEN_MINIMUM, "/screen"),
        *renewals(stage, catalogue, stage.count(RENEWALS)),
    ]


def lifecycle_decisions() -> list[bench.Figure]:
    """Books decided per second in one process: what is due, charged and told, for a book with five services."""
    profile = operator.current()
    catalogue = config_for(profile)
    assert catalogue is not None
    now = utcnow()
    anchor = now - timedelta(days=7, minutes=1)
    items = {}
    for product in catalogue.subscriptions:
        items[product.id] = paid_a_period_ago(product, product.id, anchor, profile.timezone)
    book = Book(msisdn="+998901234567", items=items)
    balances = {"main": 10**9}
    started = time.perf_counter()
    for _ in range(DECISIONS):
        lifecycle.advance(book, catalogue, now=now, zone=profile.timezone, balances=balances, retry_now=False)
    rate = DECISIONS / (time.perf_counter() - started)
    return [bench.Rate("lifecycle", rate, "books/s", f"one process, {len(items)} services a book", 0)]


def _switched_on(profile: OperatorProfile) -> bool:
    catalogue = config_for(profile)
    return catalogue is not None and isinstance(catalogue.product(PRODUCT), Subscription)


SECTION = bench.BenchSection(
    order=60,
    measure=measure,
    measure_alone=lifecycle_decisions,
    options=(
        bench.BenchOption(REQUESTS, 300, "My subscriptions screens per run"),
        bench.BenchOption(RENEWALS, 100, "subscribers renewed by one clock tick per run"),
    ),
    switched_on=_switched_on,
)
