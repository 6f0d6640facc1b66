"""The ledger on the real emulators: atomic transfers, the expiry sweep and the invariant check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.cloud import firestore

from functions.ledger import __main__ as ledger_cli
from functions.ledger import main as expiry
from shared import bus, catalog, ledger, runtime, store
from shared.events import Envelope, utcnow
from tests.integration.test_provisioning import ALICE, BOB, deliver, entries, outbox, provision, topup

CAROL = "+998901234569"


def in_transaction(work, event_id: str = "op-1") -> runtime.Context:
    """Run `work(ctx)` in one Firestore transaction, the way a consumer's handler runs."""
    db = store.db()
    cause = catalog.make_envelope("clock.ledger-expiry", {}, event_id=event_id)

    @firestore.transactional
    def run(txn):
        ctx = runtime.Context(consumer="ledger-test", event=cause, db=db, txn=txn)
        work(ctx)
        return ctx

    return run(db.transaction(max_attempts=25))


def transfer(payer: str, payee: str, amount: int, reference: str):
    def work(ctx):
        source, target = ledger.open(ctx, payer), ledger.open(ctx, payee)
        source.debit("main", amount, reason="transfer", reference=reference)
        target.credit("main", amount, expires_at=None, reason="transfer", reference=reference)
        ledger.save(ctx, source, target)
    return in_transaction(work, event_id=reference)


def redeliver(entry_point, envelope: Envelope) -> str:
    """Feed a follow-up event from an outbox to its consumer, as its push subscription would."""
    data, attributes = bus.encode(envelope)
    return runtime.process(entry_point.consumer, entry_point.handler, f"m-{envelope.id}", data, attributes)


def total(msisdn: str) -> int:
    return ledger.read_account(store.db(), msisdn).total


def sweep(event_id: str) -> list[Envelope]:
    assert deliver(expiry.on_expiry_tick, {}, event_id) == "processed"
    return outbox(expiry.on_expiry_tick, event_id)


@pytest.fixture
def subscribers(firestore_clean):
    for number, event_id in ((ALICE, "sub-a"), (BOB, "sub-b"), (CAROL, "sub-c")):
        provision(number, event_id)


def test_a_transfer_moves_money_between_two_accounts_atomically(subscribers):
    topup("t-1", "R-1", amount=10_000)
    ctx = transfer(ALICE, BOB, 2_500, "tr-1")
    assert (total(ALICE), total(BOB)) == (7_500, 2_500)
    changes = [e.data for e in ctx.outbox if e.type == "balance.changed"]
    assert sorted((c["msisdn"], c["delta"], c["balance"]) for c in changes) == [(ALICE, -2_500, 7_500),
                                                                              (BOB, 2_500, 2_500)]
    with pytest.raises(ledger.InsufficientFunds):
        transfer(ALICE, BOB, 7_501, "tr-2")
    assert (total(ALICE), total(BOB)) == (7_500, 2_500), "a refused transfer changes neither account"
    assert len(entries(BOB)) == 1


def test_concurrent_debits_never_drive_a_balance_negative(subscribers):
    from concurrent.futures import ThreadPoolExecutor

    topup("t-1", "R-1", amount=2_000)

    def attempt(n: int) -> bool:
        for _ in range(5):  # contention that outlasts the transaction's own retries: Pub/Sub redelivers
            try:
                transfer(ALICE, BOB, 1_000, f"tr-{n}")
                return True
            except ledger.InsufficientFunds:
                return False
            except ValueError as exhausted:
                if "Failed to commit transaction" not in str(exhausted):
                    raise
        raise AssertionError("transfer never committed")

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(attempt, range(3)))
    assert outcomes.count(True) == 2
    assert (total(ALICE), total(BOB)) == (0, 2_000)
    assert dict(ledger.check_all(store.db())) == {ALICE: [], BOB: [], CAROL: []}


def test_money_past_its_validity_cannot_be_spent_even_before_the_sweep(subscribers):
    topup("t-1", "R-1", amount=10_000, validity_days=1, occurred_at=utcnow() - timedelta(days=2))
    with pytest.raises(ledger.InsufficientFunds):
        transfer(ALICE, BOB, 1, "tr-1")
    assert ledger.read_account(store.db(), ALICE).buckets["main"].lots == []


