"""A recycled number (subscriber.reassigned): the old owner's missed-call state goes to the archive.

Everything this service keeps about a subscriber moves to `former_owners/{archive_id}` (shared/
archive.py): their options and mailbox (`missed_call_users`: registration, lists, privacy, the
activation notice, fees and usage this month), a mailbox sign-up still waiting for their YES
(so the new owner's reply cannot confirm it), the D query's notice, the summary, the calls they
missed, their voice messages and the charges they paid. Consent records stay where they are: they
are the old owner's evidence, found by their id. The new owner then starts like any
new subscriber (the activation notice on their first attach). Calls, messages and charges from
the number's effective time on are the new owner's and stay, and so do the options and the
waiting sign-up the new owner asked for from then on (their request's time on each, `OWNERS_TIME`):
the new owner may sign up, and pay, before this event reaches the service. When the new owner
changes their options first, the old owner's are filed at once (`left_behind`), so nothing of
theirs is read as the new owner's, and a question the old owner left waiting confirms nothing.

Voice messages are the old owner's private recordings: they are deleted at the carrier after the
commit (as are recordings of calls the carrier was still to discard); `recording_deleted_at` on
the archived document records it, so a redelivery deletes only what is still there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from functions.missed_calls import documents, options, voicemail
from functions.missed_calls.config import SERVICE  # also how this service signs an archive it has filed
from functions.missed_calls.delivery import Callee
from functions.missed_calls.models import MissedCallUser, Voicemail
from shared import archive, consent, runtime, store
from shared.events import utcnow

# Per-subscriber documents keyed by the number.
KEYED_BY_NUMBER = (documents.USERS, documents.NOTICES, documents.SUMMARIES)
# Documents of the number's calls, messages and charges: (collection, field naming the number, its time field).
ABOUT_THE_NUMBER = (
    (documents.MISSED_CALLS, "callee", "called_at"),
    (documents.VOICEMAILS, "callee", "called_at"),
    (documents.CHARGES, "payer", "at"),
)
# Per-number documents a request of the owner writes, and the field with that request's time.
OWNERS_TIME = {documents.USERS: "options_requested_at", consent.PENDING: "asked_at"}
# The recording field a document of each collection may still hold at the carrier.
RECORDINGS = {documents.VOICEMAILS: "recording_sid", documents.MISSED_CALLS: "discarded_recording_sid"}

Found = list[tuple[firestore.DocumentReference, dict[str, Any]]]


def old_owners_documents(ctx: runtime.Context[Any], msisdn: str, before: datetime) -> Found:
    """Every document of this service that is the number's old owner's, read in the transaction."""
    keyed = [ctx.doc(collection, msisdn) for collection in KEYED_BY_NUMBER]
    keyed.append(ctx.doc(consent.PENDING, consent.pending_key(options.MAILBOX_OFFER, msisdn)))
    docs = ctx.read(keyed)
    found = [
        (ref, document)
        for ref in keyed
        if (document := docs.get(ref)) is not None and _asked_before(ref.parent.id, document, before)
    ]
    for collection, field, at in ABOUT_THE_NUMBER:
        query = ctx.db.collection(collection).where(filter=FieldFilter(field, "==", msisdn))
        found += [
            (snap.reference, document)
            for snap in ctx.txn.get(query)
            if (document := snap.to_dict()) is not None and snap.get(at) < before  # a query yields existing ones
        ]
    return found


def _asked_before(collection: str, document: dict[str, Any], before: datetime) -> bool:
    """Whether a per-number document is the old owner's: not written by a request made on or after `before`."""
    field = OWNERS_TIME.get(collection)
    asked = document.get(field) if field else None
    return asked is None or asked < before


def asked_at(user: MissedCallUser, requested_at: datetime) -> dict[str, datetime]:
    """The user field that says when its owner last asked for a change (the latest, whatever the delivery order)."""
    return {OWNERS_TIME[documents.USERS]: max(requested_at, user.options_requested_at or requested_at)}


def left_behind(ctx: runtime.Context[Any], callee: Callee) -> str | None:
    """The archive of the old owner whose options the number's user document still holds, or None.

    None: the number was never reassigned, the document is the present owner's (or absent), or
    this service has already archived the old owner (what is live since then is the new owner's).
    """
    owner_since, archive_id = callee.subscriber.get("owner_since"), callee.subscriber.get("former_owner_archive")
    asked = callee.user.options_requested_at
    if (
        not callee.user_exists
        or owner_since is None
        or archive_id is None
        or (asked is not None and asked >= owner_since)
    ):
        return None
    root = archive.root(ctx, archive_id)
    done = (ctx.read(root).get(root) or {}).get("archived_by") or {}
    return None if SERVICE in done else archive_id


def archived_by_this_service(ctx: runtime.Context[Any], archive_id: str) -> None:
    """Record on the old owner's archive that this service has filed what was theirs."""
    ctx.txn.set(archive.root(ctx, archive_id), {"archived_by": {SERVICE: ctx.now}}, merge=True)


def archived_form(collection: str, document: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """What the archive keeps: a voice message the old owner never deleted counts as deleted now."""
    if collection != documents.VOICEMAILS or document.get("deleted"):
        return document
    return {
        **document,
        **(voicemail.deleted(Voicemail.model_validate(document), by="number_reassigned", now=now) or {}),
    }


def recording_to_delete(collection: str, document: dict[str, Any]) -> str | None:
    """The recording an archived document still holds at the carrier, if any."""
    field = RECORDINGS.get(collection)
    if field is None or document.get("recording_deleted_at"):
        return None
    return document.get(field)


def archive_all(ctx: runtime.Context[Any], archive_id: str, found: Found) -> list[tuple[str, str]]:
    """Move every found document to the archive; returns (archived path, recording sid) still to delete."""
    pending = []
    for ref, document in found:
        collection = ref.parent.id
        archive.move(ctx, archive_id, ref, archived_form(collection, document, now=ctx.now))
        sid = recording_to_delete(collection, document)
        if sid:
            pending.append((archive.filed(ctx, archive_id, collection, ref.id).path, sid))
    return pending


def still_at_carrier(db: firestore.Client, archive_id: str) -> list[tuple[str, str]]:
    """On a redelivery: (archived path, recording sid) of the recordings no delivery has deleted yet."""
    root = db.collection(store.FORMER_OWNERS).document(archive_id)
    return [
        (snap.reference.path, sid)
        for collection in RECORDINGS
        for snap in root.collection(collection).stream()
        if (sid := recording_to_delete(collection, snap.to_dict()))
    ]


def delete_recordings(db: firestore.Client, pending: list[tuple[str, str]]) -> None:
    """Delete each recording at the carrier and record it on the archived document."""
    for path, sid in pending:
        voicemail.delete_at_carrier(sid)
        db.document(path).update({"recording_deleted_at": utcnow()})
