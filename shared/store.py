"""Firestore access: one client a process (honours FIRESTORE_EMULATOR_HOST)."""

from __future__ import annotations

import functools

from google.cloud import firestore

from shared import settings


@functools.cache
def db() -> firestore.Client:
    return firestore.Client(project=settings.get().project)


# Collections, named once.
SUBSCRIBERS = "subscribers"
ACCOUNTS = "accounts"
PROCESSED = "processed"
REJECTED = "rejected"
DEAD_LETTERS = "dead_letters"
MESSAGES = "messages"
TOPUPS = "topups"  # one document per BSS recharge reference: a recharge is applied once
# former_owners/{archive_id}: a recycled number's old owner (provisioning), and under it each
# service's documents of that owner, in subcollections named like the service's own (shared/archive.py).
FORMER_OWNERS = "former_owners"
