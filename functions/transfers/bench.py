"""Transfers' measurements in `make bench` (infra/bench.py).

transfers     USSD *112# → both SMS recorded, against a Firestore transaction of the same shape
              (the ceiling, measured in the same run with the same parties and concurrency)
policy        pure policy decisions per second in one process: a mix of accepted and refused requests
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from emulators.carrier.client import CarrierClient
from functions.transfers.policy import SERVICE, TransferPolicy, load_preset
from functions.transfers.rules import History, Movement, Party, decide
from infra.bench_common import (
    SOAK_MINUTES,
    SOAK_ROUND_SECONDS,
    BenchOption,
    BenchSection,
    BenchStage,
    Figure,
    Latency,
    Rate,
    SoakLoad,
    cost_figures,
    in_sessions,
    milliseconds_since,
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
SOAK_RUNS = 500  # the soak's parties: bench_parties from this run on, far from the measured runs' own
SOAK_TRANSFERS_PER_PAIR = 20  # half a sender's daily limit

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
    before = carrier.message_count()
    run = uuid.uuid4().hex[:8]

    def one(session: requests.Session, i: int) -> float:
        started = time.perf_counter()
        screen = transfer(session, url, f"bench-{run}-{i}", pairs[i % BENCH_PAIRS])
        elapsed = milliseconds_since(started)
        if not screen.startswith("END "):
            raise RuntimeError(f"unexpected *112# answer: {screen[:200]}")
        return elapsed

    started = time.perf_counter()
    timings = in_sessions(transfers, concurrency, one)
    # Each accepted transfer sends two SMS: the sender's and the recipient's.
    wait_until_count(lambda: carrier.message_count() - before, 2 * transfers, timeout=600, what="transfer SMS")
    rate = transfers / (time.perf_counter() - started)
    p50, p99 = percentiles(timings)
    return rate, p50, p99


def transfer(session: requests.Session, url: str, session_id: str, pair: tuple[str, str]) -> str:
    """One *112# transfer of the smallest amount from the pair's sender to its recipient; returns the screen."""
    sender, recipient = pair
    return ussd(session, url, session_id, sender, "*112#", f"{recipient.lstrip('+')}*{TRANSFER}")


def provision_pairs(stage: BenchStage, pairs: list[tuple[str, str]]) -> None:
    """The pairs' senders and recipients, rich enough for any number of transfers."""
    stage.provision(
        [DemoSubscriber(m, "Bench", "en", main=100_000_000) for pair in zip(*pairs, strict=True) for m in pair]
    )


def measure(stage: BenchStage) -> list[Figure]:
    """Transfers end to end against the Firestore transaction ceiling, and the *112# webhook under that load."""
    transfers, concurrency = stage.count(TRANSFERS), stage.count(CONCURRENCY)
    pairs = bench_parties(stage.run)
    provision_pairs(stage, pairs)
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


def soak(stage: BenchStage) -> SoakLoad:
    """The soak's transfers: one each round, its senders spread so that none reaches a daily limit."""
    rounds = stage.count(SOAK_MINUTES) * 60 // SOAK_ROUND_SECONDS + 1
    sets = rounds // (SOAK_TRANSFERS_PER_PAIR * BENCH_PAIRS) + 1
    pairs = [pair for offset in range(sets) for pair in bench_parties(SOAK_RUNS + offset)]
    provision_pairs(stage, pairs)
    url, session, run = stage.stack.url_of("edge-ussd"), requests.Session(), uuid.uuid4().hex[:8]

    def round_of_transfers(round_number: int) -> int:
        screen = transfer(session, url, f"soak-{run}-{round_number}", pairs[round_number % len(pairs)])
        if not screen.startswith("END "):
            raise RuntimeError(f"unexpected *112# answer in the soak: {screen[:200]}")
        return 2  # the sender's SMS and the recipient's

    return round_of_transfers


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
    soak=soak,
)
