"""Provisioning from the operator's BSS and HLR: subscribers, top-ups and network state.

Each entry point runs inside one Firestore transaction (shared/runtime.py): every read comes
before the first write, and nothing leaves the transaction except the events it emits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from google.cloud import firestore

from functions.provisioning import subscribers, topups, usage
from functions.voice_plus import public as voice_plus
from shared import archive, ledger, localtime, operator, runtime, store, texts
from shared.events import NetworkAttachment, SubscriberProvisioned, SubscriberReassigned, TopUp, UsageCharged
from shared.ledger_core import MAIN

logger = logging.getLogger("vas.provisioning")


@runtime.consumer("provisioning-subscriber")
def on_subscriber(ctx: runtime.Context[None], update: SubscriberProvisioned) -> None:
    """Create or update the subscriber (a new one gets an empty account); a new owner of the number starts afresh."""
    ref = ctx.doc(store.SUBSCRIBERS, update.msisdn)
    existing = ctx.read(ref).get(ref)
    book = ledger.open(ctx, update.msisdn, create=True)
    language = operator.current().default_language
    fields = subscribers.profile(
        existing, update, occurred_at=ctx.event.occurred_at, now=ctx.now, default_language=language
    )
    if fields is None:
        logger.info("older BSS update ignored", extra={"msisdn": update.msisdn})
    elif existing is not None and subscribers.new_owner(existing, update, occurred_at=ctx.event.occurred_at):
        _reassign(ctx, existing, update, book)
        ctx.txn.set(
            ref,
            subscribers.reassigned(
                existing, update, occurred_at=ctx.event.occurred_at, now=ctx.now, default_language=language
            ),
        )
    else:
        ctx.txn.set(ref, fields, merge=True)  # merge: the HLR's network_state stays
    ledger.save(ctx, book)


def _reassign(
    ctx: runtime.Context[None], existing: dict[str, Any], update: SubscriberProvisioned, book: ledger.Book
) -> None:
    """Archive the old owner's record and money, and tell every service to archive theirs.

    The new owner starts with an empty account: what they hold is what the BSS credits them
    (bss.topup). The old owner's balance leaves the account in withdrawal entries that name the
    archive, so the ledger still balances and care finds every unit of it.
    """
    effective_at = ctx.event.occurred_at
    old_id = existing.get("subscriber_id")
    archive_id = archive.archive_id(old_id, update.msisdn, effective_at)
    account = ledger.account_to_document(book.account)  # the lots already due are expired in it
    withdrawn = book.withdraw_all(reason="number_reassigned", reference=archive_id)
    ctx.txn.set(
        archive.root(ctx, archive_id),
        subscribers.former_owner(
            existing,
            archive_id=archive_id,
            account=account,
            withdrawn=withdrawn,
            new_subscriber_id=update.subscriber_id,
            effective_at=effective_at,
            now=ctx.now,
        ),
    )
    ctx.emit(
        "subscriber.reassigned",
        SubscriberReassigned(
            msisdn=update.msisdn,
            old_subscriber_id=old_id,
            new_subscriber_id=update.subscriber_id,
            archive_id=archive_id,
            effective_at=effective_at,
        ),
        purpose="reassigned",
    )
    logger.warning(
        "number given to a new owner; the old owner's balance archived",
        extra={"msisdn": update.msisdn, "withdrawn": withdrawn},
    )


@runtime.consumer("provisioning-topup")
def on_topup(ctx: runtime.Context[None], topup: TopUp) -> None:
    """Credit a recharge once per BSS reference and tell the subscriber."""
    first = _first_time(
        ctx,
        store.TOPUPS,
        topup.reference,
        topup.msisdn,
        same=lambda stored: topups.same_recharge(stored, topup),
        unknown=f"top-up {topup.reference!r} for {topup.msisdn}, who is not a subscriber",
        reused=f"BSS reference {topup.reference!r} was already used for another recharge",
    )
    if first is None:
        logger.info("recharge already applied", extra={"msisdn": topup.msisdn, "reference": topup.reference})
        return
    recharge_ref, subscriber = first.record, first.subscriber
    book = ledger.open(ctx, topup.msisdn, create=True)

    expires_at = topups.expiry(topup, occurred_at=ctx.event.occurred_at, now=ctx.now)
    try:
        entry = book.credit(
            topup.bucket,
            topup.amount,
            expires_at=expires_at,
            reason=f"topup:{topup.channel}",
            reference=topup.reference,
        )
    except ledger.LedgerError as error:  # an invalid bucket name or an absurd amount
        raise runtime.Rejected(str(error)) from None
    profile = operator.current()
    language = profile.language_for(subscriber.get("language"))
    notice = topups.notice(
        topup,
        balance=entry.balance_after,
        expires_at=expires_at,
        bucket_label=ledger.bucket_label(topup.bucket, language),
        currency=profile.currency,
        language=language,
        zone=localtime.zone_for(topup.msisdn, profile.timezone),
    )
    # An SMS add-on offer rides on the confirmation; it reads before anything below is written.
    rendered = texts.render(notice["template"], language, **notice["params"])
    offer = voice_plus.topup_addon(
        ctx, msisdn=topup.msisdn, language=language, subscriber=subscriber, reference=topup.reference, message=rendered
    )
    ledger.save(ctx, book)
    ctx.txn.create(
        recharge_ref, topups.record(topup, entry_id=entry.id, expires_at=expires_at, event_id=ctx.event.id, now=ctx.now)
    )
    counted = usage.first_topup(subscriber, amount=topup.amount, at=ctx.event.occurred_at)
    if counted:  # the transfer policies' new-customer rule counts spending from the first top-up on
        ctx.txn.update(first.subscriber_ref, counted)
    ctx.emit("sms.send", topups.with_offer(notice, rendered, offer, language), purpose="notice")


@runtime.consumer("provisioning-network-state")
def on_network_attachment(ctx: runtime.Context[None], event: NetworkAttachment) -> None:
    """Keep the HLR's latest attach/detach on the subscriber; older reports are ignored."""
    ref = ctx.doc(store.SUBSCRIBERS, event.msisdn)
    subscriber = ctx.read(ref).get(ref)
    if subscriber is None:
        raise runtime.Rejected(f"network state for {event.msisdn}, who is not a subscriber")
    state = subscribers.network_state(subscriber.get("network_state"), event)
    if state is None:
        logger.info("older network state ignored", extra={"msisdn": event.msisdn, "state": event.state})
        return
    ctx.txn.update(ref, {"network_state": state})


