"""Publishing envelopes to their topics (honours PUBSUB_EMULATOR_HOST)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable

from google.cloud.pubsub_v1 import PublisherClient
from google.cloud.pubsub_v1.types import BatchSettings

from shared import metering, settings
from shared.events import Envelope


@functools.cache
def _publisher() -> PublisherClient:
    # Small batches: most publishes are one follow-up event a request, and latency matters more.
    return PublisherClient(batch_settings=BatchSettings(max_latency=0.005))


@functools.cache
def _immediate_publisher() -> PublisherClient:
    # One message per batch: a batch is full, and sent, the moment it gets its message. For
    # webhooks, which publish one first event per request while a gateway waits on the answer.
    return PublisherClient(batch_settings=BatchSettings(max_messages=1))


def topic_path(topic: str) -> str:
    return _publisher().topic_path(settings.get().project, topic)


def encode(envelope: Envelope) -> tuple[bytes, dict[str, str]]:
    data = envelope.model_dump_json().encode()
    attributes = {"event_id": envelope.id, "event_type": envelope.type, "correlation_id": envelope.correlation_id}
    return data, attributes


def publish(envelopes: Iterable[Envelope], timeout: float = 30.0, *, immediate: bool = False) -> list[str]:
    """Publish and wait until Pub/Sub has every message; returns the message ids.

    `immediate` sends each message at once instead of waiting for a batch to fill (see _immediate_publisher).
    """
    publisher = _immediate_publisher() if immediate else _publisher()
    futures, payloads = [], []
    for envelope in envelopes:
        data, attributes = encode(envelope)
        futures.append(publisher.publish(topic_path(envelope.type), data, **attributes))
        payloads.append(data)
    metering.count_published(payloads)
    return [f.result(timeout=timeout) for f in futures]


def publish_raw(topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
    """Publish bytes as they are (replaying a dead letter, a test's poison message)."""
    metering.count_published([data])
    return _publisher().publish(topic_path(topic), data, **(attributes or {})).result(timeout=30)


def decode(data: bytes) -> Envelope:
    return Envelope.model_validate(json.loads(data))
