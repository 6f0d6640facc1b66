"""USSD: the gateway's fields parsed, routed by service code, and answered with one screen."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from functions.edge import pager, services, ussd
from functions.edge.replies import Publication
from functions.edge.request import Request
from functions.edge.subscribers import Caller, caller_from
from functions.ledger import edge as balance
from shared import texts
from shared.ledger_core import Account
from shared.operator import load_file, PROFILES_DIR
from tests.fixtures.edge_reads import ussd_read

PROFILE = load_file(PROFILES_DIR / "demo.yaml")
REGISTRY = services.ussd_services(PROFILE)
MSISDN = "+998901234567"


def request(code="*100#", text="", phone=MSISDN) -> ussd.UssdRequest:
    return ussd.parse({"sessionId": "ATUid_1", "serviceCode": code, "phoneNumber": phone,
                       "networkCode": "99999", "text": text}, PROFILE)


def caller(language="ru", status="active") -> Caller:
    return caller_from(MSISDN, {"language": language, "status": status}, PROFILE)


# --- parsing ---------------------------------------------------------------------------------

def test_a_transfer_dial_string_arrives_as_base_code_and_inputs():
    parsed = request(code="*112#", text="998971300909*2500")
    assert (parsed.service_code, parsed.inputs) == ("*112#", ("998971300909", "2500"))


def test_gateways_that_send_the_whole_dial_string_read_the_same():
    assert ussd.split_service_code("*112*998971300909*2500#") == ("*112#", ("998971300909", "2500"))
    assert ussd.split_service_code(" *100# ") == ("*100#", ())
    assert ussd.split_service_code("#131#") == ("#131#", ())


@pytest.mark.parametrize("phone", ["+998901234567", "998901234567", "901234567", "+998 90 123-45-67"])
def test_phone_numbers_in_any_usual_form_become_e164(phone):
    assert request(phone=phone).msisdn == MSISDN


@pytest.mark.parametrize("form", [
    {},
    {"serviceCode": "*100#", "phoneNumber": "not a number"},
    {"serviceCode": "*100#", "phoneNumber": MSISDN, "text": "1" * 500},
])
def test_requests_no_answer_can_be_addressed_to_are_malformed(form):
    with pytest.raises(ussd.MalformedRequest):
        ussd.parse(form, PROFILE)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["sessionId", "serviceCode", "phoneNumber", "networkCode", "text"]),
                       st.text(max_size=60)))
def test_the_parser_either_parses_or_says_malformed(form):
    try:
        parsed = ussd.parse(form, PROFILE)
    except ussd.MalformedRequest:
        return
    assert parsed.msisdn.startswith("+")


# --- routing and answers --------------------------------------------------------------------

def test_the_balance_code_answers_with_a_final_screen_in_the_callers_language():
    acc = Account.new(MSISDN, datetime(2026, 1, 1, tzinfo=timezone.utc))
    acc.credit("main", 1_234_500, expires_at=None, reason="topup", reference="r", at=acc.created_at)
    reply = ussd.answer(request(), caller("ru"), REGISTRY, PROFILE, acc, now=NOW)
    assert reply.body() == "END Ваш баланс:\nОсновной баланс: 12 345 сумов"


def test_an_unknown_code_lists_what_exists():
    first = ussd.answer(request(code="*555#"), caller("en"), REGISTRY, PROFILE, now=NOW)
    assert first.body() == ("CON *555# is not a service. Available:\n*100# balance\n"
                            "*112*number*amount# send credit, e.g. *112*998912345678*2500#\n"
                            "*116*number*amount# ask for a top-up\n*111*0151# bar transfers\n1 More")
    rest = ussd.answer(request(code="*555#", text="1"), caller("en"), REGISTRY, PROFILE, now=NOW)
    assert rest.body() == ("END #131# balance transfer\n*160# missed-call alerts\n*120# subscriptions\n"
                           "*125# communication credits")


def test_an_unknown_subscriber_is_told_so_with_the_hotline_in_the_default_language():
    stranger = caller_from(MSISDN, None, PROFILE)
    reply = ussd.answer(request(), stranger, REGISTRY, PROFILE, now=NOW)
    assert not reply.keep_open
    assert reply.text == ("Bu raqam DemoTel xizmatlarida ro'yxatdan o'tmagan. "
                          "Yordam uchun 0890 ga qo'ng'iroq qiling.")


def test_a_record_written_only_by_the_hlr_is_not_a_subscriber():
    assert not caller_from(MSISDN, {"network_state": {"state": "attached"}}, PROFILE).known


def test_a_blocked_subscriber_is_told_so():
    reply = ussd.answer(request(), caller("en", status="blocked"), REGISTRY, PROFILE, now=NOW)
    assert reply.body() == "END Your line is blocked. For help call 0890."


def test_a_language_the_operator_does_not_offer_falls_back_to_the_default():
    assert caller_from(MSISDN, {"language": "fr", "status": "active"}, PROFILE).language == "uz"


def test_a_new_service_plugs_in_with_one_entry_and_a_code_cannot_be_taken_twice():
    registry = services.ussd_services(PROFILE)
    registry.add(ussd.UssdService(code="*555#", name="edge.service.balance",
                                  handler=lambda s: ussd.Reply.con(f"to {s.input.inputs[0]}?" if s.input.inputs
                                                                   else "to whom?")))
    reply = ussd.answer(request(code="*555#", text="998971300909"), caller(), registry, PROFILE, now=NOW)
    assert reply.body() == "CON to 998971300909?"
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(ussd.UssdService(code="*100#", name="edge.service.balance", handler=lambda s: None))


def test_an_operator_without_the_balance_preset_serves_no_balance_code():
    profile = PROFILE.model_copy(update={"services": {}})
    registry = services.ussd_services(profile)
    assert registry.find("*100#") is None
    assert ussd.answer(request(), caller("en"), registry, profile, now=NOW).text.startswith("*100# is not a service.")


# --- screens longer than a USSD screen are paged ----------------------------------------------

def rich_account() -> Account:
    """Main, bonus and a data bucket, each with an expiry: a *100# screen too long for Cyrillic or Chinese."""
    acc = Account.new(MSISDN, datetime(2026, 1, 1, tzinfo=timezone.utc))
    for bucket, amount in (("main", 2_500_000), ("bonus", 500_000), ("promo", 120_000)):
        acc.credit(bucket, amount, expires_at=datetime(2099, 5, 31, 18, 59, tzinfo=timezone.utc), reason="topup",
                   reference=bucket, at=acc.created_at)
    return acc


