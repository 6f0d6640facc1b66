"""The *100# balance screen: every bucket with its balance and nearest expiry, in the language."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from functions.ledger import edge as balance
from shared import localtime
from shared.ledger_core import Account
from shared.money import Currency

UZS = Currency(code="UZS", minor_unit=2, symbol="so'm")
TASHKENT = ZoneInfo("Asia/Tashkent")
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
MSISDN = "+998901234567"


def account(*credits: tuple[str, int, datetime | None]) -> Account:
    acc = Account.new(MSISDN, NOW)
    for i, (bucket, amount, expires_at) in enumerate(credits):
        acc.credit(bucket, amount, expires_at=expires_at, reason="topup", reference=f"r{i}", at=NOW)
    return acc


def screen(acc, language: str) -> str:
    return balance.report(acc, language, UZS, TASHKENT).render(language)


def test_main_balance_without_expiry_in_english():
    assert screen(account(("main", 2_500_000, None)), "en") == "Your balance:\nMain balance: 25 000 so'm"


def test_a_bucket_that_expires_whole_says_until_when_in_local_time():
    # 18:59 UTC is 23:59 in Tashkent (UTC+5): the subscriber reads their own clock.
    expires = datetime(2026, 3, 31, 18, 59, tzinfo=timezone.utc)
    text = screen(account(("main", 100_000, None), ("bonus", 500_000, expires)), "ru")
    assert text.splitlines() == ["Ваш баланс:", "Основной баланс: 1 000 сумов",
                                 "Бонусный баланс: 5 000 сумов, действует до 31.03.2026 23:59"]


def test_part_of_a_bucket_expiring_first_is_named_with_its_amount():
    soon, later = NOW + timedelta(days=7), NOW + timedelta(days=30)
    text = screen(account(("main", 300_000, later), ("main", 200_000, soon), ("main", 100_000, None)), "en")
    assert "Main balance: 6 000 so'm, of which 2 000 so'm expires 08/03/2026 14:00" in text


def test_lots_expiring_at_the_same_moment_are_added_up():
    soon = NOW + timedelta(days=3)
    text = screen(account(("main", 100, soon), ("main", 250, soon), ("main", 1_000, None)), "en")
    assert "of which 3.50 so'm expires" in text


@pytest.mark.parametrize("language, header, expiry, money", [
    ("en", "Your balance:", "04/03/2026 14:00", "7 so'm"),
    ("ru", "Ваш баланс:", "04.03.2026 14:00", "7 сумов"),
    ("uz", "Balansingiz:", "04.03.2026 14:00", "7 so'm"),
    ("ky", "Балансыңыз:", "04.03.2026 14:00", "7 сум"),
    ("zh", "您的余额：", "2026年03月04日 14:00", "7 苏姆"),
])
def test_every_language_has_its_header_date_format_and_word_for_the_currency(language, header, expiry, money):
    text = screen(account(("bonus", 700, NOW + timedelta(days=3))), language)
    assert text.startswith(header + "\n")
    assert expiry in text
    assert money in text and (language in ("en", "uz") or "so'm" not in text)


def test_main_comes_first_empty_extra_buckets_are_left_out_and_others_follow_by_name():
    acc = account(("zeta", 100, None), ("bonus", 200, None), ("alpha", 300, None), ("main", 400, None))
    acc.debit("zeta", 100, reason="use", reference="d", at=NOW)
    lines = screen(acc, "en").splitlines()[1:]
    assert [line.split(":")[0] for line in lines] == ["Main balance", "Bonus balance", "alpha"]


def test_pack_allowances_read_in_megabytes_minutes_and_sms_not_in_money():
    """A subscriptions pack's allowances sit in buckets of their own unit: 1024 MB is not 10.24 so'm."""
    week = NOW + timedelta(days=7)
    acc = account(("main", 100_000, None), ("data_mb", 1024, week), ("data_mb", 500, NOW + timedelta(days=2)),
                  ("voice_min", 100, week), ("sms", 200, week))
    lines = screen(acc, "ru").splitlines()
    assert "Интернет: 1524 МБ, из них 500 МБ сгорает 03.03.2026 14:00" in lines
    assert "Минуты звонков: 100 мин, действует до 08.03.2026 14:00" in lines
    assert "SMS: 200 SMS, действует до 08.03.2026 14:00" in lines
    assert "Основной баланс: 1 000 сумов" in lines


def test_a_new_account_and_no_account_both_show_main_at_zero():
    assert screen(Account.new(MSISDN, NOW), "en").endswith("Main balance: 0 so'm")
    assert screen(None, "en").endswith("Main balance: 0 so'm")


@dataclass
class StandInLot:
    amount: int
    expires_at: datetime | None


@dataclass
class StandInBucket:
    lots: list = field(default_factory=list)

    @property
    def balance(self) -> int:
        return sum(lot.amount for lot in self.lots)


@dataclass
class StandInAccount:
    buckets: dict


def test_any_account_shaped_object_is_formatted():
    acc = StandInAccount({"main": StandInBucket([StandInLot(150, None)])})
    assert screen(acc, "en").endswith("Main balance: 1.50 so'm")


def test_the_subscribers_zone_comes_from_their_number_or_else_the_operator():
    assert localtime.zone_for("+998901234567", "Europe/London") == ZoneInfo("Asia/Tashkent")
    assert localtime.zone_for("+996700123456", "Europe/London") == ZoneInfo("Asia/Bishkek")
    # Russia spans eleven zones: a visitor's times are the operator's, not a guess.
    assert localtime.zone_for("+79161234567", "Asia/Tashkent") == ZoneInfo("Asia/Tashkent")
