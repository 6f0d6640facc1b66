"""The voicemail line (spec/missed-calls.md, key 1's other half): a registered subscriber calls the
preset's voicemail number and hears their voice messages, oldest first.

Caller ID is easy to spoof, so the mailbox opens only with its PIN (functions/missed_calls/pin.py),
keyed on every call — unless the subscriber chose to skip it on their own phone and the network
vouches for this call's caller ID (StirVerstat, full attestation). A mailbox without a PIN plays
nothing and says how to set one; a locked one (too many wrong PINs) says how to unlock it. A PIN is
compared only when the mailbox's guard allows one more try, and counted there at once
(edge_pin_guard.py); each PIN compared is published (right or wrong and the guard's
verdict, never the digits) for the service to lock and tell the owner; a call that opened the
mailbox carries a proof keyed by the stored PIN hash in its action URLs.

Each message is announced ("Message 2 of 3 from …, <time>") and played inside a one-key <Gather>:
1 next, 7 delete, 9 again (a key pressed during the message interrupts it). The edge changes
nothing itself: it publishes `missed-call.voicemail-played` (heard / deleted, one event id per call,
message and action) and the missed-call service updates the mailbox. Which message is playing
travels in the signed action URL (its call sid and time), so a deletion the service has not applied
yet cannot make the line skip or repeat a message.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from twilio.twiml.voice_response import VoiceResponse

from functions.edge import api
from functions.edge.api import (
    READ_DEADLINE_SECONDS,
    READ_RETRY,  # the edge's one read policy: retry transient errors
    Publication,
    Text,
    refusal,
)
from functions.missed_calls import documents, edge_pin_guard as pin_guard, pin
from functions.missed_calls.config import MissedCallConfig
from functions.missed_calls.edge_ivr import spoken
from functions.missed_calls.models import MissedCallUser
from shared import localtime
from shared.events import VoicemailPinEntered, VoicemailPlayed, derive_event_id
from shared.operator import OperatorProfile

logger = logging.getLogger("vas.edge.voicemail")

TOPIC = "missed-call.voicemail-played"
PIN_TOPIC = "missed-call.voicemail-pin"
PLAYED, PIN = "played", "pin"
NEXT, DELETE, REPEAT = "1", "7", "9"
ATTEMPTS = 2  # no key after a message: the options once more, then goodbye
PIN_ATTEMPTS = 3  # PINs one call may key; wrong ones in a row across calls lock the mailbox
OPTIONS_TIMEOUT_SECONDS = 8
PIN_TIMEOUT_SECONDS = 10
MAX_MESSAGES = 100  # a mailbox holds a week of messages; this bounds one call's reads


@dataclass(frozen=True, order=True)
class VoiceMessage:
    """One stored voice message, ordered as the mailbox plays them (oldest first)."""

    recorded_at: datetime
    call_sid: str
    caller: str
    url: str
    owner: str = ""  # the mailbox's owner (the callee): times are read in their zone


def message_from(call_sid: str, stored: Mapping[str, Any], now: datetime) -> VoiceMessage | None:
    """A `voicemails/{call_sid}` document as a playable message; None when deleted, expired or incomplete."""
    recorded_at, url, caller = stored.get("recorded_at"), stored.get("recording_url"), stored.get("caller")
    delete_after = stored.get("delete_after")
    if stored.get("deleted") or not isinstance(recorded_at, datetime) or not url or not caller:
        return None
    if isinstance(delete_after, datetime) and delete_after <= now:  # housekeeping has not got to it yet
        return None
    return VoiceMessage(
        recorded_at=recorded_at,
        call_sid=call_sid,
        caller=str(caller),
        url=str(url),
        owner=str(stored.get("callee") or ""),
    )


MessagesReader = Callable[[str], list[tuple[str, dict]]]  # mailbox owner -> (call sid, document), oldest first


def stored_messages(db: firestore.Client, owner: str) -> list[tuple[str, dict]]:
    """The owner's voice messages not deleted, oldest first (composite index: callee, deleted, recorded_at)."""
    query = (
        db.collection(documents.VOICEMAILS)
        .where(filter=FieldFilter("callee", "==", owner))
        .where(filter=FieldFilter("deleted", "==", False))
        .order_by("recorded_at")
        .limit(MAX_MESSAGES)
    )
    return [
        (snapshot.id, document)
        for snapshot in query.get(retry=READ_RETRY, timeout=READ_DEADLINE_SECONDS)
        if (document := snapshot.to_dict()) is not None  # a query yields existing documents only
    ]


