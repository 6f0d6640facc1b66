"""Where ZeroX keeps its state in Firestore, and what each document holds.

The consumers write these; the edge only reads the caller's offer to answer the short code.

zero_balance_attempts/{attempt_id}  one network attempt, decided once (the network may report an
    attempt twice under different event ids): caller, destination, kind, indicator, attempted_at,
    outcome (offered | positive_balance | prompt_limited | line_not_active | auto_recharge:
    the caller's communication credits recharge instead), day, event_id, at

zero_balance_offers/{caller}        the caller's latest offer (a newer attempt replaces it):
    attempt_id, caller, destination, kind, attempted_at, expires_at, topup_amount (None: callback
    only), event_id, status (open | answered | expired), answered_at, answer, request_id

zero_balance_answers/{request_id}   every answer, yes or no: caller, answer, outcome (rules.Outcome),
    offer_id, destination, answered_at, day, event_id, at

zero_balance_usage/{msisdn}         the caller's day: day (YYYY-MM-DD, operator's zone), prompts, requests

zero_balance_daily/{YYYY-MM-DD}.{shard}  per-day counters (rules.COUNTERS), summed over SHARDS
    documents: one document takes about one sustained write a second, and every prompt and
    answer of the whole network writes one (DESIGN: shard hot counters). Fields: day + counters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ATTEMPTS = "zero_balance_attempts"
OFFERS = "zero_balance_offers"
ANSWERS = "zero_balance_answers"
USAGE = "zero_balance_usage"
DAILY = "zero_balance_daily"

SHARDS = 8


def daily_id(day: str, caller: str) -> str:
    """The counter shard a caller's events add to: stable per caller, spread over SHARDS."""
    shard = int.from_bytes(hashlib.sha256(caller.encode()).digest()[:4], "big") % SHARDS
    return f"{day}.{shard}"


@dataclass(frozen=True)
class Subscriber:
    """What ZeroX reads of `subscribers/{msisdn}` (a document without a status is not provisioned yet)."""

    status: str | None
    name: str | None
    language: str | None

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> Subscriber | None:
        if document is None:
            return None
        return cls(status=document.get("status"), name=document.get("name"), language=document.get("language"))

    @property
    def provisioned(self) -> bool:
        return self.status is not None
