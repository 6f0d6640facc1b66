"""The ledger every money-moving service uses: balances by bucket, made of expiring lots, in Firestore.

Inside a consumer (one Firestore transaction, `ctx.txn`), read every account first, then change
and save them together; a transfer is two books saved in one call, so it is atomic:

    payer, payee = ledger.open(ctx, a), ledger.open(ctx, b)     # reads (UnknownAccount if absent)
    payer.debit("main", 2500, reason="transfer", reference=t)   # InsufficientFunds: nothing changes
    payee.credit("main", 2500, expires_at=None, reason="transfer", reference=t)
    ledger.save(ctx, payer, payee)                              # writes + follow-up events

- `open(ctx, msisdn, create=False) -> Book`: reads `accounts/{msisdn}` in the transaction and
  records the expiry of lots already due (expired money is never spent, even before the sweep).
  `create=True` gives a new empty account when there is none.
- `Book.credit(bucket, amount, *, expires_at, reason, reference) -> Entry` adds a lot;
  `Book.debit(bucket, amount, *, reason, reference) -> Entry` spends earliest-expiring lots first;
  `Book.withdraw_all(*, reason, reference)` empties every bucket (a recycled number's old owner).
- `save(ctx, *books)`: writes each changed account, creates its immutable entries
  (`accounts/{msisdn}/entries/{entry_id}`, `txn.create`, so never overwritten) and emits
  `balance.changed` per entry and `ledger.lot-expired` per expired lot.
- `read_account(db, msisdn, at=None) -> Account | None`: a plain read for synchronous answers
  (the `*100#` balance check), without the lots already due at `at` (default: now).
  `Account.buckets` maps names to `Bucket` (`.balance`, `.lots` earliest expiry first, each `Lot`
  with `.amount` and `.expires_at`); `Account.total` sums them.
- `accounts_due(db, before, limit, after=None)`: the expiry sweep's page of accounts whose
  `next_expiry` is at or before `before`.
- `check(db, msisdn) -> list[Discrepancy]`, `check_all(db)`: the invariant (entries sum to the
  balances, per bucket); `python -m functions.ledger check` runs it for an operator.
- `bucket_label(bucket, language) -> str`: a bucket's name for subscribers (texts `ledger.bucket.*`).

Errors: `InsufficientFunds` (a debit beyond the bucket's balance; nothing changed),
`InvalidAmount`, `InvalidBucket`, `UnknownAccount`, all `LedgerError`s.

Amounts are integer minor units. The pure rules live in shared/ledger_core.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.cloud import firestore

from shared import store, sweep, texts
from shared.events import BalanceChanged, LotExpired, utcnow
from shared.ledger_core import (
    Account,
    Bucket,
    Discrepancy,
    Entry,
    InsufficientFunds,
    InvalidAmount,
    InvalidBucket,
    LedgerError,
    Lot,
    LotMovement,
    reconcile,
)
from shared.runtime import Context

if TYPE_CHECKING:
    from shared.money import Currency

__all__ = [
    "Account",
    "Book",
    "Bucket",
    "Discrepancy",
    "Entry",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidBucket",
    "LedgerError",
    "Lot",
    "UnknownAccount",
    "accounts_due",
    "bucket_label",
    "check",
    "check_all",
    "open",
    "read_account",
    "save",
]

logger = logging.getLogger("vas.ledger")

ENTRIES = "entries"  # subcollection of each account document


class UnknownAccount(LedgerError):
    """The subscriber has no account (not provisioned)."""


@dataclass
class Book:
    """An account opened in a transaction, with the entries made since it was read."""

    account: Account
    now: datetime
    is_new: bool = False
    entries: list[Entry] = field(default_factory=list)

    @property
    def msisdn(self) -> str:
        return self.account.msisdn

    def credit(self, bucket: str, amount: int, *, expires_at: datetime | None, reason: str, reference: str) -> Entry:
        entry = self.account.credit(
            bucket, amount, expires_at=expires_at, reason=reason, reference=reference, at=self.now
        )
        self.entries.append(entry)
        return entry

    def debit(self, bucket: str, amount: int, *, reason: str, reference: str) -> Entry:
        entry = self.account.debit(bucket, amount, reason=reason, reference=reference, at=self.now)
        self.entries.append(entry)
        return entry

    def withdraw_all(self, *, reason: str, reference: str) -> dict[str, int]:
        """Take every bucket's whole balance, one debit entry each: {bucket: amount taken}."""
        taken = {}
        for name in sorted(self.account.buckets):
            amount = self.account.balance(name)
            if amount > 0:
                self.debit(name, amount, reason=reason, reference=reference)
                taken[name] = amount
        return taken

    @property
    def changed(self) -> bool:
        return self.is_new or bool(self.entries)


