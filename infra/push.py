"""Pub/Sub push delivery for the local stack, with the concurrency Google Cloud pushes at.

In Google Cloud, Pub/Sub pushes many messages of a subscription at once to a Cloud Run service
that scales out. The emulator's own push loop posts one message and waits for the answer before
the next, so locally every hop ran one message at a time, and a message whose push failed could
stay unpushed for minutes. This stand-in (like infra/clock.py for Cloud Scheduler) streaming-pulls
each catalog subscription from the emulator and posts the body Pub/Sub's push would send to the
function, up to `in_flight` messages at once per subscription. A 2xx answer acknowledges; anything
else, no answer within the ack deadline included, is a nack: the emulator redelivers it after the
subscription's retry backoff and counts the attempt, and its dead-letter policy moves the message
on after `max_delivery_attempts`, exactly as for push (both were tried on the emulator: the nacked
message's `delivery_attempt` grows, redeliveries follow the minimum and maximum backoff, and the
last attempt lands on the dead-letter topic with `CloudPubSubDeadLetterSourceDeliveryCount`).

The subscriptions are then pull subscriptions with the catalog's ack deadline, retry and
dead-letter policies (infra/topology.py); `python -m infra.stack --push emulator` keeps the
emulator's own push instead.

A consumer's `filter:` (the catalog) is given to its subscription, but the emulator only stores it and
delivers every message (tried: a filtered subscription pulls the messages it does not match too). So the
stand-in matches each message's attributes itself and acknowledges the others without posting them, as
Pub/Sub does: the function is not invoked, and the bench's meter counts no delivery. The emulator's own
push (`--push emulator`) posts them all; the consumers keep their own check for that.

A subscription with message ordering (its topic's `ordering_key` in the catalog) never has two
messages of one key in flight, as Pub/Sub's push with ordering: the emulator sends a key's messages
in order (several at once), and google-cloud-pubsub's streaming pull holds a key's next message until
the previous one is acked or nacked (a held message's lease starts when it is handed over), running
other keys meanwhile. The client also lets the next one go when a push outlives its lease
(`max_lease_duration`), so each push holds its key's turn here too until it ends; a message whose key
is taken waits in that key's line without holding a delivery thread.
The emulator cannot dead-letter a message of an ordered subscription (its ordered backlog fails with
a NullPointerException, and the message stays stuck), so for those the stand-in forwards the last
failed attempt to the dead-letter topic itself, with the attributes Pub/Sub adds, and acknowledges it.
The emulator also redelivers such a subscription's nacked message at once, ignoring its backoff, and
the client would then let the key's next message go ahead of the retry; so the stand-in retries a
failed push of an ordered subscription itself after the backoff, counting the attempts, holding the
key's turn (as Pub/Sub holds the key) but no delivery thread: other keys go on being pushed
`in_flight` at a time while failed ones wait, and the key's next message waits for the retry.
"""

from __future__ import annotations

import base64
import functools
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC

import requests
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.pubsub_v1.subscriber.message import Message
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler
from google.cloud.pubsub_v1.types import FlowControl

from infra import topology
from shared import catalog as catalog_module, message_filter

logger = logging.getLogger("vas.local-push")

# How subscriptions are delivered locally: by this stand-in (the default) or by the emulator's push.
LOCAL, EMULATOR = "local", "emulator"
DELIVERIES = (LOCAL, EMULATOR)

# Messages in flight per subscription: what one function process serves at once (functions-framework's
# gunicorn runs 4 threads per CPU, 8 on a 2-core machine or a 2-vCPU Cloud Run instance). Google Cloud
# pushes more to a function that scales out; locally each function is one process, so more would only
# queue in its server while their ack deadlines run. Enough for a hop to see production's contention.
IN_FLIGHT = 8
# Messages an ordered subscription may hold in their retry backoff besides those in flight: a failed push
# waits without its delivery slot, so a burst of failures (contention on the emulator) does not stop the rest.
WAITING = 64
# How long a message may wait in the streaming pull's queue before its push starts: the emulator sends more than
# the flow control asks, and a backlog of thousands (an attach storm's SMS) waits minutes, not the ack deadline.
HELD_SECONDS = 600


@dataclass(frozen=True)
class DeadLettering:
    """Where a message goes after its last failed attempt, when the stand-in forwards it (ordered subscriptions)."""

    topic: str
    max_delivery_attempts: int
    # The emulator redelivers an ordered subscription's nacked message at once, ignoring the retry policy,
    # so the stand-in retries it itself after the backoff (holding the key, as Pub/Sub does).
    min_backoff_seconds: float = 0
    max_backoff_seconds: float = 0


