"""The voicemail line as a callee listens: messages oldest first, 1 next, 7 delete, 9 again, and
what each key publishes; an unregistered or unknown caller is told what to do."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl

from functions.edge import voice
from functions.edge.request import Request, RequestDocuments
from functions.edge.subscribers import caller_from
from functions.missed_calls import edge_pin_guard as pin_guard
from functions.missed_calls.edge_voicemail import VoicemailLine
from functions.missed_calls import pin
from functions.missed_calls.config import config_for
from shared import operator

PROFILE = operator.load_file(Path("shared/operators/demo.yaml"))
CONFIG = config_for(PROFILE)
OWNER, ALICE, CAROL = "+998971300909", "+998901234567", "+998911112233"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def message(sid: str, caller: str, minutes_ago: int, **extra) -> tuple[str, dict]:
    return sid, {"callee": OWNER, "caller": caller, "recording_sid": f"RE{sid}", "recording_url": f"https://r/{sid}",
                 "seconds": 9, "recorded_at": NOW - timedelta(minutes=minutes_ago), "deleted": False,
                 "delete_after": NOW + timedelta(days=7), **extra}


MAILBOX = [message("CAb", CAROL, 30), message("CAa", ALICE, 90)]   # stored in any order


@dataclasses.dataclass
class GuardInMemory:
    """The PIN guard's rules (pin_guard.reserved and settled) on a dict instead of Firestore."""

    guards: dict = dataclasses.field(default_factory=dict)

    def attempt(self, owner, pin_hash, key, compare, limit, now) -> pin_guard.Verdict:
        guard = pin_guard.reserved(self.guards.get(owner), pin_hash, key, limit, now)
        if guard is None:
            return pin_guard.REFUSED
        self.guards[owner], verdict = pin_guard.settled(guard, pin_hash, key, compare(), limit, now)
        return verdict


def line(mailbox=MAILBOX, guard=None) -> VoicemailLine:
    return VoicemailLine(PROFILE, CONFIG, read_messages=lambda owner: list(mailbox) if owner == OWNER else [],
                         guard=guard or GuardInMemory())


PIN = pin.hashed("4821").model_dump()
# The owner chose no PIN on their own phone, and the carrier vouches for this call's caller ID.
TRUSTING = {"registered": True, "voicemail_pin": PIN, "voicemail_trust_own_phone": True}
ATTESTED = {"StirVerstat": pin.FULL_ATTESTATION}


def dial(vm: VoicemailLine, *, registered=True, caller=OWNER, status="active", query=None, digits=None,
         language="en", user=None, network=ATTESTED) -> voice.VoiceAnswer:
    form = {"CallSid": "CAvm0001", "From": caller, "To": "06002", **network, **({"Digits": digits} if digits else {})}
    call = voice.parse(form, query or {})
    record = {"status": status, "language": language}
    return vm.answer(Request(channel="voice", input=call, caller=caller_from(call.caller or "", record, PROFILE),
                             profile=PROFILE, now=NOW, documents=RequestDocuments({
                                 ("subscribers", call.caller): record,
                                 ("missed_call_users", OWNER): user or {**TRUSTING, "registered": registered}})))


def said(answer) -> str:
    return " ".join(e.text for e in ET.fromstring(str(answer)).iter("Say"))


def played(answer) -> list[str]:
    return [e.text for e in ET.fromstring(str(answer)).iter("Play")]


def next_query(answer) -> dict:
    return dict(parse_qsl(ET.fromstring(str(answer)).find("Gather").get("action").lstrip("?")))


def press(vm, answer, digits=None, **kwargs):
    return dial(vm, query=next_query(answer), digits=digits, **kwargs)


def events(answer) -> list[tuple[str, str]]:
    return [(p.payload.call_sid, p.payload.action) for p in answer.publish if p.topic == "missed-call.voicemail-played"]


def test_messages_play_oldest_first_with_caller_and_local_time():
    vm = line()
    first = dial(vm)
    assert said(first) == ("Voice messages: 2. Message 1 of 2, from 9 9 8 9 0 1 2 3 4 5 6 7, 02/03/2026 12:30. "
                           "Press 1 for the next message, 7 to delete this one, 9 to hear it again.")
    assert played(first) == ["https://r/CAa"] and not first.publish
    second = press(vm, first, "1")
    assert said(second).startswith("Message 2 of 2, from 9 9 8 9 1 1 1 1 2 2 3 3")
    assert played(second) == ["https://r/CAb"]
    assert events(second) == [("CAa", "heard")]
    last = press(vm, second, "1")
    assert said(last) == "There are no more messages. Goodbye." and events(last) == [("CAb", "heard")]


