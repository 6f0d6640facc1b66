"""The edge's Firestore reads: the caller's subscriber record and, when needed, their account.

Everything one answer needs comes back in one BatchGetDocuments round trip. The gateway waits a
few seconds at most, so reads have a short deadline: a slow or absent Firestore must become an
answer ("try later"), not a screen the subscriber stares at until the gateway gives up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from google.api_core import exceptions, retry
from google.cloud import firestore

from functions.edge.request import DocumentPath, RequestDocuments
from functions.edge.subscribers import Caller, caller_from
from shared import ledger, store
from shared.operator import OperatorProfile

READ_DEADLINE_SECONDS = 2.5
READ_RETRY = retry.Retry(
    predicate=retry.if_exception_type(
        exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.InternalServerError
    ),
    initial=0.05,
    maximum=0.5,
    multiplier=2.0,
    timeout=READ_DEADLINE_SECONDS,
)


@dataclass(frozen=True)
class Lookup:
    """What one answer read: the caller, their account when asked for, and every document read."""

    caller: Caller
    account: ledger.Account | None
    documents: RequestDocuments = field(default_factory=RequestDocuments)

    def subscriber_record(self) -> dict | None:
        return self.documents.get(store.SUBSCRIBERS, self.caller.msisdn)


def read_all(
    db: firestore.Client,
    msisdn: str,
    profile: OperatorProfile,
    *,
    with_account: bool,
    now: datetime,
    extra: Iterable[DocumentPath] = (),
) -> Lookup:
    """The caller behind `msisdn`, their account as spendable at `now` if asked, and `extra` documents."""
    wanted = [(store.SUBSCRIBERS, msisdn)] + ([(store.ACCOUNTS, msisdn)] if with_account else []) + list(extra)
    refs = {where: db.collection(where[0]).document(where[1]) for where in wanted}
    snapshots = [
        snapshot
        for snapshot in db.get_all(list(refs.values()), retry=READ_RETRY, timeout=READ_DEADLINE_SECONDS)
        if snapshot.exists
    ]
    found = {snapshot.reference.path: snapshot.to_dict() for snapshot in snapshots}
    written = {snapshot.reference.path: snapshot.update_time for snapshot in snapshots}
    documents = RequestDocuments(
        {where: found.get(ref.path) for where, ref in refs.items()},
        {where: written[ref.path] for where, ref in refs.items() if ref.path in written},
    )
    caller = caller_from(msisdn, documents.get(store.SUBSCRIBERS, msisdn), profile)
    account_document = documents.get(store.ACCOUNTS, msisdn) if with_account else None
    # The same view as ledger.read_account (lots already due are not spendable), read in the
    # subscriber's round trip instead of a second one.
    account = ledger.account_from_document(account_document).as_of(now) if account_document else None
    return Lookup(caller=caller, account=account, documents=documents)


def read(
    db: firestore.Client, msisdn: str, profile: OperatorProfile, *, with_account: bool, now: datetime
) -> tuple[Caller, ledger.Account | None]:
    """The caller behind `msisdn`, and their account as spendable at `now` when asked for."""
    found = read_all(db, msisdn, profile, with_account=with_account, now=now)
    return found.caller, found.account
