"""One request type for every channel: who asks, what the edge read for them, and what they sent.

The webhook parses the channel's input (a USSD screen's `UssdRequest`, an SMS's `SmsMessage`, a
call's `InboundCall`), reads the caller's subscriber record with every document the service named
in the same round trip, and hands the service one `Request`. What a service reads first is
declared the same way on every channel: `Reads`, from the parsed input and the operator profile;
the handler asks for each by collection and id (`request.document(collection, id)`), never by a
Firestore path or reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from functions.edge.subscribers import Caller
from shared.ledger import Account
from shared.operator import OperatorProfile

Channel = Literal["ussd", "sms", "voice"]
Input = TypeVar("Input")
Model = TypeVar("Model", bound=BaseModel)
DocumentPath = tuple[str, str]  # (collection, document id)
Reads = Callable[[Input, OperatorProfile], Iterable[DocumentPath]]


class NotRead(KeyError):
    """A handler asked for a document its entry's `reads` did not name: a bug, not an absence."""

    def __init__(self, collection: str, document_id: str):
        super().__init__(f"{collection}/{document_id} was not read for this request; name it in the entry's reads")


@dataclass(frozen=True)
class RequestDocuments:
    """The documents read for one request, by (collection, document id); an absent one is None."""

    found: Mapping[DocumentPath, dict[str, Any] | None] = field(default_factory=dict)
    # When each existing document was last written, as read: a conditional write on it needs no second read.
    versions: Mapping[DocumentPath, Any] = field(default_factory=dict)

    def as_read(self, collection: str, document_id: str) -> tuple[dict[str, Any] | None, Any] | None:
        """(the document, its update time) as read; None when its version is unknown (read it again to write)."""
        fields = self.get(collection, document_id)
        version = self.versions.get((collection, document_id))
        return (fields, version) if fields is None or version is not None else None

    def get(self, collection: str, document_id: str) -> dict[str, Any] | None:
        """The document's fields, None when it does not exist; NotRead when it was not part of the read."""
        try:
            return self.found[(collection, document_id)]
        except KeyError:
            raise NotRead(collection, document_id) from None

    def model(self, collection: str, document_id: str, model: type[Model]) -> Model | None:
        """The document validated as `model`; None when it does not exist."""
        fields = self.get(collection, document_id)
        return None if fields is None else model.model_validate(fields)


@dataclass(frozen=True)
class Request(Generic[Input]):
    """Everything a service may use to answer: the channel's parsed input, the caller and what was read."""

    channel: Channel
    input: Input  # the channel's parsed input
    caller: Caller
    profile: OperatorProfile
    now: datetime  # when the webhook took the request: every answer's clock
    account: Account | None = None  # the caller's ledger account, when the service asked for it
    # Every document read for this request: the caller's subscriber record and whatever the
    # service's `reads` asked for, all from one round trip.
    documents: RequestDocuments = field(default_factory=RequestDocuments)
    # False: Firestore could not be read (or the caller's number was withheld): a call is still
    # answered, from what needs nothing read; USSD and SMS say "try later" instead.
    read: bool = True

    def document(self, collection: str, document_id: str) -> dict[str, Any] | None:
        """A document the entry's `reads` named (None: it does not exist); NotRead for any other."""
        return self.documents.get(collection, document_id)

    def as_read(self, collection: str, document_id: str) -> tuple[dict[str, Any] | None, Any] | None:
        """A document the entry's `reads` named and its update time, for a conditional write (api.change_document)."""
        return self.documents.as_read(collection, document_id)

    def model(self, collection: str, document_id: str, model: type[Model]) -> Model | None:
        """A document the entry's `reads` named, validated as `model` (None: it does not exist)."""
        return self.documents.model(collection, document_id, model)
