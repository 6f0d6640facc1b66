"""Telling a callee who is back about their pending calls, inside the consumer's transaction.

One code path for every moment a callee can be told: the attach itself, a call that ends while
the callee is reachable (busy / no-answer forwards), and the clock's pass over a capped attach.
It takes the transfers shape: `read_delivery` reads everything the decision needs (the pending
calls, the summary, the D-query notice, key-4 callers), `decide` is pure and returns a
`Delivery`, and `apply` writes it; the SMS leave through the outbox with the commit, their event
ids derived from the delivering event, so a redelivery sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore

from functions.missed_calls import calls, documents, housekeeping, queries, reminders
from functions.missed_calls.config import MissedCallConfig
from functions.missed_calls.models import MissedCall, MissedCallUser, Notice, Summary
from functions.missed_calls.options import new_user
from functions.missed_calls.reminders import Recipient
from shared import localtime, runtime, store
from shared.events import MissedCallRecorded, derive_event_id
from shared.operator import OperatorProfile

logger = logging.getLogger("vas.missed_calls.delivery")


@dataclass(frozen=True)
class Callee:
    """A subscriber as the service reads them in a transaction."""

    msisdn: str
    user: MissedCallUser  # missed_call_users/{msisdn}, or a new user's defaults
    user_exists: bool
    subscriber: dict[str, Any]  # subscribers/{msisdn}
    recipient: Recipient


def user_ref(ctx: runtime.Context[Any], msisdn: str) -> firestore.DocumentReference:
    return ctx.doc(documents.USERS, msisdn)


def recipient_for(msisdn: str, language: str | None, profile: OperatorProfile) -> Recipient:
    return Recipient(msisdn, profile.language_for(language), localtime.zone_for(msisdn, profile.timezone))


def read_callee(
    ctx: runtime.Context[Any],
    msisdn: str,
    profile: OperatorProfile,
    extra: tuple[firestore.DocumentReference, ...] = (),
) -> tuple[Callee | None, runtime.Documents]:
    """The callee (None when not a subscriber) and any `extra` documents, in one round trip."""
    subscriber_ref = ctx.doc(store.SUBSCRIBERS, msisdn)
    docs = ctx.read(user_ref(ctx, msisdn), subscriber_ref, *extra)
    subscriber = docs.get(subscriber_ref)
    if subscriber is None:
        return None, docs
    user = docs.model(user_ref(ctx, msisdn), MissedCallUser)
    return Callee(
        msisdn,
        user or without_document(msisdn),
        user is not None,
        subscriber,
        recipient_for(msisdn, subscriber.get("language"), profile),
    ), docs


# Pending calls a record lists even when nothing else of the user document changes (a write of its own each): a
# callee with more, its phone off for long, is found by the delivery's query instead, so many calls to one callee
# cost one write of that document, not one each.
LISTED_ALONE = 10


def without_document(msisdn: str) -> MissedCallUser:
    """A callee with no user document: a new user with no pending call (the record of one writes that document),
    so the document it is first written as starts the list of pending calls (queries.pending_calls)."""
    return new_user(msisdn).model_copy(update={"pending_calls": []})


def reference_maker(ctx: runtime.Context[Any]) -> reminders.Reference:
    """purpose -> the SMS's reference: the same delivering event always gives the same references."""
    return lambda purpose: derive_event_id(ctx.event.id, f"missed-calls/{purpose}")


# --- a call arrives ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """A call's publication taken in: the call to keep, a recording to drop, whether to tell now, user fields."""

    call: MissedCall
    discard: str | None  # a recording the callee will not keep (deleted at the carrier after the commit)
    tell_now: bool  # the callee is reachable and the caller's journey over: deliver with this call
    user_fields: dict[str, Any]  # when the clock looks again, and the phone state the forward proved
    at_attach: bool = False  # the callee is back from away: deliver as the attach would
    answer_key_4: bool = False  # a key 4 arrived after its call was told: answer the caller now


