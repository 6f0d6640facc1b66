"""Missed-call self-care at the edge: SMS to 06001 (D within and after the window, option keywords in
five languages, STATUS, bad numbers) and the *160# USSD menu's screens."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from functions.edge import pager, services, sms_keywords, ussd
from functions.missed_calls.edge_options import WORDS, read_ask
from functions.edge.request import RequestDocuments
from functions.edge.subscribers import Caller
from functions.missed_calls import documents, pin
from functions.missed_calls.config import config_for
from shared import operator, texts
from shared.events import MissedCallOptionsChanged

PROFILE = operator.load_file(Path("shared/operators/demo.yaml"))
CONFIG = config_for(PROFILE)
ME, ALICE, CAROL = "+998971300909", "+998901234567", "+998911112233"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
COMMANDS = services.sms_services(PROFILE)


def text_in(body: str, *, language="en", notice=None, user=None, known=True, blocked=False,
            pending=None) -> sms_keywords.SmsAnswer:
    """What an SMS to the service's short code gets back."""
    inbound = sms_keywords.InboundSms(message_sid="SMmc0001", sender=ME, to=CONFIG.short_code, body=body)
    situation = sms_keywords.sms_request(
        command=COMMANDS.command_of(body)[0], word="", caller=Caller(ME, known, language, blocked),
        profile=PROFILE, short_code=CONFIG.short_code, inbound=inbound, now=NOW,
        documents=RequestDocuments({("missed_call_notices", ME): notice, ("missed_call_users", ME): user,
                             ("consent_pending", f"missed_calls.mailbox:{ME}"): None, **(pending or {})}))
    return COMMANDS.answer(situation)


def reply(answer: sms_keywords.SmsAnswer, language="en") -> str:
    """The SMS as notify renders it from the template and params."""
    return texts.render(answer.text.key, language, **answer.text.params)


def option(answer: sms_keywords.SmsAnswer) -> tuple[str, str | None]:
    assert answer.text is None, "the service confirms options itself"
    [publication] = answer.publish
    assert publication.topic == "missed-call.options-changed"
    payload: MissedCallOptionsChanged = publication.payload
    assert (payload.msisdn, payload.channel, payload.request_id.split(":")[:2]) == (ME, "sms", ["sms", "SMmc0001"])
    return payload.action, payload.number


NOTICE = {"sent_at": NOW - timedelta(hours=2), "window_ends_at": NOW + timedelta(hours=22), "calls": [
    {"caller": ALICE, "count": 3, "first_at": NOW - timedelta(hours=5), "last_at": NOW - timedelta(hours=3),
     "choice": "other_number", "other_number": CAROL},
    {"caller": CAROL, "count": 1, "first_at": NOW - timedelta(hours=4), "last_at": NOW - timedelta(hours=4),
     "choice": "voicemail"}]}


# --- D -------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", ["D", "d", "Д", "д", "Ｄ", " d. "])
def test_d_within_the_window_returns_the_details_as_a_priced_sms(body):
    answer = text_in(body, notice=NOTICE)
    assert reply(answer) == ("Missed calls:\n"
                             "+998901234567: 3 calls, 02/03/2026 09:00 to 02/03/2026 11:00; "
                             "asks you to call +998911112233\n"
                             "+998911112233: 02/03/2026 10:00; left a voice message")
    assert answer.billing == documents.BILL_DETAILS and not answer.publish


def test_d_details_are_written_in_the_readers_language():
    assert reply(text_in("д", language="ru", notice=NOTICE), "ru").startswith(
        "Пропущенные звонки:\n+998901234567: 3 зв., с 02.03.2026 09:00 по 02.03.2026 11:00")


def test_d_after_the_window_says_so_for_free_and_what_the_notice_said():
    late = {**NOTICE, "window_ends_at": NOW - timedelta(minutes=1)}
    answer = text_in("D", notice=late)
    assert reply(answer) == ("Our notice of 02/03/2026 12:00 told you of 4 missed calls. Details could be asked for "
                             "within 24 hours of it; that time has passed. This message is free.")
    assert answer.billing is None


