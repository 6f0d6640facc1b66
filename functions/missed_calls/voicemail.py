"""Voice messages (key 1): kept for registered callees until retention, deleted with their recording.

`voicemails/{call_sid}` is created once the recording exists; listening sets `heard_at`, the
callee's delete or retention sets `deleted`. The recording itself is deleted at the carrier
after the commit, and `recording_deleted_at` records it, so a redelivery deletes it at most once
more (the carrier answers 'already gone', which counts as done).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from functions.missed_calls import documents
from functions.missed_calls.models import MissedCall, Voicemail
from shared import carrier, runtime
from shared.events import utcnow

logger = logging.getLogger("vas.missed_calls.voicemail")


def new_message(call: MissedCall, *, now: datetime, retention: timedelta) -> Voicemail:
    """The voice message a call with a recording leaves, kept until retention."""
    return Voicemail(
        call_sid=call.call_sid,
        callee=call.callee,
        caller=call.caller,
        recording_sid=call.recording_sid,
        recording_url=call.recording_url,
        seconds=call.recording_seconds,
        called_at=call.called_at,
        recorded_at=now,
        heard_at=None,
        delete_after=now + retention,
        deleted=False,
        deleted_at=None,
        deleted_by=None,
        recording_deleted_at=None,
    )


def heard(message: Voicemail, *, at: datetime) -> dict[str, Any] | None:
    """The first listening is kept; a second changes nothing."""
    return None if message.heard_at else {"heard_at": at}


def deleted(message: Voicemail, *, by: str, now: datetime) -> dict[str, Any] | None:
    """Deleted by the callee or by retention; None when it already was."""
    if message.deleted:
        return None
    return {"deleted": True, "deleted_at": now, "deleted_by": by, "recording_url": None}


def delete_at_carrier(recording_sid: str) -> None:
    """Delete a recording at the carrier; an outage raises (Pub/Sub retries), 'already gone' is done."""
    gone_before = not carrier.delete_recording(recording_sid)
    logger.info("recording deleted", extra={"recording_sid": recording_sid, "already_gone": gone_before})


def delete_recording_after_commit(ctx: runtime.Context[str | None], call_sid: str | None) -> None:
    """After a commit that deleted a voice message: its recording, unless a delivery already deleted it."""
    if call_sid is None:
        return
    ref = ctx.doc(documents.VOICEMAILS, call_sid)
    if not ctx.redelivered:
        sid = ctx.handoff
    else:
        stored = ref.get().to_dict()
        message = Voicemail.model_validate(stored) if stored is not None else None
        sid = message.recording_sid if message and message.deleted and not message.recording_deleted_at else None
    if sid:
        delete_at_carrier(sid)
        ref.update({"recording_deleted_at": utcnow()})
