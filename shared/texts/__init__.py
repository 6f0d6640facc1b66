"""Every text a subscriber reads or hears, per language, from the YAML files in this folder.

Each file groups the texts of one area (`edge.yaml`, `ledger.yaml`, …); each key gives the text in
every language the platform speaks, with `{placeholders}` filled by `render`. A unit test checks
that every key has all languages and the same placeholders in each. An operator may reword any
text per language in its profile (`texts:`); `render` uses that wording, checked at load by
`override_problems` to keep the key, a language the operator offers, and the same placeholders.
An amount the operator's currency wrote (shared/money.py) is given the reader's word for it.

A count picks its words with a plural block, ICU style: `{count, plural, =0 {no calls} one {one call}
other {{count} calls}}`. `=N` matches exactly N; a category (zero, one, two, few, many, other) is
the language's CLDR plural category of the value (Babel's rules), `other` being required.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

import yaml
from babel import Locale

from shared.money import Currency

LANGUAGES = ("en", "ru", "uz", "ky", "zh")
FALLBACK = "en"
TEXTS_DIR = Path(__file__).parent


class UnknownText(KeyError):
    pass


@functools.cache
def catalog() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(TEXTS_DIR.glob("*.yaml")):
        for key, translations in (yaml.safe_load(path.read_text()) or {}).items():
            if key in merged:
                raise ValueError(f"text {key!r} is defined twice (again in {path.name})")
            merged[key] = translations
    return merged


# --- plural blocks -----------------------------------------------------------------------

_PLURAL_START = re.compile(r"\{\s*(?P<name>[A-Za-z_]\w*)\s*,\s*plural\s*,")
_SELECTOR = re.compile(r"\s*(?P<selector>=\d+|zero|one|two|few|many|other)\s*\{")


def _closing(text: str, opening: int) -> int:
    """The index of the brace closing the one at `opening`; ValueError when it is never closed."""
    depth = 0
    for index in range(opening, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return index
    raise ValueError(f"unclosed brace at {opening}")


def _plural_blocks(template: str) -> list[tuple[int, int, str, dict[str, str]]]:
    """Every plural block as (start, end, the counted placeholder, selector -> variant)."""
    blocks, position = [], 0
    while (start := _PLURAL_START.search(template, position)) is not None:
        variants, index = {}, start.end()
        while (selector := _SELECTOR.match(template, index)) is not None:
            close = _closing(template, selector.end() - 1)
            variants[selector["selector"]] = template[selector.end():close]
            index = close + 1
        end = index + len(template[index:]) - len(template[index:].lstrip())
        if end >= len(template) or template[end] != "}":
            raise ValueError(f"plural block of {start['name']!r} is not closed after its variants")
        if "other" not in variants:
            raise ValueError(f"plural block of {start['name']!r} has no 'other' variant")
        blocks.append((start.start(), end + 1, start["name"], variants))
        position = end + 1
    return blocks


def _number(value) -> Decimal | None:
    try:
        return Decimal(str(value).replace(" ", "").replace("\u00a0", ""))
    except InvalidOperation:
        return None


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def plural_variant(variants: Mapping[str, str], value, language: str) -> str:
    """The variant for `value`: an exact `=N` match, else the language's CLDR category, else `other`."""
    number = _number(value)
    if number is None:
        return variants["other"]
    exact = variants.get(f"={number.normalize():f}") if number == number.to_integral_value() else None
    if exact is not None:
        return exact
    category = _locale(language).plural_form(number)
    return variants.get(category, variants["other"])


def _with_plurals_chosen(template: str, language: str, params: Mapping) -> str:
    """The template with each plural block replaced by the variant its count selects."""
    chosen, position = [], 0
    for start, end, name, variants in _plural_blocks(template):
        chosen += [template[position:start], plural_variant(variants, params[name], language)]
        position = end
    return "".join(chosen) + template[position:]


def fields(text: str) -> list[str]:
    """Every `{field}` of a text, those inside plural blocks and the counted ones included."""
    found, position = [], 0
    parts = []
    for start, end, name, variants in _plural_blocks(text):
        parts.append(text[position:start])
        found.append(name)
        for variant in variants.values():
            found += fields(variant)
        position = end
    parts.append(text[position:])
    found += [field for _, field, _, _ in string.Formatter().parse("".join(parts)) if field is not None]
    return found


def placeholders(text: str) -> set[str]:
    return {field for field in fields(text) if field}


def render(key: str, language: str | None, **params) -> str:
    """The text `key` in `language` (English when that language is missing), filled with params.

    The operator's own wording (the profile's `texts`) wins over the shipped one.
    """
    try:
        translations = catalog()[key]
    except KeyError:
        raise UnknownText(key) from None
    language = language if language in translations else FALLBACK
    template = overrides().get(key, {}).get(language) or translations[language]
    params = _money_localised(params, language)
    return _with_plurals_chosen(template, language, params).format(**params)


def _money_localised(params: Mapping, language: str) -> dict:
    """Amounts written the operator's way ("5 000 so'm") get the reader's word for the currency."""
    currency = _operator().currency
    return {name: currency.localise(value, language) if isinstance(value, str) else value
            for name, value in params.items()}


# --- the operator's own wording ----------------------------------------------------------

Overrides = Mapping[str, Mapping[str, str]]
_overrides: Callable[[], Overrides] | None = None


class Operator(Protocol):
    """What rendering needs of the operator profile (shared/operator.py registers its own)."""

    @property
    def currency(self) -> Currency: ...

    @property
    def texts(self) -> Mapping[str, Mapping[Any, str]]: ...  # key -> language -> wording


# The profile module validates its overrides with this one (override_problems), so it registers
# itself here (use_operator) instead of being imported: the two would import each other.
_current_operator: Callable[[], Operator] | None = None


def use_operator(current: Callable[[], Operator]) -> None:
    """Where `render` finds the operator in force (its currency and wording)."""
    global _current_operator
    _current_operator = current


def _operator() -> Operator:
    if _current_operator is None:
        raise RuntimeError("no operator profile registered with shared.texts: import shared.operator first")
    return _current_operator()


def set_overrides(source: Callable[[], Overrides] | None) -> None:
    """Where `render` finds the operator's wording; None: the current operator profile's `texts`."""
    global _overrides
    _overrides = source


def overrides() -> Overrides:
    if _overrides is not None:
        return _overrides()
    return _operator().texts


def override_problems(wording: Overrides, offered: Iterable[str]) -> list[str]:
    """What is wrong with an operator's wording: unknown keys, languages not offered, changed placeholders."""
    offered, found = set(offered), []
    for key, by_language in wording.items():
        shipped = catalog().get(key)
        if shipped is None:
            found.append(f"{key}: no such text")
            continue
        for language, text in by_language.items():
            if language not in offered:
                found.append(f"{key} [{language}]: the operator does not offer this language")
                continue
            if not text.strip():
                found.append(f"{key} [{language}]: empty")
                continue
            try:
                given = placeholders(text)
            except ValueError as error:
                found.append(f"{key} [{language}]: broken braces: {error}")
                continue
            expected = placeholders(shipped.get(language) or shipped[FALLBACK])
            if given != expected:
                found.append(f"{key} [{language}]: placeholders {sorted(given)} differ from the shipped "
                             f"text's {sorted(expected)}")
    return found
