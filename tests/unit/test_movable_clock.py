"""The one clock: movable on the local stack, the real one everywhere else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from infra import clock as local_clock
from shared import clock
from shared.clock import CLOCK_FILE_VARIABLE, ClockNotMovable
from shared.events import utcnow

UTC = timezone.utc


@pytest.fixture
def clock_file(tmp_path, monkeypatch):
    path = tmp_path / "clock.json"
    monkeypatch.setenv(CLOCK_FILE_VARIABLE, str(path))
    return path


def test_a_move_is_seen_by_a_process_already_running_on_its_next_reading(clock_file):
    before = utcnow()
    clock.write_moved_seconds(clock_file, 25 * 3600)
    assert utcnow() - before >= timedelta(hours=25)
    clock.write_moved_seconds(clock_file, 30 * 86400)   # moved again at once: no stale reading
    assert utcnow() - before >= timedelta(days=30)


def test_outside_the_local_stack_the_clock_is_real_and_moving_it_is_refused(clock_file, monkeypatch):
    clock.write_moved_seconds(clock_file, 25 * 3600)
    monkeypatch.setenv("VAS_ENV", "production")
    monkeypatch.delenv("VAS_CLOCK_OFFSET_SECONDS", raising=False)
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5), "production ignores the clock file"
    with pytest.raises(ClockNotMovable, match="only be moved on the local stack"):
        clock.write_moved_seconds(clock_file, 50 * 3600)
    with pytest.raises(ClockNotMovable):
        local_clock.LocalClock(0, path=clock_file).advance(timedelta(hours=25))
    assert local_clock.main(["advance", "25h"]) == 2
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


def test_the_clock_never_goes_backwards(clock_file):
    moving = local_clock.LocalClock(0, path=clock_file)
    with pytest.raises(ValueError, match="never goes backwards"):
        moving.advance(timedelta(hours=-1))
    with pytest.raises(ValueError, match="never goes backwards"):
        moving.set_to(utcnow() - timedelta(days=1))
    assert clock.read_moved_seconds(clock_file) == 0


def test_durations_and_moments_are_read_strictly():
    assert local_clock.parse_duration("25h") == timedelta(hours=25)
    assert local_clock.parse_duration("1d12h") == timedelta(days=1, hours=12)
    for bad in ("", "25", "-1h", "25 hours", "1w"):
        with pytest.raises(ValueError):
            local_clock.parse_duration(bad)
    with pytest.raises(ValueError, match="zone"):
        local_clock.parse_moment("2026-04-01T00:00:00")


def test_a_schedule_fires_at_its_last_cron_time_in_the_skipped_interval():
    start = datetime(2026, 3, 16, 5, 3, tzinfo=UTC)
    assert local_clock.last_tick("*/10 * * * *", start, start + timedelta(hours=25)) == \
        datetime(2026, 3, 17, 6, 0, tzinfo=UTC)
    assert local_clock.last_tick("*/5 * * * *", start, start + timedelta(minutes=1)) is None
    assert local_clock.last_tick("0 0 1 * *", start, start + timedelta(days=40)) == datetime(2026, 4, 1, tzinfo=UTC)
    assert local_clock.last_tick("30 6 * * 0", start, start + timedelta(days=7)) == \
        datetime(2026, 3, 22, 6, 30, tzinfo=UTC)   # a Sunday


def test_ticks_of_the_skipped_time_survive_a_publishing_hiccup_and_a_lasting_failure_is_said(clock_file, monkeypatch):
    published, failures = [], iter([ConnectionError("emulator busy"), ConnectionError("emulator busy")])

    def flaky_publish(envelopes):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        published.extend(envelopes)

    monkeypatch.setattr(local_clock.bus, "publish", flaky_publish)
    monkeypatch.setattr(local_clock.time, "sleep", lambda _: None)
    fired = local_clock.LocalClock(0, path=clock_file).advance(timedelta(hours=25))
    assert fired and published == fired, "a tick lost would skip a sweep"

    def down(envelopes):
        raise ConnectionError("emulator down")

    monkeypatch.setattr(local_clock.bus, "publish", down)
    with pytest.raises(RuntimeError, match="clock moved but its schedules' ticks could not be published"):
        local_clock.LocalClock(0, path=clock_file).advance(timedelta(hours=1))
