"""Balance transfers at the edge, without I/O: what `*112*`, `*116*`, `*111*0151#`, SMS to 21112 and the
0670 IVR answer, and what they publish, for the documents one lookup would have read."""

from __future__ import annotations

import re
from pathlib import Path
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from functions.edge import services, sms_keywords, ussd, voice
from functions.transfers import edge_orders as transfers
from functions.edge.sms_keywords import HELP, UNKNOWN
from functions.edge.request import Request, RequestDocuments
from functions.edge.subscribers import Caller, caller_from
from shared.ledger_core import Account
from tests.fixtures.edge_reads import sms_read, ussd_read
from shared.operator import PROFILES_DIR, load_file

PROFILE = load_file(PROFILES_DIR / "demo.yaml")          # Mobiuz "Direct transfer", UZS
REGISTRY = services.ussd_services(PROFILE)
COMMANDS = services.sms_services(PROFILE)
ROUTES = services.voice_routes(PROFILE)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)     # 14:00 in Tashkent
SENDER, RECIPIENT = "+998901234567", "+998971300909"


def subscriber(language="en", **changes) -> dict:
    return {"status": "active", "language": language, "customer_type": "individual", "line_type": "prepaid",
            "tariff_plan": "standard", **changes}


def account(main: int) -> Account:
    book = Account.new(SENDER, NOW - timedelta(days=30))
    book.credit("main", main, expires_at=None, reason="topup", reference="seed", at=NOW - timedelta(days=30))
    return book


def documents(sender=None, recipient=None, sent=()) -> dict:
    return {("subscribers", SENDER): sender or subscriber(),
            ("subscribers", RECIPIENT): recipient or subscriber("ru"),
            ("transfer_history", SENDER): {"sent": [{"at": at, "amount": amount} for at, amount in sent],
                                           "received": []},
            ("transfer_history", RECIPIENT): None}


def dial(code: str, text: str = "", *, docs=None, main=5_000_000, session="ATUid_1") -> ussd.Reply:
    docs = docs or documents()
    request = ussd.parse({"sessionId": session, "serviceCode": code, "phoneNumber": SENDER, "text": text}, PROFILE)
    caller = caller_from(SENDER, docs[("subscribers", SENDER)], PROFILE)
    read = ussd_read(REGISTRY, request, PROFILE, docs)
    return ussd.answer(request, caller, REGISTRY, PROFILE, account(main), read, now=NOW)


# --- parsing what subscribers type ----------------------------------------------------------

@pytest.mark.parametrize("typed", ["998971300909", "+998971300909", "971300909", "00998971300909"])
def test_recipients_typed_internationally_without_plus_or_nationally_become_e164(typed):
    assert transfers.parse_recipient(typed, PROFILE) == RECIPIENT


def test_amounts_are_whole_major_units_turned_into_minor_units():
    assert transfers.parse_order(("998971300909", "2500"), PROFILE) == transfers.Order(RECIPIENT, 250_000)


@pytest.mark.parametrize("inputs, reason", [
    (("abc",), "syntax"), (("998971300909",), "syntax"), (("998971300909", "abc"), "syntax"),
    (("12", "2500"), "syntax"), (("998971300909", "25.50"), "decimals"), (("998971300909", "2500,"), "decimals"),
    (("998971300909", "-5"), "syntax"), (("998971300909", "2500", "1"), "syntax"),
])
def test_malformed_orders_say_what_is_wrong(inputs, reason):
    with pytest.raises(transfers.BadOrder) as raised:
        transfers.parse_order(inputs, PROFILE)
    assert raised.value.reason == reason


@pytest.mark.parametrize("body, parts", [
    ("78 123 4567 3000", ("78 123 4567", "3000")),
    ("998901234567 5000", ("998901234567", "5000")),
    ("+998 90 123-45-67   5000", ("+998 90 123-45-67", "5000")),
    ("998901234567 50.5", ("998901234567", "50.5")),
])
def test_an_sms_of_a_number_and_an_amount_is_a_transfer(body, parts):
    assert transfers.transfer_parts(body) == parts
    assert COMMANDS.command_of(body)[0] == "transfer"


