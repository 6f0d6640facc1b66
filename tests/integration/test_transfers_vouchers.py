"""Pay cards for another subscriber (IVR 0670) on the real emulators: loaded once, used once, refused with reasons."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.provisioning import main as provisioning
from functions.transfers import __main__ as transfers_cli
from functions.transfers import main as transfers
from functions.transfers import documents, records, vouchers
from shared import bus, catalog, runtime, store
from shared.events import Envelope, utcnow
from tests.integration.test_transfers import (ALICE, BOB, CAROL, SOM, balance, deliver, deliver_until_done,
                                              kept_once_all_applied, record, sms_of, sound, subscriber,
                                              use_operator)  # noqa: F401 - fixture

CODE = "12345678901234"


@pytest.fixture
def paycards(firestore_clean, use_operator):
    """The demo operator with Beeline's pay card beside Mobiuz's transfers; one card of 10 000 so'm loaded."""
    use_operator("paycard")
    card = {"serial": "PC-0001", "secret_code": CODE, "amount": 10_000 * SOM, "validity_days": 30}
    assert deliver(transfers.on_voucher_issued, card, "card-1") == "processed"
    return card


def redemption(event_id: str, caller: str = ALICE, recipient: str = BOB, code: str = CODE,
               serial: str = "0001") -> dict:
    return {"request_id": f"call-{event_id}", "caller": caller, "recipient": recipient, "card_serial": serial,
            "secret_code": code, "requested_at": utcnow().isoformat()}


def redeem(event_id: str, caller: str = ALICE, recipient: str = BOB, code: str = CODE, serial: str = "0001") -> dict:
    request = redemption(event_id, caller, recipient, code, serial)
    assert deliver_until_done(transfers.on_voucher_redeem, request, event_id) == "processed"
    return record(records.reference("voucher", event_id))


def test_a_card_loaded_twice_is_one_card_and_a_reused_code_is_rejected(paycards):
    assert deliver(transfers.on_voucher_issued, paycards, "card-1-again") == "processed"
    clash = {**paycards, "serial": "PC-0002"}
    assert deliver(transfers.on_voucher_issued, clash, "card-2") == "rejected"
    stored = store.db().collection(documents.VOUCHERS).document(vouchers.code_key(CODE)).get().to_dict()
    assert stored["serial"] == "PC-0001" and stored["status"] == "issued"
    assert CODE not in str(stored), "the secret code itself is never stored"


def rejected_as(entry_point, data: dict, event_id: str) -> dict:
    """Deliver a message whose payload its model refuses; the record kept of it in `rejected`."""
    topic = catalog.load().consumer(entry_point.consumer).topic
    envelope = Envelope(id=event_id, type=topic, occurred_at=utcnow(), correlation_id=event_id, data=data)
    data_bytes, attributes = bus.encode(envelope)
    assert runtime.process(entry_point.consumer, entry_point.handler, f"m-{event_id}", data_bytes,
                           attributes) == "rejected"
    return store.db().collection(store.REJECTED).document(f"{entry_point.consumer}:m-{event_id}").get().to_dict()


def test_codes_are_never_kept_in_rejected_messages(paycards):
    clash = {**paycards, "serial": "PC-0002"}
    assert deliver(transfers.on_voucher_issued, clash, "card-2") == "rejected"
    refused_by_handler = store.db().collection(store.REJECTED).document("transfers-voucher-issued:m-card-2").get()
    keyed = {"request_id": "call-bad", "caller": "12", "recipient": BOB, "card_serial": "1",
             "secret_code": "98765432109876",
             "requested_at": utcnow().isoformat()}
    refused_by_model = rejected_as(transfers.on_voucher_redeem, keyed, "bad-caller")
    too_long = rejected_as(transfers.on_voucher_redeem, {**keyed, "caller": ALICE, "secret_code": "7" * 41}, "bad-code")

    for kept, code in ((refused_by_handler.to_dict(), CODE), (refused_by_model, "98765432109876"),
                       (too_long, "7" * 41)):
        assert code not in str(kept), kept
        assert kept["redacted"] == ["secret_code"] and '"secret_code": "[redacted]"' in kept["data"]
    assert "caller" in refused_by_model["reason"] and "secret_code" in too_long["reason"]


def test_a_card_tops_up_the_recipient_once_even_when_keyed_in_ten_calls_at_once(paycards, function_server,
                                                                              push_subscriptions):
    """Keyed at once, delivered as in Google Cloud: the card's activations one at a time (its serial is the
    ordering key), each deciding in its transaction on what the previous ones left."""
    subscriber(ALICE, "en")
    subscriber(BOB, "ru", line_type="postpaid")
    subscriber(CAROL, "uz")
    push_subscriptions({"transfers-voucher-redeem": function_server("transfers-voucher-redeem").ready_url})

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda i: runtime.publish_new("voucher.redeem-requested",
                                                    redemption(f"call-{i}", caller=ALICE if i % 2 else BOB,
                                                               recipient=CAROL),
                                                    event_id=f"call-{i}"),
                      range(10)))
    kept = kept_once_all_applied([f"call-{i}" for i in range(10)], kind="voucher")

    assert [r["status"] for r in kept].count("accepted") == 1
    assert {r["refusal_code"] for r in kept if r["status"] == "refused"} == {"voucher_used"}
    assert balance(CAROL) == 10_000 * SOM
    [lot] = store.db().collection("accounts").document(CAROL).get().to_dict()["buckets"]["main"]["lots"]
    assert lot["expires_at"] is not None
    winner = next(r for r in kept if r["status"] == "accepted")
    event_id = next(f"call-{i}" for i in range(10) if records.reference("voucher", f"call-{i}") == winner["reference"])
    to_caller, to_carol = sms_of(transfers.on_voucher_redeem, event_id)
    assert to_caller["template"] == "transfer.voucher.activated" and to_caller["params"]["recipient"] == CAROL
    assert to_carol["template"] == "transfer.voucher.received_until" and to_carol["language"] == "uz"
    sound(CAROL)