def test_d_after_the_window_counts_one_missed_call_in_the_singular():
    late = {**NOTICE, "calls": NOTICE["calls"][1:], "window_ends_at": NOW - timedelta(minutes=1)}
    assert reply(text_in("D", notice=late)).startswith("Our notice of 02/03/2026 12:00 told you of 1 missed call. ")
    assert "о 1 пропущенном звонке" in reply(text_in("д", language="ru", notice=late), "ru")


def test_d_with_nothing_recorded_says_there_are_no_missed_calls_for_free():
    for notice in (None, {"calls": []}):
        answer = text_in("D", notice=notice)
        assert reply(answer) == "You have no missed calls." and answer.billing is None


# --- options -------------------------------------------------------------------------------

@pytest.mark.parametrize("body, action", [
    ("REG", "register"), ("рег", "register"), ("ro'yxat", "register"), ("roʻyxat", "register"), ("каттоо", "register"),
    ("注册", "register"), ("UNREG", "unregister"), ("откл", "unregister"), ("bekor", "unregister"),
    ("жоктоо", "unregister"), ("注销", "unregister"), ("privacy on", "privacy_on"), ("PRIVACY  OFF", "privacy_off"),
    ("скрыть", "privacy_on"), ("показать", "privacy_off"), ("maxfiy", "privacy_on"), ("ochiq", "privacy_off"),
    ("жашыруу", "privacy_on"), ("көрсөтүү", "privacy_off"), ("隐私开", "privacy_on"), ("隐私关", "privacy_off"),
    ("clear lists", "lists_clear"), ("очистить списки", "lists_clear"), ("tozalash", "lists_clear"),
    ("тазалоо", "lists_clear"), ("清空名单", "lists_clear")])
def test_option_keywords_in_each_language_publish_the_change_and_reply_nothing_yet(body, action):
    assert option(text_in(body)) == (action, None)


@pytest.mark.parametrize("body, action", [
    ("BLOCK 901234567", "blacklist_add"), ("блок +998 90 123-45-67", "blacklist_add"),
    ("blok 998901234567", "blacklist_add"),
    ("кара 901234567", "blacklist_add"), ("拉黑901234567", "blacklist_add"), ("黑名单 901234567", "blacklist_add"),
    ("unblock 901234567", "blacklist_remove"), ("разблок 901234567", "blacklist_remove"),
    ("blokdan 901234567", "blacklist_remove"), ("блоктон 901234567", "blacklist_remove"),
    ("取消黑名单901234567", "blacklist_remove"), ("allow 901234567", "whitelist_add"),
    ("разрешить 901234567", "whitelist_add"), ("ruxsat 901234567", "whitelist_add"),
    ("уруксат 901234567", "whitelist_add"),
    ("白名单901234567", "whitelist_add"), ("disallow 901234567", "whitelist_remove"),
    ("запретить 901234567", "whitelist_remove"), ("taqiq 901234567", "whitelist_remove"),
    ("тыюу 901234567", "whitelist_remove"), ("取消白名单 901234567", "whitelist_remove")])
def test_list_keywords_carry_the_number_in_e164(body, action):
    assert option(text_in(body)) == (action, ALICE)


@pytest.mark.parametrize("body", ["BLOCK", "BLOCK 12", "block abc", "拉黑"])
def test_a_list_keyword_without_a_valid_number_is_explained_and_nothing_is_published(body):
    answer = text_in(body)
    assert not answer.publish
    assert re.match(r"^Write a phone number after (BLOCK|拉黑), for example: (BLOCK|拉黑) 901234567$", reply(answer))


def test_ones_own_number_cannot_go_on_a_list():
    answer = text_in("block 971300909")
    assert not answer.publish and reply(answer) == "BLOCK: your own number cannot be put on your lists."


def test_status_answers_at_once_from_the_users_options():
    user = {"registered": True, "privacy": False, "blacklist": [ALICE], "whitelist": []}
    answer = text_in("status", user=user)
    assert reply(answer) == ("Missed-call alerts are on. Voice mailbox: on. Privacy: off. "
                             "Black list: 1 (+998901234567). White list: 0.")
    assert not answer.publish
    assert reply(text_in("статус", language="ru"), "ru") == (
        "Уведомления о пропущенных звонках включены. Голосовой ящик: не подключён. Скрытие статуса: выключено. "
        "Чёрный список: 0. Белый список: 0.")


