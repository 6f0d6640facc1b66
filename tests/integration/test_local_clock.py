"""The local stack's stand-in for Cloud Scheduler: every catalog schedule ticks on its clock topic."""

from __future__ import annotations

from infra.clock import LocalClock
from shared import catalog


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
