"""SMS to the short code: the keyword a subscriber texted, in any of the platform's languages.

Keywords are matched case-insensitively after Unicode NFKC folding (so full-width `ＢＡＬ` and
`？` count), on the first word, or on the whole text for scripts written without spaces (余额).
A message that is a number and an amount (`998901234567 5000`) is a balance transfer.

Each command's answer comes from its SmsService in a `Commands` registry; services switched on by
the operator profile (the balance, transfers' history, limits, `<number> <amount>`) plug in with one
`add`, each with its `usage`: HELP and an unknown keyword answer with every usage registered.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from functions.edge import balance, request_ids
from functions.edge.replies import Publication, Text
from functions.edge.subscribers import Caller, refusal
from shared import localtime
from shared.msisdn import InvalidMsisdn, normalise
from shared.operator import OperatorProfile

_MAX_BODY = 1600          # Twilio's own limit for a message body
_MAX_WORD_SHOWN = 20      # an unknown keyword is quoted back, but never a whole essay
_TRAILING = ".,!?;:。，！？；：\"'«»“”"


class Command(enum.Enum):
    BALANCE = "balance"
    HELP = "help"
    HISTORY = "history"       # recent balance transfers
    LIMITS = "limits"         # transfer limits left
    TRANSFER = "transfer"     # `<recipient> <amount>`
    UNKNOWN = "unknown"


KEYWORDS: dict[str, Command] = {
    word.casefold(): command
    for command, words in {
        Command.BALANCE: [
            "BALANCE", "BAL",                     # en
            "БАЛАНС", "БАЛ", "ОСТАТОК",           # ru, ky
            "BALANS", "HISOB", "QOLDIQ", "ҲИСОБ",  # uz (Latin and Cyrillic)
            "КАЛДЫК",                             # ky
            "余额", "查余额", "查询余额", "餘額",     # zh (simplified and traditional)
        ],
        Command.HELP: [
            "HELP", "INFO", "?", "ПОМОЩЬ", "СПРАВКА", "ИНФО",
            "YORDAM", "ЁРДАМ", "ЖАРДАМ", "帮助", "幫助",
        ],
        Command.HISTORY: [
            "HISTORY", "HIST",                     # en
            "ИСТОРИЯ",                             # ru
            "TARIX", "ТАРИХ",                      # uz (Latin and Cyrillic)
            "ТАРЫХ",                               # ky
            "记录", "转账记录", "記錄",               # zh
        ],
        Command.LIMITS: [
            "LIMITS", "LIMIT",                     # en
            "ЛИМИТ", "ЛИМИТЫ",                     # ru, ky
            "LIMITLAR", "ЛИМИТЛАР",                # uz
            "限额", "額度", "限額",                   # zh
        ],
    }.items()
    for word in words
}


class MalformedMessage(ValueError):
    """The inbound SMS lacks what any reply needs (a sender number, a message id)."""


@dataclass(frozen=True)
class InboundSms:
    message_sid: str
    sender: str      # E.164
    to: str          # the short code (or number) the subscriber texted
    body: str
    # The text as the request id names it, a secret in it (a PIN) blanked; None: the whole body.
    named_body: str | None = None

    @property
    def request_id(self) -> str:
        """Our id of this message: its MessageSid, sender, short code and text (a retry gets the same)."""
        named = self.body if self.named_body is None else self.named_body
        return request_ids.request_id("sms", self.message_sid, self.sender, self.to, named)


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
    return InboundSms(message_sid=sid, sender=sender, to=(form.get("To") or "").strip()[:32],
                      body=(form.get("Body") or "")[:_MAX_BODY])


# `<recipient> <amount>`: a number written with spaces or dashes, then an amount (decimals are
# caught here so the reply can say amounts are whole).
_TRANSFER = re.compile(r"^(?P<recipient>\+?\d[\d\s\-]{3,22}\d)\s+(?P<amount>\d{1,12}(?:[.,]\d*)?)$")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def transfer_parts(body: str) -> tuple[str, str] | None:
    """`78XXXXXXXX 3000` -> ("78XXXXXXXX", "3000"); None when the message is not a number and an amount."""
    match = _TRANSFER.match(_fold(body))
    return (match["recipient"], match["amount"]) if match else None


def command_of(body: str) -> tuple[Command, str]:
    """The command a message asks for, and the word it was read from."""
    text = _fold(body)
    if not text:
        return Command.HELP, ""
    if transfer_parts(text) is not None:
        return Command.TRANSFER, text
    first = text.split()[0]
    for candidate in (first, first.strip(_TRAILING) or first, text, text.strip(_TRAILING)):
        if candidate in KEYWORDS:
            return KEYWORDS[candidate], candidate
    return Command.UNKNOWN, first


def help_text(profile: OperatorProfile, short_code: str, accepted: str) -> Text:
    """What `short_code` accepts (one line per command, already in the reader's language)."""
    return Text("edge.sms.help", {"short_code": short_code, "commands": accepted,
                                  "hotline": profile.short_codes.hotline})


def unknown_text(word: str, profile: OperatorProfile, short_code: str, accepted: str) -> Text:
    shown = word if len(word) <= _MAX_WORD_SHOWN else word[:_MAX_WORD_SHOWN - 1] + "…"
    return Text("edge.sms.unknown_keyword", {"word": shown, "short_code": short_code, "commands": accepted,
                                             "hotline": profile.short_codes.hotline})


# --- answering: one SmsService per command ------------------------------------------------------

@dataclass(frozen=True)
class SmsSituation:
    """Everything a command may use to answer: the message, the caller and what was read for them."""

    command: Command
    word: str
    caller: Caller
    profile: OperatorProfile
    short_code: str
    account: object | None = None
    inbound: InboundSms | None = None
    documents: Mapping[str, dict | None] = field(default_factory=dict)   # by path, None: absent
    now: datetime | None = None
    accepted: tuple[Text, ...] = ()   # what each command served on this short code accepts (help)

    def accepted_lines(self) -> str:
        """The help's list, in the caller's language."""
        usages = self.accepted or (Text("edge.help.sms.none"),)
        return "\n".join(usage.render(self.caller.language) for usage in usages)


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


SmsReads = Callable[[InboundSms, OperatorProfile], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class SmsService:
    """How one command is answered and what the edge reads for it, in the caller's round trip."""

    handler: Callable[[SmsSituation], Text | SmsAnswer]
    needs_account: bool = False
    reads: SmsReads | None = None
    usage: Text | None = None     # one line of the help: what the command accepts, with an example
    # The body with its secrets (a PIN) blanked. Request ids are stored and logged, and a few digits
    # hashed with a known number and MessageSid are found again by trying them all.
    without_secrets: Callable[[str], str] | None = None

    def documents_for(self, inbound: InboundSms, profile: OperatorProfile) -> tuple[tuple[str, str], ...]:
        return tuple(self.reads(inbound, profile)) if self.reads else ()


def _balance(situation: SmsSituation) -> Text:
    caller, profile = situation.caller, situation.profile
    return balance.report(situation.account, caller.language, profile.currency,
                          localtime.zone_for(caller.msisdn, profile.timezone))


def _help(situation: SmsSituation) -> Text:
    return help_text(situation.profile, situation.short_code, situation.accepted_lines())


def _unknown(situation: SmsSituation) -> Text:
    return unknown_text(situation.word, situation.profile, situation.short_code, situation.accepted_lines())


BALANCE = SmsService(_balance, needs_account=True, usage=Text("edge.help.sms.balance"))
# Always served: the help, and the answer to what nobody serves (both list what the others accept).
ALWAYS: dict[Command, SmsService] = {
    Command.HELP: SmsService(_help),
    Command.UNKNOWN: SmsService(_unknown),
}
BUILT_IN: dict[Command, SmsService] = {Command.BALANCE: BALANCE, **ALWAYS}


@dataclass
class Commands:
    """Commands -> their services; a command nobody serves is answered as an unknown keyword."""

    services: dict[Command, SmsService] = field(default_factory=lambda: dict(BUILT_IN))

    def add(self, command: Command, service: SmsService) -> None:
        if command in self.services and command in BUILT_IN:
            raise ValueError(f"SMS command {command.value} is built in")
        if command in self.services:
            raise ValueError(f"SMS command {command.value} is registered twice")
        self.services[command] = service

    # Short codes a service owns (06001 for missed-call D queries and options, the ZeroX answer
    # code): a message to one of them is answered by that service alone, which reads the body
    # itself; messages to any other code go through the keywords above.
    short_codes: dict[str, SmsService] = field(default_factory=dict)

    def add_short_code(self, short_code: str, service: SmsService) -> None:
        if short_code in self.short_codes:
            raise ValueError(f"short code {short_code} is registered twice")
        self.short_codes[short_code] = service

    def identified(self, inbound: InboundSms) -> InboundSms:
        """The message with what its short code's service calls secret left out of its request id."""
        service = self.short_codes.get(inbound.to)
        if service is None or service.without_secrets is None:
            return inbound
        return replace(inbound, named_body=service.without_secrets(inbound.body))

    def service(self, command: Command, short_code: str | None = None) -> SmsService:
        dedicated = self.short_codes.get(short_code or "")
        return dedicated or self.services.get(command) or self.services[Command.UNKNOWN]

    def usages(self) -> tuple[Text, ...]:
        """What the keyword commands accept, in the order they were registered (the help's list)."""
        return tuple(service.usage for service in self.services.values() if service.usage is not None)

    def answer(self, situation: SmsSituation) -> SmsAnswer:
        """What the subscriber gets back (and what is published), refusing unknown or blocked lines first."""
        refused = refusal(situation.caller, situation.profile)
        if refused is not None:
            return SmsAnswer(refused)
        situation = replace(situation, accepted=self.usages())
        answered = self.service(situation.command, situation.short_code).handler(situation)
        return answered if isinstance(answered, SmsAnswer) else SmsAnswer(answered)


def reply_for(command: Command, word: str, caller: Caller, profile: OperatorProfile,
              short_code: str, account: object | None = None) -> Text:
    """What the subscriber gets back for a built-in command (rendered by notify in `caller.language`)."""
    situation = SmsSituation(command=command, word=word, caller=caller, profile=profile, short_code=short_code,
                             account=account)
    return Commands().answer(situation).text