def test_an_unknown_word_lists_the_keywords_in_the_subscribers_language():
    answer = text_in("погода", language="ru")
    assert reply(answer, "ru").startswith("«погода» — неизвестная команда. SMS на 06001: Д подробности; РЕГ / ОТКЛ;")
    assert "Меню: *160#" in reply(answer, "ru") and not answer.publish
    assert reply(text_in("help")).startswith("Missed-call alerts, texts to 06001: D details of missed calls "
                                             "(50 so'm per answer); REG / UNREG voice mailbox (3 000 so'm a month);")


def test_unknown_and_blocked_lines_get_the_usual_refusal():
    assert reply(text_in("REG", known=False)).startswith("This number is not registered for DemoTel services.")
    assert reply(text_in("D", blocked=True)) == "Your line is blocked. For help call 0890."
    assert not text_in("REG", known=False).publish


HELP_KEYWORDS = {
    "en": ["D", "REG", "UNREG", "PRIVACY ON", "PRIVACY OFF", "BLOCK", "UNBLOCK", "ALLOW", "DISALLOW", "CLEAR LISTS",
           "STATUS"],
    "ru": ["Д", "РЕГ", "ОТКЛ", "СКРЫТЬ", "ПОКАЗАТЬ", "БЛОК", "РАЗБЛОК", "РАЗРЕШИТЬ", "ЗАПРЕТИТЬ", "ОЧИСТИТЬ", "СТАТУС"],
    "uz": ["D", "ROYXAT", "BEKOR", "MAXFIY", "OCHIQ", "BLOK", "BLOKDAN", "RUXSAT", "TAQIQ", "TOZALASH", "HOLAT"],
    "ky": ["Д", "КАТТОО", "ЖОКТОО", "ЖАШЫРУУ", "КӨРСӨТҮҮ", "БЛОК", "БЛОКТОН", "УРУКСАТ", "ТЫЮУ", "ТАЗАЛОО", "АБАЛ"],
    "zh": ["D", "注册", "注销", "隐私开", "隐私关", "拉黑", "解除拉黑", "白名单", "取消白名单", "清空名单", "状态"],
}


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_the_help_in_each_language_names_keywords_that_are_understood(language):
    help_text = texts.render("edge.missed_calls.sms.help", language, short_code="06001", ussd="*160#",
                             price="50 so'm", fee="3 000 so'm")
    unknown = texts.render("edge.missed_calls.sms.unknown", language, word="x", short_code="06001", ussd="*160#")
    requests = set()
    for keyword in HELP_KEYWORDS[language]:
        assert keyword in help_text and keyword in unknown, (language, keyword)
        requests.add(read_ask(keyword).name)
    assert requests == {"details", "register", "unregister", "privacy_on", "privacy_off", "blacklist_add",
                        "blacklist_remove", "whitelist_add", "whitelist_remove", "lists_clear", "status"}


# Answers to the sign-up question (YES/NO) mean nothing on their own, and HELP is what is being read.
NOT_LISTED = {"help", "confirm", "decline"}


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_help_and_not_understood_list_a_keyword_of_every_registered_request(language):
    for shown in (reply(text_in("HELP", language=language), language), reply(text_in("hello", language=language), language)):
        missing = {request for request, words in WORDS.items() if request not in NOT_LISTED
                   and not any(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", shown, re.IGNORECASE)
                               and read_ask(word).name == request for word in words)}
        assert missing == set(), (language, shown)


def test_no_word_asks_for_two_different_things():
    requests_of: dict[str, set[str]] = {}
    for request, words in WORDS.items():
        for word in words:
            requests_of.setdefault(word.casefold(), set()).add(request)
    assert {word: found for word, found in requests_of.items() if len(found) > 1} == {}


