"""The voicemail line as a callee listens: messages oldest first, 1 next, 7 delete, 9 again, and
what each key publishes; an unregistered or unknown caller is told what to do."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl

from functions.edge import voice
from functions.edge.voicemail_line import VoicemailLine
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


def line(mailbox=MAILBOX) -> VoicemailLine:
    return VoicemailLine(PROFILE, CONFIG, read_messages=lambda owner: list(mailbox) if owner == OWNER else [])


def dial(vm: VoicemailLine, *, registered=True, caller=OWNER, status="active", query=None, digits=None,
         language="en") -> voice.VoiceAnswer:
    form = {"CallSid": "CAvm0001", "From": caller, "To": "06002", **({"Digits": digits} if digits else {})}
    call = dataclasses.replace(voice.parse(form, query or {}), caller_read=True,
                               caller_record={"status": status, "language": language},
                               documents={f"missed_call_users/{OWNER}": {"registered": registered}})
    return vm.answer(call, language, now=NOW)


def said(answer) -> str:
    return " ".join(e.text for e in ET.fromstring(str(answer)).iter("Say"))


def played(answer) -> list[str]:
    return [e.text for e in ET.fromstring(str(answer)).iter("Play")]


def next_query(answer) -> dict:
    return dict(parse_qsl(ET.fromstring(str(answer)).find("Gather").get("action").lstrip("?")))


def press(vm, answer, digits=None, **kwargs):
    return dial(vm, query=next_query(answer), digits=digits, **kwargs)


def events(answer) -> list[tuple[str, str]]:
    return [(p.payload.call_sid, p.payload.action) for p in answer.publish]


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
    answer = dial(VoicemailLine(PROFILE, CONFIG, read_messages=broken), language="ru")
    assert said(answer) == "Сервис временно недоступен. Попробуйте позже." and not answer.publish
