"""MSISDNs: parsed and normalised to E.164 with phonenumbers, masked for logs."""

from __future__ import annotations

import re
from typing import Annotated

import phonenumbers
from pydantic import AfterValidator


class InvalidMsisdn(ValueError):
    """The text is not a dialable subscriber number."""


def normalise(raw: str, default_region: str | None = None) -> str:
    """Return the E.164 form (+998901234567) of a number written in any usual way.

    Subscribers type numbers in international form without '+' (998901234567), with '+',
    with '00', or nationally; `default_region` (ISO country of the operator) resolves the last.
    """
    text = re.sub(r"[\s\-().]", "", raw or "")
    if text.startswith("00"):
        text = "+" + text[2:]
    candidates = [text] if text.startswith("+") else (["+" + text, text] if default_region else ["+" + text])
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, None if candidate.startswith("+") else default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidMsisdn(f"not a valid phone number: {raw!r}")


def region_of(e164: str) -> str | None:
    """ISO country code of an E.164 number (e.g. 'UZ'), None when unknown."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))


def written(e164: str, home_country: str) -> str:
    """A number as an operator in `home_country` writes it for its subscribers to dial back.

    Its own country's numbers nationally (90 123 45 67), others internationally (+7 916 123-45-67).
    """
    number = phonenumbers.parse(e164, None)
    home = phonenumbers.region_code_for_number(number) == home_country
    return phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.NATIONAL if home else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )


def mask(e164: str) -> str:
    """Keep the country code and the last two digits: +998*******09."""
    digits = e164.lstrip("+")
    if len(digits) < 6:
        return "*" * len(digits)
    return "+" + digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


_MSISDN_IN_TEXT = re.compile(r"\+?\d{9,15}")


def mask_text(text: str) -> str:
    """Mask every number in free text that looks like an MSISDN (9 to 15 digits)."""
    return _MSISDN_IN_TEXT.sub(lambda m: mask(m.group(0)), text)


def _validate_e164(value: str) -> str:
    if not isinstance(value, str) or not value.startswith("+"):
        raise ValueError("MSISDN must be in E.164 form, starting with '+'")
    return normalise(value)


Msisdn = Annotated[str, AfterValidator(_validate_e164)]
"""A pydantic field type: an E.164 MSISDN, validated."""
