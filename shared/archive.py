"""A recycled number's old owner, archived: `former_owners/{archive_id}` and what each service files under it.

Provisioning writes the root document when the BSS gives a number to a new owner (the old
subscriber record and the account it closed); each service then moves its documents of the old
owner to `former_owners/{archive_id}/{collection}/{doc_id}`, named like its own collection, so the
new owner sees none of it and customer care can still answer questions about the old owner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore

from shared import store
from shared.runtime import Context


def archive_id(old_subscriber_id: str | None, msisdn: str, effective_at: datetime) -> str:
    """The old owner's archive: their BSS id (the number when the BSS never named one) and when they left."""
    return f"{old_subscriber_id or msisdn}@{effective_at.strftime('%Y%m%dT%H%M%S.%fZ')}"


def asked_before_owner(requested_at: datetime, owner_since: datetime | None) -> bool:
    """Whether a request made at `requested_at` predates the number's present owner (provisioning's `owner_since`)."""
    return owner_since is not None and requested_at < owner_since


def root(ctx: Context[Any], archive: str) -> firestore.DocumentReference:
    return ctx.doc(store.FORMER_OWNERS, archive)


def filed(ctx: Context[Any], archive: str, collection: str, doc_id: str) -> firestore.DocumentReference:
    """Where a service files one of the old owner's documents."""
    return root(ctx, archive).collection(collection).document(doc_id)


def move(ctx: Context[Any], archive: str, ref: firestore.DocumentReference, document: dict[str, Any]) -> None:
    """File `document` (read in this transaction from `ref`) in the archive and delete the live one."""
    ctx.txn.set(filed(ctx, archive, ref.parent.id, ref.id), {**document, "archived_at": ctx.now})
    ctx.txn.delete(ref)
