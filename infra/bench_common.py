"""What every section of `make bench` shares: the figures it prints, the stage it measures on, and the
signed requests and timings the sections make.

A service's measurements are its `functions/<service>/bench.py`, declaring `SECTION = BenchSection(...)`
(infra/sections.py finds it); they get a `BenchStage` and return their `Figure`s, which infra/bench.py prints.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import TypeVar

import requests
from google.api_core.exceptions import Aborted, GoogleAPICallError

from infra import cost, demo
from infra.demo_common import DemoSubscriber
from infra.sections import always
from infra.stack import Stack
from shared import bus, runtime, settings, signing, store
from shared.events import Envelope
from shared.operator import OperatorProfile

T = TypeVar("T")


@dataclass(frozen=True)
class Spread:
    """How a figure varied over the bench's runs: the lowest and highest of its runs."""

    low: float
    high: float
    runs: int

    def text(self, digits: int) -> str:
        if self.runs < 2:
            return ""  # one run: nothing to spread
        return f"  [{self.runs} runs: {self.low:.{digits}f}–{self.high:.{digits}f}]"


def _spread(values: Sequence[float]) -> Spread:
    return Spread(min(values), max(values), len(values))


@dataclass(frozen=True)
class Rate:
    """A printed line: a rate (or a ratio) with its unit and what it measures or is held to.

    Over several runs: the median, and the spread of the runs. `gave_up`: operations the measurement
    abandoned (a ceiling's transactions that never committed under contention), said in the line.
    """

    label: str
    value: float
    unit: str
    note: str
    digits: int = 1
    spread: Spread | None = None
    gave_up: int = 0

    def line(self) -> str:
        note = self.note + (f"; {self.gave_up} gave up under contention, not counted" if self.gave_up else "")
        tail = self.spread.text(self.digits) if self.spread else ""
        return f"{self.label:<14}{self.value:8.{self.digits}f} {self.unit:<10} ({note}){tail}"

    @staticmethod
    def summary(runs: Sequence[Rate]) -> Rate:
        values = [run.value for run in runs]
        return replace(
            runs[0], value=statistics.median(values), spread=_spread(values), gave_up=sum(r.gave_up for r in runs)
        )


@dataclass(frozen=True)
class Latency:
    """A printed line: a latency's median and 99th percentile in milliseconds, and what was timed.

    Over several runs: the median of each, and the spread of the p99s.
    """

    label: str
    p50: float
    p99: float
    note: str
    spread: Spread | None = None

    def line(self) -> str:
        tail = self.spread.text(1).replace(": ", ": p99 ") if self.spread else ""
        return f"{self.label:<14}p50 {self.p50:6.1f} ms  p99 {self.p99:6.1f} ms   ({self.note}){tail}"

    @staticmethod
    def summary(runs: Sequence[Latency]) -> Latency:
        p99s = [run.p99 for run in runs]
        return replace(
            runs[0],
            p50=statistics.median(run.p50 for run in runs),
            p99=statistics.median(p99s),
            spread=_spread(p99s),
        )


@dataclass(frozen=True)
class Cost:
    """A printed line: one count per event, the design's minimum next to it and their ratio (or a dollar figure
    without a minimum)."""

    label: str
    item: str
    value: float
    unit: str
    minimum: float | None = None
    note: str = ""
    spread: Spread | None = None

    def line(self) -> str:
        text = f"{self.label:<14}{self.item:<13}{self.value:8.2f} {self.unit:<10}"
        if self.minimum is not None:
            text += f" minimum {self.minimum:6.2f}"
            if self.minimum:
                text += f"  ratio {self.value / self.minimum:5.2f}"
        text += f"  ({self.note})" if self.note else ""
        if self.spread and self.spread.runs > 1:
            text += self.spread.text(2)
            if self.minimum:
                text += f" ratio {self.spread.low / self.minimum:.2f}–{self.spread.high / self.minimum:.2f}"
        return text

    @staticmethod
    def summary(runs: Sequence[Cost]) -> Cost:
        values = [run.value for run in runs]
        return replace(runs[0], value=statistics.median(values), spread=_spread(values))


