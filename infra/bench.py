"""`make bench`: throughput and latency of the platform's paths on the local stack, as figures.

Everything runs on this machine (emulators included), so the absolute figures describe this
machine; the ratios against a raw ceiling measured in the same run are what to compare.

  notify path   sms.send published → SMS recorded by the carrier emulator (full stack: push,
                functions-framework, Firestore transaction, Twilio API call)
  raw ceiling   publish → push → a no-op functions-framework function (same emulator, same server)
  *100#         the USSD webhook's latency for a balance check (HMAC, two Firestore reads)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from google.cloud import pubsub_v1

from emulators.carrier.client import CarrierClient
from emulators.process import Service, free_port
from infra import demo, stack as stack_module
from infra.functions import REPO
from shared import bus, catalog, operator, settings, signing

LOG_DIR = REPO / ".run" / "bench-logs"


def _wait_until(count_fn, target: int, timeout: float) -> float:
    """Seconds until count_fn() reaches target (raises on timeout)."""
    started = time.perf_counter()
    while count_fn() < target:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"only {count_fn()} of {target} after {timeout}s")
        time.sleep(0.05)
    return time.perf_counter() - started


def _publish_all(envelopes) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda chunk: bus.publish(chunk), [envelopes[i::4] for i in range(4)]))


def notify_throughput(stack, messages: int) -> float:
    carrier = CarrierClient(stack.carrier_url)
    before = len(carrier.messages())
    recipients = [s.msisdn for s in demo.SUBSCRIBERS if s.attached]
    run = uuid.uuid4().hex[:8]
    envelopes = [catalog.make_envelope("sms.send", {"to": recipients[i % len(recipients)],
                                                    "template": "edge.balance.report",
                                                    "params": {"lines": "Main balance: 12 000 so'm"}},
                                       event_id=f"bench-{run}-{i}", source="bench")
                 for i in range(messages)]
    started = time.perf_counter()
    _publish_all(envelopes)
    _wait_until(lambda: len(carrier.messages()) - before, messages, timeout=300)
    return messages / (time.perf_counter() - started)


def raw_ceiling(stack, messages: int) -> float:
    count_file = LOG_DIR / f"noop-{uuid.uuid4().hex[:8]}.count"
    count_file.write_bytes(b"")
    port = free_port()
    noop = Service("bench-noop",
                   [sys.executable, "-m", "functions_framework", "--source", str(REPO / "infra/bench_noop.py"),
                    "--target", "noop", "--host", "127.0.0.1", "--port", str(port)],
                   ready_url=f"http://127.0.0.1:{port}/", env={"VAS_BENCH_COUNT_FILE": str(count_file)},
                   log_dir=LOG_DIR, cwd=REPO).start().wait_ready()
    try:
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(stack.project, "bench-ceiling")
        publisher.create_topic(name=topic)
        subscriber.create_subscription(request={
            "name": subscriber.subscription_path(stack.project, "bench-ceiling"), "topic": topic,
            "push_config": {"push_endpoint": f"http://127.0.0.1:{port}/projects/{stack.project}/topics/bench-ceiling"}})
        envelopes = [catalog.make_envelope("sms.send", {"to": "+998901000001", "template": "edge.balance.report"},
                                           event_id=f"ceiling-{i}", source="bench").model_copy(update={"type": "bench-ceiling"})
                     for i in range(messages)]
        started = time.perf_counter()
        _publish_all(envelopes)
        _wait_until(lambda: count_file.stat().st_size, messages, timeout=300)
        return messages / (time.perf_counter() - started)
    finally:
        noop.stop()


def ussd_latency(stack, requests_count: int) -> tuple[float, float]:
    url = stack.url_of("edge-ussd")
    secret = settings.get().ussd_gateway_secret
    code = operator.current().short_codes.balance
    session = requests.Session()
    timings = []
    for i in range(requests_count):
        body = (f"sessionId=bench-{i}&serviceCode={requests.utils.quote(code)}"
                f"&phoneNumber=%2B998901000001&networkCode=43405&text=").encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   signing.USSD_SIGNATURE_HEADER: signing.sign_body(secret, body)}
        started = time.perf_counter()
        response = session.post(url, data=body, headers=headers, timeout=10)
        timings.append((time.perf_counter() - started) * 1000)
        if not response.text.startswith("END "):
            raise RuntimeError(f"unexpected *100# answer: {response.status_code} {response.text[:200]}")
    timings = timings[min(20, len(timings) // 10):]  # the first requests warm connections and caches
    quantiles = statistics.quantiles(timings, n=100)
    return quantiles[49], quantiles[98]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300, help="SMS events per throughput run")
    parser.add_argument("--ussd-requests", type=int, default=500)
    args = parser.parse_args(argv)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stack = stack_module.start(auto_ports=True, log_dir=LOG_DIR, say=lambda *_: None)
    try:
        demo.seed(stack, say=lambda *_: None)
        ceiling = raw_ceiling(stack, args.messages)
        notify = notify_throughput(stack, args.messages)
        p50, p99 = ussd_latency(stack, args.ussd_requests)
    finally:
        stack.stop()
    print(f"notify path   {notify:8.1f} SMS/s      (sms.send published → recorded by the carrier emulator, {args.messages} messages)")
    print(f"raw ceiling   {ceiling:8.1f} events/s   (publish → push → no-op function, same emulator)")
    print(f"ratio         {notify / ceiling:8.2f}            (notify path / raw ceiling)")
    print(f"*100# USSD    p50 {p50:6.1f} ms  p99 {p99:6.1f} ms   ({args.ussd_requests} sequential requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