def arrival(
    stored: MissedCall | None, event: MissedCallRecorded, callee: Callee, *, retention: timedelta, now: datetime
) -> Arrival:
    """Keep the call's furthest state, screen a new one by the callee's lists, and say what follows (pure)."""
    call = calls.merged(stored, event, now=now)
    if stored is None and (why := calls.screened_out(event.caller, callee.user)):
        call = call.model_copy(update={"status": calls.DROPPED, "dropped_reason": why})
    call, discard = calls.with_mailbox(call, registered=callee.user.registered and call.status != calls.DROPPED)
    fields: dict[str, Any] = {}
    tell_now = False
    back = calls.back_from_away(callee.user, callee.subscriber)
    newly_pending = call.status == calls.PENDING and (stored is None or stored.status != calls.PENDING)
    if call.status == calls.PENDING:
        attached = calls.reachable(callee.user, callee.subscriber, call)
        tell_now = attached and calls.journey_over(call, now, at_attach=back)
        if not tell_now:
            due = housekeeping.due_for_pending(call, attached=attached, retention=retention, now=now)
            if housekeeping.earliest(callee.user.due_at, due) != callee.user.due_at:
                fields["due_at"] = due
    implied, last = calls.network_report(call), callee.user.network
    if implied and not (last and last.at and implied.at and last.at >= implied.at):
        # Remember what the forward proved, so the clock and the attach see the same phone state.
        fields["network"] = implied.fields()
    listed = callee.user.pending_calls
    if newly_pending and not tell_now and listed is not None:
        # The user document is written either way, so a delivery that read its list runs before or after this record
        # (queries.pending_calls). The call joins the list when the document changes anyway or the list is short;
        # else the list is forgotten (one write, none for the calls that follow) and the next delivery queries.
        joins = bool(fields) or len(listed) < LISTED_ALONE
        fields["pending_calls"] = [*listed, call.call_sid] if joins else None
    return Arrival(call, discard, tell_now, fields, at_attach=back, answer_key_4=calls.asked_after_told(stored, call))


# --- read ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallerToTell:
    """A caller who pressed 4, as the availability SMS needs them."""

    user: MissedCallUser  # missed_call_users/{caller}, a new user's defaults when they have none
    language: str | None  # subscribers/{caller}.language, None when not a subscriber here


@dataclass(frozen=True)
class DeliveryState:
    """Everything a delivery decides on, read in the transaction."""

    pending: list[MissedCall]  # the callee's pending calls, oldest first, at most cap + 1
    summary: Summary | None  # missed_call_summaries/{callee}
    notice: Notice | None  # missed_call_notices/{callee}
    callers: Mapping[str, CallerToTell] = field(default_factory=dict)  # key-4 callers of those calls
    pending_ids: list[str] | None = None  # every pending call's sid; None: unknown (a query found more than cap + 1)


def read_delivery(
    ctx: runtime.Context[Any], callee: Callee, *, cap: int, include: MissedCall | None = None
) -> DeliveryState:
    """The pending calls (a query), then the summary, the notice and every key-4 caller in one round trip."""
    pending, pending_ids = queries.pending_calls(ctx, callee.msisdn, cap + 1, callee.user.pending_calls)
    asked = sorted({c.caller for c in [*pending, *([include] if include else [])] if c.choice == "notify_me"})
    summary_ref, notice_ref = ctx.doc(documents.SUMMARIES, callee.msisdn), ctx.doc(documents.NOTICES, callee.msisdn)
    docs = ctx.read(summary_ref, notice_ref, [ref for caller in asked for ref in _caller_refs(ctx, caller)])
    callers = {caller: _caller_to_tell(ctx, docs, caller) for caller in asked}
    return DeliveryState(
        pending, docs.model(summary_ref, Summary), docs.model(notice_ref, Notice), callers, pending_ids=pending_ids
    )


def _caller_refs(ctx: runtime.Context[Any], caller: str) -> tuple[firestore.DocumentReference, ...]:
    """The documents a key-4 caller's SMS needs: their options (privacy priority) and their language."""
    return user_ref(ctx, caller), ctx.doc(store.SUBSCRIBERS, caller)


def _caller_to_tell(ctx: runtime.Context[Any], docs: runtime.Documents, caller: str) -> CallerToTell:
    return CallerToTell(
        docs.model(user_ref(ctx, caller), MissedCallUser) or new_user(caller),
        (docs.get(ctx.doc(store.SUBSCRIBERS, caller)) or {}).get("language"),
    )


