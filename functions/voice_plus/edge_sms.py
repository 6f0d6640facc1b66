"""The SMS offers' short code (config.short_code): an add-on's keyword, or YES/NO to its question.

The edge answers at once only what needs nothing decided: nothing open ("you have no open offer";
an offer past its `until`, still stored until its expiry is recorded, is not open),
or a word that is neither the open offer's keyword nor YES/NO (what to reply). Otherwise it publishes
`voice-plus.sms-replied` and sms_offers.py answers, once it has asked, activated or declined.
"""

from __future__ import annotations

from functions.edge import api
from functions.voice_plus.config import VoicePlusConfig
from functions.voice_plus.documents import SMS_OFFERS
from shared.consent import NO_WORD, NO_WORDS, YES_WORD, YES_WORDS, Answer
from shared.events import OfferSmsReplied, derive_event_id
from shared.operator import OperatorProfile

REPLIED = "voice-plus.sms-replied"
_YES = frozenset(api.fold(word) for word in YES_WORDS)
_NO = frozenset(api.fold(word) for word in NO_WORDS)
_TRAILING = ".,!?;:。，！？；："


def reads(inbound: api.InboundSms, profile: OperatorProfile) -> tuple[api.DocumentPath, ...]:
    """The open offer, in the caller's round trip."""
    return ((SMS_OFFERS, inbound.sender),)


def said_word(body: str) -> str:
    """The reply's first word as keywords are compared (folded, trailing punctuation dropped)."""
    words = api.fold(body).split()
    return words[0].strip(_TRAILING) if words else ""


def understood(word: str, keyword: str) -> bool:
    """Whether the word answers the open offer: its keyword, YES or NO."""
    return word in _YES or word in _NO or word == api.fold(keyword)


def consent_reply(word: str) -> bool | None:
    """True for YES, False for NO, None for the offer's keyword (which asks the question)."""
    return True if word in _YES else (False if word in _NO else None)


def answer(request: api.Request[api.SmsMessage]) -> api.SmsAnswer:
    """Forward a keyword or YES/NO about the open offer; else say what can be replied."""
    inbound, language = request.input.inbound, request.caller.language
    open_offer = request.document(SMS_OFFERS, inbound.sender)
    if open_offer is None or request.now >= open_offer["until"]:  # one past its window is not open any more
        return api.SmsAnswer(api.Text("voice_plus.sms.nothing_open"))
    word = said_word(inbound.body)
    if not understood(word, open_offer["keyword"]):
        words = {"keyword": open_offer["keyword"], "yes": YES_WORD[language], "no": NO_WORD[language]}
        return api.SmsAnswer(api.Text("voice_plus.sms.unknown", words))
    replied = OfferSmsReplied(
        msisdn=inbound.sender,
        said=Answer(text=inbound.body[:160], reference=inbound.message_sid, at=request.now),
        consent_reply=consent_reply(word),
    )
    event_id = derive_event_id(inbound.request_id, "voice-plus/replied")
    return api.SmsAnswer(None, publish=(api.Publication(REPLIED, replied, event_id),))


def short_codes(config: VoicePlusConfig) -> tuple[api.SmsShortCode, ...]:
    """The offers' short code, answered by this service alone."""
    return (api.SmsShortCode(config.short_code, api.SmsService(answer, reads=reads)),)