def _account_ref(db: firestore.Client, msisdn: str) -> firestore.DocumentReference:
    return db.collection(store.ACCOUNTS).document(msisdn)


def open(ctx: Context[Any], msisdn: str, *, create: bool = False) -> Book:  # noqa: A001 - reads like ledger.open(...)
    """Read an account inside `ctx.txn`; due lots are expired at once (entries saved with the book)."""
    document = ctx.get(_account_ref(ctx.db, msisdn)).to_dict()
    if document is not None:
        book = Book(account_from_document(document), now=ctx.now)
    elif create:
        book = Book(Account.new(msisdn, ctx.now), now=ctx.now, is_new=True)
    else:
        raise UnknownAccount(f"{msisdn} has no account")
    book.entries.extend(book.account.expire(ctx.now))
    return book


def save(ctx: Context[Any], *books: Book) -> None:
    """Write the changed accounts and their entries in `ctx.txn`, and queue their events."""
    msisdns = [book.msisdn for book in books]
    if len(set(msisdns)) != len(msisdns):
        raise ValueError("one account was opened twice in the same transaction")
    for book in books:
        if not book.changed:
            continue
        ref = _account_ref(ctx.db, book.msisdn)
        ctx.txn.set(ref, account_to_document(book.account))
        for entry in book.entries:
            ctx.txn.create(
                ref.collection(ENTRIES).document(entry.id),
                {
                    **entry_to_document(entry),
                    "event_id": ctx.event.id,
                    "correlation_id": ctx.event.correlation_id,
                    "consumer": ctx.consumer,
                },
            )
            _emit(ctx, book.account, entry)
        if book.entries:
            logger.info(
                "ledger changed",
                extra={"msisdn": book.msisdn, "entries": len(book.entries), "total": book.account.total},
            )
        book.entries, book.is_new = [], False


def _emit(ctx: Context[Any], account: Account, entry: Entry) -> None:
    purpose = f"ledger/{account.msisdn}/{entry.id}"
    ctx.emit(
        "balance.changed",
        BalanceChanged(
            msisdn=account.msisdn,
            bucket=entry.bucket,
            delta=entry.delta,
            balance=entry.balance_after,
            total=entry.total_after,
            reason=entry.reason,
            reference=entry.reference,
            entry_id=entry.id,
        ),
        purpose=f"{purpose}/balance",
    )
    if entry.kind == "expiry":
        [movement] = entry.lots
        ctx.emit(
            "ledger.lot-expired",
            LotExpired(
                msisdn=account.msisdn,
                bucket=entry.bucket,
                lot_id=movement.lot_id,
                amount=-movement.amount,
                expired_at=entry.expires_at,
            ),
            purpose=f"{purpose}/lot-expired",
        )


def read_account(db: firestore.Client, msisdn: str, at: datetime | None = None) -> Account | None:
    """The account as the subscriber can spend it at `at` (default now); None when there is none."""
    document = _account_ref(db, msisdn).get().to_dict()
    if document is None:
        return None
    return account_from_document(document).as_of(at or utcnow())


def accounts_due(
    db: firestore.Client, before: datetime, limit: int, after: tuple[datetime, str] | None = None
) -> list[tuple[datetime, str]]:
    """(next_expiry, msisdn) of accounts with a lot due by `before`, in expiry order, after a cursor."""
    return sweep.due_positions(db, store.ACCOUNTS, "next_expiry", before, limit, after)