@hsettings(max_examples=300, deadline=None)
@given(body=st.text(max_size=60))
def test_any_sms_gets_an_answer_or_a_valid_publication(body):
    answer = text_in(body, notice=NOTICE)
    if answer.text is None:
        [publication] = answer.publish
        assert MissedCallOptionsChanged.model_validate(publication.payload.model_dump()) == publication.payload
    else:
        assert reply(answer) and not answer.publish


# --- the USSD menu -------------------------------------------------------------------------

REGISTRY = services.ussd_services(PROFILE)


def menu(text: str, user=None, language="en") -> ussd.Reply:
    request = ussd.UssdRequest(session_id="ATUid_mc", service_code="*160#", msisdn=ME, network_code="43401",
                               inputs=tuple(text.split("*")) if text else ())
    return ussd.answer(request, Caller(ME, True, language), REGISTRY, PROFILE,
                       documents=RequestDocuments({("missed_call_users", ME): user}), now=NOW)


def published_option(reply_: ussd.Reply) -> tuple[str, str | None]:
    [publication] = reply_.publish
    assert (publication.payload.channel, publication.payload.request_id.split(":")[:2]) == ("ussd", ["ussd", "ATUid_mc"])
    return publication.payload.action, publication.payload.number


def test_the_root_screen_offers_what_each_option_would_change():
    assert menu("").body() == ("CON Missed-call alerts\n1 Status\n2 Get a voice mailbox (3 000 so'm a month)\n3 Hide when I am back\n"
                               "4 Block a number\n5 Unblock a number\n6 Allow a number\n7 Disallow a number\n"
                               "8 Voicemail PIN")
    registered = menu("", user={"registered": True, "privacy": True}).body()
    assert "2 Cancel the voice mailbox\n3 Show when I am back" in registered


def test_1_shows_the_status_on_a_final_screen():
    reply_ = menu("1", user={"registered": True, "blacklist": [ALICE, CAROL]})
    assert reply_.body() == ("END Missed-call alerts are on. Voice mailbox: on. Privacy: off. Black list: 2. "
                             "White list: 0.") and not reply_.publish


@pytest.mark.parametrize("user, typed, action", [({"registered": True}, "2", "unregister"),
                                                 (None, "3", "privacy_on"), ({"privacy": True}, "3", "privacy_off")])
def test_2_and_3_toggle_and_publish_at_once(user, typed, action):
    reply_ = menu(typed, user=user)
    assert reply_.body() == "END Request accepted, you will get an SMS."
    assert published_option(reply_) == (action, None)


@pytest.mark.parametrize("typed, action", [("4", "blacklist_add"), ("5", "blacklist_remove"),
                                           ("6", "whitelist_add"), ("7", "whitelist_remove")])
def test_list_choices_ask_for_a_number_and_publish_it_validated(typed, action):
    assert menu(typed).body() == "CON Enter the phone number:\n0 Back"
    assert menu(f"{typed}*12").body() == "CON That is not a phone number.\nEnter the phone number:\n0 Back"
    assert not menu(f"{typed}*12").publish
    done = menu(f"{typed}*12*901234567")
    assert done.body() == "END Request accepted, you will get an SMS." and published_option(done) == (action, ALICE)


def test_0_goes_back_and_a_wrong_choice_is_explained():
    assert menu("4*0").body().startswith("CON Missed-call alerts\n1 Status")
    assert menu("9").body().startswith("CON Invalid choice, please pick a number from the list.\nMissed-call alerts")
    assert menu("4*971300909").body().startswith("CON That is not a phone number.")   # one's own number


def test_the_menu_speaks_the_subscribers_language():
    assert menu("", language="zh").body().startswith("CON 漏话提醒\n1 状态\n2 开通语音信箱")
    assert menu("3", language="uz").body() == "END So'rov qabul qilindi, sizga SMS keladi."


# --- the paid sign-up asks first -----------------------------------------------------------

CONFIRM_SCREEN = ("Voice mailbox: 3 000 so'm a month, charged now and at the start of each month until you cancel."
                  "\n1 Confirm\n2 Cancel")


def test_getting_a_mailbox_on_the_menu_shows_price_and_period_and_publishes_nothing_yet():
    reply_ = menu("2")
    assert reply_.body() == "CON " + CONFIRM_SCREEN and not reply_.publish


