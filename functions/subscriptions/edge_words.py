"""The words the catalogue's short code understands besides product keywords, in the five languages.

Matched after NFKC folding and casefolding (full-width letters count, Uzbek's many apostrophes are
one); a command is the message's first word, or its start for words written without spaces
(退订2). Product keywords must differ from all of these (`RESERVED`), or a keyword could never be
typed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from functions.subscriptions.config import Catalogue
from shared import consent

HELP, SUBS, STOP, YES, NO = "help", "subs", "stop", "yes", "no"

WORDS: dict[str, list[str]] = {
    HELP: ["HELP", "INFO", "?", "ПОМОЩЬ", "СПРАВКА", "YORDAM", "ЁРДАМ", "ЖАРДАМ", "帮助", "幫助"],
    SUBS: ["SUBS", "SUBSCRIPTIONS", "ПОДПИСКИ", "OBUNALAR", "ОБУНАЛАР", "ЖАЗЫЛУУЛАР", "订阅", "我的订阅", "訂閱"],
    STOP: ["STOP", "UNSUB", "СТОП", "TO'XTAT", "ТЎХТАТ", "ТОКТОТ", "退订", "退訂", "取消订阅"],
    YES: consent.YES_WORDS,
    NO: consent.NO_WORDS,
}
# STOP ALL, in every language: the argument that names every live subscription.
ALL_WORDS = ["ALL", "ВСЕ", "ВСЁ", "HAMMASI", "ҲАММАСИ", "БААРЫ", "БААРЫН", "全部", "所有"]

_APOSTROPHES = str.maketrans({mark: "'" for mark in "ʻʼ‘’`´"})
_TRAILING = ".,!?;:。，！？；：\"'«»“”"


def fold(text: str) -> str:
    """The text as words are compared: NFKC, one apostrophe, casefolded, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold().split())


COMMANDS: dict[str, str] = {fold(word): command for command, words in WORDS.items() for word in words}
ALL = frozenset(fold(word) for word in ALL_WORDS)
RESERVED = frozenset(COMMANDS)  # no product keyword may be one of these (ALL's words come only after STOP)
_LONGEST_FIRST = sorted(COMMANDS, key=len, reverse=True)


def _written_without_spaces(word: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in word)


@dataclass(frozen=True)
class Ask:
    """What a message asks: a command (help, subs, stop, yes, no), a product keyword (as the catalogue
    writes it), or None when nothing is recognised; the word it was read from and what follows it."""

    command: str | None
    word: str
    argument: str = ""


def read_ask(body: str, catalogue: Catalogue) -> Ask:
    """The command or product keyword a message starts with, and the rest of it."""
    text = fold(body).strip(_TRAILING + " ")
    if not text:
        return Ask(HELP, "")
    for word in _LONGEST_FIRST:
        if text == word:
            return Ask(COMMANDS[word], word)
        if text.startswith(word):
            rest = text[len(word) :]
            if rest[0] == " " or _written_without_spaces(word):
                return Ask(COMMANDS[word], word, rest.strip())
    first, _, rest = text.partition(" ")
    product = catalogue.by_keyword(first.strip(_TRAILING).upper())
    if product is not None:
        return Ask(product.keyword, first, rest.strip())
    return Ask(None, first)
