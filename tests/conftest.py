"""Test session: the real gcloud emulators start once for integration and e2e tests.

Unit tests need none of this and never start anything. Firestore is cleared between tests with
the emulator's own DELETE endpoint.

Time is stated, not found: every test on the emulators runs on the platform's clock started at
CLOCK_START (shared.events.utcnow, shifted for this process and every process it starts), so no
day, month or operator's midnight turns during a run, whenever the machine runs it.
`VAS_TEST_CLOCK_START=2026-12-01T18:59:50+00:00` runs them at another moment (just before
midnight in Tashkent, say). Hypothesis has no per-example deadline: a loaded machine is slow,
not wrong.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from shared.events import CLOCK_OFFSET_VARIABLE

REPO = Path(__file__).resolve().parent.parent
LOG_DIR = REPO / ".run" / "test-logs"
PROJECT = "vas-test"
# A Monday morning in mid-March: 10:00 in Tashkent, 08:00 in Baghdad and Moscow, 13:00 in Singapore.
CLOCK_START = datetime(2026, 3, 16, 5, 0, tzinfo=timezone.utc)

hypothesis_settings.register_profile("vas", deadline=None)
hypothesis_settings.load_profile("vas")


@pytest.fixture(scope="session", autouse=True)
def pinned_clock() -> datetime:
    """The moment the session's clock starts at; it runs on from there at the machine's pace."""
    start = datetime.fromisoformat(os.environ.get("VAS_TEST_CLOCK_START") or CLOCK_START.isoformat())
    saved = os.environ.get(CLOCK_OFFSET_VARIABLE)
    os.environ[CLOCK_OFFSET_VARIABLE] = str((start - datetime.now(timezone.utc)).total_seconds())
    yield start
    if saved is None:
        os.environ.pop(CLOCK_OFFSET_VARIABLE, None)
    else:
        os.environ[CLOCK_OFFSET_VARIABLE] = saved

# The tests are local: secrets get their local stand-ins (shared/settings.py); a test of what
# happens elsewhere removes this.
os.environ.setdefault("VAS_ENV", "local")


def _reset_caches() -> None:
    from shared import bus, operator, settings, store
    for cached in (settings.get, store.db, bus._publisher, bus._immediate_publisher, operator.current):
        cached.cache_clear()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` set (for this process and every process it starts), as it was after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def ses():
    """Amazon SES as moto's server, its sender verified; notify (in or out of process) sends there."""
    from emulators import ses as ses_emulator

    running = ses_emulator.start(LOG_DIR)
    with _environment(running.env):
        yield running
        running.stop()


@pytest.fixture(scope="session")
def payments():
    """The payment emulator (Stripe's API) as a process; VAS_PAYMENTS_API_BASE points this process and every
    function server started after it there. Its webhooks go nowhere until a test says where
    (`payments.configure(url)`, and None again after)."""
    from emulators import payments as payments_emulator
    from shared import payments as gateway, settings

    running = payments_emulator.start(LOG_DIR)
    with _environment(running.env):
        settings.get.cache_clear()
        gateway.gateway.cache_clear()
        yield running
        running.stop()
    settings.get.cache_clear()
    gateway.gateway.cache_clear()


@pytest.fixture(scope="session")
def emulators(ses):
    """The Pub/Sub and Firestore emulators, with every catalog topic created (and SES beside them)."""
    from emulators import gcloud
    from infra import topology

    running = gcloud.start(PROJECT, LOG_DIR)
    saved = dict(os.environ)
    os.environ.update(running.env)
    _reset_caches()
    topology.create(PROJECT, consumer_urls={})
    yield running
    running.stop()
    os.environ.clear()
    os.environ.update(saved)
    _reset_caches()


@pytest.fixture
def firestore_clean(emulators):
    emulators.clear_firestore()
    yield emulators


