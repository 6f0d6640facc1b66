"""Inbound calls: which voice service answers a call, and the TwiML it answers with.

A voice service plugs in with a `VoiceEntry`: a matcher (a call forwarded for some reason, a call
to service number N, a call to a number that does not exist) and a priority; the router tries the
entries in priority order, for the call and for its status callback alike. A call no entry takes
hears, in the caller's language, that the number offers no voice service. A `VoiceService` also
names the documents it needs, which the webhook reads in the caller's round trip. Multi-step
services (<Gather>) come back to the same webhook with a `step` in the action URL's query, which
Twilio's signature covers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from twilio.twiml.voice_response import VoiceResponse

from functions.edge.replies import Publication, Text
from functions.edge.request import DocumentPath, Reads, Request
from shared.msisdn import InvalidMsisdn, normalise
from shared.operator import OperatorProfile

# Twilio text-to-speech voices per platform language. Twilio has no Uzbek or Kyrgyz voice: those
# callers hear their own text read by the default voice until recorded prompts (<Play>) replace it.
SPEECH: dict[str, tuple[str, str]] = {
    "en": ("en-US", "Polly.Joanna"),
    "ru": ("ru-RU", "Polly.Tatyana"),
    "zh": ("cmn-CN", "Polly.Zhiyu"),
}


@dataclass(frozen=True)
class Recording:
    """A <Record>'s result as Twilio posts it to the action URL."""

    sid: str
    url: str
    seconds: int


def _recording(form: Mapping[str, str]) -> Recording | None:
    """The recording fields when they make a usable reference; None otherwise (nothing was recorded)."""
    sid, url = (form.get("RecordingSid") or "").strip(), (form.get("RecordingUrl") or "").strip()
    duration = (form.get("RecordingDuration") or "").strip()
    if not sid or len(sid) > 64 or not url.startswith(("https://", "http://")) or len(url) > 500:
        return None
    return Recording(sid=sid, url=url, seconds=int(duration) if duration.isdigit() and len(duration) < 7 else 0)


@dataclass(frozen=True)
class InboundCall:
    call_sid: str
    caller: str | None  # E.164, None when the network withheld or mangled it
    called: str  # the number dialled (our service number)
    forwarded_from: str | None
    digits: str | None = None  # what a <Gather> collected (its finish key removed)
    query: Mapping[str, str] = field(default_factory=dict)  # the action URL's query: step and what came before
    forward_reason: str | None = None  # the carrier's reason for a forwarded call (busy, …)
    recording: Recording | None = None  # what a <Record> left, on its action request
    duration: int | None = None  # seconds, on the status callback of a call that ended
    status: str | None = None  # Twilio's CallStatus
    caller_verification: str | None = None  # Twilio's StirVerstat: how far the network vouches for `caller`
    call_reason: str | None = None  # the carrier's CallReason: "not-exists" for a wrong number handed on

    @property
    def step(self) -> str | None:
        return self.query.get("step")


def parse(form: Mapping[str, str], query: Mapping[str, str] | None = None) -> InboundCall:
    """Twilio's inbound call fields; an unreadable caller number is kept as None, not refused."""
    try:
        caller = normalise(form.get("From") or "")
    except InvalidMsisdn:
        caller = None
    digits = (form.get("Digits") or "").strip()[:40] or None
    kept = {name: str(value)[:64] for name, value in (query or {}).items() if name in QUERY_FIELDS}
    return InboundCall(
        call_sid=(form.get("CallSid") or "")[:64],
        caller=caller,
        called=(form.get("To") or "").strip()[:32],
        forwarded_from=(form.get("ForwardedFrom") or "").strip()[:32] or None,
        digits=digits,
        query=kept,
        forward_reason=(form.get("ForwardReason") or "").strip()[:32] or None,
        recording=_recording(form),
        duration=_seconds(form.get("CallDuration")),
        status=(form.get("CallStatus") or "").strip().lower()[:20] or None,
        caller_verification=(form.get("StirVerstat") or "").strip()[:40] or None,
        call_reason=(form.get("CallReason") or "").strip().lower()[:32] or None,
    )


