"""BSS provisioning on the real emulators: subscribers, once-only top-ups and network state."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from functions.provisioning import main
from shared import bus, catalog, ledger, runtime, store
from shared.events import Envelope, utcnow

ALICE = "+998901234567"
BOB = "+998901234568"


def deliver(entry_point, payload: dict, event_id: str, *, occurred_at: datetime | None = None,
            message_id: str | None = None) -> str:
    """Push one message to a catalog entry point through the runtime, as Pub/Sub would."""
    topic = catalog.load().consumer(entry_point.consumer).topic
    envelope = catalog.make_envelope(topic, payload, event_id=event_id, occurred_at=occurred_at)
    data, attributes = bus.encode(envelope)
    return runtime.process(entry_point.consumer, entry_point.handler, message_id or f"m-{event_id}", data,
                           attributes)


def outbox(entry_point, event_id: str) -> list[Envelope]:
    """The follow-up events a delivery stored with its processed marker."""
    marker = store.db().collection(store.PROCESSED).document(f"{entry_point.consumer}:{event_id}").get()
    return [Envelope.model_validate(item) for item in marker.get("outbox")]


def rejection(entry_point, message_id: str) -> str | None:
    snapshot = store.db().collection(store.REJECTED).document(f"{entry_point.consumer}:{message_id}").get()
    return snapshot.get("reason") if snapshot.exists else None


def subscriber(msisdn: str) -> dict | None:
    return store.db().collection(store.SUBSCRIBERS).document(msisdn).get().to_dict()


def entries(msisdn: str) -> list[dict]:
    ref = store.db().collection(store.ACCOUNTS).document(msisdn).collection(ledger.ENTRIES)
    return [doc.to_dict() for doc in ref.stream()]


def provision(msisdn: str = ALICE, event_id: str = "sub-1", **fields) -> None:
    assert deliver(main.on_subscriber, {"msisdn": msisdn, **fields}, event_id) == "processed"


def topup(event_id: str, reference: str, amount: int = 500_000, msisdn: str = ALICE, *,
          occurred_at: datetime | None = None, message_id: str | None = None, **fields) -> str:
    return deliver(main.on_topup, {"msisdn": msisdn, "amount": amount, "reference": reference, **fields}, event_id,
                   occurred_at=occurred_at, message_id=message_id)


def test_a_new_subscriber_gets_a_profile_and_an_empty_main_balance(firestore_clean):
    provision(language="ru", customer_type="corporate", tariff_plan="biz-50", name="Acme")
    profile = subscriber(ALICE)
    assert {k: profile[k] for k in ("customer_type", "line_type", "language", "tariff_plan", "status", "name")} == {
        "customer_type": "corporate", "line_type": "prepaid", "language": "ru", "tariff_plan": "biz-50",
        "status": "active", "name": "Acme"}
    account = ledger.read_account(store.db(), ALICE)
    assert account.total == 0 and account.buckets["main"].balance == 0


def test_an_update_keeps_creation_time_language_and_name_it_does_not_mention(firestore_clean):
    provision(language="ru", name="Alisher")
    created = subscriber(ALICE)["created_at"]
    provision(event_id="sub-2", status="blocked", tariff_plan="night")
    profile = subscriber(ALICE)
    assert profile["status"] == "blocked" and profile["tariff_plan"] == "night"
    assert profile["language"] == "ru" and profile["name"] == "Alisher"
    assert profile["created_at"] == created and profile["updated_at"] >= created


def test_an_older_bss_update_arriving_late_does_not_undo_a_newer_one(firestore_clean):
    now = utcnow()
    assert deliver(main.on_subscriber, {"msisdn": ALICE, "status": "blocked"}, "new", occurred_at=now) == "processed"
    assert deliver(main.on_subscriber, {"msisdn": ALICE, "status": "active"}, "old",
                   occurred_at=now - timedelta(minutes=5)) == "processed"
    assert subscriber(ALICE)["status"] == "blocked"


def test_the_same_topup_push_delivered_twice_credits_once_and_notifies_once(firestore_clean):
    provision(language="en")
    assert topup("t-1", "BSS-0001", validity_days=30, message_id="push-1") == "processed"
    assert topup("t-1", "BSS-0001", validity_days=30, message_id="push-2") == "duplicate"
    account = ledger.read_account(store.db(), ALICE)
    assert account.buckets["main"].balance == 500_000
    [lot] = account.buckets["main"].lots
    assert lot.expires_at > utcnow() + timedelta(days=29)
    assert len(entries(ALICE)) == 1
    [balance_changed, notice] = sorted(outbox(main.on_topup, "t-1"), key=lambda e: e.type)
    assert balance_changed.type == "balance.changed" and balance_changed.data["balance"] == 500_000
    assert notice.type == "sms.send" and notice.data["to"] == ALICE
    assert notice.data["template"] == "topup.credited_until"
    assert notice.data["params"]["amount"] == "5 000 so'm" and notice.data["params"]["bucket"] == "Main balance"


def test_a_bss_reference_already_used_is_never_credited_again(firestore_clean):
    provision()
    assert topup("t-1", "BSS-0002") == "processed"
    assert topup("t-2", "BSS-0002") == "processed", "the BSS resent it under a new event id: acknowledged"
    assert outbox(main.on_topup, "t-2") == [], "no second SMS, no balance event"
    assert topup("t-3", "BSS-0002", amount=999) == "rejected", "a different recharge under a used reference"
    assert "already used" in rejection(main.on_topup, "m-t-3")
    assert ledger.read_account(store.db(), ALICE).total == 500_000
    assert len(entries(ALICE)) == 1


def test_references_with_path_characters_are_distinct_recharges(firestore_clean):
    provision()
    assert topup("t-1", "shop/7/receipt") == "processed"
    assert topup("t-2", "shop%2F7%2Freceipt") == "processed"
    assert ledger.read_account(store.db(), ALICE).total == 1_000_000


def test_a_topup_for_an_unknown_subscriber_is_refused_and_moves_no_money(firestore_clean):
    assert topup("t-1", "BSS-0003", msisdn=BOB) == "rejected"
    assert "not a subscriber" in rejection(main.on_topup, "m-t-1")
    assert ledger.read_account(store.db(), BOB) is None
    assert not store.db().collection(store.TOPUPS).document("BSS-0003").get().exists


def test_a_topup_into_an_invalid_bucket_is_refused(firestore_clean):
    provision()
    assert topup("t-1", "BSS-0004", bucket="Main Balance!") == "rejected"
    assert ledger.read_account(store.db(), ALICE).total == 0


def test_validity_runs_from_the_recharge_not_from_its_late_delivery(firestore_clean):
    provision()
    recharged = datetime(2025, 1, 10, 8, 0, tzinfo=timezone.utc)
    assert topup("t-1", "BSS-0005", validity_days=30, bucket="bonus", occurred_at=recharged) == "processed"
    notice = next(e for e in outbox(main.on_topup, "t-1") if e.type == "sms.send")
    assert notice.data["params"]["expires_at"] == "09.02.2025 13:00", "08:00 UTC, in Tashkent time, written the Uzbek way"
    assert ledger.read_account(store.db(), ALICE).total == 0, "already past its validity: not spendable"


def test_network_state_keeps_the_latest_report_even_when_reports_arrive_out_of_order(firestore_clean):
    provision()
    now = utcnow()
    attached = {"msisdn": ALICE, "state": "attached", "at": now.isoformat(), "roaming": True}
    detached = {"msisdn": ALICE, "state": "detached", "at": (now - timedelta(minutes=1)).isoformat()}
    assert deliver(main.on_network_attachment, attached, "n-2") == "processed"
    assert deliver(main.on_network_attachment, detached, "n-1") == "processed"
    state = subscriber(ALICE)["network_state"]
    assert state["state"] == "attached" and state["roaming"] is True and state["at"] == now
    provision(event_id="sub-2", tariff_plan="night")
    assert subscriber(ALICE)["network_state"]["state"] == "attached", "a BSS update keeps the network state"


def test_network_state_for_a_number_that_is_not_a_subscriber_is_recorded_as_refused(firestore_clean):
    event = {"msisdn": BOB, "state": "attached", "at": utcnow().isoformat()}
    assert deliver(main.on_network_attachment, event, "n-1") == "rejected"
    assert subscriber(BOB) is None


def test_a_topup_pushed_twice_through_functions_framework_credits_once(firestore_clean):
    """The deployed entry point, fed the raw push body Pub/Sub posts, twice."""
    import base64

    import functions_framework

    provision()
    app = functions_framework.create_app(target="on_topup", source=main.__file__)
    envelope = catalog.make_envelope("bss.topup", {"msisdn": ALICE, "amount": 1_000, "reference": "R-push"},
                                     event_id="t-push")
    data, attributes = bus.encode(envelope)
    body = {"subscription": "projects/vas-test/subscriptions/provisioning-topup",
            "message": {"data": base64.b64encode(data).decode(), "attributes": attributes,
                        "messageId": "77", "publishTime": "2026-01-01T10:00:00Z"}}
    client = app.test_client()
    for _ in range(2):
        response = client.post("/projects/vas-test/topics/bss.topup", json=body)
        assert response.status_code == 200, response.data
    assert ledger.read_account(store.db(), ALICE).total == 1_000
    assert len(entries(ALICE)) == 1
