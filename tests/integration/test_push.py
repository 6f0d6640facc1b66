"""Pub/Sub push on the real emulator: the local stand-in (infra/push.py) beside the emulator's own push."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.cloud import pubsub_v1

from infra import push
from shared import bus, catalog
from shared.events import Envelope, utcnow
from tests.integration.test_backlog import wait_for

PROJECT = "vas-test"
SUBSCRIPTION = "zero-balance-answer"  # any catalog subscription with a dead-letter policy; nothing else here consumes it
ORDERED = "transfers-bar"  # its topic has an ordering key (the subscriber's number); nothing else here consumes it


class Endpoint(BaseHTTPRequestHandler):
    """A function's push endpoint: fails each message's first `failures` pushes, takes `seconds` per push."""

    failures = 0
    seconds = 0.0
    bodies: list[dict] = []
    in_flight = most_in_flight = 0
    per_key: Counter[str] = Counter()  # ordering key -> its pushes under way
    most_per_key = 0
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        key = body["message"].get("orderingKey", "")
        with cls.lock:
            cls.bodies.append(body)
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
            cls.per_key[key] += 1
            if key:
                cls.most_per_key = max(cls.most_per_key, cls.per_key[key])
            pushes = sum(b["message"]["messageId"] == body["message"]["messageId"] for b in cls.bodies)
        time.sleep(cls.seconds)
        with cls.lock:
            cls.in_flight -= 1
            cls.per_key[key] -= 1
        self.send_response(500 if pushes <= cls.failures else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    Endpoint.failures, Endpoint.seconds, Endpoint.bodies = 0, 0.0, []
    Endpoint.in_flight = Endpoint.most_in_flight = Endpoint.most_per_key = 0
    Endpoint.per_key = Counter()
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


def bar_changes(subscribers: int, each: int) -> dict[str, list[str]]:
    """`each` bar changes of every one of `subscribers` numbers, published in turn; their event ids by number."""
    numbers = [f"+99890555{n:04d}" for n in range(subscribers)]
    envelopes = [
        catalog.make_envelope(
            "transfer.bar-changed",
            {"request_id": f"r{n}", "msisdn": msisdn, "barred": n % 2 == 0, "channel": "care",
             "requested_at": utcnow().isoformat()},
            event_id=f"bar-{msisdn}-{n}",
        )
        for n in range(each) for msisdn in numbers
    ]
    bus.publish(envelopes)
    return {msisdn: [e.id for e in envelopes if e.data["msisdn"] == msisdn] for msisdn in numbers}


def pushed_in_order() -> dict[str, list[str]]:
    """The event ids pushed, by ordering key, in the order their pushes began."""
    pushed: dict[str, list[str]] = {}
    for body in Endpoint.bodies:
        envelope = bus.decode(base64.b64decode(body["message"]["data"]))
        pushed.setdefault(body["message"]["orderingKey"], []).append(envelope.id)
    return pushed


def test_one_keys_messages_are_pushed_one_at_a_time_in_order_while_other_keys_run_at_once(
    endpoint, push_subscriptions
):
    Endpoint.seconds = 0.2
    push_subscriptions({ORDERED: endpoint})
    published = bar_changes(subscribers=4, each=6)

    wait_for(lambda: len(Endpoint.bodies) >= 24, 60, "every message pushed")
    assert Endpoint.most_per_key == 1, "never two messages of one subscriber in flight"
    assert Endpoint.most_in_flight > 1, "different subscribers are pushed at once"
    assert pushed_in_order() == published, "each subscriber's messages in the order published"


def test_a_key_waiting_longer_than_its_lease_is_still_pushed_one_at_a_time(endpoint, emulators):
    """A key's messages wait their turn for longer than the lease: none is let go early beside another."""
    Endpoint.seconds = 0.5
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(PROJECT, ORDERED)
    push.topology.create(PROJECT, {ORDERED: endpoint}, emulator_push=False)
    local = push.LocalPush(PROJECT)
    try:
        # Leases of a second, a queue of ten seconds: the client checks leases at most 9 s apart.
        local.route(ORDERED, endpoint, "transfer.bar-changed", ack_deadline_seconds=1)
        bar_changes(subscribers=1, each=20)
        wait_for(lambda: len({b["message"]["messageId"] for b in Endpoint.bodies}) >= 20, 90, "every message pushed")
    finally:
        local.stop()
        subscriber.delete_subscription(subscription=path)
    assert Endpoint.most_per_key == 1


FILTERED = "subscriptions-topup"  # balance.changed with `filter: attributes.direction = "credit"`; nothing else here consumes it


def balance_change(delta: int, n: int) -> Envelope:
    """The ledger's balance.changed for a change of `delta` on one subscriber's main bucket."""
    change = {"msisdn": "+998901230000", "bucket": "main", "delta": delta, "balance": 10_000 + delta,
              "total": 10_000 + delta, "reason": "usage" if delta < 0 else "topup", "reference": f"ref-{n}",
              "entry_id": f"entry-{n}"}
    return catalog.make_envelope("balance.changed", change, event_id=f"change-{n}")


def test_a_filtered_consumer_is_pushed_only_the_credits_and_the_debits_are_acknowledged_unpushed(
    endpoint, emulators, tap
):
    every_change = tap("balance.changed")  # a subscription without a filter, as any other consumer of the topic
    subscriber = pubsub_v1.SubscriberClient()
    filtered = subscriber.subscription_path(PROJECT, FILTERED)
    # One message at a time, taken in the order published: the debits are done with before the credit is pushed.
    local = push.deliver(PROJECT, {FILTERED: endpoint}, push.LOCAL, in_flight=1)
    assert local is not None
    try:
        debits, credit = [balance_change(-100 * (n + 1), n) for n in range(3)], balance_change(5_000, 3)
        bus.publish([*debits, credit])
        wait_for(lambda: Endpoint.bodies, 30, "the credit pushed")
    finally:
        local.stop()
    pushed = [bus.decode(base64.b64decode(body["message"]["data"])) for body in Endpoint.bodies]
    assert [envelope.id for envelope in pushed] == [credit.id], "a debit never reaches the credits' consumer"
    assert Endpoint.bodies[0]["message"]["attributes"]["direction"] == "credit"
    left = subscriber.pull(request={"subscription": filtered, "max_messages": 10}, timeout=5, retry=None)
    assert list(left.received_messages) == [], "the debits were acknowledged, not left to be redelivered"
    assert [envelope.id for envelope in every_change.rest()] == [*[d.id for d in debits], credit.id], \
        "a consumer without a filter still hears every change"
    subscriber.delete_subscription(subscription=filtered)
