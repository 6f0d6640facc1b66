"""A poison message: retried by Pub/Sub, dead-lettered after the configured attempts, stored,
and replayed by an operator once the cause is fixed — on the real emulator, through real pushes."""

from __future__ import annotations

import time

import pytest

from functions.ops import __main__ as ops_cli
from infra import push
from shared import catalog, runtime, store

SUBSCRIBER = "+998901000777"


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("delivery", push.DELIVERIES)
def test_a_poison_top_up_is_dead_lettered_then_replayed_after_the_fix(firestore_clean, function_server,
                                                                     push_subscriptions, capsys, delivery):
    topup = function_server("provisioning-topup")
    dead_letters = function_server("ops-dead-letter")
    push_subscriptions({"provisioning-topup": topup.ready_url, "ops-dead-letter": dead_letters.ready_url},
                       delivery, max_backoff_seconds=1)
    db = store.db()
    db.collection(store.SUBSCRIBERS).document(SUBSCRIBER).set({"msisdn": SUBSCRIBER, "status": "active",
                                                               "line_type": "prepaid", "language": "en"})
    # A corrupted account document: every attempt to credit it fails the same way.
    db.collection(store.ACCOUNTS).document(SUBSCRIBER).set({"msisdn": SUBSCRIBER, "buckets": "corrupted"})

    envelope = runtime.publish_new("bss.topup", {"msisdn": SUBSCRIBER, "amount": 10_000, "reference": "R-POISON"},
                                   event_id="poison-1")

    letters = db.collection(store.DEAD_LETTERS)
    [letter] = wait_for(lambda: [d.to_dict() for d in letters.stream()], 60, "the dead letter")
    attempts = catalog.load().consumer("provisioning-topup").max_delivery_attempts
    assert letter["event_id"] == envelope.id and letter["event_type"] == "bss.topup"
    assert letter["source_subscription"] == "provisioning-topup"
    assert letter["delivery_count"] == attempts
    assert not db.collection(store.TOPUPS).document("R-POISON").get().exists, "nothing was credited"

    ops_cli.main(["dead-letters"])
    assert "bss.topup" in capsys.readouterr().out

    db.collection(store.ACCOUNTS).document(SUBSCRIBER).delete()  # the operator repairs the account
    assert ops_cli.main(["replay", letter["message_id"]]) == 0
    wait_for(lambda: db.collection(store.TOPUPS).document("R-POISON").get().exists, 30, "the replayed top-up")
    assert letters.document(letter["message_id"]).get().get("status") == "replayed"
