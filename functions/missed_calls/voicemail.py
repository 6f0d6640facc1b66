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
from shared import carrier
from shared.events import utcnow

logger = logging.getLogger("vas.missed_calls.voicemail")


def new_message(call: dict[str, Any], *, now: datetime, retention: timedelta) -> dict[str, Any]:
    return {"call_sid": call["call_sid"], "callee": call["callee"], "caller": call["caller"],
            "recording_sid": call["recording_sid"], "recording_url": call.get("recording_url"),
            "seconds": call.get("recording_seconds"), "called_at": call["called_at"], "recorded_at": now,
            "heard_at": None, "delete_after": now + retention, "deleted": False, "deleted_at": None,
            "deleted_by": None, "recording_deleted_at": None}


def heard(message: dict[str, Any], *, at: datetime) -> dict[str, Any] | None:
    """The first listening is kept; a second changes nothing."""
    return None if message.get("heard_at") else {"heard_at": at}


def deleted(message: dict[str, Any], *, by: str, now: datetime) -> dict[str, Any] | None:
    """Deleted by the callee or by retention; None when it already was."""
    if message.get("deleted"):
        return None
    return {"deleted": True, "deleted_at": now, "deleted_by": by, "recording_url": None}


def delete_at_carrier(recording_sid: str) -> None:
    """Delete a recording at the carrier; an outage raises (Pub/Sub retries), 'already gone' is done."""
    gone_before = not carrier.delete_recording(recording_sid)
    logger.info("recording deleted", extra={"recording_sid": recording_sid, "already_gone": gone_before})


def delete_recording_after_commit(ctx, call_sid: str | None) -> None:
    """After a commit that deleted a voice message: its recording, unless a delivery already deleted it."""
    if call_sid is None:
        return
    ref = ctx.doc(documents.VOICEMAILS, call_sid)
    if not ctx.redelivered:
        sid = ctx.handoff
    else:
        message = ref.get().to_dict() or {}
        sid = message.get("recording_sid") if message.get("deleted") and not message.get("recording_deleted_at") \
            else None
    if sid:
        delete_at_carrier(sid)
        ref.update({"recording_deleted_at": utcnow()})