def test_a_roaming_caller_or_a_postpaid_recipient_is_refused_and_the_card_stays_unused(paycards):
    subscriber(ALICE, "en")
    subscriber(BOB, "en", line_type="postpaid")
    subscriber(CAROL, "en")
    deliver(provisioning.on_network_attachment, {"msisdn": ALICE, "state": "attached", "at": utcnow().isoformat(),
                                                 "roaming": True}, "roam")

    assert redeem("roaming", caller=ALICE, recipient=CAROL)["refusal_code"] == "sender_roaming"
    assert redeem("postpaid", caller=CAROL, recipient=BOB)["refusal_code"] == "recipient_not_prepaid"
    [sms] = sms_of(transfers.on_voucher_redeem, "roaming")
    assert sms["to"] == ALICE and "roaming" in sms["params"]["reason"]
    assert balance(CAROL) == 0 and balance(BOB) == 0
    assert redeem("fine", caller=BOB, recipient=CAROL)["status"] == "accepted", "the card was still unused"


def test_wrong_codes_are_told_and_after_five_the_caller_is_locked_out(paycards):
    subscriber(ALICE, "en")
    subscriber(BOB, "en")
    for i in range(5):
        assert redeem(f"wrong-{i}", code=f"99999999{i}")["refusal_code"] == "voucher_wrong_code"
    [sms] = sms_of(transfers.on_voucher_redeem, "wrong-0")
    assert sms["to"] == ALICE and "code is not valid" in sms["params"]["reason"]
    assert redeem("right-but-locked")["refusal_code"] == "voucher_too_many_attempts"
    assert balance(BOB) == 0


def test_many_callers_trying_one_card_lock_it_even_to_its_right_code_and_care_sees_it(paycards, capsys, caplog):
    callers = [f"+9989012347{i:02d}" for i in range(vouchers.MAX_WRONG_CODES_PER_CARD)]
    for caller in callers:
        subscriber(caller, "en")
    subscriber(BOB, "en")
    subscriber(CAROL, "ru")
    # Each caller stays well under their own cap; together they pass the card's.
    assert redeem("right-code-other-card", caller=callers[0], serial="0002")["refusal_code"] == "voucher_wrong_code"
    for i, caller in enumerate(callers[1:], start=1):
        assert redeem(f"guess-{i}", caller=caller, code=f"5555555555{i:04d}")["refusal_code"] == "voucher_wrong_code"
    assert not any("pay card locked" in r.getMessage() for r in caplog.records)
    assert redeem("guess-last", caller=callers[0], code="55555555559999")["refusal_code"] == "voucher_wrong_code"
    assert any("pay card locked" in r.getMessage() for r in caplog.records)

    locked = redeem("owner", caller=CAROL, recipient=BOB)
    assert (locked["refusal_code"], locked["voucher_serial"]) == ("voucher_card_locked", "0001")
    [sms] = sms_of(transfers.on_voucher_redeem, "owner")
    assert sms["to"] == CAROL and "Эта карта заблокирована" in sms["params"]["reason"]
    assert balance(BOB) == 0
    card = store.db().collection(documents.VOUCHERS).document(vouchers.code_key(CODE)).get().to_dict()
    assert card["status"] == "issued"

    assert transfers_cli.main(["card", "0001"]) == 0
    shown = capsys.readouterr().out
    assert "card 0001: 10 wrong code(s)" in shown and "LOCKED" in shown
    assert transfers_cli.main(["unlock-card", "0001"]) == 0
    assert redeem("owner-again", caller=CAROL, recipient=BOB)["status"] == "accepted"
    assert balance(BOB) == 10_000 * SOM


def test_without_a_pay_card_policy_the_service_is_not_offered(firestore_clean):
    subscriber(ALICE, "en")
    subscriber(BOB, "en")
    assert redeem("no-policy")["refusal_code"] == "service_not_offered"



def test_a_card_keyed_for_a_number_before_it_changed_hands_credits_its_new_owner_nothing(paycards):
    subscriber(ALICE, "en")
    subscriber(BOB, "ru", subscriber_id="bob-1")
    keyed = {"request_id": "call-queued", "caller": ALICE, "recipient": BOB, "card_serial": "0001",
             "secret_code": CODE, "requested_at": utcnow().isoformat()}
    subscriber(BOB, "uz", subscriber_id="bob-2")                    # the BSS gives BOB's number to someone else
    assert deliver_until_done(transfers.on_voucher_redeem, keyed, "queued") == "processed"
    refused = record(records.reference("voucher", "queued"))
    assert (refused["status"], refused["refusal_code"]) == ("refused", "recipient_owner_changed")
    assert balance(BOB) == 0, "the card meant for the number's old owner topped up the new one"
    [told] = sms_of(transfers.on_voucher_redeem, "queued")
    assert (told["to"], told["template"]) == (ALICE, "transfer.voucher.refused")
    assert redeem("asked-again")["status"] == "accepted", "the card was spent on nothing"
