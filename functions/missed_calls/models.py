"""The missed-call service's documents as typed models (documents.py says where each lives).

Fields are named as stored, so documents already in Firestore load unchanged; a field a document
lacks takes its default. Fields a model does not declare (written by a newer version) are kept and
written back as read. `fields()` is what a write stores: the fields the document was read or made
with and those changed since, never a default it did not have, except the fields the service's
queries filter or order on (`QUERIED`): a document written without one would never be found.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


class Stored(BaseModel):
    """A Firestore document of this service."""

    model_config = ConfigDict(extra="allow", frozen=True)
    QUERIED: ClassVar[frozenset[str]] = frozenset()  # fields queries.py and the sweeps filter or order on

    def fields(self) -> dict[str, Any]:
        """The document to write."""
        return {**self.model_dump(include=set(self.QUERIED)), **self.model_dump(exclude_unset=True)}


class NetworkState(Stored):
    """The callee's phone as last reported: `attached` or `detached`, at the report's time."""

    state: str
    at: datetime | None = None


class MissedCall(Stored):
    """missed_calls/{call_sid}: one forwarded call, the furthest state its events reached."""

    QUERIED = frozenset({"callee", "status", "called_at"})

    call_sid: str
    caller: str
    callee: str
    reason: str | None = None
    called_at: datetime
    choice: str = "none"
    other_number: str | None = None
    recording_sid: str | None = None
    recording_url: str | None = None
    recording_seconds: int | None = None
    language: str | None = None
    final: bool = False
    hung_up_at: datetime | None = None
    status: str = "pending"
    first_seen_at: datetime | None = None
    updated_at: datetime | None = None
    dropped_reason: str | None = None  # blacklist | not_whitelisted
    asked: str | None = None  # the key the caller pressed when the mailbox turned it into another
    discarded_recording_sid: str | None = None  # a recording the callee's mailbox does not keep
    recording_deleted_at: datetime | None = None
    notified_at: datetime | None = None
    notice_id: str | None = None  # the reference of the SMS that told it
    availability: str | None = None  # key 4: sent | withheld_privacy
    summarised_at: datetime | None = None


class MissedCallUser(Stored):
    """missed_call_users/{msisdn}: a subscriber's options and service state."""

    msisdn: str | None = None
    registered: bool = False
    registered_at: datetime | None = None
    unregistered_at: datetime | None = None
    lapsed_at: datetime | None = None
    privacy: bool = False
    blacklist: list[str] = Field(default_factory=list)
    whitelist: list[str] = Field(default_factory=list)
    activation_notice_at: datetime | None = None
    fee_months: list[str] = Field(default_factory=list)  # YYYY-MM charged
    usage: dict[str, int] = Field(default_factory=dict)  # YYYY-MM -> minor units charged per use
    due_at: datetime | None = None  # when the clock looks at the pending calls again
    fee_due_at: datetime | None = None  # when the next monthly fee falls due
    network: NetworkState | None = None
    # The sids of the callee's pending calls, kept by each transaction that makes a call pending or ends one, so a
    # delivery reads them by reference (queries.pending_calls); None: not kept yet (a document older than this field).
    pending_calls: list[str] | None = None
    options_updated_at: datetime | None = None
    options_requested_at: datetime | None = None
    # The mailbox PIN's state stays a mapping: the voicemail line reads it raw (pin.py).
    voicemail_pin: dict[str, Any] | None = None
    voicemail_trust_own_phone: bool = False
    voicemail_pin_failures: list[Any] = Field(default_factory=list)
    voicemail_pin_ok_at: datetime | None = None
    voicemail_locked_at: datetime | None = None


class NoticeCall(Stored):
    """One caller's calls as a D reply tells them."""

    caller: str
    count: int
    first_at: datetime
    last_at: datetime
    choice: str
    other_number: str | None = None
    call_sids: list[str] = Field(default_factory=list)  # the calls counted: a call told again counts once


class Notice(Stored):
    """missed_call_notices/{callee}: the latest attach notice, for the D query."""

    callee: str
    episode: datetime | None = None
    sent_at: datetime
    window_ends_at: datetime
    calls: list[NoticeCall] = Field(default_factory=list)


class Summary(Stored):
    """missed_call_summaries/{callee}: calls that passed retention before the callee came back."""

    callee: str
    count: int = 0
    callers: list[str] = Field(default_factory=list)
    callers_beyond: int = 0  # distinct callers past the list's limit
    first_at: datetime | None = None
    last_at: datetime | None = None
    updated_at: datetime | None = None


class Voicemail(Stored):
    """voicemails/{call_sid}: a voice message left with key 1."""

    QUERIED = frozenset({"callee", "deleted", "delete_after", "recorded_at", "called_at"})

    call_sid: str
    callee: str
    caller: str
    recording_sid: str | None = None
    recording_url: str | None = None
    seconds: int | None = None
    called_at: datetime
    recorded_at: datetime
    heard_at: datetime | None = None
    delete_after: datetime
    deleted: bool = False
    deleted_at: datetime | None = None
    deleted_by: str | None = None  # callee | retention | number_reassigned
    recording_deleted_at: datetime | None = None


class ChargeRecord(Stored):
    """missed_call_charges/{message_id}: what one final SMS of this service cost, or why nothing."""

    QUERIED = frozenset({"payer", "month", "at"})

    message_id: str
    payer: str
    billing: str
    reference: str | None = None
    template: str | None = None
    status: str
    price: int
    amount: int
    charged: bool
    why_not: str | None = None
    month: str
    entry_id: str | None = None
    at: datetime
    recorded_at: datetime
    event_id: str
