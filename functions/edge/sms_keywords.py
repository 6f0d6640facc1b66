"""SMS to the short code: the keyword a subscriber texted, in any of the platform's languages.

Keywords are matched case-insensitively after Unicode NFKC folding (so full-width `ＢＡＬ` and
`？` count), on the first word, or on the whole text for scripts written without spaces (余额).
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from functions.edge import balance
from functions.edge.replies import Text
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


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def command_of(body: str) -> tuple[Command, str]:
    """The command a message asks for, and the word it was read from."""
    text = _fold(body)
    if not text:
        return Command.HELP, ""
    first = text.split()[0]
    for candidate in (first, first.strip(_TRAILING) or first, text, text.strip(_TRAILING)):
        if candidate in KEYWORDS:
            return KEYWORDS[candidate], candidate
    return Command.UNKNOWN, first


def help_text(profile: OperatorProfile, short_code: str) -> Text:
    return Text("edge.sms.help", {"short_code": short_code, "hotline": profile.short_codes.hotline})


def unknown_text(word: str, profile: OperatorProfile, short_code: str) -> Text:
    shown = word if len(word) <= _MAX_WORD_SHOWN else word[:_MAX_WORD_SHOWN - 1] + "…"
    return Text("edge.sms.unknown_keyword", {"word": shown, "short_code": short_code,
                                             "hotline": profile.short_codes.hotline})


def reply_for(command: Command, word: str, caller: Caller, profile: OperatorProfile,
              short_code: str, account: object | None = None) -> Text:
    """What the subscriber gets back for their SMS (rendered by notify in `caller.language`)."""
    refused = refusal(caller, profile)
    if refused is not None:
        return refused
    if command is Command.BALANCE:
        return balance.report(account, caller.language, profile.currency, localtime.zone_for(caller.msisdn, profile.timezone))
    if command is Command.HELP:
        return help_text(profile, short_code)
    return unknown_text(word, profile, short_code)