@pytest.mark.parametrize("body, command", [
    ("history", "history"), ("ИСТОРИЯ", "history"), ("tarix", "history"), ("ТАРЫХ", "history"), ("记录", "history"),
    ("LIMITS", "limits"), ("лимит", "limits"), ("Balance", "balance"), ("5000", "unknown"),
])
def test_history_and_limits_keywords_in_every_language_and_balance_still_works(body, command):
    assert COMMANDS.command_of(body)[0] == command


# --- *112*<number>*<amount># --------------------------------------------------------------

def test_a_transfer_the_rules_allow_is_being_processed_not_accepted_and_publishes_one_request():
    reply = dial("*112#", "998971300909*2500")
    # The transaction may still refuse it (a burst to one recipient): the screen promises no result.
    assert reply.body() == ("END Your transfer of 2 500 so'm to +998971300909 is being processed. "
                            "If it is made, the fee will be 200 so'm. An SMS will tell you the result.")
    [event] = reply.publish
    assert event.topic == "transfer.requested"
    assert (event.payload.sender, event.payload.recipient, event.payload.amount, event.payload.channel) == \
        (SENDER, RECIPIENT, 250_000, "ussd")


# What "accepted" or "sent" reads like in each language: none of it may appear before the result.
PROMISES = {"en": ("accepted", "sent"), "ru": ("принят", "отправлен"), "uz": ("qabul qilindi", "yuborildi"),
            "ky": ("кабыл алынды", "жөнөтүлдү"), "zh": ("已受理", "已发送")}


@pytest.mark.parametrize("language", sorted(PROMISES))
@pytest.mark.parametrize("code, inputs", [("*112#", "998971300909*5000"), ("*116#", "998971300909*5000"),
                                          ("#131#", "1*998971300909*1*1")])
def test_no_screen_promises_what_the_transaction_may_still_refuse(language, code, inputs):
    docs = documents(sender=subscriber(language))
    screens = [dial(code, inputs, docs=docs)]
    while screens[-1].keep_open:  # a long screen is paged: press its More key until the last page
        inputs += "*" + screens[-1].text.splitlines()[-1].split()[0]
        screens.append(dial(code, inputs, docs=docs))
    text = " ".join(screen.text for screen in screens)
    assert screens[0].publish and len(screens) <= 3
    assert not any(word in text.lower() for word in PROMISES[language]), text
    assert "SMS" in text or "短信" in text, "the screen must say the result comes by SMS"


@pytest.mark.parametrize("language", ["ru", "ky"])
def test_a_long_screen_turns_its_page_after_a_sentence_not_inside_one(language):
    docs = documents(sender=subscriber(language))
    first = dial("*112#", "998971300909*2500", docs=docs)
    *page, more = first.text.splitlines()
    assert first.keep_open and page[-1].endswith(".") and "SMS" not in "\n".join(page), first.text
    rest = dial("*112#", f"998971300909*2500*{more.split()[0]}", docs=docs)
    assert not rest.keep_open and "SMS" in rest.text and rest.text[0].isupper(), rest.text


def test_an_amount_typed_before_its_page_is_shown_is_not_taken_and_nothing_is_published():
    docs = documents(sender=subscriber("ru"))
    amounts = dial("#131#", "1*998971300909", docs=docs)
    assert "6 25 000" not in amounts.text and amounts.text.endswith("\n99 Ещё")   # 6 is on the next page
    assert dial("#131#", "1*998971300909*6", docs=docs) == amounts
    seen = dial("#131#", "1*998971300909*6*1", docs=docs)   # the 1 picks the amount on the page shown
    assert seen.text.startswith("Перевод 2 500 сумов на +998971300909\n") and seen.publish == ()


def test_a_double_tap_of_the_same_session_publishes_the_same_event_and_another_session_a_new_one():
    first, again = dial("*112#", "998971300909*2500"), dial("*112#", "998971300909*2500")
    other = dial("*112#", "998971300909*2500", session="ATUid_2")
    assert first.publish[0].event_id == again.publish[0].event_id != other.publish[0].event_id


def test_a_gateway_sending_the_whole_dial_string_is_read_the_same():
    assert dial("*112*998971300909*2500#").publish[0].payload.amount == 250_000


