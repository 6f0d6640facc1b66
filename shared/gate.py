"""Events about one thing (a sender's transfers, a pay card's activations, a callee's missed calls)
enter their transaction one at a time: a short lease, taken before the transaction's reads.

Correctness never depends on this: the transaction reads and writes the sender's account and
history, so Firestore serialises concurrent transfers and no limit or minimum can be passed.
The gate is about progress. Transactions that all read a sender's documents and then all commit
wait on each other's read locks; Firestore breaks the tie by aborting the younger (wound-wait),
but its emulator only by a 2-second lock timeout that aborts everyone, so fifty requests of one
sender could abort each other for minutes. Queued at the gate, they commit one after another.

The lease is a document created with `create` (fails when it exists): the holder is the event
id, so the transaction's own retries pass; it is removed after the commit, and a holder that
died leaves it for at most LEASE. A request that waited MAX_WAIT goes ahead without it.
"""

from __future__ import annotations

import contextlib
import random
import time
from datetime import UTC, datetime, timedelta

from google.api_core import exceptions
from google.cloud import firestore

from shared import store

COLLECTION = store.GATES  # one document per key while held; keys are prefixed by their service
LEASE = timedelta(seconds=5)
MAX_WAIT = timedelta(seconds=15)


def enter(db: firestore.Client, key: str, holder: str) -> bool:
    """Wait for the gate of `key` and hold it; False when it could not be had within MAX_WAIT."""
    ref = db.collection(COLLECTION).document(key)
    deadline = time.monotonic() + MAX_WAIT.total_seconds()
    while True:
        now = datetime.now(UTC)
        try:
            # A lease its holder never removed is dead once `until` passes; the TTL policy clears it.
            ref.create({"holder": holder, "until": now + LEASE, store.EXPIRES_AT: now + LEASE})
            return True
        except exceptions.Conflict:
            pass
        snapshot = ref.get()
        if snapshot.exists and snapshot.get("holder") == holder:
            return True  # the transaction is running again after an abort: still ours
        if snapshot.exists and snapshot.get("until") < now:
            _remove(ref, snapshot)  # the holder died: take over
            continue
        if time.monotonic() > deadline:
            return False
        time.sleep(random.uniform(0.005, 0.03))


def leave(db: firestore.Client, key: str, holder: str) -> None:
    """Open the gate if `holder` still holds it."""
    ref = db.collection(COLLECTION).document(key)
    snapshot = ref.get()
    if snapshot.exists and snapshot.get("holder") == holder:
        _remove(ref, snapshot)


def _remove(ref: firestore.DocumentReference, seen: firestore.DocumentSnapshot) -> None:
    # Only the lease we read: a newer holder's stays.
    with contextlib.suppress(exceptions.FailedPrecondition, exceptions.NotFound):
        ref.delete(option=ref._client.write_option(last_update_time=seen.update_time))
