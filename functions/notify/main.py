"""notify, the way out to subscribers: sms.send → the carrier's Messages API; sms.status → the record;
email.send → Amazon SES."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.cloud import firestore

from functions.notify import emails, messages, ses
from shared import carrier, operator, runtime, settings, store
from shared.events import EmailSend, SmsSend, SmsStatus, utcnow

logger = logging.getLogger("vas.notify")

# How an event changes a stored record: `change(record, now)` gives the fields to update, None for no change.
Change = Callable[[dict[str, Any], datetime], dict[str, Any] | None]

settings.get().require(
    "twilio_account_sid",
    "twilio_auth_token",  # else refuse to start
    "ses_access_key_id",
    "ses_secret_access_key",
    "email_sender",
)


class MessageNotLinkedYet(Exception):
    """A callback came before notify stored the SID it names; Pub/Sub redelivers it shortly."""


def send_to_carrier(ctx: runtime.Context[dict[str, Any]], payload: SmsSend) -> None:
    """After commit and on every redelivery: hand the SMS to the carrier unless it already has it."""
    ref = ctx.doc(store.MESSAGES, messages.message_id(ctx.event.id))
    record = _record_to_send(ctx, ref, messages.claim)
    if record is None:
        return
    # Twilio's create has no idempotency key: when the carrier's answer is lost after it took the
    # SMS (this instance dies, or the request times out), the redelivery sends it again unless a
    # status callback stored the SID first. That window is one HTTP answer wide; any other crash,
    # retry or concurrent redelivery sends exactly once.
    status_callback = settings.get().sms_status_callback_url
    if status_callback:
        status_callback = messages.status_callback_url(status_callback, ref.id)
    try:
        answer = carrier.send_sms(record["to"], record["from"], record["body"], status_callback=status_callback)
    except carrier.PermanentCarrierError as error:
        _refused_by_carrier(ctx.db, ref, record, error)
        return
    except BaseException:
        # A transient carrier error or our own failure: give the lease back so the redelivery
        # Pub/Sub makes after this 500 can send at once, and let the error propagate.
        _update(ctx.db, ref, messages.released)
        raise
    _store_answer(ctx.db, ref, answer)
    logger.info(
        "message handed to carrier",
        extra={"message_id": ref.id, "carrier_sid": answer.sid, "to": record["to"], "segments": record["segments"]},
    )


def _record_to_send(
    ctx: runtime.Context[dict[str, Any]], ref: firestore.DocumentReference, claim: Change
) -> dict[str, Any] | None:
    """The record this delivery may hand to the provider; None if nothing is left to do."""
    if not ctx.redelivered:
        # The handler's transaction created the record already claimed by this delivery.
        if ctx.handoff is None:
            raise RuntimeError(f"the handler of event {ctx.event.id} left no record for {ref.path}")
        return ctx.handoff
    record = ref.get().to_dict()
    if record is None:
        raise RuntimeError(f"record {ref.path} of event {ctx.event.id} is missing")
    # The claim returns None once the provider has it, and raises SendInProgress (so Pub/Sub
    # retries) while another delivery holds the lease.
    if claim(record, utcnow()) is None or not _update(ctx.db, ref, claim):
        return None
    return record


def _refused_by_carrier(
    db: firestore.Client,
    ref: firestore.DocumentReference,
    record: dict[str, Any],
    error: carrier.PermanentCarrierError,
) -> None:
    """The carrier refused the message for good: its record ends failed, with the carrier's reason."""
    _update(db, ref, lambda current, now: messages.refused(current, error, now))
    logger.warning(
        "carrier refused message",
        extra={"message_id": ref.id, "to": record["to"], "carrier_status": error.status, "carrier_code": error.code},
    )


