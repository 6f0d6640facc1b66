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
from shared import runtime


def pending_calls(
    ctx: runtime.Context[Any], callee: str, limit: int, listed: list[str] | None
) -> tuple[list[MissedCall], list[str] | None]:
    """The callee's pending calls, oldest first, at most `limit`; and every pending call's sid (None when unknown).

    `listed` is the user document's `pending_calls`, read in this transaction: those calls are read by reference
    and re-checked, without a query. The Firestore emulator scans a whole collection for a query (a second per
    attach among 10 000 calls) and, inside a transaction, locks it all (two attaches of different callees, and any
    record of a third, waited for each other and aborted on its lock timeout). No call made pending meanwhile is
    missed: a record that makes a call pending writes that document (it adds the call, or forgets the list,
    delivery.arrival), so Firestore runs the two transactions one after the other.

    Without a list (a user document older than the field, or one whose list a record forgot rather than write it
    for that alone), the query runs in the transaction, which serialises it with any record of a call it covers;
    an answer with fewer than `limit` calls is complete and starts the list again.
    (composite index: callee, status, called_at)
    """
    if listed is not None:
        refs = [ctx.doc(documents.MISSED_CALLS, sid) for sid in listed]
        docs = ctx.read(refs) if refs else None
        found = [MissedCall.model_validate(fields) for ref in refs if docs and (fields := docs.get(ref)) is not None]
        still = sorted(
            (call for call in found if call.callee == callee and call.status == PENDING),
            key=lambda call: (call.called_at, call.call_sid),
        )
        return still[:limit], [call.call_sid for call in still]
    query = (
        ctx.db.collection(documents.MISSED_CALLS)
        .where(filter=FieldFilter("callee", "==", callee))
        .where(filter=FieldFilter("status", "==", PENDING))
        .order_by("called_at")
        .order_by("__name__")
        .limit(limit)
    )
    calls = [MissedCall.model_validate(snapshot.to_dict()) for snapshot in ctx.txn.get(query)]
    return calls, [call.call_sid for call in calls] if len(calls) < limit else None


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
