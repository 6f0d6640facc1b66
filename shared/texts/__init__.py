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
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import cast

from babel import Locale

from shared import operator

# The catalog and its checks live in shared/text_catalog.py (the operator profile checks its
# wording with them); they are re-exported here for the callers that render.
from shared.text_catalog import (  # noqa: F401 - re-exported
    FALLBACK,
    LANGUAGES,
    SERVICES_DIR,
    TEXTS_DIR,
    Overrides,
    UnknownText,
    catalog,
    fields,
    files,
    override_problems,
    placeholders,
    plural_blocks,
)

# --- plural blocks (parsed in shared/text_catalog.py) --------------------------------------


def _number(value: object) -> Decimal | None:
    try:
        return Decimal(str(value).replace(" ", "").replace("\u00a0", ""))
    except InvalidOperation:
        return None


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def plural_variant(variants: Mapping[str, str], value: object, language: str) -> str:
    """The variant for `value`: an exact `=N` match, else the language's CLDR category, else `other`."""
    number = _number(value)
    if number is None:
        return variants["other"]
    exact = variants.get(f"={number.normalize():f}") if number == number.to_integral_value() else None
    if exact is not None:
        return exact
    category = _locale(language).plural_form(number)
    return variants.get(category, variants["other"])


def _with_plurals_chosen(template: str, language: str, params: Mapping[str, object]) -> str:
    """The template with each plural block replaced by the variant its count selects."""
    chosen, position = [], 0
    for start, end, name, variants in plural_blocks(template):
        chosen += [template[position:start], plural_variant(variants, params[name], language)]
        position = end
    return "".join(chosen) + template[position:]


def render(key: str, language: str | None, **params: object) -> str:
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


def _money_localised(params: Mapping[str, object], language: str) -> dict[str, object]:
    """Amounts written the operator's way ("5 000 so'm") get the reader's word for the currency."""
    currency = operator.current().currency
    return {
        name: currency.localise(value, language) if isinstance(value, str) else value for name, value in params.items()
    }


# --- the operator's own wording ----------------------------------------------------------

_overrides: Callable[[], Overrides] | None = None


def set_overrides(source: Callable[[], Overrides] | None) -> None:
    """Where `render` finds the operator's wording; None: the current operator profile's `texts`."""
    global _overrides
    _overrides = source


def overrides() -> Overrides:
    if _overrides is not None:
        return _overrides()
    # Keyed by the profile's Literal languages; read here with any language string, which at worst finds nothing.
    return cast(Overrides, operator.current().texts)
