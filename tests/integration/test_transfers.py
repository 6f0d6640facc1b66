"""Balance transfers on the real emulators: once-only, atomic, within limits under concurrency, and explained.

The demo operator (UZS, so'm with 2 decimals) runs Mobiuz "Direct transfer": amounts 2 500 …
25 000, fee 200, keep 10 000, at most 100 000 a day sent and received, a top-up request costs 100.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.api_core import exceptions

from functions.provisioning import main as provisioning
from functions.transfers import main as transfers
from functions.transfers import records
from shared import bus, catalog, ledger, ledger_core, operator, runtime, settings, store
from shared.events import Envelope, utcnow

ALICE, BOB, CAROL = "+998901234567", "+998901234568", "+998901234569"
SOM = 100  # minor units per so'm
PROFILES = Path(__file__).resolve().parent.parent / "fixtures" / "operators"


# --- helpers --------------------------------------------------------------------------------

def deliver(entry_point, payload: dict, event_id: str, *, message_id: str | None = None) -> str:
    """Push one message to a catalog entry point through the runtime, as Pub/Sub would."""
    topic = catalog.load().consumer(entry_point.consumer).topic
    data, attributes = bus.encode(catalog.make_envelope(topic, payload, event_id=event_id))
    return runtime.process(entry_point.consumer, entry_point.handler, message_id or f"m-{event_id}", data,
                           attributes, after_commit=entry_point.after_commit)


def deliver_until_done(entry_point, payload: dict, event_id: str, attempts: int = 40) -> str:
    """Like Pub/Sub after a 500: a transaction that gave up under contention is delivered again, after a backoff.

    The emulator resolves lock conflicts by timing out (2 s) rather than by wound-wait like
    Firestore, so retrying at once would collide again; Pub/Sub's jittered backoff spreads them.
    """
    for attempt in range(attempts):
        try:
            return deliver(entry_point, payload, event_id, message_id=f"m-{event_id}-{attempt}")
        except (exceptions.Aborted, ValueError):
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2 ** attempt)))
    raise AssertionError(f"{event_id} kept aborting")


def sms_of(entry_point, event_id: str) -> list[dict]:
    """The sms.send requests a delivery left in its outbox."""
    marker = store.db().collection(store.PROCESSED).document(f"{entry_point.consumer}:{event_id}").get()
    return [item.data for item in (Envelope.model_validate(raw) for raw in marker.get("outbox"))
            if item.type == "sms.send"]


def subscriber(msisdn: str, language: str = "en", balance: int = 0, **fields) -> None:
    assert deliver(provisioning.on_subscriber, {"msisdn": msisdn, "language": language, **fields},
                   f"sub-{msisdn}-{time.monotonic_ns()}") == "processed"
    if balance:
        reference = f"seed-{msisdn}-{time.monotonic_ns()}"
        assert deliver(provisioning.on_topup, {"msisdn": msisdn, "amount": balance, "reference": reference},
                       reference) == "processed"


def balance(msisdn: str, bucket: str = "main") -> int:
    return ledger.read_account(store.db(), msisdn).balance(bucket)


def transfer(event_id: str, amount: int, sender: str = ALICE, recipient: str = BOB) -> dict:
    return {"request_id": f"session-{event_id}", "channel": "ussd", "sender": sender, "recipient": recipient,
            "amount": amount, "requested_at": utcnow().isoformat()}


def reference(event_id: str) -> str:
    return records.reference("transfer", event_id)


def record(ref: str) -> dict:
    return store.db().collection("transfers").document(ref).get().to_dict()


def kept_once_all_applied(event_ids: list[str], kind: str = "transfer", timeout: float = 120) -> list[dict]:
    """The records of the requests `event_ids` (transfers, or pay cards: `kind="voucher"`), once every one is kept."""
    deadline = time.monotonic() + timeout
    while not all(kept := [record(records.reference(kind, event_id)) for event_id in event_ids]):
        if time.monotonic() > deadline:
            raise AssertionError(f"{sum(map(bool, kept))} of {len(event_ids)} requests decided within {timeout:.0f} s")
        time.sleep(0.5)
    return kept


def sound(*msisdns: str) -> None:
    for msisdn in msisdns:
        assert ledger.check(store.db(), msisdn) == [], msisdn


@pytest.fixture
def use_operator():
    """Run the test as another operator: `use_operator("m1")` loads tests/fixtures/operators/m1.yaml."""
    saved = os.environ.get("VAS_OPERATOR_PROFILE")

    def use(name: str) -> None:
        os.environ["VAS_OPERATOR_PROFILE"] = str(PROFILES / f"{name}.yaml")
        settings.get.cache_clear()
        operator.current.cache_clear()

    yield use
    if saved is None:
        os.environ.pop("VAS_OPERATOR_PROFILE", None)
    else:
        os.environ["VAS_OPERATOR_PROFILE"] = saved
    settings.get.cache_clear()
    operator.current.cache_clear()


# --- a transfer -----------------------------------------------------------------------------

def test_a_transfer_delivered_twice_moves_money_once_and_tells_both_sides(firestore_clean):
    subscriber(ALICE, "en", balance=100_000 * SOM)
    subscriber(BOB, "ru", balance=1_000 * SOM)

    assert deliver(transfers.on_transfer_requested, transfer("t1", 5_000 * SOM), "t1", message_id="push-1") == "processed"
    assert deliver(transfers.on_transfer_requested, transfer("t1", 5_000 * SOM), "t1", message_id="push-2") == "duplicate"

    assert balance(ALICE) == (100_000 - 5_000 - 200) * SOM
    assert balance(BOB) == (1_000 + 5_000) * SOM
    ref = reference("t1")
    kept = record(ref)
    assert (kept["status"], kept["amount"], kept["fee"], kept["policy"]) == ("accepted", 5_000 * SOM, 200 * SOM,
                                                                              "mobiuz-direct")
    to_alice, to_bob = sms_of(transfers.on_transfer_requested, "t1")
    assert (to_alice["to"], to_alice["template"], to_alice["language"]) == (ALICE, "transfer.sent", "en")
    assert to_alice["params"] == {"amount": "5 000 so'm", "recipient": BOB, "fee": "200 so'm",
                                  "balance": "94 800 so'm", "reference": ref}
    assert (to_bob["to"], to_bob["template"], to_bob["language"]) == (BOB, "transfer.received", "ru")
    assert to_bob["params"]["sender"] == ALICE and to_bob["params"]["amount"] == "5 000 so'm"
    sound(ALICE, BOB)


def test_a_transfer_whose_transaction_is_retried_logs_accepted_once(firestore_clean, caplog):
    subscriber(ALICE, "en", balance=100_000 * SOM)
    subscriber(BOB, "en")
    entry = transfers.on_transfer_requested
    runs = []

    def contended_once(ctx, request):
        """The real handler, whose first transaction then loses to contention (Firestore runs it again)."""
        entry.handler(ctx, request)
        runs.append(ctx.event.id)
        if len(runs) == 1:
            raise exceptions.Aborted("contention")

    topic = catalog.load().consumer(entry.consumer).topic
    data, attributes = bus.encode(catalog.make_envelope(topic, transfer("t-retried", 5_000 * SOM), event_id="t-retried"))
    with caplog.at_level("INFO", logger="vas.transfers"):
        assert runtime.process(entry.consumer, contended_once, "m-retried", data, attributes,
                               after_commit=entry.after_commit) == "processed"
        assert runtime.process(entry.consumer, contended_once, "m-again", data, attributes,
                               after_commit=entry.after_commit) == "duplicate"

    assert len(runs) == 2  # the handler did run twice
    assert [r.getMessage() for r in caplog.records if r.name == "vas.transfers"] == ["transfer accepted"]
    assert balance(BOB) == 5_000 * SOM


def test_a_refused_transfer_moves_nothing_and_tells_the_sender_why_with_a_reference(firestore_clean):
    subscriber(ALICE, "en", balance=20_000 * SOM)
    subscriber(BOB, "en")

    assert deliver(transfers.on_transfer_requested, transfer("odd", 3_000 * SOM), "odd") == "processed"
    assert deliver(transfers.on_transfer_requested, transfer("big", 15_000 * SOM), "big") == "processed"

    assert balance(ALICE) == 20_000 * SOM and balance(BOB) == 0
    [odd] = sms_of(transfers.on_transfer_requested, "odd")
    assert odd["template"] == "transfer.refused" and odd["params"]["reference"] == reference("odd")
    assert "Allowed amounts: 2 500, 5 000, 10 000, 15 000, 20 000, 25 000 so'm" in odd["params"]["reason"]
    [big] = sms_of(transfers.on_transfer_requested, "big")
    assert "keep at least 10 000 so'm" in big["params"]["reason"]
    assert "You can send up to 5 000 so'm now" in big["params"]["reason"]
    assert record(reference("big"))["status"] == "refused"
    assert record(reference("big"))["refusal_code"] == "below_minimum_balance"
    assert record(reference("big"))["fee"] == 0
    sound(ALICE, BOB)


def test_an_unknown_recipient_is_refused_in_the_senders_language(firestore_clean):
    subscriber(ALICE, "ru", balance=50_000 * SOM)
    assert deliver(transfers.on_transfer_requested, transfer("nobody", 5_000 * SOM, recipient=CAROL), "nobody") \
        == "processed"
    [sms] = sms_of(transfers.on_transfer_requested, "nobody")
    assert sms["language"] == "ru" and CAROL in sms["params"]["reason"]
    assert "не обслуживается" in sms["params"]["reason"]
    assert balance(ALICE) == 50_000 * SOM


def test_a_subscriber_without_an_account_is_refused_and_nobody_is_debited(firestore_clean):
    subscriber(ALICE, "en", balance=50_000 * SOM)
    subscriber(BOB, "ru")
    store.db().collection(store.ACCOUNTS).document(BOB).delete()  # provisioned, but the ledger keeps no account

    assert deliver(transfers.on_transfer_requested, transfer("no-account", 5_000 * SOM), "no-account") == \
        "processed"
    kept = record(reference("no-account"))
    assert (kept["status"], kept["refusal_code"], kept["fee"]) == ("refused", "recipient_unknown", 0)
    assert not kept.get("recipient_credited")
    [sms] = sms_of(transfers.on_transfer_requested, "no-account")
    assert (sms["to"], sms["template"]) == (ALICE, "transfer.refused") and BOB in sms["params"]["reason"]
    assert balance(ALICE) == 50_000 * SOM
    assert not store.db().collection(store.ACCOUNTS).document(BOB).get().exists
    sound(ALICE)


@pytest.fixture
def rules_see_more(monkeypatch):
    """A policy that lets too much through: the rules see 2 000 000 so'm more on every main balance than there is."""
    decide = transfers.rules.decide
    monkeypatch.setattr(transfers.rules, "decide", lambda policy, *, balances, **facts: decide(
        policy, balances={**balances, "main": balances.get("main", 0) + 2_000_000 * SOM}, **facts))


