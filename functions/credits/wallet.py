"""A credit account's ledger, opened and saved in a consumer's transaction (like shared/ledger.py, on credit accounts).

    wallet = wallet.open(ctx, account_id)             # reads credit_accounts/{id}; due lots expire at once
    wallet.debit(1500, reason="usage", reference=r)   # earliest expiry first = oldest purchase first
    wallet.credit(100_000, reason="recharge", reference=charge_id)   # a lot expiring expiry_months on
    wallet.account.recharge = step.state                # the rest of the account document
    wallet.save(ctx, wallet)                            # ONE write of the account, its entries, the facts

- The credits are shared/ledger_core's `Account` with one bucket, `credits`, stored in the account
  document's `ledger` field (shared/ledger.account_to_document); entries are
  `credit_accounts/{id}/entries/{entry_id}`, created (never overwritten).
- `save` emits `credits.changed` per entry, `credits.expired` per expired lot (with the email
  telling the holder) and sets `next_due_at`: the earliest of the next expiry, the next expiry
  notice not yet sent, a recharge retry and a look at a recharge attempt left unanswered, which
  the clock's sweep (expiry.py) wakes the account at.
- `read_account(db, account_id, at=None)`, `credits_of(account, at=None)`, `account_for_line(db, msisdn)`:
  plain reads for synchronous answers (the business API, USSD), outside any transaction.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore

from functions.credits import mail, recharge
from functions.credits.config import BUCKET, CreditsConfig, in_force
from functions.credits.documents import ACCOUNTS, ENTRIES, USERS, CreditAccount, to_document
from shared.events import CreditsChanged, CreditsExpired, utcnow
from shared.ledger import account_from_document, account_to_document, entry_to_document
from shared.ledger_core import Account, Bucket, Entry, LedgerError, Lot
from shared.operator import OperatorProfile
from shared.runtime import Context

logger = logging.getLogger("vas.credits")


class UnknownCreditAccount(LedgerError):
    """No credit account has this id."""


@dataclass
class Wallet:
    """A credit account opened in a transaction, with the ledger entries made since it was read."""

    account: CreditAccount
    book: Account
    profile: OperatorProfile
    config: CreditsConfig
    now: datetime
    entries: list[Entry] = field(default_factory=list)
    purchased: dict[str, datetime] = field(default_factory=dict)  # lot id -> credited_at, of the lots read

    @property
    def id(self) -> str:
        return self.account.id

    @property
    def balance(self) -> int:
        return self.book.balance(BUCKET)

    @property
    def lots(self) -> list[Lot]:
        """The spendable purchases, oldest (earliest expiry) first."""
        return list(self.book.buckets[BUCKET].lots)

    def credit(self, amount: int, *, reason: str, reference: str) -> Entry:
        """A purchase: a lot expiring `expiry_months` after now."""
        expires_at = add_months(self.now, self.config.expiry_months)
        entry = self.book.credit(BUCKET, amount, expires_at=expires_at, reason=reason, reference=reference, at=self.now)
        self.purchased[entry.lots[0].lot_id] = self.now
        self.entries.append(entry)
        return entry

    def debit(self, amount: int, *, reason: str, reference: str) -> Entry:
        """Spend `amount`, oldest purchase first; InsufficientFunds changes nothing."""
        entry = self.book.debit(BUCKET, amount, reason=reason, reference=reference, at=self.now)
        self.entries.append(entry)
        return entry

    def expire_due(self) -> list[Entry]:
        """Forfeit every lot whose 12 months are over (one entry each)."""
        expired = self.book.expire(self.now)
        self.entries.extend(expired)
        return expired


def account_ref(db: firestore.Client, account_id: str) -> firestore.DocumentReference:
    return db.collection(ACCOUNTS).document(account_id)


def open(ctx: Context[Any], account_id: str) -> Wallet:  # noqa: A001 - reads like wallet.open(...)
    """Read a credit account inside `ctx.txn`; lots already due expire at once (saved with the wallet)."""
    document = ctx.get(account_ref(ctx.db, account_id)).to_dict()
    if document is None:
        raise UnknownCreditAccount(f"no credit account {account_id!r}")
    return wallet_of(CreditAccount.model_validate(document), ctx.now)


def wallet_of(account: CreditAccount, now: datetime) -> Wallet:
    """The wallet of an account document read in the transaction (its due lots expired)."""
    profile, config = in_force()
    book = account_from_document(account.ledger)
    wallet = Wallet(
        account,
        book,
        profile,
        config,
        now,
        purchased={lot.id: lot.credited_at for lot in book.buckets.get(BUCKET, Bucket(BUCKET)).lots},
    )
    wallet.book.buckets.setdefault(BUCKET, Bucket(BUCKET))
    wallet.expire_due()
    return wallet


def save(ctx: Context[Any], wallet: Wallet, *, force: bool = False) -> None:
    """Write the account once (ledger, state, next_due_at), create its entries, and queue the facts and emails.

    Unchanged wallets are not written (`force=True` writes the other fields the caller changed).
    """
    if not wallet.entries and not force:
        return
    ref = account_ref(ctx.db, wallet.id)
    account = wallet.account
    account.ledger = account_to_document(wallet.book)
    account.next_due_at = next_due(account, wallet.book, wallet.config)
    account.updated_at = ctx.now
    known = {lot.id for lot in wallet.lots}
    account.expiry_notices = [key for key in account.expiry_notices if key.split("/", 1)[0] in known]
    ctx.txn.set(ref, to_document(account))
    for entry in wallet.entries:
        ctx.txn.create(
            ref.collection(ENTRIES).document(entry.id),
            {
                **entry_to_document(entry),
                "event_id": ctx.event.id,
                "correlation_id": ctx.event.correlation_id,
                "consumer": ctx.consumer,
            },
        )
        _emit(ctx, wallet, entry)
    if wallet.entries:
        logger.info(
            "credits changed",
            extra={"account_id": wallet.id, "entries": len(wallet.entries), "balance": wallet.balance},
        )
    wallet.entries = []


def _emit(ctx: Context[Any], wallet: Wallet, entry: Entry) -> None:
    purpose = f"credits/{wallet.id}/{entry.id}"
    ctx.emit(
        "credits.changed",
        CreditsChanged(
            account_id=wallet.id,
            delta=entry.delta,
            balance=entry.balance_after,
            reason=entry.reason,
            reference=entry.reference,
            entry_id=entry.id,
        ),
        purpose=f"{purpose}/changed",
    )
    if entry.kind != "expiry":
        return
    [movement] = entry.lots
    purchased_at = wallet.purchased.get(movement.lot_id, entry.at)
    ctx.emit(
        "credits.expired",
        CreditsExpired(
            account_id=wallet.id,
            lot_id=movement.lot_id,
            amount=-movement.amount,
            purchased_at=purchased_at,
            expired_at=entry.expires_at or entry.at,
        ),
        purpose=f"{purpose}/expired",
    )
    mail.send(
        ctx,
        wallet.account,
        "email.credits_expired",
        {
            "amount": wallet.profile.currency.format(-movement.amount),
            "purchased": mail.day(purchased_at, wallet.profile, wallet.account.language),
            "balance": wallet.profile.currency.format(entry.balance_after),
        },
        purpose=f"{purpose}/expired-email",
    )


# --- when the clock next has work on an account ---------------------------------------------


def notices_due(book: Account, config: CreditsConfig, sent: list[str], now: datetime) -> list[tuple[Lot, int]]:
    """(lot, days) of the expiry notices due by `now` and not yet sent: the nearest one per lot (a late
    sweep does not send the 30-day notice a week before the end)."""
    due = []
    for lot in book.buckets.get(BUCKET, Bucket(BUCKET)).lots:
        if lot.expires_at is None or lot.expires_at <= now:
            continue
        ready = [days for days in config.expiry_notice_days if lot.expires_at - timedelta(days=days) <= now]
        if ready and f"{lot.id}/{min(ready)}" not in sent:
            due.append((lot, min(ready)))
    return due


def notice_keys(lot: Lot, days: int, config: CreditsConfig) -> list[str]:
    """The keys marking the notice of `days` sent, and every earlier (larger) notice it stands in for."""
    return [f"{lot.id}/{each}" for each in config.expiry_notice_days if each >= days]


def next_due(account: CreditAccount, book: Account, config: CreditsConfig) -> datetime | None:
    """The earliest moment the clock has work on the account: a notice, an expiry, a recharge retry or a look at
    an attempt still unanswered."""
    recharge_due = recharge.due_at(account.recharge)
    moments = [recharge_due] if recharge_due else []
    for lot in book.buckets.get(BUCKET, Bucket(BUCKET)).lots:
        if lot.expires_at is None:
            continue
        moments.append(lot.expires_at)
        moments += [
            lot.expires_at - timedelta(days=days)
            for days in config.expiry_notice_days
            if f"{lot.id}/{days}" not in account.expiry_notices
        ]
    return min(moments, default=None)


def add_months(at: datetime, months: int) -> datetime:
    """The same moment `months` calendar months later (the 31st becomes the month's last day)."""
    month_index = at.month - 1 + months
    year, month = at.year + month_index // 12, month_index % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


# --- plain reads, outside transactions ------------------------------------------------------


def empty_ledger(account_id: str, at: datetime) -> dict[str, Any]:
    """The `ledger` of a new credit account: the credits bucket, empty."""
    return account_to_document(Account(account_id, {BUCKET: Bucket(BUCKET)}, created_at=at, updated_at=at))


def read_account(db: firestore.Client, account_id: str, at: datetime | None = None) -> CreditAccount | None:
    """The credit account as its holder can spend it at `at` (default now: lots already due left out), or None."""
    document = account_ref(db, account_id).get().to_dict()
    if document is None:
        return None
    account = CreditAccount.model_validate(document)
    account.ledger = account_to_document(credits_of(account, at))
    return account


def credits_of(account: CreditAccount, at: datetime | None = None) -> Account:
    """The account's credits as its holder can spend them at `at` (default now): lots already due are not counted."""
    book = account_from_document(account.ledger).as_of(at or utcnow())
    book.buckets.setdefault(BUCKET, Bucket(BUCKET))
    return book


def account_for_line(db: firestore.Client, msisdn: str) -> str | None:
    """The credit account a line's credits usage goes to (credit_users/{msisdn}); None when it is nobody's user."""
    document = db.collection(USERS).document(msisdn).get().to_dict()
    return None if document is None else document["account_id"]
