"""The wrapper every Pub/Sub-triggered function uses.

decode → validate → the handler's domain work inside ONE Firestore transaction that also creates
the `processed` marker (consumer + event id) and stores the outbox → publish the outbox after
commit. On redelivery the marker exists: the stored outbox is published again (follow-up ids are
deterministic, so consumers downstream drop the copies) and nothing else happens.

- The marker carries `expire_at` (store.MARKER_TTL after the commit): Firestore's TTL policy
  deletes it long after the last redelivery Pub/Sub could make.
- An invalid message is recorded in `rejected` and acknowledged: retrying cannot fix it.
- Any other exception propagates: functions-framework answers 500, Pub/Sub retries with the
  subscription's backoff and, after max delivery attempts, moves the message to the dead-letter
  topic (stored by functions/ops for an operator to list and replay).
- `after_commit` is for effects outside Firestore and Pub/Sub (calling the carrier's API): it runs
  after the commit and again on every redelivery, so it must check its own record first — except
  on a first delivery (`ctx.redelivered` is False), when the handler's own committed writes are
  the record and `ctx.handoff` carries what it left there: a value of the consumer's own type
  (`runtime.Context[DiscardHandoff]`), None on a redelivery.
- `before` is for a call outside Firestore whose answer the transaction records (a card payment):
  a transaction must never hold an HTTP call, and its retries on contention must never repeat one.
  It runs before the transaction, on a delivery whose marker is not there yet (a redelivery of a
  processed event calls nothing), and again on a delivery after a crash, so the call must be
  idempotent itself (the payment gateway's idempotency key); what it returns is `ctx.prepared`.
  `Rejected` raised there is recorded like the handler's.
- `ctx.read(*refs)` reads several documents in one round trip of the transaction; the answer is a
  `Documents`, asked by reference (`docs.get(ref)`, `docs.model(ref, Model)`), never by path string.
"""

from __future__ import annotations

import base64
import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, cast

import functions_framework
from cloudevents.http import CloudEvent
from google.api_core.exceptions import Aborted
from google.cloud import firestore
from pydantic import BaseModel, ValidationError

from shared import bus, catalog, log, settings, store
from shared.events import Envelope, Payload, derive_event_id, utcnow

logger = logging.getLogger("vas.runtime")

Handler = Callable[["Context[Any]", Any], None]
AfterCommit = Callable[["Context[Any]", Any], None]
Before = Callable[[Any], Any]  # (payload) -> what the handler finds in ctx.prepared
Handoff = TypeVar("Handoff")
Model = TypeVar("Model", bound=BaseModel)
Result = TypeVar("Result")


class ConsumerEntry(Protocol):
    """A consumer's CloudEvent function, carrying what tests and the local stack run it with."""

    consumer: str
    handler: Handler
    after_commit: AfterCommit | None
    before: Before | None

    def __call__(self, cloud_event: CloudEvent) -> None: ...


class Rejected(Exception):
    """Raised by a handler for input no retry can fix (recorded and acknowledged)."""


class Documents:
    """Documents read in one round trip, asked for by their reference; a missing one is None."""

    def __init__(self, found: Mapping[str, dict[str, Any] | None]):
        self._found = dict(found)

    def get(self, ref: firestore.DocumentReference) -> dict[str, Any] | None:
        """The document's fields; KeyError when `ref` was not part of the read (a bug, not an absence)."""
        return self._found[ref.path]

    def exists(self, ref: firestore.DocumentReference) -> bool:
        return self.get(ref) is not None

    def model(self, ref: firestore.DocumentReference, model: type[Model]) -> Model | None:
        """The document validated as `model`; None when it does not exist."""
        fields = self.get(ref)
        return None if fields is None else model.model_validate(fields)


@dataclass
class Context(Generic[Handoff]):
    """What a handler may touch: the transaction, the event, and the outbox."""

    consumer: str
    event: Envelope
    db: firestore.Client
    txn: firestore.Transaction
    now: datetime = field(default_factory=utcnow)
    outbox: list[Envelope] = field(default_factory=list)
    # True when the processed marker already existed: the handler did not run on this delivery.
    redelivered: bool = False
    # What the handler leaves for after_commit on a first delivery (None on a redelivery).
    handoff: Handoff | None = None
    # What the consumer's `before` returned, outside the transaction (None without one).
    prepared: Any = None

    def emit(self, topic: str, payload: Payload | dict, purpose: str) -> Envelope:
        """Queue a follow-up event; its id is derived from this event's id and `purpose`."""
        envelope = catalog.make_envelope(
            topic,
            payload,
            event_id=derive_event_id(self.event.id, f"{self.consumer}/{purpose}"),
            correlation_id=self.event.correlation_id,
            source=self.consumer,
        )
        self.outbox.append(envelope)
        return envelope

    def get(self, ref: firestore.DocumentReference) -> firestore.DocumentSnapshot:
        return ref.get(transaction=self.txn)

    def doc(self, collection: str, doc_id: str) -> firestore.DocumentReference:
        return self.db.collection(collection).document(doc_id)

    def read(self, *refs: firestore.DocumentReference | Iterable[firestore.DocumentReference]) -> Documents:
        """Several documents in one round trip of the transaction (references or lists of them)."""
        flat = [ref for item in refs for ref in ([item] if isinstance(item, firestore.DocumentReference) else item)]
        unique = list({ref.path: ref for ref in flat}.values())
        return Documents(
            {
                snap.reference.path: (snap.to_dict() if snap.exists else None)
                for snap in self.db.get_all(unique, transaction=self.txn)
            }
        )


