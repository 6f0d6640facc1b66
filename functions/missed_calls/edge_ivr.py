"""The caller IVR of missed-call alerts (spec/missed-calls.md): what a caller hears when the network
forwards their call because the callee is switched off, busy or not answering.

The operator's preset decides per forward reason: a short announcement ("they will be told you
called") or the seed's menu — 1 leave a voice message (callees with a mailbox only), 2 leave my
number, 3 leave another number, 4 tell me when the subscriber is available. No key or a wrong one
is asked once more, then the call ends politely.

`missed-call.recorded` is published the moment the call arrives (a caller who hangs up still
counts) and again as the caller chooses; each publication carries the whole state with an event id
from the CallSid and the state, so Twilio's retries publish nothing new. What every step needs
(callee, reason, call time, language, keys offered) travels in the signed action URL, so later steps
read nothing from Firestore.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, get_args
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from functions.edge import api
from functions.edge.api import Publication, Text
from functions.missed_calls import documents
from functions.missed_calls.config import MissedCallConfig
from shared import store, texts
from shared.events import ForwardReason, MissedCallRecorded, derive_event_id
from shared.msisdn import InvalidMsisdn, normalise
from shared.operator import OperatorProfile

logger = logging.getLogger("vas.edge.missed_calls")

TOPIC = "missed-call.recorded"
MENU, RECORDED, OTHER_NUMBER = "menu", "recorded", "other_number"  # the steps after the first answer
ENDED_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})  # Twilio's final CallStatus
ATTEMPTS = 2  # no key, a wrong key or a bad number: asked once more, then goodbye
MENU_TIMEOUT_SECONDS = 5
NUMBER_TIMEOUT_SECONDS = 10
MAX_NUMBER_DIGITS = 15  # E.164's longest number
KEYS = {"1": "voicemail", "2": "leave_number", "3": "other_number", "4": "notify_me"}
_KEY_TEXTS = {
    "1": "edge.missed_calls.ivr.key_voicemail",
    "2": "edge.missed_calls.ivr.key_own_number",
    "3": "edge.missed_calls.ivr.key_other_number",
    "4": "edge.missed_calls.ivr.key_notify",
}
_REASONS: frozenset[str] = frozenset(get_args(ForwardReason))
_SITUATION = {"busy": "edge.missed_calls.ivr.busy", "no-answer": "edge.missed_calls.ivr.no_answer"}


def reason_of(raw: str | None) -> str:
    """The carrier's forward reason as the platform names it; absent or unknown -> "unknown"."""
    reason = (raw or "").strip().lower().replace("_", "-")
    reason = "no-answer" if reason == "noanswer" else reason
    return reason if reason in _REASONS else "unknown"


def callee_of(forwarded_from: str | None, profile: OperatorProfile) -> str | None:
    """ForwardedFrom in E.164 (the switch may send it nationally), None when it is not a number."""
    try:
        return profile.msisdn(forwarded_from) if forwarded_from else None
    except InvalidMsisdn:
        return None


def keyed_number(digits: str | None, profile: OperatorProfile) -> str | None:
    """Key 3's number in E.164, None when it is not a dialable number."""
    typed = (digits or "").strip().rstrip("#")
    if not typed.isdigit() or len(typed) > MAX_NUMBER_DIGITS:
        return None
    try:
        return profile.msisdn(typed)
    except InvalidMsisdn:
        return None


def spoken(number: str) -> str:
    """A number as text-to-speech should read it: digit by digit."""
    return " ".join(ch for ch in number if ch.isdigit())


# Key 4 ("tell me when they are back") only means something for a phone that is off: a busy or
# unanswered phone is on, and "available again" would be sent at once, and untrue.
_BACK_LATER = frozenset({"unreachable", "unknown"})


def offered_keys(reason: str, *, mailbox: bool) -> str:
    """The menu's keys: 1 with a voice mailbox, 2 and 3 always, 4 when the callee's phone is off."""
    return ("1" if mailbox else "") + "23" + ("4" if reason in _BACK_LATER else "")


def situation_text(reason: str) -> Text:
    """'The subscriber you dialled is busy / does not answer / cannot be reached.'"""
    return Text(_SITUATION.get(reason, "edge.missed_calls.ivr.unreachable"))


