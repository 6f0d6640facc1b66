"""Reading a caller's answer to the offer: a key (1, 2, 0) or a word for it in five languages.

The answer is compared after Unicode NFKC folding (full-width ２ is 2), case folding, unifying
the apostrophes Uzbek Latin is typed with (o‘ o' oʻ), and dropping trailing punctuation; the
whole message must be one answer, so "1 and 2" or a chat message is not guessed at.
"""

from __future__ import annotations

import unicodedata

from functions.zero_balance.rules import Answer

_TRAILING = ".,!?;:。，！？；：\"'«»“”"
_APOSTROPHES = str.maketrans({"ʻ": "'", "ʼ": "'", "‘": "'", "’": "'", "`": "'", "´": "'"})

WORDS: dict[str, Answer] = {
    word.casefold(): answer
    for answer, words in {
        "callback": [
            "1",
            "yes",
            "y",
            "ok",
            "okay",
            "call me",
            "callback",  # en
            "да",
            "ок",
            "перезвони",
            "перезвоните",  # ru
            "ha",
            "xa",
            "ҳа",
            "ха",
            "mayli",
            "майли",
            "xo'p",
            "хўп",  # uz (Latin and Cyrillic)
            "ооба",
            "макул",
            "мейли",  # ky
            "是",
            "是的",
            "好",
            "好的",
            "要",
            "回电",  # zh
        ],
        "transfer": [
            "2",
            "top up",
            "topup",
            "top-up",
            "transfer",  # en
            "пополнить",
            "пополни",
            "пополнение",
            "перевод",  # ru
            "to'ldirish",
            "to'ldir",
            "тўлдириш",
            "o'tkazma",
            "ўтказма",  # uz
            "толуктоо",
            "толукта",
            "которуу",  # ky
            "充值",
            "转账",  # zh
        ],
        "no": [
            "0",
            "no",
            "n",
            "stop",  # en
            "нет",
            "не надо",  # ru
            "yo'q",
            "yoq",
            "йўқ",
            "йук",
            "kerak emas",
            "керак эмас",  # uz
            "жок",
            "керек эмес",  # ky
            "不",
            "不要",
            "否",
            "不用",  # zh
        ],
    }.items()
    for word in words
}


def fold(body: str) -> str:
    text = unicodedata.normalize("NFKC", body).translate(_APOSTROPHES).casefold()
    return " ".join(text.split()).strip(_TRAILING + " ")


def parse(body: str) -> Answer | None:
    """The answer a message gives, or None when it is not one of the offer's choices."""
    return WORDS.get(fold(body))
