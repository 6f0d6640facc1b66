"""Message records: what notify stores per SMS, and how each event changes it (pure, no I/O).

A record lives at `messages/{message_id}`. notify gives the carrier a status callback URL that
names the message id, so a callback finds its record directly, even one that beats notify to
storing the carrier's SID. `message_sids/{carrier sid}` points back to the record for callbacks
without that id (messages sent before callback URLs carried it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from functions.notify import lease, status
from functions.notify.lease import SendInProgress  # noqa: F401 (raised by claim; callers catch it here)
from shared import sms, texts
from shared.carrier import REQUEST_TIMEOUT, AcceptedMessage, CarrierError
from shared.events import SmsFinal, SmsSend, SmsStatus, derive_event_id
from shared.operator import OperatorProfile

MESSAGE_SIDS = "message_sids"

# Twilio refuses longer bodies (error 21617); refusing here says which template produced one.
MAX_BODY_CHARS = 1600

# A callback can beat notify to storing the SID: the carrier answers the create request and may
# call back before our write commits. For this long after the report a missing SID means "not
# linked yet" (retry), after it "not ours" (reject). Pub/Sub's first retries fall inside it.
LINK_GRACE = timedelta(minutes=2)


# How long one attempt may hold the right to call the carrier: its request timeout and a margin.
SEND_LEASE = timedelta(seconds=REQUEST_TIMEOUT * 2)


class InvalidMessage(ValueError):
    """The request cannot become an SMS (unknown template, missing parameter, body too long)."""


class ForeignCallback(ValueError):
    """A status callback names a message whose carrier SID is another one."""


def message_id(event_id: str) -> str:
    """The record id of the SMS an sms.send event asks for: the same event, the same record."""
    return derive_event_id(event_id, "notify/message")


def status_callback_url(base_url: str, message_id: str) -> str:
    """The status callback URL for one message: the edge's URL with `message_id` in its query.

    Twilio echoes the URL exactly and signs it whole, so the edge can trust the id it reads there.
    """
    separator = "&" if urlsplit(base_url).query else ("" if base_url.endswith("?") else "?")
    return f"{base_url}{separator}{urlencode({'message_id': message_id})}"


def choose_language(requested: str | None, subscriber_language: str | None, profile: OperatorProfile) -> str:
    """The sender's explicit choice, else the subscriber's language, else the operator's default."""
    if requested:
        return requested
    return profile.language_for(subscriber_language)


def compose(
    request: SmsSend, *, language: str, sender: str, event_id: str, correlation_id: str, now: datetime
) -> dict[str, Any]:
    """The new record of a queued SMS: rendered body, its encoding and segment count."""
    try:
        body = texts.render(request.template, language, **request.params)
    except texts.UnknownText:
        raise InvalidMessage(f"unknown text template {request.template!r}") from None
    except (KeyError, IndexError) as missing:
        raise InvalidMessage(f"template {request.template!r} needs parameter {missing}") from None
    except ValueError as error:
        raise InvalidMessage(f"template {request.template!r} cannot be filled: {error}") from None
    if not body.strip():
        raise InvalidMessage(f"template {request.template!r} rendered an empty text")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidMessage(
            f"template {request.template!r} rendered {len(body)} characters,"
            f" more than the carrier's {MAX_BODY_CHARS}"
        )
    counted = sms.segments(body)
    return {
        "message_id": message_id(event_id),
        "event_id": event_id,
        "correlation_id": correlation_id,
        "to": request.to,
        "from": sender,
        "body": body,
        "language": language,
        "template": request.template,
        "reference": request.reference,
        "billing": request.billing,  # the service that charges this SMS once its delivery is final
        "encoding": counted.encoding,
        "segments": counted.segments,
        "status": status.QUEUED,
        "status_at": now,
        "history": [_entry(status.QUEUED, now, now, source="notify", applied=True)],
        "carrier_sid": None,
        "carrier_segments": None,
        "send_attempts": 0,
        "send_lease_until": None,
        "error": None,
        "created_at": now,
    }


def needs_sending(record: dict[str, Any]) -> bool:
    """True until the carrier has the message (it has a SID) or the message ended."""
    return not record.get("carrier_sid") and not status.is_final(record["status"])


