"""Long USSD screens in pages: a screen holds 182 GSM-7 characters, about 80 in UCS-2 (Cyrillic, Chinese).

A reply longer than that is shown a page at a time, each but the last ending with "1 More" (in the
caller's language) and keeping the session open. No state is stored: the gateway resends every input
of the session, so the pager replays them. An input is a "More" press when it is the More key on a
page that is not the last; every other input goes to the service. The events a reply publishes go
with its first page only (the later pages show the same decision).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from shared import sms

if TYPE_CHECKING:  # ussd imports this module; the annotation only
    from functions.edge.ussd import Reply

GSM7_SCREEN = 182     # septets of one USSD screen
UCS2_SCREEN = 80      # UTF-16 code units in the same ~160 octets (182 septets of 7 bits), 2 octets each

_CHOICE_ONE = re.compile(r"^1(?:\s|[.)]|$)")   # a screen's own choice "1 …": More must take another key


def fits(text: str) -> bool:
    """Whether `text` fits on one screen in the encoding it needs."""
    size = sms.segments(text)
    return size.units <= (GSM7_SCREEN if size.encoding == "GSM-7" else UCS2_SCREEN)


@dataclass(frozen=True)
class Layout:
    """A text cut into screens, and the key that turns the page."""

    screens: tuple[str, ...]
    key: str

    def more_line(self, label: str) -> str:
        return f"{self.key} {label}"


MORE_KEYS = ("1", "99")


def more_key(text: str) -> str:
    """"1", unless the text offers a choice 1 of its own."""
    return MORE_KEYS[1] if any(_CHOICE_ONE.match(line) for line in text.splitlines()) else MORE_KEYS[0]


def layout(text: str, label: str) -> Layout:
    """`text` in screens, each but the last leaving room for the More line."""
    key = more_key(text)
    if fits(text):
        return Layout((text,), key)
    more = f"\n{key} {label}"
    screens, current = [], ""
    for piece in _pieces(text, more):
        candidate = f"{current}\n{piece}" if current else piece
        if fits(candidate + more):
            current = candidate
        else:
            screens.append(current)
            current = piece
    screens.append(current)
    return Layout(tuple(screens), key)


def _pieces(text: str, more: str) -> list[str]:
    """The text's lines, a line too long for a screen cut at spaces (or anywhere, for a single long word)."""
    pieces = []
    for line in text.split("\n"):
        while line and not fits(line + more):
            cut = _longest_fitting(line, more)
            pieces.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        pieces.append(line)
    return pieces


def _longest_fitting(line: str, more: str) -> int:
    """Where to cut a long line: the last space that leaves a head fitting a screen, else the last character."""
    end = 1
    while end < len(line) and fits(line[:end + 1] + more):
        end += 1
    space = line.rfind(" ", 0, end + 1)
    return space if space > 0 else end


def page(inputs: Sequence[str], reply_for: Callable[[tuple[str, ...]], Reply], label: str) -> Reply:
    """The screen to show: the service's reply to the inputs that were meant for it, at the page the
    More presses reached (`label`: "More" in the caller's language)."""
    meant, at = [], 0
    for typed in inputs:
        if typed.strip() in MORE_KEYS:  # only then can it be a page turn (a reply is worked out to know)
            shown = layout(reply_for(tuple(meant)).text, label)
            if at < len(shown.screens) - 1 and typed.strip() == shown.key:
                at += 1
                continue
        meant.append(typed)
        at = 0
    reply = reply_for(tuple(meant))
    shown = layout(reply.text, label)
    if len(shown.screens) == 1:
        return reply
    publish = reply.publish if at == 0 else ()
    if at < len(shown.screens) - 1:
        return replace(reply, text=f"{shown.screens[at]}\n{shown.more_line(label)}", keep_open=True,
                       publish=publish)
    return replace(reply, text=shown.screens[-1], publish=publish)
