"""Where subscription tracking keeps its state in Firestore, and what each document holds.

subscriptions/{msisdn}   the subscriber's book (`Book`): every subscription, pack and plan they
    have had, by id, with its status, price, dates and what was sent about it; the month's spend
    per product; the plan and how many times it was changed; and `next_due_at`, the earliest moment
    any of it has work due (a renewal, a retry, a reminder, a notice, the monthly summary), which
    the clock's sweep queries. One document per subscriber (DESIGN: per-subscriber state in
    per-subscriber documents): the edge reads it with the caller's record in one round trip to
    list "My subscriptions", and each event's transaction reads and writes it once. A subscriber
    has a handful of products; finished ones stay listed for care and the summary.

consents/{id}            every question asked and its answers (shared/consent.py).

subscription_requests/{request_id}   what became of each request to start a product or change plan
    (started, asked, declined, expired, changed, refused:<reason>), with the consent and item it
    names and what was charged: care answers "why was I (not) subscribed" from it.

Exactly one charge per subscription and period: `Item.periods_charged` counts the periods paid,
and a renewal charges period `periods_charged` only in the transaction that moves it on, so a
redelivered event or two overlapping clock ticks find the period already paid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from functions.subscriptions.config import Period
from shared import store
from shared.msisdn import Msisdn

BOOKS = "subscriptions"

Status = Literal["trial", "active", "grace", "suspended", "cancelled", "expired"]
LIVE: frozenset[str] = frozenset({"trial", "active", "grace", "suspended"})  # still to renew, retry or end
Kind = Literal["subscription", "pack", "plan"]


class Item(BaseModel):
    """One subscription (or pack, or plan) of a subscriber, from its start to its end."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=80, description="Stable: derived from the request that started it")
    product: str
    kind: Kind
    status: Status
    price: int = Field(ge=0, description="Minor units charged for the current period (0 in a trial)")
    currency: str
    bucket: str = "main"
    period: Period | None = Field(default=None, description="None: bought once (a pack without renewal)")
    channel: str
    consent_id: str | None = None
    started_at: AwareDatetime
    anchor: AwareDatetime = Field(description="The date periods count from (the anniversary of an annual one)")
    periods_charged: int = Field(default=0, ge=0, description="Paid periods; the next charge is for this index")
    paid_through: AwareDatetime | None = Field(default=None, description="End of the period paid (or the trial)")
    next_charge_at: AwareDatetime | None = Field(default=None, description="When the next period is due")
    expires_at: AwareDatetime | None = Field(default=None, description="A pack's allowances end")
    failed_attempts: int = Field(default=0, ge=0)
    next_retry_at: AwareDatetime | None = None
    last_failure: str | None = None
    suspended_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    end_reason: str | None = None
    sent: list[str] = Field(
        default_factory=list, description="Keys of reminders and notices already sent (each goes once)"
    )

    @property
    def live(self) -> bool:
        return self.status in LIVE


class PendingQuestion(BaseModel):
    """The paid sign-up asked by SMS and not answered yet: the edge reads it to route a YES or NO."""

    model_config = ConfigDict(extra="forbid")

    product: str
    consent_id: str
    asked_at: AwareDatetime
    expires_at: AwareDatetime


class Book(BaseModel):
    """Everything one subscriber has subscribed to (the `subscriptions/{msisdn}` document)."""

    model_config = ConfigDict(extra="forbid")

    msisdn: Msisdn
    items: dict[str, Item] = Field(default_factory=dict)
    spend: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Month (YYYY-MM, operator's zone) -> product -> minor units charged"
    )
    pending: PendingQuestion | None = Field(default=None, description="The SMS question waiting for YES or NO")
    plan: str | None = None
    plan_changes: int = Field(default=0, ge=0)
    summary_due_at: AwareDatetime | None = Field(default=None, description="When the next monthly summary goes")
    summarised_through: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}$", description="The last month (YYYY-MM) a spend summary told"
    )
    next_due_at: AwareDatetime | None = Field(default=None, description="The earliest work due; the sweep's index")
    updated_at: AwareDatetime | None = None

    @classmethod
    def empty(cls, msisdn: str) -> Book:
        return cls(msisdn=msisdn)

    @classmethod
    def from_document(cls, msisdn: str, document: dict[str, Any] | None) -> Book:
        return cls.empty(msisdn) if document is None else cls.model_validate(document)

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="python")

    def live(self) -> list[Item]:
        """The subscriptions still running (or waiting to be paid), oldest first: what SUBS numbers."""
        return sorted((item for item in self.items.values() if item.live), key=lambda item: (item.started_at, item.id))

    def at(self, when: datetime) -> None:
        self.updated_at = when


def read_book(msisdn: str) -> Book:
    """The subscriber's book read plainly, outside any transaction (care, the demo, the bench); empty when none."""
    return Book.from_document(msisdn, store.db().collection(BOOKS).document(msisdn).get().to_dict())
