"""Missed-call alerts' self-care: SMS to the service's short code (06001) and its USSD menu (*160#).

SMS: `D` asks for the details of the missed calls the last attach notice told about (within the
details window, a priced answer; later, a free one saying the window has passed); keywords in the
platform's five languages change options (REG, UNREG, PRIVACY ON/OFF, BLOCK/UNBLOCK <number>,
ALLOW/DISALLOW <number>, CLEAR LISTS, PIN <digits>, PIN SKIP / PIN ALWAYS) or answer at once
(STATUS, HELP). The USSD menu offers the same options on screens. A valid change is published as
`missed-call.options-changed` and the missed-call service confirms it by SMS once applied; a bad
number or word is answered at once and nothing is published.

The voice mailbox is paid, so signing up asks first (shared/consent.py): REG by SMS is answered by
the service with the price and a YES/NO question; the reply is published with the message it came
in. The menu asks on a confirm screen (1 confirm, anything else declines) and publishes the whole
consent record. A mailbox PIN is hashed here as soon as it is read: its digits are never published.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from functions.edge import api
from functions.edge.api import Publication, Text
from functions.missed_calls import documents, pin
from functions.missed_calls.config import MissedCallConfig
from functions.missed_calls.options import MAILBOX_OFFER
from shared import consent, localtime
from shared.events import MissedCallOptionsChanged, derive_event_id
from shared.money import Currency
from shared.msisdn import InvalidMsisdn
from shared.operator import OperatorProfile

TOPIC = "missed-call.options-changed"
DETAILS, STATUS, HELP = "details", "status", "help"  # answered at once; every other request is an option
CONFIRM, DECLINE = "confirm", "decline"  # replies to the sign-up question waiting for the sender
_NEEDS_NUMBER = frozenset({"blacklist_add", "blacklist_remove", "whitelist_add", "whitelist_remove"})
_MAX_WORD_SHOWN = 20
_MAX_CALLERS_SHOWN = 10  # a D answer stays a few SMS segments long
_MAX_LIST_SHOWN = 5
_TRAILING = ".,!?;:。，！？；："

# What each request is written as, in the five languages; matched after NFKC folding and
# casefolding. Multi-word keywords match whole words; the Chinese ones, written without spaces,
# also take a number right after them (黑名单13800138000).
WORDS: dict[str, list[str]] = {
    DETAILS: ["D", "Д", "详情", "詳情"],
    "register": [
        "REG",
        "REGISTER",
        "РЕГ",
        "РЕГИСТРАЦИЯ",
        "RO'YXAT",
        "ROYXAT",
        "РЎЙХАТ",
        "КАТТОО",
        "注册",
        "開通",
        "开通",
    ],
    "unregister": ["UNREG", "UNREGISTER", "ОТКЛ", "ОТКЛЮЧИТЬ", "BEKOR", "БЕКОР", "ЖОКТОО", "注销", "註銷"],
    "privacy_on": [
        "PRIVACY ON",
        "PRIVATE",
        "СКРЫТЬ",
        "ПРИВАТ ВКЛ",
        "MAXFIY",
        "МАХФИЙ",
        "ЖАШЫРУУ",
        "隐私开",
        "开启隐私",
    ],
    "privacy_off": [
        "PRIVACY OFF",
        "PUBLIC",
        "ПОКАЗАТЬ",
        "ПРИВАТ ВЫКЛ",
        "OCHIQ",
        "ОЧИҚ",
        "КӨРСӨТҮҮ",
        "隐私关",
        "关闭隐私",
    ],
    "blacklist_add": ["BLOCK", "БЛОК", "ЧС", "BLOK", "КАРА", "黑名单", "拉黑"],
    "blacklist_remove": ["UNBLOCK", "РАЗБЛОК", "BLOKDAN", "БЛОКДАН", "БЛОКТОН", "取消黑名单", "解除拉黑"],
    "whitelist_add": ["ALLOW", "РАЗРЕШИТЬ", "RUXSAT", "РУХСАТ", "УРУКСАТ", "白名单"],
    "whitelist_remove": ["DISALLOW", "ЗАПРЕТИТЬ", "TAQIQ", "ТАҚИҚ", "ТЫЮУ", "取消白名单"],
    "lists_clear": ["CLEAR LISTS", "CLEAR", "ОЧИСТИТЬ", "TOZALASH", "ТОЗАЛАШ", "ТАЗАЛОО", "清空名单"],
    STATUS: ["STATUS", "СТАТУС", "HOLAT", "ҲОЛАТ", "АБАЛ", "状态", "狀態"],
    HELP: ["HELP", "?", "ПОМОЩЬ", "СПРАВКА", "YORDAM", "ЁРДАМ", "ЖАРДАМ", "帮助", "幫助"],
    "pin_set": ["PIN", "ПИН", "PIN-KOD", "ПИН-КОД", "密码"],
    "pin_skip_on": ["PIN SKIP", "ПИН АВТО", "PIN AVTO", "免密"],
    "pin_skip_off": ["PIN ALWAYS", "ПИН ВСЕГДА", "PIN DOIM", "ПИН ДОИМ", "ПИН ДАЙЫМА", "每次密码"],
    CONFIRM: consent.YES_WORDS,
    DECLINE: consent.NO_WORDS,
}
KEYWORDS: dict[str, str] = {word.casefold(): request for request, words in WORDS.items() for word in words}
_LONGEST_FIRST = sorted(KEYWORDS, key=len, reverse=True)
_APOSTROPHES = str.maketrans({mark: "'" for mark in "ʻʼ‘’`´"})  # Uzbek Latin writes o' and g' many ways


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold().split())


def _is_cjk(word: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in word)


@dataclass(frozen=True)
class SmsAsk:
    """What an SMS asks: a request name (details, status, help, an option), its number text, the word read."""

    name: str | None  # None: no keyword recognised
    word: str
    argument: str = ""


def read_ask(body: str) -> SmsAsk:
    """The keyword an SMS starts with (in any of the five languages) and what follows it."""
    text = _fold(body).strip(_TRAILING + " ")
    if not text:
        return SmsAsk(HELP, "")
    for keyword in _LONGEST_FIRST:
        if text == keyword:
            return SmsAsk(KEYWORDS[keyword], keyword)
        if text.startswith(keyword):
            rest = text[len(keyword) :]
            if rest[0] == " " or (_is_cjk(keyword) and (rest[0].isdigit() or rest[0] == "+")):
                return SmsAsk(KEYWORDS[keyword], keyword, rest.strip())
    first = text.split()[0]
    return SmsAsk(None, first)


def listed_number(typed: str, profile: OperatorProfile) -> str | None:
    """The number after a list keyword in E.164, None when it is not a phone number."""
    if not typed or len(typed) > 24:
        return None
    try:
        return profile.msisdn(typed)
    except InvalidMsisdn:
        return None


def option_event(
    request_id: str, msisdn: str, action: str, number: str | None, channel: str, now: datetime, **sign_up: Any
) -> Publication:
    """`missed-call.options-changed` for one request (its id comes from the gateway's message or session).

    `sign_up`: the event's PIN hash (pin_set) or the sign-up's answers (register), see the model.
    """
    payload = MissedCallOptionsChanged(
        request_id=request_id, msisdn=msisdn, action=action, number=number, channel=channel, requested_at=now, **sign_up
    )
    return Publication(TOPIC, payload, derive_event_id(request_id, TOPIC))


def pending_sign_up(msisdn: str) -> tuple[str, str]:
    """Where the mailbox sign-up question waiting for this subscriber's SMS reply is pointed at."""
    return consent.PENDING, consent.pending_key(MAILBOX_OFFER, msisdn)


# --- what the subscriber is told -----------------------------------------------------------


def _numbers(numbers: Iterable[str]) -> str:
    listed = [n for n in numbers if isinstance(n, str)]
    shown = ", ".join(listed[:_MAX_LIST_SHOWN]) + (", …" if len(listed) > _MAX_LIST_SHOWN else "")
    return f"{len(listed)} ({shown})" if listed else "0"


def status_text(user: Mapping[str, Any] | None, *, with_numbers: bool) -> Text:
    """The subscriber's options as missed_call_users holds them (absent: the defaults)."""
    user = user or {}
    blacklist, whitelist = user.get("blacklist") or [], user.get("whitelist") or []
    return Text(
        "edge.missed_calls.status",
        {
            "mailbox": Text(
                "edge.missed_calls.status.mailbox_on"
                if user.get("registered")
                else "edge.missed_calls.status.mailbox_off"
            ),
            "privacy": Text(
                "edge.missed_calls.status.privacy_on" if user.get("privacy") else "edge.missed_calls.status.privacy_off"
            ),
            "blacklist": _numbers(blacklist) if with_numbers else str(len(blacklist)),
            "whitelist": _numbers(whitelist) if with_numbers else str(len(whitelist)),
        },
    )


def flat(text: Text, language: str) -> Text:
    """The text with the texts among its params rendered, so notify can render it from plain values."""
    return Text(text.key, {k: rendered(v, language) if isinstance(v, Text) else v for k, v in text.params.items()})


def rendered(text: Text, language: str) -> str:
    """A text whose params may themselves be texts, in one language."""
    return flat(text, language).render(language)


def details_text(
    notice: Mapping[str, Any] | None,
    reader: str,
    language: str,
    profile: OperatorProfile,
    config: MissedCallConfig,
    now: datetime,
) -> tuple[Text, bool]:
    """The answer to D from the callee's last attach notice, and whether it is the priced details SMS."""
    calls = [c for c in (notice or {}).get("calls") or [] if isinstance(c, Mapping) and c.get("caller")]
    if notice is None or not calls:
        return Text("edge.missed_calls.sms.no_missed_calls"), False
    zone = localtime.zone_for(reader, profile.timezone)

    def at(when: object) -> str:
        return localtime.moment(when, zone, language) if isinstance(when, datetime) else "?"

    window_ends_at = notice.get("window_ends_at")
    if not isinstance(window_ends_at, datetime) or now >= window_ends_at:
        total = sum(int(c.get("count") or 1) for c in calls)
        return Text(
            "edge.missed_calls.sms.window_passed",
            {"count": total, "sent": at(notice.get("sent_at")), "hours": config.details_window_hours},
        ), False
    lines = []
    for call in calls[:_MAX_CALLERS_SHOWN]:
        count, first, last = int(call.get("count") or 1), call.get("first_at"), call.get("last_at")
        note = ""
        if call.get("choice") == "other_number" and call.get("other_number"):
            note = Text("edge.missed_calls.sms.note_other_number", {"number": call["other_number"]}).render(language)
        elif call.get("choice") == "voicemail":
            note = Text("edge.missed_calls.sms.note_voicemail").render(language)
        key = "edge.missed_calls.sms.details_line" if count > 1 else "edge.missed_calls.sms.details_line_once"
        lines.append(
            Text(
                key,
                {"caller": call["caller"], "count": count, "first": at(first), "last": at(last or first), "note": note},
            ).render(language)
        )
    if len(calls) > _MAX_CALLERS_SHOWN:
        lines.append(
            Text("edge.missed_calls.sms.details_more", {"count": len(calls) - _MAX_CALLERS_SHOWN}).render(language)
        )
    return Text("edge.missed_calls.sms.details", {"lines": "\n".join(lines)}), True


def keywords_text(config: MissedCallConfig, currency: Currency, word: str | None = None) -> Text:
    """The keyword list (HELP) with what the priced ones cost, led by the word not understood when there was one."""
    params = {
        "short_code": config.short_code,
        "ussd": config.ussd_menu,
        "price": currency.format(config.charging.details_query_price),
        "fee": currency.format(config.charging.monthly_fee),
    }
    if word is None:
        return Text("edge.missed_calls.sms.help", params)
    shown = word if len(word) <= _MAX_WORD_SHOWN else word[: _MAX_WORD_SHOWN - 1] + "…"
    return Text("edge.missed_calls.sms.unknown", {"word": shown, **params})


# --- SMS to the short code -----------------------------------------------------------------


@dataclass(frozen=True)
class ShortCode:
    """The service behind the preset's short code: it reads each message's body itself."""

    profile: OperatorProfile
    config: MissedCallConfig

    def reads(self, inbound: api.InboundSms, profile: OperatorProfile) -> list[tuple[str, str]]:
        return [(documents.NOTICES, inbound.sender), (documents.USERS, inbound.sender), pending_sign_up(inbound.sender)]

    def answer(self, request: api.Request[api.SmsMessage]) -> api.SmsAnswer:
        inbound, sender = request.input.inbound, request.caller.msisdn
        language, now = request.caller.language, request.now
        ask = read_ask(inbound.body if inbound else "")
        if ask.name is None:
            return api.SmsAnswer(keywords_text(self.config, self.profile.currency, ask.word))
        if ask.name == HELP:
            return api.SmsAnswer(keywords_text(self.config, self.profile.currency))
        if ask.name == STATUS:
            user = request.document(documents.USERS, sender)
            return api.SmsAnswer(flat(status_text(user, with_numbers=True), language))
        if ask.name == DETAILS:
            notice = request.document(documents.NOTICES, sender)
            text, priced = details_text(notice, sender, language, self.profile, self.config, now)
            return api.SmsAnswer(text, billing=documents.BILL_DETAILS if priced else None)
        number: str | None = None
        sign_up: dict[str, Any] = {}  # the PIN's hash, or the sign-up's answers
        if ask.name in _NEEDS_NUMBER:
            number = listed_number(ask.argument, self.profile)
            if number is None or number == sender:
                key = "edge.missed_calls.sms.own_number" if number else "edge.missed_calls.sms.invalid_number"
                return api.SmsAnswer(Text(key, {"word": ask.word.upper()}))
        request_id = replace(inbound, named_body=without_pin(inbound.body)).request_id
        if ask.name == "pin_set":
            if not pin.valid(ask.argument):  # never echoed: the digits may be nearly right
                return api.SmsAnswer(Text("edge.missed_calls.sms.pin_invalid", {"short_code": self.config.short_code}))
            sign_up = {"pin": pin.hashed(ask.argument)}
        action = ask.name
        if ask.name in (CONFIRM, DECLINE, "register"):
            waiting = request.document(*pending_sign_up(sender))
            if ask.name != "register" and waiting is None:
                return api.SmsAnswer(
                    Text(
                        "missed_calls.options.nothing_to_confirm",
                        {"short_code": self.config.short_code, "ussd": self.config.ussd_menu},
                    )
                )
            action = "register"
            sign_up = {
                "said": consent.Answer(text=inbound.body[:160], reference=request_id, at=now),
                "consent_reply": None if ask.name == "register" else ask.name == CONFIRM,
            }
        return api.SmsAnswer(None, (option_event(request_id, sender, action, number, "sms", now, **sign_up),))


# A PIN's digits in a request id would give the PIN away: ids are stored and logged, and 10 000
# candidates hashed with the known number and gateway id take milliseconds. So ids name this instead.
PIN_BLANKED = "<pin>"


def without_pin(body: str) -> str:
    """An SMS body as its request id names it: a PIN request's digits blanked, anything else whole."""
    ask = read_ask(body)
    return f"{ask.word} {PIN_BLANKED}" if ask.name == "pin_set" else body


# --- the USSD menu -------------------------------------------------------------------------

ROOT, NUMBER, CONFIRM_SIGN_UP, PIN_MENU, NEW_PIN, REPEAT_PIN = (
    "root",
    "number",
    "confirm_sign_up",
    "pin_menu",
    "new_pin",
    "repeat_pin",
)
BACK, CONFIRM_KEY, SIGN_UP_KEY, PIN_KEY = "0", "1", "2", "8"
_LIST_CHOICES = {"4": "blacklist_add", "5": "blacklist_remove", "6": "whitelist_add", "7": "whitelist_remove"}


@dataclass(frozen=True)
class Position:
    """Where the session is: a screen (with the list action chosen), or the request it ended with."""

    screen: str = ROOT
    action: str | None = None  # the list action whose number is asked for, or the final option
    number: str | None = None
    mistake: str | None = None  # text key: why the last input was not taken
    done: str | None = None  # status | an option name
    pin: str | None = None  # the new PIN keyed once (asked again to be sure); hashed before publishing
    answer: str | None = None  # the key pressed on the sign-up's confirm screen


NumberReader = Callable[[str], str | None]  # a keyed number as listed; None when it is not one to list


def step(
    position: Position, typed: str, user: Mapping[str, Any], read_number: NumberReader, *, ask_to_sign_up: bool
) -> Position:
    """The position after one input; 2 and 3 toggle the option's current state (a paid sign-up asks first)."""
    key = typed.strip()
    if position.screen == ROOT:
        if key == "1":
            return Position(done=STATUS)
        if key == SIGN_UP_KEY:
            if user.get("registered"):
                return Position(done="unregister")
            return Position(CONFIRM_SIGN_UP) if ask_to_sign_up else Position(done="register")
        if key == "3":
            return Position(done="privacy_off" if user.get("privacy") else "privacy_on")
        if key in _LIST_CHOICES:
            return Position(NUMBER, action=_LIST_CHOICES[key])
        if key == PIN_KEY:
            return Position(PIN_MENU)
        return Position(mistake="edge.menu.invalid_choice")
    if position.screen == CONFIRM_SIGN_UP:  # 1 confirms; 2 or anything else declines
        return Position(CONFIRM_SIGN_UP, done="register", answer=key[:20])
    if key == BACK:
        return Position()
    if position.screen in (PIN_MENU, NEW_PIN, REPEAT_PIN):
        return _pin_step(position, key, user)
    number = read_number(key)
    if number is None:
        return replace(position, mistake="edge.menu.invalid_number")
    return Position(NUMBER, action=position.action, number=number, done=position.action)


def _pin_step(position: Position, key: str, user: Mapping[str, Any]) -> Position:
    """PIN menu: 1 a new PIN (keyed twice), 2 toggles 'no PIN on my own phone'."""
    if position.screen == PIN_MENU:
        if key == "1":
            return Position(NEW_PIN)
        if key == "2":
            return Position(PIN_MENU, done="pin_skip_off" if user.get("voicemail_trust_own_phone") else "pin_skip_on")
        return Position(PIN_MENU, mistake="edge.menu.invalid_choice")
    if position.screen == NEW_PIN:
        return (
            Position(REPEAT_PIN, pin=key)
            if pin.valid(key)
            else Position(NEW_PIN, mistake="edge.missed_calls.ussd.pin_invalid")
        )
    if key != position.pin:
        return Position(NEW_PIN, mistake="edge.missed_calls.ussd.pin_mismatch")
    return Position(REPEAT_PIN, pin=key, done="pin_set")


def pins_blanked(
    inputs: Iterable[str], user: Mapping[str, Any], read_number: NumberReader, *, ask_to_sign_up: bool = True
) -> tuple[str, ...]:
    """The session's inputs as its request id names them: whatever was keyed on a PIN screen blanked."""
    named, position = [], Position()
    for typed in inputs:
        named.append(PIN_BLANKED if position.screen in (NEW_PIN, REPEAT_PIN) else typed)
        if not position.done:
            position = step(position, typed, user, read_number, ask_to_sign_up=ask_to_sign_up)
    return tuple(named)


def walk(
    inputs: Iterable[str], user: Mapping[str, Any], read_number: NumberReader, *, ask_to_sign_up: bool = True
) -> Position:
    """Replay the session's inputs from the top; inputs after a final choice are ignored."""
    return api.replay(
        inputs,
        lambda position, typed: step(position, typed, user, read_number, ask_to_sign_up=ask_to_sign_up),
        Position(),
    )


@dataclass(frozen=True)
class Menu:
    """The options menu of one operator's preset."""

    profile: OperatorProfile
    config: MissedCallConfig

    def reads(self, request: api.UssdRequest, profile: OperatorProfile) -> list[tuple[str, str]]:
        return [(documents.USERS, request.msisdn)]

    def answer(self, request: api.Request[api.UssdRequest]) -> api.Reply:
        msisdn, language = request.caller.msisdn, request.caller.language
        user = request.document(documents.USERS, msisdn) or {}

        def read_number(typed: str) -> str | None:
            number = listed_number(typed, self.profile)
            return number if number != msisdn else None

        fee = self.config.charging.monthly_fee
        position = walk(request.input.inputs, user, read_number, ask_to_sign_up=fee > 0)
        if position.done == STATUS:
            return api.Reply.end(rendered(status_text(user, with_numbers=False), language))
        if position.done:
            named = pins_blanked(request.input.inputs, user, read_number, ask_to_sign_up=fee > 0)
            request_id, now = replace(request.input, inputs=named).request_id, request.now
            sign_up = self._sign_up(position, msisdn, language, request_id, now)
            event = option_event(request_id, msisdn, position.done, position.number, "ussd", now, **sign_up)
            declined = "consent" in sign_up and not sign_up["consent"].confirmed
            return api.Reply.end(
                Text("edge.missed_calls.ussd.declined" if declined else "edge.missed_calls.ussd.accepted").render(
                    language
                ),
                (event,),
            )
        mistake = Text(position.mistake).render(language) + "\n" if position.mistake else ""
        if position.screen == NUMBER:
            return api.Reply.con(mistake + Text("edge.missed_calls.ussd.enter_number").render(language))
        if position.screen == CONFIRM_SIGN_UP:
            return api.Reply.con(self._confirm_screen(language))
        if position.screen == PIN_MENU:
            toggle = (
                "edge.missed_calls.ussd.pin_skip_off"
                if user.get("voicemail_trust_own_phone")
                else "edge.missed_calls.ussd.pin_skip_on"
            )
            return api.Reply.con(
                mistake + rendered(Text("edge.missed_calls.ussd.pin_menu", {"toggle": Text(toggle)}), language)
            )
        if position.screen in (NEW_PIN, REPEAT_PIN):
            key = (
                "edge.missed_calls.ussd.new_pin" if position.screen == NEW_PIN else "edge.missed_calls.ussd.repeat_pin"
            )
            return api.Reply.con(mistake + Text(key).render(language))
        root = Text(
            "edge.missed_calls.ussd.root",
            {
                "mailbox": Text("edge.missed_calls.ussd.mailbox_off")
                if user.get("registered")
                else Text(
                    "edge.missed_calls.ussd.mailbox_on",
                    {"fee": self.profile.currency.format(self.config.charging.monthly_fee)},
                ),
                "privacy": Text(
                    "edge.missed_calls.ussd.privacy_off" if user.get("privacy") else "edge.missed_calls.ussd.privacy_on"
                ),
            },
        )
        return api.Reply.con(mistake + rendered(root, language))

    def _confirm_screen(self, language: str) -> str:
        return Text(
            "edge.missed_calls.ussd.confirm_sign_up",
            {"fee": self.profile.currency.format(self.config.charging.monthly_fee)},
        ).render(language)

    def _sign_up(
        self, position: Position, msisdn: str, language: str, request_id: str, now: datetime
    ) -> dict[str, Any]:
        """What the event carries besides the option: the PIN's hash, or the sign-up's consent record."""
        if position.done == "pin_set":
            assert position.pin is not None  # pin_set is reached only with the PIN keyed twice (_pin_step)
            return {"pin": pin.hashed(position.pin)}
        if position.done != "register" or position.answer is None:
            return {}
        # USSD inputs carry no time of their own: both answers are stamped with this round.
        record = consent.given(
            offer=MAILBOX_OFFER,
            msisdn=msisdn,
            channel="ussd",
            language=language,
            shown=self._confirm_screen(language),
            price=self.config.charging.monthly_fee,
            currency=self.profile.currency.code,
            period="month",
            request=consent.Answer(text=SIGN_UP_KEY, reference=request_id, at=now),
            confirmation=consent.Answer(text=position.answer, reference=request_id, at=now),
            accepted=position.answer == CONFIRM_KEY,
        )
        return {"consent": record}


def ussd_service(profile: OperatorProfile, config: MissedCallConfig) -> api.UssdService:
    menu = Menu(profile, config)
    return api.UssdService(
        code=config.ussd_menu, name="edge.missed_calls.service", handler=menu.answer, reads=menu.reads
    )


def sms_service(profile: OperatorProfile, config: MissedCallConfig) -> api.SmsService:
    short_code = ShortCode(profile, config)
    return api.SmsService(short_code.answer, reads=short_code.reads, without_secrets=without_pin)
