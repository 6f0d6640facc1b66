"""One forwarded call's record, merged from the IVR's publications in any order (pure: no I/O).

The edge publishes `missed-call.recorded` when the call reaches the IVR and again at each choice,
each time with the whole state so far. Pub/Sub may deliver them in any order, so the stored call
keeps the furthest state seen: a choice never goes back to none, recording fields only fill in,
`final` only goes true, the earliest `called_at` stands. A later publication can still change
which key was pressed (a re-prompted caller), and then the final one wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from functions.missed_calls.models import MissedCall, MissedCallUser, NetworkState
from shared.events import MissedCallRecorded

PENDING, NOTIFIED, SUMMARISED, DROPPED = "pending", "notified", "summarised", "dropped"

# How informative each choice is for the callee; a caller's merged SMS takes the best of their calls.
CHOICE_RANK = {"none": 0, "notify_me": 1, "leave_number": 2, "other_number": 3, "voicemail": 4}

# No IVR journey lasts longer (menu, re-prompt, a voice message of at most 10 minutes): a call
# still not final after this is treated as ended, so a lost final publication delays a reminder
# but never loses it.
IVR_JOURNEY_MAX = timedelta(minutes=15)

# The carrier's end-of-call report and the IVR's last publication (the key, sent just before the
# goodbye) are published a moment apart and may be consumed in either order. A callee who is
# reachable is told only once this has passed since the hang-up, so the key is there to tell.
HANG_UP_SETTLE = timedelta(seconds=20)


def merged(stored: MissedCall | None, event: MissedCallRecorded, *, now: datetime) -> MissedCall:
    """The call's record after this publication, whatever order publications arrive in."""
    if stored is None:
        return MissedCall(
            call_sid=event.call_sid,
            caller=event.caller,
            callee=event.callee,
            reason=event.reason,
            called_at=event.called_at,
            choice=event.choice,
            other_number=event.other_number,
            recording_sid=event.recording_sid,
            recording_url=event.recording_url,
            recording_seconds=event.recording_seconds,
            language=event.language,
            final=event.final,
            hung_up_at=now if event.hung_up else None,
            status=PENDING,
            first_seen_at=now,
            updated_at=now,
        )
    update: dict[str, Any] = {}
    choice = _choice(stored, event)
    if choice != stored.choice:
        update.update(choice=choice, other_number=event.other_number)
    elif stored.other_number is None:
        update["other_number"] = event.other_number
    recording_sid = stored.recording_sid
    if event.recording_sid and not stored.recording_sid and event.recording_sid != stored.discarded_recording_sid:
        recording_sid = update["recording_sid"] = event.recording_sid
    if event.recording_sid and event.recording_sid == recording_sid:
        for name in ("recording_url", "recording_seconds"):
            if getattr(stored, name) is None:
                update[name] = getattr(event, name)
    if stored.language is None:
        update["language"] = event.language
    update["called_at"] = min(stored.called_at, event.called_at)
    update["final"] = stored.final or event.final
    if event.hung_up:
        update["hung_up_at"] = min(stored.hung_up_at or now, now)
    if (
        stored.status == NOTIFIED
        and CHOICE_RANK[stored.choice or "none"] == 0
        and CHOICE_RANK[update.get("choice", stored.choice)] >= CHOICE_RANK["leave_number"]
    ):
        # The caller's key arrived after the callee was told of the call by the free notice: the
        # caller was promised a reminder, so the call is told again, with its key.
        update["status"] = PENDING
    update["updated_at"] = now
    return stored.model_copy(update=update)


def asked_after_told(stored: MissedCall | None, call: MissedCall) -> bool:
    """True when this publication brings a key 4 to a call already told, its request not answered yet.

    The call stays told (the callee hears nothing more of it), but the caller asked to be told when
    the callee is back: a call is told only to a reachable callee, so the callee has come back
    since the call and the request is answered now, as the delivery would have answered it.
    """
    return (
        stored is not None
        and stored.status == NOTIFIED
        and stored.choice != "notify_me"
        and call.choice == "notify_me"
        and call.availability is None
    )


def _choice(stored: MissedCall, event: MissedCallRecorded) -> str:
    current = stored.choice or "none"
    if event.choice == "none" or event.choice == current:
        return current
    if current == "none":
        return event.choice
    # Two different keys: the caller was re-prompted; the publication that ended the journey knows.
    return event.choice if event.final and not stored.final else current