def pages_of(code: str, language: str, account=None, registry=REGISTRY) -> list[ussd.Reply]:
    """Every page of one screen, turning pages with the key each page offers, as a subscriber would."""
    typed, pages = [], []
    while True:
        dialled = request(code=code, text="*".join(typed))
        read = ussd_read(registry, dialled, PROFILE)
        reply = ussd.answer(dialled, caller(language), registry, PROFILE, account, read, now=NOW)
        pages.append(reply)
        key, _, label = reply.text.splitlines()[-1].partition(" ")
        if not reply.keep_open or label != pager_label(language) or len(pages) > 10:
            return pages
        typed.append(key)


def pager_label(language: str) -> str:
    return texts.render("edge.ussd.more", language)


@pytest.mark.parametrize("language, more", [("ru", "1 Ещё"), ("zh", "1 更多"), ("ky", "1 Дагы")])
def test_a_balance_screen_longer_than_a_ucs2_screen_is_paged_with_more(language, more):
    whole = balance.balance_check(Request(channel="ussd", input=request(), caller=caller(language), profile=PROFILE,
                                          account=rich_account(), now=NOW)).text
    assert not pager.fits(whole)
    pages = pages_of("*100#", language, rich_account())
    assert len(pages) >= 2 and all(page.keep_open for page in pages[:-1]) and not pages[-1].keep_open
    assert all(page.text.endswith("\n" + more) for page in pages[:-1])
    assert all(pager.fits(page.text) for page in pages)
    shown = "\n".join(page.text.removesuffix("\n" + more) for page in pages)
    assert shown.split() == whole.split()  # nothing lost, nothing added but the More lines


@pytest.mark.parametrize("language", ["ru", "ky", "zh"])
def test_short_currency_words_keep_balance_and_menu_screens_to_few_pages(language):
    balance = pages_of("*100#", language, rich_account())
    header, *first_lines, more = balance[0].text.splitlines()
    assert first_lines and len(balance) <= 3, balance   # page 1 shows a balance, not only "Ваш баланс:"
    assert len(pages_of("*160#", language)) <= 3


def test_a_short_english_screen_is_one_final_screen():
    pages = pages_of("*100#", "en", rich_account())
    assert len(pages) == 1 and not pages[0].keep_open


def test_a_paged_screen_with_a_choice_1_turns_pages_with_another_key_and_publishes_once():
    registry = services.ussd_services(PROFILE)
    published = Publication("transfer.requested", {}, "evt-1")
    choices = "Выберите сумму перевода для получателя:\n" + "\n".join(f"{n} {n * 2500} узбекских сумов"
                                                                       for n in range(1, 7))
    registry.add(ussd.UssdService(code="*555#", name="edge.service.balance", handler=lambda s: (
        ussd.Reply.end(f"Выбрано: {s.input.inputs[-1]}. Спасибо за обращение к нашей службе переводов "
                       f"баланса, ждите SMS с результатом.", publish=[published])
        if s.input.inputs else ussd.Reply.con(choices))))
    pages = pages_of("*555#", "ru", registry=registry)
    assert all(page.text.endswith("\n99 Ещё") for page in pages[:-1]) and pages[-1].text.endswith("6 15000 узбекских сумов")
    assert pages[-1].keep_open  # the menu's own screen still waits for a choice
    turns = "*".join(["99"] * (len(pages) - 1))
    chosen = ussd.answer(request(code="*555#", text=f"{turns}*1"), caller("ru"), registry, PROFILE, now=NOW)
    assert chosen.text.startswith("Выбрано: 1.") and chosen.publish == (published,) and chosen.keep_open
    rest = ussd.answer(request(code="*555#", text=f"{turns}*1*1"), caller("ru"), registry, PROFILE, now=NOW)
    assert rest.publish == () and not rest.keep_open and rest.text.endswith("с результатом.")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab Бж字\n1", max_size=400))
