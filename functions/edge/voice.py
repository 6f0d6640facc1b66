"""Inbound calls: which voice service answers a call, and the TwiML it answers with.

A voice service plugs in by adding a route for its number to `VoiceRouter.routes` (the pay-card
IVR on 0670 does); a call to any other number hears, in the caller's language, that the number
offers no voice service. Multi-step services (<Gather>) come back to the same webhook with a
`step` in the action URL's query, which Twilio's signature covers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from twilio.twiml.voice_response import VoiceResponse

from functions.edge.replies import Publication, Text
from shared.msisdn import InvalidMsisdn, normalise

# Twilio text-to-speech voices per platform language. Twilio has no Uzbek or Kyrgyz voice: those
# callers hear their own text read by the default voice until recorded prompts (<Play>) replace it.
SPEECH: dict[str, tuple[str, str]] = {
    "en": ("en-US", "Polly.Joanna"),
    "ru": ("ru-RU", "Polly.Tatyana"),
    "zh": ("cmn-CN", "Polly.Zhiyu"),
}


@dataclass(frozen=True)
class InboundCall:
    call_sid: str
    caller: str | None        # E.164, None when the network withheld or mangled it
    called: str               # the number dialled (our service number)
    forwarded_from: str | None
    digits: str | None = None                      # what a <Gather> collected (its finish key removed)
    query: Mapping[str, str] = field(default_factory=dict)   # the action URL's query: step and what came before
    caller_record: Mapping | None = None           # the caller's subscriber document, when read
    caller_read: bool = False                      # False: Firestore could not be read for this call

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
    return InboundCall(call_sid=(form.get("CallSid") or "")[:64], caller=caller,
                       called=(form.get("To") or "").strip()[:32],
                       forwarded_from=(form.get("ForwardedFrom") or "").strip()[:32] or None,
                       digits=digits, query=kept)


QUERY_FIELDS = frozenset({"step", "recipient", "attempt"})  # what multi-step services carry between requests


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


def no_voice_service(call: InboundCall, language: str) -> VoiceResponse:
    return announce(Text("edge.voice.no_service"), language)


VoiceHandler = Callable[[InboundCall, str], "VoiceResponse | VoiceAnswer"]


@dataclass
class VoiceRouter:
    """Called number -> the voice service answering it; anything else gets `default`."""

    routes: dict[str, VoiceHandler] = field(default_factory=dict)
    default: VoiceHandler = no_voice_service

    def handler_for(self, call: InboundCall) -> VoiceHandler:
        return self.routes.get(call.called) or self.routes.get(call.called.lstrip("+"), self.default)

    def answer(self, call: InboundCall, language: str) -> VoiceAnswer:
        answered = self.handler_for(call)(call, language)
        return answered if isinstance(answered, VoiceAnswer) else VoiceAnswer(answered)
