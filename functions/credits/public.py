"""What other services may ask of communication credits (the only credits module they may import).

A service's `public.py` answers questions about it without its callers loading its internals by
name; tests/unit/test_import_rules.py allows no other cross-service import.
"""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from shared import operator


def caller_account(db: firestore.Client, msisdn: str, transaction: Any = None) -> dict[str, Any] | None:
    """The credit account a line's credits go to: the account it is a user of, else its holder's own; None."""
    from functions.credits.documents import ACCOUNTS, USERS

    user = db.collection(USERS).document(msisdn).get(transaction=transaction).to_dict()
    account_id = user["account_id"] if user else msisdn.lstrip("+")  # an individual's account id is their digits
    return db.collection(ACCOUNTS).document(account_id).get(transaction=transaction).to_dict()


def recharges_refused_attempts(db: firestore.Client, msisdn: str) -> bool:
    """Whether a refused call or SMS of `msisdn` recharges their credits (auto-recharge on, a card on file).

    Then the credits service answers the refusal (event-initiated top-up) and ZeroX offers no call-me-back.
    """
    from functions.credits.config import config_for  # only deployments that run credits load them
    from functions.credits.documents import CreditAccount
    from functions.credits.recharge import takes_refused_attempts

    if config_for(operator.current()) is None:
        return False
    document = caller_account(db, msisdn)
    if document is None:
        return False
    account = CreditAccount.model_validate(document)
    return takes_refused_attempts(account.auto, card=account.card is not None)
