"""Firestore access: one client a process (honours FIRESTORE_EMULATOR_HOST)."""

from __future__ import annotations

import functools
from datetime import timedelta
from urllib.parse import quote

from google.cloud import firestore

from shared import metering, settings

# On a metered local stack, count this process's requests from its first one (shared/metering.py).
_meter = metering.process_meter()


@functools.cache
def db() -> firestore.Client:
    client = firestore.Client(project=settings.get().project)
    return metering.metered_client(client, _meter) if _meter is not None else client


# Collections, named once.
SUBSCRIBERS = "subscribers"
ACCOUNTS = "accounts"
PROCESSED = "processed"
REJECTED = "rejected"
DEAD_LETTERS = "dead_letters"
MESSAGES = "messages"
EMAILS = "emails"  # functions/notify/emails.py: one record per email.send event
TOPUPS = "topups"  # one document per BSS recharge reference: a recharge is applied once
# former_owners/{archive_id}: a recycled number's old owner (provisioning), and under it each
# service's documents of that owner, in subcollections named like the service's own (shared/archive.py).
FORMER_OWNERS = "former_owners"

# Idempotency records carry EXPIRES_AT; Firestore's TTL policy on that field (one per collection
# of EXPIRING, declared in shared/infrastructure.yaml) deletes each document once the time has passed, so they do not
# grow forever.
EXPIRES_AT = "expire_at"
EXPIRING = (PROCESSED,)
# Pub/Sub keeps an unacknowledged message at most 7 days: no redelivery comes later than that.
PUBSUB_RETENTION = timedelta(days=7)
# A processed marker must outlive every redelivery of its event, by a wide margin: a marker gone
# too early would let a late copy apply the event twice.
MARKER_TTL = timedelta(days=30)


def document_id(text: str) -> str:
    """A Firestore document id naming `text` (a BSS reference): '/' and other path characters escaped."""
    key = quote(text, safe="")
    # Firestore reserves these ids.
    return f"ref:{key}" if key in (".", "..") or (key.startswith("__") and key.endswith("__")) else key
