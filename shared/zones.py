"""Time zone names (no texts: the operator profile validates its zone here, and shared/texts needs the profile)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def valid_zone(value: str) -> str:
    """`value` when it names an IANA time zone; else a ValueError an operator can act on."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Tashkent)") from None
    return value
