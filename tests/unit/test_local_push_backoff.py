"""The local push's retry backoff on ordered subscriptions (infra/push.py): a failed push waits without its slot."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
import requests

from infra import push

PROJECT = "vas-test"
BACKOFF = 1.0  # the wait after a first failed push


class FakeMessage:
    """What the streaming pull hands the callback: data, key, delivery attempt, ack and nack."""

    def __init__(self, name: str, key: str, attempt: int = 1):
        self.data, self.ordering_key, self.delivery_attempt = name.encode(), key, attempt
        self.attributes: dict[str, str] = {}
        self.message_id, self.publish_time = name, datetime.now(UTC)
        self.settled: list[tuple[str, float]] = []  # ("ack" | "nack", when)

    def ack(self) -> None:
        self.settled.append(("ack", time.monotonic()))

    def nack(self) -> None:
        self.settled.append(("nack", time.monotonic()))


class FakeAnswer:
    def __init__(self, status_code: int):
        self.status_code = status_code


@pytest.fixture
def local(monkeypatch):
    """A LocalPush with one delivery thread whose function fails the messages named `fail*`; its pushes, in order."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "localhost:1")  # no emulator is reached: no stream is opened
    posted: list[str] = []
    lock = threading.Lock()

    def post(session, url, json, timeout):
        import base64

        name = base64.b64decode(json["message"]["data"]).decode()
        with lock:
            posted.append(name)
        return FakeAnswer(500 if name.startswith("fail") else 204)

    monkeypatch.setattr(requests.Session, "post", post)
    pusher = push.LocalPush(PROJECT, in_flight=1)
    route = push.Route(
        "missed-calls-attach",
        "http://function/",
        ack_deadline_seconds=60,
        dead_lettering=push.DeadLettering("dead-letter", 5, min_backoff_seconds=BACKOFF, max_backoff_seconds=10),
    )
    yield pusher, route, posted
    pusher.stop()


def deliver_all(pusher: push.LocalPush, route: push.Route, messages: list[FakeMessage]) -> None:
    """Hand each message to the route's delivery threads, as the streaming pull does."""
    for message in messages:
        pusher.executor_for(route).submit(pusher.deliver, route, message)


def wait_until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_failed_push_waiting_its_backoff_does_not_stop_other_keys(local):
    pusher, route, posted = local
    failing = FakeMessage("fail-1", key="+998900000001")
    others = [FakeMessage(f"ok-{n}", key=f"+99890000010{n}") for n in range(5)]
    started = time.monotonic()
    deliver_all(pusher, route, [failing, *others])

    wait_until(lambda: all(m.settled for m in others), 5)
    assert [m.settled[0][0] for m in others] == ["ack"] * 5
    assert all(m.settled[0][1] - started < BACKOFF / 2 for m in others), "other keys waited for a failed push's backoff"
    assert failing.settled == [], "nacked before its backoff"
    wait_until(lambda: failing.settled, 5)
    assert failing.settled[0][0] == "nack" and failing.settled[0][1] - started >= BACKOFF


def test_a_keys_next_message_waits_for_the_failed_ones_backoff_and_nack(local):
    # The client lets a key's next message go when the first outlives its lease: it still waits its turn.
    pusher, route, posted = local
    key = "+998900000001"
    failing, following = FakeMessage("fail-1", key=key), FakeMessage("ok-next", key=key)
    other = FakeMessage("ok-other", key="+998900000002")
    deliver_all(pusher, route, [failing, following, other])

    wait_until(lambda: other.settled, 5)
    assert other.settled and following.settled == [], "the key's next message ran during the failed one's backoff"
    wait_until(lambda: following.settled, 5)
    assert failing.settled[0][0] == "nack" and following.settled[0][0] == "ack"
    assert failing.settled[0][1] <= following.settled[0][1]
    assert posted == ["fail-1", "ok-other", "ok-next"]
    assert len(pusher._turns) == 0, "a key nothing pushes is still kept"


def test_stopping_nacks_the_messages_waiting_their_backoff_and_leaves_no_thread(local, monkeypatch):
    pusher, route, posted = local
    failing = FakeMessage("fail-1", key="+998900000001")
    deliver_all(pusher, route, [failing])
    wait_until(lambda: posted, 5)
    wait_until(lambda: len(pusher._backoffs) == 1, 5)
    before_stop = time.monotonic()
    pusher.stop()
    assert failing.settled and failing.settled[0][0] == "nack" and failing.settled[0][1] - before_stop < BACKOFF
    assert not [t.name for t in threading.enumerate() if t.name == "push-backoffs" and t.is_alive()]
