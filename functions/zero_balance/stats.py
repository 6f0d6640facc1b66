"""Per-day counts of prompts and answers, as an operator reads them to tune how often callers are prompted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from google.cloud import firestore

from functions.zero_balance.documents import DAILY
from functions.zero_balance.rules import COUNTERS, yes_rate


@dataclass(frozen=True)
class Day:
    day: str
    counts: Mapping[str, int]

    @property
    def yes_rate(self) -> float | None:
        return yes_rate(dict(self.counts))


def days_back(today: str, days: int) -> list[str]:
    """The `days` operator's days ending with `today`, oldest first."""
    last = date.fromisoformat(today)
    return [(last - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def summed(shards: Iterable[Mapping[str, Any] | None], days: list[str]) -> list[Day]:
    """Each day's counters summed over its shards (days without any count show zeros)."""
    totals = {day: dict.fromkeys(COUNTERS, 0) for day in days}
    for shard in shards:
        counts = totals.get(str((shard or {}).get("day")))
        if counts is None:
            continue
        for counter in COUNTERS:
            counts[counter] += int((shard or {}).get(counter) or 0)
    return [Day(day, counts) for day, counts in totals.items()]


def read(db: firestore.Client, days: list[str]) -> list[Day]:
    """The counters of `days` (consecutive, oldest first): one range query on `day` (single-field index)."""
    query = (
        db.collection(DAILY)
        .where(filter=firestore.FieldFilter("day", ">=", days[0]))
        .where(filter=firestore.FieldFilter("day", "<=", days[-1]))
    )
    return summed((snapshot.to_dict() for snapshot in query.stream()), days)


def total(days: Iterable[Day]) -> Day:
    counts = dict.fromkeys(COUNTERS, 0)
    for day in days:
        for counter in COUNTERS:
            counts[counter] += day.counts.get(counter, 0)
    return Day("total", counts)


def table(days: list[Day]) -> list[str]:
    """A plain-text table: one row a day, then the total; yes rate as a percentage ('-' without answers)."""
    header = ["day", *COUNTERS, "yes_rate"]
    rows = [
        [d.day, *(str(d.counts.get(c, 0)) for c in COUNTERS), "-" if d.yes_rate is None else f"{d.yes_rate:.0%}"]
        for d in [*days, total(days)]
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(
            cell.rjust(width) if i else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        )
        for row in [header, *rows]
    ]
