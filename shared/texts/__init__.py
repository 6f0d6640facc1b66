"""Every text a subscriber reads or hears, per language, from the YAML files in this folder.

Each file groups the texts of one area (`edge.yaml`, `ledger.yaml`, …); each key gives the text in
every language the platform speaks, with `{placeholders}` filled by `render`. A unit test checks
that every key has all languages and the same placeholders in each.
"""

from __future__ import annotations

import functools
import string
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
    """The text `key` in `language` (English when that language is missing), filled with params."""
    try:
        translations = catalog()[key]
    except KeyError:
        raise UnknownText(key) from None
    template = translations.get(language or FALLBACK) or translations[FALLBACK]
    return template.format(**params)