def test_1_on_the_confirm_screen_publishes_the_sign_up_with_its_consent_record():
    reply_ = menu("2*1")
    assert reply_.body() == "END Request accepted, you will get an SMS."
    assert published_option(reply_) == ("register", None)
    record = reply_.publish[0].payload.consent
    assert (record.status, record.channel, record.shown, record.price, record.period) == \
        ("confirmed", "ussd", CONFIRM_SCREEN, 3_000 * 100, "month")
    assert (record.request.text, record.confirmation.text) == ("2", "1")
    assert record.request.reference == record.confirmation.reference
    assert record.request.reference.startswith("ussd:ATUid_mc:")
    assert record.confirmation.at == NOW


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_the_consent_keeps_exactly_the_one_confirm_screen_the_subscriber_saw(language):
    screen = menu("2", language=language)
    assert screen.keep_open and pager.fits(screen.text) and screen.text.splitlines()[-2].startswith("1 ")
    record = menu("2*1", language=language).publish[0].payload.consent
    assert (record.status, record.shown) == ("confirmed", screen.text)


@pytest.mark.parametrize("typed", ["2", "0", "9", "yes"])
def test_2_or_anything_else_declines_and_says_nothing_is_charged(typed):
    reply_ = menu(f"2*{typed}")
    assert reply_.body() == "END Cancelled: the voice mailbox was not switched on and nothing was charged."
    assert reply_.publish[0].payload.consent.status == "declined"


def test_reg_by_sms_carries_the_message_it_came_in_so_the_service_can_ask_first():
    answer = text_in("REG")
    said = answer.publish[0].payload.said
    assert (said.text, said.at) == ("REG", NOW) and said.reference.startswith("sms:SMmc0001:")
    assert answer.publish[0].payload.consent_reply is None


PENDING = {("consent_pending", f"missed_calls.mailbox:{ME}"): {"consent_id": "c1", "expires_at": NOW}}


@pytest.mark.parametrize("body, accepted, language", [("YES", True, "en"), ("да", True, "ru"), ("ha", True, "uz"),
                                                      ("ооба", True, "ky"), ("是", True, "zh"), ("no", False, "en"),
                                                      ("нет", False, "ru"), ("yo'q", False, "uz"),
                                                      ("жок", False, "ky"), ("否", False, "zh")])
def test_a_yes_or_no_reply_answers_the_waiting_sign_up(body, accepted, language):
    answer = text_in(body, language=language, pending=PENDING)
    payload = answer.publish[0].payload
    assert (payload.action, payload.consent_reply, payload.said.text) == ("register", accepted, body)


def test_a_yes_with_nothing_waiting_is_told_so_at_once():
    answer = text_in("YES")
    assert not answer.publish
    assert reply(answer) == ("You have no voice mailbox request waiting for confirmation. To get one, text REG to "
                             "06001 or dial *160#.")


# --- the mailbox PIN -----------------------------------------------------------------------

@pytest.mark.parametrize("body", ["PIN 4821", "пин 4821", "pin-kod 48210", "密码4821", "PIN ４８２１"])
def test_a_pin_by_sms_is_published_hashed_never_in_digits(body):
    answer = text_in(body)
    payload = answer.publish[0].payload
    digits = "4821" if "48210" not in body else "48210"
    assert payload.action == "pin_set" and pin.matches(digits, payload.pin.model_dump())
    # The salt and the hash are random bytes, where any digit string may turn up by chance: every
    # other field must not hold the digits, and the hash must not be them either.
    assert "4821" not in payload.model_copy(update={"pin": None}).model_dump_json()
    assert digits not in [str(value) for value in payload.pin.model_dump().values()]


@pytest.mark.parametrize("body", ["PIN", "PIN 12", "PIN 123456789", "PIN 12ab"])
def test_a_pin_that_is_not_4_to_8_digits_is_explained_without_echoing_it(body):
    answer = text_in(body)
    assert not answer.publish
    assert reply(answer) == ("A voicemail PIN is 4 to 8 digits: text PIN and the digits to 06001, for example "
                             "PIN 4821. Nothing was changed.")