def test_an_amount_not_in_the_list_is_refused_naming_the_allowed_ones_and_publishes_nothing():
    reply = dial("*112#", "998971300909*3000")
    assert reply.body().startswith("END Transfer not made.")
    assert "2 500, 5 000, 10 000, 15 000, 20 000, 25 000 so'm" in reply.text
    assert reply.publish == ()


def test_the_refusal_is_in_the_senders_language():
    reply = dial("*112#", "998971300909*3000", docs=documents(sender=subscriber("ru")))
    assert reply.text.startswith("Перевод не выполнен.")


def test_a_transfer_leaving_less_than_the_minimum_is_refused_with_the_minimum_to_keep():
    reply = dial("*112#", "998971300909*5000", main=1_200_000)  # 12 000 so'm: 12 000 - 5 000 - 200 < 10 000
    assert reply.publish == () and "10 000 so'm" in reply.text


def test_todays_sent_transfers_count_against_the_daily_limit():
    sent = [(NOW - timedelta(hours=1), 2_500_000)] * 4           # 100 000 so'm sent today already
    reply = dial("*112#", "998971300909*2500", docs=documents(sent=sent))
    assert reply.publish == () and reply.text.startswith("Transfer not made.")


def test_an_unknown_recipient_and_a_barred_sender_are_refused():
    unknown = {**documents(), ("subscribers", RECIPIENT): None}
    assert "+998971300909" in dial("*112#", "998971300909*2500", docs=unknown).text
    barred = dial("*112#", "998971300909*2500", docs=documents(sender=subscriber(transfers_barred=True)))
    assert barred.publish == () and barred.text.startswith("Transfer not made.")


@pytest.mark.parametrize("text, expected", [
    ("abc", "END Wrong request. To send credit dial *112*number*amount#, e.g. *112*"),
    ("998971300909", "END Wrong request. To send credit dial *112*number*amount#"),
    ("998971300909*25.50", "END Amounts are whole numbers, without decimals. Dial *112*number*amount#"),
])
def test_malformed_transfers_get_the_syntax_back(text, expected):
    reply = dial("*112#", text)
    assert reply.body().startswith(expected) and reply.publish == ()


def test_the_syntax_is_in_the_subscribers_language():
    reply = dial("*112*abc#", docs=documents(sender=subscriber("uz")))
    assert reply.text.startswith("Noto'g'ri so'rov. O'tkazma uchun *112*raqam*summa# tering")


# --- *116* and *111*0151# -----------------------------------------------------------------

def test_a_top_up_request_is_published_and_said_to_be_processed_with_its_fee():
    reply = dial("*116#", "998971300909*5000")
    assert reply.body() == ("END Your request for 5 000 so'm to +998971300909 is being processed. "
                            "If it goes through, the fee will be 100 so'm. An SMS will tell you the result.")
    [event] = reply.publish
    assert (event.topic, event.payload.requester, event.payload.target, event.payload.amount) == \
        ("transfer.topup-asked", SENDER, RECIPIENT, 500_000)


def test_barring_publishes_the_bar_and_says_how_to_lift_it():
    reply = dial("*111*0151#")
    assert reply.body() == "END Your outgoing balance transfers are now barred. To lift the bar call 0890."
    [event] = reply.publish
    assert (event.topic, event.payload.msisdn, event.payload.barred) == ("transfer.bar-changed", SENDER, True)


def test_barring_twice_says_it_is_already_barred_and_publishes_nothing():
    reply = dial("*111*0151#", docs=documents(sender=subscriber(transfers_barred=True)))
    assert "already barred" in reply.text and reply.publish == ()


def test_another_code_under_111_is_not_the_bar():
    assert dial("*111*0152#").text.startswith("*111# is not a service")


