"""Cloud Scheduler and a movable clock for the local stack.

In Google Cloud, Terraform creates a Cloud Scheduler job per catalog schedule (terraform/scheduler.tf).
Locally this thread stands in for them: each schedule publishes a `ClockTick` every `interval`
seconds (one interval for all schedules, short enough to see sweeps work while you watch; the
cron expressions are what production follows). A tick's id is the schedule and the interval it
falls in, so a tick published twice is one tick.

The local clock can also be moved forward, by an operator or a test, while every process runs:
`advance` and `set` write how far it moved to the clock file every local process reads
(shared/clock.py), then fire each catalog schedule once for the time skipped, at its last cron
time in that interval, as Cloud Scheduler would have. One tick is enough: every sweep handles
everything due up to its tick's time. The clock never goes backwards, and outside the local stack
(VAS_ENV != local) it cannot be moved at all.

  python -m infra.clock show
  python -m infra.clock advance 25h        # also 30d, 90m, 45s, 1d12h
  python -m infra.clock set 2026-04-01T00:00:00+05:00
  (each talks to the running stack's control endpoint: --url, default http://127.0.0.1:8099)
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from shared import bus, catalog as catalog_module, clock as clock_file
from shared.events import Envelope, utcnow

logger = logging.getLogger("vas.local-clock")

DEFAULT_URL = "http://127.0.0.1:8099"
_DURATION = re.compile(r"(\d+)([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """'25h', '30d', '1d12h', '90m', '45s' as a timedelta; ValueError for anything else."""
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text.strip():
        raise ValueError(f"not a duration: {text!r} (say 25h, 30d, 1d12h, 90m or 45s)")
    return sum((timedelta(**{_UNITS[unit]: int(n)}) for n, unit in parts), timedelta())


def parse_moment(text: str) -> datetime:
    """An ISO time with its zone; ValueError without one (a bare time would be ambiguous)."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError(f"give the time with its zone, e.g. {text.strip()}+00:00")
    return moment.astimezone(UTC)


# --- cron: the five fields Cloud Scheduler reads ------------------------------------------------

