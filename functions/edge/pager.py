"""Long USSD screens in pages: a screen holds 182 GSM-7 characters, about 80 in UCS-2 (Cyrillic, Chinese).

A reply longer than that is shown a page at a time, each but the last ending with "1 More" (in the
caller's language) and keeping the session open. No state is stored: the gateway resends every input
of the session, so the pager replays them. An input is a "More" press when it is the More key on a
page that is not the last. A choice ("N …") listed only on a page the subscriber has not reached yet
is refused, the page shown again: nobody picks what they have not read (a confirmation's "1" on page
1, before its fee). Every other input goes to the service. The events a reply publishes go with its
first page only (the later pages show the same decision). A page ends at a line or sentence end when
one fits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from functions.edge.screen import Reply
from shared import sms

GSM7_SCREEN = 182  # septets of one USSD screen
UCS2_SCREEN = 80  # UTF-16 code units in the same ~160 octets (182 septets of 7 bits), 2 octets each

_CHOICE_ONE = re.compile(r"^1(?:\s|[.)]|$)")  # a screen's own choice "1 …": More must take another key
_CHOICE = re.compile(r"^(?P<key>\d{1,2})(?:\s|[.)])")  # an option line: "2 5 000 so'm", "0 Back"
# Where a sentence ends inside a line: the page may end after it (Latin and Cyrillic stops before a
# space, the Chinese full-width ones anywhere).
_SENTENCE_END = re.compile(r"[.!?;](?=\s)|[。！？；]")


def fits(text: str) -> bool:
    """Whether `text` fits on one screen in the encoding it needs."""
    size = sms.segments(text)
    return size.units <= (GSM7_SCREEN if size.encoding == "GSM-7" else UCS2_SCREEN)


@dataclass(frozen=True)
class Layout:
    """A text cut into screens, and the key that turns the page."""

    screens: tuple[str, ...]
    key: str
    choices: tuple[frozenset[str], ...] = ()  # per screen, the keys of the option lines it shows

    def more_line(self, label: str) -> str:
        return f"{self.key} {label}"

    def unseen(self, typed: str, at: int) -> bool:
        """Whether `typed` picks a choice listed only on a page after `at` (pages up to `at` were read)."""
        key = typed.strip()
        return any(key in later for later in self.choices[at + 1 :]) and not any(
            key in read for read in self.choices[: at + 1]
        )


MORE_KEYS = ("1", "99")


def more_key(text: str) -> str:
    """The key that turns the page: "1", unless the text offers a choice 1 of its own."""
    return MORE_KEYS[1] if any(_CHOICE_ONE.match(line) for line in text.splitlines()) else MORE_KEYS[0]


def layout(text: str, label: str) -> Layout:
    """`text` in screens, each but the last leaving room for the More line."""
    key = more_key(text)
    if fits(text):
        return Layout((text,), key, (_choices_of(text.split("\n")),))
    more = f"\n{key} {label}"
    screens: list[str] = []
    choices: list[frozenset[str]] = []
    options: set[str] = set()
    current = ""
    for piece, starts_line in _pieces(text, more):
        candidate = f"{current}\n{piece}" if current else piece
        if not fits(candidate + more):
            screens.append(current)
            choices.append(frozenset(options))
            candidate, options = piece, set()
        current = candidate
        if starts_line:
            options |= _choices_of([piece])
    screens.append(current)
    choices.append(frozenset(options))
    return Layout(tuple(screens), key, tuple(choices))


def _choices_of(lines: Sequence[str]) -> frozenset[str]:
    return frozenset(match["key"] for line in lines if (match := _CHOICE.match(line)))


def _pieces(text: str, more: str) -> list[tuple[str, bool]]:
    """The text's lines, a line too long for a screen cut after a sentence or at a space (or anywhere, for
    a single long word); each with whether it starts a line of the text (only those can be choices)."""
    pieces = []
    for line in text.split("\n"):
        starts_line = True
        while line and not fits(line + more):
            cut = _longest_fitting(line, more)
            pieces.append((line[:cut].rstrip(), starts_line))
            line, starts_line = line[cut:].lstrip(), False
        pieces.append((line, starts_line))
    return pieces


def _longest_fitting(line: str, more: str) -> int:
    """Where to cut a long line: after the last sentence that fits a screen (when it fills at least half of
    one: a short first sentence alone would cost a page), else at the last space that fits, else at the
    last character that fits."""
    end = 1
    while end < len(line) and fits(line[: end + 1] + more):
        end += 1
    sentences = [stop.end() for stop in _SENTENCE_END.finditer(line, end // 2, end)]
    if sentences:
        return sentences[-1]
    space = line.rfind(" ", 0, end + 1)
    return space if space > 0 else end


def page(inputs: Sequence[str], reply_for: Callable[[tuple[str, ...]], Reply], label: str) -> Reply:
    """The screen to show: the service's reply to the inputs that were meant for it, at the page the
    More presses reached (`label`: "More" in the caller's language)."""
    meant: list[str] = []
    at = 0
    for typed in inputs:
        shown = layout(reply_for(tuple(meant)).text, label)
        if at < len(shown.screens) - 1 and typed.strip() == shown.key:
            at += 1
            continue
        if shown.unseen(typed, at):  # refused: the page the subscriber is on, again
            continue
        meant.append(typed)
        at = 0
    reply = reply_for(tuple(meant))
    shown = layout(reply.text, label)
    if len(shown.screens) == 1:
        return reply
    publish = reply.publish if at == 0 else ()
    if at < len(shown.screens) - 1:
        return replace(reply, text=f"{shown.screens[at]}\n{shown.more_line(label)}", keep_open=True, publish=publish)
    return replace(reply, text=shown.screens[-1], publish=publish)
