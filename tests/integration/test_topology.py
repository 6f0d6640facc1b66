"""The local stack's topology, as the Pub/Sub emulator holds it, is the catalog's."""

from __future__ import annotations

import pytest
from google.cloud import pubsub_v1

from infra import push
from shared import catalog as catalog_module

PROJECT = "vas-test"


@pytest.mark.parametrize("delivery", push.DELIVERIES)
def test_every_consumer_gets_the_subscription_the_catalog_declares(push_subscriptions, delivery):
    catalog = catalog_module.load()
    urls = {name: f"http://127.0.0.1:9/{name}/" for name in catalog.consumers}
    push_subscriptions(urls, delivery)

    subscriber, publisher = pubsub_v1.SubscriberClient(), pubsub_v1.PublisherClient()
    found = {s.name.rsplit("/", 1)[1]: s for s in subscriber.list_subscriptions(project=f"projects/{PROJECT}")}
    topics = {t.name.rsplit("/", 1)[1] for t in publisher.list_topics(project=f"projects/{PROJECT}")}
    assert set(catalog.topics) <= topics

    for name, consumer in catalog.consumers.items():
        subscription = found[name]
        assert subscription.topic == publisher.topic_path(PROJECT, consumer.topic)
        if delivery == push.EMULATOR:
            assert subscription.push_config.push_endpoint == f"http://127.0.0.1:9/{name}/projects/{PROJECT}/topics/{consumer.topic}"
        else:  # pulled by the local stand-in for Pub/Sub's push, which posts to the same endpoint
            assert not subscription.push_config.push_endpoint
        assert subscription.ack_deadline_seconds == consumer.ack_deadline_seconds
        assert subscription.filter == (consumer.filter or ""), "the emulator keeps it, though it delivers everything"
        # The emulator's push cannot dead-letter from an ordered subscription (and pushes one at a time anyway).
        assert subscription.enable_message_ordering == (catalog.ordered(name) and delivery == push.LOCAL)
        assert subscription.retain_acked_messages, "`ops seek` could not deliver acknowledged messages again"
        assert subscription.retry_policy.minimum_backoff.seconds == consumer.min_backoff_seconds
        assert subscription.retry_policy.maximum_backoff.seconds == consumer.max_backoff_seconds
        if consumer.dead_letter:
            assert subscription.dead_letter_policy.dead_letter_topic == publisher.topic_path(PROJECT, catalog.dead_letter_topic)
            assert subscription.dead_letter_policy.max_delivery_attempts == consumer.max_delivery_attempts
        else:
            assert not subscription.dead_letter_policy.dead_letter_topic
