"""Missed-call alerts' entry points (spec/missed-calls.md): calls, attach, options, voicemail, charging, clock.

Each runs in ONE Firestore transaction (shared/runtime.py): every read first, the pure rules of
this folder on that fresh state, then the writes; SMS requests leave through the outbox after
the commit. Recordings are deleted at the carrier after the commit (`after_commit`), checking
their own record on a redelivery. See README.md for where each rule of the spec lives.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from google.cloud import firestore

from functions.missed_calls import (
    calls,
    charging,
    delivery,
    documents,
    housekeeping,
    options,
    pin,
    queries,
    reassignment,
    voicemail,
)
from functions.missed_calls.config import PRESETS, MissedCallConfig, config_for
from functions.missed_calls.delivery import Callee, read_callee, user_ref
from functions.missed_calls.models import ChargeRecord, MissedCall, MissedCallUser, Summary, Voicemail
from shared import archive, consent, ledger, localtime, operator, runtime, settings, store, sweep
from shared.events import (
    ClockTick,
    MissedCallOptionsChanged,
    MissedCallRecorded,
    MissedCallsDue,
    NetworkAttachment,
    SmsFinal,
    SmsSend,
    SubscriberReassigned,
    VoicemailPinEntered,
    VoicemailPlayed,
    utcnow,
)
from shared.operator import OperatorProfile

logger = logging.getLogger("vas.missed_calls")

# Recordings are deleted through the carrier's API: without its credentials every deletion fails, so refuse to start.
settings.get().require("twilio_account_sid", "twilio_auth_token")

# Items one clock page fans out: the page's events live in the processed marker's outbox, and 300
# envelopes stay far below Firestore's 1 MiB document limit; longer lists continue in a follow-up tick.
SWEEP_PAGE = 300
Work = Literal["calls", "fee", "voicemail"]
SWEEPS: tuple[Work, ...] = ("calls", "fee", "voicemail")


# What a handler leaves for after_commit: a recording sid to delete at the carrier, or None.
RecordingSid = str | None

service = PRESETS.in_force  # () -> (operator profile, its preset); refuses the event when the service is off


# --- a forwarded call -----------------------------------------------------------------------


def _discard_recording(ctx: runtime.Context[RecordingSid], event: MissedCallRecorded) -> None:
    """Delete the recording a callee without a mailbox (or a screened caller) will not keep."""
    ref = ctx.doc(documents.MISSED_CALLS, event.call_sid)
    if not ctx.redelivered:
        sid = ctx.handoff
    else:
        stored = ref.get().to_dict()
        call = MissedCall.model_validate(stored) if stored is not None else None
        sid = call.discarded_recording_sid if call and not call.recording_deleted_at else None
    if sid:
        voicemail.delete_at_carrier(sid)
        ref.update({"recording_deleted_at": utcnow()})


@runtime.consumer("missed-calls-record", after_commit=_discard_recording)
def on_missed_call(ctx: runtime.Context[RecordingSid], event: MissedCallRecorded) -> None:
    """Keep the call's furthest state; screen it by the callee's lists; tell a reachable callee at once."""
    profile, config = service()
    call_ref = ctx.doc(documents.MISSED_CALLS, event.call_sid)
    mailbox_ref = ctx.doc(documents.VOICEMAILS, event.call_sid)
    callee, docs = read_callee(ctx, event.callee, profile, extra=(call_ref, mailbox_ref))
    if callee is None:
        raise runtime.Rejected(f"missed call {event.call_sid} for {event.callee}, who is not a subscriber")
    arrived = delivery.arrival(docs.model(call_ref, MissedCall), event, callee, retention=config.retention, now=ctx.now)
    call, user_update, told = arrived.call, arrived.user_fields, set[str]()
    if arrived.answer_key_4:
        call = delivery.answer_late_key_4(ctx, callee, call, config=config, profile=profile)
    if arrived.tell_now:
        fields, told = delivery.deliver(
            ctx,
            callee,
            config=config,
            profile=profile,
            episode=_episode(callee),
            include=call,
            at_attach=arrived.at_attach,
        )
        user_update = {**fields, **user_update}
    if call.call_sid not in told:
        ctx.txn.set(call_ref, call.fields())
    if calls.has_voicemail(call) and not docs.exists(mailbox_ref):
        ctx.txn.create(
            mailbox_ref, voicemail.new_message(call, now=ctx.now, retention=config.voicemail_retention).fields()
        )
    if user_update:
        ctx.txn.set(user_ref(ctx, callee.msisdn), {"msisdn": callee.msisdn, **user_update}, merge=True)
    ctx.handoff = arrived.discard
    logger.info(
        "missed call recorded",
        extra={
            "call_sid": event.call_sid,
            "callee": event.callee,
            "choice": call.choice,
            "status": call.status,
            "told_now": bool(told),
        },
    )


def _episode(callee: Callee) -> datetime | None:
    """The attach the callee is in now (groups one attach's notices for the D query)."""
    return calls.episode(callee.user, callee.subscriber)


# --- the callee is back ---------------------------------------------------------------------


@runtime.consumer("missed-calls-attach")
def on_attachment(ctx: runtime.Context[None], event: NetworkAttachment) -> None:
    """On attach: the activation notice once, then every pending call told (one SMS per caller), key-4 callers told."""
    profile, config = service()
    callee, _ = read_callee(ctx, event.msisdn, profile)
    if callee is None:
        logger.info("attach of a number that is not a subscriber ignored", extra={"msisdn": event.msisdn})
        return
    last = callee.user.network
    if last and last.at and event.at <= last.at:
        logger.info("older network report ignored", extra={"msisdn": event.msisdn, "state": event.state})
        return
    update: dict[str, Any] = {"msisdn": event.msisdn, "network": {"state": event.state, "at": event.at}}
    if not callee.user_exists:  # the phone reported before any call: the new document starts the list of pending calls
        update = {**callee.user.fields(), **update}
    if event.state == "attached":
        fields, _ = delivery.deliver(ctx, callee, config=config, profile=profile, episode=event.at, at_attach=True)
        update.update(fields)
    ctx.txn.set(user_ref(ctx, event.msisdn), update, merge=True)


# --- options --------------------------------------------------------------------------------


@runtime.consumer("missed-calls-options")
def on_options_changed(ctx: runtime.Context[None], request: MissedCallOptionsChanged) -> None:
    """Apply one option change and confirm it by SMS; registering charges only once the sign-up is confirmed."""
    profile, config, callee = _subscriber(ctx, request.msisdn, "options")
    if archive.asked_before_owner(request.requested_at, callee.subscriber.get("owner_since")):
        _refuse_previous_owners(ctx, request, callee, config)
        return
    left_behind = reassignment.left_behind(ctx, callee)
    registering = request.action == "register"
    pending = consent.read_pending(ctx, options.MAILBOX_OFFER, request.msisdn) if registering else None
    if pending and archive.asked_before_owner(pending.request.at, callee.subscriber.get("owner_since")):
        pending = None  # the old owner's question, not archived yet: the new owner's YES confirms nothing
    book = _open_book(ctx, request.msisdn) if registering else None
    # Every read is done: the writes may start.
    if left_behind:
        # The reassignment has not reached this service yet: file the old owner's options now, start afresh.
        archive.move(ctx, left_behind, user_ref(ctx, request.msisdn), callee.user.fields())
        callee = dataclasses.replace(callee, user=options.new_user(request.msisdn), user_exists=False)
    if registering and not _sign_up_confirmed(ctx, request, pending, callee, config, profile):
        return
    zone = _operator_zone(profile)
    outcome = options.decide(
        callee.user,
        request,
        config=config,
        month=charging.month_of(ctx.now, zone),
        balance=book.account.balance(config.charging.bucket) if book else 0,
        currency=profile.currency,
        next_fee_at=housekeeping.next_month_start(ctx.now, zone),
        now=ctx.now,
    )
    if outcome.fee and book is not None:  # a fee is decided only on the balance of an account that exists
        book.debit(
            config.charging.bucket,
            outcome.fee,
            reason="missed_calls:monthly_fee",
            reference=_fee_reference(request.msisdn, charging.month_of(ctx.now, zone)),
        )
        ledger.save(ctx, book)
    if outcome.update or not callee.user_exists:
        base = {} if callee.user_exists else options.new_user(request.msisdn).fields()
        ctx.txn.set(
            user_ref(ctx, request.msisdn),
            {
                **base,
                **outcome.update,
                "options_updated_at": ctx.now,
                **reassignment.asked_at(callee.user, request.requested_at),
            },
            merge=True,
        )
    _confirm_options(ctx, request, outcome, callee, config)
    logger.info(
        "missed-call options %s",
        request.action,
        extra={
            "msisdn": request.msisdn,
            "channel": request.channel,
            "changed": bool(outcome.update),
            "fee": outcome.fee,
        },
    )


def _refuse_previous_owners(
    ctx: runtime.Context[None], request: MissedCallOptionsChanged, callee: Callee, config: MissedCallConfig
) -> None:
    """A request made before the number passed to its present owner was the old owner's: change and charge nothing."""
    since = localtime.moment(callee.subscriber["owner_since"], callee.recipient.zone, callee.recipient.language)
    _confirm_options(
        ctx, request, options.Outcome("missed_calls.options.previous_owner", {"since": since}), callee, config
    )
    logger.info(
        "missed-call options of the number's previous owner refused",
        extra={"msisdn": request.msisdn, "action": request.action, "channel": request.channel},
    )


def _sign_up_confirmed(
    ctx: runtime.Context[None],
    request: MissedCallOptionsChanged,
    pending: consent.Consent | None,
    callee: Callee,
    config: MissedCallConfig,
    profile: OperatorProfile,
) -> bool:
    """Keep the sign-up's consent records; True once it is confirmed (or costs nothing), else answer by SMS."""
    signup = options.sign_up(
        callee.user, request, pending, config=config, currency=profile.currency, language=callee.recipient.language
    )
    for record in signup.records:
        consent.write(ctx, record)
    if not signup.register:
        if signup.answer is not None:
            _confirm_options(ctx, request, signup.answer, callee, config)
        logger.info(
            "mailbox sign-up %s",
            signup.records[-1].status if signup.records else "not pending",
            extra={"msisdn": request.msisdn, "channel": request.channel},
        )
    return signup.register


def _confirm_options(
    ctx: runtime.Context[None],
    request: MissedCallOptionsChanged,
    outcome: options.Outcome,
    callee: Callee,
    config: MissedCallConfig,
) -> None:
    ctx.emit(
        "sms.send",
        SmsSend(
            to=request.msisdn,
            template=outcome.template,
            params=outcome.params,
            language=callee.recipient.language,
            sender=config.short_code,
            reference=f"missed-calls-options:{request.request_id}",
        ),
        purpose="confirmation",
    )


@runtime.consumer("missed-calls-pin")
def on_voicemail_pin(ctx: runtime.Context[None], entered: VoicemailPinEntered) -> None:
    """Count wrong mailbox PINs in a row; the one that reaches the limit locks the mailbox and tells the owner."""
    _, config, callee = _subscriber(ctx, entered.msisdn, "a voicemail PIN")
    # pin.py reads the user as a mapping: the voicemail line shares it on the raw document.
    update, locked = pin.after_entry(
        callee.user.model_dump(), entered, limit=config.voicemail.max_wrong_pins, now=ctx.now
    )
    if update:
        ctx.txn.set(user_ref(ctx, entered.msisdn), update, merge=True)
    if locked:
        _tell(
            ctx,
            callee,
            config,
            "missed_calls.voicemail.locked",
            {
                "count": config.voicemail.max_wrong_pins,
                "voicemail_number": config.voicemail_number,
                "short_code": config.short_code,
                "ussd": config.ussd_menu,
            },
            "pin-locked",
        )
    logger.info(
        "voicemail PIN %s",
        "right" if entered.right else "wrong",
        extra={"msisdn": entered.msisdn, "call_sid": entered.call_sid, "locked": locked},
    )


# --- voice messages -------------------------------------------------------------------------


def _delete_message_recording(ctx: runtime.Context[RecordingSid], payload: VoicemailPlayed | MissedCallsDue) -> None:
    """After commit: delete a deleted voice message's recording at the carrier, once."""
    if isinstance(payload, MissedCallsDue) and payload.work != "voicemail":
        return
    voicemail.delete_recording_after_commit(ctx, payload.call_sid)


@runtime.consumer("missed-calls-voicemail", after_commit=_delete_message_recording)
def on_voicemail_played(ctx: runtime.Context[RecordingSid], played: VoicemailPlayed) -> None:
    """The callee heard or deleted a voice message (a deleted one's recording goes after the commit)."""
    ref = ctx.doc(documents.VOICEMAILS, played.call_sid)
    message = ctx.read(ref).model(ref, Voicemail)
    if message is None or message.callee != played.msisdn:
        raise runtime.Rejected(f"{played.msisdn} has no voice message from call {played.call_sid}")
    update = (
        voicemail.heard(message, at=played.at)
        if played.action == "heard"
        else voicemail.deleted(message, by="callee", now=ctx.now)
    )
    if update:
        ctx.txn.update(ref, update)
    ctx.handoff = message.recording_sid if update and played.action == "deleted" else None


# --- charging -------------------------------------------------------------------------------


@runtime.consumer("missed-calls-charge")
def on_sms_final(ctx: runtime.Context[None], final: SmsFinal) -> None:
    """Charge a delivered SMS of this service once, to its recipient, within the monthly cap; record every outcome."""
    profile = operator.current()
    config = config_for(profile)
    price = charging.price_of(final.billing, config) if config else None
    if config is None or price is None:
        return  # another service's SMS
    charge_ref, subscriber_ref = ctx.doc(documents.CHARGES, final.message_id), ctx.doc(store.SUBSCRIBERS, final.to)
    docs = ctx.read(charge_ref, subscriber_ref, user_ref(ctx, final.to))
    if docs.exists(charge_ref):
        logger.info("SMS already charged", extra={"message_id": final.message_id})
        return
    subscriber = docs.exists(subscriber_ref)
    book = _open_book(ctx, final.to) if subscriber and final.status == "delivered" else None
    user = docs.model(user_ref(ctx, final.to), MissedCallUser) or options.new_user(final.to)
    month = charging.month_of(final.at, _operator_zone(profile))
    decision = charging.decide(
        status=final.status,
        price=price,
        subscriber=subscriber and book is not None,
        used=user.usage.get(month, 0),
        cap=config.charging.monthly_cap,
        balance=book.account.balance(config.charging.bucket) if book else 0,
    )
    entry = None
    if decision.charged and book is not None:  # charged only from an account that exists
        entry = book.debit(
            config.charging.bucket,
            decision.amount,
            reason=f"missed_calls:{_kind(final.billing)}",
            reference=final.message_id,
        )
        ledger.save(ctx, book)
        ctx.txn.set(
            user_ref(ctx, final.to),
            {"msisdn": final.to, "usage": charging.usage_after(user.usage, month, decision.amount)},
            merge=True,
        )
    ctx.txn.create(
        charge_ref,
        ChargeRecord(
            message_id=final.message_id,
            payer=final.to,
            billing=final.billing,
            reference=final.reference,
            template=final.template,
            status=final.status,
            price=decision.price,
            amount=decision.amount,
            charged=decision.charged,
            why_not=decision.why_not,
            month=month,
            entry_id=entry.id if entry else None,
            at=final.at,
            recorded_at=ctx.now,
            event_id=ctx.event.id,
        ).fields(),
    )
    logger.info(
        "missed-call SMS %s",
        "charged" if decision.charged else decision.why_not,
        extra={"message_id": final.message_id, "msisdn": final.to, "amount": decision.amount},
    )


def _kind(billing: str) -> str:
    """The last part of a billing tag (reminder, availability, details)."""
    return billing.rsplit("/", 1)[-1]


# --- the clock ------------------------------------------------------------------------------


@runtime.consumer("missed-calls-housekeeping")
def on_housekeeping_tick(ctx: runtime.Context[None], tick: ClockTick) -> None:
    """Fan out one `missed-call.due` per subscriber or voice message needing attention, a page at a time."""
    sweep.run(
        ctx,
        tick,
        [sweep.Sweep(functools.partial(_due_page, ctx.db, work), name=work) for work in SWEEPS],
        follow_up="clock.missed-calls",
        page_size=SWEEP_PAGE,
    )


def _due_page(
    db: firestore.Client, work: Work, now: datetime, after: sweep.Position | None, limit: int
) -> list[sweep.Due]:
    """One page of a sweep's due items (users by `due_at` or `fee_due_at`, voice messages), each a `missed-call.due`."""
    found: list[tuple[sweep.Position, str | None, str]]  # (position, call sid, msisdn)
    if work == "voicemail":
        found = [
            ((value, sid), sid, callee) for value, sid, callee in queries.expired_voicemails(db, now, limit, after)
        ]
    else:
        field = "due_at" if work == "calls" else "fee_due_at"
        found = [
            ((value, msisdn), None, msisdn)
            for value, msisdn in sweep.due_positions(db, documents.USERS, field, now, limit, after)
        ]
    return [
        sweep.Due(
            position,
            "missed-call.due",
            MissedCallsDue(msisdn=msisdn, work=work, due_before=now, call_sid=call_sid),
            purpose=f"due/{work}/{position[1]}",
        )
        for position, call_sid, msisdn in found
    ]


@runtime.consumer("missed-calls-due", after_commit=_delete_message_recording)
def on_housekeeping_due(ctx: runtime.Context[RecordingSid], due: MissedCallsDue) -> None:
    """One subscriber's calls (tell or summarise), monthly fee, or one expired voice message."""
    profile, config = service()
    if due.work == "voicemail":
        _expire_voicemail(ctx, due)
        return
    callee, _ = read_callee(ctx, due.msisdn, profile)
    if callee is None:
        # The line left: stop the clock coming back for it (its documents stay for care to read).
        logger.warning("housekeeping for a number that is no longer a subscriber", extra={"msisdn": due.msisdn})
        ctx.txn.set(user_ref(ctx, due.msisdn), {"due_at": None, "fee_due_at": None}, merge=True)
        return
    if due.work == "calls":
        _calls_due(ctx, callee, config=config, profile=profile)
    else:
        _fee_due(ctx, callee, config=config, profile=profile)


def _calls_due(
    ctx: runtime.Context[RecordingSid], callee: Callee, *, config: MissedCallConfig, profile: OperatorProfile
) -> None:
    """A callee back: tell the calls still pending. A callee away: fold calls past retention into the summary."""
    if not callee.user.due_at or callee.user.due_at > ctx.now:
        return  # already handled (the attach came first, or another page did it)
    if calls.reachable(callee.user, callee.subscriber):
        fields, _ = delivery.deliver(ctx, callee, config=config, profile=profile, episode=_episode(callee))
    else:
        fields = _summarise(ctx, callee, config=config)
    ctx.txn.set(user_ref(ctx, callee.msisdn), {"msisdn": callee.msisdn, **fields}, merge=True)


def _summarise(ctx: runtime.Context[RecordingSid], callee: Callee, *, config: MissedCallConfig) -> dict[str, Any]:
    """Mark the callee's calls past retention summarised and count them in the summary (told on attach)."""
    summary_ref = ctx.doc(documents.SUMMARIES, callee.msisdn)
    pending, pending_ids = queries.pending_calls(
        ctx, callee.msisdn, config.max_calls_per_attach + 1, callee.user.pending_calls
    )
    folding = housekeeping.summarise(
        pending,
        ctx.read(summary_ref).model(summary_ref, Summary),
        callee=callee.msisdn,
        cap=config.max_calls_per_attach,
        retention=config.retention,
        now=ctx.now,
    )
    for sid in folding.summarised:
        ctx.txn.update(ctx.doc(documents.MISSED_CALLS, sid), {"status": calls.SUMMARISED, "summarised_at": ctx.now})
    if folding.summary is not None:
        ctx.txn.set(summary_ref, folding.summary.fields())
    logger.info(
        "missed calls past retention summarised", extra={"msisdn": callee.msisdn, "calls": len(folding.summarised)}
    )
    if pending_ids is None:
        return {"due_at": folding.due_at}
    return {"due_at": folding.due_at, "pending_calls": delivery.still_pending(pending_ids, set(folding.summarised))}


def _fee_due(
    ctx: runtime.Context[RecordingSid], callee: Callee, *, config: MissedCallConfig, profile: OperatorProfile
) -> None:
    """A new month: the registered user's mailbox fee, or the mailbox lapses when the balance cannot pay it."""
    if not options.fee_falls_due(callee.user, ctx.now):
        return
    blocked = callee.subscriber.get("status") == "blocked"
    book = None if blocked else _open_book(ctx, callee.msisdn)
    zone = _operator_zone(profile)
    month = charging.month_of(ctx.now, zone)
    fee = options.monthly_fee(
        callee.user,
        blocked=blocked,
        month=month,
        fee=config.charging.monthly_fee,
        balance=book.account.balance(config.charging.bucket) if book else None,
        next_fee_at=housekeeping.next_month_start(ctx.now, zone),
        now=ctx.now,
    )
    if fee.debit and book is not None:
        book.debit(
            config.charging.bucket,
            fee.debit,
            reason="missed_calls:monthly_fee",
            reference=_fee_reference(callee.msisdn, month),
        )
        ledger.save(ctx, book)
    if fee.template is not None:
        _tell(
            ctx,
            callee,
            config,
            fee.template,
            {
                "fee": profile.currency.format(config.charging.monthly_fee),
                "balance": profile.currency.format(fee.balance),
            },
            "fee",
        )
    ctx.txn.set(user_ref(ctx, callee.msisdn), fee.update, merge=True)


def _expire_voicemail(ctx: runtime.Context[RecordingSid], due: MissedCallsDue) -> None:
    """Delete a voice message past retention; its recording goes after the commit."""
    if due.call_sid is None:
        raise runtime.Rejected(f"voice message housekeeping for {due.msisdn} names no call")
    ref = ctx.doc(documents.VOICEMAILS, due.call_sid)
    message = ctx.read(ref).model(ref, Voicemail)
    update = voicemail.deleted(message, by="retention", now=ctx.now) if message is not None else None
    if message is None or update is None or message.delete_after > ctx.now:
        return
    ctx.txn.update(ref, update)
    ctx.handoff = message.recording_sid


# --- a recycled number ------------------------------------------------------------------------


def _after_reassigned(ctx: runtime.Context[list[tuple[str, str]]], event: SubscriberReassigned) -> None:
    """After commit: delete the old owner's recordings at the carrier."""
    pending = (ctx.handoff or []) if not ctx.redelivered else reassignment.still_at_carrier(ctx.db, event.archive_id)
    reassignment.delete_recordings(ctx.db, pending)


@runtime.consumer("missed-calls-reassigned", after_commit=_after_reassigned)
def on_reassigned(ctx: runtime.Context[list[tuple[str, str]]], event: SubscriberReassigned) -> None:
    """The number has a new owner: the old owner's options, mailbox, calls and charges go to the archive."""
    found = reassignment.old_owners_documents(ctx, event.msisdn, event.effective_at)
    recordings = reassignment.archive_all(ctx, event.archive_id, found)
    ctx.handoff = recordings
    reassignment.archived_by_this_service(ctx, event.archive_id)
    logger.info(
        "old owner's missed-call state archived",
        extra={"msisdn": event.msisdn, "documents": len(found), "recordings": len(recordings)},
    )


# --- helpers --------------------------------------------------------------------------------


def _subscriber(ctx: runtime.Context[Any], msisdn: str, what: str) -> tuple[OperatorProfile, MissedCallConfig, Callee]:
    """The service in force and the subscriber a request is about; a number that is not one is refused."""
    profile, config = service()
    callee, _ = read_callee(ctx, msisdn, profile)
    if callee is None:
        raise runtime.Rejected(f"{what} of {msisdn}, who is not a subscriber")
    return profile, config, callee


def _tell(
    ctx: runtime.Context[Any],
    callee: Callee,
    config: MissedCallConfig,
    template: str,
    params: dict[str, Any],
    purpose: str,
) -> None:
    """Queue one SMS of this service to the callee, its reference naming the event."""
    ctx.emit(
        "sms.send",
        SmsSend(
            to=callee.msisdn,
            template=template,
            params=params,
            language=callee.recipient.language,
            sender=config.short_code,
            reference=f"missed-calls:{purpose}:{ctx.event.id}",
        ),
        purpose=purpose,
    )


def _open_book(ctx: runtime.Context[Any], msisdn: str) -> ledger.Book | None:
    try:
        return ledger.open(ctx, msisdn)
    except ledger.UnknownAccount:
        return None


def _operator_zone(profile: OperatorProfile) -> ZoneInfo:
    return ZoneInfo(profile.timezone)


def _fee_reference(msisdn: str, month: str) -> str:
    # One fee per user and month: the ledger entry names it, so care can find it.
    return f"missed-calls-fee:{msisdn}:{month}"
