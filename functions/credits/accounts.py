"""Opening credit accounts and naming their users (care does it: `python -m functions.credits`).

A business account's id is a slug starting with a letter ("acme-contact"); an individual's is
their MSISDN's digits, and their line is its one user. Auto-recharge starts with the preset's
defaults, switched off until the holder turns it on with a card on file.
"""

from __future__ import annotations

import re
from datetime import datetime

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore

from functions.credits.config import CreditsConfig
from functions.credits.documents import ACCOUNTS, USERS, AccountKind, AutoRecharge, CreditAccount, User, to_document
from functions.credits.wallet import empty_ledger
from shared.events import ChargeChannel, CreditChargeRequested

BUSINESS_ID = re.compile(r"^[a-z][a-z0-9-]{1,62}$")


class AccountError(ValueError):
    """An account or user that cannot be opened as asked; the message says why."""


def individual_id(msisdn: str) -> str:
    """An individual's credit account id: their number's digits."""
    return msisdn.lstrip("+")


def manual_top_up(
    account_id: str, *, channel: ChargeChannel, request: str, amount: int, by: str | None, at: datetime
) -> CreditChargeRequested:
    """A holder's top-up by hand, its charge named after the request (a retried request is the same charge)."""
    return CreditChargeRequested(
        account_id=account_id,
        charge_id=f"{account_id}.{channel}.{request}",
        amount=amount,
        reason="manual",
        channel=channel,
        requested_by=by,
        requested_at=at,
    )


def new_account(
    account_id: str,
    *,
    kind: AccountKind,
    name: str,
    email: str | None,
    language: str,
    owner: str | None,
    config: CreditsConfig,
    now: datetime,
) -> CreditAccount:
    """An empty account in the preset's currency, auto-recharge at the preset's defaults (off)."""
    if kind == "business" and not BUSINESS_ID.match(account_id):
        raise AccountError(
            f"{account_id!r}: a business account's id is lowercase letters, digits and '-', from a letter"
        )
    defaults = config.auto_recharge
    return CreditAccount(
        id=account_id,
        kind=kind,
        name=name,
        email=email,
        language=language,
        currency=config.currency,
        owner=owner,
        auto=AutoRecharge(enabled=False, **defaults.model_dump()),
        ledger=empty_ledger(account_id, now),
        created_at=now,
        updated_at=now,
    )


def open_account(db: firestore.Client, account: CreditAccount) -> None:
    """Store a new account; AccountError when the id is taken."""
    try:
        db.collection(ACCOUNTS).document(account.id).create(to_document(account))
    except AlreadyExists:
        raise AccountError(f"credit account {account.id} already exists") from None


def add_user(db: firestore.Client, account_id: str, msisdn: str, *, name: str | None, now: datetime) -> User:
    """Charge a line's credits usage to `account_id`; AccountError when the line already belongs to an account."""
    if not db.collection(ACCOUNTS).document(account_id).get().exists:
        raise AccountError(f"no credit account {account_id}")
    user = User(account_id=account_id, msisdn=msisdn, name=name, added_at=now)
    try:
        db.collection(USERS).document(msisdn).create(to_document(user))
    except AlreadyExists:
        other = db.collection(USERS).document(msisdn).get().get("account_id")
        raise AccountError(f"{msisdn} is already a user of {other}") from None
    return user
