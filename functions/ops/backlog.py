"""Each subscription's backlog: how many messages wait undelivered, and since when.

In Google Cloud, Cloud Monitoring reports it (num_undelivered_messages, oldest_unacked_message_age).
The Pub/Sub emulator has no Monitoring, and its snapshots carry no messages into another
subscription (seeking a fresh subscription to a snapshot delivers nothing). So locally the
subscription is seeked to a snapshot of itself, which keeps which messages are unacknowledged but
ends the leases that hide stuck messages from a pull, then pulled without acknowledging and
released at once with a zero ack deadline. So counting also offers every undelivered message to
its consumer again (consumers drop a redelivery by event id), and the emulator restarts their
delivery-attempt count (tried on the emulator: the seek sets it back to zero).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from google.api_core import exceptions
from google.cloud.pubsub_v1 import SubscriberClient

MONITORING_URL = "https://monitoring.googleapis.com/v3/projects/{project}/timeSeries"
UNDELIVERED_METRIC = "pubsub.googleapis.com/subscription/num_undelivered_messages"
OLDEST_AGE_METRIC = "pubsub.googleapis.com/subscription/oldest_unacked_message_age"
# Pub/Sub samples these metrics every minute and may publish them a few minutes late.
MONITORING_WINDOW = timedelta(minutes=10)
PULL_BATCH = 1000


@dataclass(frozen=True)
class Backlog:
    """One subscription's undelivered messages; `exists` is False when the subscription is not created."""

    subscription: str
    undelivered: int = 0
    oldest_published: datetime | None = None
    exists: bool = True

    def oldest_age(self, now: datetime) -> timedelta | None:
        return None if self.oldest_published is None else now - self.oldest_published


@dataclass(frozen=True)
class Sample:
    """One Monitoring point: the value, and when it was measured (an age is relative to that)."""

    value: int
    at: datetime


class BacklogReader(Protocol):
    reoffers_what_it_counts: bool

    def read(self, subscriptions: Iterable[str], now: datetime) -> list[Backlog]: ...


class EmulatorBacklog:
    """The emulator's backlog, counted by a pull after a seek to its own snapshot (re-offers what it counts)."""

    reoffers_what_it_counts = True

    def __init__(self, project: str, subscriber: SubscriberClient | None = None):
        self.project = project
        self.subscriber = subscriber or SubscriberClient()

    def read(self, subscriptions: Iterable[str], now: datetime) -> list[Backlog]:
        return [self.read_one(name) for name in subscriptions]

    def read_one(self, name: str) -> Backlog:
        path = self.subscriber.subscription_path(self.project, name)
        snapshot = self.subscriber.snapshot_path(self.project, f"ops-backlog-{uuid.uuid4().hex[:16]}")
        try:
            self.subscriber.create_snapshot(request={"name": snapshot, "subscription": path})
        except exceptions.NotFound:
            return Backlog(name, exists=False)
        try:
            # Seeking a subscription to a snapshot of itself keeps which messages are unacknowledged but
            # ends every lease: the emulator's push loop holds the messages of a failing push for the whole
            # retry backoff, and a killed consumer's until their ack deadline, where no pull sees them.
            self.subscriber.seek(request={"subscription": path, "snapshot": snapshot})
            received = self._pull_everything(path)
        finally:
            self.subscriber.delete_snapshot(request={"snapshot": snapshot})
        self._release(path, [m.ack_id for m in received])
        if not received:
            return Backlog(name)
        return Backlog(name, undelivered=len(received), oldest_published=min(m.message.publish_time for m in received))

    def _pull_everything(self, path: str) -> list:
        # Every message stays leased to us until all are counted, so none is counted twice.
        received: list = []
        while True:
            with warnings.catch_warnings():
                # Deprecated for Google Cloud, honoured by the emulator: without it an empty pull waits ~10 s
                # and a backlog of every catalog subscription would take minutes.
                warnings.simplefilter("ignore", DeprecationWarning)
                response = self.subscriber.pull(
                    request={"subscription": path, "max_messages": PULL_BATCH, "return_immediately": True},
                    timeout=10,
                    retry=None,
                )
            if not response.received_messages:
                return received
            received.extend(response.received_messages)

    def _release(self, path: str, ack_ids: list[str]) -> None:
        for start in range(0, len(ack_ids), PULL_BATCH):
            self.subscriber.modify_ack_deadline(
                request={
                    "subscription": path,
                    "ack_deadline_seconds": 0,
                    "ack_ids": ack_ids[start : start + PULL_BATCH],
                }
            )


class JsonGetter(Protocol):
    """What the Monitoring reader needs of an HTTP session: GET with query parameters, JSON back."""

    def __call__(self, url: str, params: Mapping[str, str]) -> dict: ...


class MonitoringBacklog:
    """Google Cloud's backlog, from the Pub/Sub metrics in Cloud Monitoring (no delivery attempt used)."""

    reoffers_what_it_counts = False

    def __init__(self, project: str, get_json: JsonGetter | None = None):
        self.project = project
        self.get_json = get_json or _authorized_get_json()

    def read(self, subscriptions: Iterable[str], now: datetime) -> list[Backlog]:
        undelivered = self.latest(UNDELIVERED_METRIC, now)
        ages = self.latest(OLDEST_AGE_METRIC, now)
        backlogs = []
        for name in subscriptions:
            if name not in undelivered and name not in ages:
                # No point in the window: Monitoring knows no such subscription (or it has never had traffic).
                backlogs.append(Backlog(name, exists=False))
                continue
            count = undelivered.get(name, Sample(0, now)).value
            age = ages.get(name)
            oldest = age.at - timedelta(seconds=age.value) if age and age.value and count else None
            backlogs.append(Backlog(name, undelivered=count, oldest_published=oldest))
        return backlogs

    def latest(self, metric: str, now: datetime) -> dict[str, Sample]:
        """The newest sample of `metric` per subscription id, over every page of the answer."""
        params = monitoring_query(metric, now)
        values: dict[str, Sample] = {}
        while True:
            page = self.get_json(MONITORING_URL.format(project=self.project), params)
            values.update(latest_per_subscription(page))
            token = page.get("nextPageToken")
            if not token:
                return values
            params = {**params, "pageToken": token}


def monitoring_query(metric: str, now: datetime) -> dict[str, str]:
    """The timeSeries.list parameters for one Pub/Sub subscription metric over the recent window."""
    return {
        "filter": f'metric.type = "{metric}" AND resource.type = "pubsub_subscription"',
        "interval.startTime": _rfc3339(now - MONITORING_WINDOW),
        "interval.endTime": _rfc3339(now),
        "view": "FULL",
    }


def latest_per_subscription(page: dict) -> dict[str, Sample]:
    """Subscription id -> its newest point, from one timeSeries.list answer."""
    values: dict[str, Sample] = {}
    for series in page.get("timeSeries", []):
        name = series["resource"]["labels"]["subscription_id"]
        points = series.get("points") or []
        if not points:
            continue
        # Monitoring returns points newest first; pick the newest anyway rather than rely on it.
        samples = [
            Sample(int(p["value"]["int64Value"]), datetime.fromisoformat(p["interval"]["endTime"])) for p in points
        ]
        values[name] = max(samples, key=lambda sample: sample.at)
    return values


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _authorized_get_json() -> JsonGetter:
    """GET with application default credentials (google-auth, already a dependency of the clients)."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/monitoring.read"])
    session = AuthorizedSession(credentials)

    def get_json(url: str, params: Mapping[str, str]) -> dict:
        response = session.get(url, params=dict(params), timeout=30)
        response.raise_for_status()
        return response.json()

    return get_json