def send_to_ses(ctx: runtime.Context[dict[str, Any]], payload: EmailSend) -> None:
    """After commit and on every redelivery: hand the email to SES unless it already has it (or refused it)."""
    ref = ctx.doc(store.EMAILS, emails.email_id(ctx.event.id))
    record = _record_to_send(ctx, ref, emails.claim)
    if record is None:
        return
    # SES's SendEmail has no idempotency key either: as with the carrier, only an answer lost
    # after SES took the email (one HTTP answer wide) can send it twice.
    try:
        ses_message_id = ses.send(record["from"], record["to"], record["subject"], record["text"], record["html"])
    except ses.PermanentSesError as error:
        _refused_by_ses(ctx.db, ref, record, error)
        return
    except BaseException:
        _update(ctx.db, ref, emails.released)  # the redelivery after this 500 may try at once
        raise
    try:
        # One plain write, not a transaction: SES has the email, and nothing else moves its status.
        ref.update(emails.sent(ses_message_id, utcnow()))
    except Exception:
        # A 500 now would send it again once the lease lapses: keep SES's id in the log instead.
        logger.exception(
            "email handed to SES but its record not updated",
            extra={"email_id": ref.id, "ses_message_id": ses_message_id},
        )
        return
    logger.info(
        "email handed to SES",
        extra={
            "email_id": ref.id,
            "ses_message_id": ses_message_id,
            "to": record["to"],
            "template": record["template"],
        },
    )


def _refused_by_ses(
    db: firestore.Client, ref: firestore.DocumentReference, record: dict[str, Any], error: ses.PermanentSesError
) -> None:
    """SES refused the email for good: its record ends failed, with SES's reason."""
    _update(db, ref, lambda current, now: emails.refused(error.code, error.message, now))
    logger.warning("SES refused email", extra={"email_id": ref.id, "to": record["to"], "ses_code": error.code})


def _claimed_new(record: dict[str, Any], claim: Change, now: datetime) -> dict[str, Any]:
    """A record just composed, claimed by this delivery (a new record needs sending and has no lease yet)."""
    lease = claim(record, now)
    if lease is None:
        raise RuntimeError(f"new record of event {record['event_id']} claims to need no sending")
    return {**record, **lease}


@runtime.consumer("notify-sms-send", after_commit=send_to_carrier)
def on_sms_send(ctx: runtime.Context[dict[str, Any]], payload: SmsSend) -> None:
    """Render the SMS in the subscriber's language and queue its record (the carrier call follows the commit)."""
    profile = operator.current()
    subscriber_ref = ctx.doc(store.SUBSCRIBERS, payload.to)
    subscriber = ctx.read(subscriber_ref).get(subscriber_ref) or {}
    language = messages.choose_language(payload.language, subscriber.get("language"), profile)
    try:
        record = messages.compose(
            payload,
            language=language,
            sender=payload.sender or profile.short_codes.sender,
            event_id=ctx.event.id,
            correlation_id=ctx.event.correlation_id,
            now=ctx.now,
        )
    except messages.InvalidMessage as error:
        raise runtime.Rejected(str(error)) from None
    # Created claimed by this delivery, so the carrier call after the commit needs no second
    # transaction; a concurrent redelivery finds the lease and waits. (An instance that dies
    # between this commit and the carrier call delays its SMS by at most SEND_LEASE.)
    record = _claimed_new(record, messages.claim, ctx.now)
    ctx.txn.create(ctx.doc(store.MESSAGES, record["message_id"]), record)
    ctx.handoff = record


@runtime.consumer("notify-email-send", after_commit=send_to_ses)
def on_email_send(ctx: runtime.Context[dict[str, Any]], payload: EmailSend) -> None:
    """Render the email in its reader's language and queue its record (the SES call follows the commit)."""
    profile = operator.current()
    subscriber_ref = ctx.doc(store.SUBSCRIBERS, payload.msisdn) if payload.msisdn else None
    subscriber = (ctx.read(subscriber_ref).get(subscriber_ref) if subscriber_ref else None) or {}
    language = messages.choose_language(payload.language, subscriber.get("language"), profile)
    sender = settings.get().email_sender
    if not sender:
        raise settings.MissingSetting("VAS_EMAIL_SENDER not set: notify has no address to send email from")
    try:
        record = emails.compose(
            payload,
            language=language,
            sender=sender,
            event_id=ctx.event.id,
            correlation_id=ctx.event.correlation_id,
            now=ctx.now,
        )
    except emails.InvalidEmail as error:
        raise runtime.Rejected(str(error)) from None
    # Created claimed by this delivery, as an SMS record is (see on_sms_send).
    record = _claimed_new(record, emails.claim, ctx.now)
    ctx.txn.create(ctx.doc(store.EMAILS, record["email_id"]), record)
    ctx.handoff = record


