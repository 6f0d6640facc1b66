"""The wallet's rules without Firestore: oldest purchase first, expiry, conservation of money, never below zero,
expiry notices once each, and the holder's emails."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, strategies as st

from functions.credits import mail, settle, wallet
from functions.credits.config import BUCKET, load_preset
from functions.credits.documents import AutoRecharge, CreditAccount, Usage
from shared import catalog, operator, runtime
from shared.ledger import account_to_document
from shared.ledger_core import LotMovement, reconcile

START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
CONFIG = load_preset("demotel-credits", operator.current().currency)


def account(email: str | None = "owner@acme.example", language: str = "uz") -> CreditAccount:
    return CreditAccount(
        id="acme-contact", kind="business", name="Acme", email=email, language=language, currency="UZS",
        auto=AutoRecharge(trigger=100, amount=1_000, monthly_max_count=5, monthly_max_amount=5_000),
        ledger=wallet.empty_ledger("acme-contact", START), created_at=START, updated_at=START,
    )


def usage(n: int, amount: int, at: datetime) -> Usage:
    return Usage(reference=f"cdr-{n}", account_id="acme-contact", msisdn="+998901110001", kind="call", amount=amount,
                 at=at, event_id=f"e-{n}")


# A day's work: buy (amount) or use (amounts, one settlement batch), days after the previous step.
steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=200),
        st.one_of(
            st.tuples(st.just("buy"), st.integers(min_value=1, max_value=5_000)),
            st.tuples(st.just("use"), st.lists(st.integers(min_value=0, max_value=3_000), min_size=1, max_size=6)),
        ),
    ),
    max_size=25,
)


@given(steps)
def test_credits_go_oldest_purchase_first_expire_after_12_months_and_money_is_conserved(plan):
    """Against a plain model (a queue of purchases): the same draws, the same expiries, the same balance."""
    held = account()
    now, entries = START, []
    model: list[list] = []   # [lot_id, amount left, expires_at], oldest purchase first
    bought = used = expired = 0
    for n, (days, (action, amounts)) in enumerate(plan):
        now += timedelta(days=days)
        opened = wallet.wallet_of(held, now)   # what every consumer does: lots due are forfeited on opening
        due = [lot for lot in model if lot[2] <= now]
        expired += sum(lot[1] for lot in due)
        model = [lot for lot in model if lot[2] > now]
        assert [entry.delta for entry in opened.entries] == [-lot[1] for lot in due]
        if action == "buy":
            entry = opened.credit(amounts, reason="purchase", reference=f"charge-{n}")
            model.append([entry.lots[0].lot_id, amounts, wallet.add_months(now, 12)])
            bought += amounts
        else:
            batch = [usage(n * 10 + i, amount, now) for i, amount in enumerate(amounts)]
            applied = settle.apply_batch(opened, batch, reference=f"batch-{n}")
            for record, taken in zip(batch, applied, strict=True):
                expected = []
                need = record.amount
                for lot in model:   # the plain model: the oldest purchase with anything left pays first
                    take = min(lot[1], need)
                    if take:
                        expected.append((lot[0], take))
                        lot[1] -= take
                        need -= take
                model = [lot for lot in model if lot[1]]
                assert [(draw.lot_id, draw.amount) for draw in taken.lots] == expected
                assert (taken.debited, taken.shortfall) == (record.amount - need, need)
                used += taken.debited
            assert sum(1 for entry in opened.entries if entry.kind == "debit") <= 1, "one ledger entry a batch"
        entries += opened.entries
        assert opened.balance == sum(lot[1] for lot in model) >= 0
        assert [lot.id for lot in opened.lots] == [lot[0] for lot in model], "spending order = purchase order"
        held.ledger = account_to_document(opened.book)
    final = wallet.credits_of(held, now)
    assert bought - used - expired == final.balance(BUCKET) >= 0
    assert reconcile(wallet.wallet_of(held, now).book, entries) == []


@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=30), st.integers(min_value=-500, max_value=60_000))
def test_a_batch_never_takes_more_than_the_balance_and_records_what_it_could_not(amounts, balance):
    shares = settle.covered(amounts, balance)
    assert sum(debited for debited, _ in shares) == min(sum(amounts), max(balance, 0))
    assert all(debited + shortfall == amount and debited >= 0 and shortfall >= 0
               for (debited, shortfall), amount in zip(shares, amounts, strict=True))
    short = [n for n, (_, shortfall) in enumerate(shares) if shortfall]
    assert all(debited == 0 for debited, _ in shares[short[0] + 1:]) if short else True, "short means empty"


def test_a_batch_debit_is_shared_out_to_its_records_in_full():
    movements = (LotMovement("000000000001", -150), LotMovement("000000000002", -50))
    assert [[(d.lot_id, d.amount) for d in draws] for draws in settle.split_draws([100, 0, 100], movements)] == \
        [[("000000000001", 100)], [], [("000000000001", 50), ("000000000002", 50)]]
    with pytest.raises(ValueError, match="drawn by no record"):
        settle.split_draws([100], movements)


def test_each_expiry_notice_is_due_once_and_a_late_sweep_sends_only_the_nearest():
    held = account()
    opened = wallet.wallet_of(held, START)
    opened.credit(5_000, reason="purchase", reference="charge-1")
    [lot] = opened.lots
    assert lot.expires_at == datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
    assert wallet.next_due(held, opened.book, CONFIG) == lot.expires_at - timedelta(days=30)
    assert wallet.notices_due(opened.book, CONFIG, [], lot.expires_at - timedelta(days=31)) == []
    assert wallet.notices_due(opened.book, CONFIG, [], lot.expires_at - timedelta(days=30)) == [(lot, 30)]
    sent = wallet.notice_keys(lot, 30, CONFIG)
    assert wallet.notices_due(opened.book, CONFIG, sent, lot.expires_at - timedelta(days=20)) == [], "once"
    held.expiry_notices = sent
    assert wallet.next_due(held, opened.book, CONFIG) == lot.expires_at - timedelta(days=7)
    # A sweep that comes only 3 days before the end sends the 7-day notice, not the 30-day one too.
    assert wallet.notices_due(opened.book, CONFIG, [], lot.expires_at - timedelta(days=3)) == [(lot, 7)]
    held.expiry_notices = wallet.notice_keys(lot, 7, CONFIG)
    assert sorted(held.expiry_notices) == [f"{lot.id}/30", f"{lot.id}/7"]
    assert wallet.next_due(held, opened.book, CONFIG) == lot.expires_at
    assert wallet.notices_due(opened.book, CONFIG, [], lot.expires_at) == [], "expired lots get no notice"


def test_a_recharge_retry_wakes_the_account_before_its_expiries():
    held = account()
    opened = wallet.wallet_of(held, START)
    opened.credit(5_000, reason="purchase", reference="charge-1")
    held.recharge = held.recharge.model_copy(update={"phase": "pending", "retry_at": START + timedelta(hours=1)})
    assert wallet.next_due(held, opened.book, CONFIG) == START + timedelta(hours=1)


@pytest.mark.parametrize(("start", "months", "end"), [
    (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
    (datetime(2024, 2, 29, tzinfo=UTC), 12, datetime(2025, 2, 28, tzinfo=UTC)),
    (datetime(2026, 12, 1, 8, 30, tzinfo=UTC), 12, datetime(2027, 12, 1, 8, 30, tzinfo=UTC)),
])
def test_a_purchase_expires_the_same_moment_12_months_on_or_the_months_last_day(start, months, end):
    assert wallet.add_months(start, months) == end


def context() -> runtime.Context[None]:
    event = catalog.make_envelope("credits.settle", {"account_id": "acme-contact"}, event_id="settle-1")
    return runtime.Context(consumer="credits-settle", event=event, db=None, txn=None)  # type: ignore[arg-type]


def test_an_email_goes_to_the_accounts_address_in_its_language_once_per_purpose():
    ctx = context()
    mail.send(ctx, account(language="ky"), "email.credits_zero", {"balance": "0 UZS"}, purpose="zero/1")
    mail.send(ctx, account(language="ky"), "email.credits_zero", {"balance": "0 UZS"}, purpose="zero/1")
    first, again = ctx.outbox
    assert first.type == "email.send" and first.id == again.id, "one event id per purpose: notify sends it once"
    assert (first.data["to"], first.data["language"], first.data["template"]) == \
        ("owner@acme.example", "ky", "email.credits_zero")
    assert first.data["params"] == {"name": "Acme", "balance": "0 UZS"}


def test_an_account_without_an_email_address_gets_no_email_and_loses_nothing_else(caplog):
    ctx = context()
    with caplog.at_level(logging.INFO, logger="vas.credits"):
        mail.send(ctx, account(email=None), "email.credits_zero", {}, purpose="zero/1")
    assert ctx.outbox == [] and "no email address" in caplog.text


def test_only_credit_templates_are_sent_as_credit_emails():
    with pytest.raises(ValueError, match="email.credits_"):
        mail.send(context(), account(), "credits_zero", {}, purpose="zero/1")
