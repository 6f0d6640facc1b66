"""Cloud Scheduler for the local stack: every catalog schedule ticks on its clock topic.

In Google Cloud, Terraform creates a Cloud Scheduler job per catalog schedule (terraform/scheduler.tf).
Locally this thread stands in for them: each schedule publishes a `ClockTick` every `interval`
seconds (one interval for all schedules, short enough to see sweeps work while you watch; the
cron expressions are what production follows). A tick's id is the schedule and the interval it
falls in, so a tick published twice is one tick.
"""

from __future__ import annotations

import logging
import threading
import time

from shared import bus, catalog as catalog_module
from shared.events import utcnow

logger = logging.getLogger("vas.local-clock")


class LocalClock:
    def __init__(self, interval: float):
        self.interval = interval
        self.schedules = catalog_module.load().schedules
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-clock", daemon=True)

    def start(self) -> "LocalClock":
        if self.interval > 0 and self.schedules:
            self._thread.start()
        return self

    def tick(self) -> None:
        """Publish one tick of every schedule now."""
        now = utcnow()
        slot = int(now.timestamp() // self.interval)
        envelopes = [catalog_module.make_envelope(schedule.topic, {"at": now.isoformat()},
                                                  event_id=f"local-clock/{name}/{slot}", source="local-clock")
                     for name, schedule in self.schedules.items()]
        bus.publish(envelopes)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:   # an emulator hiccup: the next interval ticks again
                logger.exception("local clock tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
