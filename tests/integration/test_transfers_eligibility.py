"""Usage from the charging system: debited without going negative, and counted for Zain's new-customer rule."""

from __future__ import annotations

from datetime import timedelta

from functions.provisioning import main as provisioning
from functions.transfers import main as transfers
from shared import ledger, store
from shared.events import utcnow
from tests.integration.test_transfers import (balance, deliver, record, reference, sms_of, sound,  # noqa: F401
                                              transfer, use_operator)

ZAIN_A, ZAIN_B = "+9647801234567", "+9647801234568"


def provision(msisdn: str, **fields) -> None:
    assert deliver(provisioning.on_subscriber, {"msisdn": msisdn, "language": "en", **fields}, f"sub-{msisdn}") \
        == "processed"


def topup(msisdn: str, amount: int, reference: str) -> None:
    assert deliver(provisioning.on_topup, {"msisdn": msisdn, "amount": amount, "reference": reference},
                   reference) == "processed"


def usage(msisdn: str, kind: str, amount: int, reference: str, minutes_ago: int = 0, event_id: str | None = None
          ) -> str:
    return deliver(provisioning.on_usage, {"msisdn": msisdn, "kind": kind, "amount": amount, "reference": reference,
                                           "at": (utcnow() - timedelta(minutes=minutes_ago)).isoformat()},
                   event_id or reference)


def subscriber_doc(msisdn: str) -> dict:
    return store.db().collection(store.SUBSCRIBERS).document(msisdn).get().to_dict()


def test_usage_beyond_the_balance_takes_what_is_there_and_records_the_shortfall(firestore_clean, use_operator):
    use_operator("zain")
    provision(ZAIN_A)
    topup(ZAIN_A, 1_000, "r-1")
    assert usage(ZAIN_A, "call", 1_500, "cdr-1") == "processed"
    assert balance(ZAIN_A) == 0, "a prepaid line never goes negative"
    charged = store.db().collection("usage_charges").document("cdr-1").get().to_dict()
    assert (charged["debited"], charged["shortfall"]) == (1_000, 500)
    entries = [d.to_dict() for d in store.db().collection("accounts").document(ZAIN_A).collection("entries").stream()]
    assert any(e["reason"] == "usage:shortfall=500" and e["delta"] == -1_000 for e in entries)
    topup(ZAIN_A, 5_000, "r-2")
    assert usage(ZAIN_A, "call", 1_500, "cdr-1") == "duplicate"
    assert usage(ZAIN_A, "call", 1_500, "cdr-1", event_id="resent") == "processed", "acknowledged, not charged again"
    assert usage(ZAIN_A, "sms", 700, "cdr-1", event_id="reused") == "rejected", "other usage under a used reference"
    assert balance(ZAIN_A) == 5_000
    sound(ZAIN_A)


def test_a_new_zain_line_can_send_after_its_first_call_and_spending_its_first_topup(firestore_clean, use_operator):
    use_operator("zain")
    provision(ZAIN_A)
    provision(ZAIN_B)
    topup(ZAIN_A, 10_000, "first")
    topup(ZAIN_A, 20_000, "second")
    first = subscriber_doc(ZAIN_A)
    assert (first["first_topup_amount"], first["spent_since_first_topup"]) == (10_000, 0), "the second one is not first"

    deliver(transfers.on_transfer_requested, transfer("too-early", 2_000, ZAIN_A, ZAIN_B), "too-early")
    [early] = sms_of(transfers.on_transfer_requested, "too-early")
    assert "after their first call" in early["params"]["reason"]

    assert usage(ZAIN_A, "call", 4_000, "cdr-a") == "processed"
    deliver(transfers.on_transfer_requested, transfer("half-spent", 2_000, ZAIN_A, ZAIN_B), "half-spent")
    [half] = sms_of(transfers.on_transfer_requested, "half-spent")
    assert "spending 10 000 IQD" in half["params"]["reason"] and "6 000 IQD to go" in half["params"]["reason"]

    assert usage(ZAIN_A, "data", 6_000, "cdr-b") == "processed"
    assert subscriber_doc(ZAIN_A)["spent_since_first_topup"] == 10_000
    deliver(transfers.on_transfer_requested, transfer("eligible", 2_000, ZAIN_A, ZAIN_B), "eligible")
    assert record(reference("eligible"))["status"] == "accepted"
    assert balance(ZAIN_A) == 30_000 - 10_000 - 2_000 - 360 and balance(ZAIN_B) == 2_000
    assert ledger.check(store.db(), ZAIN_A) == []


def test_the_earliest_call_is_the_first_call_whatever_order_reports_arrive_in(firestore_clean, use_operator):
    use_operator("zain")
    provision(ZAIN_A)
    usage(ZAIN_A, "call", 0, "late", minutes_ago=5)
    usage(ZAIN_A, "call", 0, "early", minutes_ago=60)
    usage(ZAIN_A, "sms", 0, "sms", minutes_ago=120)
    first_call = subscriber_doc(ZAIN_A)["first_call_at"]
    assert utcnow() - timedelta(minutes=61) < first_call < utcnow() - timedelta(minutes=59)