@runtime.consumer("notify-sms-status")
def on_sms_status(ctx: runtime.Context[None], payload: SmsStatus) -> None:
    """Apply a carrier status callback to its message, forward only; every callback lands in the history."""
    ref, record = _message_of(ctx, payload)
    try:
        update, transition = messages.reported(record, payload, event_id=ctx.event.id, now=ctx.now)
    except messages.ForeignCallback as error:
        raise runtime.Rejected(str(error)) from None
    ctx.txn.update(ref, update)
    if not record.get("carrier_sid"):
        # The callback beat the carrier's answer: link its SID now, as that answer would have.
        ctx.txn.set(ctx.doc(messages.MESSAGE_SIDS, payload.message_sid), {"message_id": ref.id})
    logger.info(
        "message status %s",
        transition.current,
        extra={
            "message_id": ref.id,
            "carrier_sid": payload.message_sid,
            "reported": payload.status,
            "applied": transition.changed,
            "final": transition.became_final,
        },
    )
    # Services that bill per delivered SMS (missed-call reminders charge only delivered ones) hear
    # of the final status here. A status moves forward only, so it becomes final once; the outbox
    # commits the follow-up with this update, so repeated callbacks never emit it twice.
    final = messages.final_report(record, transition, payload.reported_at)
    if final is not None:
        ctx.emit("sms.final", final, purpose="final")


def _message_of(ctx: runtime.Context[None], payload: SmsStatus) -> tuple[firestore.DocumentReference, dict[str, Any]]:
    """The message a callback is about: by the id in its URL, else through the carrier SID's link."""
    if payload.message_id:
        ref = ctx.doc(store.MESSAGES, payload.message_id)
        record = ctx.read(ref).get(ref)
        if record is None:
            raise runtime.Rejected(f"no message has id {payload.message_id}")
        return ref, record
    link_ref = ctx.doc(messages.MESSAGE_SIDS, payload.message_sid)
    link = ctx.read(link_ref).get(link_ref)
    if link is None:
        if messages.may_be_unlinked(payload, ctx.now):
            raise MessageNotLinkedYet(f"no message has carrier SID {payload.message_sid} yet")
        raise runtime.Rejected(f"no message has carrier SID {payload.message_sid}")
    ref = ctx.doc(store.MESSAGES, link["message_id"])
    linked = ctx.read(ref).get(ref)
    if linked is None:  # never: a link is written after its message; retried, then kept in dead letters
        raise RuntimeError(f"carrier SID {payload.message_sid} links to a message that does not exist")
    return ref, linked


def _store_answer(db: firestore.Client, ref: firestore.DocumentReference, answer: carrier.AcceptedMessage) -> None:
    """Store the carrier's SID and answer on the record, and the SID's link back to it."""
    unread = messages.accepted_unread(answer, utcnow())
    if unread is None:
        _update(db, ref, lambda current, now: messages.accepted(current, answer, now), link_sid=answer.sid)
        return
    # One write, no transaction: the answer moves no status, and the history entry is appended
    # server-side, so a status callback committing meanwhile loses nothing.
    fields, entry = unread
    batch = db.batch()
    batch.update(ref, {**fields, "history": firestore.ArrayUnion([entry])})
    batch.set(db.collection(messages.MESSAGE_SIDS).document(answer.sid), {"message_id": ref.id})
    batch.commit()


def _update(
    db: firestore.Client,
    ref: firestore.DocumentReference,
    change: Change,
    link_sid: str | None = None,
) -> bool:
    """Apply `change(record, now)` to the record in one transaction; False when it had nothing to change."""

    @firestore.transactional
    def in_transaction(txn: firestore.Transaction) -> bool:
        record = ref.get(transaction=txn).to_dict()
        if record is None:  # every caller reads or creates it first, and records are never deleted
            raise RuntimeError(f"record {ref.path} is missing")
        update = change(record, utcnow())
        if update is None:
            return False
        txn.update(ref, update)
        if link_sid:
            txn.set(db.collection(messages.MESSAGE_SIDS).document(link_sid), {"message_id": ref.id})
        return True

    return in_transaction(db.transaction())
