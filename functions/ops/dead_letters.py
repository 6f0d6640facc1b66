"""Dead letters: messages that exhausted their delivery attempts, kept for an operator to replay.

Pub/Sub forwards the message unchanged with attributes naming the source subscription and the
delivery count; we keep data and attributes as they came so a replay is byte-for-byte the original,
except secret payload fields (a pay-card code, a PIN: events.SECRET), which are never stored: such
a message cannot be replayed, the subscriber has to key the code again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import catalog, store

DEAD_LETTER_ATTRIBUTES = (
    "CloudPubSubDeadLetterSourceSubscription",
    "CloudPubSubDeadLetterSourceSubscriptionProject",
    "CloudPubSubDeadLetterSourceDeliveryCount",
    "CloudPubSubDeadLetterSourceTopicPublishTime",
)


# A message is dead-lettered within Pub/Sub's retention of its publication, and its processed marker
# (if a delivery committed before failing) lives MARKER_TTL from then: replayed later, the event
# could be applied a second time.
REPLAY_WINDOW = store.MARKER_TTL - store.PUBSUB_RETENTION


@dataclass(frozen=True)
class Replay:
    topic: str
    data: bytes
    attributes: dict[str, str]


def record(message_id: str, data: bytes, attributes: dict[str, str]) -> dict:
    """The document stored for one dead letter."""
    envelope = _envelope(data)
    text, hidden = catalog.redacted_message(data, *filter(None, [attributes.get("event_type")]))
    return {
        "message_id": message_id,
        "data": text,
        "redacted": hidden,
        "attributes": attributes,
        "event_id": envelope.get("id") or attributes.get("event_id"),
        "event_type": envelope.get("type") or attributes.get("event_type"),
        "source_subscription": attributes.get("CloudPubSubDeadLetterSourceSubscription"),
        "delivery_count": int(attributes.get("CloudPubSubDeadLetterSourceDeliveryCount") or 0),
        "status": "dead",
    }


def replay_of(stored: dict[str, Any], now: datetime) -> Replay:
    """The original message to publish again on its topic (the consumer is idempotent by event id)."""
    topic = stored.get("event_type")
    if not topic:
        raise ValueError(f"dead letter {stored.get('message_id')} names no topic; it cannot be replayed")
    dead_since = stored.get("at")
    if isinstance(dead_since, datetime) and now - dead_since > REPLAY_WINDOW:
        raise ValueError(
            f"dead letter {stored.get('message_id')} is older than {REPLAY_WINDOW.days} days: its "
            "processed marker may have expired, so a replay could apply it twice"
        )
    if stored.get("redacted"):
        raise ValueError(
            f"dead letter {stored.get('message_id')} cannot be replayed: its secret fields "
            f"({', '.join(stored['redacted'])}) were not kept; the subscriber must send it again"
        )
    attributes = {k: v for k, v in (stored.get("attributes") or {}).items() if k not in DEAD_LETTER_ATTRIBUTES}
    return Replay(topic, stored["data"].encode(), attributes)


def _envelope(data: bytes) -> dict:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
