"""How an add-on reads after the answer it rides on, and whether it fits: a USSD screen, an SMS budget.

A USSD screen holds 182 GSM-7 characters, about 80 in UCS-2 (Cyrillic, Chinese: shared/sms.py tells
which a text needs). An add-on (its text and, when interactive, its menu line) may take
`ussd_addon_room` of it, the rest being the answer's own; a campaign whose text cannot fit in some
language is refused when it is saved, naming the language and the lengths. At the moment of the
answer the whole screen must fit, else the add-on is left off (and no play is counted).

An SMS add-on (its text and the reply line naming its keyword) rides on the top-up confirmation:
alone it must fit `sms_segment_budget - 1` segments (so the confirmation keeps one), and with the
confirmation it is appended only if the whole message stays within `sms_segment_budget` segments.
"""

from __future__ import annotations

from functions.voice_plus.config import VoicePlusConfig
from functions.voice_plus.documents import Campaign
from shared import sms, texts


def units(text: str) -> tuple[str, int]:
    """(the encoding the text needs, its length in that encoding's units)."""
    size = sms.segments(text)
    return size.encoding, size.units


def ussd_addon(campaign: Campaign, language: str) -> str:
    """The add-on's lines in `language`: its text, then (interactive) its menu."""
    text = campaign.text[language]  # type: ignore[index]  # callers offer only in the campaign's languages
    return f"{text}\n{texts.render('voice_plus.ussd.menu', language)}" if campaign.interactive else text


def sms_addon(campaign: Campaign, language: str, short_code: str) -> str:
    """The add-on's text in `language`, then the reply line naming its keyword and the short code."""
    reply = texts.render("voice_plus.sms.reply", language, keyword=campaign.keyword, short_code=short_code)
    return f"{campaign.text[language]} {reply}"  # type: ignore[index]  # offered only in its languages


def with_ussd_addon(answer: str, addon: str, config: VoicePlusConfig) -> str | None:
    """The answer's screen with the add-on under it; None when the two do not fit one screen."""
    screen = f"{answer}\n{addon}"
    encoding, length = units(screen)
    return screen if length <= (config.ussd_screen.gsm7 if encoding == "GSM-7" else config.ussd_screen.ucs2) else None


def with_sms_addon(message: str, addon: str, config: VoicePlusConfig) -> str | None:
    """The SMS with the add-on after it; None when that would pass the segment budget."""
    whole = f"{message}\n{addon}"
    return whole if sms.segments(whole).segments <= config.sms_segment_budget else None


def problems(campaign: Campaign, config: VoicePlusConfig) -> list[str]:
    """Why the campaign's text cannot fit where it rides, per language; empty when it fits everywhere."""
    found = []
    for language in sorted(campaign.text):
        if campaign.channel == "ussd":
            encoding, length = units(ussd_addon(campaign, language))
            room = config.ussd_addon_room.gsm7 if encoding == "GSM-7" else config.ussd_addon_room.ucs2
            screen = config.ussd_screen.gsm7 if encoding == "GSM-7" else config.ussd_screen.ucs2
            if length > room:
                menu = " with its menu line" if campaign.interactive else ""
                found.append(
                    f"text.{language}: {length} {encoding} characters{menu}; an add-on may take {room} "
                    f"(the screen's {screen} less what the answer keeps)"
                )
        elif campaign.channel == "sms":
            addon = sms_addon(campaign, language, config.short_code)
            size = sms.segments(addon)
            if size.segments > config.sms_segment_budget - 1:
                found.append(
                    f"text.{language}: {size.units} {size.encoding} characters with its reply line take "
                    f"{size.segments} SMS segments; an add-on may take {config.sms_segment_budget - 1} "
                    f"(the budget of {config.sms_segment_budget} less the top-up confirmation's one)"
                )
    return found
