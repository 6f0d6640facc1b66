"""Missed calls' measurements in `make bench` (infra/bench.py).

voice         the TwiML webhook's latency for a forwarded call (answer, then key 2)
attach        attach → one SMS per caller for a subscriber with many missed calls from many callers
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime
from urllib.parse import urljoin

import requests
from google.cloud.firestore_v1.base_query import FieldFilter

from emulators.carrier.client import CarrierClient
from functions.missed_calls import documents
from functions.missed_calls.config import config_for
from infra import bench_common as bench
from infra.demo_common import DemoSubscriber
from shared import catalog, settings, store
from shared.events import utcnow
from shared.operator import OperatorProfile

VOICE_CALLEE = "+998904000000"  # switched off: the latency run's calls are forwarded for it
ATTACH_CALLEE = "+998904000001"  # switched off, then attached: the attach run's subscriber
VOICE_CALLER = "+998901000001"
CALLS, CALLERS, CALLS_EACH = "calls", "callers", "calls-each"  # the section's command-line counts


def voice_latency(stage: bench.BenchStage, calls: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """p50/p99 of the voice webhook: the forwarded call's answer (menu), and the caller's key 2."""
    # Twilio signs the exact URL it calls, the function's path "/" included.
    url, session, run = stage.stack.url_of("edge-voice") + "/", requests.Session(), uuid.uuid4().hex[:8]
    answers, keys = [], []
    for i in range(calls):
        params = {
            "AccountSid": bench.local_credential(settings.get().twilio_account_sid),
            "CallSid": f"CA{run}{i:024d}",
            "From": VOICE_CALLER,
            "To": VOICE_CALLEE,
            "ForwardedFrom": VOICE_CALLEE,
            "ForwardReason": "unreachable",
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        started = time.perf_counter()
        first = bench.twilio_post(session, url, params)
        answers.append((time.perf_counter() - started) * 1000)
        if first.status_code != 200:
            raise RuntimeError(f"the voice webhook answered {first.status_code}: {first.text[:200]}")
        action = _gather_action(first.text, url)
        started = time.perf_counter()
        second = bench.twilio_post(session, action, {**params, "CallStatus": "in-progress", "Digits": "2"})
        keys.append((time.perf_counter() - started) * 1000)
        if first.status_code != 200 or second.status_code != 200 or "<Gather" not in first.text:
            raise RuntimeError(
                f"unexpected voice answers: {first.status_code} {first.text[:200]} / "
                f"{second.status_code} {second.text[:200]}"
            )
    return bench.percentiles(answers), bench.percentiles(keys)


def _gather_action(twiml: str, url: str) -> str:
    """The absolute action URL of the answer's <Gather> (what Twilio requests with the keys)."""
    gather = ElementTree.fromstring(twiml).find("Gather")
    if gather is None:
        raise RuntimeError(f"no <Gather> in {twiml[:200]}")
    return urljoin(url, gather.get("action") or url)


def attach_delivery(
    stage: bench.BenchStage, callers: int, calls_each: int, timeout: float = 300
) -> tuple[float, float]:
    """Calls merged/s and SMS/s from the attach event to one SMS per caller recorded by the carrier."""
    carrier = CarrierClient(stage.stack.carrier_url)
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
    bench.publish_all(envelopes)
    pending = (
        store.db()
        .collection(documents.MISSED_CALLS)
        .where(filter=FieldFilter("callee", "==", ATTACH_CALLEE))
        .where(filter=FieldFilter("status", "==", "pending"))
    )
    bench.wait_until_count(lambda: len(list(pending.select([]).stream())), len(envelopes), timeout=timeout)
    before = sum(1 for m in carrier.messages() if m["to"] == ATTACH_CALLEE)
    started = time.perf_counter()
    carrier.attach(ATTACH_CALLEE)
    # One SMS per caller (plus the activation notice, the first time this subscriber attaches).
    bench.wait_until_count(
        lambda: sum(1 for m in carrier.messages() if m["to"] == ATTACH_CALLEE) - before, callers, timeout=timeout
    )
    elapsed = time.perf_counter() - started
    return len(envelopes) / elapsed, callers / elapsed


def measure(stage: bench.BenchStage) -> list[bench.Figure]:
    """The voice webhook's latencies, and the attach's delivery of one SMS per caller."""
    calls, callers, calls_each = stage.count(CALLS), stage.count(CALLERS), stage.count(CALLS_EACH)
    stage.provision(
        [DemoSubscriber(m, "Bench", "en", main=100_000, attached=False) for m in (VOICE_CALLEE, ATTACH_CALLEE)]
    )
    (v50, v99), (k50, k99) = voice_latency(stage, calls)
    merged_rate, attach_sms_rate = attach_delivery(stage, callers, calls_each)
    return [
        bench.Latency(
            "voice answer", v50, v99, f"forwarded call → caller menu TwiML, {calls} sequential; target p99 ≤ 50 ms"
        ),
        bench.Latency("voice key 2", k50, k99, "the caller's choice → TwiML"),
        bench.Rate(
            "attach",
            merged_rate,
            "calls/s",
            f"{callers} callers × {calls_each} missed calls merged → {callers} SMS recorded",
        ),
        bench.Rate("", attach_sms_rate, "SMS/s", "attach event → one SMS per caller at the carrier"),
    ]


def _switched_on(profile: OperatorProfile) -> bool:
    return config_for(profile) is not None


SECTION = bench.BenchSection(
    order=40,
    measure=measure,
    options=(
        bench.BenchOption(CALLS, 300, "forwarded calls for the voice webhook's latency"),
        bench.BenchOption(CALLERS, 50, "callers of the subscriber who attaches"),
        bench.BenchOption(CALLS_EACH, 4, "missed calls per caller"),
    ),
    switched_on=_switched_on,
)
