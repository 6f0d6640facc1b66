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
from typing import Any

from google.cloud import firestore

from functions.transfers import records, vouchers
from functions.transfers.rules import History, Party
from shared import ledger, store
from shared.runtime import Context, Documents

HISTORY = "transfer_history"
RECORDS = "transfers"
VOUCHERS = "vouchers"
VOUCHER_SERIALS = "voucher_serials"
VOUCHER_ATTEMPTS = "voucher_attempts"  # per caller: recent wrong codes
VOUCHER_CARD_ATTEMPTS = "voucher_card_attempts"  # per card (its serial as keyed), across callers: recent wrong codes
# Wrong-code counts matter only within their window: Firestore's TTL (infrastructure.yaml) deletes
# each document once its newest wrong code has left it.
EXPIRING = (VOUCHER_ATTEMPTS, VOUCHER_CARD_ATTEMPTS)


@dataclass(frozen=True)
class Pair:
    """The two parties of a request as read in the transaction, and the reference it takes."""

    first: Party
    second: Party
    reference: str
    first_history: History = field(default_factory=lambda: History.from_document(None))
    second_history: History = field(default_factory=lambda: History.from_document(None))
    extra: Documents = field(default_factory=lambda: Documents({}))  # the other documents asked for


def read_pair(
    ctx: Context[Any],
    first: str,
    second: str,
    *,
    kind: records.Kind,
    default_language: str,
    histories: bool = False,
    extra: Iterable[firestore.DocumentReference] = (),
) -> Pair:
    """Both subscribers, their histories when asked, the first candidate reference and `extra`: one round trip."""
    first_reference = next(records.candidates(kind, ctx.event.id))
    refs = [subscriber(ctx, first), subscriber(ctx, second), record(ctx, first_reference), *extra]
    if histories:
        refs += [history(ctx, first), history(ctx, second)]
    docs = ctx.read(refs)
    found = {}
    if histories:
        found = {
            "first_history": History.from_document(docs.get(history(ctx, first))),
            "second_history": History.from_document(docs.get(history(ctx, second))),
        }
    return Pair(
        first=Party.from_documents(first, docs.get(subscriber(ctx, first)), default_language),
        second=Party.from_documents(second, docs.get(subscriber(ctx, second)), default_language),
        reference=claim_reference(ctx, kind, docs.get(record(ctx, first_reference))),
        extra=docs,
        **found,
    )


def subscriber(ctx: Context[Any], msisdn: str) -> firestore.DocumentReference:
    return ctx.doc(store.SUBSCRIBERS, msisdn)


def history(ctx: Context[Any], msisdn: str) -> firestore.DocumentReference:
    return ctx.doc(HISTORY, msisdn)


def record(ctx: Context[Any], reference: str) -> firestore.DocumentReference:
    return ctx.doc(RECORDS, reference)


def card(ctx: Context[Any], secret_code: str) -> firestore.DocumentReference:
    """A pay card, by the key of its secret code (vouchers.code_key)."""
    return ctx.doc(VOUCHERS, vouchers.code_key(secret_code))


def card_serial(ctx: Context[Any], serial: str) -> firestore.DocumentReference:
    return ctx.doc(VOUCHER_SERIALS, serial)


def wrong_codes_of_caller(ctx: Context[Any], msisdn: str) -> firestore.DocumentReference:
    return ctx.doc(VOUCHER_ATTEMPTS, msisdn)


def wrong_codes_on_card(ctx: Context[Any], keyed_serial: str) -> firestore.DocumentReference:
    return ctx.doc(VOUCHER_CARD_ATTEMPTS, keyed_serial)


def open_book(ctx: Context[Any], msisdn: str) -> ledger.Book | None:
    """The party's ledger book, or None when it has no account here (unknown, or a partner network's)."""
    try:
        return ledger.open(ctx, msisdn)
    except ledger.UnknownAccount:
        return None


def claim_reference(ctx: Context[Any], kind: records.Kind, first_candidate: dict | None) -> str:
    """The first candidate reference no other request holds (`first_candidate`: the first one's record)."""
    found = iter(records.candidates(kind, ctx.event.id))
    candidate = next(found)
    if not records.taken_by_another(first_candidate, ctx.event.id):
        return candidate
    for candidate in found:
        ref = record(ctx, candidate)
        if not records.taken_by_another(ctx.read(ref).get(ref), ctx.event.id):
            return candidate
    raise RuntimeError(f"every candidate reference of event {ctx.event.id} is taken")


def write_history(ctx: Context[Any], msisdn: str, updated: History) -> None:
    ctx.txn.set(history(ctx, msisdn), updated.to_document())


def write_record(ctx: Context[Any], document: dict[str, Any]) -> None:
    # create: a reference is never overwritten, even by a bug that claimed it twice.
    ctx.txn.create(record(ctx, document["reference"]), document)