@pytest.mark.parametrize("body, action", [("PIN SKIP", "pin_skip_on"), ("пин авто", "pin_skip_on"),
                                          ("免密", "pin_skip_on"), ("PIN ALWAYS", "pin_skip_off"),
                                          ("пин дайыма", "pin_skip_off"), ("每次密码", "pin_skip_off")])
def test_the_own_phone_option_has_keywords(body, action):
    assert option(text_in(body)) == (action, None)


def test_the_menu_sets_a_pin_keyed_twice_and_publishes_only_its_hash():
    assert menu("8").body() == ("CON Voicemail PIN\n1 Set a new PIN\n2 No PIN on calls from my own phone\n0 Back")
    assert menu("8*1").body() == "CON Enter a new PIN of 4 to 8 digits:\n0 Back"
    assert menu("8*1*12").body() == "CON A PIN is 4 to 8 digits.\nEnter a new PIN of 4 to 8 digits:\n0 Back"
    assert menu("8*1*4821").body() == "CON Enter the same PIN again:\n0 Back"
    assert menu("8*1*4821*4822").body() == "CON The two PINs differ.\nEnter a new PIN of 4 to 8 digits:\n0 Back"
    done = menu("8*1*4821*4821")
    assert done.body() == "END Request accepted, you will get an SMS." and published_option(done) == ("pin_set", None)
    assert pin.matches("4821", done.publish[0].payload.pin.model_dump())


def test_the_menu_toggles_the_own_phone_option():
    assert published_option(menu("8*2")) == ("pin_skip_on", None)
    assert published_option(menu("8*2", user={"voicemail_trust_own_phone": True})) == ("pin_skip_off", None)



def recovered_pins(published: str, *parts_for_pin) -> list[str]:
    """The PINs an attacker finds in what was published: sha256 over who and what, as request ids hash them,
    tried for every 4-digit candidate (`parts_for_pin` names the PIN as "{pin}")."""
    found = []
    for candidate in (f"{n:04d}" for n in range(10_000)):
        parts = [part.format(pin=candidate) for part in parts_for_pin]
        if hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20] in published:
            found.append(candidate)
    return found


def everything_published(publication) -> str:
    return f"{publication.event_id} {publication.payload.model_dump_json()}"


def without_pin_hash(publication) -> dict:
    return {"event_id": publication.event_id, **publication.payload.model_dump(exclude={"pin"})}


def test_a_pin_by_sms_cannot_be_recovered_from_its_request_id_or_event_ids():
    [first], [second] = text_in("PIN 4821").publish, text_in("PIN 7305").publish
    assert without_pin_hash(first) == without_pin_hash(second)
    assert recovered_pins(everything_published(first), ME, CONFIG.short_code, "PIN {pin}") == []
    # The edge's reply and log correlation ids derive from the message's request id too.
    keyed = [COMMANDS.identified(sms_keywords.InboundSms(message_sid="SMmc0001", sender=ME, to=CONFIG.short_code,
                                                         body=f"PIN {digits}")).request_id
             for digits in ("4821", "7305")]
    assert keyed[0] == keyed[1] and recovered_pins(keyed[0], ME, CONFIG.short_code, "PIN {pin}") == []
    other = sms_keywords.InboundSms(message_sid="SMmc0001", sender=ME, to=CONFIG.short_code, body="BLOCK 901234567")
    assert COMMANDS.identified(other).request_id == other.request_id   # only the PIN is left out


def test_a_pin_by_ussd_cannot_be_recovered_from_its_request_id_or_event_ids():
    [first], [second] = menu("8*1*4821*4821").publish, menu("8*1*7305*7305").publish
    assert without_pin_hash(first) == without_pin_hash(second)
    assert recovered_pins(everything_published(first), ME, "*160#", "8", "1", "{pin}", "{pin}") == []
    # Every input keyed on a PIN screen is left out, a mistyped one too.
    [mistyped], [other] = menu("8*1*4821*4822*4821*4821").publish, menu("8*1*1111*2222*7305*7305").publish
    assert without_pin_hash(mistyped) == without_pin_hash(other)