def test_a_quote_the_balance_cannot_pay_is_refused_by_the_ledger_and_moves_nothing(firestore_clean, rules_see_more):
    subscriber(ALICE, "en", balance=20_000 * SOM)
    subscriber(BOB, "en", balance=1_000 * SOM)

    assert deliver(transfers.on_transfer_requested, transfer("unpayable", 25_000 * SOM), "unpayable") == "processed"
    kept = record(reference("unpayable"))
    assert (kept["status"], kept["refusal_code"]) == ("refused", "insufficient_balance")
    assert kept["refusal_params"]["balance"] == 20_000 * SOM
    [sms] = sms_of(transfers.on_transfer_requested, "unpayable")
    assert (sms["to"], sms["template"]) == (ALICE, "transfer.refused")
    assert (balance(ALICE), balance(BOB)) == (20_000 * SOM, 1_000 * SOM)
    assert not store.db().collection("transfer_history").document(ALICE).get().exists, "not counted in a limit"
    sound(ALICE, BOB)


def test_a_quote_for_a_sender_without_an_account_is_refused_and_moves_nothing(firestore_clean, rules_see_more):
    subscriber(ALICE, "en")
    subscriber(BOB, "en", balance=1_000 * SOM)
    store.db().collection(store.ACCOUNTS).document(ALICE).delete()

    assert deliver(transfers.on_transfer_requested, transfer("no-payer", 5_000 * SOM), "no-payer") == "processed"
    kept = record(reference("no-payer"))
    assert (kept["status"], kept["refusal_code"]) == ("refused", "insufficient_balance")
    assert balance(BOB) == 1_000 * SOM and not store.db().collection(store.ACCOUNTS).document(ALICE).get().exists
    sound(BOB)


