"""An operator sees stuck deliveries and recovers them: `ops backlog` and `ops seek` on the real emulator."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1

from functions.ops import __main__ as ops_cli
from infra import push
from shared import bus, catalog
from shared.events import utcnow

PROJECT = "vas-test"
SUBSCRIPTION = "zero-balance-answer"  # any catalog subscription; nothing else in these tests consumes it


@pytest.fixture
def subscription(emulators):
    """The catalog subscription's path; deleted afterwards so no test leaves it behind."""
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(PROJECT, SUBSCRIPTION)
    _delete(subscriber, path)
    yield path
    _delete(subscriber, path)


def _delete(subscriber: pubsub_v1.SubscriberClient, path: str) -> None:
    try:
        subscriber.delete_subscription(subscription=path)
    except exceptions.NotFound:
        pass


@pytest.fixture
def delivered():
    """`delivered(url, delivery)`: the subscription pushed to `url` by the stand-in or the emulator, until the test ends."""
    pushing: list[push.LocalPush] = []

    def deliver(url: str, delivery: str) -> None:
        local = push.deliver(PROJECT, {SUBSCRIPTION: url}, delivery)
        if local is not None:
            pushing.append(local)

    yield deliver
    for local in pushing:
        local.stop()


def create_unconsumed(path: str) -> None:
    """The subscription with nobody pulling or pushed to: a consumer that was killed."""
    topic = bus.topic_path(catalog.load().consumer(SUBSCRIPTION).topic)
    pubsub_v1.SubscriberClient().create_subscription(request={"name": path, "topic": topic,
                                                              "retain_acked_messages": True})


def publish(count: int) -> list[str]:
    topic = catalog.load().consumer(SUBSCRIPTION).topic
    return [bus.publish_raw(topic, json.dumps({"n": n}).encode()) for n in range(count)]


def drain(path: str) -> list[str]:
    """Pull and acknowledge whatever is waiting; the message ids."""
    subscriber, got = pubsub_v1.SubscriberClient(), []
    for _ in range(20):
        response = subscriber.pull(request={"subscription": path, "max_messages": 100}, timeout=5, retry=None)
        if not response.received_messages and got:
            break
        if response.received_messages:
            subscriber.acknowledge(request={"subscription": path,
                                            "ack_ids": [m.ack_id for m in response.received_messages]})
            got.extend(m.message.message_id for m in response.received_messages)
        time.sleep(0.2)
    return got


def backlog_line(capsys) -> str:
    assert ops_cli.main(["backlog"]) == 0
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith(SUBSCRIPTION + " ")]
    return line


def test_backlog_shows_undelivered_messages_and_the_oldest_age_and_keeps_them(subscription, capsys):
    create_unconsumed(subscription)
    published = publish(3)
    time.sleep(2)

    line = backlog_line(capsys)
    counted = re.search(rf"^{SUBSCRIPTION}\s+(\d+)\s+(?:(\d+)m)?(\d+)s old", line)
    assert counted, line
    assert int(counted.group(1)) == 3
    assert int(counted.group(2) or 0) * 60 + int(counted.group(3)) >= 2, line
    assert sorted(drain(subscription)) == sorted(published), "counting must leave the messages to their consumer"
    assert re.search(rf"^{SUBSCRIPTION}\s+0\s+-$", backlog_line(capsys), re.M)


@pytest.mark.parametrize("delivery", push.DELIVERIES)
def test_backlog_sees_messages_a_failing_push_holds(subscription, delivered, capsys, delivery):
    # The consumer is gone (nothing listens on port 9): each failed push leaves its message leased to
    # the pusher for the retry backoff, where a plain pull does not see it.
    delivered("http://127.0.0.1:9/", delivery)
    publish(3)

    # The backlog counts a message once the emulator has taken it in; under load that takes a moment.
    wait_for(lambda: re.search(rf"^{SUBSCRIPTION}\s+3\s+\d+s old", backlog_line(capsys)) is not None, 30,
             "the three stuck messages to show in the backlog")


class Consumer(BaseHTTPRequestHandler):
    """A push endpoint that acknowledges everything and remembers each message id it was given."""

    received: list[str] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        base64.b64decode(body["message"]["data"])
        self.received.append(body["message"]["messageId"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def consumer():
    Consumer.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Consumer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", Consumer.received
    server.shutdown()


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.parametrize("delivery", push.DELIVERIES)
def test_seek_delivers_acknowledged_messages_again(subscription, consumer, delivered, capsys, delivery):
    url, received = consumer
    delivered(url, delivery)
    before = utcnow() - timedelta(seconds=1)
    published = publish(3)
    wait_for(lambda: len(received) >= 3, 30, "the first deliveries")
    time.sleep(1)  # the 204s are acknowledgements: give the emulator the moment to record them
    assert sorted(received) == sorted(published)

    assert ops_cli.main(["seek", SUBSCRIPTION, "--to", before.isoformat()]) == 0
    assert "seeked" in capsys.readouterr().out
    wait_for(lambda: len(received) >= 6, 30, "the deliveries after the seek")
    assert sorted(received) == sorted(published * 2)


def test_seek_refuses_to_drop_undelivered_messages_unless_told(subscription, capsys):
    create_unconsumed(subscription)
    published = publish(2)
    time.sleep(1)

    assert ops_cli.main(["seek", SUBSCRIPTION, "--to", "-0s"]) == 1
    refusal = capsys.readouterr().err
    assert "2 undelivered message(s)" in refusal and "--discard-older" in refusal
    assert sorted(drain(subscription)) == sorted(published), "a refused seek changes nothing"


def test_seek_of_a_catalog_subscription_not_created_says_so(subscription, capsys):
    assert ops_cli.main(["seek", SUBSCRIPTION, "--to", "-15m"]) == 1
    assert f"{SUBSCRIPTION}: no such subscription in project {PROJECT}" in capsys.readouterr().err
