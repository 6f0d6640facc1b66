"""Publishing envelopes to their topics (honours PUBSUB_EMULATOR_HOST), with the catalog's ordering keys.

A topic that declares an `ordering_key` field (shared/catalog.yaml) gets that field's value as each
message's ordering key. google-cloud-pubsub publishes one key's messages in order and, when a publish
fails, pauses the key: every later message of it fails at once until `resume_publish`. The failure is
raised to the caller (a function answers 500 and Pub/Sub redelivers, which publishes the outbox again),
and the key is resumed first, so the next event of that sender or callee is not refused.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable
from concurrent import futures

from google.cloud.pubsub_v1 import PublisherClient
from google.cloud.pubsub_v1.types import BatchSettings, PublisherOptions

from shared import catalog, metering, settings
from shared.events import Envelope

# Without it the client refuses a message with an ordering key.
ORDERED = PublisherOptions(enable_message_ordering=True)


@functools.cache
def _publisher() -> PublisherClient:
    # Small batches: most publishes are one follow-up event a request, and latency matters more.
    return PublisherClient(batch_settings=BatchSettings(max_latency=0.005), publisher_options=ORDERED)


@functools.cache
def _immediate_publisher() -> PublisherClient:
    # One message per batch: a batch is full, and sent, the moment it gets its message. For
    # webhooks, which publish one first event per request while a gateway waits on the answer. A
    # message with an ordering key waits for the batch timer instead (its key's batches go one after
    # another), hence the timer of a millisecond.
    return PublisherClient(batch_settings=BatchSettings(max_messages=1, max_latency=0.001), publisher_options=ORDERED)


def topic_path(topic: str) -> str:
    return _publisher().topic_path(settings.get().project, topic)


def encode(envelope: Envelope) -> tuple[bytes, dict[str, str]]:
    """The message's data and attributes: the envelope's ids, and the payload fields its topic declares as attributes
    (subscriptions filter on them)."""
    data = envelope.model_dump_json().encode()
    attributes = {"event_id": envelope.id, "event_type": envelope.type, "correlation_id": envelope.correlation_id}
    topic = catalog.load().topics.get(envelope.type)
    return data, {**(topic.attributes_of(envelope.data) if topic else {}), **attributes}


def ordering_key(envelope: Envelope) -> str:
    """The envelope's Pub/Sub ordering key: its topic's `ordering_key` field's value, "" when it has none (or the
    topic is not the catalog's: the bench's ceiling topics)."""
    topic = catalog.load().topics.get(envelope.type)
    return "" if topic is None else topic.ordering_key_of(envelope.data)


def publish(envelopes: Iterable[Envelope], timeout: float = 30.0, *, immediate: bool = False) -> list[str]:
    """Publish and wait until Pub/Sub has every message; returns the message ids.

    `immediate` sends each message at once instead of waiting for a batch to fill (see _immediate_publisher).
    """
    publisher = _immediate_publisher() if immediate else _publisher()
    sent, payloads = [], []
    for envelope in envelopes:
        data, attributes = encode(envelope)
        key = ordering_key(envelope)
        topic = topic_path(envelope.type)
        sent.append((publisher.publish(topic, data, ordering_key=key, **attributes), topic, key))
        payloads.append(data)
    metering.count_published(payloads)
    ids, failure = [], None
    for future, topic, key in sent:
        try:
            ids.append(_published(publisher, future, topic, key, timeout))
        except futures.TimeoutError:
            raise  # still retried by the client, so nothing is paused; waiting on the rest would multiply the wait
        except Exception as error:  # the other keys a failure paused are resumed too before it is raised
            failure = failure or error
    if failure is not None:
        raise failure
    return ids


def publish_raw(topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
    """Publish bytes as they are (replaying a dead letter, a test's poison message), with the ordering key and
    the declared attributes of the envelope they hold (none when they hold none of this topic)."""
    metering.count_published([data])
    declared, payload = catalog.load().topics.get(topic), _raw_payload(topic, data)
    key = declared.ordering_key_of(payload) if declared and payload is not None else ""
    derived = declared.attributes_of(payload) if declared and payload is not None else {}
    path = topic_path(topic)
    future = _publisher().publish(path, data, ordering_key=key, **{**derived, **(attributes or {})})
    return _published(_publisher(), future, path, key, timeout=30)


def _raw_payload(topic: str, data: bytes) -> dict | None:
    """The payload (as JSON) of the envelope `data` holds, when it is a valid one of `topic`."""
    declared = catalog.load().topics.get(topic)
    if declared is None:
        return None
    try:
        payload = declared.payload_model.model_validate(decode(data).data)
    except ValueError:  # not an envelope, or not one of this topic: no key or attribute to keep
        return None
    return payload.model_dump(mode="json")


def _published(publisher: PublisherClient, future: futures.Future, topic: str, key: str, timeout: float) -> str:
    """The message id once published; a failure is raised after resuming its ordering key."""
    try:
        return future.result(timeout=timeout)
    except futures.TimeoutError:
        raise  # still being published (retried): its key is not paused
    except Exception:
        if key:
            # Here, not in a done callback: the client fails a paused key's queued messages while holding
            # the lock resuming takes.
            with contextlib.suppress(RuntimeError):  # another failed publish of the key resumed it first
                publisher.resume_publish(topic, key)
        raise


def decode(data: bytes) -> Envelope:
    return Envelope.model_validate(json.loads(data))