def test_a_credit_past_the_ledgers_largest_balance_moves_no_money(firestore_clean):
    subscriber(ALICE, "en", balance=100_000 * SOM)
    subscriber(BOB, "en")
    full = ledger.Account.new(BOB, utcnow())
    full.credit("main", ledger_core.MAX_BALANCE - 1_000 * SOM, expires_at=None, reason="topup", reference="full",
                at=utcnow())
    store.db().collection(store.ACCOUNTS).document(BOB).set(ledger.account_to_document(full))

    with pytest.raises(ledger.InvalidAmount):   # retried, then dead-lettered: never half a transfer
        deliver(transfers.on_transfer_requested, transfer("ceiling", 5_000 * SOM), "ceiling")
    assert balance(ALICE) == 100_000 * SOM
    assert balance(BOB) == ledger_core.MAX_BALANCE - 1_000 * SOM
    assert record(reference("ceiling")) is None


def test_fifty_concurrent_requests_from_one_sender_never_pass_its_daily_limit(firestore_clean, function_server,
                                                                             push_subscriptions):
    """Requested at once, delivered as in Google Cloud: pushed many at a time, the sender's one at a time (its
    ordering key), each decided in its transaction on what the previous ones left."""
    recipients = [f"+99890765432{i}" for i in range(5)]
    subscriber(ALICE, "en", balance=1_000_000 * SOM)
    for number in recipients:
        subscriber(number, "en")
    push_subscriptions({"transfers-execute": function_server("transfers-execute").ready_url})

    def request(i: int) -> None:
        runtime.publish_new("transfer.requested", transfer(f"c{i}", 5_000 * SOM, recipient=recipients[i % 5]),
                            event_id=f"c{i}")

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(request, range(50)))
    kept = kept_once_all_applied([f"c{i}" for i in range(50)])
    elapsed = time.monotonic() - started
    print(f"50 concurrent transfer requests from one sender applied in {elapsed:.1f} s")

    accepted = [r for r in kept if r["status"] == "accepted"]
    assert sum(r["amount"] for r in accepted) == 100_000 * SOM, "exactly the daily limit, never more"
    assert {r["refusal_code"] for r in kept if r["status"] == "refused"} == {"daily_limit"}
    assert balance(ALICE) == (1_000_000 - len(accepted) * 5_200) * SOM
    assert sum(balance(number) for number in recipients) == 100_000 * SOM
    sound(ALICE, *recipients)