def claim(record: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """Take the right to call the carrier for this message now (lease.take); None when it no longer needs sending."""
    if not needs_sending(record):
        return None
    return lease.take(record, now, SEND_LEASE, f"message {record['message_id']}")


def released(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """An attempt ended without the carrier taking the message: the next delivery may try at once."""
    return {"send_lease_until": None}


def accepted(record: dict[str, Any], answer: AcceptedMessage, now: datetime) -> dict[str, Any]:
    """The carrier took the message: its SID, its own segment count and first status."""
    update, _ = _report(record, answer.status, now, now, source="carrier-api")
    return {**update, "carrier_sid": answer.sid, "carrier_segments": answer.num_segments, "send_lease_until": None}


def accepted_unread(answer: AcceptedMessage, now: datetime) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The carrier's answer as fields to set and a history entry to append, when it needs no read of the record.

    Twilio answers a create with `queued` (or a status we do not track), which moves no record, so
    the change is the same whatever the record holds now and can be written without a transaction.
    None when the answer could move the status: then `accepted` must see the record.
    """
    if status.can_move(answer.status):
        return None
    fields = {"carrier_sid": answer.sid, "carrier_segments": answer.num_segments, "send_lease_until": None}
    return fields, _entry(answer.status, now, now, source="carrier-api", applied=False)


def refused(record: dict[str, Any], error: CarrierError, now: datetime) -> dict[str, Any]:
    """The carrier refused the message for good: it ends failed, with the carrier's reason."""
    update, _ = _report(
        record,
        status.FAILED,
        now,
        now,
        source="carrier-api",
        error_code=str(error.code) if error.code is not None else None,
    )
    return {
        **update,
        "send_lease_until": None,
        "error": {"status": error.status, "code": error.code, "message": error.message[:1000]},
    }


def reported(
    record: dict[str, Any], report: SmsStatus, *, event_id: str, now: datetime
) -> tuple[dict[str, Any], status.Transition]:
    """A status callback: moves the record forward if it can, and is kept in the history either way.

    A callback can come before notify stored the carrier's answer; its SID is then the carrier's
    word that it has the message, and is stored so that no redelivery sends the SMS again.
    """
    known_sid = record.get("carrier_sid")
    if known_sid and known_sid != report.message_sid:
        raise ForeignCallback(
            f"message {record['message_id']} has carrier SID {known_sid}, the callback names {report.message_sid}"
        )
    update, transition = _report(
        record,
        report.status,
        report.reported_at,
        now,
        source="callback",
        error_code=report.error_code,
        event_id=event_id,
    )
    if not known_sid:
        update["carrier_sid"] = report.message_sid
    if transition.changed and report.error_code:
        update["error"] = {"status": None, "code": report.error_code, "message": None}
    return update, transition


def final_report(record: dict[str, Any], transition: status.Transition, reported_at: datetime) -> SmsFinal | None:
    """The `sms.final` of a billable message that this transition made final; None for any other."""
    if not transition.became_final or not record.get("billing"):
        return None
    return SmsFinal(
        message_id=record["message_id"],
        to=record["to"],
        status=transition.current,
        billing=record["billing"],
        reference=record.get("reference"),
        template=record["template"],
        segments=record.get("carrier_segments") or record["segments"],
        at=reported_at,
    )


def may_be_unlinked(report: SmsStatus, now: datetime) -> bool:
    """True while a callback for an unknown SID may still be waiting for notify to store that SID."""
    return now - report.reported_at < LINK_GRACE


def _report(
    record: dict[str, Any],
    reported_status: str,
    reported_at: datetime,
    now: datetime,
    *,
    source: str,
    error_code: str | None = None,
    event_id: str | None = None,
) -> tuple[dict[str, Any], status.Transition]:
    """The update a reported status makes (forward only, always in the history), and the transition it is."""
    transition = status.apply(record["status"], reported_status)
    entry = _entry(
        reported_status,
        reported_at,
        now,
        source=source,
        applied=transition.changed,
        error_code=error_code,
        event_id=event_id,
    )
    update: dict[str, Any] = {"history": [*record.get("history", []), entry]}
    if transition.changed:
        update.update(status=transition.current, status_at=now)
        if transition.became_final:
            update["final_at"] = now
    return update, transition


def _entry(
    reported_status: str,
    reported_at: datetime,
    received_at: datetime,
    *,
    source: str,
    applied: bool,
    error_code: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One entry of a record's status history: what was reported, when, by whom, and whether it moved the status."""
    return {
        "status": reported_status,
        "reported_at": reported_at,
        "received_at": received_at,
        "source": source,
        "applied": applied,
        "error_code": error_code,
        "event_id": event_id,
    }
