"""Background work of the network: callbacks, event publishing and timers, retried when they fail.

Jobs are spread over lanes by key (a message SID, an MSISDN): one lane runs its jobs one at a
time in order, so a message's `sent` callback leaves before its `delivered` one, while a slow
webhook only holds up its own lane. A failed job is retried with exponential backoff, which can
reorder it behind later jobs of its lane — exactly what Twilio's callbacks do.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger("carrier.dispatch")


class GiveUp(Exception):
    """A job failed in a way no retry can fix (e.g. the webhook answered 403)."""


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    generation: int = field(compare=False)
    name: str = field(compare=False)
    run: Callable[[], None] = field(compare=False)
    attempts: int = field(default=0, compare=False)


class _Lane:
    def __init__(self, owner: Dispatcher, index: int):
        self.owner = owner
        self.jobs: list[_Job] = []
        self.busy = False
        self.wakeup = threading.Condition(owner._lock)
        self.thread = threading.Thread(target=self._loop, name=f"carrier-lane-{index}", daemon=True)

    def _loop(self) -> None:
        owner = self.owner
        while True:
            with owner._lock:
                while not owner._stopped and (not self.jobs or self.jobs[0].due > time.monotonic()):
                    self.wakeup.wait(timeout=(self.jobs[0].due - time.monotonic()) if self.jobs else None)
                if owner._stopped:
                    return
                job = heapq.heappop(self.jobs)
                if job.generation != owner._generation:
                    continue
                self.busy = True
            try:
                self._run(job)
            finally:
                with owner._lock:
                    self.busy = False

    def _run(self, job: _Job) -> None:
        owner = self.owner
        job.attempts += 1
        try:
            job.run()
        except GiveUp as refusal:
            logger.warning("gave up %s: %s", job.name, refusal, extra={"attempts": job.attempts})
        except Exception as error:  # any other failure is worth retrying: the far end may come back
            if job.attempts >= owner.max_attempts:
                logger.error("dropped %s after %d attempts: %s", job.name, job.attempts, error)
                return
            delay = min(owner.base_delay * 2 ** (job.attempts - 1), owner.max_delay)
            logger.info("retrying %s in %.1fs: %s", job.name, delay, error, extra={"attempts": job.attempts})
            with owner._lock:
                if job.generation == owner._generation:
                    job.due = time.monotonic() + delay
                    heapq.heappush(self.jobs, job)
                    self.wakeup.notify()


class Dispatcher:
    """Runs jobs in background lanes; `submit` never blocks the caller."""

    def __init__(self, lanes: int = 8, max_attempts: int = 10, base_delay: float = 0.5, max_delay: float = 30.0):
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._generation = 0
        self._stopped = False
        self._lanes = [_Lane(self, i) for i in range(lanes)]
        for lane in self._lanes:
            lane.thread.start()

    def submit(self, key: str, name: str, run: Callable[[], None], delay: float = 0.0) -> None:
        """Run `run()` in `key`'s lane after `delay` seconds; retried while it raises."""
        lane = self._lanes[zlib.crc32(key.encode()) % len(self._lanes)]
        with self._lock:
            heapq.heappush(lane.jobs, _Job(time.monotonic() + delay, next(self._seq), self._generation, name, run))
            lane.wakeup.notify()

    def pending(self, horizon: float = 0.0) -> int:
        """Jobs due within `horizon` seconds or running now (timers far ahead are not counted)."""
        limit = time.monotonic() + horizon
        with self._lock:
            return sum(
                sum(1 for job in lane.jobs if job.generation == self._generation and job.due <= limit) + lane.busy
                for lane in self._lanes
            )

    def clear(self) -> None:
        """Forget every job not yet started (a network reset)."""
        with self._lock:
            self._generation += 1
            for lane in self._lanes:
                lane.jobs.clear()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for lane in self._lanes:
                lane.wakeup.notify_all()
