"""Flows that need a day to pass, through the whole local stack with its clock moved (infra.clock).

One stack for the module, started as in test_missed_calls_flow.py; the clock is moved through its
control endpoint with the operator's command (`python -m infra.clock advance 25h`), and every
running function reads the moved time. The other flows that take days (a 30-day lot expiry, a
calendar-month and a 7-day limit) run cheaper on the emulators: tests/integration/test_time_travel.py.
"""

from __future__ import annotations

import pytest

from emulators.carrier.client import CarrierClient
from infra import clock as infra_clock
from shared.events import utcnow
from tests.e2e.test_missed_calls_flow import (SERVICE_SHORT_CODE, _subscriber, names, one_missed_call_notice,
                                              running_stack, wait_for_sms)

pytestmark = pytest.mark.e2e

A_LATE = _subscriber("0901", "Azamat Late")
B_LATE = _subscriber("0902", "Begzod Late", attached=False)


@pytest.fixture(scope="module")
def stack():
    """The whole local stack with no periodic ticks (only moving the clock fires the schedules)."""
    with running_stack("e2e-time-travel", (A_LATE, B_LATE), clock_seconds=0) as running:
        yield running


@pytest.fixture(scope="module")
def carrier(stack) -> CarrierClient:
    return CarrierClient(stack.carrier_url)


def test_a_d_reply_25_hours_after_the_notice_is_told_the_window_has_passed(stack, carrier, capsys):
    a, b = A_LATE.msisdn, B_LATE.msisdn
    notice = one_missed_call_notice(carrier, a, b)
    assert "within 24 hours" in notice, notice

    noticed = utcnow()
    assert infra_clock.main(["--url", stack.clock_url, "advance", "25h"]) == 0
    assert "fired local-clock/missed-calls-housekeeping/" in capsys.readouterr().out
    assert utcnow() - noticed >= infra_clock.parse_duration("25h")

    before = len(carrier.inbox(b))
    carrier.send_sms(b, SERVICE_SHORT_CODE, "D")
    answer = wait_for_sms(carrier, b, before, lambda body: "that time has passed" in body, "the window-passed answer")
    assert "told you of 1 missed call" in answer and "within 24 hours" in answer, answer
    assert not names(answer, a), "no details once the window has passed"
