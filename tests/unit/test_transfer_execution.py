"""Execution's pure parts: references, refusal explanations in five languages, usage charging, the bar, vouchers."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from functions.provisioning import usage
from functions.transfers import execution, explain, records, rules, vouchers
from functions.transfers.policy import load_preset
from functions.transfers.rules import Refusal
from shared import texts
from shared.events import TransferBarChanged, UsageCharged, VoucherIssued
from shared.money import Currency

UZS = Currency(code="UZS", minor_unit=2, symbol="so'm")
TASHKENT = ZoneInfo("Asia/Tashkent")
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=timezone.utc)


# --- references -------------------------------------------------------------------------------

def test_a_reference_is_derived_from_the_event_and_readable_aloud():
    ref = records.reference("transfer", "evt-1")
    assert ref == records.reference("transfer", "evt-1")
    assert re.fullmatch(r"TR-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", ref)
    assert records.reference("voucher", "evt-1").startswith("PC-")
    assert len({records.reference("transfer", f"evt-{i}") for i in range(10_000)}) == 10_000


def test_care_can_type_a_reference_loosely():
    ref = records.reference("transfer", "evt-1")
    typed = ref.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert records.normalise(typed) == ref
    with pytest.raises(ValueError):
        records.normalise("TR-12")


def test_a_colliding_reference_moves_to_the_next_candidate():
    first, second = list(records.candidates("transfer", "evt-1"))[:2]
    assert first != second
    assert records.taken_by_another({"event_id": "someone-else"}, "evt-1")
    assert not records.taken_by_another({"event_id": "evt-1"}, "evt-1")
    assert not records.taken_by_another(None, "evt-1")


# --- every refusal has words --------------------------------------------------------------------

def refusal_codes() -> set[str]:
    """Every code the transfer service can return: the literal ones of each of its modules, whatever their layout,
    the minimum balance's second code (a conditional), and each limit's (scope x window x count/amount)."""
    modules = Path(inspect.getfile(rules)).parent.glob("*.py")
    literal = {code for module in modules for code in re.findall(r'Refusal\(\s*"([a-z_]+)"', module.read_text())}
    windows = {f"{scope}{window}_{cap}" for scope in ("", "recipient_") for window in ("daily", "monthly", "rolling")
               for cap in ("count", "limit")}
    return literal | windows | {"below_minimum_balance"}


def test_the_refusal_scan_finds_the_codes_of_every_module_even_split_over_lines():
    codes = refusal_codes()
    assert {"voucher_card_locked", "voucher_wrong_code", "insufficient_balance", "network_not_allowed"} <= codes


SAMPLE = {"reason": "tariff_plan", "step": "spending", "recipient": "+998901234568", "countries": "BD, CN",
          "amount": 300_000, "amounts": "2 500, 5 000 so'm", "minimum": 1_000_000, "maximum": 2_500_000,
          "must_spend": 500_000, "spent": 100_000, "left_to_spend": 400_000, "limit": 10_000_000, "used": 9_000_000,
          "left": 1_000_000, "days": 7, "resets_at": "2026-11-22T19:00:00+00:00", "balance": 1_200_000,
          "required": 1_520_000, "fee": 20_000, "max_sendable": 0, "hours": 24,
          "since": "2026-11-22T19:00:00+00:00"}


@pytest.mark.parametrize("code", sorted(refusal_codes()))
@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_refusal_is_explained_in_every_language(code, language):
    text = explain.reason(Refusal(code, SAMPLE), currency=UZS, language=language, zone=TASHKENT, hotline="0890")
    assert text and "{" not in text


def test_a_daily_amount_limit_names_money_and_when_it_frees_up_in_local_time():
    refusal = Refusal("daily_limit", {"limit": 10_000_000, "used": 9_000_000, "left": 1_000_000, "days": 0,
                                      "resets_at": "2026-11-22T19:00:00+00:00"})
    text = explain.reason(refusal, currency=UZS, language="en", zone=TASHKENT, hotline="0890")
    assert text == ("This would pass your daily limit of 100 000 so'm. Left today: 10 000 so'm. "
                    "Available again from 23/11/2026 00:00.")


def test_a_monthly_count_is_a_number_of_transfers_not_money():
    refusal = Refusal("monthly_count", {"limit": 5, "used": 5, "left": 0, "days": 0,
                                        "resets_at": "2026-11-30T21:00:00+00:00"})
    text = explain.reason(refusal, currency=UZS, language="ru", zone=ZoneInfo("Asia/Baghdad"), hotline="411")
    assert text == "Вы уже сделали все 5 переводов, разрешённых в этом месяце. Снова доступно с 01.12.2026 00:00."


@pytest.mark.parametrize("language, expected", [
    ("en", "You have made all 3 transfers allowed a day."),
    ("ru", "Вы уже сделали все 3 перевода, разрешённых в сутки."),
])
def test_a_one_day_rolling_count_says_a_day_not_per_1_days(language, expected):
    refusal = Refusal("rolling_count", {"limit": 3, "used": 3, "left": 0, "days": 1})
    assert explain.reason(refusal, currency=UZS, language=language, zone=TASHKENT, hotline="0890") == expected


@pytest.mark.parametrize("days, language, expected", [
    (1, "en", "The recipient can receive at most 100 000 so'm a day; left now: 10 000 so'm."),
    (2, "en", "The recipient can receive at most 100 000 so'm per 2 days; left now: 10 000 so'm."),
    (2, "ru", "Получатель может получить не более 100 000 сумов за 2 дня; доступно сейчас: "
              "10 000 сумов."),
    (5, "ru", "Получатель может получить не более 100 000 сумов за 5 дней; доступно сейчас: "
              "10 000 сумов."),
])
def test_a_rolling_window_is_written_with_the_plural_form_of_its_days(days, language, expected):
    refusal = Refusal("recipient_rolling_limit", {"limit": 10_000_000, "used": 9_000_000, "left": 1_000_000,
                                                  "days": days})
    assert explain.reason(refusal, currency=UZS, language=language, zone=TASHKENT, hotline="0890") == expected


def test_a_single_allowed_transfer_is_not_all_1_transfers():
    refusal = Refusal("daily_count", {"limit": 1, "used": 1, "left": 0, "days": 0})
    assert explain.reason(refusal, currency=UZS, language="en", zone=TASHKENT, hotline="0890") == (
        "You have made the only transfer allowed today.")


def test_a_balance_refusal_says_what_could_be_sent_instead():
    refusal = Refusal("below_minimum_balance", {"minimum": 1_000_000, "balance": 2_000_000, "required": 2_520_000,
                                                "fee": 20_000, "max_sendable": 500_000})
    text = explain.reason(refusal, currency=UZS, language="en", zone=TASHKENT, hotline="0890")
    assert "keep at least 10 000 so'm" in text and text.endswith("You can send up to 5 000 so'm now.")


def test_a_variant_picks_its_own_text():
    new_line = Refusal("not_eligible_yet", {"step": "first_call", "must_spend": 0, "spent": 0, "left_to_spend": 0})
    assert explain.text_key(new_line) == "transfer.refused.not_eligible_yet.first_call"
    assert explain.text_key(Refusal("sender_not_allowed", {"reason": "unheard-of"})) == \
        "transfer.refused.sender_not_allowed"


# --- usage ------------------------------------------------------------------------------------

def report(kind="call", amount=1_500, at=NOW) -> UsageCharged:
    return UsageCharged(msisdn="+998901234567", kind=kind, amount=amount, reference="cdr", at=at)


def test_usage_never_takes_more_than_the_balance():
    assert usage.charge(report(amount=1_500), balance=1_000) == usage.Charge(debited=1_000, shortfall=500)
    assert usage.charge(report(amount=1_500), balance=0).reason == "usage:shortfall=1500"
    assert usage.charge(report(amount=300), balance=1_000).reason == "usage"


def test_spending_counts_from_the_first_topup_on():
    applied = usage.Charge(debited=700, shortfall=0)
    assert usage.stats({}, report(kind="data"), applied) == {}
    before = {"first_topup_at": NOW + timedelta(hours=1), "spent_since_first_topup": 0}
    assert "spent_since_first_topup" not in usage.stats(before, report(kind="sms"), applied)
    after = {"first_topup_at": NOW - timedelta(hours=1), "spent_since_first_topup": 300}
    assert usage.stats(after, report(kind="sms"), applied) == {"spent_since_first_topup": 1_000}
    assert usage.first_topup({"first_topup_at": NOW}, amount=5, at=NOW) == {}


# --- the bar ----------------------------------------------------------------------------------

def change(barred: bool, channel: str, at=NOW) -> TransferBarChanged:
    return TransferBarChanged(request_id="r", msisdn="+998901234567", barred=barred, channel=channel, requested_at=at)


def test_mobiuz_subscribers_bar_themselves_but_only_staff_lift_the_bar():
    mobiuz = load_preset("mobiuz-direct", UZS, timezone="Asia/Tashkent")
    unchanged = execution.BarState()
    assert execution.bar_change(mobiuz, unchanged, change(True, "ussd")) == execution.BarDecision("apply")
    assert execution.bar_fields(change(True, "ussd"))["transfers_barred"] is True
    assert execution.bar_change(mobiuz, unchanged, change(False, "ussd")) == execution.BarDecision(
        "refuse", "lift_elsewhere")
    assert execution.bar_change(mobiuz, unchanged, change(False, "care")) == execution.BarDecision("apply")
    assert execution.bar_fields(change(False, "care"))["transfers_barred"] is False
    newer = execution.BarState.from_document({"transfers_bar_changed_at": NOW + timedelta(minutes=1)})
    assert execution.bar_change(mobiuz, newer, change(False, "care")).verdict == "ignore", "an older change arriving late"
    recycled = execution.BarState.from_document({"owner_since": NOW + timedelta(minutes=1)})
    assert execution.bar_change(mobiuz, recycled, change(True, "ussd")).verdict == "ignore", \
        "the number's old owner's change"


def test_where_the_policy_offers_no_bar_a_subscriber_cannot_set_one():
    zain = load_preset("zain-iraq-standard", Currency(code="IQD", minor_unit=0), timezone="Asia/Baghdad")
    assert execution.bar_change(zain, execution.BarState(), change(True, "ussd")) == execution.BarDecision(
        "refuse", "not_offered")


# --- vouchers ---------------------------------------------------------------------------------

def card(serial="S1", code="123456", amount=1_000) -> VoucherIssued:
    return VoucherIssued(serial=serial, secret_code=code, amount=amount)


def test_a_card_is_loaded_once_and_clashes_are_refused():
    stored = vouchers.issued(card(), stored_by_code=None, serial_code_key=None, event_id="e", now=NOW)
    assert stored["status"] == "issued" and "123456" not in str(stored)
    loaded = vouchers.Card.from_document(stored)
    assert vouchers.issued(card(), stored_by_code=loaded, serial_code_key=None, event_id="e2", now=NOW) is None
    with pytest.raises(vouchers.VoucherConflict):
        vouchers.issued(card(serial="S2"), stored_by_code=loaded, serial_code_key=None, event_id="e3", now=NOW)
    with pytest.raises(vouchers.VoucherConflict):
        vouchers.issued(card(code="654321"), stored_by_code=None,
                        serial_code_key=vouchers.code_key("123456"), event_id="e4", now=NOW)


def test_a_stored_card_missing_its_serial_or_amount_is_a_clash_not_a_crash():
    for missing in ("serial", "amount"):
        stored = vouchers.issued(card(), stored_by_code=None, serial_code_key=None, event_id="e", now=NOW)
        del stored[missing]
        damaged = vouchers.Card.from_document(stored)
        with pytest.raises(vouchers.VoucherConflict):
            vouchers.issued(card(), stored_by_code=damaged, serial_code_key=None, event_id="e2", now=NOW)


@pytest.fixture
def code_key_setting(monkeypatch):
    """`code_key_setting(key)`: run with VAS_VOUCHER_CODE_KEY set to `key`."""
    from shared import settings

    def use(key: str) -> None:
        monkeypatch.setenv("VAS_VOUCHER_CODE_KEY", key)
        settings.get.cache_clear()

    yield use
    monkeypatch.undo()
    settings.get.cache_clear()


def test_a_stored_code_key_cannot_be_matched_by_hashing_every_code_without_the_secret_key(code_key_setting):
    import hashlib

    code_key_setting("the-operator's-key")
    stored = vouchers.code_key("123456")
    assert stored not in {hashlib.sha256(str(n).zfill(6).encode()).hexdigest() for n in range(123_000, 124_000)}
    code_key_setting("another-key")
    assert vouchers.code_key("123456") != stored  # the key, not the code alone, decides the id


def test_wrong_codes_older_than_the_window_are_forgotten():
    attempts = vouchers.WrongCodes.from_document(
        {"wrong_codes": [NOW - timedelta(hours=25)] + [NOW - timedelta(minutes=i) for i in range(4)]})
    assert len(vouchers.wrong_codes(attempts, NOW)) == 4
    after = vouchers.with_wrong_code(attempts, NOW)
    assert len(vouchers.wrong_codes_document(after, NOW)["wrong_codes"]) == 5


def test_a_wrong_code_count_expires_when_its_newest_wrong_code_leaves_the_window():
    counted = vouchers.with_wrong_code(vouchers.WrongCodes.from_document({"wrong_codes": [NOW - timedelta(hours=2)]}),
                                       NOW)
    assert vouchers.wrong_codes_document(counted, NOW)["expire_at"] == NOW + vouchers.WRONG_CODE_WINDOW  # Firestore's TTL deletes it then
