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
    cost_figures,
    publish_all,
    ratio,
    wait_until_count,
)
from infra.cost import SMS_MINIMUM
from shared import catalog


def notify_throughput(stage: BenchStage) -> float:
    """SMS/s from sms.send published to the SMS recorded by the carrier emulator (push, functions-framework,
    Firestore transaction, Twilio API call)."""
    carrier = CarrierClient(stage.stack.carrier_url)
    before = len(carrier.messages())
    recipients = [s.msisdn for s in stage.subscribers if s.attached]
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
        for i in range(stage.messages)
    ]
    started = time.perf_counter()
    publish_all(envelopes)
    wait_until_count(lambda: len(carrier.messages()) - before, stage.messages, timeout=300)
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
        ratio(notify, stage.raw_ceiling, "notify path / raw ceiling"),
        *cost_figures("SMS", usage[0], SMS_MINIMUM, "/SMS"),
    ]


SECTION = BenchSection(order=10, measure=measure)
