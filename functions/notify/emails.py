"""Email records: what notify stores per email.send, and how sending changes it (pure, no I/O).

A record lives at `emails/{email_id}`, the id derived from the event's, so a redelivered event
finds the record of its first delivery. Its `status` is `queued` until SES takes the email
(`sent`, with SES's message id) or refuses it for good (`failed`, with SES's reason).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from functions.notify import lease
from shared import texts
from shared.events import EmailSend, derive_event_id

QUEUED, SENT, FAILED = "queued", "sent", "failed"
PARTS = ("subject", "text", "html")

# How long one attempt may hold the right to call SES: twice its worst call (ses.TIMEOUTS, two tries of 15 s).
SEND_LEASE = timedelta(seconds=60)


class InvalidEmail(ValueError):
    """The request cannot become an email (unknown template, missing parameter)."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def email_id(event_id: str) -> str:
    """The record id of the email an email.send event asks for: the same event, the same record."""
    return derive_event_id(event_id, "notify/email")


def render(template: str, language: str, params: dict[str, Any]) -> Rendered:
    """Subject, text and HTML of `template` in `language`; the HTML gets its parameters escaped."""
    # Numbers stay numbers (plural forms read them); anything else is text, escaped whatever its type.
    escaped = {
        name: value if isinstance(value, (int, float)) else html.escape(str(value), quote=False)
        for name, value in params.items()
    }
    try:
        subject = texts.render(f"{template}.subject", language, **params)
        text = texts.render(f"{template}.text", language, **params)
        body = texts.render(f"{template}.html", language, **escaped)
    except texts.UnknownText as unknown:
        raise InvalidEmail(f"unknown email template {template!r} (no text {unknown})") from None
    except (KeyError, IndexError) as missing:
        raise InvalidEmail(f"email template {template!r} needs parameter {missing}") from None
    except ValueError as error:
        raise InvalidEmail(f"email template {template!r} cannot be filled: {error}") from None
    # A header cannot hold a line break: the subject is one line whatever a parameter carried.
    return Rendered(subject=" ".join(subject.split()), text=text, html=body)


def compose(
    request: EmailSend, *, language: str, sender: str, event_id: str, correlation_id: str, now: datetime
) -> dict[str, Any]:
    """The new record of a queued email, rendered."""
    rendered = render(request.template, language, request.params)
    return {
        "email_id": email_id(event_id),
        "event_id": event_id,
        "correlation_id": correlation_id,
        "to": request.to,
        "from": sender,
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
        "language": language,
        "template": request.template,
        "msisdn": request.msisdn,
        "reference": request.reference,
        "billing": request.billing,
        "status": QUEUED,
        "ses_message_id": None,
        "send_attempts": 0,
        "send_lease_until": None,
        "error": None,
        "created_at": now,
        "status_at": now,
    }


def claim(record: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """Take the right to call SES for this email now (lease.take); None when SES has it or refused it."""
    if record["status"] != QUEUED:
        return None
    return lease.take(record, now, SEND_LEASE, f"email {record['email_id']}")


def released(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """An attempt ended without SES taking the email: the next delivery may try at once."""
    return {"send_lease_until": None}


def sent(ses_message_id: str, now: datetime) -> dict[str, Any]:
    """SES took the email: its message id ends the record's sending."""
    return {"status": SENT, "status_at": now, "ses_message_id": ses_message_id, "send_lease_until": None}


def refused(code: str, message: str, now: datetime) -> dict[str, Any]:
    """SES refused the email for good (an unverified sender, a rejected address): it ends failed."""
    return {
        "status": FAILED,
        "status_at": now,
        "send_lease_until": None,
        "error": {"code": code, "message": message[:1000]},
    }
