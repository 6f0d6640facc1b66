"""Wrong mailbox PINs counted at the moment they are compared, so simultaneous calls cannot share out
more guesses than the lock allows.

The missed-call service hears of each keyed PIN by event, after the caller was answered: counting
there, N spoofed calls at once would each get their tries before any lock landed. So before the
voicemail line compares a PIN it reserves the attempt on the mailbox's guard document, refused when
the wrong PINs in a row plus the attempts in flight reach the limit; once compared, it records right
(the count starts again) or wrong there. This is the one document the edge writes (DESIGN.md: the
edge reads, services write through events): a count that arrives later by event cannot stop a guess
being compared now. The guard is the only count: each event carries its verdict, and the service
locks the mailbox, tells the owner and keeps what care sees from it, never counting again.

An attempt in flight whose request died lapses after IN_FLIGHT, so a crash cannot lock the owner
out. The guard counts for one PIN (its hash): a new PIN, which unlocks the mailbox, starts from none.
Writes are conditional on the document as read (functions/edge/conditional.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from google.cloud import firestore

from functions.edge import api

GUARDS = "voicemail_pin_guards"  # one document per mailbox owner: {pin, wrong [{key, at}], in_flight [{key, until}]}
IN_FLIGHT = timedelta(seconds=20)  # far longer than one comparison (tens of milliseconds of scrypt)


class GuardBusy(RuntimeError):
    """The guard could not be written (other calls kept changing it): nothing was compared."""


@dataclass(frozen=True)
class Verdict:
    """What one keyed PIN came to."""

    compared: bool  # False: refused unseen, the wrong PINs in a row and the tries in flight reach the limit
    right: bool = False
    locked: bool = False  # no more tries: the wrong PINs in a row reached the limit
    locked_now: bool = False  # this wrong PIN is the one that reached it (the owner is told once)


REFUSED = Verdict(compared=False, locked=True)
Guard = dict[str, Any]


def _counted(stored: Mapping[str, Any] | None, pin_hash: str, now: datetime) -> tuple[list[dict], list[dict]]:
    """The wrong PINs in a row and the attempts still in flight, counted for this PIN."""
    if not stored or stored.get("pin") != pin_hash:
        return [], []
    wrong = [dict(w) for w in stored.get("wrong") or [] if isinstance(w, Mapping)]
    flying = [
        dict(f)
        for f in stored.get("in_flight") or []
        if isinstance(f, Mapping) and isinstance(f.get("until"), datetime) and f["until"] > now
    ]
    return wrong, flying


def reserved(stored: Mapping[str, Any] | None, pin_hash: str, key: str, limit: int, now: datetime) -> Guard | None:
    """The guard with attempt `key` in flight; None when no attempt may be compared."""
    wrong, flying = _counted(stored, pin_hash, now)
    flying = [f for f in flying if f.get("key") != key]  # a retried request holds one place, not two
    if len(wrong) + len(flying) >= limit:
        return None
    return {"pin": pin_hash, "wrong": wrong, "in_flight": [*flying, {"key": key, "until": now + IN_FLIGHT}]}


def settled(
    stored: Mapping[str, Any] | None, pin_hash: str, key: str, right: bool, limit: int, now: datetime
) -> tuple[Guard, Verdict]:
    """The guard once attempt `key` was compared, and its verdict."""
    wrong, flying = _counted(stored, pin_hash, now)
    flying = [f for f in flying if f.get("key") != key]
    if right:
        return {"pin": pin_hash, "wrong": [], "in_flight": flying}, Verdict(compared=True, right=True)
    counted_before = any(w.get("key") == key for w in wrong)
    if not counted_before:
        wrong = [*wrong, {"key": key, "at": now}]
    locked = len(wrong) >= limit
    return (
        {"pin": pin_hash, "wrong": wrong, "in_flight": flying},
        Verdict(compared=True, locked=locked, locked_now=locked and not counted_before and len(wrong) == limit),
    )


class PinGuard(Protocol):
    """Compares a keyed PIN only when the mailbox's count allows one more try, and counts it."""

    def attempt(
        self, owner: str, pin_hash: str, key: str, compare: Callable[[], bool], limit: int, now: datetime
    ) -> Verdict: ...


@dataclass(frozen=True)
class FirestorePinGuard:
    """The guard documents in Firestore (`db` gives the client when a call comes)."""

    db: Callable[[], firestore.Client]

    def attempt(
        self, owner: str, pin_hash: str, key: str, compare: Callable[[], bool], limit: int, now: datetime
    ) -> Verdict:
        def reserve(stored: Mapping[str, Any] | None) -> tuple[Guard | None, bool]:
            guard = reserved(stored, pin_hash, key, limit, now)
            return guard, guard is not None

        if not self._change(owner, reserve):
            return REFUSED
        right = compare()
        return self._change(owner, lambda stored: settled(stored, pin_hash, key, right, limit, now))

    def _change(self, owner: str, change: Callable[[Mapping[str, Any] | None], tuple[Guard | None, Any]]) -> Any:
        """Apply `change` to the guard as read, written only if nobody wrote it since (a None guard writes nothing)."""
        try:
            return api.change_document(self.db(), GUARDS, owner, change)
        except api.DocumentBusy:
            raise GuardBusy("the PIN guard kept changing under this call") from None
