"""Auto-recharge and top-ups on the real emulators: the payment emulator charged through the real stripe
client, its signed webhooks through the real webhook function, the emails read back from moto's SES.

Every event is delivered twice (concurrently where it arrives concurrently) to its consumer, the
way Pub/Sub may, and what each delivery leaves in its outbox is delivered next (`pump`), so a
chain usage -> settle -> charge -> payment -> email runs as the stack would run it.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from google.api_core import exceptions

from emulators.payments import webhooks
from functions.credits import charging, expiry, refused, settle, usage, wallet
from functions.credits.config import BUCKET
from functions.credits.documents import (
    ACCOUNTS,
    CHARGES,
    ENTRIES,
    USERS,
    AutoRecharge,
    Card,
    CreditAccount,
    to_document,
)
from functions.notify import main as notify
from functions.notify.lease import SendInProgress
from functions.zero_balance import main as zero_balance
from functions.zero_balance.documents import ATTEMPTS
from shared import bus, catalog, runtime, settings, store
from shared.events import Envelope, utcnow
from shared.ledger import account_to_document
from shared.ledger_core import Account, Bucket
from shared.payments import PaymentError, gateway as payment_gateway
from tests.integration.test_time_travel import moved_clock  # noqa: F401 - the clock fixture

ACME = "acme-contact"
AGENT = "+998901110001"
SOM = 100
TRIGGER, AMOUNT = 20_000 * SOM, 100_000 * SOM
ORDERED = {name: topic.ordering_key for name, topic in catalog.load().topics.items()
           if topic.ordering_key and name != "bss.usage"}
MAX_WAVES = 12  # usage -> settle (-> settle) -> charge -> email: a chain longer than this is a loop

# Topic -> the consumers a push subscription feeds it to (the chain's links this file follows).
CONSUMERS = {
    "bss.usage": [usage.on_usage],
    "credits.settle": [settle.on_settle],
    "credits.charge-requested": [charging.on_charge_requested],
    "credits.payment-reported": [charging.on_payment_reported],
    "credits.due": [expiry.on_due],
    "email.send": [notify.on_email_send],
}


@pytest.fixture
def mailbox(firestore_clean, ses, payments):
    """A fresh address for the account's holder, and the emails SES took for it."""
    address = f"acme-{uuid.uuid4().hex[:10]}@mail.example"

    def received() -> list[dict]:
        return [mail for mail in ses.sent() if address in mail["destinations"].get("ToAddresses", [])]

    received.address = address
    payments.reset()  # this test's payments only (the emulator serves the whole session)
    payments.configure(None)
    return received


def open_account(email: str, token: str = "pm_card_visa", *, balance: int = 0, account_id: str = ACME,
                 kind: str = "business", language: str = "en", enabled: bool = True, count: int = 5) -> Card:
    """A credit account holding `balance` (one purchase), a card attached at the gateway, auto-recharge as given."""
    gateway_ = payment_gateway()
    customer = gateway_.create_customer(account_id, email, "Acme contact centre")
    attached = gateway_.attach_card(customer, token)
    card = Card(token=attached.token, brand=attached.brand, last4=attached.last4)
    now = utcnow()
    ledger = Account(account_id, {BUCKET: Bucket(BUCKET)}, created_at=now, updated_at=now)
    if balance:
        ledger.credit(BUCKET, balance, expires_at=wallet.add_months(now, 12), reason="purchase",
                       reference="seed", at=now)
    account = CreditAccount(
        id=account_id, kind=kind, name="Acme contact centre", email=email, language=language, currency="UZS",
        customer=customer, card=card,
        auto=AutoRecharge(enabled=enabled, trigger=TRIGGER, amount=AMOUNT, monthly_max_count=count,
                          monthly_max_amount=500_000 * SOM),
        ledger=account_to_document(ledger), created_at=now, updated_at=now,
    )
    db = store.db()
    db.collection(ACCOUNTS).document(account_id).set(to_document(account))
    db.collection(USERS).document(AGENT).set({"account_id": account_id, "msisdn": AGENT, "added_at": now})
    return card


def account(account_id: str = ACME) -> CreditAccount:
    return CreditAccount.model_validate(store.db().collection(ACCOUNTS).document(account_id).get().to_dict())


