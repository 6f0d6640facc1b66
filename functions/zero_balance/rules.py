"""The ZeroX rules, without I/O: who is offered a callback, when an answer counts, what is counted.

- Only a caller whose balance really is zero (or below) is offered anything: a caller with money
  who asks friends for free callbacks is the abuse the seed warns about (fraud control).
- Per caller and per operator's day: at most `prompts_per_day` offers and `requests_per_day`
  requests (callbacks and top-up asks together).
- An offer is answered once, within its validity; a newer attempt replaces it.
- Every decision is counted per operator's day (COUNTERS) so the operator can tune the prompts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from functions.zero_balance.config import ZeroBalanceConfig

# The per-day counters (zero_balance_daily), in the order an operator reads them.
COUNTERS = (
    "prompts",
    "positive_balance",
    "prompt_limited",
    "callback",
    "transfer",
    "no",
    "request_limited",
    "expired",
    "foreign_destination",
)

Answer = Literal["callback", "transfer", "no"]
OfferStatus = Literal["open", "answered", "expired"]


def really_zero(balance: int) -> bool:
    """Nothing left to pay with (a negative balance, where the BSS allows one, counts as zero too)."""
    return balance <= 0


@dataclass(frozen=True)
class DailyUsage:
    """One caller's prompts and requests on one operator's day (zero_balance_usage/{msisdn})."""

    day: str
    prompts: int = 0
    requests: int = 0

    @classmethod
    def on(cls, document: dict[str, Any] | None, day: str) -> DailyUsage:
        """The usage stored, or a fresh day's when it was counted on another day."""
        if not document or document.get("day") != day:
            return cls(day=day)
        return cls(day=day, prompts=int(document.get("prompts", 0)), requests=int(document.get("requests", 0)))

    def prompted(self) -> DailyUsage:
        return replace(self, prompts=self.prompts + 1)

    def requested(self) -> DailyUsage:
        return replace(self, requests=self.requests + 1)

    def to_document(self) -> dict[str, Any]:
        return {"day": self.day, "prompts": self.prompts, "requests": self.requests}


class OfferDecision(enum.Enum):
    OFFER = "offered"
    POSITIVE_BALANCE = "positive_balance"
    PROMPT_LIMITED = "prompt_limited"
    FOREIGN_DESTINATION = "foreign_destination"

    @property
    def counter(self) -> str:
        return "prompts" if self is OfferDecision.OFFER else self.value


def decide_offer(
    balance: int, usage: DailyUsage, config: ZeroBalanceConfig, *, destination_is_subscriber: bool = True
) -> OfferDecision:
    """Whether a refused attempt gets an offer: really zero first, a number the operator may message,
    then the day's prompt limit."""
    if not really_zero(balance):
        return OfferDecision.POSITIVE_BALANCE
    if config.own_subscribers_only and not destination_is_subscriber:
        return OfferDecision.FOREIGN_DESTINATION
    if usage.prompts >= config.prompts_per_day:
        return OfferDecision.PROMPT_LIMITED
    return OfferDecision.OFFER


@dataclass(frozen=True)
class Offer:
    """An offer sent to a caller (zero_balance_offers/{caller}); the latest attempt's only."""

    attempt_id: str
    caller: str
    destination: str
    kind: Literal["call", "sms"]
    attempted_at: datetime
    expires_at: datetime
    topup_amount: int | None  # option 2's amount; None: callback only
    event_id: str
    status: OfferStatus = "open"

    def is_open(self) -> bool:
        return self.status == "open"

    def expired(self, at: datetime) -> bool:
        return at >= self.expires_at

    def allows(self, answer: Answer) -> bool:
        return answer != "transfer" or self.topup_amount is not None

    @classmethod
    def from_document(cls, document: dict[str, Any] | None) -> Offer | None:
        if not document:
            return None
        return cls(
            attempt_id=document["attempt_id"],
            caller=document["caller"],
            destination=document["destination"],
            kind=document["kind"],
            attempted_at=document["attempted_at"],
            expires_at=document["expires_at"],
            topup_amount=document.get("topup_amount"),
            event_id=document["event_id"],
            status=document.get("status", "open"),
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "attempt_id": self.attempt_id,
            "caller": self.caller,
            "destination": self.destination,
            "kind": self.kind,
            "attempted_at": self.attempted_at,
            "expires_at": self.expires_at,
            "topup_amount": self.topup_amount,
            "event_id": self.event_id,
            "status": self.status,
        }


class Outcome(enum.Enum):
    """What one answer led to; `counter` names the per-day count it adds to (None: not counted)."""

    CALLBACK = "callback"  # the free message went to the callee
    TRANSFER = "transfer"  # the transfers service asks the callee for a top-up
    NO = "no"
    EXPIRED = "expired"
    REQUEST_LIMITED = "request_limited"
    POSITIVE_BALANCE = "positive_balance"  # money arrived since the offer: no free request
    NO_OFFER = "no_offer"  # nothing open to answer (already answered, or replaced)
    NOT_OFFERED = "not_offered"  # option 2 answered to an offer without it

    @property
    def counter(self) -> str | None:
        return None if self in (Outcome.NO_OFFER, Outcome.NOT_OFFERED) else self.value

    @property
    def closes_offer(self) -> bool:
        return self not in (Outcome.NO_OFFER, Outcome.NOT_OFFERED)

    @property
    def uses_request(self) -> bool:
        return self in (Outcome.CALLBACK, Outcome.TRANSFER)


def decide_answer(
    offer: Offer | None,
    answer: Answer,
    *,
    offer_id: str | None,
    answered_at: datetime,
    balance: int,
    usage: DailyUsage,
    config: ZeroBalanceConfig,
) -> Outcome:
    """What an answer does: the offer must be open, this one and in time; a yes needs the day's
    request limit and a balance still zero (re-checked: the offer may be an hour old)."""
    if offer is None or not offer.is_open() or (offer_id is not None and offer_id != offer.attempt_id):
        return Outcome.NO_OFFER
    if offer.expired(answered_at):
        return Outcome.EXPIRED
    if answer == "no":
        return Outcome.NO
    if not offer.allows(answer):
        return Outcome.NOT_OFFERED
    if usage.requests >= config.requests_per_day:
        return Outcome.REQUEST_LIMITED
    if not really_zero(balance):
        return Outcome.POSITIVE_BALANCE
    return Outcome.CALLBACK if answer == "callback" else Outcome.TRANSFER


def closed(offer: Offer, outcome: Outcome) -> Offer:
    """The offer after an answer: expired, or answered (a second answer then finds nothing open)."""
    return replace(offer, status="expired" if outcome is Outcome.EXPIRED else "answered")


def yes_rate(counts: dict[str, int]) -> float | None:
    """Share of yes among the yes and no answers given in time; None when there were none.

    A yes refused by the day's request limit is still a yes; a late answer (expired) and one
    refused because money arrived meanwhile say nothing about the prompt, so they are left out.
    """
    yes = counts.get("callback", 0) + counts.get("transfer", 0) + counts.get("request_limited", 0)
    answered = yes + counts.get("no", 0)
    return yes / answered if answered else None
