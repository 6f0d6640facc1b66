"""The attach storm's exactly-once count and the soak's memory growth: what they would let through, and what not."""

from __future__ import annotations

import pytest

from functions.missed_calls.bench_storm import count_storm, storm_callees, storm_callers
from infra.bench_soak import GROWTH_TARGET, Samples

CALLEES = storm_callees(3)
CALLERS = storm_callers()
NOTICE = "Missed-call alerts are on for you, free of charge. Each delivered reminder costs 500 so'm. Options: 06001."


def reminder(callee: str, caller: str) -> dict:
    return {"to": callee, "body": f"Missed calls from {caller}: 1 (first 09:30, last 09:30)."}


def every_sms_once() -> list[dict]:
    return [reminder(callee, caller) for callee in CALLEES for caller in CALLERS] + [
        {"to": callee, "body": NOTICE} for callee in CALLEES
    ]


def test_every_caller_sms_once_and_one_notice_each_is_exactly_once():
    others = [{"to": "+998901000001", "body": "Main balance: 12 000 so'm"}, reminder("+998901000002", CALLERS[0])]
    counted = count_storm(every_sms_once() + others, CALLEES, CALLERS, notices_each=1)
    assert counted.exactly_once
    assert (counted.expected, counted.once, counted.notices) == (15, 15, 3)


def test_a_duplicate_fails_the_check():
    counted = count_storm([*every_sms_once(), reminder(CALLEES[1], CALLERS[4])], CALLEES, CALLERS, notices_each=1)
    assert not counted.exactly_once
    assert (counted.once, counted.duplicated, counted.extra, counted.missing) == (14, 1, 1, 0)


def test_a_missing_sms_fails_the_check():
    messages = every_sms_once()
    messages.remove(reminder(CALLEES[2], CALLERS[0]))
    counted = count_storm(messages, CALLEES, CALLERS, notices_each=1)
    assert not counted.exactly_once and counted.missing == 1


def test_a_second_notice_or_none_fails_the_check():
    doubled = count_storm([*every_sms_once(), {"to": CALLEES[0], "body": NOTICE}], CALLEES, CALLERS, notices_each=1)
    assert not doubled.exactly_once and doubled.notices_wrong == 1
    assert not count_storm(every_sms_once(), CALLEES, CALLERS, notices_each=0).exactly_once  # none were expected


def test_the_caller_is_found_however_the_sms_prints_the_number():
    national = {"to": CALLEES[0], "body": "Missed calls from 90 700 00 02: 1"}
    counted = count_storm([national], CALLEES[:1], CALLERS[1:2], notices_each=0)
    assert counted.exactly_once


@pytest.mark.parametrize("rss, grows", [
    ((100, 101, 99, 100, 102, 100), False),      # the allocator's noise
    ((100, 100, 100, 104, 104, 104), False),     # one step of 4 %: caches filled once
    ((100, 103, 106, 109, 112, 115), True),      # steady growth: a leak
])
def test_memory_growth_compares_the_last_third_with_the_first(rss, grows):
    samples = Samples("notify-sms-send", tuple(mb * 1024 * 1024 for mb in rss))
    assert (samples.growth > GROWTH_TARGET) is grows
    assert ("NOT MET" in samples.figure().line()) is grows
    assert samples.figure().line().startswith("notify-sms-send             start  100.0 MB  end ")
