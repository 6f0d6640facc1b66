"""What a callee and their callers are told when the callee is back (pure: no I/O).

Spec, "On attach": every missed call recorded while the callee was away is delivered then, ONE
SMS PER CALLER merging that caller's calls (count, first and last time in the callee's local
time), with the text of the most informative key the caller pressed: 3 "please call <number>",
2 "waiting for your call", 1 a voice-message notice naming the voicemail number. Callers who
chose nothing (or only asked to be told, key 4) are not named: one free short notice counts
their calls and offers the D query — it would read the same for each of them, so one SMS says it.
Callers who pressed 4 are told the callee is available, unless the callee's privacy forbids it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from functions.missed_calls import documents
from functions.missed_calls.calls import CHOICE_RANK
from functions.missed_calls.config import MissedCallConfig
from functions.missed_calls.models import MissedCall, MissedCallUser, Notice, NoticeCall, Summary
from shared import texts
from shared.events import SmsSend
from shared.money import Currency

# Choices whose callee SMS names the caller; the others are counted in the short notice.
NAMED_CHOICES = ("leave_number", "other_number", "voicemail")
TEMPLATES = {
    "leave_number": "missed_calls.reminder.leave_number",
    "other_number": "missed_calls.reminder.other_number",
    "voicemail": "missed_calls.reminder.voicemail",
}
SHORT_NOTICE = "missed_calls.reminder.short_notice"
AVAILABLE = "missed_calls.available"
SUMMARY = "missed_calls.summary"
ACTIVATION = "missed_calls.activation"


@dataclass(frozen=True)
class Recipient:
    """Who an SMS goes to, and how they read times."""

    msisdn: str
    language: str
    zone: tzinfo


@dataclass(frozen=True)
class Digest:
    """One caller's calls merged: how many, first and last, and the most informative choice."""

    caller: str
    count: int
    first_at: datetime
    last_at: datetime
    choice: str
    other_number: str | None
    language: str | None
    call_sids: tuple[str, ...]


@dataclass(frozen=True)
class Outgoing:
    """One SMS to send (`purpose` derives its event id) and the calls it tells about."""

    purpose: str
    sms: SmsSend
    call_sids: tuple[str, ...] = ()


Reference = Callable[[str], str]  # purpose -> the SMS's reference (deterministic per delivery)


def digests(calls: Iterable[MissedCall]) -> list[Digest]:
    """The calls grouped per caller, callers in the order of their first call."""
    by_caller: dict[str, list[MissedCall]] = {}
    for call in sorted(calls, key=lambda c: (c.called_at, c.call_sid)):
        by_caller.setdefault(call.caller, []).append(call)
    return [_digest(caller, group) for caller, group in by_caller.items()]


def _digest(caller: str, calls: list[MissedCall]) -> Digest:
    best = max(calls, key=lambda c: (CHOICE_RANK.get(c.choice or "none", 0), c.called_at))
    choice = best.choice or "none"
    return Digest(
        caller=caller,
        count=len(calls),
        first_at=calls[0].called_at,
        last_at=calls[-1].called_at,
        choice=choice,
        other_number=best.other_number if choice == "other_number" else None,
        language=next((c.language for c in reversed(calls) if c.language), None),
        call_sids=tuple(c.call_sid for c in calls),
    )


def short_time(when: datetime, recipient: Recipient) -> str:
    """MM-DD HH:MM in the recipient's zone, written their language's way."""
    local = when.astimezone(recipient.zone)
    return texts.render(
        "missed_calls.time.short",
        recipient.language,
        month=f"{local.month:02d}",
        day=f"{local.day:02d}",
        hour=f"{local.hour:02d}",
        minute=f"{local.minute:02d}",
    )


def callee_messages(
    found: list[Digest], callee: Recipient, *, config: MissedCallConfig, currency: Currency, reference: Reference
) -> list[Outgoing]:
    """One charged reminder per caller who left a number or a message, and one free short notice for the rest."""
    out, unnamed = [], []
    for digest in found:
        if digest.choice not in NAMED_CHOICES:
            unnamed.append(digest)
            continue
        params: dict[str, Any] = {
            "caller": digest.caller,
            "count": digest.count,
            "first_at": short_time(digest.first_at, callee),
            "last_at": short_time(digest.last_at, callee),
        }
        if digest.choice == "other_number":
            params["number"] = digest.other_number
        if digest.choice == "voicemail":
            params["voicemail_number"] = config.voicemail_number
        purpose = f"reminder/{digest.caller}"
        out.append(
            Outgoing(
                purpose,
                _sms(
                    callee,
                    TEMPLATES[digest.choice],
                    params,
                    reference(purpose),
                    billing=documents.BILL_REMINDER,
                    sender=config.short_code,
                ),
                digest.call_sids,
            )
        )
    if unnamed:
        params = {
            "count": sum(d.count for d in unnamed),
            "short_code": config.short_code,
            "hours": config.details_window_hours,
            "price": currency.format(config.charging.details_query_price),
        }
        out.append(
            Outgoing(
                "short-notice",
                _sms(callee, SHORT_NOTICE, params, reference("short-notice"), billing=None, sender=config.short_code),
                tuple(sid for d in unnamed for sid in d.call_sids),
            )
        )
    return out


