"""spec/missed-calls.md as subscribers live it: the whole local stack, phones driven through the carrier emulator.

One stack for the module (gcloud emulators, carrier emulator, every catalog function as its own
process). Each test has its own subscribers, provisioned once through the BSS's doors
(infra.demo.provision), so the flows never see each other's calls or messages. Phones call, press
keys, speak, hang up, switch on and off and text short codes; the assertions are what a phone
heard or received, with Firestore and the ledger read only where the spec speaks of charging and
counting.
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import pytest
import requests
from google.cloud.firestore_v1.base_query import FieldFilter

from emulators.carrier import twilio_api
from emulators.carrier.client import CarrierClient
from emulators.carrier.smsc import Message, StatusChange
from functions.missed_calls import config as missed_calls_config
from functions.missed_calls import documents
from functions.notify.messages import status_callback_url
from functions.transfers import documents as transfer_documents
from functions.zero_balance import stats as zero_balance_stats
from functions.zero_balance.documents import ATTEMPTS as ZERO_BALANCE_ATTEMPTS
from functions.zero_balance.documents import OFFERS as ZERO_BALANCE_OFFERS
from infra import demo
from infra.bench_common import ussd
from infra import stack as local_stack
from infra.functions import REPO
from shared import ledger, localtime, operator, settings, store, texts
from shared.events import utcnow
from tests.conftest import _reset_caches

pytestmark = pytest.mark.e2e

# A message held for a switched-off phone gives up after this (the SMS centre's validity period,
# short here so that "never attaches" ends within the test).
STORE_VALIDITY_SECONDS = 20
CLOCK_SECONDS = 5.0  # the local Cloud Scheduler's tick, short so clock-driven deliveries show
WAIT = 45.0          # generous: a flow crosses the carrier, Pub/Sub pushes and several functions
SERVICE_SHORT_CODE = "06001"
VOICEMAIL_NUMBER = "06002"
ZEROX_SHORT_CODE = "06005"
EN = "en"


def _subscriber(number: str, name: str, *, main: int = 1_000_000, attached: bool = True) -> demo.DemoSubscriber:
    return demo.DemoSubscriber(f"+99890777{number}", name, EN, main=main, attached=attached)


# Each flow's own people (none of them the demo's +99890100000x).
A_REPEATS = _subscriber("0101", "Anvar Repeats")
B_SWITCHED_OFF = _subscriber("0102", "Bahrom Away", attached=False)
C_ASKS = _subscriber("0201", "Chulpon Asks")
B_BACK_LATER = _subscriber("0202", "Botir Later", attached=False)
A_KEYS = _subscriber("0301", "Akmal Keys")
B_OTHER_NUMBER = _subscriber("0302", "Bekzod Other", attached=False)
B_MAILBOX = _subscriber("0303", "Barno Mailbox")
E_NEVER_BACK = _subscriber("0401", "Elyor Never")
B_FOR_E = _subscriber("0402", "Bakhtiyor ForE", attached=False)
A_PAYER = _subscriber("0403", "Aziza Caller")
B_PAYER = _subscriber("0404", "Bobur Payer", attached=False)
A_DETAILS = _subscriber("0501", "Alisher Details")
B_DETAILS = _subscriber("0502", "Bunyod Details", attached=False)
Z_ZERO = _subscriber("0601", "Zafar Zero", main=0)
Y_CALLED = _subscriber("0602", "Yulduz Called")
P_POSITIVE = _subscriber("0603", "Pulat Positive")
B_NO_ANSWER = _subscriber("0701", "Bekhruz Unanswered")
NO_ANSWER_CALLERS = (_subscriber("0702", "Nodira One"), _subscriber("0703", "Nilufar Two"),
                     _subscriber("0704", "Nozim Three"))
HANGS_UP = _subscriber("0705", "Nargiza Hangs-up")
A_SPOOFER = _subscriber("0801", "Akbar Caller")
B_SPOOFED = _subscriber("0802", "Bahodir Spoofed")
B_OWN_PHONE = _subscriber("0803", "Bekzod Own-phone")
# Transfers across a crash of their function: three pairs, ten 2 500 so'm transfers each (Mobiuz allows 40 a day).
T_SENDERS = tuple(_subscriber(f"090{n}", f"Tohir Sender{n}", main=10_000_000) for n in (1, 2, 3))
T_RECIPIENTS = tuple(_subscriber(f"091{n}", f"Tolib Recipient{n}") for n in (1, 2, 3))
EVERYONE = (A_REPEATS, B_SWITCHED_OFF, C_ASKS, B_BACK_LATER, A_KEYS, B_OTHER_NUMBER, B_MAILBOX, E_NEVER_BACK,
            B_FOR_E, A_PAYER, B_PAYER, A_DETAILS, B_DETAILS, Z_ZERO, Y_CALLED, P_POSITIVE, B_NO_ANSWER,
            *NO_ANSWER_CALLERS, HANGS_UP, A_SPOOFER, B_SPOOFED, B_OWN_PHONE, *T_SENDERS, *T_RECIPIENTS)
OTHER_NUMBER = "+998907779999"   # what A keys in with key 3 (national form: 907779999)


@contextmanager
def running_stack(log_name: str, people: tuple[demo.DemoSubscriber, ...], clock_seconds: float, **env: str):
    """The whole local stack for a test module, `people` provisioned; stopped and the environment restored after."""
    saved = dict(os.environ)
    os.environ.update(env)
    _reset_caches()
    running = local_stack.start(auto_ports=True, log_dir=REPO / ".run" / "test-logs" / log_name,
                                say=lambda *_: None, max_backoff_seconds=5, clock_seconds=clock_seconds)
    try:
        _reset_caches()   # this process now reads the stack's Firestore and its clock
        demo.provision(running, people, timeout=WAIT)
        yield running
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved)
        _reset_caches()


@pytest.fixture(scope="module")
def stack():
    """The whole local stack, its SMS centre holding messages STORE_VALIDITY_SECONDS, everyone provisioned."""
    with running_stack("e2e-missed-calls", EVERYONE, CLOCK_SECONDS,
                       CARRIER_STORE_VALIDITY=str(STORE_VALIDITY_SECONDS)) as running:
        yield running


@pytest.fixture(scope="module")
def carrier(stack) -> CarrierClient:
    return CarrierClient(stack.carrier_url)


# --- what a phone hears and receives ----------------------------------------------------------

T = TypeVar("T")


def _until(condition: Callable[[], T], what: str, timeout: float = WAIT) -> T:
    """The condition's first truthy value, polled; a TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def said(key: str, **params) -> str:
    """What the IVR says in English for a text key."""
    return texts.render(key, EN, **params)


def heard(call: dict) -> str:
    """Everything the caller heard on this call so far."""
    return "\n".join(call["heard"])


def digits(msisdn: str) -> str:
    """The national number (how a phone or an SMS may write it, with or without +998)."""
    return msisdn.removeprefix("+998")


def names(body: str, msisdn: str) -> bool:
    """Whether an SMS names this number, in whichever form it is written."""
    return digits(msisdn) in re.sub(r"[^\d]", "", body)


def new_messages(carrier: CarrierClient, msisdn: str, since: int) -> list[str]:
    return [m["body"] for m in carrier.inbox(msisdn)[since:]]


def wait_for_sms(carrier: CarrierClient, msisdn: str, since: int, matches: Callable[[str], bool], what: str,
                 timeout: float = WAIT) -> str:
    """The first SMS received after `since` that `matches` (a timeout lists what did arrive)."""
    try:
        return _until(lambda: next((body for body in new_messages(carrier, msisdn, since) if matches(body)), None),
                      f"{msisdn} to receive {what}", timeout=timeout)
    except TimeoutError as timeout:
        raise TimeoutError(f"{timeout}; it received: {new_messages(carrier, msisdn, since)}") from None


def sent_on_attach(callee: str) -> list[dict]:
    """Every SMS the attach consumer decided to send `callee` (its outboxes, written with the decision)."""
    markers = store.db().collection(store.PROCESSED).where(filter=FieldFilter("consumer", "==", "missed-calls-attach"))
    return [item["data"] for marker in markers.stream() for item in marker.get("outbox")
            if item["type"] == "sms.send" and item["data"]["to"] == callee]


def mentions(sms: dict, msisdn: str) -> bool:
    return names(" ".join(str(value) for value in sms["params"].values()), msisdn)


def calls_recorded(callee: str, caller: str, count: int, choice: str | None = None) -> list[dict]:
    """The platform's record of `caller`'s calls to `callee`, once `count` of them are over (a key
    pressed to the end, or the caller hung up)."""
    def final_calls():
        found = [snap.to_dict() for snap in store.db().collection(documents.MISSED_CALLS)
                 .where(filter=FieldFilter("callee", "==", callee)).stream()]
        mine = [call for call in found if call["caller"] == caller and (call.get("final") or call.get("hung_up_at"))]
        if len(mine) < count or (choice and not any(call.get("choice") == choice for call in mine)):
            return None
        return mine
    return _until(final_calls, f"{count} ended calls from {caller} to {callee} in Firestore")


def switched_off_menu(carrier: CarrierClient, caller: str, callee: str) -> dict:
    """Call a switched-off subscriber and reach the caller menu."""
    call = carrier.call(caller, callee)
    assert call["outcome"] == "forwarded" and call["forward_reason"] == "unreachable", call
    assert said("edge.missed_calls.ivr.unreachable") in heard(call)
    assert said("edge.missed_calls.ivr.key_own_number") in heard(call)
    assert call["waiting"] == "digits", call
    return call


def balance(msisdn: str) -> int:
    return ledger.read_account(store.db(), msisdn).total


def charges_of(payer: str) -> list[dict]:
    return [snap.to_dict() for snap in store.db().collection(documents.CHARGES)
            .where(filter=FieldFilter("payer", "==", payer)).stream()]


def preset() -> missed_calls_config.MissedCallConfig:
    return missed_calls_config.config_for(operator.current())


# --- 1. one SMS per caller on attach ------------------------------------------------------------

def test_a_caller_who_tried_three_times_is_one_sms_saying_so_when_the_callee_is_back(carrier):
    a, b = A_REPEATS.msisdn, B_SWITCHED_OFF.msisdn
    for _ in range(2):
        call = switched_off_menu(carrier, a, b)
        assert carrier.hang_up(call["call_sid"])["ended"]
    call = switched_off_menu(carrier, a, b)
    after_key = carrier.press(call["call_sid"], "2")
    assert said("edge.missed_calls.ivr.own_number_left") in "\n".join(after_key["heard_now"])
    assert after_key["ended"]
    calls_recorded(b, a, 3, choice="leave_number")

    before = len(carrier.inbox(b))
    carrier.attach(b)
    reminder = wait_for_sms(carrier, b, before, lambda body: names(body, a), f"the SMS about {a}")
    assert re.search(r": 3 \(first .+, last .+\)", reminder), reminder
    assert "waiting for your call" in reminder

    # The attach that told a's calls decided every SMS it sends in one transaction, and marked the
    # calls told: no call of a's is left pending for a later SMS.
    told_about_a = [sms for sms in sent_on_attach(b) if mentions(sms, a)]
    assert len(told_about_a) == 1, f"exactly one SMS about {a}, decided: {told_about_a}"
    assert "pending" not in {call["status"] for call in calls_recorded(b, a, 3)}
    about_a = [body for body in new_messages(carrier, b, before) if names(body, a)]
    assert about_a == [reminder], f"exactly one SMS about {a}, got {about_a}"


# --- 2. key 4: told when the callee is back ----------------------------------------------------

def test_a_caller_who_pressed_4_is_told_when_the_callee_is_available_again(carrier):
    c, b = C_ASKS.msisdn, B_BACK_LATER.msisdn
    call = switched_off_menu(carrier, c, b)
    after_key = carrier.press(call["call_sid"], "4")
    assert said("edge.missed_calls.ivr.notify_me") in "\n".join(after_key["heard_now"])
    calls_recorded(b, c, 1, choice="notify_me")

    before = len(carrier.inbox(c))
    carrier.attach(b)
    available = wait_for_sms(carrier, c, before, lambda body: names(body, b), f"the SMS that {b} is available")
    assert "is now available" in available, available


# --- 3. keys 3 and 1 -----------------------------------------------------------------------------

def test_key_3_reprompts_a_bad_number_and_the_callee_is_asked_to_call_the_good_one(carrier):
    a, b = A_KEYS.msisdn, B_OTHER_NUMBER.msisdn
    call = switched_off_menu(carrier, a, b)
    asked = carrier.press(call["call_sid"], "3")
    assert said("edge.missed_calls.ivr.enter_number") in "\n".join(asked["heard_now"])
    wrong = carrier.press(call["call_sid"], "12#")
    assert said("edge.missed_calls.ivr.invalid_number") in "\n".join(wrong["heard_now"])
    assert said("edge.missed_calls.ivr.enter_number") in "\n".join(wrong["heard_now"])
    assert wrong["waiting"] == "digits", wrong
    done = carrier.press(call["call_sid"], digits(OTHER_NUMBER) + "#")
    assert done["ended"], done
    calls_recorded(b, a, 1, choice="other_number")

    before = len(carrier.inbox(b))
    carrier.attach(b)
    reminder = wait_for_sms(carrier, b, before, lambda body: names(body, a), f"the SMS about {a}")
    assert names(reminder.split("call them back on", 1)[-1], OTHER_NUMBER), reminder


def sign_up_for_a_mailbox_with_a_pin(carrier: CarrierClient, b: str, digits: str) -> None:
    """REG, the price and a question, YES, the confirmation; then the mailbox PIN by SMS."""
    before, paid = len(carrier.inbox(b)), balance(b)
    carrier.send_sms(b, SERVICE_SHORT_CODE, "REG")
    question = wait_for_sms(carrier, b, before, lambda body: "reply YES" in body, "the sign-up question")
    assert "a month" in question and "Nothing is charged until you confirm" in question, question
    assert balance(b) == paid
    before = len(carrier.inbox(b))
    carrier.send_sms(b, SERVICE_SHORT_CODE, "YES")
    confirmation = wait_for_sms(carrier, b, before, lambda body: "voice mailbox is on" in body,
                                "the voice mailbox confirmation")
    assert VOICEMAIL_NUMBER in confirmation and balance(b) == paid - preset().charging.monthly_fee
    before = len(carrier.inbox(b))
    carrier.send_sms(b, SERVICE_SHORT_CODE, f"PIN {digits}")
    changed = wait_for_sms(carrier, b, before, lambda body: "PIN was changed" in body, "the PIN confirmation")
    assert digits not in changed


def test_key_1_leaves_a_voice_message_the_registered_callee_hears_on_the_voicemail_line(carrier):
    a, b = A_KEYS.msisdn, B_MAILBOX.msisdn
    sign_up_for_a_mailbox_with_a_pin(carrier, b, "4821")
    carrier.detach(b)

    call = carrier.call(a, b)
    assert call["outcome"] == "forwarded", call
    assert said("edge.missed_calls.ivr.key_voicemail") in heard(call)
    recording = carrier.press(call["call_sid"], "1")
    assert recording["waiting"] == "recording", recording
    words = "Hi, it is Akmal, the meeting moved to Friday at ten"
    left = carrier.speak(call["call_sid"], words, seconds=6)
    assert said("edge.missed_calls.ivr.recorded") in heard(left), left
    calls_recorded(b, a, 1, choice="voicemail")

    before = len(carrier.inbox(b))
    carrier.attach(b)
    notice = wait_for_sms(carrier, b, before, lambda body: names(body, a), f"the SMS about {a}")
    assert "voice message" in notice and VOICEMAIL_NUMBER in notice, notice

    listening = carrier.call(b, VOICEMAIL_NUMBER)
    assert listening["outcome"] == "service", listening
    assert heard(listening) == said("edge.missed_calls.voicemail.enter_pin") and listening["waiting"] == "digits"
    opened = carrier.press(listening["call_sid"], "4821#")
    assert f"[voice message: {words}]" in heard(opened), heard(opened)
    carrier.hang_up(listening["call_sid"])


def test_a_spoofed_caller_id_hears_no_voice_message_and_wrong_pins_lock_the_mailbox(carrier):
    a, b = A_SPOOFER.msisdn, B_SPOOFED.msisdn
    sign_up_for_a_mailbox_with_a_pin(carrier, b, "4821")
    carrier.detach(b)
    call = carrier.call(a, b)
    carrier.press(call["call_sid"], "1")
    carrier.speak(call["call_sid"], "A private message for Bahodir", seconds=5)
    calls_recorded(b, a, 1, choice="voicemail")

    before = len(carrier.inbox(b))
    wrong = said("edge.missed_calls.voicemail.wrong_pin")
    for guesses in (("1111#", "2222#", "3333#"), ("4444#", "5555#")):
        spoofed = carrier.call_from_outside(b, VOICEMAIL_NUMBER)    # From: the victim, nobody vouches for it
        assert heard(spoofed) == said("edge.missed_calls.voicemail.enter_pin"), spoofed
        for guess in guesses:
            step = carrier.press(spoofed["call_sid"], guess)
        assert wrong in heard(step) and "voice message:" not in heard(step) and "Bahodir" not in heard(step), step
        if not step["ended"]:
            carrier.hang_up(spoofed["call_sid"])
        if guesses[0] == "1111#":   # the next call must see this one's wrong PINs counted
            _until(lambda: len((store.db().collection(documents.USERS).document(b).get().to_dict() or {})
                               .get("voicemail_pin_failures") or []) == 3, "three wrong PINs counted")
    assert heard(step).endswith(said("edge.missed_calls.voicemail.locked", short_code=SERVICE_SHORT_CODE,
                                     ussd=preset().ussd_menu)), step
    carrier.attach(b)
    locked = wait_for_sms(carrier, b, before, lambda body: "so it is locked" in body, "the lock-out SMS")
    assert "5 wrong PINs" in locked and "PIN" in locked

    right_pin = carrier.call_from_outside(b, VOICEMAIL_NUMBER)   # locked: not even the right PIN is asked for
    assert heard(right_pin).startswith("Your voice mailbox is locked") and right_pin["ended"], right_pin

    sign_up_pin = len(carrier.inbox(b))
    carrier.send_sms(b, SERVICE_SHORT_CODE, "PIN 7305")           # a new PIN from the owner's phone unlocks
    wait_for_sms(carrier, b, sign_up_pin, lambda body: "PIN was changed" in body, "the new PIN's confirmation")
    owner = carrier.call(b, VOICEMAIL_NUMBER)
    opened = carrier.press(owner["call_sid"], "7305#")
    assert "[voice message: A private message for Bahodir]" in heard(opened), heard(opened)
    carrier.hang_up(owner["call_sid"])


def test_an_attested_call_from_the_owners_phone_skips_the_pin_only_when_the_owner_chose_it(carrier):
    b = B_OWN_PHONE.msisdn
    sign_up_for_a_mailbox_with_a_pin(carrier, b, "4821")
    before = len(carrier.inbox(b))
    carrier.send_sms(b, SERVICE_SHORT_CODE, "PIN SKIP")
    wait_for_sms(carrier, b, before, lambda body: "will not ask for your PIN" in body, "the own-phone confirmation")
    own = carrier.call(b, VOICEMAIL_NUMBER)
    assert heard(own) == said("edge.missed_calls.voicemail.empty"), own
    spoofed = carrier.call_from_outside(b, VOICEMAIL_NUMBER)
    assert heard(spoofed) == said("edge.missed_calls.voicemail.enter_pin"), spoofed
    carrier.hang_up(spoofed["call_sid"])


# --- busy / no-answer forwards: the callee is reachable and told at once ----------------------

def test_a_callee_who_does_not_answer_is_told_at_once_by_each_caller_who_left_their_number(carrier):
    """No-answer forwards get the menu (the DemoTel preset); the callee's phone is on, so no attach is awaited.

    Each call ends twice over: the IVR publishes key 2 (final) before it hangs up, and the call's
    status callback publishes the hang-up (no key). The service may apply either first; a
    reachable callee is told only with the key, never the keyless report alone.
    """
    b = B_NO_ANSWER.msisdn
    carrier.set_state(b, answers=False)
    before = len(carrier.inbox(b))
    for caller in NO_ANSWER_CALLERS:
        call = carrier.call(caller.msisdn, b)
        assert call["outcome"] == "forwarded" and call["forward_reason"] == "no-answer", call
        assert said("edge.missed_calls.ivr.no_answer") in heard(call)
        assert carrier.press(call["call_sid"], "2")["ended"]
        reminder = wait_for_sms(carrier, b, before, lambda body, a=caller.msisdn: names(body, a),
                                f"the reminder about {caller.msisdn}")
        assert "waiting for your call" in reminder, reminder


def test_a_caller_who_hangs_up_in_the_menu_of_a_callee_who_does_not_answer_is_told_by_the_clock(carrier):
    """No key, phone on: the hang-up is reported, the key could still land, so the clock tells B shortly after."""
    b, caller = B_NO_ANSWER.msisdn, HANGS_UP.msisdn
    carrier.set_state(b, answers=False)
    before = len(carrier.inbox(b))
    call = carrier.call(caller, b)
    assert call["waiting"] == "digits", call
    carrier.hang_up(call["call_sid"])
    notice = wait_for_sms(carrier, b, before, lambda body: "Reply D to 06001" in body, "the free notice",
                          timeout=WAIT + CLOCK_SECONDS + 20)
    assert "Missed calls: 1." in notice, notice


# --- 4. charging ---------------------------------------------------------------------------------

def test_an_sms_to_a_phone_that_never_attaches_again_is_never_charged(carrier):
    """E asked (key 4) to be told when B is back, then switched off for good: the 'available' SMS waits and expires."""
    e, b = E_NEVER_BACK.msisdn, B_FOR_E.msisdn
    call = switched_off_menu(carrier, e, b)
    carrier.press(call["call_sid"], "4")
    calls_recorded(b, e, 1, choice="notify_me")
    carrier.detach(e)
    balance_before = balance(e)

    carrier.attach(b)
    # The SMS centre accepts a message as `queued` and routes it a moment later: wait for the routing.
    held = _until(lambda: [m for m in carrier.messages()
                           if m["to"] == e and "is now available" in m["body"] and m["status"] != "queued"],
                  f"the 'available' SMS to {e} to be routed by the SMS centre")[0]
    assert held["status"] == "sent", held      # waiting for E's phone
    assert charges_of(e) == [], "nothing is decided while the SMS waits"
    assert balance(e) == balance_before

    charge = _until(lambda: charges_of(e), f"the final outcome of the SMS to {e}",
                    timeout=STORE_VALIDITY_SECONDS + WAIT)[0]
    assert not charge["charged"] and charge["amount"] == 0, charge
    assert charge["status"] == "undelivered" and "undelivered" in charge["why_not"], charge
    assert balance(e) == balance_before
    expired = next(m for m in carrier.messages() if m["sid"] == held["sid"])
    assert expired["status"] == "undelivered", expired


def test_a_delivered_reminder_is_charged_once_its_price_even_when_the_delivery_callback_repeats(stack, carrier):
    a, b = A_PAYER.msisdn, B_PAYER.msisdn
    price = preset().charging.reminder_price
    call = switched_off_menu(carrier, a, b)
    carrier.press(call["call_sid"], "2")
    calls_recorded(b, a, 1, choice="leave_number")
    assert charges_of(b) == [], "entering the IVR is free"

    balance_before = balance(b)
    before = len(carrier.inbox(b))
    carrier.attach(b)
    reminder = wait_for_sms(carrier, b, before, lambda body: names(body, a), f"the reminder about {a}")
    assert "waiting for your call" in reminder

    charge = _until(lambda: charges_of(b), f"the charge of the reminder to {b}")[0]
    assert charge["charged"] and charge["amount"] == price and charge["status"] == "delivered", charge
    _until(lambda: balance(b) == balance_before - price, f"{b}'s balance to drop by {price}")

    # The carrier reports the same delivery again (Twilio retries callbacks): signed, to the same URL.
    record = store.db().collection(store.MESSAGES).document(charge["message_id"]).get().to_dict()
    sent = next(m for m in carrier.messages() if m["sid"] == record["carrier_sid"])
    assert sent["status"] == "delivered" and sent["body"] == reminder
    for _ in range(2):
        assert repeat_delivery_callback(stack, charge["message_id"], sent) < 300

    # A later reminder, delivered and charged through the same callback, status and charging
    # path, is the sentinel: once it is charged, the repeated callbacks before it went through too.
    carrier.detach(b)
    call = switched_off_menu(carrier, a, b)
    carrier.press(call["call_sid"], "2")
    calls_recorded(b, a, 2, choice="leave_number")
    carrier.attach(b)
    later = _until(lambda: [c for c in charges_of(b) if c["message_id"] != charge["message_id"]],
                   f"the charge of the later reminder to {b}")[0]
    assert later["charged"], later
    assert sorted(c["message_id"] for c in charges_of(b) if c["charged"]) == \
        sorted([charge["message_id"], later["message_id"]]), "the repeated callbacks charged nothing"
    _until(lambda: balance(b) == balance_before - 2 * price, f"{b}'s balance to drop by one more {price}")


def repeat_delivery_callback(stack, message_id: str, sent: dict) -> int:
    """POST the `delivered` status callback of `sent` again, exactly as the carrier signs it; the HTTP status."""
    url = status_callback_url(stack.url_of("edge-message-status") + "/", message_id)
    message = Message(sid=sent["sid"], account_sid=sent["account_sid"], to=sent["to"], sender=sent["from"],
                      body=sent["body"], direction=sent["direction"], status=sent["status"])
    params = twilio_api.status_callback_params(message, StatusChange(sent["sid"], "delivered"))
    signature = twilio_api.signature(settings.get().twilio_auth_token, url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10).status_code


# --- 5. the D query ----------------------------------------------------------------------------

def one_missed_call_notice(carrier: CarrierClient, caller: str, callee: str) -> str:
    """`caller` calls switched-off `callee` once and hangs up; `callee` attaches: the short notice it receives."""
    call = switched_off_menu(carrier, caller, callee)
    carrier.hang_up(call["call_sid"])
    calls_recorded(callee, caller, 1)
    before = len(carrier.inbox(callee))
    carrier.attach(callee)
    notice = wait_for_sms(carrier, callee, before, lambda body: f"Reply D to {SERVICE_SHORT_CODE}" in body,
                          "the short missed-call notice")
    assert "Missed calls: 1." in notice and not names(notice, caller), notice
    return notice


def test_reply_d_within_the_window_returns_the_details_of_the_missed_calls(carrier):
    a, b = A_DETAILS.msisdn, B_DETAILS.msisdn
    one_missed_call_notice(carrier, a, b)

    before = len(carrier.inbox(b))
    carrier.send_sms(b, SERVICE_SHORT_CODE, "D")
    details = wait_for_sms(carrier, b, before, lambda body: names(body, a), f"the details naming {a}")
    assert details.startswith("Missed calls:"), details


# --- 6. zero-balance callback requests (ZeroX) --------------------------------------------------

def test_a_zero_balance_caller_sends_a_free_call_me_back_request(carrier):
    z, y = Z_ZERO.msisdn, Y_CALLED.msisdn
    carrier.set_state(z, zero_balance=True)
    before_z, before_y = len(carrier.inbox(z)), len(carrier.inbox(y))

    refused = carrier.call(z, y)
    assert refused["outcome"] == "refused-zero-balance", refused
    offer = wait_for_sms(carrier, z, before_z, lambda body: names(body, y), "the call-me-back offer")
    assert "zero balance" in offer and "Reply 1" in offer, offer

    before_z = len(carrier.inbox(z))
    carrier.send_sms(z, ZEROX_SHORT_CODE, "1")
    request = wait_for_sms(carrier, y, before_y, lambda body: "call me back" in body, "the call-me-back SMS")
    assert Z_ZERO.name in request and names(request, z), request  # the number to call back, with the name
    confirmation = wait_for_sms(carrier, z, before_z, lambda body: "was sent to" in body, "the confirmation")
    assert names(confirmation, y), confirmation


def test_a_caller_with_money_flagged_zero_balance_by_the_network_is_not_offered_and_is_counted(carrier):
    p, y = P_POSITIVE.msisdn, Y_CALLED.msisdn
    today = localtime.day_of(utcnow(), operator.current().timezone)
    counted_before = zero_balance_stats.read(store.db(), [today])[0].counts["positive_balance"]
    carrier.set_state(p, zero_balance=True)
    before = len(carrier.inbox(p))

    refused = carrier.call(p, y)
    assert refused["outcome"] == "refused-zero-balance", refused
    attempt = _until(lambda: store.db().collection(ZERO_BALANCE_ATTEMPTS).document(refused["call_sid"]).get()
                     .to_dict(), "the refused attempt to be decided")
    assert attempt["outcome"] == "positive_balance", attempt
    counted = zero_balance_stats.read(store.db(), [today])[0].counts["positive_balance"]
    assert counted == counted_before + 1

    # The decision and any offer are written in one transaction: decided without an offer, none comes.
    assert not store.db().collection(ZERO_BALANCE_OFFERS).document(p).get().exists, "no offer to a caller with money"
    assert new_messages(carrier, p, before) == []


def test_transfers_survive_a_kill_9_of_their_function_each_applied_once_with_both_sms(stack, carrier):
    """The transfers function dies (kill -9, as a crashed instance) in the middle of 30 transfers and comes
    back: the local push redelivers what it lost or could not push, and each request is applied once."""
    transfers = 30
    pairs = [(T_SENDERS[i % 3].msisdn, T_RECIPIENTS[i % 3].msisdn) for i in range(transfers)]
    parties = [party.msisdn for party in (*T_SENDERS, *T_RECIPIENTS)]
    inbox_before = {msisdn: len(carrier.inbox(msisdn)) for msisdn in parties}
    balance_before = {sender.msisdn: balance(sender.msisdn) for sender in T_SENDERS}
    url, run = stack.url_of("edge-ussd"), uuid.uuid4().hex[:8]
    execute = stack.functions["transfers-execute"]

    def request(i: int) -> str:
        sender, recipient = pairs[i]
        return ussd(requests.Session(), url, f"crash-{run}-{i}", sender, "*112#", f"{recipient.lstrip('+')}*2500")

    with ThreadPoolExecutor(4) as pool:
        screens = list(pool.map(request, range(transfers // 2)))
        os.killpg(execute.proc.pid, signal.SIGKILL)  # the whole instance, mid-work
        execute.proc.wait(timeout=10)
        screens += list(pool.map(request, range(transfers // 2, transfers)))  # queued while it is down
    execute.start().wait_ready()
    assert all("is being processed" in screen for screen in screens), screens

    def applied() -> list[dict]:
        records = [snap.to_dict() for snap in store.db().collection(transfer_documents.RECORDS)
                   .where(filter=FieldFilter("sender", "in", [sender.msisdn for sender in T_SENDERS])).stream()]
        return records if len(records) >= transfers else []
    records = _until(applied, f"{transfers} transfer records", timeout=120)
    assert len(records) == transfers and len({r["request_id"] for r in records}) == transfers, records
    assert all(r["status"] == "accepted" for r in records), [r["refusal_code"] for r in records]
    for sender in T_SENDERS:
        mine = [r for r in records if r["sender"] == sender.msisdn]
        assert balance(sender.msisdn) == balance_before[sender.msisdn] - sum(r["amount"] + r["fee"] for r in mine)
    # Both SMS of every transfer, and no more: ten to each sender and ten to each recipient.
    _until(lambda: all(len(carrier.inbox(m)) - inbox_before[m] >= transfers // 3 for m in parties),
           "both SMS of every transfer", timeout=60)
    time.sleep(2)  # a duplicate would follow within the redelivery backoff
    assert {m: len(carrier.inbox(m)) - inbox_before[m] for m in parties} == {m: transfers // 3 for m in parties}
