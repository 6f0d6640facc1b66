"""Topics and subscriptions, created from the catalog exactly as Terraform declares them."""

from __future__ import annotations

import contextlib

from google.api_core import exceptions
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.protobuf import duration_pb2

from shared import catalog as catalog_module


def push_endpoint(base_url: str, project: str, topic: str) -> str:
    # functions-framework reads the topic from this path when it turns the push body into a CloudEvent.
    return f"{base_url.rstrip('/')}/projects/{project}/topics/{topic}"


def create(
    project: str,
    consumer_urls: dict[str, str],
    catalog: catalog_module.Catalog | None = None,
    max_backoff_seconds: int | None = None,
    emulator_push: bool = True,
) -> None:
    """Create every topic, and a subscription per consumer whose URL is given: pushed to it by the
    emulator, or (`emulator_push=False`) a pull subscription that infra/push.py pushes from.

    `max_backoff_seconds` caps the catalog's retry backoff: tests use it so that a poison
    message reaches the dead-letter topic in seconds rather than minutes; nothing else changes.
    """
    catalog = catalog or catalog_module.load()
    publisher = PublisherClient()
    subscriber = SubscriberClient()
    for topic in catalog.topics:
        with contextlib.suppress(exceptions.AlreadyExists):
            publisher.create_topic(name=publisher.topic_path(project, topic))
    cap = max_backoff_seconds or 10**6
    dead_letter_topic = publisher.topic_path(project, catalog.dead_letter_topic)
    for name, consumer in catalog.consumers.items():
        if name not in consumer_urls:
            continue
        request = {
            "name": subscriber.subscription_path(project, name),
            "topic": publisher.topic_path(project, consumer.topic),
            "ack_deadline_seconds": consumer.ack_deadline_seconds,
            # `python -m functions.ops seek` re-delivers acknowledged messages only if they are kept.
            "retain_acked_messages": True,
            # One key's messages one at a time, in order (the topic's `ordering_key`, as Terraform sets it).
            # Not under the emulator's push: it cannot dead-letter an ordered subscription's messages
            # (infra/push.py), and it pushes one message of a subscription at a time anyway.
            "enable_message_ordering": catalog.ordered(name) and not emulator_push,
            "retry_policy": {
                "minimum_backoff": duration_pb2.Duration(seconds=min(consumer.min_backoff_seconds, cap)),
                "maximum_backoff": duration_pb2.Duration(seconds=min(consumer.max_backoff_seconds, cap)),
            },
        }
        if consumer.filter:
            # Pub/Sub acknowledges what the filter does not match without pushing it. The emulator only
            # stores it and delivers everything: the local push (infra/push.py) matches messages itself.
            request["filter"] = consumer.filter
        if emulator_push:
            request["push_config"] = {"push_endpoint": push_endpoint(consumer_urls[name], project, consumer.topic)}
        if consumer.dead_letter and consumer.max_delivery_attempts:
            request["dead_letter_policy"] = {
                "dead_letter_topic": dead_letter_topic,
                "max_delivery_attempts": consumer.max_delivery_attempts,
            }
        try:
            subscriber.create_subscription(request=request)
        except exceptions.AlreadyExists:
            subscriber.delete_subscription(subscription=request["name"])
            subscriber.create_subscription(request=request)
