"""The edge's public interface: the one module a service imports to plug into USSD, SMS and voice.

A service declares its entries in its own folder (`functions/<service>/edge.py`) with one function,
`entries(profile) -> ServiceEntries | None` (None when the operator profile switches it off); the
edge discovers that module (functions/edge/services.py) and routes requests to what it declares:

- USSD: `UssdService` (a code or a code with fixed inputs, its handler, what it reads first);
  `UssdAddOn` (lines riding on the final first screen of host codes, owning the session's later inputs);
- SMS: `SmsKeywords` (its keywords per language), `SmsPattern` (a shape of message, such as
  `<number> <amount>`), `SmsShortCode` (a short code it answers alone);
- voice: `VoiceEntry` with a matcher (`Forwarded`, `ServiceNumber`, `NumberNotInService`, `WrongNumber`) and a
  priority, optionally hearing of the call's end (`VoiceEndHandler`).
- `change_document`: the one write the edge makes itself, a count that must hold at the moment of the
  answer (wrong PINs, an offer's plays), conditional on the document as read.

Every handler gets one `Request` (the channel, the channel's parsed input, the caller, the operator
profile, the caller's ledger account when asked for, what was read, now). Every entry names the
documents it needs (`Reads`, as (collection, id) pairs); the edge reads them with the caller's
subscriber record in one round trip, and the handler asks for each the same way:
`request.document(collection, id)` (or `request.model(collection, id, Model)`); asking for one the
entry did not name raises `NotRead`. Nothing else under functions/edge/ is for services: the edge
keeps signatures, parsing, the caller's language, answer formats, deadlines, paging, the help
screens and request ids to itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.edge.conditional import DocumentBusy, change_document
from functions.edge.lookup import READ_DEADLINE_SECONDS, READ_RETRY
from functions.edge.replies import Publication, Text
from functions.edge.request import DocumentPath, NotRead, Reads, Request, RequestDocuments
from functions.edge.request_ids import call_request_id
from functions.edge.screen import Reply
from functions.edge.sms_keywords import (
    Command,
    InboundSms,
    SmsAnswer,
    SmsKeywords,
    SmsMessage,
    SmsPattern,
    SmsService,
    SmsShortCode,
    fold,
)
from functions.edge.subscribers import Caller, refusal
from functions.edge.ussd import UssdAddOn, UssdRequest, UssdService, replay
from functions.edge.voice import (
    Forwarded,
    InboundCall,
    NumberNotInService,
    Recording,
    ServiceNumber,
    VoiceAnswer,
    VoiceEndHandler,
    VoiceEntry,
    VoiceHandler,
    VoiceService,
    WrongNumber,
    announce,
    say,
    stamp,
    unstamp,
)


@dataclass(frozen=True)
class ServiceEntries:
    """Everything one service plugs into the edge, on all three channels."""

    ussd: tuple[UssdService, ...] = ()
    sms_keywords: tuple[SmsKeywords, ...] = ()
    sms_patterns: tuple[SmsPattern, ...] = ()
    sms_short_codes: tuple[SmsShortCode, ...] = ()
    voice: tuple[VoiceEntry, ...] = ()
    ussd_addons: tuple[UssdAddOn, ...] = ()


__all__ = [
    "READ_DEADLINE_SECONDS",
    "READ_RETRY",
    "Caller",
    "Command",
    "DocumentBusy",
    "DocumentPath",
    "Forwarded",
    "InboundCall",
    "InboundSms",
    "NotRead",
    "NumberNotInService",
    "Publication",
    "Reads",
    "Recording",
    "Reply",
    "Request",
    "RequestDocuments",
    "ServiceEntries",
    "ServiceNumber",
    "SmsAnswer",
    "SmsKeywords",
    "SmsMessage",
    "SmsPattern",
    "SmsService",
    "SmsShortCode",
    "Text",
    "UssdAddOn",
    "UssdRequest",
    "UssdService",
    "VoiceAnswer",
    "VoiceEndHandler",
    "VoiceEntry",
    "VoiceHandler",
    "VoiceService",
    "WrongNumber",
    "announce",
    "call_request_id",
    "change_document",
    "fold",
    "refusal",
    "replay",
    "say",
    "stamp",
    "unstamp",
]
