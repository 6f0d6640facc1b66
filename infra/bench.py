"""`make bench`: throughput and latency of the platform's paths on the local stack, as figures.

Everything runs on this machine (emulators included), so the absolute figures describe this
machine; the ratios against a raw ceiling measured in the same run are what to compare.

  notify path   sms.send published → SMS recorded by the carrier emulator (full stack: push,
                functions-framework, Firestore transaction, Twilio API call)
  raw ceiling   publish → push → a no-op functions-framework function (same emulator, same server)
  *100#         the USSD webhook's latency for a balance check (HMAC, two Firestore reads)
  transfers     USSD *112# → both SMS recorded, against a Firestore transaction of the same shape
  voice         the TwiML webhook's latency for a forwarded call (answer, then key 2), and
                attach → one SMS per caller for a subscriber with many missed calls from many callers
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import requests
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from emulators.carrier.client import CarrierClient
from emulators.process import Service, free_port
from functions.transfers.bench_policy import decisions_per_second
from infra import demo, stack as stack_module
from infra.functions import REPO
from shared import bus, catalog, operator, runtime, settings, signing, store
from shared.events import Envelope, utcnow

LOG_DIR = REPO / ".run" / "bench-logs"


def _wait_until(count_fn: Callable[[], int], target: int, timeout: float) -> float:
    """Seconds until count_fn() reaches target (raises on timeout)."""
    started = time.perf_counter()
    while count_fn() < target:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"only {count_fn()} of {target} after {timeout}s")
        time.sleep(0.05)
    return time.perf_counter() - started


def _publish_all(envelopes: list[Envelope]) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda chunk: bus.publish(chunk), [envelopes[i::4] for i in range(4)]))


def notify_throughput(stack: stack_module.Stack, messages: int) -> float:
    carrier = CarrierClient(stack.carrier_url)
    before = len(carrier.messages())
    recipients = [s.msisdn for s in demo.SUBSCRIBERS if s.attached]
    run = uuid.uuid4().hex[:8]
    envelopes = [
        catalog.make_envelope(
            "sms.send",
            {
                "to": recipients[i % len(recipients)],
                "template": "edge.balance.report",
                "params": {"lines": "Main balance: 12 000 so'm"},
            },
            event_id=f"bench-{run}-{i}",
            source="bench",
        )
        for i in range(messages)
    ]
    started = time.perf_counter()
    _publish_all(envelopes)
    _wait_until(lambda: len(carrier.messages()) - before, messages, timeout=300)
    return messages / (time.perf_counter() - started)


def raw_ceiling(stack: stack_module.Stack, messages: int) -> float:
    count_file = LOG_DIR / f"noop-{uuid.uuid4().hex[:8]}.count"
    count_file.write_bytes(b"")
    port = free_port()
    noop = (
        Service(
            "bench-noop",
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--source",
                str(REPO / "infra/bench_noop.py"),
                "--target",
                "noop",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            ready_url=f"http://127.0.0.1:{port}/",
            env={"VAS_BENCH_COUNT_FILE": str(count_file)},
            log_dir=LOG_DIR,
            cwd=REPO,
        )
        .start()
        .wait_ready()
    )
    try:
        publisher, subscriber = PublisherClient(), SubscriberClient()
        topic = publisher.topic_path(stack.project, "bench-ceiling")
        publisher.create_topic(name=topic)
        subscriber.create_subscription(
            request={
                "name": subscriber.subscription_path(stack.project, "bench-ceiling"),
                "topic": topic,
                "push_config": {
                    "push_endpoint": f"http://127.0.0.1:{port}/projects/{stack.project}/topics/bench-ceiling"
                },
            }
        )
        envelopes = [
            catalog.make_envelope(
                "sms.send",
                {"to": "+998901000001", "template": "edge.balance.report"},
                event_id=f"ceiling-{i}",
                source="bench",
            ).model_copy(update={"type": "bench-ceiling"})
            for i in range(messages)
        ]
        started = time.perf_counter()
        _publish_all(envelopes)
        _wait_until(lambda: count_file.stat().st_size, messages, timeout=300)
        return messages / (time.perf_counter() - started)
    finally:
        noop.stop()


def _local_credential(setting: str | None) -> str:
    """A credential the local stack always sets (infra.functions.LOCAL_ENV): the bench signs as its carrier."""
    if not setting:
        raise RuntimeError("a carrier credential is missing: the bench runs on the local stack's settings")
    return setting


def _ussd(session: requests.Session, url: str, session_id: str, msisdn: str, code: str, text: str = "") -> str:
    """One signed request from the USSD gateway; returns the screen."""
    form = {"sessionId": session_id, "serviceCode": code, "phoneNumber": msisdn, "networkCode": "43405", "text": text}
    body = requests.models.RequestEncodingMixin._encode_params(form).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        signing.USSD_SIGNATURE_HEADER: signing.sign_body(_local_credential(settings.get().ussd_gateway_secret), body),
    }
    return session.post(url, data=body, headers=headers, timeout=10).text


def _percentiles(timings: list[float]) -> tuple[float, float]:
    timings = timings[min(20, len(timings) // 10) :]  # the first requests warm connections and caches
    quantiles = statistics.quantiles(timings, n=100)
    return quantiles[49], quantiles[98]


def ussd_latency(stack: stack_module.Stack, requests_count: int) -> tuple[float, float]:
    url, session, timings = stack.url_of("edge-ussd"), requests.Session(), []
    for i in range(requests_count):
        started = time.perf_counter()
        screen = _ussd(session, url, f"bench-{i}", "+998901000001", operator.current().short_codes.balance)
        timings.append((time.perf_counter() - started) * 1000)
        if not screen.startswith("END "):
            raise RuntimeError(f"unexpected *100# answer: {screen[:200]}")
    return _percentiles(timings)


# --- transfers -----------------------------------------------------------------------------

BENCH_PAIRS = 10  # senders and as many recipients: Mobiuz lets each send/receive 100 000 so'm a day
TRANSFER = "2500"  # so'm, the smallest Mobiuz denomination: 40 a day per sender


def bench_parties() -> tuple[list[str], list[str]]:
    senders = [f"+99890200{i:04d}" for i in range(BENCH_PAIRS)]
    recipients = [f"+99890300{i:04d}" for i in range(BENCH_PAIRS)]
    return senders, recipients


def seed_transfer_parties(stack: stack_module.Stack) -> None:
    senders, recipients = bench_parties()
    demo.provision(stack, [demo.DemoSubscriber(m, "Bench", "en", main=100_000_000) for m in senders + recipients])


def transfers_throughput(stack: stack_module.Stack, transfers: int, concurrency: int) -> tuple[float, float, float]:
    """Transfers/s end to end (USSD webhook → both SMS recorded), and the *112* webhook's p50/p99."""
    carrier = CarrierClient(stack.carrier_url)
    url = stack.url_of("edge-ussd")
    senders, recipients = bench_parties()
    before = len(carrier.messages())
    run = uuid.uuid4().hex[:8]
    timings: list[float] = []
    local = threading.local()

    def one(i: int) -> None:
        local.session = getattr(local, "session", None) or requests.Session()
        started = time.perf_counter()
        screen = _ussd(
            local.session,
            url,
            f"bench-{run}-{i}",
            senders[i % BENCH_PAIRS],
            "*112#",
            f"{recipients[i % BENCH_PAIRS].lstrip('+')}*{TRANSFER}",
        )
        timings.append((time.perf_counter() - started) * 1000)
        if not screen.startswith("END "):
            raise RuntimeError(f"unexpected *112# answer: {screen[:200]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(transfers)))
    # Each accepted transfer sends two SMS: the sender's and the recipient's.
    _wait_until(lambda: len(carrier.messages()) - before, 2 * transfers, timeout=600)
    rate = transfers / (time.perf_counter() - started)
    p50, p99 = _percentiles(timings)
    return rate, p50, p99


def firestore_ceiling(transfers: int, concurrency: int) -> float:
    """Transactions/s of the transfer's shape straight on the Firestore emulator, same concurrency:
    read the marker, both subscribers, both accounts and both histories; write both accounts, two
    ledger entries, both histories, the transfer record and the marker."""
    from google.cloud import firestore

    db = firestore.Client(project=settings.get().project)
    senders, recipients = bench_parties()
    run = uuid.uuid4().hex[:8]

    def one(i: int) -> None:
        a, b = senders[i % BENCH_PAIRS], recipients[i % BENCH_PAIRS]
        # The real marker and subscribers; scratch `ceiling_*` collections stand in for the rest.
        refs = [
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
        list(pool.map(one, range(transfers)))
    return transfers / (time.perf_counter() - started)


# --- missed calls (voice) ------------------------------------------------------------------

VOICE_CALLEE = "+998904000000"  # switched off: the latency run's calls are forwarded for it
ATTACH_CALLEE = "+998904000001"  # switched off, then attached: the attach run's subscriber
VOICE_CALLER = "+998901000001"


def seed_voice_parties(stack: stack_module.Stack) -> None:
    demo.provision(
        stack,
        [demo.DemoSubscriber(m, "Bench", "en", main=100_000, attached=False) for m in (VOICE_CALLEE, ATTACH_CALLEE)],
    )


def _twilio_post(session: requests.Session, url: str, params: dict[str, str]) -> requests.Response:
    from emulators.carrier.twilio_api import signature

    headers = {"X-Twilio-Signature": signature(_local_credential(settings.get().twilio_auth_token), url, params)}
    return session.post(url, data=params, headers=headers, timeout=10)


def voice_latency(stack: stack_module.Stack, calls: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """p50/p99 of the voice webhook: the forwarded call's answer (menu), and the caller's key 2."""
    # Twilio signs the exact URL it calls, the function's path "/" included.
    url, session, run = stack.url_of("edge-voice") + "/", requests.Session(), uuid.uuid4().hex[:8]
    answers, keys = [], []
    for i in range(calls):
        params = {
            "AccountSid": _local_credential(settings.get().twilio_account_sid),
            "CallSid": f"CA{run}{i:024d}",
            "From": VOICE_CALLER,
            "To": VOICE_CALLEE,
            "ForwardedFrom": VOICE_CALLEE,
            "ForwardReason": "unreachable",
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        started = time.perf_counter()
        first = _twilio_post(session, url, params)
        answers.append((time.perf_counter() - started) * 1000)
        if first.status_code != 200:
            raise RuntimeError(f"the voice webhook answered {first.status_code}: {first.text[:200]}")
        action = _gather_action(first.text, url)
        started = time.perf_counter()
        second = _twilio_post(session, action, {**params, "CallStatus": "in-progress", "Digits": "2"})
        keys.append((time.perf_counter() - started) * 1000)
        if first.status_code != 200 or second.status_code != 200 or "<Gather" not in first.text:
            raise RuntimeError(
                f"unexpected voice answers: {first.status_code} {first.text[:200]} / "
                f"{second.status_code} {second.text[:200]}"
            )
    return _percentiles(answers), _percentiles(keys)


def _gather_action(twiml: str, url: str) -> str:
    """The absolute action URL of the answer's <Gather> (what Twilio requests with the keys)."""
    import xml.etree.ElementTree as ElementTree
    from urllib.parse import urljoin

    gather = ElementTree.fromstring(twiml).find("Gather")
    if gather is None:
        raise RuntimeError(f"no <Gather> in {twiml[:200]}")
    return urljoin(url, gather.get("action") or url)


def attach_delivery(
    stack: stack_module.Stack, callers: int, calls_each: int, timeout: float = 300
) -> tuple[float, float]:
    """Calls merged/s and SMS/s from the attach event to one SMS per caller recorded by the carrier."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from functions.missed_calls import documents

    carrier = CarrierClient(stack.carrier_url)
    run = uuid.uuid4().hex[:8]
    now = utcnow().timestamp()  # the stack's clock: the calls must look recent to its functions
    envelopes = []
    for c in range(callers):
        caller = f"+99890500{c:04d}"
        for k in range(calls_each):
            called_at = datetime.fromtimestamp(now - 60 * (calls_each - k), UTC).isoformat()
            envelopes.append(
                catalog.make_envelope(
                    "missed-call.recorded",
                    {
                        "call_sid": f"CA{run}{c:04d}{k:04d}",
                        "caller": caller,
                        "callee": ATTACH_CALLEE,
                        "reason": "unreachable",
                        "called_at": called_at,
                        "choice": "leave_number",
                        "final": True,
                    },
                    event_id=f"bench-missed-{run}-{c}-{k}",
                    source="bench",
                )
            )
    _publish_all(envelopes)
    pending = (
        store.db()
        .collection(documents.MISSED_CALLS)
        .where(filter=FieldFilter("callee", "==", ATTACH_CALLEE))
        .where(filter=FieldFilter("status", "==", "pending"))
    )
    _wait_until(lambda: len(list(pending.select([]).stream())), len(envelopes), timeout=timeout)
    before = sum(1 for m in carrier.messages() if m["to"] == ATTACH_CALLEE)
    started = time.perf_counter()
    carrier.attach(ATTACH_CALLEE)
    # One SMS per caller (plus the activation notice, the first time this subscriber attaches).
    _wait_until(
        lambda: sum(1 for m in carrier.messages() if m["to"] == ATTACH_CALLEE) - before, callers, timeout=timeout
    )
    elapsed = time.perf_counter() - started
    return len(envelopes) / elapsed, callers / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300, help="SMS events per throughput run")
    parser.add_argument("--ussd-requests", type=int, default=500)
    parser.add_argument("--transfers", type=int, default=200, help="transfers per throughput run")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel USSD sessions / transactions")
    parser.add_argument("--calls", type=int, default=300, help="forwarded calls for the voice webhook's latency")
    parser.add_argument("--callers", type=int, default=50, help="callers of the subscriber who attaches")
    parser.add_argument("--calls-each", type=int, default=4, help="missed calls per caller")
    args = parser.parse_args(argv)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stack = stack_module.start(auto_ports=True, log_dir=LOG_DIR, say=lambda *_: None)
    try:
        demo.seed(stack, say=lambda *_: None)
        ceiling = raw_ceiling(stack, args.messages)
        notify = notify_throughput(stack, args.messages)
        p50, p99 = ussd_latency(stack, args.ussd_requests)
        seed_transfer_parties(stack)
        transfer_ceiling = firestore_ceiling(args.transfers, args.concurrency)
        transfer_rate, t50, t99 = transfers_throughput(stack, args.transfers, args.concurrency)
        seed_voice_parties(stack)
        (v50, v99), (k50, k99) = voice_latency(stack, args.calls)
        merged_rate, attach_sms_rate = attach_delivery(stack, args.callers, args.calls_each)
    finally:
        stack.stop()
    decisions = decisions_per_second()
    print(
        f"notify path   {notify:8.1f} SMS/s      (sms.send published → recorded by the carrier emulator,"
        f" {args.messages} messages)"
    )
    print(f"raw ceiling   {ceiling:8.1f} events/s   (publish → push → no-op function, same emulator)")
    print(f"ratio         {notify / ceiling:8.2f}            (notify path / raw ceiling)")
    print(f"*100# USSD    p50 {p50:6.1f} ms  p99 {p99:6.1f} ms   ({args.ussd_requests} sequential requests)")
    print()
    print(
        f"transfers     {transfer_rate:8.1f} /s         (USSD *112# → both SMS recorded, {args.transfers} transfers,"
        f" {args.concurrency} at once)"
    )
    print(
        f"tx ceiling    {transfer_ceiling:8.1f} /s         (Firestore emulator, a transaction of the same shape,"
        f" {args.concurrency} at once)"
    )
    print(f"ratio         {transfer_rate / transfer_ceiling:8.2f}            (target ≥ 0.5)")
    print(f"*112# USSD    p50 {t50:6.1f} ms  p99 {t99:6.1f} ms   (target p99 ≤ 50 ms, under that load)")
    print(f"policy        {decisions:8.0f} decisions/s (one process, five presets; target ≥ 50 000)")
    print()
    print(
        f"voice answer  p50 {v50:6.1f} ms  p99 {v99:6.1f} ms   (forwarded call → caller menu TwiML, {args.calls}"
        f" sequential; target p99 ≤ 50 ms)"
    )
    print(f"voice key 2   p50 {k50:6.1f} ms  p99 {k99:6.1f} ms   (the caller's choice → TwiML)")
    print(
        f"attach        {merged_rate:8.1f} calls/s    ({args.callers} callers × {args.calls_each} missed calls merged"
        f" → {args.callers} SMS recorded)"
    )
    print(f"              {attach_sms_rate:8.1f} SMS/s      (attach event → one SMS per caller at the carrier)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