def test_the_sweep_expires_due_lots_with_an_event_per_lot_and_the_balance_reflects_it(subscribers):
    topup("t-1", "R-1", amount=200_000)
    topup("t-2", "R-2", amount=500_000, validity_days=1, occurred_at=utcnow() - timedelta(days=3))
    topup("t-3", "R-3", amount=100_000, validity_days=30, msisdn=BOB)
    assert total(ALICE) == 200_000, "the late recharge is past its validity: not spendable"

    [order] = sweep("tick-1")
    assert order.type == "ledger.expire-account" and order.data["msisdn"] == ALICE
    assert redeliver(expiry.on_expire_account, order) == "processed"

    events = {e.type: e.data for e in outbox(expiry.on_expire_account, order.id)}
    assert events["ledger.lot-expired"]["amount"] == 500_000 and events["ledger.lot-expired"]["bucket"] == "main"
    assert events["balance.changed"]["delta"] == -500_000 and events["balance.changed"]["balance"] == 200_000
    assert total(ALICE) == 200_000 and total(BOB) == 100_000
    assert [e["kind"] for e in sorted(entries(ALICE), key=lambda e: e["id"])] == ["credit", "credit", "expiry"]

    assert sweep("tick-2") == [], "nothing is due any more"
    late_copy = catalog.make_envelope("ledger.expire-account", order.data, event_id="another-sweep")
    assert redeliver(expiry.on_expire_account, late_copy) == "processed"
    assert outbox(expiry.on_expire_account, "another-sweep") == [], "a second run finds nothing to expire"
    assert total(ALICE) == 200_000


def test_a_long_sweep_continues_page_by_page_until_every_account_is_covered(subscribers, monkeypatch):
    monkeypatch.setattr(expiry, "SWEEP_PAGE", 2)
    long_ago = utcnow() - timedelta(days=3)
    for number, reference in ((ALICE, "R-1"), (BOB, "R-2"), (CAROL, "R-3")):
        topup(f"t-{reference}", reference, msisdn=number, validity_days=1, occurred_at=long_ago)

    first = sweep("tick-1")
    orders = [e for e in first if e.type == "ledger.expire-account"]
    [continuation] = [e for e in first if e.type == "clock.ledger-expiry"]
    assert len(orders) == 2 and continuation.data["cursor"]
    assert redeliver(expiry.on_expiry_tick, continuation) == "processed"
    rest = outbox(expiry.on_expiry_tick, continuation.id)
    assert [e.type for e in rest] == ["ledger.expire-account"]
    assert sorted(e.data["msisdn"] for e in orders + rest) == sorted([ALICE, BOB, CAROL])


def test_the_invariant_check_passes_after_a_mix_of_operations_and_finds_a_tampered_balance(subscribers, capsys):
    topup("t-1", "R-1", amount=300_000, validity_days=1, occurred_at=utcnow() - timedelta(days=2))
    topup("t-2", "R-2", amount=100_000)
    topup("t-3", "R-3", amount=50_000, bucket="bonus", validity_days=7)
    transfer(ALICE, BOB, 40_000, "tr-1")  # also records the due lot's expiry
    transfer(BOB, CAROL, 15_000, "tr-2")
    [order] = sweep("tick-1") or [None]
    assert order is None, "the transfer already recorded the expiry"
    assert dict(ledger.check_all(store.db())) == {ALICE: [], BOB: [], CAROL: []}
    assert ledger_cli.main(["check"]) == 0

    account = store.db().collection(store.ACCOUNTS).document(BOB)
    account.update({"buckets.main.lots": [{"id": "000000000001", "amount": 99_000, "expires_at": None,
                                           "credited_at": utcnow()}]})
    problems = ledger.check(store.db(), BOB)
    assert [p.bucket for p in problems] == ["main"]
    assert "lots hold 99000, entries sum to 25000" in problems[0].problem

    account.update({"buckets.main.balance": 1})
    assert any("balance states 1" in p.problem for p in ledger.check(store.db(), BOB))

    capsys.readouterr()
    assert ledger_cli.main(["check", BOB, ALICE]) == 1
    report = capsys.readouterr()
    assert BOB in report.out and ALICE not in report.out
    assert "1 with discrepancies" in report.err