def check(db: firestore.Client, msisdn: str) -> list[Discrepancy]:
    """The invariant for one account: its entries sum to its balances, bucket by bucket."""
    ref = _account_ref(db, msisdn)
    document = ref.get().to_dict()
    entries = [entry_from_document(doc.to_dict()) for doc in ref.collection(ENTRIES).stream()]
    if document is None:
        return (
            [Discrepancy(msisdn, None, f"no account document, but {len(entries)} entries")]
            if entries
            else [Discrepancy(msisdn, None, "no account")]
        )
    stored = {name: body.get("balance", 0) for name, body in (document.get("buckets") or {}).items()}
    return reconcile(account_from_document(document), entries, stored)


def check_all(db: firestore.Client) -> Iterator[tuple[str, list[Discrepancy]]]:
    """Every account with its discrepancies (an empty list when it is sound)."""
    # list_documents also yields ids whose document is gone but whose entries remain.
    for ref in db.collection(store.ACCOUNTS).list_documents():
        yield ref.id, check(db, ref.id)


# --- Firestore documents ------------------------------------------------------------------


def account_to_document(account: Account) -> dict[str, Any]:
    return {
        "msisdn": account.msisdn,
        "sequence": account.sequence,
        "total": account.total,
        "next_expiry": account.next_expiry,  # the sweep's query field; None leaves it out of range queries
        "created_at": account.created_at,
        "updated_at": account.updated_at,
        "buckets": {
            name: {
                "balance": bucket.balance,
                "lots": [
                    {"id": lot.id, "amount": lot.amount, "expires_at": lot.expires_at, "credited_at": lot.credited_at}
                    for lot in bucket.lots
                ],
            }
            for name, bucket in account.buckets.items()  # empty buckets stay: *100# shows them at 0
        },
    }


def account_from_document(document: dict[str, Any]) -> Account:
    buckets = {}
    for name, body in (document.get("buckets") or {}).items():
        lots = [
            Lot(
                id=item["id"], amount=item["amount"], expires_at=item.get("expires_at"), credited_at=item["credited_at"]
            )
            for item in body.get("lots") or []
        ]
        buckets[name] = Bucket(name, sorted(lots, key=Lot.spending_key))  # stable: keeps FIFO ties
    return Account(
        msisdn=document["msisdn"],
        buckets=buckets,
        sequence=document.get("sequence", 0),
        created_at=document.get("created_at"),
        updated_at=document.get("updated_at"),
    )


def entry_to_document(entry: Entry) -> dict:
    return {
        "id": entry.id,
        "msisdn": entry.msisdn,
        "kind": entry.kind,
        "bucket": entry.bucket,
        "delta": entry.delta,
        "lots": [{"lot_id": m.lot_id, "amount": m.amount} for m in entry.lots],
        "balance_after": entry.balance_after,
        "total_after": entry.total_after,
        "reason": entry.reason,
        "reference": entry.reference,
        "at": entry.at,
        "expires_at": entry.expires_at,
    }


def entry_from_document(document: dict[str, Any]) -> Entry:
    return Entry(
        id=document["id"],
        msisdn=document["msisdn"],
        kind=document["kind"],
        bucket=document["bucket"],
        delta=document["delta"],
        lots=tuple(LotMovement(m["lot_id"], m["amount"]) for m in document["lots"]),
        balance_after=document["balance_after"],
        total_after=document["total_after"],
        reason=document["reason"],
        reference=document["reference"],
        at=document["at"],
        expires_at=document.get("expires_at"),
    )


def bucket_label(bucket: str, language: str | None) -> str:
    """A bucket's name as subscribers read it (texts `ledger.bucket.<name>`), else its own name."""
    try:
        return texts.render(f"ledger.bucket.{bucket}", language)
    except texts.UnknownText:
        return bucket


def bucket_amount(bucket: str, amount: int, language: str | None, currency: Currency) -> str:
    """An amount of `bucket` as subscribers read it: in its unit (texts `ledger.unit.<name>`: MB, minutes, SMS)
    when the bucket counts allowances, else as money."""
    try:
        return texts.render(f"ledger.unit.{bucket}", language, amount=amount)
    except texts.UnknownText:
        return currency.format(amount)
