"""A USSD screen as the gateway shows it: `CON …` waits for input, `END …` closes the session.

Its own module so that both the protocol (ussd.py) and the pager (pager.py, which ussd.py uses) can
name it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from functions.edge.replies import Publication


@dataclass(frozen=True)
class Reply:
    """A USSD screen: `CON` keeps the session open for input, `END` closes it."""

    text: str
    keep_open: bool = False
    publish: tuple[Publication, ...] = ()  # events the webhook publishes before showing the screen

    @classmethod
    def end(cls, text: str, publish: Iterable[Publication] = ()) -> Reply:
        return cls(text, keep_open=False, publish=tuple(publish))

    @classmethod
    def con(cls, text: str) -> Reply:
        return cls(text, keep_open=True)

    def body(self) -> str:
        return ("CON " if self.keep_open else "END ") + self.text
