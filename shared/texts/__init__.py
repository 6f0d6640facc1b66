"""Every text a subscriber reads or hears, per language, from the YAML files in this folder.

Each file groups the texts of one area (`edge.yaml`, `ledger.yaml`, …); each key gives the text in
every language the platform speaks, with `{placeholders}` filled by `render`. A unit test checks
that every key has all languages and the same placeholders in each. An operator may reword any
text per language in its profile (`texts:`); `render` uses that wording, checked at load by
`override_problems` to keep the key, a language the operator offers, and the same placeholders.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import yaml

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


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


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
    return template.format(**params)


# --- the operator's own wording ----------------------------------------------------------

Overrides = Mapping[str, Mapping[str, str]]
_overrides: Callable[[], Overrides] | None = None


def set_overrides(source: Callable[[], Overrides] | None) -> None:
    """Where `render` finds the operator's wording; None: the current operator profile's `texts`."""
    global _overrides
    _overrides = source


def overrides() -> Overrides:
    if _overrides is not None:
        return _overrides()
    # Imported here: the profile module validates its overrides with this one (override_problems).
    from shared import operator
    return operator.current().texts


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
