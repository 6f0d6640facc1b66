"""SMS encoding and segment counting (operators charge per segment)."""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 default alphabet and its extension table (extension characters cost two septets).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Segmentation:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def segments(text: str) -> Segmentation:
    """GSM-7: 160 in one part, 153 per part when split; UCS-2: 70, or 67 per part."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        sizes = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in text]  # outside the BMP: a surrogate pair
        single, multi, encoding = 70, 67, "UCS-2"
    units = sum(sizes)
    return Segmentation(encoding, units, 1 if units <= single else _parts(sizes, multi))


def _parts(sizes: list[int], per_part: int) -> int:
    """Parts of a split message: an escape sequence or surrogate pair never straddles two parts."""
    parts, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts
