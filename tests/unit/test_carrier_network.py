"""Carrier emulator, pure parts: USSD strings, sessions, the SMS centre's store-and-forward, TwiML replies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emulators.carrier.network import InvalidUssd, Network, UnknownSession, UssdReply, join_inputs, parse_ussd
from emulators.carrier.phone import screen
from emulators.carrier.service import twiml_messages
from emulators.carrier.smsc import UNKNOWN_HANDSET, UNREACHABLE, SmsCentre

ALICE = "+998901234567"


@pytest.mark.parametrize("dialled, service_code, text", [
    ("*100#", "*100#", ""),
    ("*112*998971300909*2500#", "*112#", "998971300909*2500"),
    ("*112*1#", "*112#", "1"),
    (" *100# ", "*100#", ""),
    ("#123#", "#123#", ""),
])
def test_a_dialled_string_splits_into_service_code_and_text(dialled, service_code, text):
    dial = parse_ussd(dialled)
    assert (dial.service_code, dial.text) == (service_code, text)


@pytest.mark.parametrize("dialled", ["100", "*100", "*#", "", "*abc#", "**100#", "*100#1"])
def test_what_is_not_a_ussd_string_is_refused(dialled):
    with pytest.raises(InvalidUssd):
        parse_ussd(dialled)


def test_inputs_of_a_session_accumulate_joined_by_stars():
    assert join_inputs("", "1") == "1"
    assert join_inputs("998971300909*2500", "1") == "998971300909*2500*1"


def test_a_session_continues_with_the_same_id_and_the_accumulated_text():
    network = Network()
    network.provision(ALICE, attached=True)
    session = network.open_session(ALICE, parse_ussd("*112*998971300909#"))
    continued = network.continue_session(ALICE, session.session_id, "2500")
    assert continued.session_id == session.session_id
    assert continued.text == "998971300909*2500"
    with pytest.raises(UnknownSession):
        network.continue_session("+998901234568", session.session_id, "1")


@pytest.mark.parametrize("status, body, text, end", [
    (200, "CON Choose:\n1. Balance", "Choose:\n1. Balance", False),
    (200, "END Your balance is 5.00", "Your balance is 5.00", True),
    (403, "forbidden", "Connection problem or invalid MMI code.", True),
    (200, "no prefix", "Connection problem or invalid MMI code.", True),
    (0, "", "Connection problem or invalid MMI code.", True),
])
def test_the_gateway_answer_is_shown_like_a_phone_does(status, body, text, end):
    assert UssdReply.parse(status, body) == UssdReply(text, end)


def test_detaching_closes_the_phones_ussd_sessions():
    network = Network()
    network.provision(ALICE, attached=True)
    session = network.open_session(ALICE, parse_ussd("*100#"))
    network.set_attached(ALICE, False)
    with pytest.raises(UnknownSession):
        network.continue_session(ALICE, session.session_id, "1")


def test_attachment_changes_get_distinct_ids_and_repeats_are_no_change():
    network = Network()
    _, first = network.provision(ALICE, attached=False)
    assert network.set_attached(ALICE, False) is None
    second = network.set_attached(ALICE, True)
    assert second.state == "attached"
    assert network.event_id(first) != network.event_id(second)
    assert network.event_id(second) == network.event_id(second)


def _submit(smsc: SmsCentre, to: str = ALICE, body: str = "hi"):
    return smsc.submit(account_sid="AC1", to=to, sender="DemoTel", body=body, status_callback=None)


def test_a_message_to_an_attached_phone_is_sent_then_delivered_into_its_inbox():
    network, smsc = Network(), SmsCentre(timedelta(hours=1))
    network.provision(ALICE, attached=True)
    message = _submit(smsc)
    changes = smsc.route(message.sid, network)
    assert [c.status for c in changes] == ["sent", "delivered"]
    assert [item.body for item in network.phone(ALICE).inbox] == ["hi"]
    assert smsc.route(message.sid, network) == []  # routing twice does nothing


def test_a_detached_phones_messages_wait_and_arrive_in_order_on_attach():
    network, smsc = Network(), SmsCentre(timedelta(hours=1))
    network.provision(ALICE, attached=False)
    first, second = _submit(smsc, body="one"), _submit(smsc, body="two")
    assert [c.status for c in smsc.route(first.sid, network)] == ["sent"]
    smsc.route(second.sid, network)
    assert network.phone(ALICE).inbox == []
    network.set_attached(ALICE, True)
    assert [(c.sid, c.status) for c in smsc.deliver_waiting(ALICE, network)] == [
        (first.sid, "delivered"), (second.sid, "delivered")]
    assert [item.body for item in network.phone(ALICE).inbox] == ["one", "two"]


def test_a_waiting_message_expires_undelivered_but_a_delivered_one_does_not():
    network, smsc = Network(), SmsCentre(timedelta(hours=1))
    network.provision(ALICE, attached=False)
    message = _submit(smsc)
    smsc.route(message.sid, network)
    [change] = smsc.expire(message.sid)
    assert (change.status, change.error_code) == ("undelivered", UNREACHABLE)
    network.set_attached(ALICE, True)
    assert smsc.deliver_waiting(ALICE, network) == []
    assert smsc.expire(message.sid) == []


def test_a_number_the_network_does_not_know_ends_undelivered():
    network, smsc = Network(), SmsCentre(timedelta(hours=1))
    message = _submit(smsc, to="+998901111111")
    changes = smsc.route(message.sid, network)
    assert [(c.status, c.error_code) for c in changes] == [("sent", None), ("undelivered", UNKNOWN_HANDSET)]


@pytest.mark.parametrize("twiml, bodies", [
    ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Balance: 5.00</Message></Response>',
     ["Balance: 5.00"]),
    ("<Response><Message><Body>one</Body></Message><Message>two</Message></Response>", ["one", "two"]),
    ("<Response/>", []),
    ("OK", []),
])
def test_twiml_message_verbs_become_replies(twiml, bodies):
    assert twiml_messages(twiml) == bodies


def test_the_phone_screen_wraps_text_inside_a_box_of_equal_width_lines():
    drawn = screen("*100#", "Balance: 12 500.00 so'm, valid until 31.12.2026\n1. Details").splitlines()
    assert len({len(line) for line in drawn}) == 1
    assert "1. Details" in "".join(drawn)