def balance(account_id: str = ACME) -> int:
    return wallet.credits_of(account(account_id)).balance(BUCKET)


def purchases(account_id: str = ACME) -> list[dict]:
    entries = store.db().collection(ACCOUNTS).document(account_id).collection(ENTRIES).stream()
    return [entry for entry in (doc.to_dict() for doc in entries) if entry["kind"] == "credit"
            and entry["reference"] != "seed"]


def charge(charge_id: str) -> dict:
    return store.db().collection(CHARGES).document(charge_id).get().to_dict()


# --- delivering as Pub/Sub would -----------------------------------------------------------------

def deliver(entry, envelope: Envelope, message_id: str) -> str:
    """One delivery through the runtime, its `before` (the gateway call) and `after_commit` (SES) included."""
    data, attributes = bus.encode(envelope)
    for attempt in range(40):  # a 500 (contention, another copy sending the email) comes back after a backoff
        try:
            return runtime.process(entry.consumer, entry.handler, f"{message_id}-{attempt}", data, attributes,
                                   after_commit=entry.after_commit, before=entry.before)
        except (exceptions.Aborted, ValueError, SendInProgress):
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2 ** attempt)))
    raise AssertionError(f"{envelope.id} kept aborting")


def outbox(entry, event_id: str) -> list[Envelope]:
    marker = store.db().collection(store.PROCESSED).document(f"{entry.consumer}:{event_id}").get()
    return [Envelope.model_validate(raw) for raw in marker.get("outbox")] if marker.exists else []


def pump(envelopes: list[Envelope], *, copies: int = 2, workers: int = 8) -> list[Envelope]:
    """Deliver each envelope `copies` times at once to its consumers, then their follow-ups, until none follow."""
    seen: dict[str, Envelope] = {envelope.id: envelope for envelope in envelopes}
    wave = list(envelopes)
    for _ in range(MAX_WAVES):
        if not wave:
            return list(seen.values())
        jobs = [(entry, envelope, f"m-{envelope.id}-{copy}") for envelope in wave
                for entry in CONSUMERS.get(envelope.type, []) for copy in range(copies)]
        random.shuffle(jobs)
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda turns: [deliver(*job) for job in turns], in_turns(jobs)))
        follow = [later for envelope in wave for entry in CONSUMERS.get(envelope.type, [])
                  for later in outbox(entry, envelope.id) if later.id not in seen]
        seen.update((later.id, later) for later in follow)
        wave = follow
    raise AssertionError(f"still following up after {MAX_WAVES} rounds: {sorted({e.type for e in wave})}")


def in_turns(jobs: list[tuple]) -> list[list[tuple]]:
    """The deliveries as Pub/Sub makes them: one key of an ordered topic at a time (its copies too, in turn).

    Usage (`bss.usage`, ordered by the line) is left all at once, harsher than Pub/Sub: its records never
    contend. An account's settlements, charges and payments are the account's turns: all at once, they
    would only measure the Firestore emulator, which holds contending commits for minutes."""
    turns: dict[str, list[tuple]] = {}
    for job in jobs:
        _, envelope, message_id = job
        field = ORDERED.get(envelope.type)
        key = f"{envelope.type}/{envelope.data[field]}" if field else message_id
        turns.setdefault(key, []).append(job)
    return list(turns.values())


def sweep(clock, hours: float) -> None:
    """Move the clock on `hours`: its credits ticks fan out to the accounts due, and what follows is delivered."""
    ticks = [tick for tick in clock.advance(timedelta(hours=hours)) if tick.type == "clock.credits"]
    for tick in ticks:
        deliver(expiry.on_tick, tick, f"m-{tick.id}")
        pump([due for due in outbox(expiry.on_tick, tick.id) if due.type == "credits.due"])


def event(topic: str, payload: dict, event_id: str) -> Envelope:
    return catalog.make_envelope(topic, payload, event_id=event_id)


def call(reference: str, amount: int) -> Envelope:
    return event("bss.usage", {"msisdn": AGENT, "kind": "call", "amount": amount, "reference": reference,
                               "at": utcnow().isoformat(), "charged_to": "credits", "destination": "998712000123",
                               "duration_seconds": 60}, f"usage-{reference}")


