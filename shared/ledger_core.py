"""The ledger's pure domain: accounts, buckets, lots and the entries every change produces.

No I/O here (shared/ledger.py stores it in Firestore). An `Account` holds named buckets; a bucket
is a list of lots, each with an optional expiry, kept in spending order: earliest expiry first,
lots that never expire last, first-in first-out among equal expiries. Every change returns an
immutable `Entry`; entry ids are the account's sequence numbers, zero-padded so they sort in the
order they happened, and a lot's id is the id of the credit entry that created it.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

MAIN = "main"
MAX_BALANCE = 2**62  # far below Firestore's signed 64-bit integers, so sums never overflow
BUCKET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

EntryKind = Literal["credit", "debit", "expiry"]


class LedgerError(Exception):
    """Base of the ledger's domain errors."""


class InsufficientFunds(LedgerError):
    """A debit asked for more than the bucket holds; nothing was changed."""

    def __init__(self, msisdn: str, bucket: str, requested: int, available: int):
        super().__init__(f"{bucket} balance of {msisdn} is {available}, {requested} was requested")
        self.msisdn, self.bucket, self.requested, self.available = msisdn, bucket, requested, available


class InvalidAmount(LedgerError, ValueError):
    """Amounts are positive integers of minor units."""


class InvalidBucket(LedgerError, ValueError):
    """Bucket names are short lowercase identifiers (main, bonus, idd, …)."""


def entry_id(sequence: int) -> str:
    return f"{sequence:012d}"


