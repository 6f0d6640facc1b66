"""The local push's retries on ordered subscriptions (infra/push.py): a failed push waits its backoff without a
delivery thread, holding only its key, and is pushed again before the key's next message."""

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
    """A LocalPush with one delivery thread whose function fails the first push of each message named `fail*`, and
    every push of those named `poison*`; the pushes, in order, as (name, deliveryAttempt)."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "localhost:1")  # no emulator is reached: no stream is opened
    posted: list[str] = []
    attempts: list[tuple[str, int | None]] = []
    lock = threading.Lock()

    def post(session, url, json, timeout):
        import base64

        name = base64.b64decode(json["message"]["data"]).decode()
        with lock:
            first = name not in posted
            posted.append(name)
            attempts.append((name, json.get("deliveryAttempt")))
        return FakeAnswer(500 if name.startswith("poison") or (first and name.startswith("fail")) else 204)

    monkeypatch.setattr(requests.Session, "post", post)
    dead_lettered: list[tuple[str, int]] = []
    monkeypatch.setattr(
        push.LocalPush,
        "_dead_letter",
        lambda self, route, policy, message, attempt: dead_lettered.append((message.message_id, attempt)),
    )
    pusher = push.LocalPush(PROJECT, in_flight=1)
    route = push.Route(
        "missed-calls-attach",
        "http://function/",
        ack_deadline_seconds=60,
        dead_lettering=push.DeadLettering("dead-letter", 3, min_backoff_seconds=BACKOFF, max_backoff_seconds=10),
    )
    yield pusher, route, posted, attempts, dead_lettered
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
    pusher, route, posted, attempts, _ = local
    failing = FakeMessage("fail-1", key="+998900000001")
    others = [FakeMessage(f"ok-{n}", key=f"+99890000010{n}") for n in range(5)]
    started = time.monotonic()
    deliver_all(pusher, route, [failing, *others])

    wait_until(lambda: all(m.settled for m in others), 5)
    assert [m.settled[0][0] for m in others] == ["ack"] * 5
    assert all(m.settled[0][1] - started < BACKOFF / 2 for m in others), "other keys waited for a failed push's backoff"
    assert failing.settled == [], "settled before its backoff"
    wait_until(lambda: failing.settled, 5)
    assert failing.settled[0][0] == "ack" and failing.settled[0][1] - started >= BACKOFF, "not pushed again"
    assert attempts.count(("fail-1", 1)) == 1 and attempts.count(("fail-1", 2)) == 1


def test_a_keys_next_message_waits_until_the_failed_one_is_pushed_again(local):
    # Pub/Sub holds an ordered key for a failed message's retry; so does the stand-in, also when the client lets
    # the key's next message go (the first outlived its lease).
    pusher, route, posted, _, _ = local
    key = "+998900000001"
    failing, following = FakeMessage("fail-1", key=key), FakeMessage("ok-next", key=key)
    other = FakeMessage("ok-other", key="+998900000002")
    deliver_all(pusher, route, [failing, following, other])

    wait_until(lambda: other.settled, 5)
    assert other.settled and following.settled == [], "the key's next message ran during the failed one's backoff"
    wait_until(lambda: following.settled, 5)
    assert posted == ["fail-1", "ok-other", "fail-1", "ok-next"], "the key's next message went ahead of the retry"
    assert failing.settled[0][0] == "ack" and following.settled[0][0] == "ack"
    assert len(pusher._turns) == 0, "a key nothing pushes is still kept"


def test_the_last_failed_attempt_is_dead_lettered_with_its_count_and_acknowledged(local):
    pusher, route, posted, attempts, dead_lettered = local
    poison = FakeMessage("poison-1", key="+998900000001")
    deliver_all(pusher, route, [poison])

    wait_until(lambda: poison.settled, 10)
    assert attempts == [("poison-1", 1), ("poison-1", 2), ("poison-1", 3)]
    assert dead_lettered == [("poison-1", 3)] and poison.settled[0][0] == "ack"


def test_stopping_nacks_the_messages_waiting_their_backoff_and_leaves_no_thread(local):
    pusher, route, posted, _, _ = local
    failing = FakeMessage("poison-1", key="+998900000001")
    deliver_all(pusher, route, [failing])
    wait_until(lambda: posted, 5)
    wait_until(lambda: len(pusher._backoffs) == 1, 5)
    before_stop = time.monotonic()
    pusher.stop()
    assert failing.settled and failing.settled[0][0] == "nack" and failing.settled[0][1] - before_stop < BACKOFF
    assert not [t.name for t in threading.enumerate() if t.name == "push-backoffs" and t.is_alive()]
