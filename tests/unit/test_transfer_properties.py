"""Properties of `decide` and the money movement it leads to, under random request sequences (test-only world).

Each accepted quote is applied the way transfers-execute applies it: `execution.move_money` on
ledger books opened from their stored documents, the entries kept, the histories updated by
`execution.histories_after`. Whatever the sequence: the ledger reconciles (entries sum to the
stored balances), money is conserved (balances + fees the ledger collected + sent abroad), each
sender pays exactly the quote and each recipient gets exactly the amount, no sender's balance
ends below its policy minimum, no limit is ever exceeded, and a refusal changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.transfers import execution
from functions.transfers.rules import History, Quote, Refusal, decide, limits_left
from shared import ledger
from shared.ledger_core import Entry, reconcile
from tests.unit.transfer_parties import NOW, party, preset, stranger

BALANCE_PRESETS = ("mobiuz-direct", "zain-iraq-standard", "zain-alamodak", "m1-msend-singapore",
                   "m1-msend-international")
POLICIES = {name: preset(name) for name in BALANCE_PRESETS}
HOME = {"mobiuz-direct": "+99890123450", "zain-iraq-standard": "+964780123450", "zain-alamodak": "+964780123450",
        "m1-msend-singapore": "+659123450", "m1-msend-international": "+659123450"}
ABROAD = ("+639171234567", "+8613812345678")  # Philippines, China


@dataclass
class World:
    """Subscribers' stored account documents, every ledger entry made, and their transfer histories."""

    documents: dict[str, dict]
    entries: dict[str, list[Entry]]
    histories: dict[str, History] = field(default_factory=dict)

    @classmethod
    def funded(cls, balances: dict[str, dict[str, int]]) -> "World":
        """Accounts topped up with `balances` through the ledger, as provisioning credits them."""
        world = cls(documents={}, entries={})
        for msisdn, buckets in balances.items():
            book = ledger.Book(ledger.Account.new(msisdn, NOW), now=NOW, is_new=True)
            for bucket, amount in buckets.items():
                if amount:
                    book.credit(bucket, amount, expires_at=None, reason="topup", reference=f"seed-{msisdn}")
            world.save(book)
        return world

    def open(self, msisdn: str, now: datetime) -> ledger.Book:
        return ledger.Book(ledger.account_from_document(self.documents[msisdn]), now=now)

    def save(self, book: ledger.Book) -> None:
        self.documents[book.msisdn] = ledger.account_to_document(book.account)
        self.entries.setdefault(book.msisdn, []).extend(book.entries)
        book.entries = []

    def total(self) -> int:
        return sum(document["total"] for document in self.documents.values())

    def collected(self, reason: str) -> int:
        """Minor units that left balances with entries of `reason` (fees, amounts sent)."""
        return -sum(e.delta for entries in self.entries.values() for e in entries if e.reason == reason)

    def credited(self) -> int:
        return sum(e.delta for entries in self.entries.values() for e in entries if e.reason == "transfer:received")

    def discrepancies(self) -> list:
        return [problem for msisdn, document in self.documents.items()
                for problem in reconcile(ledger.account_from_document(document), self.entries[msisdn],
                                         {name: body["balance"] for name, body in document["buckets"].items()})]


def scale(name: str) -> int:
    """Minor units per major unit of the preset's currency."""
    return {"mobiuz-direct": 100, "m1-msend-singapore": 100, "m1-msend-international": 100}.get(name, 1000)


@st.composite
def scenarios(draw):
    name = draw(st.sampled_from(BALANCE_PRESETS))
    policy = POLICIES[name]
    unit = scale(name)
    people = [HOME[name] + str(i) for i in range(3)]
    plan = "alamodak" if name == "zain-alamodak" else "standard"
    parties = {m: party(m, tariff_plan=plan, first_topup_amount=10_000 * unit, spent_since_first_topup=10_000 * unit)
               for m in people}
    for m in ABROAD:
        parties[m] = stranger(m)
    balances = {m: {"main": draw(st.integers(0, 60_000)) * unit, "bonus": draw(st.integers(0, 50)) * unit}
                for m in people}
    # Mostly requests that can pass (allowed amounts, the policy's kind of recipient, minutes apart),
    # so sequences run into the limits and the minimum balance; some of everything else.
    menu = list(policy.amount_choices) or [policy.amounts.range.min, policy.amounts.range.max]
    if not policy.amount_choices:
        menu += [a * unit for a in (1, 2, 5, 7, 10, 29)]
    amount = st.one_of(st.sampled_from(menu), st.sampled_from(menu), st.sampled_from(menu),
                       st.integers(1, 40_000).map(lambda a: a * unit), st.integers(1, 40_000 * unit))
    recipients = list(ABROAD) * 4 + people[:1] if policy.compiled.recipient_foreign else people * 4 + list(ABROAD)
    step = st.tuples(st.sampled_from(people), st.sampled_from(recipients), amount,
                     st.sampled_from([0, 0, 1, 1, 5, 30, 300, 60 * 20, 60 * 24, 60 * 24 * 6]))
    return policy, parties, balances, draw(st.lists(step, min_size=1, max_size=80))