def top_up(charge_id: str, amount: int, account_id: str = ACME) -> Envelope:
    return event("credits.charge-requested", {"account_id": account_id, "charge_id": charge_id, "amount": amount,
                                              "reason": "manual", "channel": "api",
                                              "requested_at": utcnow().isoformat()}, f"ask-{charge_id}")


def of(envelopes: list[Envelope], topic: str) -> list[Envelope]:
    return [envelope for envelope in envelopes if envelope.type == topic]


# --- the tests -------------------------------------------------------------------------------------

def test_fifty_concurrent_debits_across_the_trigger_each_delivered_twice_pay_once_credit_one_lot_and_email_once(
        mailbox, payments):
    open_account(mailbox.address, balance=TRIGGER + 10_000 * SOM)
    debits = [call(f"cdr-{n}", 400 * SOM) for n in range(50)]   # 20 000 so'm in all: 10 000 below the trigger

    seen = pump(debits)

    [payment] = payments.payment_intents(ACME)
    assert (payment["amount"], payment["status"]) == (AMOUNT, "succeeded")
    [lot] = purchases()
    assert lot["delta"] == AMOUNT and lot["reference"] == f"{ACME}.auto.1"
    assert balance() == TRIGGER + 10_000 * SOM - 20_000 * SOM + AMOUNT
    assert len({e.id for e in of(seen, "credits.charge-requested")}) == 1, "one recharge asked for the crossing"
    state = account().recharge
    assert (state.phase, state.crossings, state.month_count) == ("armed", 1, 1)
    [mail] = mailbox()
    assert mail["subject"] == "Credits added: 100 000 so'm"
    assert "110 000 so'm" in mail["body"] and f"{ACME}.auto.1" in mail["body"]
    expires = charge(f"{ACME}.auto.1")["expires_at"]
    assert f"{expires.day:02d}/{expires.month:02d}/{expires.year}" in mail["body"], "the expiry date, en style"


def test_a_top_up_by_hand_pays_once_however_often_it_is_asked_and_leaves_auto_recharge_alone(mailbox, payments):
    open_account(mailbox.address, balance=TRIGGER * 2, enabled=False)
    asked = top_up(f"{ACME}.api.key-1", 50_000 * SOM)
    pump([asked], copies=3)
    pump([asked])   # and once more, long after
    assert len(payments.payment_intents(ACME)) == 1
    assert balance() == TRIGGER * 2 + 50_000 * SOM
    assert charge(f"{ACME}.api.key-1")["status"] == "succeeded"
    assert account().recharge.crossings == 0 and account().recharge.month_count == 0
    [mail] = mailbox()
    assert mail["subject"] == "Credits added: 50 000 so'm"


@pytest.mark.parametrize(("token", "code", "says"), [
    ("pm_card_chargeDeclined", "generic_decline", "the bank declined the card"),
    ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "the card has insufficient funds"),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", "the card ending in 0069 has expired"),
    ("pm_card_authenticationRequired", "authentication_required", "the bank asks you to confirm the payment"),
])
def test_a_failed_top_up_credits_nothing_and_its_email_names_the_reason(mailbox, payments, token, code, says):
    open_account(mailbox.address, token, balance=TRIGGER * 2, enabled=False)
    pump([top_up(f"{ACME}.api.key-2", 50_000 * SOM)])
    stored = charge(f"{ACME}.api.key-2")
    assert (stored["status"], stored["failure_code"]) == (
        "requires_action" if code == "authentication_required" else "failed", code)
    assert balance() == TRIGGER * 2 and purchases() == []
    [mail] = mailbox()
    assert mail["subject"] == "Payment of 50 000 so'm failed"
    assert says in mail["body"] and "Nothing was charged" in mail["body"]


