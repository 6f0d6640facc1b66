"""Operators write transfer policies as YAML: mistakes are named clearly, and a new policy needs no Python."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from functions.transfers.policy import PolicyError, load_policy, load_preset, policies_for, preset_names
from functions.transfers.rules import History, Movement, Quote, Refusal, limits_left
from shared.operator import OperatorProfile
from tests.unit.transfer_parties import IQD, NOW, SGD, UZS, attempt, party, replace

VALID = """\
name: tiny-transfer
title: Tiny transfer
currency: UZS
timezone: Asia/Tashkent
amounts:
  allowed: ["1000", "2000"]
fee: "50"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str, currency=UZS) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as raised:
        load_policy(path, currency)
    message = str(raised.value)
    assert str(path) in message  # every error names the file
    return message


def test_a_valid_policy_loads_with_amounts_in_minor_units(tmp_path):
    policy = load_policy(write(tmp_path, VALID), UZS)
    assert policy.amount_choices == (100_000, 200_000) and policy.fee == 5_000


def test_unknown_field_is_named_with_where_it_is(tmp_path):
    message = error_of(tmp_path, VALID + "minimum_balance:\n  amount: '100'\n  bukket: main\n")
    assert "minimum_balance.bukket: unknown field 'bukket'" in message


def test_negative_fee_is_refused(tmp_path):
    message = error_of(tmp_path, VALID.replace('fee: "50"', 'fee: "-50"'))
    assert "fee: -50 is negative" in message


def test_unknown_bucket_name_lists_the_known_ones(tmp_path):
    message = error_of(tmp_path, VALID + "debit_bucket: bonnus\n")
    assert "debit_bucket: unknown bucket 'bonnus' (known: bonus, main" in message


def test_amount_with_too_many_decimals_is_refused(tmp_path):
    message = error_of(tmp_path, VALID.replace('fee: "50"', 'fee: "0.005"'))
    assert "fee: '0.005' has more decimals than UZS allows" in message


def test_transfer_amounts_must_be_whole_units(tmp_path):
    message = error_of(tmp_path, VALID.replace('["1000", "2000"]', '["1000", "2000.50"]'))
    assert "amounts.allowed[1]: 2 000.50 so'm is not a whole number of UZS" in message


def test_currency_mismatch_names_both_currencies(tmp_path):
    message = error_of(tmp_path, VALID, currency=SGD)
    assert "written in UZS" in message and "operator's currency is SGD" in message


def test_shipped_preset_for_another_currency_is_refused():
    with pytest.raises(PolicyError, match="written in IQD, but this operator's currency is UZS"):
        load_preset("zain-iraq-standard", UZS)


def test_several_mistakes_are_reported_together(tmp_path):
    message = error_of(tmp_path, VALID + "limits:\n  - {scope: sender, max_count: 3}\n  - {scope: sender, period: week, max_count: 1}\n")
    assert "limits[0]: a limit has either period: day|month or rolling_days: N" in message
    assert "limits[1].period:" in message


def test_missing_amounts_and_empty_rules_are_explained(tmp_path):
    message = error_of(tmp_path, "name: x\ntitle: X\ncurrency: UZS\n")
    assert "says which amounts are allowed" in message


def test_foreign_policy_must_list_its_countries(tmp_path):
    message = error_of(tmp_path, VALID + "recipient:\n  network: foreign\n")
    assert "lists the countries it serves" in message


def test_calendar_limits_need_a_time_zone(tmp_path):
    text = VALID.replace("timezone: Asia/Tashkent\n", "") + "limits:\n  - {period: day, max_count: 2}\n"
    assert "calendar limits need a time zone" in error_of(tmp_path, text)


