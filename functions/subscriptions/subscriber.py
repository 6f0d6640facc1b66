"""The subscriber an event is about, as this service reads them in its transaction, and the SMS it sends them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from google.cloud import firestore

from functions.subscriptions import lifecycle, wording
from functions.subscriptions.config import PRESETS, Catalogue
from functions.subscriptions.documents import BOOKS, Book, Status
from functions.subscriptions.refusal import Refusal
from functions.subscriptions.signup import offer_of
from shared import archive, consent, ledger, localtime, runtime, store
from shared.events import SmsSend, SubscriptionFact
from shared.msisdn import mask
from shared.operator import OperatorProfile

logger = logging.getLogger("vas.subscriptions")

SERVICE_MARK = "subscriptions"  # how this service signs a former owner's archive it has filed


@dataclass(frozen=True)
class Subscriber:
    """`subscribers/{msisdn}` as this service needs it: language, zone, line state and ownership."""

    msisdn: str
    language: str
    zone: tzinfo
    active: bool
    tariff_plan: str | None
    owner_since: datetime | None
    former_owner_archive: str | None


def book_ref(ctx: runtime.Context[Any], msisdn: str) -> firestore.DocumentReference:
    return ctx.doc(BOOKS, msisdn)


def read(
    ctx: runtime.Context[Any], msisdn: str, profile: OperatorProfile
) -> tuple[Subscriber, Book, dict[str, Any] | None]:
    """The subscriber, their book (empty when none) and the book as stored, in one round trip; not one: refused."""
    subscriber_ref = ctx.doc(store.SUBSCRIBERS, msisdn)
    docs = ctx.read(subscriber_ref, book_ref(ctx, msisdn))
    found, stored = docs.get(subscriber_ref), docs.get(book_ref(ctx, msisdn))
    if found is None or found.get("status") is None:
        raise runtime.Rejected(f"{mask(msisdn)} is not a subscriber of {profile.name}")
    subscriber = Subscriber(
        msisdn=msisdn,
        language=profile.language_for(found.get("language")),
        zone=localtime.zone_for(msisdn, profile.timezone),
        active=found.get("status") == "active",
        tariff_plan=found.get("tariff_plan"),
        owner_since=found.get("owner_since"),
        former_owner_archive=found.get("former_owner_archive"),
    )
    return subscriber, Book.from_document(msisdn, stored), stored


@dataclass
class Session:
    """One event's subscriber as read in its transaction: the operator, the catalogue, the person, their book."""

    ctx: runtime.Context[Any]
    profile: OperatorProfile
    catalogue: Catalogue
    subscriber: Subscriber
    book: Book
    stored: dict[str, Any] | None  # the book as read (what an old owner left, when it is theirs)
    reference: str  # what every SMS of this event names
    old: OldOwners | None = None  # the old owner's book, still to be filed before the first write

    def start_writing(self) -> None:
        """Every read is done: file what the old owner left first (once), so none of it is read as the new owner's."""
        if self.old is not None:
            file_old_owners(self.ctx, self.old)
            self.old = None

    @property
    def language(self) -> str:
        return self.subscriber.language

    def open_account(self) -> ledger.Book:
        """The subscriber's ledger account in the transaction (a provisioned line without one starts empty)."""
        return ledger.open(self.ctx, self.subscriber.msisdn, create=True)

    def save_book(self) -> None:
        """Write the book with the moment the clock must next look at it (the renewals' own reckoning)."""
        self.book = lifecycle.scheduled(self.book, self.catalogue, zone=self.profile.timezone)
        self.book.at(self.ctx.now)
        self.ctx.txn.set(book_ref(self.ctx, self.book.msisdn), self.book.to_document())

    def tell(self, template: str, params: dict[str, Any], *, purpose: str) -> None:
        """Queue one SMS from the catalogue's short code, amounts written in the operator's currency."""
        catalogue = self.catalogue
        common = {
            "short_code": catalogue.short_code,
            "ussd": catalogue.ussd_code,
            "hotline": self.profile.short_codes.hotline,
            "plan_ussd": catalogue.plan_change.ussd_code if catalogue.plan_change else catalogue.ussd_code,
        }
        self.ctx.emit(
            "sms.send",
            SmsSend(
                to=self.subscriber.msisdn,
                template=template,
                params={**common, **wording.money(params, self.profile.currency)},
                language=self.language,
                sender=catalogue.short_code,
                reference=self.reference,
            ),
            purpose=purpose,
        )

    def refuse(self, refusal: Refusal, params: dict[str, Any]) -> None:
        """Tell the subscriber why nothing happened, in their language."""
        self.tell(wording.refusal_text(refusal), {**refusal.params, **params}, purpose="refused")

    def fact(self, topic: str, item_id: str, product: str, status: Status, price: int, **more: Any) -> None:
        """Tell other services what happened to one subscription (subscription.started, cancelled, …)."""
        fact = SubscriptionFact(
            subscription_id=item_id,
            msisdn=self.subscriber.msisdn,
            product=product,
            status=status,
            price=price,
            currency=self.profile.currency.code,
            at=self.ctx.now,
            **more,
        )
        self.ctx.emit(topic, fact, purpose=f"{topic}/{item_id}")


