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

# Per answer, its words in each language (Uzbek in Latin and Cyrillic script).
_WORDS_BY_LANGUAGE: dict[Answer, dict[str, tuple[str, ...]]] = {
    "callback": {
        "en": ("1", "yes", "y", "ok", "okay", "call me", "callback"),
        "ru": ("да", "ок", "перезвони", "перезвоните"),
        "uz": ("ha", "xa", "ҳа", "ха", "mayli", "майли", "xo'p", "хўп"),
        "ky": ("ооба", "макул", "мейли"),
        "zh": ("是", "是的", "好", "好的", "要", "回电"),
    },
    "transfer": {
        "en": ("2", "top up", "topup", "top-up", "transfer"),
        "ru": ("пополнить", "пополни", "пополнение", "перевод"),
        "uz": ("to'ldirish", "to'ldir", "тўлдириш", "o'tkazma", "ўтказма"),
        "ky": ("толуктоо", "толукта", "которуу"),
        "zh": ("充值", "转账"),
    },
    "no": {
        "en": ("0", "no", "n", "stop"),
        "ru": ("нет", "не надо"),
        "uz": ("yo'q", "yoq", "йўқ", "йук", "kerak emas", "керак эмас"),
        "ky": ("жок", "керек эмес"),
        "zh": ("不", "不要", "否", "不用"),
    },
}

WORDS: dict[str, Answer] = {
    word.casefold(): answer
    for answer, languages in _WORDS_BY_LANGUAGE.items()
    for words in languages.values()
    for word in words
}


def fold(body: str) -> str:
    text = unicodedata.normalize("NFKC", body).translate(_APOSTROPHES).casefold()
    return " ".join(text.split()).strip(_TRAILING + " ")


def parse(body: str) -> Answer | None:
    """The answer a message gives, or None when it is not one of the offer's choices."""
    return WORDS.get(fold(body))
