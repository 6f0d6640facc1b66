"""Ordering keys on the real emulator: each message carries its topic's key (shared/bus.py), and a failed
publish does not leave its key paused (google-cloud-pubsub refuses a paused key's messages until resumed)."""

from __future__ import annotations

import time
import uuid

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1

from shared import bus, catalog
from shared.events import Envelope, utcnow

TOPIC = "transfer.bar-changed"  # ordered by the subscriber's number
ALICE, BOB = "+998901234567", "+998901234568"


def bar_change(msisdn: str) -> Envelope:
    return catalog.make_envelope(
        TOPIC,
        {"request_id": "r", "msisdn": msisdn, "barred": True, "channel": "care", "requested_at": utcnow().isoformat()},
        event_id=f"bar-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture
def ordered_subscription(emulators):
    """`pull(count)`: the messages published on TOPIC from now on, pulled from a subscription with ordering."""
    subscriber = pubsub_v1.SubscriberClient()
    name = subscriber.subscription_path("vas-test", f"ordered-{uuid.uuid4().hex[:8]}")
    subscriber.create_subscription(
        request={"name": name, "topic": bus.topic_path(TOPIC), "enable_message_ordering": True}
    )

    def pull(count: int) -> list[pubsub_v1.types.PubsubMessage]:
        got: list = []
        deadline = time.monotonic() + 20
        while len(got) < count and time.monotonic() < deadline:
            response = subscriber.pull(request={"subscription": name, "max_messages": 10}, timeout=5, retry=None)
            if response.received_messages:
                subscriber.acknowledge(
                    request={"subscription": name, "ack_ids": [m.ack_id for m in response.received_messages]}
                )
            got.extend(m.message for m in response.received_messages)
        return got

    yield pull
    subscriber.delete_subscription(subscription=name)


def test_each_message_carries_the_key_its_topic_names_replays_included(ordered_subscription):
    alice, bob = bar_change(ALICE), bar_change(BOB)
    bus.publish([alice, bob])
    bus.publish_raw(TOPIC, bus.encode(alice)[0])  # a dead letter replayed as it was stored
    bus.publish_raw(TOPIC, b"not an envelope")

    keys = {(m.data, m.ordering_key) for m in ordered_subscription(4)}
    assert keys == {
        (bus.encode(alice)[0], ALICE),
        (bus.encode(bob)[0], BOB),
        (b"not an envelope", ""),
    }


def test_a_failed_publish_resumes_its_key_so_the_next_event_of_that_subscriber_goes_out(emulators):
    publisher = pubsub_v1.PublisherClient()
    topic = bus.topic_path(TOPIC)
    publisher.delete_topic(topic=topic)
    try:
        with pytest.raises(exceptions.NotFound):  # not retried: the client pauses ALICE's key
            bus.publish([bar_change(ALICE)])
    finally:
        publisher.create_topic(name=topic)
    again = bar_change(ALICE)
    assert len(bus.publish([again])) == 1, "a paused key would refuse it (PublishToPausedOrderingKeyException)"
