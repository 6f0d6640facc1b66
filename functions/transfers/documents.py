"""Where transfers keep their state in Firestore, read and written inside the consumer's transaction.

- `transfer_history/{msisdn}`: the party's movements of the last HISTORY_DAYS (rules.History);
  read and written with the ledger change, it serialises one sender's transfers, so concurrent
  requests can never pass a limit together.
- `transfers/{reference}`: the record of each request (records.py).
- `vouchers/…`, `voucher_serials/…`, `voucher_attempts/…`, `voucher_card_attempts/…`: pay cards (vouchers.py).
- A recycled number's old owner's history and wrong codes move to `former_owners/{archive_id}`
  (main.on_reassigned).

Every read happens before the transaction's first write (Firestore requires it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from google.cloud import firestore

from functions.transfers import records
from functions.transfers.rules import History, Party
from shared import ledger, store

HISTORY = "transfer_history"
RECORDS = "transfers"


def read(ctx, refs: Iterable[firestore.DocumentReference]) -> dict[str, dict | None]:
    """Several documents in one round trip, by path (None for a missing one)."""
    refs = list({ref.path: ref for ref in refs}.values())
    return {snap.reference.path: (snap.to_dict() if snap.exists else None)
            for snap in ctx.db.get_all(refs, transaction=ctx.txn)}


@dataclass(frozen=True)
class Pair:
    """The two parties of a request as read in the transaction, and the reference it takes."""

    first: Party
    second: Party
    reference: str
    first_history: History = field(default_factory=lambda: History.from_document(None))
    second_history: History = field(default_factory=lambda: History.from_document(None))
    extra: dict[str, dict | None] = field(default_factory=dict)  # by path: the other documents asked for


def read_pair(ctx, first: str, second: str, *, kind: records.Kind, default_language: str,
              histories: bool = False, extra: Iterable[firestore.DocumentReference] = ()) -> Pair:
    """Both subscribers, their histories when asked, the first candidate reference and `extra`: one round trip."""
    first_reference = next(records.candidates(kind, ctx.event.id))
    extra = list(extra)
    refs = [subscriber(ctx, first), subscriber(ctx, second), record(ctx, first_reference), *extra]
    if histories:
        refs += [history(ctx, first), history(ctx, second)]
    docs = read(ctx, refs)
    found = {}
    if histories:
        found = {"first_history": History.from_document(docs[history(ctx, first).path]),
                 "second_history": History.from_document(docs[history(ctx, second).path])}
    return Pair(first=Party.from_documents(first, docs[subscriber(ctx, first).path], default_language),
                second=Party.from_documents(second, docs[subscriber(ctx, second).path], default_language),
                reference=claim_reference(ctx, kind, docs[record(ctx, first_reference).path]),
                extra={ref.path: docs[ref.path] for ref in extra}, **found)


def subscriber(ctx, msisdn: str) -> firestore.DocumentReference:
    return ctx.doc(store.SUBSCRIBERS, msisdn)


def history(ctx, msisdn: str) -> firestore.DocumentReference:
    return ctx.doc(HISTORY, msisdn)


def record(ctx, reference: str) -> firestore.DocumentReference:
    return ctx.doc(RECORDS, reference)


def open_book(ctx, msisdn: str) -> ledger.Book | None:
    """The party's ledger book, or None when it has no account here (unknown, or a partner network's)."""
    try:
        return ledger.open(ctx, msisdn)
    except ledger.UnknownAccount:
        return None


def claim_reference(ctx, kind: records.Kind, first_candidate: dict | None) -> str:
    """The first candidate reference no other request holds (`first_candidate`: the first one's record)."""
    found = iter(records.candidates(kind, ctx.event.id))
    candidate = next(found)
    if not records.taken_by_another(first_candidate, ctx.event.id):
        return candidate
    for candidate in found:
        if not records.taken_by_another(ctx.get(record(ctx, candidate)).to_dict(), ctx.event.id):
            return candidate
    raise RuntimeError(f"every candidate reference of event {ctx.event.id} is taken")


def write_history(ctx, msisdn: str, updated: History) -> None:
    ctx.txn.set(history(ctx, msisdn), updated.to_document())


def write_record(ctx, document: dict) -> None:
    # create: a reference is never overwritten, even by a bug that claimed it twice.
    ctx.txn.create(record(ctx, document["reference"]), document)
