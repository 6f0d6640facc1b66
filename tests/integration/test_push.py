"""Pub/Sub push on the real emulator: the local stand-in (infra/push.py) beside the emulator's own push."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra import push
from shared import bus, catalog
from tests.integration.test_backlog import wait_for

PROJECT = "vas-test"
SUBSCRIPTION = "zero-balance-answer"  # any catalog subscription with a dead-letter policy; nothing else here consumes it


class Endpoint(BaseHTTPRequestHandler):
    """A function's push endpoint: fails each message's first `failures` pushes, takes `seconds` per push."""

    failures = 0
    seconds = 0.0
    bodies: list[dict] = []
    in_flight = most_in_flight = 0
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        with cls.lock:
            cls.bodies.append(body)
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
            pushes = sum(b["message"]["messageId"] == body["message"]["messageId"] for b in cls.bodies)
        time.sleep(cls.seconds)
        with cls.lock:
            cls.in_flight -= 1
        self.send_response(500 if pushes <= cls.failures else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    Endpoint.failures, Endpoint.seconds, Endpoint.bodies = 0, 0.0, []
    Endpoint.in_flight = Endpoint.most_in_flight = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def publish(count: int) -> dict[str, bytes]:
    """`count` messages on the subscription's topic; their data by message id."""
    topic = catalog.load().consumer(SUBSCRIPTION).topic
    data = {n: json.dumps({"n": n}).encode() for n in range(count)}
    return {bus.publish_raw(topic, body, {"n": str(n)}): body for n, body in data.items()}


@pytest.mark.parametrize("delivery", push.DELIVERIES)
def test_a_failed_push_is_pushed_again_after_the_backoff_with_the_body_pubsub_sends(
    endpoint, push_subscriptions, delivery
):
    Endpoint.failures = 1
    push_subscriptions({SUBSCRIPTION: endpoint}, delivery, max_backoff_seconds=1)
    published = publish(2)

    wait_for(lambda: len(Endpoint.bodies) >= 4, 30, "each message pushed twice")
    time.sleep(1.5)  # the second push was answered 204: acknowledged, so never a third
    assert sorted(b["message"]["messageId"] for b in Endpoint.bodies) == sorted([*published, *published])
    for body in Endpoint.bodies:
        message = body["message"]
        assert base64.b64decode(message["data"]) == published[message["messageId"]]
        assert message["attributes"]["n"] == str(json.loads(published[message["messageId"]])["n"])
        assert message["publishTime"].endswith("Z")
        assert body["subscription"] == f"projects/{PROJECT}/subscriptions/{SUBSCRIPTION}"
    if delivery == push.LOCAL:  # the emulator's count of attempts, which its dead-letter policy reads
        for message_id in published:
            attempts = [b["deliveryAttempt"] for b in Endpoint.bodies if b["message"]["messageId"] == message_id]
            assert attempts == [1, 2]


def test_the_local_push_has_its_messages_in_flight_at_once_and_stops_whole(endpoint, emulators):
    Endpoint.seconds = 0.5
    before = {thread.ident for thread in threading.enumerate()}
    local = push.deliver(PROJECT, {SUBSCRIPTION: endpoint}, push.LOCAL)
    assert local is not None
    try:
        published = publish(3 * push.IN_FLIGHT)
        wait_for(lambda: len(Endpoint.bodies) >= len(published), 60, "every message pushed")
    finally:
        local.stop()
    assert Endpoint.most_in_flight == push.IN_FLIGHT, "as many at once as one function instance takes"
    left = [thread.name for thread in threading.enumerate() if thread.ident not in before and thread.is_alive()]
    assert left == [], f"threads left running after stop: {left}"