def test_every_page_fits_and_the_pages_hold_the_whole_text(text):
    shown = pager.layout(text, "Ещё")
    assert all(pager.fits(screen + "\n" + shown.more_line("Ещё")) for screen in shown.screens[:-1])
    assert pager.fits(shown.screens[-1])
    assert "".join("".join(shown.screens).split()) == "".join(text.split())


def choice_keys(page: str) -> set[str]:
    return {line.split()[0] for line in page.splitlines() if line.split() and line.split()[0].isdigit()}


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_no_choice_is_taken_before_the_page_showing_it(language):
    registry = services.ussd_services(PROFILE)
    published = Publication("transfer.requested", {}, "evt-1")
    amounts = "\n".join(f"{n} {PROFILE.currency.format(n * 250_000)}" for n in range(1, 17))
    choices = texts.render("edge.menu.amounts", language, recipient="+998971300909", choices=amounts)
    registry.add(ussd.UssdService(code="*555#", name="edge.service.balance", handler=lambda s: (
        ussd.Reply.end(f"#{s.input.inputs[0]}", publish=[published]) if s.input.inputs else ussd.Reply.con(choices))))
    pages = pages_of("*555#", language, registry=registry)
    assert len(pages) >= 2
    turns: list[str] = []
    for at, page in enumerate(pages[:-1]):
        read = set().union(*(choice_keys(seen.text) for seen in pages[:at + 1]))
        for key in set().union(*(choice_keys(later.text) for later in pages[at + 1:])) - read:
            dialled = request(code="*555#", text="*".join([*turns, key]))
            again = ussd.answer(dialled, caller(language), registry, PROFILE, now=NOW)
            assert (again.text, again.publish) == (page.text, ()), (at, key)
        turns.append(page.text.splitlines()[-1].split()[0])
    for key in choice_keys(pages[0].text) - {turns[0]}:   # a choice already shown is taken at once
        chosen = ussd.answer(request(code="*555#", text=key), caller(language), registry, PROFILE, now=NOW)
        assert chosen.publish == (published,)


NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
RECIPIENT = "+998971300909"


def confirm_screens(language: str) -> dict[str, ussd.Reply]:
    """Every screen that asks to confirm money: #131# for each amount choice, the *160# mailbox sign-up."""
    record = {"status": "active", "language": language, "customer_type": "individual", "line_type": "prepaid"}
    docs = {("subscribers", MSISDN): record, ("subscribers", RECIPIENT): dict(record, language="ru"),
            ("transfer_history", MSISDN): None, ("transfer_history", RECIPIENT): None,
            ("missed_call_users", MSISDN): None}
    acc = Account.new(MSISDN, NOW - timedelta(days=30))
    acc.credit("main", 99_999_900, expires_at=None, reason="topup", reference="seed", at=acc.created_at)

    def dial(code: str, *typed: str) -> ussd.Reply:
        dialled = request(code=code, text="*".join(typed))
        read = ussd_read(REGISTRY, dialled, PROFILE, docs)
        return ussd.answer(dialled, caller(language), REGISTRY, PROFILE, acc, read, now=NOW)

    def chosen(code: str, *typed: str) -> ussd.Reply:
        """The screen after the last input, More pressed first until the page showing that choice."""
        *before, choice = typed
        while choice not in choice_keys((shown := dial(code, *before)).text):
            before.append(shown.text.splitlines()[-1].split()[0])
        return dial(code, *before, choice)

    screens = {f"#131# 1*{RECIPIENT[1:]}*{n}": chosen("#131#", "1", RECIPIENT[1:], str(n)) for n in range(1, 7)}
    return {**screens, "*160# 2": chosen("*160#", "2")}


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_confirmation_of_money_is_one_page_with_its_choices(language):
    for dialled, screen in confirm_screens(language).items():
        lines = screen.text.splitlines()
        assert screen.keep_open and lines[-1].split()[-1] != pager_label(language), (dialled, screen.text)
        assert pager.fits(screen.text) and {"1", "2"} <= choice_keys(screen.text), (dialled, screen.text)