def test_7_deletes_and_plays_the_next_even_before_the_service_applied_it():
    vm = line()
    deleted = press(vm, dial(vm), "7")
    assert said(deleted).startswith("Message deleted. Message 1 of 1, from 9 9 8 9 1 1 1 1 2 2 3 3")
    assert events(deleted) == [("CAa", "deleted")]
    assert deleted.publish[0].payload.msisdn == OWNER


def test_9_repeats_the_same_message():
    vm = line()
    again = press(vm, dial(vm), "9")
    assert played(again) == ["https://r/CAa"] and said(again).startswith("Message 1 of 2")


def test_no_key_repeats_the_options_once_then_says_goodbye():
    vm = line()
    options = press(vm, dial(vm))
    assert said(options) == "Press 1 for the next message, 7 to delete this one, 9 to hear it again."
    assert not played(options) and not options.publish
    bye = press(vm, options)
    assert "Goodbye." in said(bye) and events(bye) == [("CAa", "heard")]


def test_a_retried_step_publishes_the_same_event():
    vm = line()
    first = dial(vm)
    assert press(vm, first, "1").publish[0].event_id == press(vm, first, "1").publish[0].event_id


def test_deleted_expired_or_incomplete_messages_are_not_played():
    vm = line([message("CAx", ALICE, 5, deleted=True), message("CAy", ALICE, 6, delete_after=NOW),
               message("CAz", ALICE, 7, recording_url=None)])
    assert said(dial(vm)) == "You have no voice messages. Goodbye."


def test_an_unregistered_caller_is_told_how_to_register_and_an_unknown_one_is_refused():
    assert said(dial(line(), registered=False)) == \
        "You have no voice mailbox. To get one, text REG to 06001 or dial *160#. Goodbye."
    assert "Your line is blocked" in said(dial(line(), status="blocked"))
    assert "We cannot see your number" in said(dial(line(), caller="anonymous"))


def test_a_mailbox_that_cannot_be_read_is_answered_try_later():
    def broken(owner):
        raise TimeoutError("firestore is down")
    answer = dial(VoicemailLine(PROFILE, CONFIG, read_messages=broken, guard=GuardInMemory()), language="ru")
    assert said(answer) == "Сервис временно недоступен. Попробуйте позже." and not answer.publish


# --- the PIN: caller ID alone opens nothing ------------------------------------------------

ASKS_PIN = "Please enter your voice mailbox PIN, then press hash."
WITH_PIN = {"registered": True, "voicemail_pin": PIN}


def pins(answer) -> list[tuple[int, bool]]:
    return [(p.payload.attempt, p.payload.right) for p in answer.publish if p.topic == "missed-call.voicemail-pin"]


def test_a_spoofed_caller_id_without_attestation_is_asked_for_the_pin_and_hears_nothing():
    for user, network in [(WITH_PIN, {}), (TRUSTING, {}), (TRUSTING, {"StirVerstat": "TN-Validation-Passed-C"}),
                          (TRUSTING, {"StirVerstat": "No-TN-Validation"})]:
        answer = dial(line(), user=user, network=network)
        assert said(answer) == ASKS_PIN and not played(answer) and not answer.publish


def test_an_attested_call_still_asks_for_the_pin_unless_the_owner_chose_to_skip_it():
    assert said(dial(line(), user=WITH_PIN)) == ASKS_PIN
    assert played(dial(line(), user=TRUSTING)) == ["https://r/CAa"]


def test_a_step_url_without_the_proof_of_this_call_opens_nothing():
    opened = press(line(), dial(line(), user=WITH_PIN, network={}), "4821", user=WITH_PIN, network={})
    forged = {**next_query(opened), "pass": "0" * 32}
    for query in (forged, {k: v for k, v in next_query(opened).items() if k != "pass"}):
        answer = dial(line(), user=WITH_PIN, network={}, query=query, digits="1")
        assert said(answer) == ASKS_PIN and not played(answer) and not answer.publish


def test_the_right_pin_plays_the_messages_and_the_next_steps_stay_open():
    vm = line()
    opened = press(vm, dial(vm, user=WITH_PIN, network={}), "4821", user=WITH_PIN, network={})
    assert said(opened).startswith("Voice messages: 2. Message 1 of 2") and played(opened) == ["https://r/CAa"]
    assert pins(opened) == [(1, True)] and opened.publish[0].payload.msisdn == OWNER
    second = press(vm, opened, "1", user=WITH_PIN, network={})
    assert played(second) == ["https://r/CAb"] and events(second) == [("CAa", "heard")]


