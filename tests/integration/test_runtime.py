"""The runtime's promises, tried on the real emulators: once-only, outbox, rejection."""

from __future__ import annotations

import base64
import json
import random
import time

import pytest
from google.cloud import firestore

from shared import bus, catalog, runtime, store

CONSUMER = "provisioning-subscriber"  # any catalog consumer whose topic is bss.subscriber


def welcome_counter(ctx: runtime.Context, payload) -> None:
    """A handler with a visible effect: count deliveries and ask for a welcome SMS."""
    ref = ctx.doc("counters", payload.msisdn)
    current = ctx.get(ref)
    ctx.txn.set(ref, {"count": (current.get("count") if current.exists else 0) + 1})
    ctx.emit("sms.send", {"to": payload.msisdn, "template": "welcome"}, purpose="welcome")


def message(event_id: str = "evt-1", msisdn: str = "+998901234567") -> tuple[bytes, dict]:
    return bus.encode(catalog.make_envelope("bss.subscriber", {"msisdn": msisdn}, event_id=event_id))


def count(msisdn: str = "+998901234567") -> int:
    snapshot = store.db().collection("counters").document(msisdn).get()
    return snapshot.get("count") if snapshot.exists else 0


def test_the_same_message_twice_changes_state_once_and_republishes_the_same_follow_up(firestore_clean, tap):
    pull = tap("sms.send")
    data, attributes = message()
    assert runtime.process(CONSUMER, welcome_counter, "m-1", data, attributes) == "processed"
    assert runtime.process(CONSUMER, welcome_counter, "m-2", data, attributes) == "duplicate"
    assert count() == 1
    follow_ups = pull(2)
    assert len(follow_ups) == 2
    assert follow_ups[0].id == follow_ups[1].id, "a redelivery must re-publish the same event id"
    assert follow_ups[0].correlation_id == "evt-1"


def test_a_crash_after_commit_still_publishes_the_follow_ups_on_redelivery(firestore_clean, tap, monkeypatch):
    pull = tap("sms.send")
    data, attributes = message("evt-crash")
    real_publish = bus.publish

    def broken_publish(envelopes, timeout=30.0):
        raise ConnectionError("Pub/Sub unreachable right after the commit")

    monkeypatch.setattr(bus, "publish", broken_publish)
    with pytest.raises(ConnectionError):
        runtime.process(CONSUMER, welcome_counter, "m-1", data, attributes)
    assert count() == 1, "the state change was committed before the crash"
    assert pull.rest() == [], "nothing left before the crash"

    monkeypatch.setattr(bus, "publish", real_publish)
    assert runtime.process(CONSUMER, welcome_counter, "m-1", data, attributes) == "duplicate"
    assert count() == 1
    [follow_up] = pull.rest()
    assert follow_up.type == "sms.send" and follow_up.data["to"] == "+998901234567"


@pytest.mark.parametrize("data", [
    b"not json",
    json.dumps({"id": "x", "type": "bss.subscriber"}).encode(),
    bus.encode(catalog.make_envelope("sms.send", {"to": "+998901234567", "template": "t"}, event_id="e"))[0],
], ids=["garbage", "incomplete-envelope", "wrong-topic"])
def test_an_invalid_message_is_recorded_and_acknowledged_not_retried(firestore_clean, data):
    assert runtime.process(CONSUMER, welcome_counter, "m-bad", data, {}) == "rejected"
    rejected = store.db().collection(store.REJECTED).document(f"{CONSUMER}:m-bad").get()
    assert rejected.exists and rejected.get("reason")
    assert count() == 0


def test_a_push_whose_data_is_not_base64_is_recorded_and_acknowledged(firestore_clean):
    """Retrying cannot make such a body readable: rejected at once (2xx), not 500 until dead-lettered."""
    import functions_framework

    from tests.integration import runtime_probe

    app = functions_framework.create_app(target="on_subscriber", source=runtime_probe.__file__)
    body = {"subscription": f"projects/vas-test/subscriptions/{CONSUMER}",
            "message": {"data": "%%not base64%%", "attributes": {"event_type": "bss.subscriber"},
                        "messageId": "43", "publishTime": "2026-11-22T10:00:00Z"}}
    response = app.test_client().post("/projects/vas-test/topics/bss.subscriber", json=body)
    assert 200 <= response.status_code < 300, response.data
    rejected = store.db().collection(store.REJECTED).document(f"{CONSUMER}:43").get()
    assert rejected.exists and "base64" in rejected.get("reason")
    assert rejected.get("data") == "%%not base64%%"
    assert count() == 0


