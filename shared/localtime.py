"""Times shown to subscribers: in their home time zone, written the way their language writes them."""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as number_zones

from shared import texts


@functools.lru_cache(maxsize=4096)
def zone_for(msisdn: str, fallback: str) -> tzinfo:
    """The number's time zone when its country has one; else the operator's (`fallback`, IANA name).

    Uzbek and Kyrgyz numbers have one zone each; a Russian number spans eleven, so a roaming
    visitor's times are shown in the operator's zone rather than guessed.
    """
    try:
        zones = number_zones.time_zones_for_number(phonenumbers.parse(msisdn, None))
        if len(zones) == 1 and zones[0] != "Etc/Unknown":
            return ZoneInfo(zones[0])
    except (phonenumbers.NumberParseException, ValueError, KeyError):
        pass
    return ZoneInfo(fallback)


def moment(when: datetime, zone: tzinfo, language: str) -> str:
    """'29.11.2026 08:02' (ru, uz, ky), '29/11/2026 08:02' (en), '2026年11月29日 08:02' (zh)."""
    local = when.astimezone(zone)
    return texts.render(
        "time.moment",
        language,
        day=f"{local.day:02d}",
        month=f"{local.month:02d}",
        year=local.year,
        hour=f"{local.hour:02d}",
        minute=f"{local.minute:02d}",
    )


def day(when: datetime, zone: tzinfo, language: str) -> str:
    """The local date: '29/11/2026' (en), '29.11.2026' (ru, uz, ky), '2026年11月29日' (zh)."""
    local = when.astimezone(zone)
    return texts.render("time.day", language, day=f"{local.day:02d}", month=f"{local.month:02d}", year=local.year)


def day_of(at: datetime, zone: str | tzinfo) -> str:
    """The calendar day (YYYY-MM-DD) of `at` in `zone` (an operator's): what daily limits and counters count by."""
    return at.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone).date().isoformat()


def month_of(at: datetime, zone: str | tzinfo) -> str:
    """The calendar month (YYYY-MM) of `at` in `zone` (an operator's): what monthly fees, spend and caps count by."""
    local = at.astimezone(ZoneInfo(zone) if isinstance(zone, str) else zone)
    return f"{local.year:04d}-{local.month:02d}"
