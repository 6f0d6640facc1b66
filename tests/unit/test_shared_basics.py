"""The small shared pieces every service leans on: numbers, money, the operator profile, logs."""

from __future__ import annotations

import json
import logging

import pytest
import yaml
from hypothesis import given, strategies as st

from shared import log, msisdn, operator, texts
from shared.money import Currency

UZS = Currency(code="UZS", minor_unit=2, symbol="so'm")


@pytest.mark.parametrize("written", ["998901234567", "+998901234567", "00998901234567", "+998 90 123-45-67",
                                     "901234567"])
def test_every_usual_way_of_writing_a_number_gives_one_e164(written):
    assert msisdn.normalise(written, "UZ") == "+998901234567"


@pytest.mark.parametrize("written", ["", "12", "hello", "+99890123", "*100#"])
def test_what_is_not_a_number_is_refused(written):
    with pytest.raises(msisdn.InvalidMsisdn):
        msisdn.normalise(written, "UZ")


def test_masking_keeps_the_country_and_the_last_two_digits():
    assert msisdn.mask("+998901234567") == "+998*******67"
    assert msisdn.mask_text("sent to +998901234567 and 996700123456") == "sent to +998*******67 and +996*******56"


def test_money_reads_as_subscribers_write_it():
    assert UZS.format(2_500_000) == "25 000 so'm"
    assert UZS.format(150) == "1.50 so'm"
    assert UZS.format(-5) == "-0.05 so'm"
    assert UZS.to_minor("2500") == 250_000 and UZS.to_minor("2.5") == 250
    with pytest.raises(ValueError):
        UZS.to_minor("2.505")
    with pytest.raises(ValueError):
        UZS.to_minor("lots")


@pytest.mark.parametrize("language, amounts", [
    ("uz", ["1 so'm", "25 000 so'm"]),                    # the operator's own word, in its own script
    ("en", ["1 so'm", "25 000 so'm"]),
    ("ru", ["1 узбекский сум", "25 000 узбекских сумов"]),  # CLDR's name, plural by the amount
    ("ky", ["1 Өзбекстан суму", "25 000 Өзбекстан суму"]),
    ("zh", ["1 乌兹别克斯坦苏姆", "25,000 乌兹别克斯坦苏姆"]),  # and the Chinese grouping of digits
])
def test_an_amount_takes_the_readers_word_for_the_currency(language, amounts):
    assert [UZS.localise(UZS.format(minor), language) for minor in (100, 2_500_000)] == amounts
    listed = "2,500, 5,000 " if language == "zh" else "2 500, 5 000 "
    assert UZS.localise("2 500, 5 000 so'm", language).startswith(listed)
    assert UZS.localise("Balance: 5 000 so'm", language) == "Balance: 5 000 so'm"  # a sentence is not an amount


LOCAL_WORDS = UZS.model_copy(update={"words": {"ru": {"one": "сум", "few": "сума", "many": "сумов", "other": "сума"},
                                               "zh": {"other": "苏姆"}}})


@pytest.mark.parametrize("minor, language, shown", [
    (100, "ru", "1 сум"), (200, "ru", "2 сума"), (2_500_000, "ru", "25 000 сумов"), (150, "ru", "1,50 сума"),
    (2_100, "ru", "21 сум"), (300_000, "zh", "3,000 苏姆"),
    (300_000, "ky", "3 000 Өзбекстан суму"),      # a language the profile does not name: CLDR's name
    (300_000, "uz", "3 000 so'm"),
])
def test_the_profile_names_the_local_word_for_the_currency_in_each_plural_form(minor, language, shown):
    assert LOCAL_WORDS.localise(LOCAL_WORDS.format(minor), language) == shown


@pytest.mark.parametrize("words", [{"ru": {"one": "сум"}}, {"ru": {"other": "сума", "several": "сумов"}},
                                   {"zh": {"other": " "}}])
def test_local_words_need_an_other_form_and_only_cldr_categories(words):
    with pytest.raises(ValueError):
        Currency(code="UZS", minor_unit=2, symbol="so'm", words=words)


