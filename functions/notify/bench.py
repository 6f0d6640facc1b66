"""Notify's measurements in `make bench` (infra/bench.py): the SMS path end to end, against the raw ceiling."""

from __future__ import annotations

import time
import uuid

from emulators.carrier.client import CarrierClient
from infra.bench_common import (
    BenchSection,
    BenchStage,
    Figure,
    Rate,
    SoakLoad,
    cost_figures,
    publish_all,
    ratio,
    wait_until_count,
)
from infra.cost import SMS_MINIMUM
from shared import catalog
from shared.events import Envelope

SOAK_SMS = 3  # SMS per round of the soak


def sms_send(to: str, event_id: str) -> Envelope:
    """An sms.send as a service publishes it: a balance report to `to`."""
    return catalog.make_envelope(
        "sms.send",
        {"to": to, "template": "edge.balance.report", "params": {"lines": "Main balance: 12 000 so'm"}},
        event_id=event_id,
        source="bench",
    )


def notify_throughput(stage: BenchStage) -> float:
    """SMS/s from sms.send published to the SMS recorded by the carrier emulator (push, functions-framework,
    Firestore transaction, Twilio API call)."""
    carrier = CarrierClient(stage.stack.carrier_url)
    before = carrier.message_count()
    recipients = [s.msisdn for s in stage.subscribers if s.attached]
    run = uuid.uuid4().hex[:8]
    envelopes = [sms_send(recipients[i % len(recipients)], f"bench-{run}-{i}") for i in range(stage.messages)]
    started = time.perf_counter()
    publish_all(envelopes)
    wait_until_count(lambda: carrier.message_count() - before, stage.messages, timeout=300, what="SMS at the carrier")
    return stage.messages / (time.perf_counter() - started)


def measure(stage: BenchStage) -> list[Figure]:
    """The notify path's throughput, the raw ceiling of the same run, and their ratio."""
    with stage.costs(stage.messages) as usage:
        notify = notify_throughput(stage)
    return [
        Rate(
            "notify path",
            notify,
            "SMS/s",
            f"sms.send published → recorded by the carrier emulator, {stage.messages} messages",
        ),
        Rate("raw ceiling", stage.raw_ceiling, "events/s", "publish → push → no-op function, same emulator"),
        ratio(notify, stage.raw_ceiling, "notify path / raw ceiling; target ≥ 0.8"),
        *cost_figures("SMS", usage[0], SMS_MINIMUM, "/SMS"),
    ]


def soak(stage: BenchStage) -> SoakLoad:
    """The soak's SMS: a few each round, published as any service asks for them."""
    recipients, run = [s.msisdn for s in stage.subscribers if s.attached], uuid.uuid4().hex[:8]

    def round_of_sms(round_number: int) -> int:
        publish_all(
            [
                sms_send(recipients[(round_number + i) % len(recipients)], f"soak-{run}-{round_number}-{i}")
                for i in range(SOAK_SMS)
            ]  # fmt: skip
        )
        return SOAK_SMS

    return round_of_sms


SECTION = BenchSection(order=10, measure=measure, soak=soak)
