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
from infra.cost import SMS_MINIMUM, Minimum
from infra.demo_common import DemoSubscriber
from shared import catalog, settings, store
from shared.events import utcnow
from shared.operator import OperatorProfile

# A missed call at the least, merged and reported: its recorded event's transaction reads the marker and the
# callee and writes the call and the marker; the attach's reads each pending call and marks it reported.
CALL_MINIMUM = Minimum(reads=3, writes=3, commits=1, delivered=1, invocations=1)
# One per caller: the SMS that reports the caller's calls (its sms.send published by this service).
CALLER_MINIMUM = SMS_MINIMUM + Minimum(reads=0, writes=0, published=1)
# One per attach: the network webhook publishes it; the consumer's transaction reads the marker and the
# callee's settings and writes them both.
ATTACH_MINIMUM = Minimum(reads=2, writes=2, commits=1, published=1, delivered=1, invocations=2)


def missed_call_minimum(callers: int, calls_each: int) -> Minimum:
    """What one missed call needs at the least when `callers` callers called `calls_each` times each."""
    calls = callers * calls_each
    return CALL_MINIMUM + CALLER_MINIMUM * (1 / calls_each) + ATTACH_MINIMUM * (1 / calls)


def callees(run: int) -> tuple[str, str]:
    """The switched-off subscribers of a run: the voice latency's callee, and the one who attaches (fresh ones
    each run, so each attach finds only its own run's calls)."""
    return f"+99890400{2 * run:04d}", f"+99890400{2 * run + 1:04d}"


VOICE_CALLER = "+998901000001"
CALLS, CALLERS, CALLS_EACH = "calls", "callers", "calls-each"  # the section's command-line counts


def voice_latency(stage: bench.BenchStage, calls: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """p50/p99 of the voice webhook: the forwarded call's answer (menu), and the caller's key 2."""
    callee = callees(stage.run)[0]
    # Twilio signs the exact URL it calls, the function's path "/" included.
    url, session, run = stage.stack.url_of("edge-voice") + "/", requests.Session(), uuid.uuid4().hex[:8]
    answers, keys = [], []
    for i in range(calls):
        params = {
            "AccountSid": bench.local_credential(settings.get().twilio_account_sid),
            "CallSid": f"CA{run}{i:024d}",
            "From": VOICE_CALLER,
            "To": callee,
            "ForwardedFrom": callee,
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
    run, callee = uuid.uuid4().hex[:8], callees(stage.run)[1]
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
                        "callee": callee,
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
        .where(filter=FieldFilter("callee", "==", callee))
        .where(filter=FieldFilter("status", "==", "pending"))
    )
    bench.wait_until_count(lambda: len(list(pending.select([]).stream())), len(envelopes), timeout=timeout)
    before = sum(1 for m in carrier.messages() if m["to"] == callee)
    started = time.perf_counter()
    carrier.attach(callee)
    # One SMS per caller (plus the activation notice, the first time this subscriber attaches).
    bench.wait_until_count(
        lambda: sum(1 for m in carrier.messages() if m["to"] == callee) - before, callers, timeout=timeout
    )
    elapsed = time.perf_counter() - started
    return len(envelopes) / elapsed, callers / elapsed


def measure(stage: bench.BenchStage) -> list[bench.Figure]:
    """The voice webhook's latencies, and the attach's delivery of one SMS per caller."""
    calls, callers, calls_each = stage.count(CALLS), stage.count(CALLERS), stage.count(CALLS_EACH)
    stage.provision([DemoSubscriber(m, "Bench", "en", main=100_000, attached=False) for m in callees(stage.run)])
    (v50, v99), (k50, k99) = voice_latency(stage, calls)
    with stage.costs(callers * calls_each) as usage:
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
        *bench.cost_figures("missed", usage[0], missed_call_minimum(callers, calls_each), "/call"),
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
