"""Usage charged to credits: one record per charging-system reference, then a settlement of the account.

`on_usage` hears `bss.usage` messages whose `charged_to` attribute is "credits" (the subscription's
filter; it checks again, for a replay or a push that did not filter). It writes
`credit_usage/{reference}` and nothing else: never the account document, so hundreds of users
recording usage at once never contend for the one hot document (settle.py applies the records to
the account's credits in batches). The settlement is asked for after the commit, by the outbox,
so it always finds this record.
"""

from __future__ import annotations

import logging

from functions.credits.documents import USAGE, USERS, Usage, User, to_document
from shared import payments, runtime, store
from shared.events import CreditsSettle, UsageCharged
from shared.msisdn import mask

logger = logging.getLogger("vas.credits")

# Every credits function is deployed with the payment gateway's secrets: without them it refuses to start.
payments.require_settings()


@runtime.consumer("credits-usage")
def on_usage(ctx: runtime.Context[None], report: UsageCharged) -> None:
    """Record credits usage once per reference, for the account the line is a user of, and ask for a settlement."""
    if report.charged_to != "credits":  # the line's own balance pays it: provisioning's
        logger.info("usage not charged to credits", extra={"reference": report.reference})
        return
    user_ref, record_ref = ctx.doc(USERS, report.msisdn), ctx.doc(USAGE, store.document_id(report.reference))
    docs = ctx.read(user_ref, record_ref)
    user = docs.model(user_ref, User)
    if user is None:
        raise runtime.Rejected(
            f"usage {report.reference!r} is charged to credits, but {mask(report.msisdn)} is no credit account's user"
        )
    stored = docs.model(record_ref, Usage)
    if stored is not None:
        if not same_usage(stored, report):
            raise runtime.Rejected(f"usage reference {report.reference!r} was already used for other usage")
        return  # the charging system sent it again under another event id: recorded (and settled) once
    ctx.txn.create(record_ref, to_document(usage_record(report, user.account_id, event_id=ctx.event.id)))
    ctx.emit("credits.settle", CreditsSettle(account_id=user.account_id), purpose="settle")


def usage_record(report: UsageCharged, account_id: str, *, event_id: str) -> Usage:
    """The unsettled record of one usage report."""
    return Usage(
        reference=report.reference,
        account_id=account_id,
        msisdn=report.msisdn,
        kind=report.kind,
        destination=report.destination,
        duration_seconds=report.duration_seconds,
        units=report.units,
        amount=report.amount,
        at=report.at,
        event_id=event_id,
    )


def same_usage(stored: Usage, report: UsageCharged) -> bool:
    """Whether the usage stored under a reference is this one (not a reused reference)."""
    return (stored.msisdn, stored.kind, stored.amount) == (report.msisdn, report.kind, report.amount)
