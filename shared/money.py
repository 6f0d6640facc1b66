"""Money is integer minor units; this turns it into what a subscriber reads, and back.

`format` writes an amount the operator's way ("25 000 so'm"): that is what services put in a text's
parameters, whatever the reader's language. `localise` rewrites such an amount for one reader when
the texts are rendered. The word: the one the operator's profile names for the reader's language
(`words`, by CLDR plural category: what people there call the money, "сумов", "苏姆"), else the
operator's symbol in languages written in its script (so'm in Uzbek and English), else CLDR's word
for the currency in that language (through Babel): its local symbol when CLDR has one, else its
name in the plural form the amount takes. The digits: the operator's way in its script's languages,
the reader's locale's grouping in the others (2,500 in Chinese), always with plain spaces (a
no-break space would make a GSM-7 text UCS-2).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.core import get_global
from babel.numbers import format_decimal, get_currency_name, get_currency_symbol
from pydantic import BaseModel, ConfigDict, Field, field_validator

_AMOUNT = r"-?\d{1,3}(?: \d{3})*(?:\.\d+)?"
_PLURAL_CATEGORIES = {"zero", "one", "two", "few", "many", "other"}
# CLDR script codes -> the first word of Unicode's character names in that script.
_SCRIPT_NAMES = {
    "Latn": "LATIN",
    "Cyrl": "CYRILLIC",
    "Hans": "CJK",
    "Hant": "CJK",
    "Arab": "ARABIC",
    "Grek": "GREEK",
    "Hebr": "HEBREW",
    "Thai": "THAI",
}


def script_of_language(language: str) -> str | None:
    """The script a language is usually written in, per CLDR's likely subtags ('ru' -> 'CYRILLIC')."""
    likely = get_global("likely_subtags").get(language, "")
    parts = likely.split("_")
    return _SCRIPT_NAMES.get(parts[1]) if len(parts) > 1 else None


def script_of_text(text: str) -> str | None:
    """The script of a text's letters ("so'm" -> 'LATIN'); None when it has none or mixes scripts."""
    scripts = {unicodedata.name(ch, "?").split()[0] for ch in text if ch.isalpha()}
    return scripts.pop() if len(scripts) == 1 else None


class Currency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    minor_unit: int = Field(ge=0, le=4, description="Digits after the decimal point (ISO 4217)")
    symbol: str | None = None
    words: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Language -> CLDR plural category (one, few, many, other) -> the "
        "currency's short local word after an amount; 'other' required",
    )

    @field_validator("words")
    @classmethod
    def _words_have_other(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for language, forms in value.items():
            unknown = set(forms) - _PLURAL_CATEGORIES
            if unknown or "other" not in forms or not all(word.strip() for word in forms.values()):
                raise ValueError(
                    f"words.{language}: needs a non-empty 'other' and only the CLDR plural "
                    f"categories {sorted(_PLURAL_CATEGORIES)}"
                )
        return value

    def __hash__(self) -> int:  # a key of cached presets; `words` (dicts) cannot be hashed, equal currencies agree
        return hash((self.code, self.minor_unit, self.symbol))

    def format(self, minor: int) -> str:
        """12345 with minor_unit 2 -> '123.45 UZS'; whole amounts lose the decimals: '25 000 UZS'."""
        sign = "-" if minor < 0 else ""
        units, cents = divmod(abs(minor), 10**self.minor_unit)
        whole = f"{units:,}".replace(",", " ")
        text = whole if cents == 0 else f"{whole}.{cents:0{self.minor_unit}d}"
        return f"{sign}{text} {self.symbol or self.code}"

    def label(self, language: str, major: Decimal) -> str:
        """The currency's word after `major` units in `language` (see the module's docstring)."""
        forms = self.words.get(language)
        if forms:
            return forms.get(_locale(language).plural_form(abs(major)), forms["other"])
        if self._in_own_script(language):
            return self.symbol or self.code
        return _cldr_label(self.code, language, major)

    def _in_own_script(self, language: str) -> bool:
        """Whether `language` writes the operator's symbol as it is (the code, or a symbol in its script)."""
        own = self.symbol or self.code
        script = script_of_text(own)
        return own == self.code or script is None or script == script_of_language(language)

    def digits(self, amount: str, language: str) -> str:
        """An amount `format` wrote ('2 500'), grouped as `language` groups digits (see the module's docstring)."""
        if self._in_own_script(language):
            return amount
        _, _, fraction = amount.partition(".")
        pattern = "#,##0" + ("." + "0" * len(fraction) if fraction else "")
        grouped = format_decimal(Decimal(amount.replace(" ", "")), format=pattern, locale=_locale(language))
        return re.sub(r"\s", " ", grouped)

    def localise(self, text: str, language: str) -> str:
        """`text` with each amount `format` wrote given the reader's word for the currency.

        Only a text made of such amounts (a list or a range of them included) is touched, never a
        sentence that merely contains one: sentences are rendered with their own amounts localised.
        """
        own = re.escape(self.symbol or self.code)
        amount = re.compile(rf"(?P<amount>{_AMOUNT}) {own}(?![^\W\d_])")
        if amount.search(text) is None or re.search(r"[^\W\d_]", amount.sub("", text)):
            return text

        def read(match: re.Match) -> str:  # every amount in the reader's digits, the bare ones of a list too
            digits = self.digits(match["amount"], language)
            if not match["word"]:
                return digits
            return f"{digits} {self.label(language, Decimal(match['amount'].replace(' ', '')))}"

        return re.sub(rf"(?P<amount>{_AMOUNT})(?P<word> {own}(?![^\W\d_]))?", read, text)

    def to_minor(self, text: str) -> int:
        """What a subscriber typed ('2500', '2.50') in major units -> minor units; ValueError if not exact."""
        try:
            value = Decimal(text.strip().replace(" ", ""))
        except InvalidOperation:
            raise ValueError(f"not an amount: {text!r}") from None
        minor = value * (10**self.minor_unit)
        if minor != minor.to_integral_value() or not value.is_finite():
            raise ValueError(f"{text!r} has more decimals than {self.code} allows")
        return int(minor)


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def _cldr_label(code: str, language: str, major: Decimal) -> str:
    """CLDR's local symbol for the currency in `language`, else its name for that many units."""
    locale = _locale(language)
    symbol = get_currency_symbol(code, locale=locale)
    if symbol != code:
        return symbol
    return get_currency_name(code, count=major, locale=locale)