# --- decide (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What telling the callee comes to: the SMS, the calls as told, the D-query notice, the summary, user fields."""

    messages: tuple[reminders.Outgoing, ...]
    told: tuple[MissedCall, ...]  # the calls told now, as they are written
    notice: Notice | None  # the new notice, None when no call was told
    summary_cleared: bool  # the summary was told: it goes
    user_fields: dict[str, Any]  # the callee's next `due_at` (and the activation notice's time)
    waiting: int = 0  # calls still in the IVR (for the log)
    capped: bool = False  # the cap left calls for the clock's next pass

    @property
    def told_sids(self) -> set[str]:
        return {call.call_sid for call in self.told}


def decide(
    callee: Callee,
    state: DeliveryState,
    *,
    config: MissedCallConfig,
    profile: OperatorProfile,
    now: datetime,
    reference: reminders.Reference,
    episode: datetime | None,
    include: MissedCall | None = None,
    at_attach: bool = False,
) -> Delivery:
    """Tell the callee about their pending calls that are over, oldest first, at most the cap.

    `include` is a call this transaction is about to write (not readable yet); `at_attach`: the
    callee just came back (calls whose caller hung up count as over at once).
    """
    messages: list[reminders.Outgoing] = []
    greeting: dict[str, Any] = {}
    if config.activation_notice and not callee.user.activation_notice_at:
        # Told once, free, before anything it might be charged for: on the first attach, or with
        # the first reminder to a phone that has been on since the service started.
        messages.append(
            reminders.activation_message(
                callee.recipient, config=config, currency=profile.currency, reference=reference
            )
        )
        greeting["activation_notice_at"] = now
    cap = config.max_calls_per_attach
    found = state.pending
    full_page = len(found) > cap
    if include is not None:
        found = sorted(
            [c for c in found if c.call_sid != include.call_sid] + [include], key=lambda c: (c.called_at, c.call_sid)
        )
    ready = [c for c in found if calls.journey_over(c, now, at_attach=at_attach)]
    batch, waiting = ready[:cap], [c for c in found if not calls.journey_over(c, now, at_attach=at_attach)]
    capped = full_page or len(ready) > cap

    digests = reminders.digests(batch)
    messages += reminders.callee_messages(
        digests, callee.recipient, config=config, currency=profile.currency, reference=reference
    )
    summary = reminders.summary_message(state.summary, callee.recipient, config=config, reference=reference)
    if summary is not None:
        messages.append(summary)
    asked = {c.caller for c in batch if c.choice == "notify_me"}
    withheld = set()
    for digest in digests:
        if digest.caller not in asked:
            continue
        caller = state.callers.get(digest.caller) or CallerToTell(new_user(digest.caller), None)
        available = _availability_sms(digest, callee, caller, config=config, profile=profile, reference=reference)
        if available is None:
            withheld.add(digest.caller)
        else:
            messages.append(available)

    told_by = {
        sid: message.sms.reference
        for message in messages
        if message.sms.template != reminders.AVAILABLE
        for sid in message.call_sids
    }
    told = tuple(
        call.model_copy(
            update={
                "status": calls.NOTIFIED,
                "notified_at": now,
                "notice_id": told_by.get(call.call_sid),
                "availability": _availability(call, withheld),
            }
        )
        for call in batch
    )
    notice = (
        reminders.notice_document(
            state.notice, digests, callee=callee.msisdn, episode=episode, now=now, window=config.details_window
        )
        if digests
        else None
    )
    due_at = housekeeping.due_after_delivery(waiting, capped=capped, now=now)
    if state.pending_ids is not None:
        greeting["pending_calls"] = still_pending(
            [*state.pending_ids, *([include.call_sid] if include else [])], {call.call_sid for call in told}
        )
    return Delivery(
        tuple(messages),
        told,
        notice,
        summary_cleared=summary is not None,
        user_fields={**greeting, "due_at": due_at},
        waiting=len(waiting),
        capped=capped,
    )


def still_pending(pending_ids: list[str], ended: set[str]) -> list[str]:
    """The pending calls' sids once the `ended` ones are told or summarised (each once, in their order)."""
    return [sid for sid in dict.fromkeys(pending_ids) if sid not in ended]


