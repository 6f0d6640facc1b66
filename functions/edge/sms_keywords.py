"""SMS to the short code: the keyword a subscriber texted, in any of the platform's languages.

Keywords are matched case-insensitively after Unicode NFKC folding (so full-width `ＢＡＬ` and
`？` count), on the first word, or on the whole text for scripts written without spaces (余额).

The edge itself knows only HELP (and what nobody serves). Every other command is a service's:
its keywords per language (`SmsKeywords`) or a shape of message (`SmsPattern`, e.g. transfers'
`<number> <amount>`) plug into a `Commands` registry with the `SmsService` answering them, each
with its `usage`: HELP and an unknown keyword answer with every usage registered.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from functions.edge import request_ids
from functions.edge.replies import Publication, Text
from functions.edge.request import DocumentPath, Reads, Request, RequestDocuments
from functions.edge.subscribers import Caller, refusal
from shared.ledger import Account
from shared.msisdn import InvalidMsisdn, normalise
from shared.operator import OperatorProfile

_MAX_BODY = 1600  # Twilio's own limit for a message body
_MAX_WORD_SHOWN = 20  # an unknown keyword is quoted back, but never a whole essay
_TRAILING = ".,!?;:。，！？；：\"'«»“”"

Command = str  # a command's name, e.g. "balance" (the service that declares it chooses it)
HELP: Command = "help"
UNKNOWN: Command = "unknown"

# The edge's own keywords: the help, in every platform language.
HELP_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("HELP", "INFO", "?"),
    "ru": ("ПОМОЩЬ", "СПРАВКА", "ИНФО"),
    "uz": ("YORDAM", "ЁРДАМ"),
    "ky": ("ЖАРДАМ",),
    "zh": ("帮助", "幫助"),
}


class MalformedMessage(ValueError):
    """The inbound SMS lacks what any reply needs (a sender number, a message id)."""


@dataclass(frozen=True)
class InboundSms:
    message_sid: str
    sender: str  # E.164
    to: str  # the short code (or number) the subscriber texted
    body: str
    # The text as the request id names it, a secret in it (a PIN) blanked; None: the whole body.
    named_body: str | None = None

    @property
    def request_id(self) -> str:
        """Our id of this message: its MessageSid, sender, short code and text (a retry gets the same)."""
        named = self.body if self.named_body is None else self.named_body
        return request_ids.sms_request_id(self.message_sid, self.sender, self.to, named)


def parse(form: Mapping[str, str]) -> InboundSms:
    """Validate Twilio's inbound SMS fields; raises MalformedMessage when no reply can be sent."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    if not sid or len(sid) > 64:
        raise MalformedMessage("MessageSid is missing or too long")
    try:
        # Twilio sends E.164; no region, so a malformed number is refused, not guessed.
        sender = normalise(form.get("From") or "")
    except InvalidMsisdn as error:
        raise MalformedMessage(str(error)) from None
    return InboundSms(
        message_sid=sid,
        sender=sender,
        to=(form.get("To") or "").strip()[:32],
        body=(form.get("Body") or "")[:_MAX_BODY],
    )


