"""The edge's Firestore reads: the caller's subscriber record and, when needed, their account.

Both documents come back in one BatchGetDocuments round trip. The gateway waits a few seconds at
most, so reads have a short deadline: a slow or absent Firestore must become an answer ("try
later"), not a screen the subscriber stares at until the gateway gives up.
"""

from __future__ import annotations

from datetime import datetime

from google.api_core import exceptions, retry
from google.cloud import firestore

from functions.edge.subscribers import Caller, caller_from
from shared import ledger, store
from shared.operator import OperatorProfile

READ_DEADLINE_SECONDS = 2.5
_RETRY = retry.Retry(
    predicate=retry.if_exception_type(exceptions.ServiceUnavailable, exceptions.DeadlineExceeded,
                                      exceptions.InternalServerError),
    initial=0.05, maximum=0.5, multiplier=2.0, timeout=READ_DEADLINE_SECONDS,
)


def read(db: firestore.Client, msisdn: str, profile: OperatorProfile, *, with_account: bool,
         now: datetime) -> tuple[Caller, ledger.Account | None]:
    """The caller behind `msisdn`, and their account as spendable at `now` when asked for."""
    subscriber_ref = db.collection(store.SUBSCRIBERS).document(msisdn)
    account_ref = db.collection(store.ACCOUNTS).document(msisdn)
    refs = [subscriber_ref, account_ref] if with_account else [subscriber_ref]
    found = {snapshot.reference.path: snapshot.to_dict()
             for snapshot in db.get_all(refs, retry=_RETRY, timeout=READ_DEADLINE_SECONDS)
             if snapshot.exists}
    caller = caller_from(msisdn, found.get(subscriber_ref.path), profile)
    account_document = found.get(account_ref.path) if with_account else None
    # The same view as ledger.read_account (lots already due are not spendable), read in the
    # subscriber's round trip instead of a second one.
    account = ledger.account_from_document(account_document).as_of(now) if account_document else None
    return caller, account
