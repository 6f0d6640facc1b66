"""Inbound calls: which voice service answers a call, and the TwiML it answers with.

No voice service is live yet; every call hears, in the caller's language, that the number offers
none. The missed-call IVR plugs in by adding a route for its number to `VoiceRouter.routes`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from twilio.twiml.voice_response import VoiceResponse

from functions.edge.replies import Text
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


def parse(form: Mapping[str, str]) -> InboundCall:
    """Twilio's inbound call fields; an unreadable caller number is kept as None, not refused."""
    try:
        caller = normalise(form.get("From") or "")
    except InvalidMsisdn:
        caller = None
    return InboundCall(call_sid=(form.get("CallSid") or "")[:64], caller=caller,
                       called=(form.get("To") or "").strip()[:32],
                       forwarded_from=(form.get("ForwardedFrom") or "").strip()[:32] or None)


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


VoiceHandler = Callable[[InboundCall, str], VoiceResponse]


@dataclass
class VoiceRouter:
    """Called number -> the voice service answering it; anything else gets `default`."""

    routes: dict[str, VoiceHandler] = field(default_factory=dict)
    default: VoiceHandler = no_voice_service

    def handler_for(self, call: InboundCall) -> VoiceHandler:
        return self.routes.get(call.called, self.default)

    def answer(self, call: InboundCall, language: str) -> VoiceResponse:
        return self.handler_for(call)(call, language)