def fold(text: str) -> str:
    """The text as keywords are compared: NFKC-folded, case-folded, trimmed."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


def help_text(profile: OperatorProfile, short_code: str, accepted: str) -> Text:
    """What `short_code` accepts (one line per command, already in the reader's language)."""
    return Text(
        "edge.sms.help", {"short_code": short_code, "commands": accepted, "hotline": profile.short_codes.hotline}
    )


def unknown_text(word: str, profile: OperatorProfile, short_code: str, accepted: str) -> Text:
    shown = word if len(word) <= _MAX_WORD_SHOWN else word[: _MAX_WORD_SHOWN - 1] + "…"
    return Text(
        "edge.sms.unknown_keyword",
        {"word": shown, "short_code": short_code, "commands": accepted, "hotline": profile.short_codes.hotline},
    )


# --- answering: one SmsService per command ------------------------------------------------------


@dataclass(frozen=True)
class SmsMessage:
    """The SMS channel's parsed input: the message, the command read from it and where it was sent."""

    inbound: InboundSms
    command: Command
    word: str  # what the command was read from
    short_code: str  # the code the subscriber texted (the operator's SMS code when unsaid)
    accepted: tuple[Text, ...] = ()  # what each command served on this short code accepts (help)


def sms_request(
    *,
    inbound: InboundSms,
    command: Command,
    word: str,
    short_code: str,
    caller: Caller,
    profile: OperatorProfile,
    account: Account | None = None,
    documents: RequestDocuments | None = None,
    now: datetime,
) -> Request[SmsMessage]:
    """The request a message makes once its caller (and what its command reads) is known."""
    message = SmsMessage(inbound=inbound, command=command, word=word, short_code=short_code)
    return Request(
        channel="sms",
        input=message,
        caller=caller,
        profile=profile,
        account=account,
        documents=documents or RequestDocuments(),
        now=now,
    )


def accepted_lines(request: Request[SmsMessage]) -> str:
    """The help's list, in the caller's language."""
    usages = request.input.accepted or (Text("edge.help.sms.none"),)
    return "\n".join(usage.render(request.caller.language) for usage in usages)


@dataclass(frozen=True)
class SmsAnswer:
    """The reply (rendered by notify in the caller's language) and the events to publish with it.

    `text` None: the service that consumes `publish` answers the subscriber itself, once it knows
    the outcome (a confirmation that depends on a charge, say); the edge then sends nothing.
    `billing` tags a reply that is charged once delivered (SmsSend.billing).
    """

    text: Text | None
    publish: tuple[Publication, ...] = ()
    billing: str | None = None


@dataclass(frozen=True)
class SmsService:
    """How one command is answered and what the edge reads for it, in the caller's round trip."""

    handler: Callable[[Request[SmsMessage]], Text | SmsAnswer]
    needs_account: bool = False
    reads: Reads[InboundSms] | None = None
    usage: Text | None = None  # one line of the help: what the command accepts, with an example
    # The body with its secrets (a PIN) blanked. Request ids are stored and logged, and a few digits
    # hashed with a known number and MessageSid are found again by trying them all.
    without_secrets: Callable[[str], str] | None = None

    def documents_for(self, inbound: InboundSms, profile: OperatorProfile) -> tuple[DocumentPath, ...]:
        return tuple(self.reads(inbound, profile)) if self.reads else ()


def _help(request: Request[SmsMessage]) -> Text:
    return help_text(request.profile, request.input.short_code, accepted_lines(request))


def _unknown(request: Request[SmsMessage]) -> Text:
    return unknown_text(request.input.word, request.profile, request.input.short_code, accepted_lines(request))


# Always served: the help, and the answer to what nobody serves (both list what the others accept).
ALWAYS: dict[Command, SmsService] = {
    HELP: SmsService(_help),
    UNKNOWN: SmsService(_unknown),
}


@dataclass(frozen=True)
class SmsKeywords:
    """A service's command: its keywords in each platform language, and the service answering it."""

    command: Command
    words: Mapping[str, Iterable[str]]  # language -> keywords (one keyword may serve two languages)
    service: SmsService
    priority: int = 100  # lower first: its place in the help's list


@dataclass(frozen=True)
class SmsPattern:
    """A service's command recognised by the shape of the whole message (tried before keywords)."""

    command: Command
    matches: Callable[[str], bool]  # on the folded text (`fold`)
    service: SmsService
    priority: int = 100


@dataclass(frozen=True)
class SmsShortCode:
    """A short code a service owns: every message to it is answered by that service alone."""

    short_code: str
    service: SmsService


@dataclass
class Commands:
    """Commands -> their services; a command nobody serves is answered as an unknown keyword."""

    services: dict[Command, SmsService] = field(default_factory=lambda: dict(ALWAYS))
    keywords: dict[str, Command] = field(
        default_factory=lambda: {fold(word): HELP for words in HELP_WORDS.values() for word in words}
    )
    patterns: list[SmsPattern] = field(default_factory=list)

    def add(self, command: Command, service: SmsService) -> None:
        if command in ALWAYS:
            raise ValueError(f"SMS command {command} is built in")
        if command in self.services:
            raise ValueError(f"SMS command {command} is registered twice")
        self.services[command] = service

    def add_keywords(self, entry: SmsKeywords) -> None:
        """A service's command and its keywords; a keyword another command already has is refused."""
        words = {fold(word) for language_words in entry.words.values() for word in language_words}
        taken = sorted(word for word in words if self.keywords.get(word, entry.command) != entry.command)
        if taken:
            raise ValueError(f"SMS keywords of {entry.command} already name other commands: {', '.join(taken)}")
        self.add(entry.command, entry.service)
        self.keywords.update(dict.fromkeys(words, entry.command))

    def add_pattern(self, entry: SmsPattern) -> None:
        self.add(entry.command, entry.service)
        self.patterns.append(entry)

    # Short codes a service owns (06001 for missed-call D queries and options, the ZeroX answer
    # code): a message to one of them is answered by that service alone, which reads the body
    # itself; messages to any other code go through the keywords above.
    short_codes: dict[str, SmsService] = field(default_factory=dict)

    def add_short_code(self, short_code: str, service: SmsService) -> None:
        if short_code in self.short_codes:
            raise ValueError(f"short code {short_code} is registered twice")
        self.short_codes[short_code] = service

    def command_of(self, body: str) -> tuple[Command, str]:
        """The command a message asks for, and the word it was read from."""
        text = fold(body)
        if not text:
            return HELP, ""
        for pattern in self.patterns:
            if pattern.matches(text):
                return pattern.command, text
        first = text.split()[0]
        for candidate in (first, first.strip(_TRAILING) or first, text, text.strip(_TRAILING)):
            if candidate in self.keywords:
                return self.keywords[candidate], candidate
        return UNKNOWN, first

    def identified(self, inbound: InboundSms) -> InboundSms:
        """The message with what its short code's service calls secret left out of its request id."""
        service = self.short_codes.get(inbound.to)
        if service is None or service.without_secrets is None:
            return inbound
        return replace(inbound, named_body=service.without_secrets(inbound.body))

    def service(self, command: Command, short_code: str | None = None) -> SmsService:
        dedicated = self.short_codes.get(short_code or "")
        return dedicated or self.services.get(command) or self.services[UNKNOWN]

    def usages(self) -> tuple[Text, ...]:
        """What the keyword commands accept, in the order they were registered (the help's list)."""
        return tuple(service.usage for service in self.services.values() if service.usage is not None)

    def answer(self, request: Request[SmsMessage]) -> SmsAnswer:
        """What the subscriber gets back (and what is published), refusing unknown or blocked lines first."""
        refused = refusal(request.caller, request.profile)
        if refused is not None:
            return SmsAnswer(refused)
        request = replace(request, input=replace(request.input, accepted=self.usages()))
        answered = self.service(request.input.command, request.input.short_code).handler(request)
        return answered if isinstance(answered, SmsAnswer) else SmsAnswer(answered)