class UndecodablePush(ValueError):
    """A push body whose `data` is not base64: no delivery of it will ever be readable."""

    def __init__(self, message_id: str, raw: str, attributes: dict[str, str], error: Exception):
        super().__init__(f"message data is not valid base64: {error}")
        self.message_id, self.raw, self.attributes = message_id, raw, attributes


def decode_push(cloud_event: CloudEvent) -> tuple[str, bytes, dict[str, str]]:
    """The Pub/Sub message inside a CloudEvent made by functions-framework from a push body."""
    message = cloud_event.data["message"]
    message_id, raw, attributes = (
        message.get("messageId") or cloud_event["id"],
        message.get("data") or "",
        message.get("attributes") or {},
    )
    try:
        return message_id, base64.b64decode(raw, validate=True), attributes
    except (TypeError, ValueError) as error:  # binascii.Error is a ValueError
        raise UndecodablePush(message_id, str(raw), attributes, error) from None


# Cloud Scheduler publishes the same fixed body on every tick (terraform/scheduler.tf), so the
# envelope's id repeats; this attribute marks such a tick, and the id is made unique per message
# (else the processed marker would drop every tick after the first).
SCHEDULE_ATTRIBUTE = "vas_schedule"


def per_tick(envelope: Envelope, message_id: str) -> Envelope:
    """A scheduler tick's envelope with an id, correlation id and time of its own Pub/Sub message."""
    tick_id = f"{envelope.id}:{message_id}"
    return envelope.model_copy(update={"id": tick_id, "correlation_id": tick_id, "occurred_at": utcnow()})


def record_rejection(consumer: str, message_id: str, data: bytes, attributes: dict, reason: str) -> None:
    """Keep an invalid message for an operator, its secret fields blanked (events.SECRET)."""
    text, hidden = catalog.redacted_message(data, catalog.load().consumer(consumer).topic)
    store.db().collection(store.REJECTED).document(f"{consumer}:{message_id}").set(
        {
            "consumer": consumer,
            "message_id": message_id,
            "data": text,
            "redacted": hidden,
            "attributes": attributes,
            "reason": reason[:4000],
            "at": firestore.SERVER_TIMESTAMP,
        }
    )
    logger.warning("rejected message", extra={"consumer": consumer, "message_id": message_id, "reason": reason[:500]})


