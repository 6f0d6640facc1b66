"""SMS to the short code: keywords in every language, and the reply each one gets."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from functions.edge import services, sms_keywords
from functions.edge.sms_keywords import HELP, UNKNOWN
from functions.edge.subscribers import caller_from
from shared.operator import PROFILES_DIR, load_file

PROFILE = load_file(PROFILES_DIR / "demo.yaml")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
MSISDN = "+998901234567"
COMMANDS = services.sms_services(PROFILE)
BALANCE_ONLY = services.sms_services(PROFILE, packages=["functions.ledger"])   # the help lists the balance alone


def reply_for(command, word, caller, short_code, account=None):
    """What the subscriber gets back for a command, with only the balance check plugged in."""
    inbound = sms_keywords.InboundSms(message_sid="SM1", sender=caller.msisdn, to=short_code, body=word)
    situation = sms_keywords.sms_request(inbound=inbound, command=command, word=word, caller=caller, profile=PROFILE,
                                         short_code=short_code, account=account, now=NOW)
    return BALANCE_ONLY.answer(situation).text


@pytest.mark.parametrize("body", ["BALANCE", "balance", "Bal", " bal. ", "БАЛАНС", "баланс", "Balans",
                                  "qoldiq", "калдык", "余额", "查询余额", "ＢＡＬＡＮＣＥ", "balance please"])
def test_balance_keywords_in_every_language_and_case(body):
    assert COMMANDS.command_of(body)[0] == "balance"


@pytest.mark.parametrize("body", ["HELP", "help!", "?", "？", "помощь", "Yordam", "жардам", "帮助", "", "   "])
def test_help_keywords_and_empty_messages_ask_for_help(body):
    assert COMMANDS.command_of(body)[0] == HELP


def test_an_unknown_word_is_reported_back():
    assert COMMANDS.command_of("Hello there") == (UNKNOWN, "hello")


def test_a_message_without_sender_or_id_cannot_be_answered():
    with pytest.raises(sms_keywords.MalformedMessage):
        sms_keywords.parse({"MessageSid": "SM1", "From": "hello", "Body": "BAL"})
    with pytest.raises(sms_keywords.MalformedMessage):
        sms_keywords.parse({"From": MSISDN, "Body": "BAL"})


def test_a_well_formed_message_is_read():
    inbound = sms_keywords.parse({"MessageSid": "SM1", "From": MSISDN, "To": "21112", "Body": "BAL"})
    assert (inbound.sender, inbound.to, inbound.body) == (MSISDN, "21112", "BAL")


def test_help_and_unknown_replies_name_the_keyword_short_code_and_hotline():
    caller = caller_from(MSISDN, {"language": "en", "status": "active"}, PROFILE)
    help_reply = reply_for(HELP, "help", caller, "21112")
    assert help_reply.render("en") == "21112 accepts:\nBALANCE - your balance\nHelp: 0890."
    unknown = reply_for(UNKNOWN, "x" * 50, caller, "21112")
    assert unknown.render("en").startswith(f'We did not understand "{"x" * 19}…". 21112 accepts:\nBALANCE')


def test_unknown_and_blocked_senders_get_the_reason_not_a_balance():
    stranger = caller_from(MSISDN, None, PROFILE)
    assert reply_for("balance", "bal", stranger, "21112").key == "edge.subscriber.unknown"
    blocked = caller_from(MSISDN, {"language": "ru", "status": "blocked"}, PROFILE)
    reply = reply_for("balance", "bal", blocked, "21112")
    assert reply.render("ru") == "Ваш номер заблокирован. Справки по номеру 0890."


def test_balance_reply_is_the_balance_report_template():
    caller = caller_from(MSISDN, {"language": "zh", "status": "active"}, PROFILE)
    reply = reply_for("balance", "余额", caller, "21112", account=None)
    assert reply.key == "edge.balance.report"
    assert reply.render("zh") == "您的余额：\n主账户余额：0 苏姆"


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_any_text_maps_to_a_command(body):
    command, word = COMMANDS.command_of(body)
    assert command in COMMANDS.services
    assert len(word) <= len(body) * 3 + 1  # NFKC may expand, never invent a word from nothing


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["MessageSid", "From", "To", "Body"]), st.text(max_size=40)))
def test_the_parser_either_reads_the_message_or_says_malformed(form):
    try:
        inbound = sms_keywords.parse(form)
    except sms_keywords.MalformedMessage:
        return
    assert inbound.sender.startswith("+") and inbound.message_sid


def test_a_services_keyword_another_command_already_has_is_refused():
    commands = services.sms_services(PROFILE)
    taken = sms_keywords.SmsKeywords("saldo", {"en": ("SALDO", "Bal"), "ru": ("ПОМОЩЬ",)},
                                     sms_keywords.SmsService(lambda request: None))
    with pytest.raises(ValueError, match="bal, помощь"):
        commands.add_keywords(taken)
    assert "saldo" not in commands.services and commands.command_of("saldo")[0] == UNKNOWN
