"""The attach storm of `make bench`: many switched-off subscribers, each with missed calls from a few callers,
all switch on within a minute; every caller's SMS must reach the carrier exactly once.

Seeded through the platform's own doors: the BSS's bss.subscriber events and phones provisioned in the carrier
emulator, the missed calls as the voice edge publishes them (missed-call.recorded, the caller's choice final), then
each phone attaches in the carrier emulator (which publishes the network's attach, as a real HLR would), spread
over the window. The check reads what the carrier recorded: one SMS per (callee, caller), none missing, none twice,
and the service's one-time activation notice per subscriber when the operator's profile turns it on.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from google.cloud.firestore_v1.aggregation import AggregationQuery
from google.cloud.firestore_v1.base_query import FieldFilter

from emulators.carrier.client import CarrierClient
from functions.missed_calls import documents
from functions.missed_calls.config import config_for
from infra import bench_common as bench
from shared import catalog, store
from shared.events import Envelope, utcnow

SUBSCRIBERS = "storm-subscribers"  # the command-line count
CALLERS = 5  # callers per subscriber
WINDOW_SECONDS = 60.0  # every subscriber attaches within this
ATTACH_THREADS = 8  # phones switching on at once, so that one slow attach does not hold the pace
SEED_TIMEOUT_SECONDS = 300.0  # for each step of the seed: a storm is not seeded in longer
# From the first attach: at the SMS rate of the notify path (40–80 a second here), 2 000 subscribers' 12 000 SMS
# take 3–5 minutes; a storm that has not drained in 8 is reported as such, and the bench goes on.
DRAIN_TIMEOUT_SECONDS = 480.0
SETTLE_SECONDS = 10.0  # after the last expected SMS: time for a duplicate to show
POLL_SECONDS = 0.5
NATIONAL_DIGITS = 9  # an Uzbek number without its country code


def storm_callees(count: int) -> list[str]:
    """The storm's subscribers: a number block of their own."""
    return [f"+998906{i:06d}" for i in range(count)]


def storm_callers() -> list[str]:
    """The callers each subscriber missed (numbers no other part of the bench uses)."""
    return [f"+99890700000{c}" for c in range(1, CALLERS + 1)]


@dataclass(frozen=True)
class StormCount:
    """What the carrier recorded for the storm's subscribers, against one SMS per (callee, caller)."""

    expected: int  # callee × caller pairs
    once: int  # pairs with exactly one SMS
    missing: int  # pairs with none
    duplicated: int  # pairs with more than one
    extra: int  # SMS beyond the first of a pair
    notices: int  # SMS naming no caller (the activation notice)
    notices_expected: int
    notices_wrong: int  # subscribers whose count of such SMS is not the expected one

    @property
    def exactly_once(self) -> bool:
        return (
            self.once == self.expected
            and not (self.missing or self.duplicated)
            and self.notices == self.notices_expected
            and not self.notices_wrong
        )


def count_storm(
    messages: Iterable[dict], callees: Sequence[str], callers: Sequence[str], notices_each: int
) -> StormCount:
    """Count the carrier's messages to the storm's subscribers per (callee, caller); an SMS names its caller."""
    # The caller's national number: the SMS may print it with or without the country code, spaced or not.
    digits = {caller: re.sub(r"\D", "", caller)[-NATIONAL_DIGITS:] for caller in callers}
    wanted = set(callees)
    pairs: Counter[tuple[str, str]] = Counter()
    unnamed: Counter[str] = Counter()
    for message in messages:
        if message["to"] not in wanted:
            continue
        body = re.sub(r"\D", "", message.get("body") or "")
        named = [caller for caller, number in digits.items() if number in body]
        if named:
            pairs.update((message["to"], caller) for caller in named)
        else:
            unnamed[message["to"]] += 1
    counts = [pairs[(callee, caller)] for callee in callees for caller in callers]
    return StormCount(
        expected=len(counts),
        once=sum(1 for n in counts if n == 1),
        missing=sum(1 for n in counts if n == 0),
        duplicated=sum(1 for n in counts if n > 1),
        extra=sum(n - 1 for n in counts if n > 1),
        notices=sum(unnamed.values()),
        notices_expected=notices_each * len(callees),
        notices_wrong=sum(1 for callee in callees if unnamed[callee] != notices_each),
    )


def seed(stage: bench.BenchStage, callees: Sequence[str], callers: Sequence[str], timeout: float) -> int:
    """The subscribers in the BSS and, switched off, in the network; each one's missed calls recorded (how many
    were, after `timeout` at most)."""
    carrier = CarrierClient(stage.stack.carrier_url)
    bench.publish_all(
        [
            catalog.make_envelope(
                "bss.subscriber",
                {"msisdn": msisdn, "name": "Storm", "language": "en"},
                event_id=f"storm-subscriber-{msisdn}",
                source="bench",
            )
            for msisdn in callees
        ]
    )
    bench.wait_until_count(
        lambda: count_in_block(store.SUBSCRIBERS, "msisdn", callees),
        len(callees),
        timeout,
        "storm subscribers provisioned",
    )
    bench.in_sessions(len(callees), ATTACH_THREADS, lambda _, i: carrier.provision(callees[i], attached=False))
    bench.publish_all(list(_missed_calls(callees, callers)))

    def recorded() -> int:
        return count_in_block(documents.MISSED_CALLS, "callee", callees, status="pending")

    try:
        bench.wait_until_count(
            recorded, len(callees) * len(callers), timeout, "storm missed calls recorded", interval=POLL_SECONDS
        )
    except TimeoutError as error:  # the storm goes on with the calls recorded; the missing ones show in its count
        bench.progress(f"  storm: {error}; attaching all the same")
    return recorded()