def test_the_codes_come_from_the_operator_profile():
    profile = PROFILE.model_copy(update={"short_codes": PROFILE.short_codes.model_copy(
        update={"transfer": "*145#", "transfer_menu_aliases": ("*100*6*3#",)})})
    registry = services.ussd_services(profile)
    request = ussd.parse({"sessionId": "S", "serviceCode": "*145#", "phoneNumber": SENDER,
                          "text": "998971300909*2500"}, profile)
    service, seen = registry.route(request)
    assert service.name == "edge.service.transfer" and seen.inputs == ("998971300909", "2500")
    alias, seen = registry.route(ussd.parse({"sessionId": "S", "serviceCode": "*100#", "phoneNumber": SENDER,
                                             "text": "6*3*1"}, profile))
    assert alias.name == "edge.service.transfer_menu" and seen.inputs == ("1",)
    balance, _ = registry.route(ussd.parse({"sessionId": "S", "serviceCode": "*100#", "phoneNumber": SENDER}, profile))
    assert balance.name == "edge.service.balance"


# --- SMS to 21112 ------------------------------------------------------------------------------

def text_in(body: str, *, docs=None, main=5_000_000, sid="SM0001") -> sms_keywords.SmsAnswer:
    docs = docs or documents()
    inbound = sms_keywords.parse({"MessageSid": sid, "From": SENDER, "To": "21112", "Body": body})
    command, word = COMMANDS.command_of(body)
    situation = sms_keywords.sms_request(command=command, word=word, profile=PROFILE, short_code="21112",
                                         caller=caller_from(SENDER, docs[("subscribers", SENDER)], PROFILE),
                                         account=account(main), inbound=inbound, now=NOW,
                                         documents=sms_read(COMMANDS, inbound, "21112", PROFILE, docs))
    return COMMANDS.answer(situation)


def test_an_sms_transfer_is_published_with_an_id_from_the_message_and_answered_only_by_its_result():
    answer = text_in("998971300909 2500")
    assert answer.text is None, "the transfers service's SMS is the answer; no 'accepted' before it"
    [event] = answer.publish
    assert event.payload.channel == "sms" and event.payload.request_id.startswith("sms:SM0001:")
    assert text_in("998971300909 2500").publish[0].event_id == event.event_id
    assert text_in("998971300909 2500", sid="SM0002").publish[0].event_id != event.event_id


def test_a_refused_sms_transfer_names_the_reason_and_publishes_nothing():
    answer = text_in("971300909 3000")
    assert answer.text.key == "edge.transfer.refused" and "2 500, 5 000" in answer.text.params["reason"]
    assert answer.publish == ()


def test_an_sms_transfer_with_decimals_is_told_amounts_are_whole():
    assert text_in("998971300909 25.5").text.key == "edge.transfer.sms_no_decimals"


def test_history_lists_the_last_five_transfers_newest_first_in_local_time():
    sent = [(NOW - timedelta(hours=h), 250_000) for h in range(1, 8)]
    answer = text_in("history", docs=documents(sent=sent))
    lines = answer.text.render("en").splitlines()
    assert lines[0] == "Recent transfers:" and len(lines) == 6
    assert lines[1] == "02/03/2026 13:00 sent 2 500 so'm"  # 08:00 UTC is 13:00 in Tashkent


def test_limits_show_what_is_left_today():
    answer = text_in("LIMITS", docs=documents(sent=[(NOW - timedelta(hours=1), 2_500_000)]))
    assert "Send today: 75 000 so'm of 100 000 so'm" in answer.text.render("en")


def test_balance_still_works_on_the_short_code():
    assert text_in("BAL").text.key == "edge.balance.report"


@pytest.mark.parametrize("body", ["hello", "HELP", "998971300909"])
def test_help_and_what_is_not_understood_list_every_command_of_the_short_code(body):
    shown = text_in(body).text.render("en")
    for line in ("BALANCE - your balance", "number amount - send credit, e.g. 998912345678 2500",
                 "HISTORY - recent transfers", "LIMITS - transfer limits left"):
        assert line in shown, (body, shown)


def test_help_is_in_the_subscribers_language_with_keywords_it_accepts():
    shown = text_in("помощь", docs=documents(sender=subscriber("ru"))).text.render("ru")
    assert "Команды для 21112:" in shown and "номер сумма - перевод баланса, например 998912345678 2500" in shown
    for keyword in ("БАЛАНС", "ИСТОРИЯ", "ЛИМИТЫ"):
        assert keyword in shown and COMMANDS.command_of(keyword)[0] != UNKNOWN