def call_request_id(call_sid: str, caller: str, callee: str) -> str:
    """Our id of a forwarded call: its CallSid, caller and callee (every step of the call shares it)."""
    return api.call_request_id(call_sid, caller, callee)


@dataclass(frozen=True)
class ForwardedCall:
    """One forwarded call as every step knows it (carried in the signed action URLs)."""

    call_sid: str
    caller: str
    callee: str
    reason: str
    called_at: datetime
    language: str
    keys: str  # the menu keys offered, e.g. "1234" (key 1 only with a mailbox)

    def action(self, step: str, attempt: int) -> str:
        """This webhook (relative URL) with the step and the call's state in its query."""
        return "?" + urlencode(
            {
                "step": step,
                "attempt": attempt,
                "callee": self.callee,
                "reason": self.reason,
                "at": api.stamp(self.called_at),
                "lang": self.language,
                "keys": self.keys,
            }
        )

    def recorded(self, purpose: str, *, choice: str = "none", final: bool, **details: Any) -> Publication:
        """The whole state so far; the event id comes from the call's request id and `purpose` (one per state)."""
        # details: more of MissedCallRecorded's fields, which the model validates
        payload = MissedCallRecorded(
            call_sid=self.call_sid,
            caller=self.caller,
            callee=self.callee,
            reason=self.reason,
            called_at=self.called_at,
            choice=choice,
            language=self.language,
            final=final,
            **details,
        )
        return Publication(
            TOPIC,
            payload,
            derive_event_id(call_request_id(self.call_sid, self.caller, self.callee), f"{TOPIC}/{purpose}"),
        )

    @classmethod
    def restore(cls, call: api.InboundCall) -> ForwardedCall | None:
        """The state a later step's action URL carries; None for a URL we did not write."""
        query = call.query
        try:
            callee = normalise(query.get("callee", ""))
        except InvalidMsisdn:
            return None
        called_at = api.unstamp(query.get("at", ""))
        keys, language, reason = query.get("keys", ""), query.get("lang", ""), query.get("reason", "")
        if (
            call.caller is None
            or not call.call_sid
            or called_at is None
            or reason not in _REASONS
            or language not in texts.LANGUAGES
            or not keys
            or set(keys) - set(KEYS)
        ):
            return None
        return cls(
            call_sid=call.call_sid,
            caller=call.caller,
            callee=callee,
            reason=reason,
            called_at=called_at,
            language=language,
            keys=keys,
        )


def _attempt(call: api.InboundCall) -> int:
    typed = call.query.get("attempt", "1")
    return int(typed) if typed in {str(n) for n in range(1, ATTEMPTS + 1)} else ATTEMPTS


def _spoken(parts: Iterable[Text], language: str, into: VoiceResponse | None = None) -> VoiceResponse:
    response = into if into is not None else VoiceResponse()
    for part in parts:
        api.say(response, part, language)
    return response


def _goodbye(parts: Sequence[Text], language: str, publish: Iterable[Publication] = ()) -> api.VoiceAnswer:
    response = _spoken(parts, language)
    response.hangup()
    return api.VoiceAnswer(response, tuple(publish))


@dataclass(frozen=True)
class MissedCallIvr:
    """The caller IVR of one operator and its missed-call preset."""

    profile: OperatorProfile
    config: MissedCallConfig

    def reads(self, call: api.InboundCall, profile: OperatorProfile) -> list[tuple[str, str]]:
        """On the first request only: is the callee our subscriber, and do they have a voice mailbox."""
        callee = callee_of(call.forwarded_from, profile) if call.step is None else None
        return [(store.SUBSCRIBERS, callee), (documents.USERS, callee)] if callee else []

    def answer(self, request: api.Request[api.InboundCall]) -> api.VoiceAnswer:
        call, language = request.input, request.caller.language
        if call.step is None:
            return self._arrived(request, request.now)
        state = ForwardedCall.restore(call)
        if state is None:  # only a hand-made URL gets here: Twilio signs ours
            logger.warning("missed-call IVR step without a readable state", extra={"step": call.step})
            return _goodbye([Text("edge.missed_calls.ivr.call_later")], language)
        attempt = _attempt(call)
        if call.step == MENU:
            return self._chosen(state, call.digits, attempt)
        if call.step == RECORDED:
            return self._recorded(state, call.recording, attempt)
        if call.step == OTHER_NUMBER:
            return self._number_keyed(state, call.digits, attempt)
        return _goodbye([Text("edge.missed_calls.ivr.call_later")], state.language)

    # --- the call's end (the number's status callback) ----------------------------------------

    def ended(self, request: api.Request[api.InboundCall]) -> tuple[Publication, ...]:
        """The call is over: a caller who hung up in the menu counts now, not after the IVR's longest journey.

        Published with choice none and `hung_up`: the consumer keeps any key the caller pressed (the
        furthest state wins) and lets the IVR's own last publication, which may arrive just after
        this one, land before telling a reachable callee.
        """
        call = request.input
        callee = callee_of(call.forwarded_from, self.profile)
        if call.caller is None or not call.call_sid or callee is None or callee == call.caller:
            return ()
        if call.status not in ENDED_STATUSES:
            return ()  # a progress report (ringing, in-progress …) when the number asks for more events
        if request.read and "status" not in (request.document(store.SUBSCRIBERS, callee) or {}):
            return ()  # not our subscriber: the IVR recorded nothing either
        ended_at = request.now
        called_at = ended_at - timedelta(seconds=call.duration or 0)
        payload = MissedCallRecorded(
            call_sid=call.call_sid,
            caller=call.caller,
            callee=callee,
            reason=reason_of(call.forward_reason),
            called_at=called_at,
            hung_up=True,
        )
        request_id = call_request_id(call.call_sid, call.caller, callee)
        return (Publication(TOPIC, payload, derive_event_id(request_id, f"{TOPIC}/ended")),)

    def ended_reads(self, call: api.InboundCall, profile: OperatorProfile) -> list[tuple[str, str]]:
        callee = callee_of(call.forwarded_from, profile)
        return [(store.SUBSCRIBERS, callee)] if callee else []

    # --- the first request ----------------------------------------------------------------

    def _arrived(self, request: api.Request[api.InboundCall], now: datetime) -> api.VoiceAnswer:
        call, language = request.input, request.caller.language
        reason = reason_of(call.forward_reason)
        situation = situation_text(reason)
        callee = callee_of(call.forwarded_from, self.profile)
        if call.caller is None or not call.call_sid:
            return _goodbye([situation, Text("edge.missed_calls.ivr.withheld")], language)
        if callee is None or callee == call.caller:
            return _goodbye([situation, Text("edge.missed_calls.ivr.call_later")], language)
        handling = self.config.forwards.handling(reason)
        mailbox = False
        if request.read:
            subscriber = request.document(store.SUBSCRIBERS, callee)
            if subscriber is None or "status" not in subscriber:  # not ours: nobody to tell
                logger.info("forwarded call for a number that is not our subscriber; announced only")
                return _goodbye([situation, Text("edge.missed_calls.ivr.call_later")], language)
            mailbox = bool((request.document(documents.USERS, callee) or {}).get("registered"))
        else:
            # Firestore is out: the call is still recorded (the switch forwards only our
            # subscribers' calls), with the announcement that needs nothing read.
            handling = "reminder"
        state = ForwardedCall(
            call_sid=call.call_sid,
            caller=call.caller,
            callee=callee,
            reason=reason,
            called_at=now,
            language=language,
            keys=offered_keys(reason, mailbox=mailbox),
        )
        if handling == "reminder":
            return _goodbye(
                [situation, Text("edge.missed_calls.ivr.will_be_told")],
                language,
                [state.recorded("reminder", final=True)],
            )
        return self._menu(state, attempt=1, publish=[state.recorded("offered", final=False)])

    # --- the menu ---------------------------------------------------------------------------

    def _menu(
        self, state: ForwardedCall, attempt: int, mistake: Text | None = None, publish: Iterable[Publication] = ()
    ) -> api.VoiceAnswer:
        action = state.action(MENU, attempt)
        response = VoiceResponse()
        gather = response.gather(input="dtmf", num_digits=1, timeout=MENU_TIMEOUT_SECONDS, action=action, method="POST")
        parts = ([mistake] if mistake else []) + [situation_text(state.reason), Text("edge.missed_calls.ivr.menu")]
        _spoken(parts + [Text(_KEY_TEXTS[key]) for key in state.keys], state.language, into=gather)
        response.redirect(action, method="POST")  # no key within the timeout: the step sees no digits
        return api.VoiceAnswer(response, tuple(publish))

    def _again_or_end(self, state: ForwardedCall, attempt: int, mistake: Text | None) -> api.VoiceAnswer:
        """Offer the menu once more; after the last attempt, end politely (the call still counts)."""
        if attempt < ATTEMPTS:
            return self._menu(state, attempt + 1, mistake)
        return _goodbye([Text("edge.missed_calls.ivr.ended")], state.language, [state.recorded("ended", final=True)])

    def _chosen(self, state: ForwardedCall, digits: str | None, attempt: int) -> api.VoiceAnswer:
        key = digits if digits in KEYS and digits in state.keys else None
        if key is None:
            return self._again_or_end(state, attempt, Text("edge.missed_calls.ivr.invalid_choice") if digits else None)
        choice = KEYS[key]
        if choice == "voicemail":
            return self._record(state, attempt)
        if choice == "other_number":
            return self._ask_number(state, attempt=1)
        said = Text(
            "edge.missed_calls.ivr.own_number_left" if choice == "leave_number" else "edge.missed_calls.ivr.notify_me"
        )
        return _goodbye([said], state.language, [state.recorded(choice, choice=choice, final=True)])

    # --- key 1: a voice message -----------------------------------------------------------

    def _record(self, state: ForwardedCall, attempt: int) -> api.VoiceAnswer:
        action = state.action(RECORDED, attempt)
        response = _spoken([Text("edge.missed_calls.ivr.record")], state.language)
        response.record(
            action=action,
            method="POST",
            max_length=self.config.voicemail.max_seconds,
            timeout=self.config.voicemail.silence_seconds,
            play_beep=True,
            finish_on_key="#",
        )
        response.redirect(action, method="POST")  # Twilio skips the action when nothing was recorded
        return api.VoiceAnswer(response)

    def _recorded(self, state: ForwardedCall, recording: api.Recording | None, attempt: int) -> api.VoiceAnswer:
        if recording is None:
            return self._again_or_end(state, attempt, Text("edge.missed_calls.ivr.nothing_recorded"))
        publication = state.recorded(
            "voicemail",
            choice="voicemail",
            final=True,
            recording_sid=recording.sid,
            recording_url=recording.url,
            recording_seconds=recording.seconds,
        )
        return _goodbye([Text("edge.missed_calls.ivr.recorded")], state.language, [publication])

    # --- key 3: another number ------------------------------------------------------------

    def _ask_number(self, state: ForwardedCall, attempt: int, mistake: Text | None = None) -> api.VoiceAnswer:
        action = state.action(OTHER_NUMBER, attempt)
        response = VoiceResponse()
        gather = response.gather(
            input="dtmf",
            finish_on_key="#",
            num_digits=MAX_NUMBER_DIGITS,
            timeout=NUMBER_TIMEOUT_SECONDS,
            action=action,
            method="POST",
        )
        _spoken(
            ([mistake] if mistake else []) + [Text("edge.missed_calls.ivr.enter_number")], state.language, into=gather
        )
        response.redirect(action, method="POST")
        return api.VoiceAnswer(response)

    def _number_keyed(self, state: ForwardedCall, digits: str | None, attempt: int) -> api.VoiceAnswer:
        number = keyed_number(digits, self.profile)
        if number is None:
            if attempt < ATTEMPTS:
                return self._ask_number(state, attempt + 1, Text("edge.missed_calls.ivr.invalid_number"))
            return _goodbye(
                [Text("edge.missed_calls.ivr.ended")], state.language, [state.recorded("ended", final=True)]
            )
        publication = state.recorded("other_number", choice="other_number", final=True, other_number=number)
        return _goodbye(
            [Text("edge.missed_calls.ivr.other_number_left", {"number": spoken(number)})], state.language, [publication]
        )


def forwarded_service(profile: OperatorProfile, config: MissedCallConfig) -> api.VoiceService:
    """The IVR as the router's handler for forwarded calls, with what its first step reads."""
    ivr = MissedCallIvr(profile, config)
    return api.VoiceService(handler=ivr.answer, reads=ivr.reads)


def forwarded_end(profile: OperatorProfile, config: MissedCallConfig) -> api.VoiceEndHandler:
    """The IVR's part of the number's status callback: a forwarded call that ended."""
    ivr = MissedCallIvr(profile, config)
    return api.VoiceEndHandler(publications=ivr.ended, reads=ivr.ended_reads)
