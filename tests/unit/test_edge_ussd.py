"""USSD: the gateway's fields parsed, routed by service code, and answered with one screen."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from functions.edge import services, ussd
from functions.edge.subscribers import Caller, caller_from
from shared.ledger_core import Account
from shared.operator import load_file, PROFILES_DIR

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
    reply = ussd.answer(request(), caller("ru"), REGISTRY, PROFILE, acc)
    assert reply.body() == "END Ваш баланс:\nОсновной баланс: 12 345 узбекских сумов"


def test_an_unknown_code_lists_what_exists():
    reply = ussd.answer(request(code="*555#"), caller("en"), REGISTRY, PROFILE)
    assert reply.body() == ("END *555# is not a service. Available:\n*100# balance\n*112*number*amount# send credit\n"
                            "*116*number*amount# ask for a top-up\n*111*0151# bar transfers\n#131# balance transfer\n"
                            "*160# missed-call alerts")


def test_an_unknown_subscriber_is_told_so_with_the_hotline_in_the_default_language():
    stranger = caller_from(MSISDN, None, PROFILE)
    reply = ussd.answer(request(), stranger, REGISTRY, PROFILE)
    assert not reply.keep_open
    assert reply.text == ("Bu raqam DemoTel xizmatlarida ro'yxatdan o'tmagan. "
                          "Yordam uchun 0890 ga qo'ng'iroq qiling.")


def test_a_record_written_only_by_the_hlr_is_not_a_subscriber():
    assert not caller_from(MSISDN, {"network_state": {"state": "attached"}}, PROFILE).known


def test_a_blocked_subscriber_is_told_so():
    reply = ussd.answer(request(), caller("en", status="blocked"), REGISTRY, PROFILE)
    assert reply.body() == "END Your line is blocked. For help call 0890."


def test_a_language_the_operator_does_not_offer_falls_back_to_the_default():
    assert caller_from(MSISDN, {"language": "fr", "status": "active"}, PROFILE).language == "uz"


def test_a_new_service_plugs_in_with_one_entry_and_a_code_cannot_be_taken_twice():
    registry = services.ussd_services(PROFILE)
    registry.add(ussd.UssdService(code="*555#", name="edge.service.balance",
                                  handler=lambda s: ussd.Reply.con(f"to {s.request.inputs[0]}?")))
    reply = ussd.answer(request(code="*555#", text="998971300909"), caller(), registry, PROFILE)
    assert reply.body() == "CON to 998971300909?"
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(ussd.UssdService(code="*100#", name="edge.service.balance", handler=lambda s: None))


def test_an_operator_without_the_balance_preset_serves_no_balance_code():
    profile = PROFILE.model_copy(update={"services": {}})
    registry = services.ussd_services(profile)
    assert registry.find("*100#") is None
    assert ussd.answer(request(), caller("en"), registry, profile).text.startswith("*100# is not a service.")