_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _cron_values(field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        spread, _, step = part.partition("/")
        if spread == "*":
            start, end = low, high
        elif "-" in spread:
            start, end = (int(n) for n in spread.split("-", 1))
        else:
            start = end = int(spread)
            if step:
                end = high
        values.update(range(start, end + 1, int(step or 1)))
    return {0 if value == 7 and high == 6 else value for value in values}  # Sunday is 0 or 7


def last_tick(cron: str, after: datetime, until: datetime) -> datetime | None:
    """The last minute in (after, until] that `cron` fires at (UTC), or None when it fires in none."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"not a five-field cron expression: {cron!r}")
    minutes, hours, days, months, weekdays = (_cron_values(f, *r) for f, r in zip(fields, _FIELD_RANGES, strict=True))
    any_day, any_weekday = fields[2] == "*", fields[4] == "*"
    minute = until.astimezone(UTC).replace(second=0, microsecond=0)
    while minute > after:
        weekday = (minute.weekday() + 1) % 7  # cron counts Sunday as 0
        day_matches = (
            minute.day in days
            if any_weekday
            else weekday in weekdays
            if any_day
            else minute.day in days or weekday in weekdays
        )
        if minute.minute in minutes and minute.hour in hours and minute.month in months and day_matches:
            return minute
        minute -= timedelta(minutes=1)
    return None


# --- the local Cloud Scheduler -------------------------------------------------------------------


class LocalClock:
    def __init__(self, interval: float, path: Path | None = None):
        self.interval = interval
        self.path = path
        self.schedules = catalog_module.load().schedules
        self._stop = threading.Event()
        # One move or tick at a time: a tick read before a move must not publish after it, and two
        # moves must not both add their skip (a set to T would overshoot).
        self._moving = threading.RLock()
        self._thread = threading.Thread(target=self._run, name="local-clock", daemon=True)
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> LocalClock:
        if self.interval > 0 and self.schedules:
            self._thread.start()
        return self

    def tick(self) -> None:
        """Publish one tick of every schedule now."""
        with self._moving:
            now = utcnow()
            slot = int(now.timestamp() // self.interval)
            envelopes = [
                catalog_module.make_envelope(
                    schedule.topic, {"at": now.isoformat()}, event_id=f"local-clock/{name}/{slot}", source="local-clock"
                )
                for name, schedule in self.schedules.items()
            ]
            bus.publish(envelopes)

    def advance(self, by: timedelta) -> list[Envelope]:
        """Move the clock forward by `by` and fire every schedule for the time skipped; the ticks fired."""
        clock_file.require_local()
        if by < timedelta():
            raise ValueError(f"the clock never goes backwards (asked to move it by {by})")
        with self._moving:
            if self.path is None:
                raise clock_file.ClockNotMovable("this clock has no clock file to move (start it with a path)")
            before = utcnow()
            clock_file.write_moved_seconds(self.path, clock_file.read_moved_seconds(self.path) + by.total_seconds())
            return self._fire_skipped(before, utcnow())

    def set_to(self, moment: datetime) -> list[Envelope]:
        """Move the clock forward to `moment`; refused when `moment` has already passed."""
        clock_file.require_local()
        with self._moving:
            skip = moment - utcnow()
            if skip < timedelta():
                raise ValueError(
                    f"the clock never goes backwards: it is already {utcnow().isoformat()}, "
                    f"past {moment.isoformat()}"
                )
            return self.advance(skip)

    def _fire_skipped(self, before: datetime, after: datetime) -> list[Envelope]:
        """Each schedule's last tick in (before, after], with the tick's own time and a stable id."""
        envelopes = []
        for name, schedule in self.schedules.items():
            at = last_tick(schedule.cron, before, after)
            if at is not None:
                envelopes.append(
                    catalog_module.make_envelope(
                        schedule.topic,
                        {"at": at.isoformat()},
                        event_id=f"local-clock/{name}/{at.isoformat()}",
                        source="local-clock",
                    )
                )
        if envelopes:
            _publish_ticks(envelopes)
        logger.info(
            "clock moved",
            extra={"from": before.isoformat(), "to": after.isoformat(), "ticks": [e.id for e in envelopes]},
        )
        return envelopes

    def serve(self, port: int) -> str:
        """Serve the control endpoint (GET /clock, POST /clock/advance?by=25h, POST /clock/set?at=ISO); its URL."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _control_handler(self))
        threading.Thread(target=self._server.serve_forever, name="local-clock-control", daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # an emulator hiccup: the next interval ticks again
                logger.exception("local clock tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


TICK_PUBLISH_TRIES = 5


def _publish_ticks(envelopes: list[Envelope]) -> None:
    """Publish the ticks of the time skipped, retrying an emulator hiccup: the clock has already moved, and
    the ids are stable, so a repeat is harmless while a tick lost would skip a sweep."""
    for attempt in range(1, TICK_PUBLISH_TRIES + 1):
        try:
            bus.publish(envelopes)
            return
        except Exception as error:
            if attempt == TICK_PUBLISH_TRIES:
                raise RuntimeError(
                    f"the clock moved but its schedules' ticks could not be published ({error}); "
                    "they fire again with the next move or tick"
                ) from error
            logger.warning("clock ticks not published; retrying", extra={"attempt": attempt})
            time.sleep(0.2 * attempt)


def _control_handler(clock: LocalClock) -> type[BaseHTTPRequestHandler]:
    class ControlHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if urlsplit(self.path).path != "/clock":
                return self._answer(404, {"error": "not found"})
            self._answer(200, {"now": utcnow().isoformat()})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            try:
                if url.path == "/clock/advance":
                    fired = clock.advance(parse_duration(query.get("by", "")))
                elif url.path == "/clock/set":
                    fired = clock.set_to(parse_moment(query.get("at", "")))
                else:
                    return self._answer(404, {"error": "not found"})
            except clock_file.ClockNotMovable as refusal:
                return self._answer(403, {"error": str(refusal)})
            except ValueError as bad:
                return self._answer(400, {"error": str(bad)})
            except Exception as failure:  # the clock moved, but its ticks could not be published
                return self._answer(500, {"error": str(failure)})
            self._answer(200, {"now": utcnow().isoformat(), "fired": [e.id for e in fired]})

        def _answer(self, status: int, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *_: object) -> None:  # the stack's own log says what moved
            pass

    return ControlHandler


# --- the CLI -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.clock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="the running stack's clock control endpoint")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("show", help="what time the local stack says it is")
    advance = commands.add_parser("advance", help="move the clock forward (25h, 30d, 1d12h) and fire the schedules")
    advance.add_argument("by")
    set_ = commands.add_parser("set", help="move the clock forward to an ISO time with its zone")
    set_.add_argument("at")
    args = parser.parse_args(argv)
    try:
        clock_file.require_local()
        if args.command == "show":
            answer = requests.get(f"{args.url}/clock", timeout=10)
        else:
            key, value = ("by", args.by) if args.command == "advance" else ("at", args.at)
            answer = requests.post(f"{args.url}/clock/{args.command}", params={key: value}, timeout=60)
    except clock_file.ClockNotMovable as refusal:
        print(f"refused: {refusal}", file=sys.stderr)
        return 2
    except requests.ConnectionError:
        print(f"no local stack answers at {args.url} (start it with `make run`)", file=sys.stderr)
        return 1
    body = answer.json()
    if not answer.ok:
        print(f"refused: {body.get('error')}", file=sys.stderr)
        return 2
    print(f"now {body['now']}")
    for tick in body.get("fired", []):
        print(f"  fired {tick}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
