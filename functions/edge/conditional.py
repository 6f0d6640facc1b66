"""A document the edge writes at the moment it answers, where a count that arrives later by event
would come too late (DESIGN.md: the edge reads, services write through events).

Two counts are like that: wrong voicemail PINs (a guess compared now must be counted now) and an
offer's plays (a caller must never hear a campaign beyond its cap, even from 100 calls at once).
The change is applied to the document as read and written only if nobody wrote it since (else it is
read again): concurrent transactions on one document wait on each other's locks, which the
Firestore emulator breaks only by timing them all out after 2 seconds, while a conditional write
loses at once and retries in milliseconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from google.api_core import exceptions
from google.cloud import firestore

from functions.edge.lookup import READ_DEADLINE_SECONDS, READ_RETRY

MAX_WRITES = 50  # conditional writes lost to other requests before giving up
Result = TypeVar("Result")
# What to write for the document as read (None: write nothing), and what the change comes to.
Change = Callable[[Mapping[str, Any] | None], tuple[dict[str, Any] | None, Result]]


class DocumentBusy(RuntimeError):
    """The document kept changing under this request: nothing was written."""


def change_document(
    client: firestore.Client,
    collection: str,
    document_id: str,
    change: Change[Result],
    *,
    as_read: tuple[Mapping[str, Any] | None, Any] | None = None,
) -> Result:
    """Apply `change` to the document as read, written only if nobody wrote it since; the change's result.

    `as_read`: the document and its update time from the request's own read (RequestDocuments.as_read),
    so the first attempt needs no read of its own; a write it loses reads the document again.
    """
    ref = client.collection(collection).document(document_id)
    for _ in range(MAX_WRITES):
        if as_read is not None:
            stored, version = as_read
            as_read = None
        else:
            snapshot = ref.get(retry=READ_RETRY, timeout=READ_DEADLINE_SECONDS)
            stored, version = (snapshot.to_dict(), snapshot.update_time) if snapshot.exists else (None, None)
        written, result = change(stored)
        if written is None:
            return result
        try:
            if stored is not None:
                ref.update(written, option=client.write_option(last_update_time=version))
            else:
                ref.create(written)
            return result
        except (exceptions.FailedPrecondition, exceptions.Conflict, exceptions.NotFound):
            time.sleep(random.uniform(0.005, 0.03))  # another request wrote first: read it again
    raise DocumentBusy(f"{collection}/{document_id} changed {MAX_WRITES} times under this request")
