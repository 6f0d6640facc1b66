"""Telling a callee who is back about their pending calls, inside the consumer's transaction.

One code path for every moment a callee can be told: the attach itself, a call that ends while
the callee is reachable (busy / no-answer forwards), and the clock's pass over a capped attach.
Reads come first (the pending calls, the summary, the D-query notice, key-4 callers), then the
writes; the SMS leave through the outbox with the commit, their event ids derived from the
delivering event, so a redelivery sends nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.missed_calls import calls, documents, housekeeping, queries, reminders
from functions.missed_calls.config import MissedCallConfig
from functions.missed_calls.options import new_user
from functions.missed_calls.reminders import Reader
from shared import localtime, store
from shared.events import derive_event_id
from shared.operator import OperatorProfile

logger = logging.getLogger("vas.missed_calls.delivery")


@dataclass(frozen=True)
class Callee:
    """A subscriber as the service reads them in a transaction."""

    msisdn: str
    user: dict[str, Any]          # missed_call_users/{msisdn}, or a new user's defaults
    user_exists: bool
    subscriber: dict[str, Any]    # subscribers/{msisdn}
    reader: Reader


def read_documents(ctx, refs) -> dict[str, dict[str, Any] | None]:
    """Several documents in one round trip, by path (None for a missing one)."""
    refs = list({ref.path: ref for ref in refs}.values())
    return {snap.reference.path: (snap.to_dict() if snap.exists else None)
            for snap in ctx.db.get_all(refs, transaction=ctx.txn)}


def user_ref(ctx, msisdn: str):
    return ctx.doc(documents.USERS, msisdn)


def reader_for(msisdn: str, language: str | None, profile: OperatorProfile) -> Reader:
    return Reader(msisdn, profile.language_for(language), localtime.zone_for(msisdn, profile.timezone))


def callee_of(msisdn: str, docs: dict[str, dict[str, Any] | None], ctx, profile: OperatorProfile) -> Callee | None:
    """The callee from documents already read (user_ref and the subscriber); None when not a subscriber."""
    subscriber = docs[ctx.doc(store.SUBSCRIBERS, msisdn).path]
    if subscriber is None:
        return None
    user = docs[user_ref(ctx, msisdn).path]
    return Callee(msisdn, user or new_user(msisdn), user is not None, subscriber,
                  reader_for(msisdn, subscriber.get("language"), profile))


def read_callee(ctx, msisdn: str, profile: OperatorProfile, extra=()) -> tuple[Callee | None, dict]:
    """The callee and any `extra` documents, in one round trip."""
    docs = read_documents(ctx, [user_ref(ctx, msisdn), ctx.doc(store.SUBSCRIBERS, msisdn), *extra])
    return callee_of(msisdn, docs, ctx, profile), docs


def reference_maker(ctx):
    """purpose -> the SMS's reference: the same delivering event always gives the same references."""
    return lambda purpose: derive_event_id(ctx.event.id, f"missed-calls/{purpose}")


def deliver(ctx, callee: Callee, *, config: MissedCallConfig, profile: OperatorProfile, episode: datetime | None,
            include: dict[str, Any] | None = None, at_attach: bool = False) -> tuple[dict[str, Any], set[str]]:
    """Tell the callee about their pending calls that are over, oldest first, at most the cap.

    `include` is a call this transaction is about to write (not readable yet); `at_attach`: the
    callee just came back (calls whose caller hung up count as over at once). Returns the user
    fields to write (the next `due_at`) and the call sids told now (their documents are written here).
    """
    greeting: dict[str, Any] = {}
    if config.activation_notice and not callee.user.get("activation_notice_at"):
        # Told once, free, before anything it might be charged for: on the first attach, or with
        # the first reminder to a phone that has been on since the service started.
        notice = reminders.activation_message(callee.reader, config=config, currency=profile.currency,
                                              reference=reference_maker(ctx))
        ctx.emit("sms.send", notice.sms, purpose=notice.purpose)
        greeting["activation_notice_at"] = ctx.now
    cap = config.max_calls_per_attach
    found = queries.pending_calls(ctx, callee.msisdn, cap + 1)
    full_page = len(found) > cap
    if include is not None:
        found = sorted([c for c in found if c["call_sid"] != include["call_sid"]] + [include],
                       key=lambda c: (c["called_at"], c["call_sid"]))
    ready = [c for c in found if calls.journey_over(c, ctx.now, at_attach=at_attach)]
    batch, waiting = ready[:cap], [c for c in found if not calls.journey_over(c, ctx.now, at_attach=at_attach)]
    capped = full_page or len(ready) > cap

    summary_ref, notice_ref = ctx.doc(documents.SUMMARIES, callee.msisdn), ctx.doc(documents.NOTICES, callee.msisdn)
    digests = reminders.digests(batch)
    asked = {c["caller"] for c in batch if c.get("choice") == "notify_me"}
    caller_refs = [ref for caller in sorted(asked)
                   for ref in (user_ref(ctx, caller), ctx.doc(store.SUBSCRIBERS, caller))]
    docs = read_documents(ctx, [summary_ref, notice_ref, *caller_refs])

    reference = reference_maker(ctx)
    outgoing = reminders.callee_messages(digests, callee.reader, config=config, currency=profile.currency,
                                         reference=reference)
    summary = reminders.summary_message(docs[summary_ref.path], callee.reader, config=config, reference=reference)
    if summary is not None:
        outgoing.append(summary)
    withheld = set()
    for digest in digests:
        if digest.caller not in asked:
            continue
        caller_user = docs[user_ref(ctx, digest.caller).path] or {}
        if not reminders.availability_allowed(callee.user, caller_user, config.caller_priority):
            withheld.add(digest.caller)
            continue
        caller_subscriber = docs[ctx.doc(store.SUBSCRIBERS, digest.caller).path] or {}
        caller = reader_for(digest.caller, digest.language or caller_subscriber.get("language"), profile)
        outgoing.append(reminders.availability_message(digest, callee=callee.msisdn, caller=caller, config=config,
                                                       reference=reference))

    told_by = {}
    for message in outgoing:
        for sid in message.call_sids:
            if message.sms.template != reminders.AVAILABLE:
                told_by[sid] = message.sms.reference
        ctx.emit("sms.send", message.sms, purpose=message.purpose)
    for call in batch:
        ctx.txn.set(ctx.doc(documents.MISSED_CALLS, call["call_sid"]), {
            **call, "status": calls.NOTIFIED, "notified_at": ctx.now, "notice_id": told_by.get(call["call_sid"]),
            "availability": _availability(call, withheld)})
    if digests:
        ctx.txn.set(notice_ref, reminders.notice_document(docs[notice_ref.path], digests, callee=callee.msisdn,
                                                          episode=episode, now=ctx.now, window=config.details_window))
    if summary is not None:
        ctx.txn.delete(summary_ref)
    logger.info("missed calls told", extra={"msisdn": callee.msisdn, "calls": len(batch), "sms": len(outgoing),
                                            "capped": capped, "waiting": len(waiting)})
    return {**greeting, "due_at": housekeeping.due_after_delivery(waiting, capped=capped, now=ctx.now)}, \
        {call["call_sid"] for call in batch}


def _availability(call: dict[str, Any], withheld: set[str]) -> str | None:
    """What became of a key-4 request: told, or withheld by the callee's privacy."""
    if call.get("choice") != "notify_me":
        return None
    return "withheld_privacy" if call["caller"] in withheld else "sent"