def _goodbye(text: Text, language: str, publish: tuple[Publication, ...] = ()) -> api.VoiceAnswer:
    return api.VoiceAnswer(api.announce(text, language), publish)


def _playing(call: api.InboundCall) -> tuple[str, datetime] | None:
    """The message the action URL says was playing: its call sid and time."""
    msg, at = call.query.get("msg", ""), api.unstamp(call.query.get("at", ""))
    return (msg, at) if msg and at is not None else None


def _attempt(call: api.InboundCall, limit: int = ATTEMPTS) -> int:
    """Which try this is (anything unreadable counts as the last one)."""
    typed = call.query.get("attempt", "1")
    return int(typed) if typed in {str(n) for n in range(1, limit + 1)} else limit


@dataclass(frozen=True)
class VoicemailLine:
    """The voicemail line of one operator; `read_messages` queries the mailbox (Firestore in production)."""

    profile: OperatorProfile
    config: MissedCallConfig
    read_messages: MessagesReader
    guard: pin_guard.PinGuard

    def reads(self, call: api.InboundCall, profile: OperatorProfile) -> list[tuple[str, str]]:
        """The caller's missed-call options (registered or not), with their subscriber record."""
        return [(documents.USERS, call.caller)] if call.caller else []

    def answer(self, request: api.Request[api.InboundCall]) -> api.VoiceAnswer:
        call, language, now = request.input, request.caller.language, request.now
        if call.caller is None or not call.call_sid:
            return _goodbye(Text("edge.missed_calls.voicemail.withheld"), language)
        if not request.read:
            return _goodbye(Text("edge.unavailable"), language)
        refused = refusal(request.caller, self.profile)
        if refused is not None:
            return _goodbye(refused, language)
        owner = call.caller  # the mailbox is the caller's own
        user = request.model(documents.USERS, owner, MissedCallUser) or MissedCallUser()
        how = {"short_code": self.config.short_code, "ussd": self.config.ussd_menu}
        if not user.registered:
            return _goodbye(Text("edge.missed_calls.voicemail.not_registered", how), language)
        stored_pin = user.voicemail_pin
        if not stored_pin or not stored_pin.get("hash"):
            return _goodbye(Text("edge.missed_calls.voicemail.no_pin", how), language)
        if user.voicemail_locked_at:
            return _goodbye(Text("edge.missed_calls.voicemail.locked", how), language)
        token = pin.pass_token(stored_pin, call.call_sid)
        if call.step == PIN:
            return self._pin_keyed(call, owner, stored_pin, token, language, now)
        if not (
            pin.skips_pin(user.voicemail_trust_own_phone, call.caller_verification)
            or hmac.compare_digest(call.query.get("pass", "").encode(), token.encode())
        ):
            return self._ask_pin(language, attempt=1)
        return self._mailbox(call, owner, token, language, now)

    def _ask_pin(
        self, language: str, attempt: int, mistake: Text | None = None, publish: tuple[Publication, ...] = ()
    ) -> api.VoiceAnswer:
        action = "?" + urlencode({"step": PIN, "attempt": attempt})
        response = VoiceResponse()
        gather = response.gather(
            input="dtmf", finish_on_key="#", timeout=PIN_TIMEOUT_SECONDS, action=action, method="POST"
        )
        if mistake is not None:
            api.say(gather, mistake, language)
        api.say(gather, Text("edge.missed_calls.voicemail.enter_pin"), language)
        response.redirect(action, method="POST")  # nothing keyed: the PIN step sees no digits and asks again
        return api.VoiceAnswer(response, publish)

    def _pin_keyed(
        self, call: api.InboundCall, owner: str, stored: Mapping[str, Any], token: str, language: str, now: datetime
    ) -> api.VoiceAnswer:
        """The PIN the caller keyed: the mailbox, the question again, or goodbye (a lock says how to unlock)."""
        attempt = _attempt(call, PIN_ATTEMPTS)
        if not call.digits:  # nothing keyed is not a wrong PIN
            if attempt >= PIN_ATTEMPTS:
                return _goodbye(Text("edge.missed_calls.voicemail.pin_goodbye"), language)
            return self._ask_pin(language, attempt + 1)
        digits = call.digits
        try:
            verdict = self.guard.attempt(
                owner,
                str(stored["hash"]),
                f"{call.call_sid}/{attempt}",
                lambda: pin.matches(digits, stored),
                self.config.voicemail.max_wrong_pins,
                now,
            )
        except Exception:
            logger.exception("voicemail line answered 'try later': the PIN guard could not be written")
            return _goodbye(Text("edge.unavailable"), language)
        locked = Text(
            "edge.missed_calls.voicemail.locked", {"short_code": self.config.short_code, "ussd": self.config.ussd_menu}
        )
        if not verdict.compared:  # the wrong PINs and the tries in flight used up the mailbox's tries
            return _goodbye(locked, language)
        entered = self._pin_entered(call, owner, attempt, verdict, now)
        if verdict.right:
            return self._mailbox(call, owner, token, language, now, publish=(entered,))
        if verdict.locked:
            return _goodbye(locked, language, (entered,))
        if attempt >= PIN_ATTEMPTS:
            return _goodbye(Text("edge.missed_calls.voicemail.pin_goodbye"), language, (entered,))
        return self._ask_pin(
            language, attempt + 1, mistake=Text("edge.missed_calls.voicemail.wrong_pin"), publish=(entered,)
        )

    def _pin_entered(
        self, call: api.InboundCall, owner: str, attempt: int, verdict: pin_guard.Verdict, now: datetime
    ) -> Publication:
        request_id = api.call_request_id(call.call_sid, owner, call.called, "pin", str(attempt))
        payload = VoicemailPinEntered(
            request_id=request_id,
            msisdn=owner,
            call_sid=call.call_sid,
            attempt=attempt,
            right=verdict.right,
            locked=verdict.locked_now,
            at=now,
        )
        return Publication(PIN_TOPIC, payload, derive_event_id(request_id, PIN_TOPIC))

    def _mailbox(
        self,
        call: api.InboundCall,
        owner: str,
        token: str,
        language: str,
        now: datetime,
        publish: tuple[Publication, ...] = (),
    ) -> api.VoiceAnswer:
        """The opened mailbox: the first message, or what follows the message that was playing."""
        try:
            stored = self.read_messages(owner)
        except Exception:
            logger.exception("voicemail line answered 'try later': the mailbox could not be read")
            return _goodbye(Text("edge.unavailable"), language, publish)
        mailbox = sorted(m for m in (message_from(sid, doc, now) for sid, doc in stored) if m is not None)
        playing = _playing(call) if call.step == PLAYED else None
        if playing is None:
            if not mailbox:
                return _goodbye(Text("edge.missed_calls.voicemail.empty"), language, publish)
            intro = Text("edge.missed_calls.voicemail.count", {"count": len(mailbox)})
            return self._play(mailbox, 0, language, token, intro=intro, publish=publish)
        return self._after(call, owner, mailbox, playing, token, language, now)

    def _after(
        self,
        call: api.InboundCall,
        owner: str,
        mailbox: list[VoiceMessage],
        playing: tuple[str, datetime],
        token: str,
        language: str,
        now: datetime,
    ) -> api.VoiceAnswer:
        """The caller's key after a message (or none), and the message that comes next."""
        msg, at = playing
        action = "deleted" if call.digits == DELETE else "heard"
        publication = self._played(call, owner, msg, action, now)
        if call.digits == DELETE:
            mailbox = [m for m in mailbox if m.call_sid != msg]  # the service may not have applied it yet
        later = [i for i, m in enumerate(mailbox) if (m.recorded_at, m.call_sid) > (at, msg)]
        current = next((i for i, m in enumerate(mailbox) if m.call_sid == msg), None)
        if call.digits == REPEAT and current is not None:
            return self._play(mailbox, current, language, token, publish=(publication,))
        if call.digits in (NEXT, DELETE):
            prefix = Text("edge.missed_calls.voicemail.deleted") if call.digits == DELETE else None
            if later:
                return self._play(mailbox, later[0], language, token, intro=prefix, publish=(publication,))
            return self._end(prefix, language, publication)
        attempt = _attempt(call)
        if attempt < ATTEMPTS and current is not None:  # no key or another key: the options once more
            return self._options_again(mailbox[current], language, token, attempt + 1)
        return self._end(None, language, publication)

    def _played(self, call: api.InboundCall, owner: str, msg: str, action: str, now: datetime) -> Publication:
        request_id = api.call_request_id(call.call_sid, owner, msg)
        payload = VoicemailPlayed(request_id=request_id, msisdn=owner, call_sid=msg, action=action, at=now)
        return Publication(TOPIC, payload, derive_event_id(request_id, f"{TOPIC}/{action}"))

    def _end(self, prefix: Text | None, language: str, publication: Publication) -> api.VoiceAnswer:
        response = VoiceResponse()
        for text in ([prefix] if prefix else []) + [Text("edge.missed_calls.voicemail.no_more")]:
            api.say(response, text, language)
        response.hangup()
        return api.VoiceAnswer(response, (publication,))

    @staticmethod
    def _action(message: VoiceMessage, attempt: int, token: str) -> str:
        return "?" + urlencode(
            {
                "step": PLAYED,
                "attempt": attempt,
                "msg": message.call_sid,
                "at": api.stamp(message.recorded_at),
                "pass": token,
            }
        )

    def _play(
        self,
        mailbox: list[VoiceMessage],
        index: int,
        language: str,
        token: str,
        intro: Text | None = None,
        publish: tuple[Publication, ...] = (),
    ) -> api.VoiceAnswer:
        message = mailbox[index]
        action = self._action(message, 1, token)
        # The listener's zone (the mailbox owner's), not the zone of whoever left the message.
        when = localtime.moment(
            message.recorded_at, localtime.zone_for(message.owner or message.caller, self.profile.timezone), language
        )
        response = VoiceResponse()
        # Everything inside the <Gather>: a key pressed during the message interrupts it.
        gather = response.gather(
            input="dtmf", num_digits=1, timeout=OPTIONS_TIMEOUT_SECONDS, action=action, method="POST"
        )
        if intro is not None:
            api.say(gather, intro, language)
        api.say(
            gather,
            Text(
                "edge.missed_calls.voicemail.message",
                {"position": index + 1, "count": len(mailbox), "caller": spoken(message.caller), "time": when},
            ),
            language,
        )
        gather.play(message.url)
        api.say(gather, Text("edge.missed_calls.voicemail.options"), language)
        response.redirect(action, method="POST")
        return api.VoiceAnswer(response, publish)

    def _options_again(self, message: VoiceMessage, language: str, token: str, attempt: int) -> api.VoiceAnswer:
        action = self._action(message, attempt, token)
        response = VoiceResponse()
        gather = response.gather(
            input="dtmf", num_digits=1, timeout=OPTIONS_TIMEOUT_SECONDS, action=action, method="POST"
        )
        api.say(gather, Text("edge.missed_calls.voicemail.options"), language)
        response.redirect(action, method="POST")
        return api.VoiceAnswer(response)


def voice_service(
    profile: OperatorProfile, config: MissedCallConfig, db: Callable[[], firestore.Client]
) -> api.VoiceService:
    """The line on the preset's voicemail number; `db` gives the Firestore client when a call comes."""
    line = VoicemailLine(
        profile, config, read_messages=lambda owner: stored_messages(db(), owner), guard=pin_guard.FirestorePinGuard(db)
    )
    return api.VoiceService(handler=line.answer, reads=line.reads)