def test_examples_use_a_number_of_the_operators_own_country_written_its_way():
    zain = load_file(Path(__file__).parents[1] / "fixtures" / "operators" / "zain.yaml")
    commands = services.sms_services(zain)
    inbound = sms_keywords.parse({"MessageSid": "SM1", "From": "+9647801234567", "To": "21112", "Body": "help"})
    caller = caller_from("+9647801234567", {"language": "en", "status": "active"}, zain)
    situation = sms_keywords.sms_request(command=HELP, word="help", profile=zain, short_code="21112",
                                         caller=caller, inbound=inbound, now=NOW)
    shown = commands.answer(situation).text.render("en")
    assert "e.g. 07912345678 " in shown and "998" not in shown
    assert "BALANCE" not in shown  # Zain's profile has no balance check
    assert zain.msisdn("07912345678").startswith("+964")
    screen = services.ussd_services(zain)
    bad = ussd.parse({"sessionId": "S", "serviceCode": "*112#", "phoneNumber": "+9647801234567", "text": "x"}, zain)
    assert "*112*07912345678*" in ussd.answer(bad, caller, screen, zain, account(10_000), {}, now=NOW).text


def test_an_unknown_ussd_code_shows_how_to_dial_each_code_that_takes_inputs():
    shown = dial("*999#").text
    assert "*112*number*amount# send credit" in shown and "*116*number*amount# ask for a top-up" in shown
    assert "*100# balance" in shown


@pytest.mark.parametrize("profile, language, line", [
    (PROFILE, "en", "*112*number*amount# send credit, e.g. *112*998912345678*2500#"),
    (PROFILE, "ru", "*112*номер*сумма# перевод баланса, например *112*998912345678*2500#"),
    (load_file(Path(__file__).parents[1] / "fixtures" / "operators" / "zain.yaml"), "en",
     "*112*number*amount# send credit, e.g. *112*07912345678*"),
])
def test_the_ussd_help_shows_the_transfer_with_an_example_in_the_operators_number_format(profile, language, line):
    registry = services.ussd_services(profile)
    assert line in registry.help("*999#", language).render(language)


def test_a_profile_without_the_balance_check_answers_balance_as_not_understood():
    profile = PROFILE.model_copy(update={"services": {**PROFILE.services, "balance_check": []}})
    commands = services.sms_services(profile)
    inbound = sms_keywords.parse({"MessageSid": "SM1", "From": SENDER, "To": "21112", "Body": "BALANCE"})
    situation = sms_keywords.sms_request(command="balance", word="balance", profile=profile,
                                         short_code="21112", caller=caller_from(SENDER, subscriber(), profile),
                                         account=account(5_000_000), inbound=inbound, now=NOW)
    answer = commands.answer(situation).text
    assert answer.key == "edge.sms.unknown_keyword"
    assert "BALANCE" not in answer.render("en") and "HISTORY - recent transfers" in answer.render("en")


# --- IVR 0670 ------------------------------------------------------------------------------

def heard(inbound: voice.InboundCall, record=None, read=True) -> Request[voice.InboundCall]:
    """The call as the webhook hands it on: an English-speaking caller, their record read (or not)."""
    return Request(channel="voice", input=inbound, caller=Caller(SENDER, True, "en"), profile=PROFILE, now=NOW, read=read,
                   documents=RequestDocuments({("subscribers", SENDER): subscriber() if record is None else record}))


def call(record=None, query=None, digits=None, read=True) -> voice.VoiceAnswer:
    form = {"CallSid": "CA0001", "From": SENDER, "To": "0670", **({"Digits": digits} if digits else {})}
    return ROUTES.answer(heard(voice.parse(form, query or {}), record, read))


def test_the_ivr_gathers_the_recipient_the_serial_then_the_code_with_the_step_in_the_action_url():
    first = str(call())
    assert "<Gather" in first and 'action="?step=recipient&amp;attempt=1"' in first
    assert "9-digit number" in first
    second = str(call(query={"step": "recipient", "attempt": "1"}, digits="971300909"))
    assert 'action="?step=serial&amp;attempt=1&amp;recipient=%2B998971300909"' in second
    assert "serial number" in second
    third = str(call(query={"step": "serial", "attempt": "1", "recipient": RECIPIENT}, digits="0001"))
    assert 'action="?step=code&amp;attempt=1&amp;recipient=%2B998971300909&amp;serial=0001"' in third
    assert "secret code" in third