@dataclass(frozen=True)
class Route:
    """One subscription and the function its messages are pushed to."""

    subscription: str
    endpoint: str  # the URL with the topic path functions-framework reads (topology.push_endpoint)
    ack_deadline_seconds: int
    dead_lettering: DeadLettering | None = None  # None: the emulator's dead-letter policy decides
    accepts: message_filter.Predicate | None = None  # the subscription's filter; None: every message


def _published_at(message: Message) -> str:
    return message.publish_time.astimezone(UTC).isoformat().replace("+00:00", "Z")  # RFC 3339, as Pub/Sub


def push_body(project: str, subscription: str, message: Message, attempt: int | None = None) -> dict:
    """The JSON body Pub/Sub's push sends for `message` (shared/runtime.py decode_push reads it); `attempt` counts
    the retries the stand-in makes itself (ordered subscriptions)."""
    published = _published_at(message)
    body: dict = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": dict(message.attributes),
            "messageId": message.message_id,
            "message_id": message.message_id,
            "publishTime": published,
            "publish_time": published,
        },
        "subscription": f"projects/{project}/subscriptions/{subscription}",
    }
    if message.ordering_key:
        body["message"]["orderingKey"] = message.ordering_key
    if message.delivery_attempt:  # set only on subscriptions with a dead-letter policy, as in push
        body["deliveryAttempt"] = attempt or message.delivery_attempt
    return body


class KeyTurns:
    """One push at a time per ordering key: the others wait in the key's line, holding no thread.

    A key is kept only while a push holds or waits for it (keys do not pile up).
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._lines: dict[tuple[str, str], deque[Callable[[], None]]] = {}  # key -> the pushes waiting for it

    def take(self, key: tuple[str, str], push: Callable[[], None]) -> bool:
        """Run `push` now if `key` is free (True), else keep it for `give_back` to start (False)."""
        with self._guard:
            line = self._lines.get(key)
            if line is not None:
                line.append(push)
                return False
            self._lines[key] = deque()
        push()
        return True

    def give_back(self, key: tuple[str, str]) -> Callable[[], None] | None:
        """End the holder's turn: the next waiting push, which now holds the key (the caller starts it), or None."""
        with self._guard:
            line = self._lines[key]
            if line:
                return line.popleft()
            del self._lines[key]
            return None

    def __len__(self) -> int:
        return len(self._lines)