def screened_out(caller: str, user: MissedCallUser) -> str | None:
    """Why the callee's lists drop this caller ('blacklist', 'not_whitelisted'), None when kept."""
    if caller in user.blacklist:
        return "blacklist"
    if user.whitelist and caller not in user.whitelist:
        return "not_whitelisted"
    return None


def with_mailbox(call: MissedCall, *, registered: bool) -> tuple[MissedCall, str | None]:
    """The call as the callee's mailbox allows it, and the recording to delete (an unregistered callee's).

    Only registered users have a voice mailbox; for the others key 1 becomes a 'leave my number'
    reminder and the recording is not kept. Key 1 that ended without a recording is one too.
    """
    if call.choice != "voicemail":
        return call, None
    if not registered and call.recording_sid:
        discarded = call.recording_sid
        return call.model_copy(
            update={
                "choice": "leave_number",
                "asked": "voicemail",
                "discarded_recording_sid": discarded,
                "recording_sid": None,
                "recording_url": None,
            }
        ), discarded
    if not registered or (call.final and not call.recording_sid):
        return call.model_copy(update={"choice": "leave_number", "asked": "voicemail"}), None
    return call, None


def has_voicemail(call: MissedCall) -> bool:
    return call.choice == "voicemail" and bool(call.recording_sid)


def journey_ends_at(call: MissedCall) -> datetime:
    """When a call still open in the IVR is over for sure: settled after a hang-up, else the longest journey."""
    longest = call.called_at + IVR_JOURNEY_MAX
    return min(longest, call.hung_up_at + HANG_UP_SETTLE) if call.hung_up_at else longest


def journey_over(call: MissedCall, now: datetime, *, at_attach: bool = False) -> bool:
    """True when the caller has left the IVR (or must have by now): the call can be told.

    At the callee's attach a hung-up call counts at once: it ended while the callee was away, and
    a key that still arrives later reopens the call (see `merged`).
    """
    if call.final or (at_attach and call.hung_up_at):
        return True
    return now >= journey_ends_at(call)


# What a forward says about the callee's phone at the moment of the call: busy and no-answer
# forwards come from a phone that is on; an unreachable one from a phone that is off. The HLR may
# not report for days (a phone on since the service started), so the call itself is evidence.
_STATE_BY_REASON = {"busy": "attached", "no-answer": "attached", "unreachable": "detached"}


def network_report(call: MissedCall) -> NetworkState | None:
    """The callee's network state the call's forward reason proves, at the call's time."""
    state = _STATE_BY_REASON.get(call.reason or "")
    return NetworkState(state=state, at=call.called_at) if state else None


def _hlr_report(subscriber: dict[str, Any]) -> NetworkState | None:
    """The HLR's latest report as provisioning keeps it on the subscriber."""
    hlr = subscriber.get("network_state")
    return NetworkState.model_validate(hlr) if hlr else None


def reachable(user: MissedCallUser, subscriber: dict[str, Any], call: MissedCall | None = None) -> bool:
    """Whether the callee's phone is attached now: the newest report of the HLR (either consumer
    kept one) or of this call's forward reason."""
    candidates = (user.network, _hlr_report(subscriber), network_report(call) if call else None)
    reports = [(state.at, state.state) for state in candidates if state and state.at]
    if not reports:
        return False
    return max(reports, key=lambda report: report[0])[1] == "attached"  # the first of equally new reports


def back_from_away(user: MissedCallUser, subscriber: dict[str, Any]) -> bool:
    """Whether the HLR reports an attach newer than the detach this service last took in.

    Provisioning and this service's attach consumer take the same report in separately: until
    the latter has, a call told meanwhile is told as the attach would tell it (hung-up calls
    count as over, every call of a caller in one SMS), not as to a phone that was on all along.
    """
    hlr, last = _hlr_report(subscriber), user.network
    if hlr is None or hlr.state != "attached" or hlr.at is None:
        return False
    return last is not None and last.state == "detached" and last.at is not None and last.at < hlr.at


def episode(user: MissedCallUser, subscriber: dict[str, Any]) -> datetime | None:
    """The network report the callee is in now (groups one attach's notices for the D query).

    The newer of this service's and the HLR's: an attach the HLR reported but this service has not
    taken in yet is the episode the attach consumer will name too.
    """
    reports = [report.at for report in (user.network, _hlr_report(subscriber)) if report and report.at]
    return max(reports, default=None)
