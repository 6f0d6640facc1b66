"""Transfers' measurements in `make bench` (infra/bench.py).

transfers     USSD *112# → both SMS recorded, against a Firestore transaction of the same shape
              (the ceiling, measured in the same run with the same parties and concurrency)
policy        pure policy decisions per second in one process: a mix of accepted and refused requests
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from emulators.carrier.client import CarrierClient
from functions.transfers.policy import SERVICE, TransferPolicy, load_preset
from functions.transfers.rules import History, Movement, Party, decide
from infra.bench_common import (
    BenchOption,
    BenchSection,
    BenchStage,
    Figure,
    Latency,
    Rate,
    cost_figures,
    percentiles,
    ratio,
    ussd,
    wait_until_count,
)
from infra.cost import SMS_MINIMUM, Minimum
from infra.demo_common import DemoSubscriber
from shared.money import Currency
from shared.operator import OperatorProfile

BENCH_PAIRS = 10  # senders and as many recipients: Mobiuz lets each send/receive 100 000 so'm a day
TRANSFER = "2500"  # so'm, the smallest Mobiuz denomination: 40 a day per sender
TRANSFERS, CONCURRENCY = "transfers", "concurrency"  # the section's command-line counts

# A transfer at the least (functions/transfers/main.py, the design's record): the USSD webhook publishes
# transfer.requested; the consumer's one transaction reads its marker, both subscribers, both accounts and
# both histories, and writes both accounts, the two ledger entries, both histories, the transfer record and
# the marker, and publishes the two sms.send; then each SMS costs what notify's does.
TRANSFER_MINIMUM = Minimum(reads=7, writes=8, commits=1, published=3, delivered=1, invocations=2) + 2 * SMS_MINIMUM

_CURRENCIES = {
    "UZS": Currency(code="UZS", minor_unit=2),
    "IQD": Currency(code="IQD", minor_unit=3),
    "SGD": Currency(code="SGD", minor_unit=2),
}
_PRESETS = {
    "mobiuz-direct": ("UZS", "Asia/Tashkent", "+998901000001", "+998901000002"),
    "zain-iraq-standard": ("IQD", "Asia/Baghdad", "+9647801000001", "+9647801000002"),
    "zain-alamodak": ("IQD", "Asia/Baghdad", "+9647801000003", "+9647801000004"),
    "m1-msend-singapore": ("SGD", "Asia/Singapore", "+6591000001", "+6591000002"),
    "m1-msend-international": ("SGD", "Asia/Singapore", "+6591000003", "+639171234567"),
}


def _party(msisdn: str, **overrides: Any) -> Party:
    """A known, active prepaid subscriber with a long history of spending, as the policy sees them."""
    party = Party(
        msisdn=msisdn,
        known=True,
        customer_type="individual",
        line_type="prepaid",
        status="active",
        roaming=False,
        tariff_plan="standard",
        language="en",
        transfers_barred=False,
        first_call_at=datetime(2025, 1, 1, tzinfo=UTC),
        first_topup_amount=10_000_000,
        spent_since_first_topup=10_000_000,
    )
    return replace(party, **overrides)


def _smallest_amount(policy: TransferPolicy) -> int:
    """The first amount the policy offers, or the bottom of its range."""
    if policy.amount_choices:
        return policy.amount_choices[0]
    if policy.amounts is None or policy.amounts.range is None:
        raise ValueError(f"the {policy.name} policy names no amounts to measure with")
    return policy.amounts.range.min


def policy_requests() -> list[dict[str, Any]]:
    """Per preset: an accepted transfer, a near-limit one with history, and refusals for amount, balance, bar."""
    now = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
    mix = []
    for name, (code, zone, sender_no, recipient_no) in _PRESETS.items():
        policy = load_preset(name, _CURRENCIES[code], timezone=zone)
        amount = _smallest_amount(policy)
        plan = "alamodak" if name == "zain-alamodak" else "standard"
        sender = _party(sender_no, tariff_plan=plan)
        recipient = (
            _party(recipient_no) if name != "m1-msend-international" else Party.from_documents(recipient_no, None, "en")
        )
        rich = {"main": amount * 1000}
        history = History(
            sent=tuple(Movement(now - timedelta(hours=h * 5), amount) for h in range(4)),
            received=tuple(Movement(now - timedelta(hours=h * 7), amount) for h in range(3)),
        )
        base: dict[str, Any] = {
            "policy": policy,
            "sender": sender,
            "recipient": recipient,
            "amount": amount,
            "balances": rich,
            "sender_history": History(),
            "recipient_history": History(),
            "now": now,
        }
        mix += [
            base,
            {**base, "sender_history": history, "recipient_history": history},
            {**base, "amount": amount + 7},
            {**base, "balances": {"main": amount}},
            {**base, "sender": replace(sender, transfers_barred=True)},
        ]
    return mix


def decisions_per_second(seconds: float = 2.0) -> float:
    """How many `decide` calls one process makes per second over the request mix."""
    mix = policy_requests()
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    for request in itertools.cycle(mix):
        decide(**request)
        done += 1
        if done % 1000 == 0 and time.perf_counter() >= deadline:
            break
    return done / (time.perf_counter() - started)


def bench_parties(run: int) -> list[tuple[str, str]]:
    """The senders and their recipients, pair by pair: fresh ones each run (a run spends half a day's limit)."""
    first = run * BENCH_PAIRS
    return [(f"+99890200{i:04d}", f"+99890300{i:04d}") for i in range(first, first + BENCH_PAIRS)]


def transfers_throughput(stage: BenchStage, transfers: int, concurrency: int) -> tuple[float, float, float]:
    """Transfers/s end to end (USSD webhook → both SMS recorded), and the *112* webhook's p50/p99."""
    carrier = CarrierClient(stage.stack.carrier_url)
    url = stage.stack.url_of("edge-ussd")
    pairs = bench_parties(stage.run)
    before = len(carrier.messages())
    run = uuid.uuid4().hex[:8]
    timings: list[float] = []
    local = threading.local()

    def one(i: int) -> None:
        local.session = getattr(local, "session", None) or requests.Session()
        sender, recipient = pairs[i % BENCH_PAIRS]
        started = time.perf_counter()
        screen = ussd(local.session, url, f"bench-{run}-{i}", sender, "*112#", f"{recipient.lstrip('+')}*{TRANSFER}")
        timings.append((time.perf_counter() - started) * 1000)
        if not screen.startswith("END "):
            raise RuntimeError(f"unexpected *112# answer: {screen[:200]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(transfers)))
    # Each accepted transfer sends two SMS: the sender's and the recipient's.
    wait_until_count(lambda: len(carrier.messages()) - before, 2 * transfers, timeout=600)
    rate = transfers / (time.perf_counter() - started)
    p50, p99 = percentiles(timings)
    return rate, p50, p99


def measure(stage: BenchStage) -> list[Figure]:
    """Transfers end to end against the Firestore transaction ceiling, and the *112# webhook under that load."""
    transfers, concurrency = stage.count(TRANSFERS), stage.count(CONCURRENCY)
    pairs = bench_parties(stage.run)
    stage.provision(
        [DemoSubscriber(m, "Bench", "en", main=100_000_000) for pair in zip(*pairs, strict=True) for m in pair]
    )
    ceiling = stage.transaction_ceiling(pairs, transfers, concurrency)
    with stage.costs(transfers) as usage:
        rate, p50, p99 = transfers_throughput(stage, transfers, concurrency)
    return [
        Rate("transfers", rate, "/s", f"USSD *112# → both SMS recorded, {transfers} transfers, {concurrency} at once"),
        Rate(
            "tx ceiling",
            ceiling.rate,
            "/s",
            f"Firestore emulator, a transaction of the same shape, {concurrency} at once",
            gave_up=ceiling.gave_up,
        ),
        ratio(rate, ceiling.rate, "target ≥ 0.5"),
        Latency("*112# USSD", p50, p99, "target p99 ≤ 50 ms, under that load"),
        *cost_figures("transfer", usage[0], TRANSFER_MINIMUM, "/transfer"),
    ]


def measure_alone() -> list[Figure]:
    """The policy's decisions per second, in one process."""
    decisions = decisions_per_second()
    return [Rate("policy", decisions, "decisions/s", "one process, five presets; target ≥ 50 000", digits=0)]


def _switched_on(profile: OperatorProfile) -> bool:
    return bool(profile.services.get(SERVICE))


SECTION = BenchSection(
    order=30,
    measure=measure,
    measure_alone=measure_alone,
    options=(
        BenchOption(TRANSFERS, 200, "transfers per throughput run"),
        BenchOption(CONCURRENCY, 8, "parallel USSD sessions / transactions"),
    ),
    switched_on=_switched_on,
)