def recorded_call(call_sid: str, caller: str, callee: str, seconds_ago: float, event_id: str) -> Envelope:
    """A missed call as the voice edge publishes it once the call is over: the callee unreachable, the caller
    left their number; `seconds_ago` by the stack's clock (the calls must look recent to its functions)."""
    called_at = datetime.fromtimestamp(utcnow().timestamp() - seconds_ago, UTC).isoformat()
    return catalog.make_envelope(
        "missed-call.recorded",
        {
            "call_sid": call_sid,
            "caller": caller,
            "callee": callee,
            "reason": "unreachable",
            "called_at": called_at,
            "choice": "leave_number",
            "final": True,
        },
        event_id=event_id,
        source="bench",
    )


def _missed_calls(callees: Sequence[str], callers: Sequence[str]) -> Iterable[Envelope]:
    """One missed call from each caller to each callee."""
    run = uuid.uuid4().hex[:8]
    for i, callee in enumerate(callees):
        for c, caller in enumerate(callers):
            yield recorded_call(f"CA{run}{i:08d}{c:04d}", caller, callee, 60, f"storm-missed-{run}-{i}-{c}")


def count_in_block(collection: str, field: str, numbers: Sequence[str], status: str | None = None) -> int:
    """Documents of `collection` whose `field` lies in the block of `numbers` (and with `status`), counted by
    Firestore (the block is contiguous: its first and last number bound it)."""
    query = (
        store.db()
        .collection(collection)
        .where(filter=FieldFilter(field, ">=", min(numbers)))
        .where(filter=FieldFilter(field, "<=", max(numbers)))
    )
    if status is not None:
        query = query.where(filter=FieldFilter("status", "==", status))
    results = AggregationQuery(query).count(alias="n").get()
    return int(results[0][0].value)


def attach_all(carrier: CarrierClient, callees: Sequence[str], window: float) -> tuple[float, float]:
    """Every phone attaches, spread evenly over `window` seconds; returns the first and last attach (perf_counter)."""
    started = time.perf_counter()
    pace = window / len(callees)

    def attach(_: object, i: int) -> float:
        time.sleep(max(0.0, started + i * pace - time.perf_counter()))
        carrier.attach(callees[i])
        return time.perf_counter()

    done = bench.in_sessions(len(callees), ATTACH_THREADS, attach)
    return started, max(done)


def measure_storm(stage: bench.BenchStage) -> list[bench.Figure]:
    """The attach storm: seed, attach within the window, wait for the drain, count every SMS per pair."""
    subscribers = stage.count(SUBSCRIBERS)
    if subscribers <= 0:
        return []
    callees, callers = storm_callees(subscribers), storm_callers()
    config = config_for(stage.profile)
    notices_each = 1 if config is not None and config.activation_notice else 0
    bench.progress(f"  storm: seeding {subscribers} subscribers with {len(callers)} missed calls each")
    started = time.perf_counter()
    recorded = seed(stage, callees, callers, timeout=SEED_TIMEOUT_SECONDS)
    seeded = time.perf_counter() - started
    bench.progress(f"  storm: seeded in {seeded:.0f} s; attaching")
    carrier = CarrierClient(stage.stack.carrier_url)
    before = carrier.message_count()
    expected = len(callees) * (len(callers) + notices_each)
    first, last = attach_all(carrier, callees, WINDOW_SECONDS)
    try:
        bench.wait_until_count(
            lambda: carrier.message_count() - before,
            expected,
            DRAIN_TIMEOUT_SECONDS - (time.perf_counter() - first),
            "storm SMS at the carrier",
            interval=POLL_SECONDS,
        )
        drain_note = f"the first attach → the last of {expected} SMS at the carrier"
    except TimeoutError as error:
        drain_note = f"NOT drained: {error}"
    drained, arrived = time.perf_counter() - first, carrier.message_count() - before
    time.sleep(SETTLE_SECONDS)
    counted = count_storm(carrier.messages(), callees, callers, notices_each)
    pairs = len(callees) * len(callers)
    verdict = "met" if counted.exactly_once else "NOT MET"
    return [
        bench.Rate(
            "storm seed",
            seeded,
            "s",
            f"{subscribers} subscribers provisioned, {recorded} of {pairs} missed calls recorded before the attaches",
            digits=0,
        ),
        bench.Rate(
            "attach storm",
            last - first,
            "s",
            f"{subscribers} subscribers switched on, spread over the window; target ≤ {WINDOW_SECONDS:.0f} s",
        ),
        bench.Rate(
            "",
            drained,
            "s",
            f"to drain: {drain_note} ({pairs} caller SMS + {counted.notices_expected} activation notices)",
        ),
        bench.Rate("", drained - (last - first), "s", "of which after the last attach"),
        bench.Rate("", arrived / drained, "SMS/s", "over the drain"),
        bench.Rate(
            "exactly once",
            counted.once,
            "pairs",
            f"(callee, caller) with one SMS of {pairs}: {counted.missing} missing, {counted.duplicated} duplicated "
            f"({counted.extra} SMS too many); activation notices {counted.notices} of {counted.notices_expected}, "
            f"{counted.notices_wrong} subscribers with another count; target every pair once: {verdict}",
            digits=0,
        ),
    ]