def test_a_failed_auto_recharge_is_retried_after_the_wait_and_the_third_failure_turns_it_off(
        mailbox, payments, moved_clock):  # noqa: F811 - the clock fixture
    open_account(mailbox.address, "pm_card_chargeDeclined", balance=TRIGGER + 100 * SOM)
    pump([call("cdr-1", 200 * SOM)])
    state = account().recharge
    assert (state.phase, state.failures, state.attempt) == ("pending", 1, 1)
    assert account().next_due_at == state.retry_at, "the clock's sweep will wake the account for the retry"

    sweep(moved_clock, 0.5)
    assert len(payments.payment_intents(ACME)) == 1, "not before the wait is over"
    sweep(moved_clock, 0.75)
    assert len(payments.payment_intents(ACME)) == 2 and account().recharge.failures == 2
    sweep(moved_clock, 6.5)
    assert len(payments.payment_intents(ACME)) == 3
    after = account()
    assert not after.auto.enabled and after.recharge.phase == "waiting" and after.recharge.failures == 3
    sweep(moved_clock, 24)
    assert len(payments.payment_intents(ACME)) == 3, "off means off"
    subjects = [mail["subject"] for mail in mailbox()]
    assert subjects.count("Payment of 100 000 so'm failed") == 3
    assert subjects.count("Auto-recharge is off") == 1
    [off] = [mail for mail in mailbox() if mail["subject"] == "Auto-recharge is off"]
    assert "the last 3 payments failed in a row" in off["body"]


