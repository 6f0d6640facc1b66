"""The forward-only status machine of an SMS: queued → sending → sent → delivered | undelivered | failed.

Twilio's status callbacks arrive out of order and more than once, so a report only ever moves a
message forward, and once a message reaches a final status nothing moves it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

QUEUED, SENDING, SENT = "queued", "sending", "sent"
DELIVERED, UNDELIVERED, FAILED = "delivered", "undelivered", "failed"

FINAL = frozenset({DELIVERED, UNDELIVERED, FAILED})

# How far along each status is. Statuses the carrier may report that we do not track (Twilio's
# 'accepted', 'scheduled', 'receiving' …) have no rank and never move a message.
_RANK = {QUEUED: 0, SENDING: 1, SENT: 2, DELIVERED: 3, UNDELIVERED: 3, FAILED: 3}

STATUSES = tuple(_RANK)


@dataclass(frozen=True)
class Transition:
    """The outcome of one report: where the message was, what was reported, where it is now."""

    previous: str
    reported: str
    current: str

    @property
    def changed(self) -> bool:
        return self.current != self.previous

    @property
    def became_final(self) -> bool:
        return self.changed and self.current in FINAL


def is_final(status: str) -> bool:
    return status in FINAL


def can_move(reported: str) -> bool:
    """False for a report that moves no message at all (`queued`, or a status we do not track)."""
    return _RANK.get(reported, -1) > _RANK[QUEUED]


def apply(current: str, reported: str) -> Transition:
    """Move `current` to `reported` only if that is further along and `current` is not final."""
    if current not in _RANK:
        raise ValueError(f"unknown current status {current!r}")
    moves = current not in FINAL and _RANK.get(reported, -1) > _RANK[current]
    return Transition(previous=current, reported=reported, current=reported if moves else current)


def replay(reports: Iterable[str], start: str = QUEUED) -> str:
    """The status after applying `reports` in the order they arrived."""
    status = start
    for reported in reports:
        status = apply(status, reported).current
    return status
