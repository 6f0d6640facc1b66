"""Auto-recharge without I/O: the state machine (recharge.py) and the charge's record (charges.py) together.

A test-only world applies random sequences the way the consumers do: debits settle (after_balance,
each delivered twice), the gateway answers an attempt (its reply and its webhook, both applied
through charges.settle, in either order, sometimes late), the clock retries, the network refuses
an attempt, the holder tops up by hand or turns auto-recharge back on. Whatever the sequence: one
recharge per crossing of the trigger, each charge credited at most once, money conserved, the
monthly cap kept, and the third failure in a row turns auto-recharge off.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from functions.credits import charges, recharge
from functions.credits.charges import Outcome
from functions.credits.documents import AutoRecharge, Card, Charge, RechargeState
from shared.events import CreditChargeRequested

ACCOUNT = "acme-contact"
T0 = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)
RETRY_HOURS = (1.0, 6.0)
MAX_FAILURES = 3


def auto(**changes) -> AutoRecharge:
    settings_ = {"enabled": True, "trigger": 2_000, "amount": 10_000, "monthly_max_count": 5,
                 "monthly_max_amount": 50_000}
    return AutoRecharge(**{**settings_, **changes})


def month(at: datetime) -> str:
    return f"{at.year:04d}-{at.month:02d}"


@dataclass
class World:
    """One account: its balance, settings, recharge state and charges, and what happened to them."""

    auto: AutoRecharge
    balance: int
    now: datetime = T0
    state: RechargeState = field(default_factory=RechargeState)
    charges: dict[str, Charge] = field(default_factory=dict)
    asked: list[tuple[str, int]] = field(default_factory=list)  # (charge id, attempt) the gateway was asked
    credited: list[str] = field(default_factory=list)
    credited_auto: list[tuple[str, str, int]] = field(default_factory=list)  # (month, charge id, amount)
    notices: list[str] = field(default_factory=list)
    added: int = 0
    spent: int = 0
    starts: int = 0
    rearmed: bool = True  # the balance was seen at or above the trigger since the last recharge started
    capped_in: str | None = None  # the month whose cap ended the crossing: the next month starts a new one
    failures_in_a_row: int = 0

    def _step(self, step: recharge.Step, *, by_balance: bool = False) -> None:
        if step.state.crossings > self.state.crossings:
            assert self.state.phase != "pending", "a recharge started while another was under way"
            assert self.rearmed or not by_balance, "a second recharge in one crossing"
            self.starts, self.rearmed = self.starts + 1, False
        self.state = step.state
        self.notices += step.notices
        if "capped" in step.notices:
            self.capped_in = month(self.now)
        if step.disable:
            self.auto = self.auto.model_copy(update={"enabled": False})
        if step.recharge is not None:
            if (step.recharge.charge_id, step.recharge.attempt) not in self.asked:  # a new payment, not the same again
                assert self.balance < self.auto.trigger, "a card charged while the balance is at or above the trigger"
            self.state = recharge.asked(self.state, self.now)  # as settle.request_charge records it
            self._ask(step.recharge, "auto")

    def _ask(self, asked: recharge.Recharge, reason: str) -> None:
        request = CreditChargeRequested(account_id=ACCOUNT, charge_id=asked.charge_id, amount=asked.amount,
                                        reason=reason, channel="auto" if reason == "auto" else "api",
                                        attempt=asked.attempt, requested_at=self.now)
        for _ in range(2):  # delivered twice: the second finds the attempt already open, or answered
            charge = charges.opened(self.charges.get(asked.charge_id), request, currency="UZS", now=self.now)
            if charge is not None:
                self.charges[charge.id] = charge
                if (charge.id, charge.attempt) not in self.asked:
                    self.asked.append((charge.id, charge.attempt))

    def observe(self, *, refused: bool = False) -> None:
        """The balance as the settlement (or a refused attempt) sees it, delivered twice."""
        if self.balance >= self.auto.trigger or self.capped_in not in (None, month(self.now)):
            self.rearmed, self.capped_in = True, None
        decide = recharge.after_refused_attempt if refused else recharge.after_balance
        for _ in range(2):
            step = decide(ACCOUNT, self.auto, self.state, card=True, balance=self.balance, month=month(self.now))
            self._step(step, by_balance=not refused)
        if not refused and self.auto.enabled and self.balance < self.auto.trigger:
            assert self.state.phase == "pending" or self.state.capped_month is not None, (
                "below the trigger, auto-recharge on and not capped, yet no recharge under way"
            )

    def debit(self, amount: int) -> None:
        taken = min(amount, self.balance)  # never below zero: the rest is shortfall
        self.balance -= taken
        self.spent += taken
        self.observe()

    def answer(self, index: int, status: str, *, webhook_first: bool, stale_too: bool) -> None:
        """The gateway answers one attempt asked: its reply and its webhook, in either order, maybe an older one too."""
        if not self.asked:
            return
        charge_id, attempt = self.asked[index % len(self.asked)]
        outcome = Outcome(attempt, status, payment_intent=f"pi_{charge_id}.{attempt}",  # type: ignore[arg-type]
                          failure_code="card_declined" if status == "failed" else None)
        copies = [outcome, outcome] if not stale_too else [Outcome(max(1, attempt - 1), "failed"), outcome, outcome]
        for copy in copies if not webhook_first else reversed(copies):
            self._apply(charge_id, copy)

    def _apply(self, charge_id: str, outcome: Outcome) -> None:
        settled = charges.settle(self.charges[charge_id], outcome, self.now)
        if settled is None:
            return
        self.charges[charge_id] = settled
        if settled.status == "requested":  # processing: the webhook will tell
            return
        succeeded = settled.status == "succeeded"
        if succeeded:
            assert charge_id not in self.credited, f"{charge_id} credited twice"
            self.credited.append(charge_id)
            self.balance += settled.amount
            self.added += settled.amount
        ours = self.state.phase == "pending" and self.state.charge_id == charge_id
        if ours:
            if succeeded:
                self.credited_auto.append((month(self.now), charge_id, settled.amount))
                self.rearmed = True  # the crossing's recharge is credited: the crossing is over
            self.failures_in_a_row = 0 if succeeded else self.failures_in_a_row + 1
        if self.balance >= self.auto.trigger:
            self.rearmed = True
        self._step(recharge.after_payment(
            self.auto, self.state, charge_id=charge_id, succeeded=succeeded, amount=settled.amount,
            balance=self.balance, month=month(self.now), now=self.now, retry_hours=RETRY_HOURS,
            max_failures=MAX_FAILURES, failure=settled.failure_code))
        if ours and not succeeded:
            assert (self.failures_in_a_row >= MAX_FAILURES) == (not self.auto.enabled), "off exactly at the 3rd"

    def tick(self, hours: float) -> None:
        self.now += timedelta(hours=hours)
        self._step(recharge.retry_due(self.auto, self.state, now=self.now, balance=self.balance))

    def top_up(self, amount: int, ok: bool) -> None:
        """A top-up by hand: its own charge, applied like any payment; it touches the recharge only via the balance."""
        charge_id = f"manual-{len(self.charges)}"
        self._ask(recharge.Recharge(charge_id, amount), "manual")
        self._apply(charge_id, Outcome(1, "succeeded" if ok else "failed", failure_code=None if ok else "expired_card"))

    def set_trigger(self, trigger: int) -> None:
        """The holder changes the trigger (a recharge may be under way)."""
        self.auto = self.auto.model_copy(update={"trigger": trigger})
        if self.state.phase != "pending":  # after_settings forgives the failures, except mid-recharge
            self.failures_in_a_row = 0
        if self.balance >= trigger:
            self.rearmed = True
        self._step(recharge.after_settings(ACCOUNT, self.auto, self.state, card=True, balance=self.balance,
                                           month=month(self.now)))

    def turn_on(self) -> None:
        self.auto = self.auto.model_copy(update={"enabled": True})
        self.failures_in_a_row = 0
        self._step(recharge.after_settings(ACCOUNT, self.auto, self.state, card=True, balance=self.balance,
                                           month=month(self.now)))


actions = st.one_of(
    st.tuples(st.just("debit"), st.integers(1, 6_000)),
    st.tuples(st.just("answer"), st.integers(0, 50), st.sampled_from(["succeeded", "failed", "requires_action",
                                                                        "processing"]),
              st.booleans(), st.booleans()),
    st.tuples(st.just("tick"), st.sampled_from([0.5, 1.0, 6.0, 24.0, 24.0 * 20])),
    st.tuples(st.just("refused")),
    st.tuples(st.just("top_up"), st.integers(1_000, 30_000), st.booleans()),
    st.tuples(st.just("turn_on")),
    st.tuples(st.just("set_trigger"), st.integers(1_000, 20_000)),
)


def play(world: World, action: tuple) -> None:
    match action:
        case ("debit", amount):
            world.debit(amount)
        case ("answer", index, status, webhook_first, stale_too):
            world.answer(index, status, webhook_first=webhook_first, stale_too=stale_too)
        case ("tick", hours):
            world.tick(hours)
        case ("refused",):
            world.observe(refused=True)
        case ("top_up", amount, ok):
            world.top_up(amount, ok)
        case ("turn_on",):
            world.turn_on()
        case ("set_trigger", trigger):
            world.set_trigger(trigger)


@settings(max_examples=300)
@given(start=st.integers(0, 30_000), count=st.integers(1, 6), steps=st.lists(actions, max_size=60))
def test_whatever_the_interleaving_one_recharge_per_crossing_one_credit_per_charge_and_the_cap_kept(
    start, count, steps
):
    world = World(auto(monthly_max_count=count), balance=start)
    for action in steps:
        play(world, action)
    assert len(world.credited) == len(set(world.credited)), "a charge credited twice"
    assert world.balance == start + world.added - world.spent >= 0, "money appeared or vanished"
    per_month = Counter(m for m, _, _ in world.credited_auto)
    amounts = Counter()
    for m, _, amount in world.credited_auto:
        amounts[m] += amount
    assert all(n <= count for n in per_month.values()), f"more than {count} recharges a month: {per_month}"
    assert all(total <= world.auto.monthly_max_amount for total in amounts.values())
    assert world.starts == world.state.crossings
    attempts = Counter(charge_id for charge_id, _ in world.asked)
    assert all(n <= MAX_FAILURES for charge_id, n in attempts.items() if ".auto." in charge_id), (
        "an auto-recharge tried more often than the failures that turn it off"
    )


def test_debits_across_the_trigger_delivered_twice_start_exactly_one_recharge():
    world = World(auto(), balance=2_500)
    for _ in range(50):
        world.debit(40)
    assert world.asked == [(f"{ACCOUNT}.auto.1", 1)]
    assert world.state.phase == "pending"


def test_a_credited_recharge_rearms_and_the_next_crossing_starts_the_next_one():
    world = World(auto(), balance=2_500)
    world.debit(1_000)
    world.answer(0, "succeeded", webhook_first=True, stale_too=False)
    assert world.balance == 11_500 and world.state.phase == "armed" and world.notices == ["succeeded"]
    world.debit(10_000)
    assert [charge for charge, _ in world.asked] == [f"{ACCOUNT}.auto.1", f"{ACCOUNT}.auto.2"]


def test_three_failures_in_a_row_retry_after_1h_then_6h_and_then_turn_auto_recharge_off():
    world = World(auto(), balance=2_500)
    world.debit(1_000)
    world.answer(0, "failed", webhook_first=False, stale_too=False)
    assert world.state.retry_at == T0 + timedelta(hours=1) and world.auto.enabled
    world.tick(0.5)
    assert len(world.asked) == 1, "not before the wait is over"
    world.tick(0.5)
    assert world.asked[-1] == (f"{ACCOUNT}.auto.1", 2)
    world.answer(1, "requires_action", webhook_first=False, stale_too=True)
    assert world.charges[f"{ACCOUNT}.auto.1"].failure_code == charges.AUTHENTICATION_REQUIRED
    assert world.state.retry_at == world.now + timedelta(hours=6)
    world.tick(6)
    world.answer(2, "failed", webhook_first=True, stale_too=False)
    assert not world.auto.enabled and world.state.phase == "waiting"
    assert world.notices == ["failed", "failed", "failed", "disabled"]
    assert world.state.disabled_reason is not None and "3 failed recharges" in world.state.disabled_reason
    world.tick(24)
    world.debit(1_000)
    assert len(world.asked) == 3, "off means off"


def test_a_top_up_by_hand_is_not_an_auto_recharge_but_rearms_through_the_balance():
    world = World(auto(), balance=2_500)
    world.debit(1_000)
    world.answer(0, "failed", webhook_first=False, stale_too=False)
    world.top_up(5_000, ok=False)
    assert world.state.failures == 1, "a failed top-up by hand is no failed auto-recharge"
    world.top_up(5_000, ok=True)
    assert world.state.phase == "armed" and world.state.retry_at is None, "the balance is back: the crossing is over"
    assert world.state.failures == 1, "no auto-recharge succeeded: the failure still counts"
    assert world.state.month_count == 0, "a top-up by hand does not count towards the cap"
    asked = list(world.asked)
    world.tick(24)
    assert world.asked == asked, "the retry of a crossing that is over charges nothing"


def test_the_cap_stops_a_crossing_and_tells_once_however_many_calls_are_refused():
    world = World(auto(monthly_max_count=1), balance=2_500)
    world.debit(1_000)
    world.answer(0, "succeeded", webhook_first=False, stale_too=False)
    world.debit(11_500)
    world.debit(10)
    for _ in range(5):
        world.observe(refused=True)
    assert world.notices == ["succeeded", "zero", "capped"]
    assert len(world.asked) == 1


def test_a_refused_attempt_starts_a_recharge_unless_one_is_under_way():
    world = World(auto(), balance=0)
    world.observe(refused=True)
    assert world.asked == [(f"{ACCOUNT}.auto.1", 1)]
    world.observe(refused=True)
    assert len(world.asked) == 1


def test_a_retry_whose_wait_ends_after_the_balance_recovered_charges_nothing_and_ends_the_crossing():
    waiting = RechargeState(phase="pending", crossings=1, charge_id="c-1", amount=10_000, attempt=1, failures=1,
                            retry_at=T0 + timedelta(hours=1))
    step = recharge.retry_due(auto(), waiting, now=T0 + timedelta(hours=1), balance=2_000)
    assert step.recharge is None and (step.state.phase, step.state.retry_at, step.state.failures) == ("armed", None, 1)
    step = recharge.retry_due(auto(), waiting, now=T0 + timedelta(hours=1), balance=1_999)
    assert step.recharge == recharge.Recharge("c-1", 10_000, 2)


def test_a_retry_asks_for_its_charges_amount_even_after_the_setting_changed():
    world = World(auto(), balance=2_500)
    world.debit(1_000)
    world.set_trigger(2_000)  # mid-recharge: the settings change, the recharge under way keeps its amount
    world.auto = world.auto.model_copy(update={"amount": 20_000})
    world.answer(0, "failed", webhook_first=False, stale_too=False)
    step = recharge.retry_due(world.auto, world.state, now=world.now + timedelta(hours=1), balance=world.balance)
    assert step.recharge == recharge.Recharge(f"{ACCOUNT}.auto.1", 10_000, 2)


def test_a_trigger_raised_while_a_recharge_is_under_way_rearms_once_it_is_credited():
    world = World(auto(), balance=2_500)
    world.debit(1_000)
    world.set_trigger(15_000)
    world.answer(0, "succeeded", webhook_first=False, stale_too=False)
    assert world.balance == 11_500 and world.state.phase == "armed", "below the new trigger, yet never waiting for good"
    world.debit(100)
    assert world.asked[-1] == (f"{ACCOUNT}.auto.2", 1), "the next settlement below the trigger starts the next one"


def test_an_attempt_left_unanswered_is_asked_again_by_the_clock_under_the_same_key_never_a_new_one():
    world = World(auto(), balance=2_500)
    world.debit(1_000)  # its request is dead-lettered: the gateway never answers
    assert recharge.due_at(world.state) == T0 + recharge.UNANSWERED_AFTER, "the clock looks at it"
    world.tick(1.5)
    assert world.state.asked_at == T0, "not while Pub/Sub may still be redelivering it"
    world.tick(1.0)
    assert world.state.asked_at == world.now and world.state.attempt == 1, "asked again"
    assert world.asked == [(f"{ACCOUNT}.auto.1", 1)], "the same attempt: one PaymentIntent, never a second payment"
    assert recharge.due_at(world.state) == world.now + recharge.UNANSWERED_AFTER
    world.answer(0, "succeeded", webhook_first=False, stale_too=False)
    assert world.state.phase == "armed" and recharge.due_at(world.state) is None


def test_the_accounts_next_due_includes_the_look_at_an_unanswered_attempt():
    from functions.credits import wallet

    opened = _wallet("en")
    opened.account.recharge = RechargeState(phase="pending", crossings=1, charge_id="c-1", attempt=1, asked_at=T0)
    assert wallet.next_due(opened.account, opened.book, opened.config) == T0 + recharge.UNANSWERED_AFTER


def test_a_redelivered_attempt_is_asked_with_the_card_pinned_when_it_opened_and_a_retry_takes_the_new_card():
    first, replaced = (Card(token=token, brand="visa", last4=last4)
                       for token, last4 in (("pm_old", "4242"), ("pm_new", "0069")))
    request = CreditChargeRequested(account_id=ACCOUNT, charge_id="c-1", amount=10_000, reason="auto",
                                    channel="auto", attempt=1, requested_at=T0)
    opened = charges.opened(None, request, currency="UZS", now=T0, customer="cus_1", card=first)
    assert opened is not None and opened.card == first
    again = charges.opened(opened, request, currency="UZS", now=T0, customer="cus_1", card=replaced)
    assert again is not None and again.card == first, "the same key is sent with the same card"
    failed = charges.settle(again, Outcome(1, "failed", failure_code="expired_card"), T0)
    retry = request.model_copy(update={"attempt": 2})
    retried = charges.opened(failed, retry, currency="UZS", now=T0, customer="cus_1", card=replaced)
    assert retried is not None and retried.card == replaced, "a new attempt charges the card on file now"


def _charge(**changes) -> Charge:
    return Charge(**{"id": "c-1", "account_id": ACCOUNT, "amount": 10_000, "currency": "UZS", "reason": "manual",
                     "channel": "api", "requested_at": T0, "updated_at": T0, **changes})


def test_a_success_credits_once_whether_the_reply_or_the_webhook_comes_first():
    processing = charges.settle(_charge(), Outcome(1, "processing", payment_intent="pi_1"), T0)
    assert processing is not None and processing.status == "requested" and processing.payment_intent == "pi_1"
    paid = charges.settle(processing, Outcome(1, "succeeded", payment_intent="pi_1"), T0)
    assert paid is not None and paid.status == "succeeded"
    assert charges.settle(paid, Outcome(1, "succeeded", payment_intent="pi_1"), T0) is None
    assert charges.settle(paid, Outcome(1, "failed"), T0) is None


def test_a_failure_is_recorded_once_per_attempt_and_an_older_attempt_changes_nothing():
    failed = charges.settle(_charge(attempt=2), Outcome(2, "failed", failure_code="expired_card"), T0)
    assert failed is not None and (failed.status, failed.failure_code) == ("failed", "expired_card")
    assert charges.settle(failed, Outcome(2, "failed", failure_code="expired_card"), T0) is None
    assert charges.settle(_charge(attempt=2), Outcome(1, "failed"), T0) is None


def test_a_retry_is_asked_only_once_the_previous_attempt_failed():
    request = CreditChargeRequested(account_id=ACCOUNT, charge_id="c-1", amount=10_000, reason="auto",
                                    channel="auto", attempt=2, requested_at=T0)
    assert charges.opened(_charge(), request, currency="UZS", now=T0) is None, "attempt 1 is still unanswered"
    retried = charges.opened(_charge(status="failed", failure_code="card_declined"), request, currency="UZS", now=T0)
    assert retried is not None and (retried.status, retried.attempt, retried.failure_code) == ("requested", 2, None)
    assert charges.opened(_charge(status="succeeded"), request, currency="UZS", now=T0) is None


def test_a_crossing_the_cap_stopped_recharges_once_the_next_month_begins():
    world = World(auto(monthly_max_count=1), balance=2_500)
    world.debit(1_000)
    world.answer(0, "succeeded", webhook_first=False, stale_too=False)
    world.debit(11_500)
    assert world.notices == ["succeeded", "zero", "capped"] and len(world.asked) == 1
    world.tick(24 * 20)  # mid-March to April: usage keeps coming, the balance stays at zero
    world.debit(100)
    assert world.asked[-1] == (f"{ACCOUNT}.auto.2", 1), "a capped account is not left without recharges for good"


# --- what the holder reads (notices.py through notify's templates) ---------------------------------

def _wallet(language: str, card_last4: str = "0069"):
    from functions.credits import wallet
    from functions.credits.documents import Card, CreditAccount
    from shared.ledger import account_to_document
    from shared.ledger_core import Account, Bucket

    book = Account(ACCOUNT, {"credits": Bucket("credits")}, created_at=T0, updated_at=T0)
    account = CreditAccount(
        id=ACCOUNT, kind="business", name="Acme", email="owner@acme.example", language=language, currency="UZS",
        customer="cus_1", card=Card(token="pm_1", brand="visa", last4=card_last4),
        auto=auto(), ledger=account_to_document(book), created_at=T0, updated_at=T0)
    return wallet.wallet_of(account, T0)


def _emails(language: str, step: recharge.Step, charge: Charge | None = None) -> dict[str, object]:
    """The emails notices.tell queues for `step`, rendered by notify in `language`: template -> rendered."""
    from functions.credits import notices
    from functions.notify import emails
    from shared import runtime
    from shared.events import Envelope

    cause = Envelope(id="e-1", type="credits.charge-requested", occurred_at=T0, correlation_id="e-1", data={})
    ctx = runtime.Context(consumer="credits-charge", event=cause, db=None, txn=None, now=T0)
    notices.tell(ctx, _wallet(language), step, charge=charge)
    return {sent.data["template"]: emails.render(sent.data["template"], language, sent.data["params"])
            for sent in ctx.outbox}


@pytest.mark.parametrize("language", ["en", "ru", "uz", "ky", "zh"])
def test_every_payment_email_renders_in_the_holders_language_and_an_expired_card_is_named_by_its_last_digits(
        language):
    failed = _charge(status="failed", failure_code="expired_card", reason="auto", attempt=3)
    state = RechargeState(phase="waiting", failures=3, charge_id="c-1")
    mails = _emails(language, recharge.Step(state, notices=("failed", "disabled"), disable=True), failed)
    assert set(mails) == {"email.credits_payment_failed", "email.credits_auto_recharge_off"}
    assert all("0069" in mail.text and "0069" in mail.html for mail in mails.values())
    paid = _charge(status="succeeded", expires_at=T0 + timedelta(days=365))
    [receipt] = _emails(language, recharge.Step(RechargeState(), notices=("succeeded",)), paid).values()
    assert "2027" in receipt.text and "c-1" in receipt.text
    [capped] = _emails(language, recharge.Step(RechargeState(phase="waiting"), notices=("capped",))).values()
    assert "5" in capped.text


def test_a_failed_auto_recharge_says_when_it_is_tried_again_and_a_top_up_by_hand_says_nothing_was_charged():
    retry_at = T0 + timedelta(hours=1)
    pending = RechargeState(phase="pending", failures=1, charge_id="c-1", retry_at=retry_at)
    declined = _charge(status="failed", failure_code="generic_decline", reason="auto")
    [mail] = _emails("en", recharge.Step(pending, notices=("failed",)), declined).values()
    assert "the bank declined the card" in mail.text and "We will try again on 16/03/2026 11:00." in mail.text
    by_hand = _charge(id="c-2", status="failed", failure_code="insufficient_funds")
    [mail] = _emails("en", recharge.Step(pending, notices=("failed",)), by_hand).values()
    assert "insufficient funds" in mail.text and "Nothing was charged" in mail.text