# --- top-up requests and the bar --------------------------------------------------------------

def test_a_topup_request_charges_its_fee_once_and_asks_the_target(firestore_clean):
    subscriber(ALICE, "en", balance=1_000 * SOM)
    subscriber(BOB, "zh")
    ask = {"request_id": "s-ask", "channel": "ussd", "requester": ALICE, "target": BOB, "amount": 5_000 * SOM,
           "requested_at": utcnow().isoformat()}

    assert deliver(transfers.on_topup_asked, ask, "ask-1", message_id="p1") == "processed"
    assert deliver(transfers.on_topup_asked, ask, "ask-1", message_id="p2") == "duplicate"

    assert balance(ALICE) == 900 * SOM
    to_bob, to_alice = sms_of(transfers.on_topup_asked, "ask-1")
    assert (to_bob["to"], to_bob["template"], to_bob["language"]) == (BOB, "transfer.topup_ask.request", "zh")
    assert to_bob["params"]["requester"] == ALICE and to_bob["params"]["amount"] == "5 000 so'm"
    assert to_alice["params"]["fee"] == "100 so'm" and to_alice["params"]["balance"] == "900 so'm"
    sound(ALICE)


def test_a_topup_request_without_the_fee_on_the_balance_is_refused_and_charges_nothing(firestore_clean):
    subscriber(ALICE, "en", balance=50 * SOM)
    subscriber(BOB, "en")
    ask = {"request_id": "s-ask", "channel": "ussd", "requester": ALICE, "target": BOB, "amount": 5_000 * SOM,
           "requested_at": utcnow().isoformat()}
    assert deliver(transfers.on_topup_asked, ask, "ask-poor") == "processed"
    [sms] = sms_of(transfers.on_topup_asked, "ask-poor")
    assert sms["to"] == ALICE and sms["template"] == "transfer.topup_ask.refused"
    assert "50 so'm is not enough: 100 so'm is needed" in sms["params"]["reason"]
    assert balance(ALICE) == 50 * SOM


