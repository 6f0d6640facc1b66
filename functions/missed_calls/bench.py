"""Missed calls' measurements in `make bench` (infra/bench.py).

voice         the TwiML webhook's latency for a forwarded call (answer, then key 2)
attach        attach → one SMS per caller for a subscriber with many missed calls from many callers
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ElementTree
from urllib.parse import urljoin

import requests
from google.cloud.firestore_v1.base_query import FieldFilter

from emulators.carrier.client import CarrierClient
from functions.missed_calls import bench_storm, documents
from functions.missed_calls.bench_storm import recorded_call
from functions.missed_calls.config import config_for
from infra import bench_common as bench
from infra.cost import SMS_MINIMUM, Minimum
from infra.demo_common import DemoSubscriber
from shared import settings, store
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


def attach_callee(run: int) -> str:
    """The switched-off subscriber who attaches in a run (a fresh one each run, so each attach finds only its own
    run's calls)."""
    return f"+99890400{run:04d}"


VOICE_CALLER = "+998901000001"
CALLS, CALLERS, CALLS_EACH = "calls", "callers", "calls-each"  # the section's command-line counts


def voice_callees(run: int, sessions: int) -> list[str]:
    """The switched-off subscribers the voice latency's calls are forwarded from: one per session."""
    return [f"+99890410{run:02d}{s:02d}" for s in range(sessions)]


def voice_latency(
    stage: bench.BenchStage, calls: int, sessions: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """p50/p99 of the voice webhook, `sessions` calls at once: the forwarded call's answer (menu), and the
    caller's key 2."""
    callees = voice_callees(stage.run, sessions)
    # Twilio signs the exact URL it calls, the function's path "/" included.
    url, run = stage.stack.url_of("edge-voice") + "/", uuid.uuid4().hex[:8]
    account = bench.local_credential(settings.get().twilio_account_sid)

    def call(session: requests.Session, i: int) -> tuple[float, float]:
        callee = callees[i % len(callees)]
        params = {
            "AccountSid": account,
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
        answer = bench.milliseconds_since(started)
        if first.status_code != 200:
            raise RuntimeError(f"the voice webhook answered {first.status_code}: {first.text[:200]}")
        action = _gather_action(first.text, url)
        started = time.perf_counter()
        second = bench.twilio_post(session, action, {**params, "CallStatus": "in-progress", "Digits": "2"})
        key = bench.milliseconds_since(started)
        if second.status_code != 200 or "<Gather" not in first.text:
            raise RuntimeError(
                f"unexpected voice answers: {first.status_code} {first.text[:200]} / "
                f"{second.status_code} {second.text[:200]}"
            )
        return answer, key

    timings = bench.in_sessions(calls, sessions, call)
    return bench.percentiles([a for a, _ in timings]), bench.percentiles([k for _, k in timings])


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
    run, callee = uuid.uuid4().hex[:8], attach_callee(stage.run)
    envelopes = [
        recorded_call(
            f"CA{run}{c:04d}{k:04d}", f"+99890500{c:04d}", callee, 60 * (calls_each - k), f"bench-missed-{run}-{c}-{k}"
        )
        for c in range(callers)
        for k in range(calls_each)
    ]
    bench.publish_all(envelopes)
    pending = (
        store.db()
        .collection(documents.MISSED_CALLS)
        .where(filter=FieldFilter("callee", "==", callee))
        .where(filter=FieldFilter("status", "==", "pending"))
    )
    bench.wait_until_count(
        lambda: len(list(pending.select([]).stream())), len(envelopes), timeout=timeout, what="missed calls recorded"
    )
    before = carrier.message_count(to=callee)
    started = time.perf_counter()
    carrier.attach(callee)
    # One SMS per caller (plus the activation notice, the first time this subscriber attaches).
    bench.wait_until_count(
        lambda: carrier.message_count(to=callee) - before, callers, timeout=timeout, what="SMS to the callee"
    )
    elapsed = time.perf_counter() - started
    return len(envelopes) / elapsed, callers / elapsed


def measure(stage: bench.BenchStage) -> list[bench.Figure]:
    """The voice webhook's latencies, and the attach's delivery of one SMS per caller."""
    calls, callers, calls_each = stage.count(CALLS), stage.count(CALLERS), stage.count(CALLS_EACH)
    sessions = stage.count(bench.SESSIONS)
    # Switched off, without money: the attach's reminders are delivered but not charged. Charged, one callee's
    # many reminders contend for its one account in the charging transaction, and on the Firestore emulator
    # (locks resolved by a timeout) 50 of them took minutes, running into every later measurement.
    switched_off = [attach_callee(stage.run), *voice_callees(stage.run, sessions)]
    stage.provision([DemoSubscriber(m, "Bench", "en", main=0, attached=False) for m in switched_off])
    (v50, v99), (k50, k99) = voice_latency(stage, calls, sessions)
    # The calls the voice webhook published are recorded before the attach is measured (not during it).
    bench.wait_until_count(
        lambda: bench_storm.count_in_block(documents.MISSED_CALLS, "callee", voice_callees(stage.run, sessions)),
        calls,
        timeout=300,
        what="forwarded calls recorded",
        interval=bench_storm.POLL_SECONDS,
    )
    with stage.costs(callers * calls_each) as usage:
        merged_rate, attach_sms_rate = attach_delivery(stage, callers, calls_each)
    return [
        bench.Latency(
            "voice answer",
            v50,
            v99,
            f"forwarded call → caller menu TwiML, {calls} calls, {sessions} at once; target p99 ≤ 50 ms",
        ),
        bench.Latency("voice key 2", k50, k99, "the caller's choice → TwiML; target p99 ≤ 50 ms"),
        bench.Rate(
            "attach",
            merged_rate,
            "calls/s",
            f"{callers} callers × {calls_each} missed calls merged → {callers} SMS recorded",
        ),
        bench.Rate("", attach_sms_rate, "SMS/s", "attach event → one SMS per caller at the carrier"),
        *bench.cost_figures("missed", usage[0], missed_call_minimum(callers, calls_each), "/call"),
    ]


SOAK_CALLERS = 2  # missed calls per round of the soak, each from its own caller
SOAK_ATTACH_AFTER = 2  # rounds between a soak callee's calls and their attach (the calls recorded by then)


def soak_callees(count: int) -> list[str]:
    """The soak's switched-off subscribers: one a round."""
    return [f"+99890420{i:04d}" for i in range(count)]


def soak(stage: bench.BenchStage) -> bench.SoakLoad:
    """The soak's missed calls: each round, a fresh switched-off subscriber missed calls from two callers, and the
    one of two rounds before attaches (an SMS per caller, and the activation notice when the profile sends it)."""
    rounds = stage.count(bench.SOAK_MINUTES) * 60 // bench.SOAK_ROUND_SECONDS + 1
    subscribers = soak_callees(rounds)
    stage.provision([DemoSubscriber(m, "Soak", "en", main=0, attached=False) for m in subscribers])  # see measure
    carrier, run = CarrierClient(stage.stack.carrier_url), uuid.uuid4().hex[:8]
    config = config_for(stage.profile)
    per_attach = SOAK_CALLERS + (1 if config is not None and config.activation_notice else 0)

    def round_of_calls(round_number: int) -> int:
        callee = subscribers[round_number % rounds]
        bench.publish_all(
            [
                recorded_call(
                    f"CA{run}{round_number:08d}{c:02d}",
                    f"+99890510{c:04d}",
                    callee,
                    60,
                    f"soak-{run}-{round_number}-{c}",
                )
                for c in range(SOAK_CALLERS)
            ]
        )
        if round_number < SOAK_ATTACH_AFTER:
            return 0
        carrier.attach(subscribers[(round_number - SOAK_ATTACH_AFTER) % rounds])
        return per_attach

    return round_of_calls


def _switched_on(profile: OperatorProfile) -> bool:
    return config_for(profile) is not None


SECTION = bench.BenchSection(
    order=40,
    measure=measure,
    options=(
        bench.BenchOption(CALLS, 300, "forwarded calls for the voice webhook's latency"),
        bench.BenchOption(CALLERS, 50, "callers of the subscriber who attaches"),
        bench.BenchOption(CALLS_EACH, 4, "missed calls per caller"),
        bench.BenchOption(
            bench_storm.SUBSCRIBERS,
            2000,
            f"subscribers of the attach storm, {bench_storm.CALLERS} callers' missed calls each (0: no storm)",
        ),
    ),
    switched_on=_switched_on,
    measure_once=bench_storm.measure_storm,
    soak=soak,
)
