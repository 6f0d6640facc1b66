"""SMS segment counting: what the operator charges for (GSM-7 160/153, UCS-2 70/67)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.sms import GSM7_BASIC, GSM7_EXTENSION, segments

GSM_BASIC_CHARS = sorted(GSM7_BASIC)
GSM_EXTENSION_CHARS = sorted(GSM7_EXTENSION)


@pytest.mark.parametrize("length, expected", [
    (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4),
])
def test_gsm7_fits_160_in_one_part_and_153_per_part_when_split(length, expected):
    counted = segments("a" * length)
    assert (counted.encoding, counted.units, counted.segments) == ("GSM-7", length, expected)


def test_empty_text_is_one_gsm7_segment():
    assert segments("").segments == 1


@pytest.mark.parametrize("char", GSM_EXTENSION_CHARS)
def test_extension_characters_count_double(char):
    assert segments("a" * 158 + char).units == 160
    assert segments("a" * 158 + char).segments == 1
    assert segments("a" * 159 + char).segments == 2


def test_eighty_euro_signs_fill_one_part():
    assert segments("€" * 80).segments == 1
    assert segments("€" * 81).segments == 2


def test_an_escape_sequence_is_not_split_across_parts():
    # 152 septets, then '€' needs 2 more: the first part closes at 152 and '€' opens the second.
    text = "a" * 152 + "€" + "a" * 152
    assert segments(text).units == 306
    assert segments(text).segments == 3


@pytest.mark.parametrize("text", [
    "Ваш баланс: 25 000 сум",                       # Russian
    "Сиздин балансыңыз: 100 сом",                    # Kyrgyz (Cyrillic)
    "您的余额为 25 000 UZS",                           # Chinese
    "Balance: 100 UZS ✓",                            # one non-GSM symbol is enough
])
def test_texts_outside_gsm7_are_ucs2(text):
    assert segments(text).encoding == "UCS-2"


def test_uzbek_latin_with_modifier_apostrophe_is_ucs2_but_with_ascii_apostrophe_gsm7():
    # Uzbek Latin writes o‘/g‘ with U+2018; the ASCII apostrophe keeps the cheaper alphabet.
    assert segments("Hisobingiz to‘ldirildi").encoding == "UCS-2"
    assert segments("Hisobingiz to'ldirildi").encoding == "GSM-7"


@pytest.mark.parametrize("length, expected", [
    (1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4),
])
def test_ucs2_fits_70_in_one_part_and_67_per_part_when_split(length, expected):
    counted = segments("Ж" * length)
    assert (counted.encoding, counted.units, counted.segments) == ("UCS-2", length, expected)


def test_characters_outside_the_bmp_take_two_ucs2_units_and_never_straddle_parts():
    assert segments("😀" * 35).units == 70
    assert segments("😀" * 35).segments == 1
    text = "Ж" * 66 + "😀" + "Ж" * 66                # 134 units, but the pair cannot split at 67
    assert segments(text).units == 134
    assert segments(text).segments == 3


@given(st.text(alphabet=st.sampled_from(GSM_BASIC_CHARS + GSM_EXTENSION_CHARS), max_size=800))
def test_gsm7_parts_hold_every_septet_and_no_more_than_needed(text):
    counted = segments(text)
    assert counted.encoding == "GSM-7"
    assert counted.units == len(text) + sum(ch in GSM7_EXTENSION for ch in text)
    if counted.units <= 160:
        assert counted.segments == 1
    else:
        # At least the septets over 153-septet parts; at most one wasted septet per part boundary.
        assert -(-counted.units // 153) <= counted.segments <= -(-counted.units // 152)


@given(st.text(min_size=1, max_size=400).filter(lambda t: any(c not in GSM7_BASIC | GSM7_EXTENSION for c in t)))
def test_any_text_outside_gsm7_is_counted_in_utf16_units(text):
    counted = segments(text)
    assert counted.encoding == "UCS-2"
    assert counted.units == len(text.encode("utf-16-le")) // 2
    if counted.units <= 70:
        assert counted.segments == 1
    else:
        assert -(-counted.units // 67) <= counted.segments <= -(-counted.units // 66)


@given(st.text(max_size=600), st.text(max_size=600))
def test_a_longer_text_never_costs_fewer_segments(head, tail):
    # Holds across a switch to UCS-2 too: 67 units a part is always dearer than 153 septets.
    assert segments(head + tail).segments >= segments(head).segments