def _seconds(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 7 else None


# What multi-step services carry between requests: the pay card's recipient; the missed-call IVR's
# callee, forward reason, call time, caller language and keys offered; the voicemail line's message
# and the proof that this call opened the mailbox; Voice+'s offer, its campaign and the step's number.
QUERY_FIELDS = frozenset(
    {
        "step",
        "recipient",
        "serial",
        "attempt",
        "callee",
        "reason",
        "at",
        "lang",
        "keys",
        "msg",
        "pass",
        "offer",
        "campaign",
        "n",
    }
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def stamp(moment: datetime) -> str:
    """A moment for an action URL: microseconds since the epoch, exact and with nothing to escape."""
    return str((moment - _EPOCH) // _MICROSECOND)


def unstamp(text: str) -> datetime | None:
    """The moment `stamp` wrote; None for anything else."""
    if not text.isdigit() or len(text) > 18:
        return None
    return _EPOCH + int(text) * _MICROSECOND


@dataclass(frozen=True)
class VoiceAnswer:
    """TwiML to answer with, and the events the webhook publishes first."""

    twiml: VoiceResponse
    publish: tuple[Publication, ...] = ()

    def __str__(self) -> str:
        return str(self.twiml)


def say(response: VoiceResponse, text: Text, language: str) -> VoiceResponse:
    """Speak a text in the language, with Twilio's voice for it where Twilio has one."""
    speech_language, voice = SPEECH.get(language, (None, None))
    response.say(text.render(language), language=speech_language, voice=voice)
    return response


def announce(text: Text, language: str) -> VoiceResponse:
    """Say the text, then hang up."""
    response = say(VoiceResponse(), text, language)
    response.hangup()
    return response


def no_voice_service(request: Request[InboundCall]) -> VoiceResponse:
    """'No voice service here'; a wrong number nobody takes ends silently: the network's announcement was said."""
    if request.input.call_reason == WRONG_NUMBER:
        response = VoiceResponse()
        response.hangup()
        return response
    return announce(Text("edge.voice.no_service"), request.caller.language)


VoiceHandler = Callable[[Request[InboundCall]], "VoiceResponse | VoiceAnswer"]


@dataclass(frozen=True)
class VoiceEndHandler:
    """What a service publishes when the carrier says a call ended, and what it reads to decide."""

    publications: Callable[[Request[InboundCall]], tuple[Publication, ...]]
    reads: Reads[InboundCall]


@dataclass(frozen=True)
class VoiceService:
    """A voice handler that also names the documents it needs (read with the caller's, in one round trip)."""

    handler: VoiceHandler
    reads: Reads[InboundCall]

    def __call__(self, request: Request[InboundCall]) -> VoiceResponse | VoiceAnswer:
        return self.handler(request)

    def documents_for(self, call: InboundCall, profile: OperatorProfile) -> tuple[DocumentPath, ...]:
        return tuple(self.reads(call, profile))


class CallMatcher(Protocol):
    """Which calls a voice entry answers, and which ends (status callbacks) it hears of."""

    def matches(self, call: InboundCall) -> bool: ...

    def matches_end(self, call: InboundCall) -> bool: ...


@dataclass(frozen=True)
class Forwarded:
    """A call the network forwarded to us (ForwardedFrom set), for any reason or for the ones named.

    Later steps of such a call carry the callee in our own signed action URL instead.
    """

    reasons: frozenset[str] | None = None  # the carrier's ForwardReason values; None: any

    def _reason_fits(self, call: InboundCall) -> bool:
        reason = call.forward_reason or call.query.get("reason")
        return self.reasons is None or (reason or "") in self.reasons

    def matches(self, call: InboundCall) -> bool:
        return bool(call.forwarded_from or call.query.get("callee")) and self._reason_fits(call)

    def matches_end(self, call: InboundCall) -> bool:
        return bool(call.forwarded_from) and self._reason_fits(call)


@dataclass(frozen=True)
class ServiceNumber:
    """A call to one of our service numbers (written with or without its `+`)."""

    number: str

    def matches(self, call: InboundCall) -> bool:
        return self.number in (call.called, call.called.lstrip("+"))

    def matches_end(self, call: InboundCall) -> bool:
        return not call.forwarded_from and self.matches(call)


WRONG_NUMBER = "not-exists"  # the carrier's CallReason for a call to a number that does not exist


@dataclass(frozen=True)
class WrongNumber:
    """A call to a number that does not exist, handed on after the network's announcement (CallReason).

    Later steps of such a call carry the offer in our own signed action URL.
    """

    def matches(self, call: InboundCall) -> bool:
        return call.call_reason == WRONG_NUMBER or "offer" in call.query

    def matches_end(self, call: InboundCall) -> bool:
        return call.call_reason == WRONG_NUMBER and not call.forwarded_from


@dataclass(frozen=True)
class NumberNotInService:
    """A call to a number nobody else answers (the network sends calls to unassigned numbers here)."""

    def matches(self, call: InboundCall) -> bool:
        return True

    def matches_end(self, call: InboundCall) -> bool:
        return not call.forwarded_from


@dataclass(frozen=True)
class VoiceEntry:
    """A voice service's entry: which calls it answers, how, and what their end publishes."""

    matcher: CallMatcher
    handler: VoiceHandler
    ended: VoiceEndHandler | None = None
    priority: int = 100  # lower first; the first entry whose matcher takes a call answers it


@dataclass
class VoiceRouter:
    """Entries tried in priority order; a call none takes hears `default` (no voice service here)."""

    entries: list[VoiceEntry] = field(default_factory=list)
    default: VoiceHandler = no_voice_service

    def add(self, entry: VoiceEntry) -> None:
        """Plug an entry in; equal priorities keep the order they were added in."""
        self.entries.append(entry)
        self.entries.sort(key=lambda each: each.priority)

    def handler_for(self, call: InboundCall) -> VoiceHandler:
        entry = next((entry for entry in self.entries if entry.matcher.matches(call)), None)
        return entry.handler if entry else self.default

    def documents_for(self, call: InboundCall, profile: OperatorProfile) -> tuple[DocumentPath, ...]:
        """What the call's service reads besides the caller's subscriber record."""
        handler = self.handler_for(call)
        return handler.documents_for(call, profile) if isinstance(handler, VoiceService) else ()

    def _end_handler(self, call: InboundCall) -> VoiceEndHandler | None:
        return next(
            (entry.ended for entry in self.entries if entry.ended is not None and entry.matcher.matches_end(call)), None
        )

    def ended(self, request: Request[InboundCall]) -> tuple[Publication, ...]:
        """What a call's end publishes (nothing unless the service answering such calls asks to hear of it)."""
        handler = self._end_handler(request.input)
        return handler.publications(request) if handler else ()

    def documents_for_end(self, call: InboundCall, profile: OperatorProfile) -> tuple[DocumentPath, ...]:
        handler = self._end_handler(call)
        return tuple(handler.reads(call, profile)) if handler else ()

    def answer(self, request: Request[InboundCall]) -> VoiceAnswer:
        answered = self.handler_for(request.input)(request)
        return answered if isinstance(answered, VoiceAnswer) else VoiceAnswer(answered)
