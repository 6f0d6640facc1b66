"""The `#131#` transfer menu: its state machine over the session's inputs, and the screens it shows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from functions.edge import services, ussd
from functions.edge.request import RequestDocuments
from functions.edge.subscribers import caller_from
from functions.transfers import edge as transfers_edge
from functions.transfers.edge_menu import (AMOUNT, CANCEL, CONFIRM, HISTORY, LIMITS, RECIPIENT, ROOT, SEND, Position,
                                           walk)
from shared.ledger_core import Account
from shared.operator import PROFILES_DIR, load_file

PROFILE = load_file(PROFILES_DIR / "demo.yaml")
REGISTRY = services.ussd_services(PROFILE)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SENDER, RECIPIENT_NUMBER = "+998901234567", "+998971300909"


def read_number(typed: str) -> str | None:
    return "+" + typed if len(typed) == 12 and typed.isdigit() else None


def read_amount(recipient: str, typed: str) -> int | None:
    return {"1": 250_000, "2": 500_000}.get(typed)


def at(*inputs: str) -> Position:
    return walk(inputs, read_number, read_amount)


# --- the state machine ---------------------------------------------------------------------

def test_the_send_path_goes_recipient_amount_confirm_then_send():
    assert at() == Position(ROOT)
    assert at("1") == Position(RECIPIENT)
    assert at("1", "998971300909") == Position(AMOUNT, recipient=RECIPIENT_NUMBER)
    assert at("1", "998971300909", "2") == Position(CONFIRM, recipient=RECIPIENT_NUMBER, amount=500_000)
    assert at("1", "998971300909", "2", "1").done == SEND


def test_cancel_limits_and_history_end_the_session():
    assert at("1", "998971300909", "2", "2").done == CANCEL
    assert at("2").done == LIMITS and at("3").done == HISTORY


@pytest.mark.parametrize("inputs, back_to", [
    (("1", "0"), Position(ROOT)),
    (("1", "998971300909", "0"), Position(RECIPIENT)),
    (("1", "998971300909", "2", "0"), Position(AMOUNT, recipient=RECIPIENT_NUMBER)),
    (("0",), Position(ROOT)),
])
def test_zero_goes_back_one_screen(inputs, back_to):
    assert at(*inputs) == back_to


@pytest.mark.parametrize("inputs, mistake, screen", [
    (("9",), "edge.menu.invalid_choice", ROOT),
    (("1", "12"), "edge.menu.invalid_number", RECIPIENT),
    (("1", "998971300909", "7"), "edge.menu.invalid_amount", AMOUNT),
    (("1", "998971300909", "1", "5"), "edge.menu.invalid_choice", CONFIRM),
])
def test_an_input_a_screen_cannot_take_keeps_the_screen_with_the_reason(inputs, mistake, screen):
    position = at(*inputs)
    assert (position.screen, position.mistake, position.done) == (screen, mistake, None)


def test_a_valid_input_after_a_mistake_clears_it_and_a_new_recipient_replaces_the_old():
    assert at("9", "1") == Position(RECIPIENT)
    assert at("1", "998971300909", "0", "998901112233").recipient == "+998901112233"


def test_inputs_after_the_final_choice_change_nothing():
    assert at("1", "998971300909", "2", "2", "1").done == CANCEL


# --- the screens -------------------------------------------------------------------------------

def screen(text: str, language="en", main=5_000_000) -> ussd.Reply:
    record = {"status": "active", "language": language, "customer_type": "individual", "line_type": "prepaid"}
    account = Account.new(SENDER, NOW - timedelta(days=9))
    account.credit("main", main, expires_at=None, reason="topup", reference="seed", at=NOW - timedelta(days=9))
    docs = {("subscribers", SENDER): record, ("subscribers", RECIPIENT_NUMBER): dict(record, language="ru"),
            ("transfer_history", SENDER): None, ("transfer_history", RECIPIENT_NUMBER): None}
    request = ussd.parse({"sessionId": "ATUid_9", "serviceCode": "#131#", "phoneNumber": SENDER, "text": text},
                         PROFILE)
    caller = caller_from(SENDER, record, PROFILE)
    return ussd.answer(request, caller, REGISTRY, PROFILE, account, RequestDocuments(docs), now=NOW)


def test_the_root_screen_names_the_policy_and_its_three_choices():
    assert screen("").body() == "CON Direct transfer\n1 Send credit\n2 Limits left\n3 Recent transfers"


@pytest.mark.parametrize("language, title", [("ru", "Прямая передача"), ("uz", "To'g'ridan-to'g'ri o'tkazma"),
                                             ("ky", "Түз которуу"), ("zh", "直接转账")])
def test_the_menu_title_is_in_the_menus_language(language, title):
    assert screen("", language).body().splitlines()[0] == f"CON {title}"
    assert "Direct transfer" not in screen("", language).body() and "Direct transfer" not in screen("2", language).body()


def test_a_preset_without_a_name_in_the_language_shows_the_services_name_in_it():
    desk = transfers_edge.desk(PROFILE)
    unnamed = next(iter(desk.policies)).model_copy(update={"titles": {}})
    assert desk.title(unnamed, "ru") == "перевод баланса" and desk.title(unnamed, "en") == "Direct transfer"


def test_amounts_are_the_policys_list_numbered():
    body = screen("1*998971300909").body()
    assert body.startswith("CON Amount to send to +998971300909:\n1 2 500 so'm\n2 5 000 so'm\n")
    assert body.endswith("6 25 000 so'm\n0 Back")


def test_the_confirmation_shows_amount_and_fee_and_publishes_nothing():
    reply = screen("1*998971300909*2")
    assert reply.body() == "CON Send 5 000 so'm to +998971300909\nFee: 200 so'm\n1 Confirm\n2 Cancel\n0 Back"
    assert reply.publish == ()


def test_only_the_confirmation_publishes_the_transfer():
    reply = screen("1*998971300909*2*1")
    assert reply.body() == ("END Your transfer of 5 000 so'm to +998971300909 is being processed. "
                            "If it is made, the fee will be 200 so'm. An SMS will tell you the result.")
    [event] = reply.publish
    assert (event.topic, event.payload.channel, event.payload.amount) == ("transfer.requested", "menu", 500_000)
    assert screen("1*998971300909*2*2").publish == ()


def test_a_transfer_that_would_be_refused_says_why_before_the_confirmation():
    reply = screen("1*998971300909*2", main=1_200_000)
    assert reply.body().startswith("END Transfer not made.") and reply.publish == ()


def test_an_invalid_choice_is_shown_above_the_same_screen_in_the_subscribers_language():
    assert screen("1*12", language="ru").body() == "CON Это не номер телефона.\nВведите номер получателя\n0 Назад"