def test_a_barred_sender_is_refused_until_care_lifts_the_bar(firestore_clean):
    subscriber(ALICE, "en", balance=100_000 * SOM)
    subscriber(BOB, "en")

    def bar(event_id: str, barred: bool, channel: str) -> list[dict]:
        change = {"request_id": event_id, "msisdn": ALICE, "barred": barred, "channel": channel,
                  "requested_at": utcnow().isoformat()}
        assert deliver(transfers.on_bar_changed, change, event_id) == "processed"
        return sms_of(transfers.on_bar_changed, event_id)

    assert [s["template"] for s in bar("bar-1", True, "ussd")] == ["transfer.bar.on"]
    deliver(transfers.on_transfer_requested, transfer("while-barred", 5_000 * SOM), "while-barred")
    assert record(reference("while-barred"))["refusal_code"] == "barred"
    [lift_by_phone] = bar("bar-2", False, "ussd")
    assert lift_by_phone["template"] == "transfer.bar.refused.lift_elsewhere", "a stolen phone cannot lift it"
    assert [s["template"] for s in bar("bar-3", False, "care")] == ["transfer.bar.off"]
    deliver(transfers.on_transfer_requested, transfer("after", 5_000 * SOM), "after")
    assert record(reference("after"))["status"] == "accepted"
    assert balance(BOB) == 5_000 * SOM


# --- the ledger after a mix -------------------------------------------------------------------

def test_the_ledger_balances_and_money_is_conserved_after_a_mix(firestore_clean):
    people = [ALICE, BOB, CAROL]
    for number in people:
        subscriber(number, "en", balance=60_000 * SOM)
    deposited = 3 * 60_000 * SOM
    steps = [(ALICE, BOB, 25_000), (BOB, CAROL, 2_500), (CAROL, ALICE, 3_000), (ALICE, CAROL, 25_000),
             (BOB, ALICE, 20_000), (CAROL, CAROL, 5_000), (ALICE, BOB, 10_000), (BOB, CAROL, 15_000)]
    for i, (sender, recipient, amount) in enumerate(steps):
        deliver(transfers.on_transfer_requested, transfer(f"mix{i}", amount * SOM, sender, recipient), f"mix{i}")
    deliver(transfers.on_topup_asked, {"request_id": "a", "channel": "ussd", "requester": CAROL, "target": ALICE,
                                       "amount": 2_500 * SOM, "requested_at": utcnow().isoformat()}, "mix-ask")

    fees = sum(d.get("fee") for d in (doc.to_dict() for doc in store.db().collection("transfers").stream()))
    held = sum(ledger.read_account(store.db(), number).total for number in people)
    assert held + fees == deposited
    assert fees > 0 and all(balance(number) >= 0 for number in people)
    sound(*people)