@pytest.fixture
def function_server(emulators):
    """Start functions-framework processes for catalog functions; all stopped after the test."""
    from infra.functions import function_service

    started = []

    def start(name: str, **env: str):
        service = function_service(name, env={**emulators.env, **env}, log_dir=LOG_DIR)
        started.append(service)
        return service.start().wait_ready()

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def push_subscriptions(emulators):
    """`push_subscriptions(consumer_urls, delivery="local", **options)`: infra.push.deliver for one test, undone after it.

    Delivered by the local stand-in for Pub/Sub's push (infra/push.py) unless `delivery="emulator"`.
    The emulators serve the whole session: a subscription left pointing at a function server the
    test stopped (or at no server at all) would push every later test's messages to a dead
    endpoint. The stand-ins are stopped, and the subscriptions the test replaced put back as they were.
    """
    from google.cloud import pubsub_v1

    from infra import push

    subscriber = pubsub_v1.SubscriberClient()
    before = {s.name: s for s in subscriber.list_subscriptions(request={"project": f"projects/{PROJECT}"})}
    touched: set[str] = set()
    pushing: list[push.LocalPush] = []

    def create(consumer_urls: dict[str, str], delivery: str = push.LOCAL, **options) -> None:
        touched.update(subscriber.subscription_path(PROJECT, name) for name in consumer_urls)
        local = push.deliver(PROJECT, consumer_urls, delivery, **options)
        if local is not None:
            pushing.append(local)

    yield create
    for local in pushing:
        local.stop()
    for name in touched:
        subscriber.delete_subscription(request={"subscription": name})
        if name in before:
            subscriber.create_subscription(request=before[name])


SENTINEL_ATTRIBUTE = "vas_test_sentinel"


@pytest.fixture
def tap(emulators):
    """Listen on a topic from now on: `tap("sms.send")` returns a `pull(count, timeout)` function.

    `pull.rest()` is every envelope published before it was called and not pulled yet: it
    publishes a sentinel and waits for it (the emulator hands a subscription its messages in the
    order they were published), so "nothing (more) arrived" cannot pass because the wait was short.
    """
    import time
    import uuid

    from google.cloud import pubsub_v1

    from shared import bus

    subscriber = pubsub_v1.SubscriberClient()
    created = []

    def listen(topic: str):
        name = subscriber.subscription_path(PROJECT, f"tap-{topic.replace('.', '-')}-{uuid.uuid4().hex[:8]}")
        subscriber.create_subscription(request={"name": name, "topic": bus.topic_path(topic)})
        created.append(name)

        def receive() -> list:
            """The Pub/Sub messages waiting (acknowledged), or none after a short wait."""
            response = subscriber.pull(request={"subscription": name, "max_messages": 100}, timeout=5, retry=None)
            if not response.received_messages:
                time.sleep(0.1)
                return []
            subscriber.acknowledge(request={"subscription": name,
                                            "ack_ids": [m.ack_id for m in response.received_messages]})
            return [m.message for m in response.received_messages]

        def pull(count: int = 1, timeout: float = 10.0):
            """Envelopes received, waiting up to `timeout` for at least `count` of them."""
            got, deadline = [], time.monotonic() + timeout
            while len(got) < count and time.monotonic() < deadline:
                got.extend(bus.decode(message.data) for message in receive())
            return got

        def rest(timeout: float = 60.0):
            """Every envelope published before this call that was not pulled yet, up to a sentinel published now."""
            marker = uuid.uuid4().hex
            bus.publish_raw(topic, b"sentinel", {SENTINEL_ATTRIBUTE: marker})
            got, deadline = [], time.monotonic() + timeout
            while time.monotonic() < deadline:
                for message in receive():
                    if message.attributes.get(SENTINEL_ATTRIBUTE) == marker:
                        return got
                    got.append(bus.decode(message.data))
            raise AssertionError(f"the sentinel published on {topic} did not arrive within {timeout:.0f} s")

        pull.rest = rest
        return pull

    yield listen
    for name in created:
        subscriber.delete_subscription(subscription=name)


@pytest.fixture
def pubsub_push(emulators):
    """`pubsub_push(source, target, topic, payload, event_id)`: a subscription's raw push body, posted to the
    entry point `target` of `source` served by functions_framework (the response is returned)."""
    import base64

    import functions_framework

    from shared import bus, catalog

    def push(source: str, target: str, topic: str, payload: dict, event_id: str):
        app = functions_framework.create_app(target=target, source=source)
        data, attributes = bus.encode(catalog.make_envelope(topic, payload, event_id=event_id))
        body = {"subscription": f"projects/{PROJECT}/subscriptions/{target}",
                "message": {"data": base64.b64encode(data).decode(), "attributes": attributes,
                            "messageId": event_id, "publishTime": "2026-11-22T10:00:00Z"}}
        return app.test_client().post(f"/projects/{PROJECT}/topics/{topic}", json=body)

    return push
