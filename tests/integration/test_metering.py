"""The counting layer on the real Firestore emulator: a transaction, a batch and a query counted as Firestore
bills them (shared/metering.py)."""

from __future__ import annotations

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared import metering, runtime, settings
from shared.metering import Counts, Meter


def test_a_transaction_a_batch_and_a_query_are_counted_as_billed(firestore_clean):
    meter = Meter()
    db = metering.metered_client(firestore.Client(project=settings.get().project), meter)
    seeded = db.batch()
    for name in ("a", "b", "c"):
        seeded.set(db.document(f"metering/{name}"), {"n": 1})
    seeded.commit()  # three writes, no transaction
    assert meter.snapshot() == Counts(writes=3)

    @firestore.transactional
    def move(txn: firestore.Transaction) -> None:
        found = list(db.get_all([db.document("metering/a"), db.document("metering/missing")], transaction=txn))
        assert len(found) == 2
        txn.update(db.document("metering/a"), {"n": 0})
        txn.create(db.document("metering/d"), {"n": 1})
        txn.delete(db.document("metering/b"))

    runtime.transact(db, move)
    assert meter.snapshot() - Counts(writes=3) == Counts(reads=2, writes=2, deletes=1, commits=1)

    before = meter.snapshot()
    assert len(list(db.collection("metering").stream())) == 3  # a, c, d
    assert len(list(db.collection("metering").where(filter=FieldFilter("n", "==", 7)).stream())) == 0  # nothing: billed one read
    assert meter.snapshot() - before == Counts(reads=3 + 1)
