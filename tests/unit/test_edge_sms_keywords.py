"""SMS to the short code: keywords in every language, and the reply each one gets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from functions.edge import sms_keywords
from functions.edge.sms_keywords import Command
from functions.edge.subscribers import caller_from
from shared.operator import PROFILES_DIR, load_file

PROFILE = load_file(PROFILES_DIR / "demo.yaml")
MSISDN = "+998901234567"


@pytest.mark.parametrize("body", ["BALANCE", "balance", "Bal", " bal. ", "БАЛАНС", "баланс", "Balans",
                                  "qoldiq", "калдык", "余额", "查询余额", "ＢＡＬＡＮＣＥ", "balance please"])
def test_balance_keywords_in_every_language_and_case(body):
    assert sms_keywords.command_of(body)[0] is Command.BALANCE


@pytest.mark.parametrize("body", ["HELP", "help!", "?", "？", "помощь", "Yordam", "жардам", "帮助", "", "   "])
def test_help_keywords_and_empty_messages_ask_for_help(body):
    assert sms_keywords.command_of(body)[0] is Command.HELP


def test_an_unknown_word_is_reported_back():
    assert sms_keywords.command_of("Hello there") == (Command.UNKNOWN, "hello")


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
    help_reply = sms_keywords.reply_for(Command.HELP, "help", caller, PROFILE, "21112")
    assert help_reply.render("en") == "21112 accepts:\nBALANCE - your balance\nHelp: 0890."
    unknown = sms_keywords.reply_for(Command.UNKNOWN, "x" * 50, caller, PROFILE, "21112")
    assert unknown.render("en").startswith(f'We did not understand "{"x" * 19}…". 21112 accepts:\nBALANCE')


def test_unknown_and_blocked_senders_get_the_reason_not_a_balance():
    stranger = caller_from(MSISDN, None, PROFILE)
    assert sms_keywords.reply_for(Command.BALANCE, "bal", stranger, PROFILE, "21112").key == "edge.subscriber.unknown"
    blocked = caller_from(MSISDN, {"language": "ru", "status": "blocked"}, PROFILE)
    reply = sms_keywords.reply_for(Command.BALANCE, "bal", blocked, PROFILE, "21112")
    assert reply.render("ru") == "Ваш номер заблокирован. Справки по номеру 0890."


def test_balance_reply_is_the_balance_report_template():
    caller = caller_from(MSISDN, {"language": "zh", "status": "active"}, PROFILE)
    reply = sms_keywords.reply_for(Command.BALANCE, "余额", caller, PROFILE, "21112", account=None)
    assert reply.key == "edge.balance.report"
    assert reply.render("zh") == "您的余额：\n主账户余额：0 苏姆"


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_any_text_maps_to_a_command(body):
    command, word = sms_keywords.command_of(body)
    assert isinstance(command, Command)
    assert len(word) <= len(body) * 3 + 1  # NFKC may expand, never invent a word from nothing


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["MessageSid", "From", "To", "Body"]), st.text(max_size=40)))
def test_the_parser_either_reads_the_message_or_says_malformed(form):
    try:
        inbound = sms_keywords.parse(form)
    except sms_keywords.MalformedMessage:
        return
    assert inbound.sender.startswith("+") and inbound.message_sid