def minimum_kept(policy, balances: dict[str, int]) -> bool:
    c = policy.compiled
    if c.minimum is None:
        return all(v >= 0 for v in balances.values())
    kept = balances.get(c.minimum_bucket, 0)
    return kept > c.minimum if c.minimum_strict else kept >= c.minimum


def within_limits(policy, history: History, now, scope: str) -> bool:
    return all((left.max_count is None or left.count_used <= left.max_count)
               and (left.max_amount is None or left.amount_used <= left.max_amount)
               for left in limits_left(policy, history, now, scope))


@settings(max_examples=300)
@given(scenarios())
def test_random_transfers_conserve_money_respect_minimums_and_limits_and_refusals_change_nothing(scenario):
    policy, parties, balances, steps = scenario
    world = World.funded(balances)
    start_total, now, quoted_fees, sent_abroad = world.total(), NOW, 0, 0
    keep_days = max(execution.HISTORY_DAYS, policy.history_days)
    for sender_no, recipient_no, amount, minutes in steps:
        now += timedelta(minutes=minutes)
        before = copy.deepcopy((world.documents, world.histories))
        payer = world.open(sender_no, now)
        outcome = decide(policy, sender=parties[sender_no], recipient=parties[recipient_no], amount=amount,
                         balances=execution.balances(payer), sender_history=world.histories.get(sender_no, History()),
                         recipient_history=world.histories.get(recipient_no, History()), now=now)
        assert (world.documents, world.histories) == before  # decide is pure
        if isinstance(outcome, Refusal):
            assert outcome.code and all(isinstance(v, (int, str)) for v in outcome.params.values())
            continue  # nothing applied, nothing charged
        assert isinstance(outcome, Quote) and outcome.amount == amount and recipient_no != sender_no
        payee = None if outcome.abroad else world.open(recipient_no, now)
        paid_before = payer.account.balance(outcome.debit_bucket)
        held_before = payee.account.balance(outcome.credit_bucket) if payee else 0
        execution.move_money(outcome, payer=payer, payee=payee, reference=f"step-{now.isoformat()}")
        assert paid_before - payer.account.balance(outcome.debit_bucket) == outcome.debit
        if payee is not None:
            assert payee.account.balance(outcome.credit_bucket) - held_before == amount
            world.save(payee)
        else:
            sent_abroad += amount
        world.save(payer)
        quoted_fees += outcome.fee
        world.histories[sender_no], world.histories[recipient_no] = execution.histories_after(
            outcome, sender=world.histories.get(sender_no, History()),
            recipient=world.histories.get(recipient_no, History()), now=now, keep_days=keep_days)

        assert world.collected("transfer:fee") == quoted_fees, "the ledger charged the fees the rules quoted"
        assert world.collected("transfer:sent") - world.credited() == sent_abroad, "only abroad leaves unreceived"
        assert world.total() + quoted_fees + sent_abroad == start_total
        sender_balances = execution.balances(world.open(sender_no, now))
        assert minimum_kept(policy, sender_balances) and sender_balances[outcome.debit_bucket] >= 0
        assert within_limits(policy, world.histories[sender_no], now, "sender")
        assert within_limits(policy, world.histories[recipient_no], now, "recipient")
    assert world.discrepancies() == []


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_pruning_history_to_the_policys_days_never_changes_a_decision(scenario):
    policy, parties, balances, steps = scenario
    history, now = History(), NOW
    sender_no = next(iter(balances))
    for _, recipient_no, amount, minutes in steps:
        now += timedelta(minutes=minutes)
        full = decide(policy, sender=parties[sender_no], recipient=parties[recipient_no], amount=amount,
                      balances={"main": 10**12}, sender_history=history, recipient_history=History(), now=now)
        pruned = decide(policy, sender=parties[sender_no], recipient=parties[recipient_no], amount=amount,
                        balances={"main": 10**12}, sender_history=history.pruned(now, policy.history_days),
                        recipient_history=History(), now=now)
        assert full == pruned
        if isinstance(full, Quote):
            history = history.with_sent(now, amount)