def test_a_payload_breaking_its_model_is_rejected_with_the_reason(firestore_clean):
    envelope = catalog.make_envelope("bss.subscriber", {"msisdn": "+998901234567"}, event_id="e-2")
    broken = envelope.model_copy(update={"data": {"msisdn": "12"}})
    assert runtime.process(CONSUMER, welcome_counter, "m-3", broken.model_dump_json().encode(), {}) == "rejected"
    reason = store.db().collection(store.REJECTED).document(f"{CONSUMER}:m-3").get().get("reason")
    assert "msisdn" in reason


def test_concurrent_redeliveries_apply_once(firestore_clean):
    from concurrent.futures import ThreadPoolExecutor

    from google.api_core import exceptions

    data, attributes = message("evt-race")

    give_up_at = time.monotonic() + 150  # well inside pytest's timeout: a livelock fails, never hangs

    def deliver(i: int) -> str:
        # Under heavy contention a transaction may give up (Aborted, or the client's "failed to
        # commit in N attempts"); the function answers 500 and Pub/Sub redelivers, as here.
        attempt = 0
        while time.monotonic() < give_up_at:
            try:
                return runtime.process(CONSUMER, welcome_counter, f"m-{i}", data, attributes)
            except (exceptions.Aborted, ValueError):
                attempt += 1
                time.sleep(random.uniform(0, 0.1 * min(attempt, 20)))  # Pub/Sub's backoff, in small
        raise AssertionError("a delivery kept aborting")

    # Four at once: the emulator's pessimistic locks can livelock eight transactions on one
    # document at its 2 s lock timeout on a loaded machine (production Firestore's wound-wait cannot).
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(deliver, range(8)))
    assert outcomes.count("processed") == 1 and outcomes.count("duplicate") == 7
    assert count() == 1


def test_push_bodies_reach_handlers_through_functions_framework(firestore_clean):
    """The emulator's raw push body, posted where the subscription pushes, becomes a CloudEvent."""
    import functions_framework

    from tests.integration import runtime_probe

    app = functions_framework.create_app(target="on_subscriber", source=runtime_probe.__file__)
    data, attributes = message("evt-push")
    body = {"subscription": f"projects/vas-test/subscriptions/{CONSUMER}",
            "message": {"data": base64.b64encode(data).decode(), "attributes": attributes,
                        "messageId": "42", "publishTime": "2026-11-22T10:00:00Z"}}
    client = app.test_client()
    for _ in range(2):
        response = client.post("/projects/vas-test/topics/bss.subscriber", json=body)
        assert response.status_code == 200, response.data
    assert count() == 1


def test_before_runs_outside_the_transaction_its_answer_reaches_the_handler_and_a_redelivery_calls_nothing(
        firestore_clean):
    from google.api_core import exceptions

    calls: list[str] = []
    runs: list[str] = []

    def ask_outside(payload) -> str:
        calls.append(payload.msisdn)
        return f"answer for {payload.msisdn}"

    def record_answer(ctx: runtime.Context, payload) -> None:
        ctx.txn.set(ctx.doc("answers", payload.msisdn), {"answer": ctx.prepared})
        runs.append(ctx.prepared)
        if len(runs) == 1:
            raise exceptions.Aborted("contention")  # the transaction runs again; the call outside does not

    data, attributes = message("evt-before")
    assert runtime.process(CONSUMER, record_answer, "m-1", data, attributes, before=ask_outside) == "processed"
    assert runtime.process(CONSUMER, record_answer, "m-2", data, attributes, before=ask_outside) == "duplicate"
    assert calls == ["+998901234567"] and len(runs) == 2
    answer = store.db().collection("answers").document("+998901234567").get().get("answer")
    assert answer == "answer for +998901234567"


def test_a_rejection_in_before_is_recorded_and_nothing_is_written(firestore_clean):
    def refuse(payload) -> None:
        raise runtime.Rejected("no such account")

    data, attributes = message("evt-refused")
    assert runtime.process(CONSUMER, welcome_counter, "m-1", data, attributes, before=refuse) == "rejected"
    assert store.db().collection(store.REJECTED).document(f"{CONSUMER}:m-1").get().get("reason") == "no such account"
    assert count() == 0