class Backoffs:
    """Runs each action once its delay has passed, on one thread: a message waiting its backoff holds no slot."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def after(self, seconds: float, action: Callable[[], None]) -> None:
        """Run `action` in `seconds` (at once once stopped)."""
        with self._changed:
            if self._stopped:
                run_now = True
            else:
                run_now = False
                heapq.heappush(self._due, (time.monotonic() + seconds, next(self._order), action))
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="push-backoffs", daemon=True)
                    self._thread.start()
                self._changed.notify()
        if run_now:
            _run_logged(action)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._stopped and (not self._due or self._due[0][0] > time.monotonic()):
                    self._changed.wait(self._due[0][0] - time.monotonic() if self._due else None)
                if self._stopped:
                    return
                _, _, action = heapq.heappop(self._due)
            _run_logged(action)

    def stop(self) -> None:
        """Run every waiting action at once (a message waiting its backoff is nacked now) and end the thread."""
        with self._changed:
            self._stopped = True
            waiting, self._due = [action for _, _, action in sorted(self._due)], []
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for action in waiting:
            _run_logged(action)

    def __len__(self) -> int:
        return len(self._due)


def _run_logged(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:  # one message's ack or nack failing must not end the waits of the others
        logger.exception("a push's wait ended in an error")


def backoff_seconds(policy: DeadLettering, attempt: int) -> float:
    """The retry policy's wait after a message's `attempt`-th failed push (exponential, capped)."""
    return min(policy.max_backoff_seconds, policy.min_backoff_seconds * 2 ** (attempt - 1))


def lease_seconds(route: Route) -> float:
    """How long the stand-in holds a message: its wait behind a backlog, then one push, or an ordered one's every
    attempt and the backoffs between."""
    policy = route.dead_lettering
    if policy is None:
        return HELD_SECONDS + route.ack_deadline_seconds
    attempts = policy.max_delivery_attempts
    retries = attempts * route.ack_deadline_seconds + sum(backoff_seconds(policy, n) for n in range(1, attempts))
    return HELD_SECONDS + retries


def _nack_then(message: Message, done: Callable[[], None]) -> None:
    try:
        message.nack()
    finally:
        done()


# The threads google-cloud-pubsub's streaming pull starts to close a stream, which outlive `cancel()`.
_STREAM_SHUTDOWN_THREADS = ("Thread-OnRpcTerminated", "Thread-RegularStreamShutdown")


class LocalPush:
    """Streaming pull of each routed subscription, each message posted to its function; `stop()` ends it all."""

    def __init__(self, project: str, in_flight: int = IN_FLIGHT):
        self.project, self.in_flight = project, in_flight
        self._subscriber = SubscriberClient()
        self._streams: list = []
        self._sessions = threading.local()  # requests.Session is not shared between threads
        self._turns = KeyTurns()
        self._backoffs = Backoffs()
        self._executors: dict[str, ThreadPoolExecutor] = {}

    @functools.cached_property
    def _publisher(self) -> PublisherClient:
        return PublisherClient()

    def route(
        self,
        subscription: str,
        url: str,
        topic: str,
        ack_deadline_seconds: int,
        dead_lettering: DeadLettering | None = None,
        filter_text: str | None = None,
    ) -> None:
        """Start pushing `subscription` (a pull subscription of `topic`) to the function at `url`, only the
        messages `filter_text` (Pub/Sub's filter syntax) matches when given."""
        endpoint = topology.push_endpoint(url, self.project, topic)
        accepts = message_filter.parse(filter_text).matches if filter_text else None
        route = Route(subscription, endpoint, ack_deadline_seconds, dead_lettering, accepts)
        waiting = WAITING if dead_lettering else 0
        stream = self._subscriber.subscribe(
            self._subscriber.subscription_path(self.project, subscription),
            lambda message: self.deliver(route, message),
            # Each lease extension is the subscription's ack deadline, as a push's: the client's own 10 s ones
            # expired while the emulator held a large backlog's lock, and it re-queues each expired message in
            # time linear in the backlog, so 10 000 queued SMS stalled it. A message held past `lease_seconds`
            # is let go (Pub/Sub delivers it again). The messages waiting their backoff count beside `in_flight`.
            flow_control=FlowControl(
                max_messages=self.in_flight + waiting,
                max_lease_duration=lease_seconds(route),
                min_duration_per_lease_extension=ack_deadline_seconds,
            ),
            scheduler=ThreadScheduler(self.executor_for(route)),
            await_callbacks_on_shutdown=True,
        )
        self._streams.append(stream)

    def executor_for(self, route: Route) -> ThreadPoolExecutor:
        """The delivery threads of `route`'s subscription: `in_flight` pushes at once."""
        if route.subscription not in self._executors:
            self._executors[route.subscription] = ThreadPoolExecutor(
                self.in_flight, thread_name_prefix=f"push-{route.subscription}"
            )
        return self._executors[route.subscription]

    def deliver(self, route: Route, message: Message) -> None:
        """Push `message` to its function, in its key's turn (the streaming pull's callback, on a delivery thread)."""
        if route.accepts is not None and not route.accepts(message.attributes):
            message.ack()  # as Pub/Sub does with what a subscription's filter leaves out: never pushed
            return
        if not message.ordering_key:
            self._push(route, message, done=lambda: None)
            return
        key = (route.subscription, message.ordering_key)
        self._turns.take(key, lambda: self._push(route, message, done=lambda: self._pass_turn(route, key)))

    def _pass_turn(self, route: Route, key: tuple[str, str]) -> None:
        """The key's push has ended: start the next one waiting for that key, on a delivery thread."""
        following = self._turns.give_back(key)
        if following is None:
            return
        try:
            self.executor_for(route).submit(following)
        except RuntimeError:  # stopping: the message is not acknowledged, so Pub/Sub delivers it again
            logger.debug("push stopped before a waiting message", extra={"subscription": route.subscription})

    def _push(self, route: Route, message: Message, done: Callable[[], None], attempt: int | None = None) -> None:
        """Post `message`; ack, dead-letter, nack or retry it after the backoff; `done()` once it is settled."""
        attempt = attempt or message.delivery_attempt or 1
        retried = False
        try:
            if self._post(route, message, attempt):
                message.ack()
            elif route.dead_lettering and attempt >= route.dead_lettering.max_delivery_attempts:
                self._dead_letter(route, route.dead_lettering, message, attempt)
                message.ack()
            elif route.dead_lettering:
                # Retried here after the backoff, as Pub/Sub holds an ordered key for its retry: the key stays
                # taken (its next message waits), the delivery thread goes to other keys meanwhile.
                retried = True
                self._backoffs.after(
                    backoff_seconds(route.dead_lettering, attempt),
                    functools.partial(self._retry, route, message, done, attempt + 1),
                )
            else:
                message.nack()  # redelivered after the subscription's retry backoff, counted for dead-lettering
        except Exception:
            message.nack()  # a dead letter not published, say: Pub/Sub delivers the message again
            raise
        finally:
            if not retried:
                done()

    def _retry(self, route: Route, message: Message, done: Callable[[], None], attempt: int) -> None:
        """Push `message` again on a delivery thread; when stopping, nack it (Pub/Sub delivers it again later)."""
        try:
            self.executor_for(route).submit(self._push, route, message, done, attempt)
        except RuntimeError:
            _nack_then(message, done)

    def _post(self, route: Route, message: Message, attempt: int) -> bool:
        """True when the function answered 2xx."""
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        try:
            answer = session.post(
                route.endpoint,
                json=push_body(self.project, route.subscription, message, attempt),
                timeout=route.ack_deadline_seconds,
            )
        except requests.RequestException as error:  # the function is down or too slow: Pub/Sub retries
            logger.info("push failed", extra={"subscription": route.subscription, "error": str(error)})
            return False
        return 200 <= answer.status_code < 300

    def _dead_letter(self, route: Route, dead_lettering: DeadLettering, message: Message, attempt: int) -> None:
        """Forward `message` to the dead-letter topic as Pub/Sub does (raising leaves it nacked, to try again)."""
        attributes = {
            **message.attributes,
            "CloudPubSubDeadLetterSourceSubscription": route.subscription,
            "CloudPubSubDeadLetterSourceSubscriptionProject": self.project,
            "CloudPubSubDeadLetterSourceDeliveryCount": str(attempt),
            "CloudPubSubDeadLetterSourceTopicPublishTime": _published_at(message),
        }
        topic = self._publisher.topic_path(self.project, dead_lettering.topic)
        self._publisher.publish(topic, message.data, **attributes).result(timeout=route.ack_deadline_seconds)
        logger.info("dead-lettered", extra={"subscription": route.subscription, "message_id": message.message_id})

    def stop(self) -> None:
        """Close every stream, waiting for the pushes under way; no thread is left behind."""
        for stream in self._streams:
            stream.cancel()
        for stream in self._streams:
            try:
                stream.result(timeout=30)
            except Exception:  # a stream that already ended with an error (its subscription deleted)
                logger.debug("push stream ended with an error", exc_info=True)
        self._streams.clear()
        for executor in self._executors.values():  # each stream's scheduler shut its own down; any left end here
            executor.shutdown(wait=True)
        self._backoffs.stop()  # the messages still waiting their backoff are nacked now: delivered again later
        self._subscriber.close()
        if "_publisher" in self.__dict__:  # created by a dead-lettering
            self._publisher.stop()
        # The client ends each stream's RPC in a short-lived thread of its own; wait for it too.
        for thread in threading.enumerate():
            if thread.name in _STREAM_SHUTDOWN_THREADS:
                thread.join(timeout=10)


def deliver(
    project: str,
    consumer_urls: dict[str, str],
    delivery: str = LOCAL,
    catalog: catalog_module.Catalog | None = None,
    max_backoff_seconds: int | None = None,
    in_flight: int = IN_FLIGHT,
) -> LocalPush | None:
    """Create the topology for `consumer_urls` and start delivering it: by the stand-in (returned) or the emulator."""
    if delivery not in DELIVERIES:
        raise ValueError(f"unknown push delivery {delivery!r}: one of {', '.join(DELIVERIES)}")
    catalog = catalog or catalog_module.load()
    topology.create(
        project, consumer_urls, catalog, max_backoff_seconds=max_backoff_seconds, emulator_push=delivery == EMULATOR
    )
    if delivery == EMULATOR:
        return None
    push = LocalPush(project, in_flight)
    for name, url in consumer_urls.items():
        consumer = catalog.consumers[name]
        forwarded = catalog.ordered(name) and consumer.dead_letter and consumer.max_delivery_attempts
        cap = max_backoff_seconds or consumer.max_backoff_seconds
        dead_lettering = (
            DeadLettering(
                catalog.dead_letter_topic,
                consumer.max_delivery_attempts,
                min(consumer.min_backoff_seconds, cap),
                min(consumer.max_backoff_seconds, cap),
            )
            if forwarded
            else None
        )
        push.route(name, url, consumer.topic, consumer.ack_deadline_seconds, dead_lettering, consumer.filter)
    return push