def test_a_wrong_pin_is_asked_again_then_goodbye_and_each_is_published_without_digits():
    vm = line()
    first = press(vm, dial(vm, user=WITH_PIN, network={}), "1111", user=WITH_PIN, network={})
    assert said(first) == "That PIN is not right. " + ASKS_PIN and not played(first)
    assert pins(first) == [(1, False)] and "1111" not in first.publish[0].payload.model_dump_json()
    second = press(vm, first, "2222", user=WITH_PIN, network={})
    third = press(vm, second, "3333", user=WITH_PIN, network={})
    assert said(third) == "The mailbox stays closed without the right PIN. Goodbye."
    assert pins(second) == [(2, False)] and pins(third) == [(3, False)] and not played(third)


def guarded(wrong: int, in_flight: int = 0, until=NOW + timedelta(seconds=5)) -> GuardInMemory:
    """A guard that counted `wrong` PINs in a row of other calls, with `in_flight` tries being compared."""
    return GuardInMemory({OWNER: {"pin": PIN["hash"], "wrong": [{"key": f"CAw{n}/1", "at": NOW} for n in range(wrong)],
                                  "in_flight": [{"key": f"CAf{n}/1", "until": until} for n in range(in_flight)]}})


def test_the_wrong_pin_that_reaches_the_limit_says_the_mailbox_is_locked_and_how_to_unlock_it():
    vm = line(guard=guarded(CONFIG.voicemail.max_wrong_pins - 1))
    answer = press(vm, dial(vm, user=WITH_PIN, network={}), "1111", user=WITH_PIN, network={})
    assert said(answer).startswith("Your voice mailbox is locked after too many wrong PINs. To unlock it, set a new "
                                   "PIN from your phone: text PIN and 4 to 8 digits to 06001")
    assert pins(answer) == [(1, False)] and not played(answer) and answer.publish[0].payload.locked


def test_a_locked_mailbox_opens_for_nobody_not_even_the_right_pin_or_the_own_phone():
    locked = {**TRUSTING, "voicemail_locked_at": NOW}
    assert said(dial(line(), user=locked)).startswith("Your voice mailbox is locked")
    answer = dial(line(), user=locked, network={}, query={"step": "pin", "attempt": "1"}, digits="4821")
    assert said(answer).startswith("Your voice mailbox is locked") and not played(answer) and not answer.publish


def test_a_mailbox_without_a_pin_plays_nothing_and_says_how_to_set_one():
    answer = dial(line(), user={"registered": True, "voicemail_trust_own_phone": True}, language="ru")
    assert said(answer) == ("У вашего голосового ящика ещё нет ПИН-кода, поэтому его нельзя открыть. Чтобы задать "
                            "ПИН-код, отправьте ПИН и 4-8 цифр на 06001 или наберите *160#. До свидания.")
    assert not played(answer) and not answer.publish



def test_tries_being_compared_on_other_calls_count_towards_the_limit_until_they_lapse():
    limit, keyed = CONFIG.voicemail.max_wrong_pins, {"step": "pin", "attempt": "1"}
    full = line(guard=guarded(limit - 2, in_flight=2))
    refused = dial(full, user=WITH_PIN, network={}, query=keyed, digits="4821")   # even the right PIN
    assert said(refused).startswith("Your voice mailbox is locked") and not played(refused) and not refused.publish
    lapsed = line(guard=guarded(limit - 2, in_flight=2, until=NOW))
    wrong = dial(lapsed, user=WITH_PIN, network={}, query=keyed, digits="1111")
    assert said(wrong) == "That PIN is not right. " + ASKS_PIN and pins(wrong) == [(1, False)]
    assert not wrong.publish[0].payload.locked


def test_a_guard_that_cannot_be_written_compares_nothing_and_says_try_later():
    class Down:
        def attempt(self, *args):
            raise pin_guard.GuardBusy("firestore is down")
    answer = dial(line(guard=Down()), user=WITH_PIN, network={}, query={"step": "pin", "attempt": "1"}, digits="4821")
    assert said(answer) == "Service temporarily unavailable. Please try again later." and not played(answer)


def test_a_proof_that_is_not_even_ascii_opens_nothing_and_breaks_nothing():
    answer = dial(line(), user=WITH_PIN, network={}, query={"step": "played", "msg": "CAa", "at": "1", "pass": "é" * 32},
                  digits="1")
    assert said(answer) == ASKS_PIN and not played(answer)
