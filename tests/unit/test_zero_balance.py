"""ZeroX's pure rules: really zero, limits per operator's day, offers that expire and are answered
once, answers read in five languages, and the messages each side reads."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from functions.zero_balance import answers, messages, rules, stats
from functions.zero_balance.config import ConfigError, load_config, load_preset, topup_amount
from functions.zero_balance.rules import DailyUsage, Offer, OfferDecision, Outcome
from shared import localtime, texts
from shared.operator import load_file

DEMO = load_file(Path("shared/operators/demo.yaml"))
CONFIG = load_preset("demotel-zerox", DEMO.currency)
A, B = "+998901234567", "+998911112233"
ATTEMPT = datetime(2026, 4, 12, 5, 31, tzinfo=timezone.utc)  # 10:31 in Tashkent (UTC+5)


def offer(**changes) -> Offer:
    values = dict(attempt_id="att-1", caller=A, destination=B, kind="call", attempted_at=ATTEMPT,
                  expires_at=ATTEMPT + timedelta(minutes=60), topup_amount=500_000, event_id="ev-1")
    return Offer(**{**values, **changes})


def decide(answer="callback", *, the_offer=None, offer_id="att-1", at=ATTEMPT + timedelta(minutes=5), balance=0,
           usage=None):
    return rules.decide_answer(offer() if the_offer is None else the_offer, answer, offer_id=offer_id,
                               answered_at=at, balance=balance, usage=usage or DailyUsage("2026-04-12"),
                               config=CONFIG)


# --- the preset -------------------------------------------------------------------------------

def test_the_demo_preset_reads_its_amount_in_minor_units_and_offers_a_top_up_because_transfers_ask():
    assert (CONFIG.short_code, CONFIG.bucket) == ("06005", "main")
    assert (CONFIG.prompts_per_day, CONFIG.requests_per_day) == (5, 3)
    assert CONFIG.topup_amount == 5_000 * 100
    assert topup_amount(DEMO, CONFIG) == 500_000


def test_transfers_that_take_no_top_up_asks_leave_the_offer_callback_only():
    """A pay-card-only transfer policy asks nobody for a top-up, so option 2 would only earn a refusal."""
    paycard_only = DEMO.model_copy(update={"services": {**DEMO.services, "transfers": ["beeline-paycard"]}})
    assert topup_amount(paycard_only, CONFIG) is None


def test_without_transfers_the_offer_is_callback_only():
    no_transfers = DEMO.model_copy(update={"services": {"zero_balance": ["demotel-zerox"]}})
    assert topup_amount(no_transfers, CONFIG) is None


def test_a_preset_in_another_currency_or_with_a_typo_is_refused_with_the_field(tmp_path):
    wrong = tmp_path / "x.yaml"
    wrong.write_text("name: x\ntitle: X\ncurrency: KGS\n")
    with pytest.raises(ConfigError, match="KGS"):
        load_config(wrong, DEMO.currency)
    typo = tmp_path / "y.yaml"
    typo.write_text("name: y\ntitle: Y\ncurrency: UZS\nprompts_a_day: 3\n")
    with pytest.raises(ConfigError, match="prompts_a_day: unknown field"):
        load_config(typo, DEMO.currency)


# --- who is offered -------------------------------------------------------------------------------

@pytest.mark.parametrize("balance, offered", [(0, True), (-500, True), (1, False), (100_000, False)])
def test_only_a_balance_that_really_is_zero_gets_an_offer(balance, offered):
    decision = rules.decide_offer(balance, DailyUsage("2026-04-12"), CONFIG)
    assert (decision is OfferDecision.OFFER) is offered
    if not offered:
        assert decision.counter == "positive_balance"


def test_the_days_prompts_are_limited_and_the_limit_resets_at_the_operators_midnight():
    used_up = DailyUsage("2026-04-12", prompts=5)
    assert rules.decide_offer(0, used_up, CONFIG) is OfferDecision.PROMPT_LIMITED
    stored = used_up.to_document()
    # 18:59 UTC on the 12th is 23:59 in Tashkent: still the same day; 19:00 UTC is tomorrow there.
    same_day = localtime.day_of(datetime(2026, 4, 12, 18, 59, tzinfo=timezone.utc), DEMO.timezone)
    next_day = localtime.day_of(datetime(2026, 4, 12, 19, 0, tzinfo=timezone.utc), DEMO.timezone)
    assert (same_day, next_day) == ("2026-04-12", "2026-04-13")
    assert rules.decide_offer(0, DailyUsage.on(stored, same_day), CONFIG) is OfferDecision.PROMPT_LIMITED
    assert rules.decide_offer(0, DailyUsage.on(stored, next_day), CONFIG) is OfferDecision.OFFER


# --- answers --------------------------------------------------------------------------------------

def test_yes_within_the_validity_sends_and_uses_a_request():
    assert decide("callback") is Outcome.CALLBACK and Outcome.CALLBACK.uses_request
    assert decide("transfer") is Outcome.TRANSFER
    assert decide("no") is Outcome.NO and not Outcome.NO.uses_request


def test_an_answer_at_or_after_expiry_is_expired_whatever_it_says():
    assert decide("callback", at=ATTEMPT + timedelta(minutes=60)) is Outcome.EXPIRED
    assert decide("no", at=ATTEMPT + timedelta(hours=3)) is Outcome.EXPIRED
    assert decide("callback", at=ATTEMPT + timedelta(minutes=59)) is Outcome.CALLBACK


def test_a_closed_replaced_or_missing_offer_is_not_answered_again():
    answered = rules.closed(offer(), Outcome.CALLBACK)
    assert answered.status == "answered" and rules.closed(offer(), Outcome.EXPIRED).status == "expired"
    assert decide("callback", the_offer=answered) is Outcome.NO_OFFER
    assert decide("callback", offer_id="att-0") is Outcome.NO_OFFER          # a newer attempt replaced it
    assert rules.decide_answer(None, "no", offer_id=None, answered_at=ATTEMPT, balance=0,
                               usage=DailyUsage("2026-04-12"), config=CONFIG) is Outcome.NO_OFFER
    assert Outcome.NO_OFFER.counter is None and not Outcome.NO_OFFER.closes_offer


def test_a_yes_over_the_days_requests_or_with_money_arrived_since_is_refused_but_a_no_is_recorded():
    full = DailyUsage("2026-04-12", requests=3)
    assert decide("callback", usage=full) is Outcome.REQUEST_LIMITED
    assert decide("no", usage=full) is Outcome.NO
    assert decide("transfer", balance=100) is Outcome.POSITIVE_BALANCE


def test_option_two_is_not_an_answer_to_a_callback_only_offer():
    assert decide("transfer", the_offer=offer(topup_amount=None)) is Outcome.NOT_OFFERED
    assert Outcome.NOT_OFFERED.counter is None and not Outcome.NOT_OFFERED.closes_offer


@pytest.mark.parametrize("body, meant", [
    ("1", "callback"), (" 1. ", "callback"), ("１", "callback"), ("Yes", "callback"), ("OK!", "callback"),
    ("да", "callback"), ("Ha", "callback"), ("ҳа", "callback"), ("ооба", "callback"), ("好的", "callback"),
    ("2", "transfer"), ("top up", "transfer"), ("Пополнить", "transfer"), ("to‘ldirish", "transfer"),
    ("толуктоо", "transfer"), ("充值", "transfer"),
    ("0", "no"), ("NO", "no"), ("нет", "no"), ("yo'q", "no"), ("Yoʻq", "no"), ("йўқ", "no"), ("жок", "no"),
    ("不要", "no"),
])
def test_answers_are_read_in_five_languages(body, meant):
    assert answers.parse(body) == meant


@pytest.mark.parametrize("body", ["", "3", "12", "1 2", "hello", "call me maybe", "1 and 0"])
def test_anything_else_is_not_guessed(body):
    assert answers.parse(body) is None


# --- what each side reads -------------------------------------------------------------------------

@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_the_offer_names_the_callees_number_once_in_every_language(language):
    with_topup = messages.offer_sms(offer(), CONFIG, DEMO.currency)
    assert texts.render(with_topup.template, language, **with_topup.params).count(B) == 1


def test_the_offer_names_the_callee_and_the_top_up_amount_only_when_offered():
    with_topup = messages.offer_sms(offer(), CONFIG, DEMO.currency)
    assert with_topup.sender == "06005" and with_topup.to == A and with_topup.language is None
    assert texts.render(with_topup.template, "en", **with_topup.params) == (
        f"You have zero balance. Reply 1 to send {B} a free message asking to call you back, 2 to ask them to top "
        f"you up with 5 000 so'm, 0 for no.")
    callback_only = messages.offer_sms(offer(topup_amount=None), CONFIG, DEMO.currency)
    assert "2" not in texts.render(callback_only.template, "en", **callback_only.params).replace(B, "")


def test_the_callee_reads_the_callers_name_number_and_the_attempt_in_their_own_time_and_language():
    sms = messages.callback_request_sms(offer(), CONFIG, caller_name="Chris Jones", callee_language="ru",
                                        operator_zone=DEMO.timezone, operator_country=DEMO.country)
    assert (sms.to, sms.sender, sms.language) == (B, "06005", "ru")
    assert texts.render(sms.template, "ru", **sms.params) == (
        "Здравствуйте, это Chris Jones (90 123 45 67). Не удалось дозвониться до вас 12.04.2026 10:31: у меня "
        "закончились деньги на балансе. Пожалуйста, перезвоните мне.")
    kyrgyz = messages.callback_request_sms(offer(destination="+996555123456", kind="sms"), CONFIG, caller_name=None,
                                           callee_language="en", operator_zone=DEMO.timezone,
                                           operator_country=DEMO.country)
    # Bishkek is UTC+6; without a name the caller's number alone.
    assert texts.render(kyrgyz.template, "en", **kyrgyz.params) == (
        "Hi, this is 90 123 45 67. I tried to text you at 12/04/2026 11:31 but have no balance left. "
        "Please call me back.")


@pytest.mark.parametrize("language", texts.LANGUAGES)
@pytest.mark.parametrize("kind", ["call", "sms"])
@pytest.mark.parametrize("name", ["Zafar Zero", None, "  "])
def test_the_callee_can_call_back_the_number_named_in_every_language_with_or_without_a_name(language, kind, name):
    sms = messages.callback_request_sms(offer(kind=kind), CONFIG, caller_name=name, callee_language=language,
                                        operator_zone=DEMO.timezone, operator_country=DEMO.country)
    body = texts.render(sms.template, language, **sms.params)
    # From 06005, the caller's number is the only way back: written as the operator's subscribers dial it.
    assert "90 123 45 67" in body
    assert ("Zafar Zero" in body) == (name == "Zafar Zero")
    assert "  " not in body and "()" not in body and "（）" not in body


def test_a_caller_abroad_is_named_with_the_country_code():
    foreign = messages.callback_request_sms(offer(caller="+79161234567"), CONFIG, caller_name=None,
                                            callee_language="en", operator_zone=DEMO.timezone,
                                            operator_country=DEMO.country)
    assert "+7 916 123-45-67" in texts.render(foreign.template, "en", **foreign.params)


def test_each_outcome_answers_the_caller_and_a_top_up_ask_is_free_and_left_to_transfers():
    def sent(outcome):
        return messages.after_answer(outcome, offer(), caller=A, request_id="sms:SM1", answered_at=ATTEMPT,
                                     config=CONFIG, currency=DEMO.currency, caller_name=None, callee_language="uz",
                                     operator_zone=DEMO.timezone, operator_country=DEMO.country)
    [(topic, _, request), (_, _, confirmation)] = sent(Outcome.CALLBACK)
    assert (request.to, confirmation.to, confirmation.template) == (B, A, "zero_balance.callback.sent")
    [(topic, _, ask)] = sent(Outcome.TRANSFER)
    assert topic == "transfer.topup-asked"
    assert (ask.channel, ask.requester, ask.target, ask.amount) == ("zero-balance", A, B, 500_000)
    templates = {o: sent(o)[0][2].template for o in (Outcome.NO, Outcome.EXPIRED, Outcome.REQUEST_LIMITED,
                                                     Outcome.POSITIVE_BALANCE, Outcome.NO_OFFER)}
    assert templates == {Outcome.NO: "zero_balance.declined", Outcome.EXPIRED: "zero_balance.expired",
                         Outcome.REQUEST_LIMITED: "zero_balance.request_limited",
                         Outcome.POSITIVE_BALANCE: "zero_balance.has_balance",
                         Outcome.NO_OFFER: "zero_balance.no_offer"}
    assert sent(Outcome.REQUEST_LIMITED)[0][2].params["limit"] == 3


# --- counts ------------------------------------------------------------------------------------------

def test_shards_add_up_per_day_and_the_yes_rate_counts_only_answers_given_in_time():
    days = stats.days_back("2026-04-12", 3)
    assert days == ["2026-04-10", "2026-04-11", "2026-04-12"]
    shards = [{"day": "2026-04-12", "prompts": 4, "callback": 2, "no": 1},
              {"day": "2026-04-12", "prompts": 2, "transfer": 1, "request_limited": 1, "expired": 5,
               "positive_balance": 7},
              {"day": "2026-04-11", "prompts": 1, "no": 1},
              {"day": "2026-03-01", "prompts": 99}]
    by_day = {d.day: d for d in stats.summed(shards, days)}
    assert by_day["2026-04-12"].counts["prompts"] == 6
    assert by_day["2026-04-12"].yes_rate == pytest.approx(4 / 5)
    assert by_day["2026-04-11"].yes_rate == 0 and by_day["2026-04-10"].yes_rate is None
    lines = stats.table(list(by_day.values()))
    assert lines[0].split() == ["day", *rules.COUNTERS, "yes_rate"]
    assert lines[-1].split() == ["total", "7", "7", "0", "2", "1", "2", "1", "5", "0", "67%"]


def test_a_number_that_is_not_the_operators_subscriber_gets_no_offer_unless_the_preset_allows_it():
    usage, decide_offer = DailyUsage.on(None, "2026-11-22"), rules.decide_offer
    assert decide_offer(0, usage, CONFIG, destination_is_subscriber=False) is OfferDecision.FOREIGN_DESTINATION
    assert decide_offer(0, usage, CONFIG.model_copy(update={"own_subscribers_only": False}),
                        destination_is_subscriber=False) is OfferDecision.OFFER
    assert decide_offer(100, usage, CONFIG, destination_is_subscriber=False) is OfferDecision.POSITIVE_BALANCE
