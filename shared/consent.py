"""Consent to a paid sign-up (DESIGN, "Consent, secrets and the web"): one piece for every service.

Anything paid a subscriber signs up for (the voice mailbox first; subscriptions and offers next)
is asked first, naming its price and period, and charged only once confirmed, in the same
transaction that writes the consent record: the channel, the exact text shown, when, the session
or message ids, and both answers (the request and the confirmation).

- USSD asks and is answered within one session: the edge builds the whole record (`given`) and the
  service's event carries it.
- SMS asks in one message and is answered by a reply within `SMS_REPLY_WINDOW`: the service
  writes the pending record (`asked`); `consent_pending/{offer}:{msisdn}` points at it, so the
  edge can tell at once that nothing is waiting, and the reply is applied with `answered`.

consents/{id}                       one sign-up question: Consent (below), kept after it is decided
consent_pending/{offer}:{msisdn}    the question waiting for an SMS reply: consent_id, expires_at
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.msisdn import Msisdn

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "consents"
PENDING = "consent_pending"
SMS_REPLY_WINDOW = timedelta(minutes=15)  # long enough to read and answer, short enough to stay one decision

Channel = Literal["sms", "ussd", "ivr", "web"]
Status = Literal["pending", "confirmed", "declined", "expired", "replaced"]

# The reply words that confirm or decline, in the platform's five languages (matched casefolded);
# every service's SMS keywords take them from here, so a subscriber confirms the same way everywhere.
YES_WORDS = ["YES", "Y", "ДА", "HA", "ХА", "ҲА", "ООБА", "是", "是的", "确认", "確認"]
# Uzbek's o‘/oʻ is typed with any of ' ‘ ’ ʻ: each spelling of YO'Q is a NO.
NO_WORDS = ["NO", "N", "НЕТ", "YO'Q", "YO‘Q", "YO’Q", "YOʻQ", "YOQ", "ЙЎҚ", "ЖОК", "否", "不", "不要"]
# The word a text asks the subscriber to reply with, per language.
YES_WORD = {"en": "YES", "ru": "ДА", "uz": "HA", "ky": "ООБА", "zh": "是"}
NO_WORD = {"en": "NO", "ru": "НЕТ", "uz": "YO'Q", "ky": "ЖОК", "zh": "否"}


class Answer(BaseModel):
    """One answer of the subscriber: what they typed or pressed, where (message or session), when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(max_length=160)
    reference: str = Field(min_length=1, max_length=200, description="The SMS's message id or the USSD session")
    at: AwareDatetime


class Consent(BaseModel):
    """A paid sign-up asked of one subscriber, with what was shown and both answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    offer: str = Field(
        pattern=r"^[a-z0-9_.-]{1,120}$",
        description="What is sold, e.g. missed_calls.mailbox, voice_plus.<campaign>.<product>",
    )
    msisdn: Msisdn
    channel: Channel
    language: str = Field(max_length=8)
    shown: str = Field(min_length=1, max_length=1600, description="The exact text the subscriber read")
    price: int = Field(ge=0, description="Minor units of `currency`")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    period: Literal["once", "day", "week", "month", "year"]
    request: Answer
    confirmation: Answer | None = None
    status: Status
    expires_at: AwareDatetime | None = Field(default=None, description="SMS: the reply must come before")
    decided_at: AwareDatetime | None = None

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"


def consent_id(offer: str, msisdn: str, request_reference: str) -> str:
    """The same request always names the same record (a redelivered event rewrites, never duplicates)."""
    return hashlib.sha256(f"{offer}/{msisdn}/{request_reference}".encode()).hexdigest()[:32]


def pending_key(offer: str, msisdn: str) -> str:
    return f"{offer}:{msisdn}"


def asked(
    *,
    offer: str,
    msisdn: str,
    channel: Channel,
    language: str,
    shown: str,
    price: int,
    currency: str,
    period: str,
    request: Answer,
    window: timedelta = SMS_REPLY_WINDOW,
) -> Consent:
    """A question waiting for its reply until `window` after the request."""
    return Consent(
        id=consent_id(offer, msisdn, request.reference),
        offer=offer,
        msisdn=msisdn,
        channel=channel,
        language=language,
        shown=shown,
        price=price,
        currency=currency,
        period=period,
        request=request,
        status="pending",
        expires_at=request.at + window,
    )


def given(
    *,
    offer: str,
    msisdn: str,
    channel: Channel,
    language: str,
    shown: str,
    price: int,
    currency: str,
    period: str,
    request: Answer,
    confirmation: Answer,
    accepted: bool,
) -> Consent:
    """A question asked and answered in one dialogue (a USSD session)."""
    return Consent(
        id=consent_id(offer, msisdn, request.reference),
        offer=offer,
        msisdn=msisdn,
        channel=channel,
        language=language,
        shown=shown,
        price=price,
        currency=currency,
        period=period,
        request=request,
        confirmation=confirmation,
        status="confirmed" if accepted else "declined",
        decided_at=confirmation.at,
    )


def answered(consent: Consent, reply: Answer, *, accepted: bool) -> Consent:
    """The pending question after its reply: confirmed, declined, or expired when the reply came too late."""
    if consent.status != "pending":
        return consent
    late = consent.expires_at is not None and reply.at >= consent.expires_at
    status = "expired" if late else ("confirmed" if accepted else "declined")
    return consent.model_copy(update={"confirmation": reply, "status": status, "decided_at": reply.at})


def replaced(consent: Consent, now: datetime) -> Consent:
    """A pending question a newer request of the same offer takes the place of."""
    return (
        consent.model_copy(update={"status": "replaced", "decided_at": now}) if consent.status == "pending" else consent
    )


# --- Firestore, inside the consumer's transaction (shared.runtime.Context) ---------------------


class HandlerContext(Protocol):
    """What these helpers use of a handler's shared.runtime.Context (which imports this module, through the events).

    No `handoff`: a helper written against this protocol cannot touch the handler's hand-off at all.
    """

    @property
    def txn(self) -> firestore.Transaction: ...

    def get(self, ref: firestore.DocumentReference) -> firestore.DocumentSnapshot: ...

    def doc(self, collection: str, doc_id: str) -> firestore.DocumentReference: ...


def read_pending(ctx: HandlerContext, offer: str, msisdn: str) -> Consent | None:
    """The question waiting for this subscriber's reply about `offer` (expired or not), if any."""
    pointer = ctx.get(ctx.doc(PENDING, pending_key(offer, msisdn))).to_dict()
    if not pointer or not pointer.get("consent_id"):
        return None
    stored = ctx.get(ctx.doc(COLLECTION, pointer["consent_id"])).to_dict()
    return Consent.model_validate(stored) if stored else None


def write(ctx: HandlerContext, consent: Consent) -> None:
    """Keep the record; point at it while it waits for a reply, drop the pointer once decided."""
    ctx.txn.set(ctx.doc(COLLECTION, consent.id), consent.model_dump())
    pointer = ctx.doc(PENDING, pending_key(consent.offer, consent.msisdn))
    if consent.status == "pending":
        # asked_at: a recycled number's reassignment keeps the new owner's question, archives the old owner's.
        ctx.txn.set(
            pointer, {"consent_id": consent.id, "expires_at": consent.expires_at, "asked_at": consent.request.at}
        )
    elif consent.channel == "sms" and consent.status != "replaced":  # the newer question keeps the pointer
        ctx.txn.delete(pointer)