def availability_allowed(callee_user: MissedCallUser, caller_user: MissedCallUser, priority: str) -> bool:
    """Key 4 is answered unless the callee's privacy is on; when both are registered, the operator priority decides."""
    if not callee_user.privacy:
        return True
    both_registered = callee_user.registered and caller_user.registered
    return both_registered and priority == "caller"


def availability_message(
    digest: Digest, *, callee: str, caller: Recipient, config: MissedCallConfig, reference: Reference
) -> Outgoing:
    """'The subscriber <callee> you called at <MM-DD HH:MM> is now available' to a caller who pressed 4."""
    purpose = f"available/{digest.caller}"
    params = {"callee": callee, "called_at": short_time(digest.last_at, caller)}
    return Outgoing(
        purpose,
        _sms(
            caller, AVAILABLE, params, reference(purpose), billing=documents.BILL_AVAILABILITY, sender=config.short_code
        ),
        digest.call_sids,
    )


def summary_message(
    summary: Summary | None, callee: Recipient, *, config: MissedCallConfig, reference: Reference
) -> Outgoing | None:
    """The one SMS telling the calls that passed retention while the callee was away; None when there were none."""
    if summary is None or not summary.count or summary.first_at is None or summary.last_at is None:
        return None
    params = {
        "count": summary.count,
        "callers": len(summary.callers) + summary.callers_beyond,
        "first_at": short_time(summary.first_at, callee),
        "last_at": short_time(summary.last_at, callee),
        "hours": config.retention_hours,
    }
    return Outgoing(
        "summary", _sms(callee, SUMMARY, params, reference("summary"), billing=None, sender=config.short_code)
    )


def activation_message(
    callee: Recipient, *, config: MissedCallConfig, currency: Currency, reference: Reference
) -> Outgoing:
    """The free, once-per-subscriber notice that the service is on."""
    params = {"short_code": config.short_code, "price": currency.format(config.charging.reminder_price)}
    return Outgoing(
        "activation", _sms(callee, ACTIVATION, params, reference("activation"), billing=None, sender=config.short_code)
    )


def _sms(
    to: Recipient, template: str, params: dict[str, Any], reference: str, *, billing: str | None, sender: str
) -> SmsSend:
    return SmsSend(
        to=to.msisdn,
        template=template,
        params=params,
        language=to.language,
        sender=sender,
        reference=reference,
        billing=billing,
    )


# --- the D query's notice (missed_call_notices/{callee}) -----------------------------------


def notice_document(
    existing: Notice | None,
    found: list[Digest],
    *,
    callee: str,
    episode: datetime | None,
    now: datetime,
    window: timedelta,
) -> Notice:
    """What a D reply may tell until `window_ends_at`: this attach's callers, merged with an earlier part of it."""
    calls: dict[str, NoticeCall] = {}
    same_episode = existing is not None and episode is not None and existing.episode == episode
    if existing is not None and same_episode:
        calls = {item.caller: item for item in existing.calls}
    for digest in found:
        before = calls.get(digest.caller)
        item = NoticeCall(
            caller=digest.caller,
            count=digest.count,
            first_at=digest.first_at,
            last_at=digest.last_at,
            choice=digest.choice,
            other_number=digest.other_number,
            call_sids=list(digest.call_sids),
        )
        if before:  # the same caller in two parts of one attach (a capped delivery, a call told again)
            update: dict[str, Any] = {
                **_counted(before, digest),
                "first_at": min(before.first_at, digest.first_at),
                "last_at": max(before.last_at, digest.last_at),
            }
            if CHOICE_RANK.get(before.choice, 0) > CHOICE_RANK.get(digest.choice, 0):
                update.update(choice=before.choice, other_number=before.other_number)
            item = item.model_copy(update=update)
        calls[digest.caller] = item
    return Notice(
        callee=callee,
        episode=episode,
        sent_at=existing.sent_at if existing is not None and same_episode else now,
        window_ends_at=now + window,
        calls=sorted(calls.values(), key=lambda item: item.first_at),
    )


def _counted(before: NoticeCall, digest: Digest) -> dict[str, Any]:
    """The caller's count over both parts: a call told again (its key came late) is one call, not two."""
    if not before.call_sids and before.count:  # a notice written before calls were listed in it
        return {"count": before.count + digest.count}
    sids = [*before.call_sids, *(sid for sid in digest.call_sids if sid not in before.call_sids)]
    return {"count": len(sids), "call_sids": sids}