def test_a_recharge_request_dead_lettered_after_the_card_changed_is_asked_again_by_the_clock_and_paid_once(
        mailbox, payments, moved_clock, monkeypatch):  # noqa: F811 - the clock fixture
    open_account(mailbox.address, balance=TRIGGER + 100 * SOM)
    with monkeypatch.context() as patched:
        patched.setitem(CONSUMERS, "credits.charge-requested", [])   # the request is held back, delivered below
        [asked] = of(pump([call("cdr-1", 200 * SOM)]), "credits.charge-requested")
    gateway_ = payment_gateway()
    reach = gateway_.charge

    def reached_then_timed_out(**kwargs):
        reach(**kwargs)
        raise PaymentError("read timed out after the gateway took the request")

    def down(**kwargs):
        raise PaymentError("the payment gateway is unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(gateway_, "charge", reached_then_timed_out)
        with pytest.raises(PaymentError):
            deliver(charging.on_charge_requested, asked, "m-asked-1")
    attached = gateway_.attach_card(account().customer, "pm_card_visa")   # the holder replaces the card meanwhile
    store.db().collection(ACCOUNTS).document(ACME).update({"card.token": attached.token})
    with monkeypatch.context() as patched:
        patched.setattr(gateway_, "charge", down)
        for copy in range(2, 5):   # every redelivery fails until Pub/Sub dead-letters the request
            with pytest.raises(PaymentError):
                deliver(charging.on_charge_requested, asked, f"m-asked-{copy}")
    assert account().recharge.phase == "pending" and purchases() == []
    assert account().next_due_at is not None, "the clock will look at the unanswered attempt"

    sweep(moved_clock, 1.5)
    assert purchases() == [], "not while Pub/Sub may still be redelivering it"
    sweep(moved_clock, 1.0)

    [payment] = payments.payment_intents(ACME)
    assert payment["status"] == "succeeded", "asked again with the card it opened with, under the same key"
    [lot] = purchases()
    assert lot["reference"] == f"{ACME}.auto.1" and balance() == TRIGGER - 100 * SOM + AMOUNT
    assert account().recharge.phase == "armed" and account().recharge.attempt == 1
    assert [mail["subject"] for mail in mailbox()] == ["Credits added: 100 000 so'm"]


def test_a_refused_call_recharges_a_caller_with_auto_recharge_and_zerox_offers_nothing(mailbox, payments):
    individual = AGENT.lstrip("+")
    open_account(mailbox.address, balance=0, account_id=individual, kind="individual")
    store.db().collection(USERS).document(AGENT).delete()   # the individual's own line, no business's user
    store.db().collection(store.SUBSCRIBERS).document(AGENT).set(
        {"msisdn": AGENT, "status": "active", "language": "en"})
    refusal = {"attempt_id": "att-1", "caller": AGENT, "destination": "+998901110002", "kind": "call",
               "indicator": "zero", "at": utcnow().isoformat()}
    refused_event = event("network.attempt-refused", refusal, "refused-1")
    for entry in (refused.on_attempt_refused, zero_balance.on_attempt_refused):
        for copy in range(2):
            assert deliver(entry, refused_event, f"m-refused-{copy}") in ("processed", "duplicate")
    pump(outbox(refused.on_attempt_refused, "refused-1"))

    [payment] = payments.payment_intents(individual)
    assert payment["status"] == "succeeded" and balance(individual) == AMOUNT
    assert charge(f"{individual}.auto.1")["reason"] == "network"
    decided = store.db().collection(ATTEMPTS).document("att-1").get().to_dict()
    assert decided["outcome"] == "auto_recharge", "the recharge answers the refusal instead of the offer"
    assert [mail["subject"] for mail in mailbox()] == ["Credits added: 100 000 so'm"]


# --- the gateway's webhooks ------------------------------------------------------------------------

@pytest.fixture
def webhook(payments, function_server, tap):
    """The credits-payment-webhook function serving, the emulator sending its webhooks there, and what it publishes."""
    server = function_server("credits-payment-webhook")
    url = server.ready_url
    payments.configure(url)
    reported = tap("credits.payment-reported")
    yield url, reported
    payments.configure(None)


def test_the_webhook_and_the_reply_together_credit_once_and_a_replay_changes_nothing(mailbox, payments, webhook):
    url, reported = webhook
    open_account(mailbox.address, balance=TRIGGER * 2, enabled=False)
    pump([top_up(f"{ACME}.api.key-3", 30_000 * SOM)])
    [report] = reported(1, timeout=30)
    assert (report.data["charge_id"], report.data["status"]) == (f"{ACME}.api.key-3", "succeeded")
    pump([report], copies=3)
    [gateway_event] = payments.events(report.data["payment_intent"])
    assert payments.replay(gateway_event["id"]) == 200
    replayed = reported(1, timeout=30)
    assert [again.id for again in replayed] == [report.id], "the replay is the same event"
    pump(replayed)

    assert balance() == TRIGGER * 2 + 30_000 * SOM and len(purchases()) == 1
    assert len(mailbox()) == 1


def test_a_crash_after_the_payment_is_credited_by_the_webhook_and_the_redelivery_pays_nothing_more(
        mailbox, payments, webhook, monkeypatch):
    url, reported = webhook
    open_account(mailbox.address, balance=TRIGGER * 2, enabled=False)
    asked = top_up(f"{ACME}.api.key-4", 30_000 * SOM)

    def crash(*args, **kwargs):
        raise SystemError("instance stopped after the gateway answered, before the transaction")

    with monkeypatch.context() as patched:
        patched.setattr(charging, "apply", crash)
        with pytest.raises(SystemError):
            deliver(charging.on_charge_requested, asked, "m-crash")
    assert charge(f"{ACME}.api.key-4")["status"] == "requested" and balance() == TRIGGER * 2
    [report] = reported(1, timeout=30)
    pump([report])
    assert balance() == TRIGGER * 2 + 30_000 * SOM
    pump([asked])   # Pub/Sub delivers the charge request again: the charge is credited, nothing is asked
    assert len(payments.payment_intents(ACME)) == 1 and len(purchases()) == 1 and len(mailbox()) == 1


def test_an_unsigned_or_altered_webhook_is_refused_and_publishes_nothing(mailbox, payments, webhook):
    url, reported = webhook
    open_account(mailbox.address, balance=TRIGGER * 2, enabled=False)
    pump([top_up(f"{ACME}.api.key-5", 30_000 * SOM)])
    [report] = reported(1, timeout=30)
    [gateway_event] = payments.events(report.data["payment_intent"])
    secret = settings.get().payments_webhook_secret
    genuine = json.dumps({**gateway_event, "id": "evt_another"}).encode()
    forged = gateway_event["data"]["object"] | {"amount": 99_999_999}
    altered = json.dumps({**gateway_event, "id": "evt_another", "data": {"object": forged}}).encode()
    signed = webhooks.sign(genuine, secret, int(time.time()))

    def post(body: bytes, **headers: str) -> int:
        headers = {"Content-Type": "application/json", **headers}
        return requests.post(url, data=body, headers=headers, timeout=10).status_code

    assert post(genuine) == 400, "unsigned"
    assert post(altered, **{"Stripe-Signature": signed}) == 400, "signed for another body"
    assert reported.rest() == []
    assert post(genuine, **{"Stripe-Signature": signed}) == 200, "the same body, signed: taken"
    [taken] = reported(1, timeout=30)
    pump([taken])
    assert reported.rest() == []
    assert balance() == TRIGGER * 2 + 30_000 * SOM and len(purchases()) == 1
