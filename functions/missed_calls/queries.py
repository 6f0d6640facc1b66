"""The Firestore queries of the missed-call service, each named by what it finds.

Each needs an index in production (terraform): the composite ones are listed in README.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from functions.missed_calls import documents
from functions.missed_calls.calls import PENDING
from functions.missed_calls.models import MissedCall
from shared import runtime, sweep


def pending_calls(ctx: runtime.Context[Any], callee: str, limit: int) -> list[MissedCall]:
    """The callee's pending calls, oldest first, read in the transaction (composite: callee, status, called_at)."""
    query = (
        ctx.db.collection(documents.MISSED_CALLS)
        .where(filter=FieldFilter("callee", "==", callee))
        .where(filter=FieldFilter("status", "==", PENDING))
        .order_by("called_at")
        .order_by("__name__")
        .limit(limit)
    )
    return [MissedCall.model_validate(snapshot.to_dict()) for snapshot in ctx.txn.get(query)]


def due(
    db: firestore.Client,
    collection: str,
    field: str,
    before: datetime,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[tuple[datetime, str]]:
    """(field value, id) of the documents whose `field` is at or before `before`, in that order (single-field index)."""
    return sweep.due_positions(db, collection, field, before, limit, after)


def expired_voicemails(
    db: firestore.Client, before: datetime, limit: int, after: tuple[datetime, str] | None = None
) -> list[tuple[datetime, str, str]]:
    """(delete_after, call_sid, callee) of voice messages not deleted yet (composite: deleted, delete_after)."""
    query = (
        db.collection(documents.VOICEMAILS)
        .where(filter=FieldFilter("deleted", "==", False))
        .where(filter=FieldFilter("delete_after", "<=", before))
        .order_by("delete_after")
        .order_by("__name__")
        .limit(limit)
    )
    if after is not None:
        query = query.start_after(list(after))
    return [(s.get("delete_after"), s.id, s.get("callee")) for s in query.select(["delete_after", "callee"]).stream()]


def calls_of(db: firestore.Client, callee: str, status: str) -> list[dict[str, Any]]:
    """A callee's calls in one status, for the operator CLI (equality filters only: no composite index)."""
    query = (
        db.collection(documents.MISSED_CALLS)
        .where(filter=FieldFilter("callee", "==", callee))
        .where(filter=FieldFilter("status", "==", status))
    )
    return sorted(_streamed(query), key=lambda call: call["called_at"])


def voicemails_of(db: firestore.Client, callee: str) -> list[dict[str, Any]]:
    query = db.collection(documents.VOICEMAILS).where(filter=FieldFilter("callee", "==", callee))
    return sorted(_streamed(query), key=lambda message: message["recorded_at"])


def charges_of(db: firestore.Client, payer: str, month: str | None = None) -> list[dict[str, Any]]:
    """The charge records of a payer (this month's when `month` is given), oldest first."""
    query = db.collection(documents.CHARGES).where(filter=FieldFilter("payer", "==", payer))
    if month is not None:
        query = query.where(filter=FieldFilter("month", "==", month))
    return sorted(_streamed(query), key=lambda charge: charge["at"])


def _streamed(query: firestore.Query) -> list[dict[str, Any]]:
    """The fields of every document the query finds (a query yields existing documents only)."""
    return [fields for snapshot in query.stream() if (fields := snapshot.to_dict()) is not None]