@runtime.consumer("provisioning-usage")
def on_usage(ctx: runtime.Context[None], report: UsageCharged) -> None:
    """Debit reported usage once per reference (never below zero) and keep the eligibility stats."""
    if report.charged_to != "main":  # a communication-credit account pays it (functions/credits)
        logger.info("usage charged to credits", extra={"reference": report.reference})
        return
    first = _first_time(
        ctx,
        usage.COLLECTION,
        report.reference,
        report.msisdn,
        same=lambda stored: usage.same_usage(stored, report),
        unknown=f"usage {report.reference!r} for {report.msisdn}, who is not a subscriber",
        reused=f"usage reference {report.reference!r} was already used for other usage",
    )
    if first is None:
        return
    usage_ref = first.record
    book = ledger.open(ctx, report.msisdn, create=True)
    applied = usage.charge(report, book.account.balance(MAIN))
    entry = (
        book.debit(MAIN, applied.debited, reason=applied.reason, reference=report.reference)
        if applied.debited
        else None
    )
    ledger.save(ctx, book)
    ctx.txn.create(
        usage_ref,
        usage.record(report, applied, entry_id=entry.id if entry else None, event_id=ctx.event.id, now=ctx.now),
    )
    fields = usage.stats(first.subscriber, report, applied)
    if fields:
        ctx.txn.update(first.subscriber_ref, fields)
    if applied.shortfall:
        logger.warning(
            "usage beyond balance",
            extra={"msisdn": report.msisdn, "reference": report.reference, "shortfall": applied.shortfall},
        )


class FirstTime(NamedTuple):
    """A BSS reference seen for the first time: where its record goes, and the subscriber it is for."""

    record: firestore.DocumentReference
    subscriber_ref: firestore.DocumentReference
    subscriber: dict[str, Any]


def _first_time(
    ctx: runtime.Context[None],
    collection: str,
    reference: str,
    msisdn: str,
    *,
    same: Callable[[dict[str, Any]], bool],
    unknown: str,
    reused: str,
) -> FirstTime | None:
    """The record and subscriber of a BSS reference seen for the first time; None when already applied.

    The BSS may send one recharge or charge twice under different event ids: its own reference,
    recorded in the same transaction as the money, is what makes it apply once.
    """
    try:
        ref = ctx.doc(collection, topups.reference_key(reference))
    except ValueError as error:
        raise runtime.Rejected(str(error)) from None
    subscriber_ref = ctx.doc(store.SUBSCRIBERS, msisdn)
    docs = ctx.read(subscriber_ref, ref)
    subscriber, stored = docs.get(subscriber_ref), docs.get(ref)
    if subscriber is None:
        raise runtime.Rejected(unknown)
    if stored is not None:
        if not same(stored):
            raise runtime.Rejected(reused)
        return None
    return FirstTime(record=ref, subscriber_ref=subscriber_ref, subscriber=subscriber)
