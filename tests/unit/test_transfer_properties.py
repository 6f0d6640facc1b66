"""Properties of `decide` under random request sequences, applied to a small in-memory world (test-only).

Whatever the sequence: money is conserved (balances + fees collected + sent abroad), no sender's
balance ends below its policy minimum, no limit is ever exceeded, and a refusal changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.transfers.rules import History, Quote, Refusal, decide, limits_left
from tests.unit.transfer_parties import NOW, party, preset, stranger

BALANCE_PRESETS = ("mobiuz-direct", "zain-iraq-standard", "zain-alamodak", "m1-msend-singapore",
                   "m1-msend-international")
POLICIES = {name: preset(name) for name in BALANCE_PRESETS}
HOME = {"mobiuz-direct": "+99890123450", "zain-iraq-standard": "+964780123450", "zain-alamodak": "+964780123450",
        "m1-msend-singapore": "+659123450", "m1-msend-international": "+659123450"}
ABROAD = ("+639171234567", "+8613812345678")  # Philippines, China


@dataclass
class World:
    """Subscribers' balances and histories, and where money went that is no longer on a balance."""

    balances: dict[str, dict[str, int]]
    histories: dict[str, History] = field(default_factory=dict)
    fees: int = 0
    sent_abroad: int = 0

    def total(self) -> int:
        return sum(sum(b.values()) for b in self.balances.values()) + self.fees + self.sent_abroad


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


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_random_transfers_conserve_money_respect_minimums_and_limits_and_refusals_change_nothing(scenario):
    policy, parties, balances, steps = scenario
    world = World(balances=balances)
    start_total, now = world.total(), NOW
    for sender_no, recipient_no, amount, minutes in steps:
        now += timedelta(minutes=minutes)
        before = copy.deepcopy((world.balances, world.histories, world.fees, world.sent_abroad))
        sender_balances = world.balances[sender_no]
        outcome = decide(policy, sender=parties[sender_no], recipient=parties[recipient_no], amount=amount,
                         balances=sender_balances, sender_history=world.histories.get(sender_no, History()),
                         recipient_history=world.histories.get(recipient_no, History()), now=now)
        assert (world.balances, world.histories, world.fees, world.sent_abroad) == before  # decide is pure
        if isinstance(outcome, Refusal):
            assert outcome.code and all(isinstance(v, (int, str)) for v in outcome.params.values())
            continue  # nothing applied, nothing charged
        assert isinstance(outcome, Quote) and outcome.amount == amount
        sender_balances[outcome.debit_bucket] -= outcome.debit
        world.fees += outcome.fee
        if outcome.abroad:
            world.sent_abroad += outcome.amount
        else:
            credited = world.balances[recipient_no]
            credited[outcome.credit_bucket] = credited.get(outcome.credit_bucket, 0) + outcome.amount
        world.histories[sender_no] = world.histories.get(sender_no, History()).with_sent(now, amount)
        world.histories[recipient_no] = world.histories.get(recipient_no, History()).with_received(now, amount)

        assert world.total() == start_total
        assert minimum_kept(policy, sender_balances) and sender_balances[outcome.debit_bucket] >= 0
        assert within_limits(policy, world.histories[sender_no], now, "sender")
        assert within_limits(policy, world.histories[recipient_no], now, "recipient")


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