def test_missing_file_and_bad_yaml_are_named(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.yaml", UZS)
    assert "not valid YAML" in error_of(tmp_path, "name: [unclosed\n")


def test_every_shipped_preset_loads_in_its_currency():
    currency = {"mobiuz-direct": UZS, "zain-iraq-standard": IQD, "zain-alamodak": IQD,
                "m1-msend-singapore": SGD, "m1-msend-international": SGD, "beeline-paycard": UZS}
    assert set(preset_names()) == set(currency)
    for name in preset_names():
        assert load_preset(name, currency[name]).name == name


CUSTOM = """\
# A custom rule set written by an operator: corporate postpaid lines, weekly cap, bonus credit for 7 days.
name: corporate-share
title: Corporate share
currency: SGD
timezone: Asia/Singapore
applies_to:
  line_types: [postpaid]
sender:
  customer_types: [corporate]
  line_types: [postpaid]
amounts:
  range: {min: "10", max: "100", step: "10"}
fee: "0.50"
minimum_balance: {amount: "20", bucket: main, comparison: greater_than}
credit: {bucket: bonus, validity_days: 7}
limits:
  - {scope: sender, rolling_days: 7, max_count: 2}
  - {scope: recipient, period: month, max_amount: "150"}
"""


def test_an_operator_writes_a_new_policy_without_touching_python(tmp_path):
    policy = load_policy(write(tmp_path, CUSTOM), SGD)
    boss = party("+6591110000", customer_type="corporate", line_type="postpaid")
    clerk = party("+6591110001")
    rich = {"main": 1000_00}

    def go(amount, **kw):
        return attempt(policy, sender=kw.pop("sender", boss), recipient=clerk, amount=amount, balances=kw.pop("balances", rich), **kw)

    quote = go(30_00)
    assert quote == Quote(amount=30_00, fee=50, debit_bucket="main", credit_bucket="bonus",
                          credit_expires_at=NOW + timedelta(days=7))
    assert go(35_00).params["amounts"] == "10 – 100 S$ (10 S$)"
    assert go(30_00, sender=replace(boss, customer_type="individual")) == Refusal("sender_not_allowed",
                                                                                  {"reason": "customer_type"})
    assert go(30_00, sender=replace(boss, line_type="prepaid")) == Refusal("sender_not_allowed",
                                                                           {"reason": "tariff_plan"})
    assert go(30_00, balances={"main": 50_50}).code == "balance_not_above_minimum"
    assert isinstance(go(30_00, balances={"main": 50_51}), Quote)
    twice = History(sent=(Movement(NOW - timedelta(days=1), 10_00), Movement(NOW - timedelta(days=6), 10_00)))
    assert go(10_00, sender_history=twice).code == "rolling_count"
    full = History(received=(Movement(NOW - timedelta(days=3), 100_00),))
    assert go(60_00, recipient_history=full).code == "recipient_monthly_limit"


def test_limits_left_shows_what_remains_of_each_limit():
    policy = load_preset("m1-msend-international", SGD)
    history = History(sent=(Movement(NOW - timedelta(hours=3), 10_00), Movement(NOW - timedelta(days=3), 20_00)))
    day, week, month = limits_left(policy, history, NOW)
    assert (day.count_left, day.amount_left, day.resets_at) == (4, 20_00, NOW + timedelta(hours=21))
    assert (week.count_left, week.amount_left) == (13, 120_00)
    assert (month.rolling_days, month.amount_used) == (30, 30_00)


def test_refusals_come_in_the_order_most_useful_to_the_subscriber():
    policy = load_preset("mobiuz-direct", UZS, timezone="Asia/Tashkent")
    barred = party("+998901234567", transfers_barred=True, customer_type="corporate")
    unknown = party("+998901234568", known=False)
    # barred beats every other reason; then the sender; then the recipient; then the amount; then the balance
    assert attempt(policy, sender=barred, recipient=unknown, amount=1, balances={}).code == "barred"
    sender = replace(barred, transfers_barred=False, customer_type="individual")
    assert attempt(policy, sender=sender, recipient=unknown, amount=1, balances={}).code == "recipient_unknown"
    recipient = replace(unknown, known=True)
    assert attempt(policy, sender=sender, recipient=recipient, amount=1, balances={}).code == "amount_not_allowed"
    assert attempt(policy, sender=sender, recipient=recipient, amount=250_000, balances={}).code == "below_minimum_balance"


def test_the_operator_profile_names_its_presets():
    profile = OperatorProfile(name="DemoTel", country="UZ", national_number_length=9, currency=UZS,
                              timezone="Asia/Tashkent", languages=["uz"], default_language="uz",
                              services={"transfers": ["mobiuz-direct", "beeline-paycard"]})
    policies = policies_for(profile)
    assert [p.name for p in policies] == ["mobiuz-direct", "beeline-paycard"]
    assert policies.history_days == 1
    assert policies.for_sender(party("+998901234567")).name == "mobiuz-direct"
