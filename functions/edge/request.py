"""One request type for every channel: who asks, what the edge read for them, and what they sent.

The webhook parses the channel's input (a USSD screen's `UssdRequest`, an SMS's `SmsMessage`, a
call's `InboundCall`), reads the caller's subscriber record with every document the service named
in the same round trip, and hands the service one `Request`. What a service reads first is
declared the same way on every channel: `Reads`, from the parsed input and the operator profile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypeVar

from functions.edge.subscribers import Caller
from shared.operator import OperatorProfile

Channel = Literal["ussd", "sms", "voice"]
Input = TypeVar("Input")
DocumentPath = tuple[str, str]  # (collection, document id)
Reads = Callable[[Input, OperatorProfile], Iterable[DocumentPath]]


@dataclass(frozen=True)
class Request(Generic[Input]):
    """Everything a service may use to answer: the channel's parsed input, the caller and what was read."""

    channel: Channel
    input: Input  # the channel's parsed input
    caller: Caller
    profile: OperatorProfile
    account: object | None = None  # the ledger account, when the service asked for it
    # Every document read for this request, by path (None: absent): the caller's subscriber
    # record and whatever the service's `reads` asked for, all from one round trip.
    documents: Mapping[str, dict | None] = field(default_factory=dict)
    now: datetime | None = None
    # False: Firestore could not be read (or the caller's number was withheld): a call is still
    # answered, from what needs nothing read; USSD and SMS say "try later" instead.
    read: bool = True
