"""The balance check's measurements in `make bench` (infra/bench.py): the *100# USSD webhook's latency."""

from __future__ import annotations

import time

import requests

from functions.ledger.edge import SERVICE
from infra.bench_common import (
    BenchOption,
    BenchSection,
    BenchStage,
    Figure,
    Latency,
    cost_figures,
    percentiles,
    ussd,
)
from infra.cost import Minimum
from shared.operator import OperatorProfile

REQUESTS = "ussd-requests"
# A balance check at the least: the webhook reads the subscriber and the account, and writes nothing.
BALANCE_CHECK_MINIMUM = Minimum(reads=2, writes=0, invocations=1)


def ussd_latency(stage: BenchStage, requests_count: int) -> tuple[float, float]:
    """p50/p99 of the balance check's USSD webhook (HMAC, two Firestore reads), sequential requests."""
    url, session, timings = stage.stack.url_of("edge-ussd"), requests.Session(), []
    caller = stage.subscribers[0].msisdn
    for i in range(requests_count):
        started = time.perf_counter()
        screen = ussd(session, url, f"bench-{i}", caller, stage.profile.short_codes.balance)
        timings.append((time.perf_counter() - started) * 1000)
        if not screen.startswith("END "):
            raise RuntimeError(f"unexpected *100# answer: {screen[:200]}")
    return percentiles(timings)


def measure(stage: BenchStage) -> list[Figure]:
    """The *100# webhook's latency."""
    count = stage.count(REQUESTS)
    with stage.costs(count) as usage:
        p50, p99 = ussd_latency(stage, count)
    return [
        Latency("*100# USSD", p50, p99, f"{count} sequential requests"),
        *cost_figures("balance", usage[0], BALANCE_CHECK_MINIMUM, "/check"),
    ]


def _switched_on(profile: OperatorProfile) -> bool:
    return bool(profile.services.get(SERVICE))


SECTION = BenchSection(order=20, measure=measure, options=(BenchOption(REQUESTS, 500),), switched_on=_switched_on)
