"""The shipped texts (shared/texts/*.yaml) and their checks, without rendering.

shared/texts renders them with the operator's wording and currency; the operator profile checks
its wording against this catalog when it loads (override_problems), so this module knows no
operator: the two would import each other.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypeVar

import yaml

LANGUAGES = ("en", "ru", "uz", "ky", "zh")
FALLBACK = "en"
TEXTS_DIR = Path(__file__).with_name("texts")
SERVICES_DIR = TEXTS_DIR.parents[1] / "functions"  # each service's texts: functions/<service>/texts/*.yaml


class UnknownText(KeyError):
    pass


def files() -> list[Path]:
    """Every texts file: the platform's (shared/texts/), then each service's (functions/<service>/texts/)."""
    return [*sorted(TEXTS_DIR.glob("*.yaml")), *sorted(SERVICES_DIR.glob("*/texts/*.yaml"))]


@functools.cache
def catalog() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    defined_in: dict[str, Path] = {}
    for path in files():
        for key, translations in (yaml.safe_load(path.read_text()) or {}).items():
            if key in merged:
                raise ValueError(f"text {key!r} is defined twice: in {defined_in[key]} and {path}")
            merged[key], defined_in[key] = translations, path
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


def plural_blocks(template: str) -> list[tuple[int, int, str, dict[str, str]]]:
    """Every plural block as (start, end, the counted placeholder, selector -> variant)."""
    blocks, position = [], 0
    while (start := _PLURAL_START.search(template, position)) is not None:
        variants, index = {}, start.end()
        while (selector := _SELECTOR.match(template, index)) is not None:
            close = _closing(template, selector.end() - 1)
            variants[selector["selector"]] = template[selector.end() : close]
            index = close + 1
        end = index + len(template[index:]) - len(template[index:].lstrip())
        if end >= len(template) or template[end] != "}":
            raise ValueError(f"plural block of {start['name']!r} is not closed after its variants")
        if "other" not in variants:
            raise ValueError(f"plural block of {start['name']!r} has no 'other' variant")
        blocks.append((start.start(), end + 1, start["name"], variants))
        position = end + 1
    return blocks


def fields(text: str) -> list[str]:
    """Every `{field}` of a text, those inside plural blocks and the counted ones included."""
    found, position = [], 0
    parts = []
    for start, end, name, variants in plural_blocks(text):
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


Overrides = Mapping[str, Mapping[str, str]]
# A wording's language codes: plain strings, or the operator profile's Literal of the offered languages.
LanguageCode = TypeVar("LanguageCode", bound=str)


def override_problems(wording: Mapping[str, Mapping[LanguageCode, str]], offered: Iterable[str]) -> list[str]:
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
                found.append(
                    f"{key} [{language}]: placeholders {sorted(given)} differ from the shipped "
                    f"text's {sorted(expected)}"
                )
    return found