@dataclass(frozen=True)
class Lot:
    """An amount credited together, spendable until `expires_at` (None: never expires)."""

    id: str
    amount: int
    expires_at: datetime | None
    credited_at: datetime

    def spending_key(self) -> tuple:
        # Never-expiring lots sort after every dated one; ties keep their insertion order.
        return (self.expires_at is None, self.expires_at or self.credited_at)

    def is_due(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass
class Bucket:
    name: str
    lots: list[Lot] = field(default_factory=list)

    @property
    def balance(self) -> int:
        return sum(lot.amount for lot in self.lots)

    def add(self, lot: Lot) -> None:
        keys = [existing.spending_key() for existing in self.lots]
        self.lots.insert(bisect.bisect_right(keys, lot.spending_key()), lot)


@dataclass(frozen=True)
class LotMovement:
    lot_id: str
    amount: int  # signed like the entry's delta


@dataclass(frozen=True)
class Entry:
    """One immutable line of an account's history."""

    id: str
    msisdn: str
    kind: EntryKind
    bucket: str
    delta: int
    lots: tuple[LotMovement, ...]
    balance_after: int
    total_after: int
    reason: str
    reference: str
    at: datetime
    expires_at: datetime | None = None  # of the lot a credit created or an expiry removed


@dataclass
class Account:
    """A subscriber's balances by bucket. Methods change it and return the entries they made."""

    msisdn: str
    buckets: dict[str, Bucket] = field(default_factory=dict)
    sequence: int = 0  # entries made so far; the next entry's id is sequence + 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def new(cls, msisdn: str, at: datetime) -> Account:
        """An empty account; it always shows a main balance, even at zero."""
        return cls(msisdn=msisdn, buckets={MAIN: Bucket(MAIN)}, created_at=at, updated_at=at)

    @property
    def total(self) -> int:
        return sum(bucket.balance for bucket in self.buckets.values())

    @property
    def next_expiry(self) -> datetime | None:
        dated = [lot.expires_at for b in self.buckets.values() for lot in b.lots if lot.expires_at]
        return min(dated, default=None)

    def balance(self, bucket: str) -> int:
        return self.buckets[bucket].balance if bucket in self.buckets else 0

    def credit(
        self, bucket: str, amount: int, *, expires_at: datetime | None, reason: str, reference: str, at: datetime
    ) -> Entry:
        """Add a lot to `bucket` (created when new)."""
        _check_bucket(bucket)
        _check_amount(amount)
        if self.total + amount > MAX_BALANCE:
            raise InvalidAmount(f"crediting {amount} would exceed the largest balance the ledger keeps")
        lot_id = entry_id(self.sequence + 1)
        self.buckets.setdefault(bucket, Bucket(bucket)).add(
            Lot(id=lot_id, amount=amount, expires_at=expires_at, credited_at=at)
        )
        return self._entry("credit", bucket, amount, (LotMovement(lot_id, amount),), reason, reference, at, expires_at)

    def debit(self, bucket: str, amount: int, *, reason: str, reference: str, at: datetime) -> Entry:
        """Take `amount` from `bucket`, earliest-expiring lots first; InsufficientFunds changes nothing."""
        _check_bucket(bucket)
        _check_amount(amount)
        available = self.balance(bucket)
        if amount > available:
            raise InsufficientFunds(self.msisdn, bucket, amount, available)
        remaining, movements, kept = amount, [], []
        for lot in self.buckets[bucket].lots:
            taken = min(lot.amount, remaining)
            remaining -= taken
            if taken:
                movements.append(LotMovement(lot.id, -taken))
            if lot.amount > taken:
                kept.append(replace(lot, amount=lot.amount - taken))
        self.buckets[bucket].lots = kept
        return self._entry("debit", bucket, -amount, tuple(movements), reason, reference, at)

    def expire(self, now: datetime, *, reason: str = "expiry") -> list[Entry]:
        """Remove every lot whose expiry is at or before `now`; one entry per lot."""
        entries = []
        for name in sorted(self.buckets):
            bucket = self.buckets[name]
            for lot in [lot for lot in bucket.lots if lot.is_due(now)]:
                bucket.lots.remove(lot)
                entries.append(
                    self._entry(
                        "expiry",
                        name,
                        -lot.amount,
                        (LotMovement(lot.id, -lot.amount),),
                        reason,
                        lot.id,
                        now,
                        lot.expires_at,
                    )
                )
        return entries

    def as_of(self, now: datetime) -> Account:
        """A copy without the lots due by `now`: what the subscriber can spend, before the sweep runs."""
        return Account(
            msisdn=self.msisdn,
            buckets={
                name: Bucket(name, [lot for lot in b.lots if not lot.is_due(now)]) for name, b in self.buckets.items()
            },
            sequence=self.sequence,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def _entry(
        self,
        kind: EntryKind,
        bucket: str,
        delta: int,
        lots: tuple[LotMovement, ...],
        reason: str,
        reference: str,
        at: datetime,
        expires_at: datetime | None = None,
    ) -> Entry:
        self.sequence += 1
        self.updated_at = at
        return Entry(
            id=entry_id(self.sequence),
            msisdn=self.msisdn,
            kind=kind,
            bucket=bucket,
            delta=delta,
            lots=lots,
            balance_after=self.balance(bucket),
            total_after=self.total,
            reason=reason,
            reference=reference,
            at=at,
            expires_at=expires_at,
        )


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidAmount(f"amounts are positive integers of minor units, not {amount!r}")
    if amount > MAX_BALANCE:
        raise InvalidAmount(f"{amount} is larger than any balance the ledger keeps")


def _check_bucket(name: str) -> None:
    if not isinstance(name, str) or not BUCKET_NAME.match(name):
        raise InvalidBucket(f"bucket names are lowercase identifiers of up to 32 characters, not {name!r}")


# --- reconciliation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Discrepancy:
    """One way an account disagrees with its entries, in words an operator can act on."""

    msisdn: str
    bucket: str | None
    problem: str


def reconcile(
    account: Account, entries: list[Entry], stored_balances: dict[str, int] | None = None
) -> list[Discrepancy]:
    """Check that the entries sum to each bucket's balance, run gap-free and chain their balances.

    `stored_balances` are the per-bucket balances the account document states beside its lots;
    they must agree too.
    """
    problems: list[Discrepancy] = []

    def report(bucket: str | None, text: str) -> None:
        problems.append(Discrepancy(account.msisdn, bucket, text))

    ids = [entry.id for entry in entries]
    expected = [entry_id(n) for n in range(1, account.sequence + 1)]
    if ids != expected:
        missing, unexpected = sorted(set(expected) - set(ids)), sorted(set(ids) - set(expected))
        report(None, f"entries do not run 1..{account.sequence}: missing {missing[:10]}, unexpected {unexpected[:10]}")

    sums: dict[str, int] = {}
    for entry in sorted(entries, key=lambda e: e.id):
        running = sums.get(entry.bucket, 0) + entry.delta
        sums[entry.bucket] = running
        if entry.balance_after != running:
            report(entry.bucket, f"entry {entry.id} states balance {entry.balance_after}, entries sum to {running}")
        if sum(m.amount for m in entry.lots) != entry.delta:
            report(
                entry.bucket,
                f"entry {entry.id} moves {sum(m.amount for m in entry.lots)} across lots "
                f"but its delta is {entry.delta}",
            )

    for name in sorted(set(sums) | set(account.buckets) | set(stored_balances or {})):
        by_entries, by_lots = sums.get(name, 0), account.balance(name)
        if by_lots != by_entries:
            report(name, f"lots hold {by_lots}, entries sum to {by_entries} (difference {by_lots - by_entries})")
        if stored_balances is not None and stored_balances.get(name, 0) != by_entries:
            stated = stored_balances.get(name, 0)
            report(name, f"balance states {stated}, entries sum to {by_entries} (difference {stated - by_entries})")
        if any(lot.amount <= 0 for lot in account.buckets.get(name, Bucket(name)).lots):
            report(name, "holds a lot with a zero or negative amount")
    return problems