@dataclass(frozen=True)
class Memory:
    """A printed line: one function's resident memory over the soak (MB) and its growth against the target."""

    label: str
    start: float
    end: float
    peak: float
    growth: float  # the last third's mean over the first third's, minus 1
    note: str
    spread: Spread | None = None

    def line(self) -> str:
        tail = self.spread.text(1).replace(": ", ": growth ") if self.spread else ""
        return (
            f"{self.label:<28}start {self.start:6.1f} MB  end {self.end:6.1f} MB  max {self.peak:6.1f} MB  "
            f"growth {100 * self.growth:+5.1f} %  ({self.note}){tail}"
        )

    @staticmethod
    def summary(runs: Sequence[Memory]) -> Memory:
        growths = [100 * run.growth for run in runs]
        return replace(runs[len(runs) // 2], spread=_spread(growths))


Figure = Rate | Latency | Cost | Memory


def summarise(runs: Sequence[Sequence[Figure]]) -> list[Figure]:
    """One section's figures over several runs, figure by figure: medians, with the spread of the runs."""
    summaries: list[Figure] = []
    for same in zip(*runs, strict=True):
        kind = type(same[0])
        if any(type(figure) is not kind or figure.label != same[0].label for figure in same):
            raise ValueError(f"runs disagree on their figures: {[figure.label for figure in same]}")
        summaries.append(kind.summary(same))
    return summaries


def ratio(measured: float, ceiling: float, note: str) -> Rate:
    """The line comparing a path with its ceiling measured in the same run."""
    return Rate("ratio", measured / ceiling, "", note, digits=2)


def _dollars(counts: cost.Usage | cost.Minimum, message_bytes: float, cpu_ms: float) -> dict[str, float]:
    return cost.dollars_per_million(
        counts.reads, counts.writes, counts.deletes, counts.published, message_bytes, counts.invocations, cpu_ms
    )


def cost_figures(event: str, usage: cost.Usage, minimum: cost.Minimum, unit: str) -> list[Figure]:
    """What one event cost (`unit`: "/SMS", "/transfer"…), each count next to the design's minimum, then
    US dollars per million events at list prices, measured and at the minimum."""
    label = f"cost {event}"
    invoked = ", ".join(f"{name} {n:.2f}" for name, n in usage.by_function.items())
    size = usage.published_bytes / usage.published if usage.published else 0
    measured, least = _dollars(usage, size, usage.cpu_ms), _dollars(minimum, size, 0.0)
    return [
        Cost(label, "FS reads", usage.reads, unit, minimum.reads),
        Cost("", "FS writes", usage.writes, unit, minimum.writes, "target ratio ≤ 1.25"),
        Cost("", "FS deletes", usage.deletes, unit, minimum.deletes),
        Cost("", "FS tx commits", usage.commits, unit, minimum.commits),
        Cost("", "published", usage.published, unit, minimum.published, "Pub/Sub messages"),
        Cost("", "delivered", usage.delivered, unit, minimum.delivered, "push deliveries"),
        Cost("", "invocations", usage.invocations, unit, minimum.invocations, invoked),
        Cost("", "CPU", usage.cpu_ms, "ms" + unit, None, "user+system of every function process"),
        Cost(
            "",
            "US$/million",
            sum(measured.values()),
            "events",
            sum(least.values()),
            ", ".join(f"{service} {dollars:.2f}" for service, dollars in measured.items()) + "; minimum without CPU",
        ),
    ]


@dataclass(frozen=True)
class BenchOption:
    """A count a section's measurements take from the command line (`--name`, an integer)."""

    name: str
    default: int
    help: str | None = None


@dataclass(frozen=True)
class BenchStage:
    """The running stack and its operator profile, the seeded subscribers, the raw ceiling measured in this
    run, and the counts asked for."""

    stack: Stack
    profile: OperatorProfile
    subscribers: tuple[DemoSubscriber, ...]
    messages: int  # events per throughput run
    raw_ceiling: float  # events/s: publish → push → a no-op function, same emulator
    counts: Mapping[str, int]
    meter: cost.CostMeter  # what the stack's function processes did, around a path
    run: int = 0  # which of the bench's runs (0, 1, …): a run that spends a daily limit takes fresh parties

    def costs(self, events: int) -> AbstractContextManager[list[cost.Usage]]:
        """Around a path of `events` business events: holds their Usage per event once the block ends."""
        return self.meter.around(events)

    def count(self, option: str) -> int:
        """The value of `--<option>` (a BenchOption the section declares)."""
        return self.counts[option]

    def provision(self, subscribers: Sequence[DemoSubscriber]) -> None:
        """More subscribers in the BSS and the network, topped up (as the demo seeds its own)."""
        demo.provision(self.stack, subscribers)

    def transaction_ceiling(
        self, pairs: Sequence[tuple[str, str]], transactions: int, concurrency: int
    ) -> TransactionCeiling:
        """Transactions/s of a transfer's shape straight on the Firestore emulator, `concurrency` at once:
        read the marker, both subscribers, both accounts and both histories; write both accounts, two
        ledger entries, both histories, the transfer record and the marker. One sender's transactions take
        turns, as the path's ordering key on the sender makes its transfers do.

        A transaction that still cannot commit after the functions' retries (the emulator resolves lock
        conflicts by a timeout) is counted as given up, not raised: the rate counts the committed ones."""
        from google.cloud import firestore

        db = firestore.Client(project=settings.get().project)
        run = uuid.uuid4().hex[:8]

        def one(i: int) -> None:
            a, b = pairs[i % len(pairs)]
            refs = [
                # The real marker and subscribers; scratch `ceiling_*` collections stand in for the rest.
                db.collection(store.PROCESSED).document(f"ceiling-{run}-{i}"),
                db.collection(store.SUBSCRIBERS).document(a),
                db.collection(store.SUBSCRIBERS).document(b),
                db.document(f"ceiling_accounts/{a}"),
                db.document(f"ceiling_accounts/{b}"),
                db.document(f"ceiling_history/{a}"),
                db.document(f"ceiling_history/{b}"),
            ]

            @firestore.transactional
            def body(txn: firestore.Transaction) -> None:
                snapshots = {s.reference.path: s for s in db.get_all(refs, transaction=txn)}
                for ref in refs[3:]:
                    current = snapshots[ref.path].to_dict() or {}
                    txn.set(ref, {"n": current.get("n", 0) + 1, "at": i})
                txn.create(db.document(f"ceiling_entries/{run}-{i}-debit"), {"amount": -250_000})
                txn.create(db.document(f"ceiling_entries/{run}-{i}-credit"), {"amount": 250_000})
                txn.create(db.document(f"ceiling_transfers/{run}-{i}"), {"sender": a, "recipient": b})
                txn.create(refs[0], {"outbox": []})

            runtime.transact(db, body, label="ceiling")  # contention retried as the functions retry it

        def committed(i: int) -> bool:
            try:
                one(i)
            except (ValueError, GoogleAPICallError) as error:
                if not _gave_up(error):
                    raise
                return False
            return True

        started = time.perf_counter()
        outcomes = in_turns(range(transactions), lambda i: pairs[i % len(pairs)][0], committed, concurrency)
        done, seconds = sum(outcomes), time.perf_counter() - started
        progress(f"  transaction ceiling: {done} of {transactions} committed in {seconds:.1f} s")
        return TransactionCeiling(done / seconds, transactions - done)


def in_turns(items: Iterable[int], key: Callable[[int], str], work: Callable[[int], T], concurrency: int) -> list[T]:
    """`work` on every item, `concurrency` at once but one item of a key at a time, in order within the key:
    what the path's subscription with ordering keys does (its transactions never contend with their own key's)."""
    waiting: deque[int] = deque(items)
    busy: set[str] = set()
    results: dict[int, T] = {}
    turn = threading.Condition()

    def worker() -> None:
        while True:
            with turn:
                while True:
                    if not waiting:
                        return
                    # The first item whose key is free; earlier items of a busy key keep their place.
                    item = next((i for i in waiting if key(i) not in busy), None)
                    if item is not None:
                        break
                    turn.wait()
                waiting.remove(item)
                busy.add(key(item))
            try:
                results[item] = work(item)
            finally:
                with turn:
                    busy.discard(key(item))
                    turn.notify_all()

    with ThreadPoolExecutor(concurrency) as pool:
        for running in [pool.submit(worker) for _ in range(concurrency)]:
            running.result()
    return [results[i] for i in sorted(results)]


@dataclass(frozen=True)
class TransactionCeiling:
    """Committed transactions/s, and how many gave up under contention (not counted in the rate)."""

    rate: float
    gave_up: int


def _gave_up(error: Exception) -> bool:
    """A transaction abandoned for contention: the client's attempts spent, or the emulator's lock timeout."""
    text = str(error)
    return isinstance(error, Aborted) or "Failed to commit transaction" in text or "lock timeout" in text.lower()


SoakLoad = Callable[[int], int]  # one round of a service's steady load (the round's number) → SMS it will send


@dataclass(frozen=True)
class BenchSection:
    """A service's measurements in `make bench` (`SECTION` in functions/<service>/bench.py).

    order: where its figures print among the others (lower first; the measurements run in that order
    too); measure: its figures, taken on the running stack; measure_alone: figures taken once the stack
    has stopped (pure in-process work that should not share the machine with the emulators), printed
    after the others of the section; measure_once: figures taken once on the running stack after the runs
    (a load too long to repeat), printed after the section's runs; soak: its share of the soak's steady mixed
    load (infra/bench_soak.py): prepares its parties and returns one round of load; options: the counts it
    reads from the command line.
    """

    order: int
    measure: Callable[[BenchStage], list[Figure]]
    measure_alone: Callable[[], list[Figure]] | None = None
    options: tuple[BenchOption, ...] = ()
    switched_on: Callable[[OperatorProfile], bool] = always
    measure_once: Callable[[BenchStage], list[Figure]] | None = None
    soak: Callable[[BenchStage], SoakLoad] | None = None

    @property
    def name(self) -> str:
        """The service that measures (the package of its bench module), as progress and wall times name it."""
        return self.measure.__module__.rsplit(".", 2)[-2]


def progress(text: str) -> None:
    """A line on stderr as the bench goes (stdout holds the figures): where the time goes, while it goes."""
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def wait_until_count(
    count: Callable[[], int], target: int, timeout: float, what: str = "events", interval: float = 0.05
) -> float:
    """Seconds until count() reaches target (raises on timeout, saying what was awaited).

    `interval`: the pause between two counts; longer for a count that costs its source (the carrier's whole list).
    """
    started = time.perf_counter()
    report = started + REPORT_SECONDS
    while (reached := count()) < target:
        now = time.perf_counter()
        if now - started > timeout:
            raise TimeoutError(f"only {reached} of {target} {what} after {timeout:.0f}s")
        if now >= report:  # a long wait says how far it got: a count that stalls shows as one
            progress(f"  {reached} of {target} {what} after {now - started:.0f} s")
            report += REPORT_SECONDS
        time.sleep(interval)
    elapsed = time.perf_counter() - started
    if elapsed > SLOW_WAIT_SECONDS:
        progress(f"  waited {elapsed:.1f} s for {target} {what}")
    return elapsed


SLOW_WAIT_SECONDS = 5.0  # a wait longer than this is said on stderr
REPORT_SECONDS = 30.0  # a wait still going says how far it got this often


def publish_all(envelopes: list[Envelope]) -> None:
    """Publish from four threads, as a busy producer would."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda chunk: bus.publish(chunk), [envelopes[i::4] for i in range(4)]))


def local_credential(setting: str | None) -> str:
    """A credential the local stack always sets (infra.functions.LOCAL_ENV): the bench signs as its carrier."""
    if not setting:
        raise RuntimeError("a carrier credential is missing: the bench runs on the local stack's settings")
    return setting


# The platform's own counts (infra/bench.py declares them): concurrent webhook sessions, the soak's minutes.
SESSIONS, SOAK_MINUTES = "sessions", "soak-minutes"
SOAK_ROUND_SECONDS = 5  # the soak's pace: every service's round of load, once every this many seconds


def in_sessions(count: int, sessions: int, one: Callable[[requests.Session, int], T]) -> list[T]:
    """one(session, i) for i in range(count), `sessions` at once (threads, each with its own HTTP session)."""
    local = threading.local()

    def call(i: int) -> T:
        if getattr(local, "session", None) is None:
            local.session = requests.Session()
        return one(local.session, i)

    with ThreadPoolExecutor(sessions) as pool:
        return list(pool.map(call, range(count)))


def milliseconds_since(started: float) -> float:
    """Milliseconds from a time.perf_counter() reading until now."""
    return (time.perf_counter() - started) * 1000


def ussd(session: requests.Session, url: str, session_id: str, msisdn: str, code: str, text: str = "") -> str:
    """One signed request from the USSD gateway; returns the screen."""
    form = {"sessionId": session_id, "serviceCode": code, "phoneNumber": msisdn, "networkCode": "43405", "text": text}
    body = requests.models.RequestEncodingMixin._encode_params(form).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        signing.USSD_SIGNATURE_HEADER: signing.sign_body(local_credential(settings.get().ussd_gateway_secret), body),
    }
    return session.post(url, data=body, headers=headers, timeout=10).text


def twilio_post(session: requests.Session, url: str, params: dict[str, str]) -> requests.Response:
    """One signed request from Twilio to a voice webhook."""
    from emulators.carrier.twilio_api import signature

    headers = {"X-Twilio-Signature": signature(local_credential(settings.get().twilio_auth_token), url, params)}
    return session.post(url, data=params, headers=headers, timeout=10)


def percentiles(timings: list[float]) -> tuple[float, float]:
    """p50 and p99 of the timings, the warm-up left out."""
    timings = timings[min(20, len(timings) // 10) :]  # the first requests warm connections and caches
    quantiles = statistics.quantiles(timings, n=100)
    return quantiles[49], quantiles[98]