def test_a_currency_written_as_its_iso_code_reads_the_same_in_every_language():
    iqd = Currency(code="IQD", minor_unit=0, symbol="IQD")
    assert {iqd.localise(iqd.format(2861), language) for language in texts.LANGUAGES} == {"2 861 IQD"}


def test_a_russian_text_shows_no_so_m_but_the_local_word():
    assert texts.render("edge.balance.line", "ru", bucket="Основной баланс", amount=UZS.format(100_000)) == \
        "Основной баланс: 1 000 сумов"


@given(st.integers(min_value=0, max_value=10**12))
def test_formatted_money_reads_back_to_the_same_minor_units(minor):
    text = UZS.format(minor).removesuffix(" so'm")
    assert UZS.to_minor(text) == minor


def _profile(**changes) -> dict:
    raw = yaml.safe_load((operator.PROFILES_DIR / "demo.yaml").read_text())
    raw.update(changes)
    return raw


@pytest.mark.parametrize("changes, complaint", [
    ({"default_language": "fr"}, "default_language"),
    ({"languages": ["ru"], "default_language": "uz"}, "not in languages"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"currency": {"code": "som", "minor_unit": 2}}, "currency.code"),
    ({"surprise": True}, "surprise"),
])
def test_an_invalid_operator_profile_is_refused_with_what_is_wrong(tmp_path, changes, complaint):
    path = tmp_path / "operator.yaml"
    path.write_text(yaml.safe_dump(_profile(**changes)))
    with pytest.raises(operator.ProfileError, match=complaint):
        operator.load_file(path)


def test_the_demo_profile_loads():
    profile = operator.load_file(operator.PROFILES_DIR / "demo.yaml")
    assert profile.msisdn("901234567") == "+998901234567"
    assert profile.language_for("zh") == "zh" and profile.language_for(None) == profile.default_language


def test_logs_are_cloud_logging_json_with_numbers_masked_and_the_correlation_id():
    formatter = log.CloudLoggingFormatter("notify-sms-send")
    record = logging.LogRecord("vas.test", logging.WARNING, __file__, 1, "SMS to %s failed", ("+998901234567",), None)
    record.to = "+998901234567"
    token = log.correlation_id.set("evt-42")
    try:
        entry = json.loads(formatter.format(record))
    finally:
        log.correlation_id.reset(token)
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "SMS to +998*******67 failed"
    assert entry["to"] == "+998*******67"
    assert entry["correlation_id"] == "evt-42"
    assert entry["logging.googleapis.com/labels"] == {"function": "notify-sms-send", "correlation_id": "evt-42"}


def test_a_correlation_id_naming_a_subscriber_is_logged_masked():
    formatter = log.CloudLoggingFormatter("transfers-execute")
    record = logging.LogRecord("vas.test", logging.INFO, __file__, 1, "transfer accepted", (), None)
    token = log.correlation_id.set("bss:+998901234567:2026-11-22")
    try:
        line = formatter.format(record)
    finally:
        log.correlation_id.reset(token)
    entry = json.loads(line)
    assert "998901234567" not in line
    assert entry["correlation_id"] == "bss:+998*******67:2026-11-22"
    assert entry["logging.googleapis.com/labels"]["correlation_id"] == "bss:+998*******67:2026-11-22"


def test_the_clock_moves_only_on_the_local_emulators(monkeypatch):
    from datetime import datetime, timedelta, timezone

    from shared import events

    monkeypatch.setenv(events.CLOCK_OFFSET_VARIABLE, str(-30 * 86400))
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8086")  # emulators alone do not make it local
    monkeypatch.delenv("VAS_ENV", raising=False)
    assert abs(events.utcnow() - datetime.now(timezone.utc)) < timedelta(seconds=5), "production ignores it"
    monkeypatch.setenv("VAS_ENV", "local")
    assert abs(events.utcnow() - (datetime.now(timezone.utc) - timedelta(days=30))) < timedelta(seconds=5)
