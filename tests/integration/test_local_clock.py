"""The local stack's stand-in for Cloud Scheduler: every catalog schedule ticks on its clock topic."""

from __future__ import annotations

from datetime import datetime, timedelta

import requests

from infra import clock as infra_clock
from infra.clock import LocalClock
from shared import catalog
from shared.clock import CLOCK_FILE_VARIABLE
from shared.events import utcnow


def test_a_tick_reaches_every_schedules_topic_once_per_interval(tap):
    schedules = catalog.load().schedules
    pulls = {name: tap(schedule.topic) for name, schedule in schedules.items()}
    clock = LocalClock(interval=3600)
    clock.tick()
    clock.tick()     # the same interval: the same event ids, one tick for the consumers
    for name, pull in pulls.items():
        received = pull.rest()
        assert len(received) == 2 and {envelope.id for envelope in received} == {received[0].id}, name
        assert received[0].type == schedules[name].topic and received[0].data["at"]


def test_a_clock_with_no_interval_never_starts():
    clock = LocalClock(interval=0).start()
    assert not clock._thread.is_alive()
    clock.stop()


def test_moving_the_clock_fires_every_schedule_once_at_its_last_tick_in_the_time_skipped(tap, tmp_path, monkeypatch):
    monkeypatch.setenv(CLOCK_FILE_VARIABLE, str(tmp_path / "clock.json"))
    schedules = catalog.load().schedules
    pulls = {name: tap(schedule.topic) for name, schedule in schedules.items()}
    clock = LocalClock(interval=0, path=tmp_path / "clock.json")
    url = clock.serve(0)
    try:
        before = utcnow()
        assert infra_clock.main(["--url", url, "advance", "25h"]) == 0
        moved = utcnow()
        assert moved - before >= timedelta(hours=25)
        for name, pull in pulls.items():
            [tick] = pull.rest()
            at = datetime.fromisoformat(tick.data["at"])
            # Its last tick in the time skipped: none of its ticks falls after it and before the clock's new time.
            assert before < at <= moved, (name, at)
            assert infra_clock.last_tick(schedules[name].cron, at, before + timedelta(hours=25)) is None, (name, at)
            assert tick.id == f"local-clock/{name}/{at.isoformat()}"

        refused = requests.post(f"{url}/clock/set", params={"at": before.isoformat()}, timeout=10)
        assert refused.status_code == 400 and "never goes backwards" in refused.json()["error"]
        assert utcnow() >= moved
        assert requests.get(f"{url}/clock", timeout=10).json()["now"] >= moved.isoformat()
    finally:
        clock.stop()