# --- other operators' presets -----------------------------------------------------------------

SG_A, SG_B, BANGLADESH = "+6591234567", "+6591234568", "+8801712345678"


def test_m1_credits_the_bonus_balance_for_30_days_and_the_error_sms_carries_a_reference(firestore_clean,
                                                                                       use_operator):
    use_operator("m1")
    subscriber(SG_A, "en", balance=2_000)  # 20.00 SGD
    subscriber(SG_B, "zh")

    deliver(transfers.on_transfer_requested, transfer("m1", 500, SG_A, SG_B), "m1")
    assert balance(SG_A) == 2_000 - 500 - 5
    assert balance(SG_B, "main") == 0 and balance(SG_B, "bonus") == 500
    [lot] = ledger.read_account(store.db(), SG_B).buckets["bonus"].lots
    assert 29 <= (lot.expires_at - utcnow()).days <= 30
    to_a, to_b = sms_of(transfers.on_transfer_requested, "m1")
    assert to_a["params"]["fee"] == "0.05 SGD" and to_a["params"]["balance"] == "14.95 SGD"
    assert to_b["template"] == "transfer.received_until" and to_b["params"]["amount"] == "5 SGD"

    deliver(transfers.on_transfer_requested, transfer("m1-bad", 300, SG_A, SG_B), "m1-bad")
    [error] = sms_of(transfers.on_transfer_requested, "m1-bad")
    assert error["params"]["reference"] == reference("m1-bad") and reference("m1-bad") in error["params"]["reference"]
    assert "2, 5, 10 SGD" in error["params"]["reason"]
    assert balance(SG_A) == 2_000 - 505, "a failed transfer is never charged"
    sound(SG_A, SG_B)


def test_m1_international_sends_abroad_off_our_ledger_and_refuses_local_numbers_there(firestore_clean,
                                                                                     use_operator):
    use_operator("m1")
    subscriber(SG_A, "en", balance=5_000)
    deliver(transfers.on_transfer_requested, transfer("abroad", 1_000, SG_A, BANGLADESH), "abroad")
    kept = record(reference("abroad"))
    assert (kept["status"], kept["policy"], kept["recipient_credited"]) == ("accepted", "m1-msend-international",
                                                                            False)
    assert balance(SG_A) == 4_000, "no fee beyond the amount sent"
    to_sender, to_abroad = sms_of(transfers.on_transfer_requested, "abroad")
    assert to_abroad["to"] == BANGLADESH and to_abroad["template"] == "transfer.received_abroad"
    sound(SG_A)


# --- the operator CLI -------------------------------------------------------------------------

def test_care_looks_a_transfer_up_by_reference_sees_limits_left_and_lifts_a_bar(firestore_clean, tap, capsys):
    from functions.transfers.__main__ import main as cli

    subscriber(ALICE, "en", balance=100_000 * SOM)
    subscriber(BOB, "en")
    deliver(transfers.on_transfer_requested, transfer("care", 20_000 * SOM), "care")
    ref = reference("care")

    assert cli(["show", ref.lower().replace("-", "")]) == 0
    shown = capsys.readouterr().out
    assert "20 000 so'm" in shown and "accepted" in shown and BOB in shown
    assert cli(["show", "TR-0000-0000"]) == 1

    assert cli(["history", "901234567"]) == 0
    listed = capsys.readouterr().out
    assert ref in listed and "80 000 so'm of 100 000 so'm left" in listed

    pull = tap("transfer.bar-changed")
    assert cli(["unbar", ALICE]) == 0
    [published] = pull(1)
    assert published.data["msisdn"] == ALICE and published.data["barred"] is False
    assert published.data["channel"] == "care"
