"""What every section of `make bench` shares: the figures it prints, the stage it measures on, and the
signed requests and timings the sections make.

A service's measurements are its `functions/<service>/bench.py`, declaring `SECTION = BenchSection(...)`
(infra/sections.py finds it); they get a `BenchStage` and return their `Figure`s, which infra/bench.py prints.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from infra import demo
from infra.demo_common import DemoSubscriber
from infra.sections import always
from infra.stack import Stack
from shared import bus, runtime, settings, signing, store
from shared.events import Envelope
from shared.operator import OperatorProfile


@dataclass(frozen=True)
class Rate:
    """A printed line: a rate (or a ratio) with its unit and what it measures or is held to."""

    label: str
    value: float
    unit: str
    note: str
    digits: int = 1

    def line(self) -> str:
        return f"{self.label:<14}{self.value:8.{self.digits}f} {self.unit:<10} ({self.note})"


@dataclass(frozen=True)
class Latency:
    """A printed line: a latency's median and 99th percentile in milliseconds, and what was timed."""

    label: str
    p50: float
    p99: float
    note: str

    def line(self) -> str:
        return f"{self.label:<14}p50 {self.p50:6.1f} ms  p99 {self.p99:6.1f} ms   ({self.note})"


Figure = Rate | Latency


def ratio(measured: float, ceiling: float, note: str) -> Rate:
    """The line comparing a path with its ceiling measured in the same run."""
    return Rate("ratio", measured / ceiling, "", note, digits=2)


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

    def count(self, option: str) -> int:
        """The value of `--<option>` (a BenchOption the section declares)."""
        return self.counts[option]

    def provision(self, subscribers: Sequence[DemoSubscriber]) -> None:
        """More subscribers in the BSS and the network, topped up (as the demo seeds its own)."""
        demo.provision(self.stack, subscribers)

    def transaction_ceiling(self, pairs: Sequence[tuple[str, str]], transactions: int, concurrency: int) -> float:
        """Transactions/s of a transfer's shape straight on the Firestore emulator, `concurrency` at once:
        read the marker, both subscribers, both accounts and both histories; write both accounts, two
        ledger entries, both histories, the transfer record and the marker."""
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

            return runtime.transact(db, body, label="ceiling")  # contention retried as the functions retry it

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(transactions)))
        return transactions / (time.perf_counter() - started)


@dataclass(frozen=True)
class BenchSection:
    """A service's measurements in `make bench` (`SECTION` in functions/<service>/bench.py).

    order: where its figures print among the others (lower first; the measurements run in that order
    too); measure: its figures, taken on the running stack; measure_alone: figures taken once the stack
    has stopped (pure in-process work that should not share the machine with the emulators), printed
    after the others of the section; options: the counts it reads from the command line.
    """

    order: int
    measure: Callable[[BenchStage], list[Figure]]
    measure_alone: Callable[[], list[Figure]] | None = None
    options: tuple[BenchOption, ...] = ()
    switched_on: Callable[[OperatorProfile], bool] = always


def wait_until_count(count: Callable[[], int], target: int, timeout: float) -> float:
    """Seconds until count() reaches target (raises on timeout)."""
    started = time.perf_counter()
    while count() < target:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"only {count()} of {target} after {timeout}s")
        time.sleep(0.05)
    return time.perf_counter() - started


def publish_all(envelopes: list[Envelope]) -> None:
    """Publish from four threads, as a busy producer would."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda chunk: bus.publish(chunk), [envelopes[i::4] for i in range(4)]))


def local_credential(setting: str | None) -> str:
    """A credential the local stack always sets (infra.functions.LOCAL_ENV): the bench signs as its carrier."""
    if not setting:
        raise RuntimeError("a carrier credential is missing: the bench runs on the local stack's settings")
    return setting


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