def session(ctx: runtime.Context[Any], msisdn: str, reference: str) -> Session:
    """The service in force and the subscriber an event is about (not one: the event is refused).

    A number whose old owner's book this service has not filed yet (the reassignment is still on
    its way) reads as a new subscriber's: the book is filed by `start_writing`.
    """
    profile, catalogue = PRESETS.in_force()
    subscriber, book, stored = read(ctx, msisdn, profile)
    old = left_behind(ctx, subscriber, stored)
    if old is not None:
        book = Book.empty(msisdn)
    return Session(ctx, profile, catalogue, subscriber, book, stored, reference, old)


def previous_owner(subscriber: Subscriber, requested_at: datetime) -> Refusal | None:
    """A request made before the number passed to its present owner was the old owner's: refused, naming when."""
    if not archive.asked_before_owner(requested_at, subscriber.owner_since):
        return None
    assert subscriber.owner_since is not None  # asked_before_owner says so
    since = localtime.moment(subscriber.owner_since, subscriber.zone, subscriber.language)
    return Refusal("previous_owner", "subscriptions.refused.previous_owner", {"since": since})


# --- a recycled number ----------------------------------------------------------------------


@dataclass(frozen=True)
class OldOwners:
    """What the number's old owner left in this service, read in the transaction: their book and waiting question."""

    archive_id: str
    msisdn: str
    book: dict[str, Any] | None
    question: tuple[firestore.DocumentReference, dict[str, Any]] | None


def old_owners(ctx: runtime.Context[Any], archive_id: str, msisdn: str, stored: dict[str, Any] | None) -> OldOwners:
    """Read what `file_old_owners` moves (reads only, so the caller may go on reading)."""
    question = None
    pending = Book.model_validate(stored).pending if stored is not None else None
    if pending is not None:
        pointer = ctx.doc(consent.PENDING, consent.pending_key(offer_of(pending.product), msisdn))
        waiting = ctx.read(pointer).get(pointer)
        question = (pointer, waiting) if waiting is not None else None
    return OldOwners(archive_id, msisdn, stored, question)


def file_old_owners(ctx: runtime.Context[Any], old: OldOwners) -> None:
    """Move the old owner's book and the question it left waiting to their archive, and sign the archive."""
    if old.question is not None:
        archive.move(ctx, old.archive_id, *old.question)
    if old.book is not None:
        archive.move(ctx, old.archive_id, book_ref(ctx, old.msisdn), old.book)
    ctx.txn.set(archive.root(ctx, old.archive_id), {"archived_by": {SERVICE_MARK: ctx.now}}, merge=True)
    logger.info("old owner's subscriptions archived", extra={"msisdn": old.msisdn, "had_book": old.book is not None})


def signed(root: dict[str, Any] | None) -> bool:
    """Whether a former owner's archive (its root document) says this service has filed their book."""
    return SERVICE_MARK in ((root or {}).get("archived_by") or {})


def filed_already(ctx: runtime.Context[Any], archive_id: str) -> bool:
    """Whether this service has filed the old owner's book under `archive_id`."""
    root = archive.root(ctx, archive_id)
    return signed(ctx.read(root).get(root))


def left_behind(ctx: runtime.Context[Any], subscriber: Subscriber, stored: dict[str, Any] | None) -> OldOwners | None:
    """What the old owner left, still to be filed before the new owner's first request is applied; else None."""
    archive_id = subscriber.former_owner_archive
    if subscriber.owner_since is None or archive_id is None or filed_already(ctx, archive_id):
        return None
    return old_owners(ctx, archive_id, subscriber.msisdn, stored)
