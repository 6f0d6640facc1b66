"""Twilio message status callbacks -> the `sms.status` event notify's status machine consumes."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from datetime import datetime

from functions.edge.request_ids import message_status_id
from shared.events import SmsStatus, SmsStatusValue, derive_event_id

TRACKED = frozenset(typing.get_args(SmsStatusValue))

# Statuses Twilio documents that notify's machine does not track: acknowledged, not forwarded.
# (Messaging Services report `accepted`/`scheduled` before `queued`; `read` is WhatsApp;
# `canceled` ends a scheduled send; `receiving`/`received` are inbound messages.)
UNTRACKED = frozenset({"accepted", "scheduled", "canceled", "read", "receiving", "received", "partially_delivered"})


class BadCallback(ValueError):
    """A status callback no retry can make sense of (answered 400 with this message)."""


def parse(form: Mapping[str, str], received_at: datetime, query: Mapping[str, str] | None = None) -> SmsStatus | None:
    """The status to forward, None for a status notify does not track; BadCallback otherwise.

    `query` is the callback URL's query string: notify puts its own `message_id` there, and Twilio
    signs the URL with it, so the status reaches its message without waiting for the SID link.
    """
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not sid or len(sid) > 64:
        raise BadCallback("MessageSid is missing or longer than 64 characters")
    if status in UNTRACKED:
        return None
    if status not in TRACKED:
        raise BadCallback(
            f"unknown MessageStatus {status[:40]!r}; expected one of "
            f"{', '.join(sorted(TRACKED))} (or an untracked Twilio status: "
            f"{', '.join(sorted(UNTRACKED))})"
        )
    error_code = (form.get("ErrorCode") or "").strip()[:16] or None
    message_id = ((query or {}).get("message_id") or "").strip() or None
    if message_id is not None and len(message_id) > 64:
        raise BadCallback("message_id in the callback URL is longer than 64 characters")
    return SmsStatus(
        message_sid=sid, status=status, error_code=error_code, reported_at=received_at, message_id=message_id
    )


def event_id(update: SmsStatus) -> str:
    """The same callback delivered twice gives the same event id, so notify applies it once."""
    return derive_event_id(message_status_id(update.message_sid), f"status/{update.status}")
