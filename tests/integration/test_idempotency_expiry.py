"""Idempotency records expire: every document the runtime writes to make an event act once (the
processed marker) carries `expire_at`, long after any redelivery, and Terraform gives its collection
a Firestore TTL policy on that field."""

from __future__ import annotations

from datetime import timedelta

from shared import bus, catalog, infrastructure, runtime, store
from shared.events import utcnow

CONSUMER = "provisioning-subscriber"   # any catalog consumer whose topic is bss.subscriber


def nothing_else(ctx: runtime.Context, payload) -> None:
    """A handler that writes nothing itself: whatever is written is the runtime's."""


def test_every_record_the_runtime_keeps_for_idempotency_expires_under_a_terraform_ttl_policy(firestore_clean):
    before = utcnow()
    data, attributes = bus.encode(catalog.make_envelope("bss.subscriber", {"msisdn": "+998901234567"},
                                                       event_id="evt-ttl"))
    assert runtime.process(CONSUMER, nothing_else, "m-ttl", data, attributes) == "processed"
    written = {c.id: [d.to_dict() for d in c.stream()] for c in store.db().collections()}
    assert set(written) == {store.PROCESSED}
    # The TTL policies Terraform deploys are these declarations (tests/unit/test_terraform.py checks it).
    declared = set(infrastructure.load().ttl_collections)
    assert set(written) <= declared, "idempotency records without a TTL policy"
    [marker] = written[store.PROCESSED]
    # Pub/Sub redelivers for at most 7 days: the marker must outlive that by far.
    assert marker[store.EXPIRES_AT] >= before + store.PUBSUB_RETENTION + timedelta(days=7)
