"""The frequency cap's one source: a subscriber's recent plays (`offer_caps/{msisdn}`), and reserving the next.

A play is reserved at the moment the offer is chosen, on the plays as stored, and written only if
nobody wrote them since (the edge's conditional write for calls and USSD answers; the top-up's
transaction for an SMS add-on), so 100 wrong-number calls from one number at once cannot share out
more plays than the cap: each reservation sees every play reserved before it. The same offer
reserved again (a webhook request Twilio repeats) finds its play and takes no second one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from functions.voice_plus.selection import Live

Plays = dict[str, list[datetime]]  # campaign id -> play times


def plays_of(stored: Mapping[str, Any] | None) -> Plays:
    """The stored plays by campaign."""
    found: Plays = {}
    for play in (stored or {}).get("plays") or []:
        found.setdefault(play["campaign"], []).append(play["at"])
    return found


def reserve(
    stored: Mapping[str, Any] | None,
    offer_id: str,
    choose: Callable[[Plays], Live | None],
    now: datetime,
    horizon: timedelta,
) -> tuple[dict[str, Any] | None, str | None]:
    """(the caps document to write, or None for no write; the campaign id offered, or None for no offer).

    An offer already reserved is answered with its campaign and nothing written; else `choose` runs on
    the plays as stored and its campaign's play is added, plays older than `horizon` dropped.
    """
    plays = list((stored or {}).get("plays") or [])
    earlier = next((play for play in plays if play.get("offer") == offer_id), None)
    if earlier is not None:
        return None, earlier["campaign"]
    chosen = choose(plays_of(stored))
    if chosen is None:
        return None, None
    kept = [play for play in plays if play["at"] > now - horizon]
    kept.append({"campaign": chosen.id, "offer": offer_id, "at": now})
    return {"plays": kept, "updated_at": now}, chosen.id