def _availability_sms(
    digest: reminders.Digest,
    callee: Callee,
    caller: CallerToTell,
    *,
    config: MissedCallConfig,
    profile: OperatorProfile,
    reference: reminders.Reference,
) -> reminders.Outgoing | None:
    """The 'available' SMS to a caller who pressed 4, in their language; None when the callee's privacy withholds it."""
    if not reminders.availability_allowed(callee.user, caller.user, config.caller_priority):
        return None
    return reminders.availability_message(
        digest,
        callee=callee.msisdn,
        caller=recipient_for(digest.caller, digest.language or caller.language, profile),
        config=config,
        reference=reference,
    )


def decide_late_key_4(
    callee: Callee,
    call: MissedCall,
    caller: CallerToTell,
    *,
    config: MissedCallConfig,
    profile: OperatorProfile,
    reference: reminders.Reference,
) -> tuple[reminders.Outgoing | None, MissedCall]:
    """A key 4 that arrived after its call was told: the caller's SMS (None under privacy) and the call as answered.

    The callee is not told the call again (it was told); only the caller's request is answered.
    """
    [digest] = reminders.digests([call])
    message = _availability_sms(digest, callee, caller, config=config, profile=profile, reference=reference)
    return message, call.model_copy(update={"availability": "sent" if message else "withheld_privacy"})


def _availability(call: MissedCall, withheld: set[str]) -> str | None:
    """What became of a key-4 request: told, or withheld by the callee's privacy."""
    if call.choice != "notify_me":
        return None
    return "withheld_privacy" if call.caller in withheld else "sent"


# --- write -----------------------------------------------------------------------------------


def apply(ctx: runtime.Context[Any], callee: str, delivery: Delivery) -> None:
    """Queue the delivery's SMS and write its calls, notice and summary (the user fields are the caller's)."""
    for message in delivery.messages:
        ctx.emit("sms.send", message.sms, purpose=message.purpose)
    for call in delivery.told:
        ctx.txn.set(ctx.doc(documents.MISSED_CALLS, call.call_sid), call.fields())
    if delivery.notice is not None:
        ctx.txn.set(ctx.doc(documents.NOTICES, callee), delivery.notice.fields())
    if delivery.summary_cleared:
        ctx.txn.delete(ctx.doc(documents.SUMMARIES, callee))
    logger.info(
        "missed calls told",
        extra={
            "msisdn": callee,
            "calls": len(delivery.told),
            "sms": len(delivery.messages),
            "capped": delivery.capped,
            "waiting": delivery.waiting,
        },
    )


def deliver(
    ctx: runtime.Context[Any],
    callee: Callee,
    *,
    config: MissedCallConfig,
    profile: OperatorProfile,
    episode: datetime | None,
    include: MissedCall | None = None,
    at_attach: bool = False,
) -> tuple[dict[str, Any], set[str]]:
    """Read, decide and write one delivery; returns the user fields to write and the call sids told now."""
    state = read_delivery(ctx, callee, cap=config.max_calls_per_attach, include=include)
    delivery = decide(
        callee,
        state,
        config=config,
        profile=profile,
        now=ctx.now,
        reference=reference_maker(ctx),
        episode=episode,
        include=include,
        at_attach=at_attach,
    )
    apply(ctx, callee.msisdn, delivery)
    return delivery.user_fields, delivery.told_sids


def answer_late_key_4(
    ctx: runtime.Context[Any], callee: Callee, call: MissedCall, *, config: MissedCallConfig, profile: OperatorProfile
) -> MissedCall:
    """Read the caller, decide and queue the 'available' SMS of a key 4 that came after its call was told.

    Returns the call as answered, for the consumer to write with the rest of the publication.
    """
    docs = ctx.read(*_caller_refs(ctx, call.caller))
    message, answered = decide_late_key_4(
        callee,
        call,
        _caller_to_tell(ctx, docs, call.caller),
        config=config,
        profile=profile,
        reference=reference_maker(ctx),
    )
    if message is not None:
        ctx.emit("sms.send", message.sms, purpose=message.purpose)
    logger.info(
        "late key 4 answered",
        extra={"msisdn": callee.msisdn, "call_sid": call.call_sid, "availability": answered.availability},
    )
    return answered