def _reason(error: ValueError) -> str:
    """Why a message is invalid, without the values it carried (a secret code would be one of them)."""
    if not isinstance(error, ValidationError):
        return str(error)
    problems = [
        f"{'.'.join(map(str, item['loc'])) or '(message)'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    ]
    return f"{error.title}: " + "; ".join(problems)


def process(
    consumer: str,
    handler: Handler,
    message_id: str,
    data: bytes,
    attributes: dict,
    after_commit: AfterCommit | None = None,
    before: Before | None = None,
) -> str:
    """Run one delivery; returns 'processed', 'duplicate' or 'rejected'. Raises on transient failure."""
    spec = catalog.load().consumer(consumer)
    model = catalog.load().topic(spec.topic).payload_model
    try:
        envelope = bus.decode(data)
        if attributes.get(SCHEDULE_ATTRIBUTE):
            envelope = per_tick(envelope, message_id)
        if envelope.type != spec.topic:
            raise ValueError(f"event type {envelope.type} arrived on {spec.topic}")
        payload = model.model_validate(envelope.data)
    except (ValueError, ValidationError) as error:  # ValidationError and JSON errors are ValueErrors
        record_rejection(consumer, message_id, data, attributes, _reason(error))
        return "rejected"

    token = log.correlation_id.set(envelope.correlation_id)
    try:
        db = store.db()
        marker = db.collection(store.PROCESSED).document(f"{consumer}:{envelope.id}")
        try:
            prepared = before(payload) if before is not None and not marker.get().exists else None
            duplicate, ctx = _apply(db, marker, consumer, envelope, handler, payload, prepared)
        except Rejected as refusal:
            record_rejection(consumer, message_id, data, attributes, str(refusal))
            return "rejected"
        bus.publish(ctx.outbox)
        if after_commit is not None:
            after_commit(ctx, payload)
        outcome = "duplicate" if duplicate else "processed"
        logger.info(
            "event %s",
            outcome,
            extra={
                "consumer": consumer,
                "event_id": envelope.id,
                "event_type": envelope.type,
                "follow_ups": len(ctx.outbox),
            },
        )
        return outcome
    finally:
        log.correlation_id.reset(token)


def _apply(
    db: firestore.Client,
    marker: firestore.DocumentReference,
    consumer: str,
    envelope: Envelope,
    handler: Handler,
    payload: Payload,
    prepared: Any = None,
) -> tuple[bool, Context[Any]]:
    @firestore.transactional
    def in_transaction(txn: firestore.Transaction) -> tuple[bool, Context[Any]]:
        snapshot = marker.get(transaction=txn)
        ctx: Context[Any] = Context(
            consumer=consumer, event=envelope, db=db, txn=txn, redelivered=snapshot.exists, prepared=prepared
        )
        if snapshot.exists:
            ctx.outbox = [Envelope.model_validate(item) for item in snapshot.get("outbox")]
            return True, ctx
        handler(ctx, payload)
        txn.create(
            marker,
            {
                "consumer": consumer,
                "event_id": envelope.id,
                "event_type": envelope.type,
                "outbox": [item.model_dump(mode="json") for item in ctx.outbox],
                "at": firestore.SERVER_TIMESTAMP,
                store.EXPIRES_AT: utcnow() + store.MARKER_TTL,  # real time: Firestore's TTL deletes it then
            },
        )
        return False, ctx

    return transact(db, in_transaction, label=consumer)


TXN_ROUNDS = 6
TXN_ATTEMPTS_PER_ROUND = 3


def _contended(error: Exception) -> bool:
    """Firestore gave up on contention (an abort, or the client's 'Failed to commit' after its attempts)."""
    return isinstance(error, Aborted) or str(error).startswith("Failed to commit transaction")


def transact(
    db: firestore.Client, transactional: Callable[[firestore.Transaction], Result], *, label: str = ""
) -> Result:
    """Run a `@firestore.transactional` function, retrying contention in short rounds with random pauses.

    The client's own retries come back at once, so two transactions on one document (a main and
    a bonus top-up of one account, say) can abort each other round after round; the jitter lets
    one of them win. Any other error (the handler's own) is raised at once.
    """
    for round_ in range(TXN_ROUNDS - 1):
        try:
            return transactional(db.transaction(max_attempts=TXN_ATTEMPTS_PER_ROUND))
        except (Aborted, ValueError) as error:
            if not _contended(error):
                raise
            pause = random.uniform(0.05, min(2.0, 0.2 * 2**round_))
            logger.info(
                "transaction contended; retrying",
                extra={"label": label, "round": round_ + 1, "pause_s": round(pause, 3)},
            )
            time.sleep(pause)
    return transactional(db.transaction(max_attempts=TXN_ATTEMPTS_PER_ROUND))


def consumer(
    name: str, after_commit: AfterCommit | None = None, *, before: Before | None = None
) -> Callable[[Handler], ConsumerEntry]:
    """Register `fn(ctx, payload)` as the CloudEvent function of catalog consumer `name` (`before`: see above).

    The entry point keeps the handler's name, which is the catalog's `entry_point`.
    """
    spec = catalog.load().consumer(name)

    def register(handler: Handler) -> ConsumerEntry:
        if handler.__name__ != spec.entry_point:
            raise ValueError(f"{name}: entry point is {spec.entry_point}, not {handler.__name__}")

        @functools.wraps(handler)
        def entry(cloud_event: CloudEvent) -> None:
            log.setup(settings.get().function or name, settings.get().log_level)
            try:
                message_id, data, attributes = decode_push(cloud_event)
            except UndecodablePush as undecodable:  # acknowledged like any invalid message
                record_rejection(
                    name, undecodable.message_id, undecodable.raw.encode(), undecodable.attributes, str(undecodable)
                )
                return
            process(name, handler, message_id, data, attributes, after_commit, before)

        registered = cast(ConsumerEntry, functions_framework.cloud_event(entry))
        registered.consumer, registered.handler, registered.after_commit = name, handler, after_commit
        registered.before = before
        return registered

    return register


def publish_new(
    topic: str,
    payload: Payload | dict | BaseModel,
    *,
    event_id: str,
    correlation_id: str | None = None,
    source: str = "",
    timeout: float = 30.0,
    immediate: bool = False,
) -> Envelope:
    """Publish a first event (from a webhook, the BSS, a CLI): no outbox, the id makes it idempotent.

    Webhooks pass a `timeout` shorter than their gateway's deadline, so an outage is answered in
    time, and `immediate` so the event is not held back waiting for a batch (bus.publish).
    """
    data = payload if isinstance(payload, (Payload, dict)) else payload.model_dump()
    envelope = catalog.make_envelope(topic, data, event_id=event_id, correlation_id=correlation_id, source=source)
    bus.publish([envelope], timeout=timeout, immediate=immediate)
    return envelope
