"""Every rule of every shipped transfer preset (spec/transfers.md), one test each, named after the rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import phonenumbers
import pytest

from functions.transfers import explain
from functions.transfers.policy import PolicySet
from functions.transfers.rules import History, Movement, Quote, Refusal, decide_top_up_ask, decide_voucher
from shared.money import Currency
from tests.unit.transfer_parties import NOW, attempt, party, preset, replace, stranger

SUMS = 100      # UZS minor units per so'm
DINARS = 1000   # IQD minor units per dinar (ISO 4217: 3 decimals)
IQD = Currency(code="IQD", minor_unit=3, symbol="IQD")
CENTS = 1       # SGD
DOLLARS = 100

# --- Mobiuz "Direct transfer" (spec lines 22-29) ----------------------------------------------

MOBIUZ = preset("mobiuz-direct")
ALI, VALI = party("+998901234567"), party("+998901234568")
RICH_UZ = {"main": 1_000_000 * SUMS}


def mobiuz(amount_sums: int, *, sender=ALI, recipient=VALI, balances=RICH_UZ, **history):
    return attempt(MOBIUZ, sender=sender, recipient=recipient, amount=amount_sums * SUMS, balances=balances, **history)


def sent_today(*amounts_sums: int, at: datetime = NOW - timedelta(hours=1)) -> History:
    return History(sent=tuple(Movement(at, a * SUMS) for a in amounts_sums))


def test_mobiuz_is_for_individuals_only():
    refusal = mobiuz(2500, sender=replace(ALI, customer_type="corporate"))
    assert refusal == Refusal("sender_not_allowed", {"reason": "customer_type"})
    assert mobiuz(2500, recipient=replace(VALI, customer_type="corporate")) == Refusal(
        "recipient_not_allowed", {"recipient": VALI.msisdn, "reason": "customer_type"})


def test_mobiuz_allows_exactly_2500_5000_10000_15000_20000_25000():
    for amount in (2500, 5000, 10000, 15000, 20000, 25000):
        assert isinstance(mobiuz(amount), Quote), amount
    refusal = mobiuz(3000)
    assert refusal.code == "amount_not_allowed"
    assert refusal.params == {"amount": 3000 * SUMS, "amounts": "2 500, 5 000, 10 000, 15 000, 20 000, 25 000 so'm",
                              "minimum": 2500 * SUMS, "maximum": 25000 * SUMS}


def test_mobiuz_sender_may_send_at_most_100000_per_day():
    history = sent_today(25000, 25000, 25000, 15000)  # 90 000 today
    refusal = mobiuz(15000, sender_history=history)
    assert refusal.code == "daily_limit"
    assert refusal.params["left"] == 10000 * SUMS and refusal.params["limit"] == 100000 * SUMS
    assert isinstance(mobiuz(10000, sender_history=history), Quote)


def test_mobiuz_daily_limit_is_a_calendar_day_in_tashkent():
    # 14 March 00:30 in Tashkent (UTC+5) is 13 March 19:30 UTC: today. 23:59 the day before is not.
    today = sent_today(25000, 25000, 25000, 25000, at=datetime(2026, 3, 13, 19, 30, tzinfo=timezone.utc))
    yesterday = sent_today(25000, 25000, 25000, 25000, at=datetime(2026, 3, 13, 18, 59, tzinfo=timezone.utc))
    refusal = mobiuz(2500, sender_history=today)
    assert refusal.code == "daily_limit"
    assert refusal.params["resets_at"] == "2026-03-14T19:00:00+00:00"  # midnight in Tashkent
    assert isinstance(mobiuz(2500, sender_history=yesterday), Quote)


def test_mobiuz_recipient_may_receive_at_most_100000_per_day():
    received = History(received=tuple(Movement(NOW - timedelta(hours=2), 25000 * SUMS) for _ in range(4)))
    refusal = mobiuz(2500, recipient_history=received)
    assert refusal.code == "recipient_daily_limit" and refusal.params["left"] == 0


def test_mobiuz_sender_must_keep_10000_after_the_transfer():
    exactly = {"main": (2500 + 200 + 10000) * SUMS}
    assert isinstance(mobiuz(2500, balances=exactly), Quote)
    refusal = mobiuz(2500, balances={"main": exactly["main"] - 1})
    assert refusal.code == "below_minimum_balance"
    assert refusal.params["minimum"] == 10000 * SUMS and refusal.params["required"] == 12700 * SUMS


def test_mobiuz_refusal_for_low_balance_says_what_can_still_be_sent():
    refusal = mobiuz(10000, balances={"main": 16000 * SUMS})  # 16 000 - 10 000 kept - 200 fee = 5 800 free
    assert refusal.params["max_sendable"] == 5000 * SUMS


def test_mobiuz_fee_is_200_per_transfer_charged_to_the_sender():
    quote = mobiuz(5000)
    assert (quote.amount, quote.fee, quote.debit, quote.debit_bucket) == (5000 * SUMS, 200 * SUMS, 5200 * SUMS, "main")


def test_mobiuz_top_up_request_costs_100():
    quote = decide_top_up_ask(MOBIUZ, requester=ALI, target=VALI, amount=5000 * SUMS, balances={"main": 100 * SUMS})
    assert quote.fee == 100 * SUMS
    broke = decide_top_up_ask(MOBIUZ, requester=ALI, target=VALI, amount=5000 * SUMS, balances={"main": 99 * SUMS})
    assert broke.code == "insufficient_balance"


def test_mobiuz_sender_can_bar_the_service():
    assert MOBIUZ.bar.subscriber_can_bar
    assert mobiuz(2500, sender=replace(ALI, transfers_barred=True)) == Refusal("barred", {})


def test_mobiuz_recipient_must_be_a_subscriber():
    assert mobiuz(2500, recipient=stranger("+998931112233")) == Refusal("recipient_unknown",
                                                                        {"recipient": "+998931112233"})


def test_mobiuz_sender_cannot_send_to_themself():
    assert mobiuz(2500, recipient=ALI) == Refusal("same_party", {})


# --- Zain Iraq, standard lines (spec lines 31-39) ------------------------------------------------

ZAIN = preset("zain-iraq-standard")
ALAMODAK = preset("zain-alamodak")
AHMED = party("+9647801234567", first_topup_amount=5000 * DINARS, spent_since_first_topup=5000 * DINARS)
ZAINAB = party("+9647801234568")
RICH_IQ = {"main": 100_000 * DINARS}


def zain(amount_dinars, *, policy=ZAIN, sender=AHMED, recipient=ZAINAB, balances=RICH_IQ, **history):
    return attempt(policy, sender=sender, recipient=recipient, amount=int(amount_dinars * DINARS), balances=balances,
                   **history)


def test_zain_is_a_service_for_prepaid_lines():
    assert zain(1000, sender=replace(AHMED, line_type="postpaid")) == Refusal("sender_not_allowed",
                                                                              {"reason": "line_type"})


def test_zain_sender_balance_must_be_greater_than_1500():
    # read as: what is left after amount + fee must exceed 1 500 (see the preset's comment)
    left_exactly_1500 = {"main": (1000 + 360 + 1500) * DINARS}
    refusal = zain(1000, balances=left_exactly_1500)
    assert refusal.code == "balance_not_above_minimum" and refusal.params["minimum"] == 1500 * DINARS
    assert isinstance(zain(1000, balances={"main": (1000 + 360 + 1501) * DINARS}), Quote)


@pytest.mark.parametrize("language, said", [
    ("en", "You must keep more than 1 500 IQD after the transfer and fee: your balance of 2 860 IQD would fall "
           "to 1 500 IQD."),
    ("ru", "После перевода и комиссии на балансе должно остаться больше 1 500 IQD, а из 2 860 IQD останется "
           "1 500 IQD."),
])
def test_zain_refusal_says_the_rule_and_what_would_remain_not_an_odd_total(language, said):
    refusal = zain(1000, balances={"main": (1000 + 360 + 1500) * DINARS})
    text = explain.reason(refusal, currency=IQD, language=language,
                          zone=ZoneInfo("Asia/Baghdad"), hotline="411")
    assert text.startswith(said) and "2 861" not in text


def test_a_balance_short_of_the_transfer_itself_says_so_rather_than_a_negative_remainder():
    refusal = zain(1000, balances={"main": 900 * DINARS})
    text = explain.reason(refusal, currency=IQD, language="en",
                          zone=ZoneInfo("Asia/Baghdad"), hotline="411")
    assert text.startswith("You must keep more than 1 500 IQD after the transfer and fee, and your balance of "
                           "900 IQD does not even cover the 1 360 IQD they take.") and "-" not in text


def test_zain_amount_is_a_whole_number_from_1000_to_10000():
    for accepted in (1000, 1001, 5555, 10000):
        assert isinstance(zain(accepted), Quote), accepted
    for refused in (999, 10001, 1500.5):
        refusal = zain(refused)
        assert refusal.code == "amount_not_allowed", refused
    assert refusal.params["amounts"] == "1 000 – 10 000 IQD"


def test_zain_fee_is_360_charged_only_after_a_successful_transfer():
    assert zain(3000).fee == 360 * DINARS
    assert not hasattr(zain(999), "fee")  # a refusal carries no charge at all


def test_zain_transferred_credit_does_not_extend_the_recipients_validity():
    quote = zain(3000)
    assert quote.extends_validity is False and quote.credit_expires_at is None and quote.credit_bucket == "main"


def test_zain_new_customer_must_make_a_first_call_before_sending():
    refusal = zain(1000, sender=replace(AHMED, first_call_at=None))
    assert refusal.code == "not_eligible_yet" and refusal.params["step"] == "first_call"


def test_zain_new_customer_must_top_up_before_sending():
    refusal = zain(1000, sender=replace(AHMED, first_topup_amount=None, spent_since_first_topup=0))
    assert refusal.code == "not_eligible_yet" and refusal.params["step"] == "first_topup"


def test_zain_first_top_up_of_5000_must_be_spent_before_sending():
    refusal = zain(1000, sender=replace(AHMED, spent_since_first_topup=4999 * DINARS))
    assert refusal == Refusal("not_eligible_yet", {"step": "spending", "must_spend": 5000 * DINARS,
                                                   "spent": 4999 * DINARS, "left_to_spend": 1 * DINARS})
    assert isinstance(zain(1000, sender=replace(AHMED, spent_since_first_topup=5000 * DINARS)), Quote)


def test_zain_first_top_up_of_10000_or_more_needs_10000_spent():
    big_spender = replace(AHMED, first_topup_amount=25000 * DINARS, spent_since_first_topup=9999 * DINARS)
    assert zain(1000, sender=big_spender).params["must_spend"] == 10000 * DINARS
    assert isinstance(zain(1000, sender=replace(big_spender, spent_since_first_topup=10000 * DINARS)), Quote)


def test_zain_new_customer_can_still_receive():
    newcomer = party("+9647801234569", first_call_at=None)
    assert isinstance(zain(1000, recipient=newcomer), Quote)


# --- Zain Iraq, AlaModak lines (spec lines 41-44) ------------------------------------------------

ALA = replace(AHMED, tariff_plan="alamodak")


def test_alamodak_lines_are_selected_by_tariff_plan():
    operator = PolicySet([ALAMODAK, ZAIN], home_country="IQ")
    assert operator.for_sender(ALA) is ALAMODAK
    assert operator.for_sender(AHMED) is ZAIN


def test_alamodak_at_most_5_transfers_per_calendar_month():
    this_month = History(sent=tuple(Movement(datetime(2026, 3, d, tzinfo=timezone.utc), 1000 * DINARS)
                                    for d in (2, 5, 8, 9, 10)))
    refusal = zain(1000, policy=ALAMODAK, sender=ALA, sender_history=this_month)
    assert refusal.code == "monthly_count"
    assert refusal.params == {"limit": 5, "used": 5, "left": 0, "days": 0,
                              "resets_at": "2026-03-31T21:00:00+00:00"}  # 1 April, midnight in Baghdad
    last_month = History(sent=tuple(Movement(datetime(2026, 2, 28, 20, 59, tzinfo=timezone.utc), 1000 * DINARS)
                                    for _ in range(5)))
    assert isinstance(zain(1000, policy=ALAMODAK, sender=ALA, sender_history=last_month), Quote)


def test_alamodak_allows_1000_2000_3000():
    for amount in (1000, 2000, 3000):
        assert isinstance(zain(amount, policy=ALAMODAK, sender=ALA), Quote)
    assert zain(1500, policy=ALAMODAK, sender=ALA).params["amounts"] == "1 000, 2 000, 3 000 IQD"


def test_alamodak_fee_is_360_per_successful_transfer():
    assert zain(2000, policy=ALAMODAK, sender=ALA).fee == 360 * DINARS


def test_alamodak_has_the_same_new_customer_rule():
    refusal = zain(1000, policy=ALAMODAK, sender=replace(ALA, spent_since_first_topup=0))
    assert refusal.code == "not_eligible_yet" and refusal.params["left_to_spend"] == 5000 * DINARS


# --- M1 "M Send Singapore" (spec lines 46-52) ----------------------------------------------------

M1_SG = preset("m1-msend-singapore")
M1_INT = preset("m1-msend-international")
TAN, LIM = party("+6591234567"), party("+6591234568")
RICH_SG = {"main": 1000 * DOLLARS}


def m1(amount_cents: int, *, policy=M1_SG, sender=TAN, recipient=LIM, balances=RICH_SG, **history):
    return attempt(policy, sender=sender, recipient=recipient, amount=amount_cents, balances=balances, **history)


def test_m1_singapore_is_prepaid_to_prepaid_only():
    assert m1(2 * DOLLARS, sender=replace(TAN, line_type="postpaid")).code == "sender_not_allowed"
    assert m1(2 * DOLLARS, recipient=replace(LIM, line_type="postpaid")) == Refusal(
        "recipient_not_prepaid", {"recipient": LIM.msisdn})


def test_m1_singapore_fixed_denominations_2_5_10():
    for dollars in (2, 5, 10):
        assert isinstance(m1(dollars * DOLLARS), Quote)
    assert m1(3 * DOLLARS).params["amounts"] == "2, 5, 10 S$"


def test_m1_singapore_fee_is_5_cents_per_successful_transaction():
    assert m1(5 * DOLLARS).fee == 5 * CENTS


def test_m1_singapore_sender_keeps_1_dollar_on_main_after_amount_and_fee():
    assert isinstance(m1(5 * DOLLARS, balances={"main": 605}), Quote)
    refusal = m1(5 * DOLLARS, balances={"main": 604})
    assert refusal.code == "below_minimum_balance"
    assert refusal.params["minimum"] == 1 * DOLLARS and refusal.params["max_sendable"] == 2 * DOLLARS


def test_m1_singapore_only_main_balance_can_be_sent_never_bonus():
    refusal = m1(2 * DOLLARS, balances={"main": 50, "bonus": 500 * DOLLARS})
    assert refusal.code == "below_minimum_balance"
    assert m1(2 * DOLLARS).debit_bucket == "main"


def test_m1_singapore_credit_lands_on_bonus_and_expires_30_days_after():
    quote = m1(10 * DOLLARS)
    assert quote.credit_bucket == "bonus" and quote.credit_expires_at == NOW + timedelta(days=30)


# --- M1 "M Send International" (spec lines 54-58) ------------------------------------------------

LISTED = ("BD", "CN", "IN", "ID", "MY", "MM", "PH", "LK", "TH", "VN")


def mobile_number(region: str) -> str:
    return phonenumbers.format_number(phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE),
                                      phonenumbers.PhoneNumberFormat.E164)


def abroad(amount_dollars: int, region: str = "PH", **kwargs):
    return m1(amount_dollars * DOLLARS, policy=M1_INT, recipient=stranger(mobile_number(region)), **kwargs)


def sent(*movements: tuple[timedelta, int]) -> History:
    return History(sent=tuple(Movement(NOW - ago, dollars * DOLLARS) for ago, dollars in movements))


@pytest.mark.parametrize("region", LISTED)
def test_m1_international_sends_to_the_listed_foreign_networks(region):
    quote = abroad(10, region)
    assert isinstance(quote, Quote) and quote.abroad


def test_m1_international_refuses_unlisted_countries():
    refusal = abroad(10, "US")
    assert refusal.code == "network_not_allowed" and refusal.params["countries"] == "BD, CN, ID, IN, LK, MM, MY, PH, TH, VN"


def test_m1_international_refuses_local_numbers():
    assert abroad(10, "SG").code == "network_not_allowed"
    assert m1(10 * DOLLARS, policy=M1_INT, recipient=LIM).code == "network_not_allowed"


def test_m1_runs_both_m_send_presets_and_the_recipient_number_picks_one():
    operator = PolicySet([M1_SG, M1_INT], home_country="SG")
    assert operator.for_transfer(TAN, LIM) is M1_SG
    assert operator.for_transfer(TAN, stranger(mobile_number("VN"))) is M1_INT


def test_m1_international_1_day_limit_is_5_transfers_and_30_sgd():
    five = sent(*[(timedelta(hours=h), 1) for h in range(1, 6)])
    assert abroad(1, sender_history=five).code == "rolling_count"
    refusal = abroad(6, sender_history=sent((timedelta(hours=23), 25)))
    assert refusal.code == "rolling_limit" and refusal.params["left"] == 5 * DOLLARS and refusal.params["days"] == 1
    assert refusal.params["resets_at"] == (NOW + timedelta(hours=1)).isoformat()  # when the 25 turns a day old
    assert isinstance(abroad(6, sender_history=sent((timedelta(hours=24), 25))), Quote)  # a rolling day, not calendar


def test_m1_international_7_day_limit_is_15_transfers_and_150_sgd():
    fifteen = sent(*[(timedelta(days=1, hours=h), 1) for h in range(15)])
    assert abroad(1, sender_history=fifteen).code == "rolling_count"
    refusal = abroad(10, sender_history=sent(*[(timedelta(days=d), 29) for d in range(1, 6)]))  # 145 in 6 days
    assert refusal.code == "rolling_limit" and refusal.params["days"] == 7 and refusal.params["left"] == 5 * DOLLARS


def test_m1_international_30_day_limit_is_30_transfers_and_300_sgd():
    thirty = sent(*[(timedelta(days=d, hours=1), 1) for d in range(8, 29) for _ in range(2)][:30])
    assert abroad(1, sender_history=thirty).params["days"] == 30
    refusal = abroad(10, sender_history=sent(*[(timedelta(days=d), 30) for d in (8, 10, 12, 14, 16, 18, 20, 22, 24, 26)]))
    assert refusal.code == "rolling_limit" and refusal.params["days"] == 30 and refusal.params["left"] == 0


def test_m1_international_charges_no_fee_beyond_the_amount_sent():
    quote = abroad(10, balances={"main": 10 * DOLLARS})
    assert quote.fee == 0 and quote.debit == 10 * DOLLARS
    assert abroad(10, balances={"main": 10 * DOLLARS - 1}).code == "insufficient_balance"


# --- Beeline pay card for another subscriber (spec lines 60-64) ----------------------------------

BEELINE = preset("beeline-paycard")
IVAN, OLGA = party("+79031234567"), party("+79031234568")


def test_beeline_any_subscriber_prepaid_or_postpaid_may_activate_a_card():
    assert decide_voucher(BEELINE, caller=IVAN, recipient=OLGA) is None
    assert decide_voucher(BEELINE, caller=replace(IVAN, line_type="postpaid"), recipient=OLGA) is None


def test_beeline_card_is_in_favour_of_a_prepaid_subscriber():
    assert decide_voucher(BEELINE, caller=IVAN, recipient=replace(OLGA, line_type="postpaid")) == Refusal(
        "recipient_not_prepaid", {"recipient": OLGA.msisdn})
    assert decide_voucher(BEELINE, caller=IVAN, recipient=stranger("+79039999999")).code == "recipient_unknown"


def test_beeline_card_is_not_available_to_blocked_subscribers():
    assert decide_voucher(BEELINE, caller=replace(IVAN, status="blocked"), recipient=OLGA) == Refusal("sender_blocked", {})


def test_beeline_card_is_not_available_to_roaming_subscribers():
    assert decide_voucher(BEELINE, caller=replace(IVAN, roaming=True), recipient=OLGA) == Refusal("sender_roaming", {})


def test_beeline_card_is_free_of_charge():
    assert BEELINE.fee == 0 and BEELINE.funding == "voucher" and BEELINE.amounts is None
    operator = PolicySet([MOBIUZ, BEELINE])
    assert operator.for_voucher(IVAN) is BEELINE and operator.for_sender(IVAN) is MOBIUZ


# --- any preset: a recycled number (a queued request decided after the BSS gave it to someone else) --

RECYCLED = NOW - timedelta(minutes=5)   # when the number passed to its present owner
ASKED_BEFORE, ASKED_AFTER = RECYCLED - timedelta(seconds=1), RECYCLED


def test_a_request_of_the_numbers_old_owner_spends_nothing_of_the_new_owners():
    new_owner = replace(ALI, owner_since=RECYCLED)
    refused = Refusal("owner_changed", {"since": RECYCLED.isoformat()})
    assert mobiuz(5000, sender=new_owner, requested_at=ASKED_BEFORE) == refused
    assert isinstance(mobiuz(5000, sender=new_owner, requested_at=ASKED_AFTER), Quote)
    assert decide_top_up_ask(MOBIUZ, requester=new_owner, target=VALI, amount=5000 * SUMS, balances=RICH_UZ,
                             requested_at=ASKED_BEFORE) == refused
    assert decide_voucher(BEELINE, caller=replace(IVAN, owner_since=RECYCLED), recipient=OLGA,
                          requested_at=ASKED_BEFORE) == refused


def test_money_meant_for_a_numbers_old_owner_never_reaches_the_new_one():
    new_owner = replace(VALI, owner_since=RECYCLED)
    refused = Refusal("recipient_owner_changed", {"recipient": VALI.msisdn, "since": RECYCLED.isoformat()})
    assert mobiuz(5000, recipient=new_owner, requested_at=ASKED_BEFORE) == refused
    assert isinstance(mobiuz(5000, recipient=new_owner, requested_at=ASKED_AFTER), Quote)
    assert decide_top_up_ask(MOBIUZ, requester=ALI, target=new_owner, amount=5000 * SUMS, balances=RICH_UZ,
                             requested_at=ASKED_BEFORE) == refused
    assert decide_voucher(BEELINE, caller=IVAN, recipient=replace(OLGA, owner_since=RECYCLED),
                          requested_at=ASKED_BEFORE).code == "recipient_owner_changed"
    text = explain.reason(refused, currency=Currency(code="UZS", minor_unit=2, symbol="so'm"), language="en",
                          zone=ZoneInfo("Asia/Tashkent"), hotline="0890")
    assert text == (f"{VALI.msisdn} passed to a new owner on 14/03/2026 14:25, after the request was made. "
                    "Check the number and try again.")
