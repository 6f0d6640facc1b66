"""Operations: the dead-letter consumer (stores every dead letter for listing and replay)."""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http import CloudEvent
from google.cloud import firestore

from functions.ops import dead_letters
from shared import log, runtime, settings, store

logger = logging.getLogger("vas.ops")


@functions_framework.cloud_event
def on_dead_letter(cloud_event: CloudEvent) -> None:
    """Keep the message as it came; the message id makes a redelivered dead letter one record."""
    log.setup(settings.get().function or "ops-dead-letter", settings.get().log_level)
    message_id, data, attributes = runtime.decode_push(cloud_event)
    doc = dead_letters.record(message_id, data, attributes)
    store.db().collection(store.DEAD_LETTERS).document(message_id).set(
        {**doc, "at": firestore.SERVER_TIMESTAMP}, merge=True
    )
    logger.error(
        "dead letter stored",
        extra={
            "message_id": message_id,
            "event_type": doc["event_type"],
            "source_subscription": doc["source_subscription"],
            "delivery_count": doc["delivery_count"],
        },
    )
