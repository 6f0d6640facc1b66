"""What a business event costs on the local stack, against what the design needs, in US dollars per million.

The counts come from the function processes themselves (shared/metering.py, switched on by the bench), the CPU
time from /proc (every process of each function's process group, Linux). A section takes a `Usage` around
its path (`CostMeter.around`), divides it by its events, and prints it next to its `Minimum`: the documents
that must be read and written for the record to be complete, declared as data in its bench module.

Prices: Google Cloud list prices, cited with the page and the date they were read in README.md ("Cost per
event"). The Pub/Sub and Cloud Run lines are estimates from the counts (see `dollars_per_million`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

from shared import metering
from shared.metering import Counts


@dataclass(frozen=True)
class Prices:
    """US dollars, list prices (README.md cites each)."""

    firestore_reads_per_100k: float = 0.06  # Firestore Standard edition, multi-region (nam5, eur3)
    firestore_writes_per_100k: float = 0.18
    firestore_deletes_per_100k: float = 0.02
    pubsub_per_tib: float = 40.0  # Message Delivery Basic throughput, publish and delivery each
    pubsub_minimum_bytes: int = 1000  # each publish and each delivery is billed at least this much
    run_per_vcpu_second: float = 0.000024  # Cloud Run, request-based billing, Tier 1 region
    run_per_million_requests: float = 0.40


PRICES = Prices()
TIB = 2**40


@dataclass(frozen=True)
class Minimum:
    """What one event needs at the least, by the design: documents read and written, messages, invocations."""

    reads: float
    writes: float
    deletes: float = 0
    commits: float = 0  # transaction commits
    published: float = 0  # Pub/Sub messages
    delivered: float = 0  # push deliveries to consumer functions
    invocations: float = 0  # function requests (webhooks and push deliveries)

    def __add__(self, other: Minimum) -> Minimum:
        return Minimum(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def __mul__(self, times: float) -> Minimum:
        return Minimum(*(getattr(self, f.name) * times for f in fields(self)))

    __rmul__ = __mul__


# One SMS at the least, as every service sends it (the platform's notify function): the consumer's transaction
# reads its idempotency marker and the recipient (for the language) and creates the message record and the
# marker; once the carrier took the SMS, the record gets the carrier's id and that id its link to the record
# (what status callbacks find it by). The sms.send is published by whoever asks for the SMS, counted there.
SMS_SEND_MINIMUM = Minimum(reads=2, writes=4, commits=1, delivered=1, invocations=1)
# Each of the carrier's status callbacks (Twilio posts `sent`, then `delivered`): the webhook answers and
# publishes sms.status; its consumer's transaction reads the marker and the record and writes them both.
STATUS_CALLBACK_MINIMUM = Minimum(reads=2, writes=2, commits=1, published=1, delivered=1, invocations=2)
SMS_MINIMUM = SMS_SEND_MINIMUM + 2 * STATUS_CALLBACK_MINIMUM


@dataclass(frozen=True)
class Usage:
    """What the stack did per event: the counts of every function process, and their CPU milliseconds."""

    reads: float
    writes: float
    deletes: float
    commits: float
    published: float
    published_bytes: float
    invocations: float
    delivered: float  # push deliveries: the invocations of consumer functions
    cpu_ms: float
    by_function: Mapping[str, float] = field(default_factory=dict)  # invocations per event, by function

    @classmethod
    def per_event(
        cls, counts: Counts, by_function: Mapping[str, int], consumers: set[str], cpu_seconds: float, events: int
    ) -> Usage:
        return cls(
            reads=counts.reads / events,
            writes=counts.writes / events,
            deletes=counts.deletes / events,
            commits=counts.commits / events,
            published=counts.published / events,
            published_bytes=counts.published_bytes / events,
            invocations=counts.invocations / events,
            delivered=sum(n for name, n in by_function.items() if name in consumers) / events,
            cpu_ms=cpu_seconds * 1000 / events,
            by_function={name: n / events for name, n in sorted(by_function.items()) if n},
        )


def dollars_per_million(
    reads: float,
    writes: float,
    deletes: float,
    published: float,
    message_bytes: float,
    invocations: float,
    cpu_ms: float,
    prices: Prices = PRICES,
) -> dict[str, float]:
    """US dollars per million events, by service, from the per-event figures.

    Pub/Sub: every message is billed twice (its publish and its push delivery), each at least the minimum size.
    Cloud Run: the requests, and the CPU time our processes used (a lower bound: request-based billing bills the
    instance's vCPU for the whole time a request runs, waiting included).
    """
    million = 1_000_000
    billed_bytes = 2 * published * max(message_bytes, prices.pubsub_minimum_bytes)
    return {
        "Firestore": million
        / 100_000
        * (
            reads * prices.firestore_reads_per_100k
            + writes * prices.firestore_writes_per_100k
            + deletes * prices.firestore_deletes_per_100k
        ),
        "Pub/Sub": million * billed_bytes / TIB * prices.pubsub_per_tib,
        "Cloud Run": invocations * prices.run_per_million_requests
        + million * cpu_ms / 1000 * prices.run_per_vcpu_second,
    }


def process_cpu_seconds(process_groups: set[int], proc: Path = Path("/proc")) -> float:
    """User and system CPU seconds of every live process in these process groups (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for _, fields_after_name in _group_stats(process_groups, proc):
        user, system, children_user, children_system = (int(fields_after_name[i]) for i in (11, 12, 13, 14))
        total += user + system + children_user + children_system
    return total / ticks


def process_rss_bytes(process_groups: set[int], proc: Path = Path("/proc")) -> dict[int, int]:
    """Resident memory of each process group: the sum over its live processes (Linux /proc)."""
    page = os.sysconf("SC_PAGE_SIZE")
    rss = dict.fromkeys(process_groups, 0)
    for group, fields_after_name in _group_stats(process_groups, proc):
        rss[group] += int(fields_after_name[21]) * page
    return rss


def _group_stats(process_groups: set[int], proc: Path) -> Iterator[tuple[int, list[str]]]:
    """(process group, the fields of /proc/<pid>/stat after the name) of every live process in these groups."""
    for stat in proc.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended meanwhile
        after_name = text[text.rindex(")") + 2 :].split()  # the name may hold spaces; fields follow it
        group = int(after_name[2])
        if group in process_groups:
            yield group, after_name


class CostMeter:
    """Reads the stack's metering files and its processes' CPU time, around a path."""

    def __init__(self, directory: Path, process_groups: Mapping[str, int], consumers: set[str]):
        self.directory, self.process_groups, self.consumers = directory, process_groups, consumers

    def _now(self) -> tuple[dict[str, Counts], float]:
        return metering.read_all(self.directory), process_cpu_seconds(set(self.process_groups.values()))

    def settle(self, timeout: float = 60.0) -> float:
        """Seconds until the processes stop changing their counts (the carrier's late status callbacks included).

        Past `timeout`, says so on stderr and returns: a backlog still draining, which what is counted next takes in.
        """
        quiet = 10 * metering.FLUSH_SECONDS
        started = time.monotonic()
        last = metering.read_all(self.directory)
        while time.monotonic() < started + timeout:
            time.sleep(quiet)
            current = metering.read_all(self.directory)
            if current == last:
                break
            last = current
        else:
            print(f"cost: the counts still changed after {timeout:.0f} s; taken as they are", file=sys.stderr)
        return time.monotonic() - started

    def _settled(self) -> tuple[dict[str, Counts], float]:
        self.settle()
        return self._now()

    @contextmanager
    def around(self, events: int) -> Iterator[list[Usage]]:
        """Yields a list that holds the path's Usage per event once the block ends."""
        result: list[Usage] = []
        before, cpu_before = self._settled()
        yield result
        after, cpu_after = self._settled()
        by_function: dict[str, int] = {}
        total = Counts()
        for name, counts in after.items():
            spent = counts - before.get(name, Counts())
            total += spent
            function = name.rsplit("-", 1)[0]
            by_function[function] = by_function.get(function, 0) + spent.invocations
        result.append(Usage.per_event(total, by_function, self.consumers, cpu_after - cpu_before, events))