def test_the_code_publishes_one_voucher_redeem_request_and_says_the_result_comes_by_sms():
    answer = call(query={"step": "code", "attempt": "1", "recipient": RECIPIENT, "serial": "0001"}, digits="12345678")
    assert "result will come to you by SMS" in str(answer) and "<Hangup" in str(answer)
    [event] = answer.publish
    assert (event.topic, event.payload.caller, event.payload.recipient, event.payload.card_serial,
            event.payload.secret_code) == ("voucher.redeem-requested", SENDER, RECIPIENT, "0001", "12345678")


def test_an_unreadable_serial_is_asked_again_once_then_goodbye():
    again = str(call(query={"step": "serial", "attempt": "1", "recipient": RECIPIENT}, digits="*"))
    assert "serial number cannot be read" in again and "attempt=2" in again
    goodbye = call(query={"step": "serial", "attempt": "2", "recipient": RECIPIENT}, digits="*")
    assert "Goodbye" in str(goodbye) and "<Gather" not in str(goodbye) and goodbye.publish == ()


def test_an_invalid_number_is_asked_again_once_then_goodbye():
    again = str(call(query={"step": "recipient", "attempt": "1"}, digits="12"))
    assert "That number is not valid." in again and "attempt=2" in again
    goodbye = call(query={"step": "recipient", "attempt": "2"}, digits="12")
    assert "Goodbye" in str(goodbye) and "<Gather" not in str(goodbye) and goodbye.publish == ()


@pytest.mark.parametrize("record, said", [
    (subscriber(status="blocked"), "cannot be activated from a blocked line"),
    (subscriber(network_state={"roaming": True}), "cannot be activated while roaming"),
])
def test_blocked_and_roaming_callers_are_refused_at_once(record, said):
    answer = call(record=record, query={"step": "code", "recipient": RECIPIENT}, digits="12345678")
    assert said in str(answer) and answer.publish == () and "<Gather" not in str(answer)


def test_other_numbers_still_hear_there_is_no_voice_service():
    inbound = voice.parse({"CallSid": "CA2", "From": SENDER, "To": "+998712000000"})
    assert "no voice service" in str(ROUTES.answer(heard(inbound)))


# --- fuzzing: whatever arrives, a screen or TwiML, never an exception --------------------------

_INPUT = st.one_of(st.text(max_size=15), st.from_regex(r"[0-9*#+.,]{0,20}", fullmatch=True),
                   st.sampled_from(["998971300909", "971300909", "2500", "1", "2", "0", "25.5"]))


@settings(max_examples=400, deadline=None)
@given(code=st.sampled_from(["*112#", "*116#", "*111#", "#131#", "*111*0151#"]),
       inputs=st.lists(_INPUT, max_size=6))
def test_any_transfer_dialling_gets_a_screen(code, inputs):
    reply = dial(code, "*".join(inputs))
    assert re.match(r"^(CON|END) \S", reply.body())
    assert all(p.event_id and p.topic.startswith("transfer.") for p in reply.publish)
    assert not reply.publish or not reply.keep_open


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(st.text(max_size=40), st.from_regex(r"\+?[0-9 \-]{1,16} [0-9.,]{1,8}", fullmatch=True)))
def test_any_sms_gets_a_reply(body):
    answer = text_in(body)
    assert answer.text.render("en")


@settings(max_examples=200, deadline=None)
@given(step=st.sampled_from([None, "recipient", "code", "x"]), digits=st.one_of(st.none(), st.text(max_size=25)),
       attempt=st.one_of(st.none(), st.text(max_size=3)), recipient=st.one_of(st.none(), st.text(max_size=16)))
def test_any_ivr_step_gets_twiml(step, digits, attempt, recipient):
    query = {k: v for k, v in {"step": step, "attempt": attempt, "recipient": recipient}.items() if v is not None}
    answer = str(call(query=query, digits=digits))
    assert answer.startswith('<?xml version="1.0" encoding="UTF-8"?><Response>')
