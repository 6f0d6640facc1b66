"""The balance check's measurements in `make bench` (infra/bench.py): the *100# USSD webhook's latency."""

from __future__ import annotations

import time
import uuid

import requests

from functions.ledger.edge import SERVICE
from infra.bench_common import (
    SESSIONS,
    BenchOption,
    BenchSection,
    BenchStage,
    Figure,
    Latency,
    SoakLoad,
    cost_figures,
    in_sessions,
    milliseconds_since,
    percentiles,
    ussd,
)
from infra.cost import Minimum
from shared.operator import OperatorProfile

REQUESTS = "ussd-requests"
SOAK_CHECKS = 4  # balance checks per round of the soak
# A balance check at the least: the webhook reads the subscriber and the account, and writes nothing.
BALANCE_CHECK_MINIMUM = Minimum(reads=2, writes=0, invocations=1)


def ussd_latency(stage: BenchStage, requests_count: int, sessions: int) -> tuple[float, float]:
    """p50/p99 of the balance check's USSD webhook (HMAC, two Firestore reads), `sessions` at once."""
    url, callers, run = stage.stack.url_of("edge-ussd"), [s.msisdn for s in stage.subscribers], uuid.uuid4().hex[:8]

    def check(session: requests.Session, i: int) -> float:
        started = time.perf_counter()
        screen = ussd(session, url, f"bench-{run}-{i}", callers[i % len(callers)], stage.profile.short_codes.balance)
        elapsed = milliseconds_since(started)
        if not screen.startswith("END "):
            raise RuntimeError(f"unexpected *100# answer: {screen[:200]}")
        return elapsed

    return percentiles(in_sessions(requests_count, sessions, check))


def measure(stage: BenchStage) -> list[Figure]:
    """The *100# webhook's latency."""
    count, sessions = stage.count(REQUESTS), stage.count(SESSIONS)
    with stage.costs(count) as usage:
        p50, p99 = ussd_latency(stage, count, sessions)
    return [
        Latency("*100# USSD", p50, p99, f"{count} requests, {sessions} sessions at once; target p99 ≤ 50 ms"),
        *cost_figures("balance", usage[0], BALANCE_CHECK_MINIMUM, "/check"),
    ]


def soak(stage: BenchStage) -> SoakLoad:
    """The soak's balance checks: a few each round, from the seeded subscribers."""
    url, callers, session = stage.stack.url_of("edge-ussd"), [s.msisdn for s in stage.subscribers], requests.Session()

    def round_of_checks(round_number: int) -> int:
        for i in range(SOAK_CHECKS):
            caller = callers[(round_number + i) % len(callers)]
            ussd(session, url, f"soak-{round_number}-{i}", caller, stage.profile.short_codes.balance)
        return 0  # a balance check answers on the screen: no SMS

    return round_of_checks


def _switched_on(profile: OperatorProfile) -> bool:
    return bool(profile.services.get(SERVICE))


SECTION = BenchSection(
    order=20, measure=measure, options=(BenchOption(REQUESTS, 500),), switched_on=_switched_on, soak=soak
)
