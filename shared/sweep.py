"""The clock's paged fan-out: a tick pages through due items and fans out one event per item.

Each item becomes its own event, so every transaction downstream stays small. A page's events
live in the tick's processed marker (its outbox), so a page is bounded; when it is full a
follow-up tick carries a cursor (the last item's sort value and document id) and the next page
starts after it. Event ids derive from the tick's id and a purpose naming the item, so a
redelivered tick fans out the same events and consumers drop the copies. A service with several
sweeps on one tick names them: the name prefixes the cursor (`name:value|id`) and the follow-up's
purpose (`next-page/name`); a single unnamed sweep uses `value|id` and `next-page`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared import runtime
from shared.events import ClockTick, Payload

logger = logging.getLogger("vas.sweep")

Position = tuple[datetime, str]  # (sort field's value, document id) of an item: where the next page starts after it


@dataclass(frozen=True)
class Due:
    """One due item and the event it becomes (`purpose` names the item: it derives the event id)."""

    position: Position
    topic: str
    payload: Payload
    purpose: str


# (due before, start after, at most) -> the page's items, in position order
Finder = Callable[[datetime, Position | None, int], Sequence[Due]]


@dataclass(frozen=True)
class Sweep:
    """One paged query of due items; `name` tells several sweeps of one tick apart (None: the only one)."""

    find: Finder
    name: str | None = None


def format_position(position: Position) -> str:
    value, doc_id = position
    return f"{value.isoformat()}|{doc_id}"


def parse_position(text: str) -> Position:
    """(value, document id) of a cursor's position; ValueError for anything else."""
    when, doc_id = text.split("|", 1)
    return datetime.fromisoformat(when), doc_id


def due_before(ctx: runtime.Context[Any], tick: ClockTick) -> datetime:
    """The moment a tick sweeps up to: its own, never later than now (a tick from the future never acts early)."""
    return min(tick.at or ctx.now, ctx.now)


def resumed(cursor: str | None, sweeps: Sequence[Sweep]) -> list[tuple[Sweep, Position | None]]:
    """The sweeps a tick runs and where each starts: all from the start, or the one its cursor continues."""
    if cursor is None:
        return [(sweep, None) for sweep in sweeps]
    try:
        if len(sweeps) == 1 and sweeps[0].name is None:
            return [(sweeps[0], parse_position(cursor))]
        name, _, position = cursor.partition(":")
        named = {sweep.name: sweep for sweep in sweeps}
        if name in named:
            return [(named[name], parse_position(position))]
    except ValueError:
        pass
    raise runtime.Rejected(f"not a sweep cursor: {cursor!r}")


def due_positions(
    db: firestore.Client, collection: str, field: str, before: datetime, limit: int, after: Position | None
) -> list[Position]:
    """(field value, id) of the documents whose `field` is at or before `before`, in that order (single-field index)."""
    query = (
        db.collection(collection)
        .where(filter=FieldFilter(field, "<=", before))
        .order_by(field)
        .order_by("__name__")
        .limit(limit)
    )
    if after is not None:
        query = query.start_after(list(after))
    return [(snapshot.get(field), snapshot.id) for snapshot in query.select([field]).stream()]


def run(ctx: runtime.Context[Any], tick: ClockTick, sweeps: Sequence[Sweep], *, follow_up: str, page_size: int) -> None:
    """Fan out one page of each sweep the tick runs; a full page continues in a tick on `follow_up`."""
    now = due_before(ctx, tick)
    for sweep, after in resumed(tick.cursor, sweeps):
        page = sweep.find(now, after, page_size)
        for due in page:
            ctx.emit(due.topic, due.payload, purpose=due.purpose)
        full = len(page) == page_size
        if full:
            position = format_position(page[-1].position)
            cursor = position if sweep.name is None else f"{sweep.name}:{position}"
            ctx.emit(
                follow_up,
                ClockTick(at=now, cursor=cursor),
                purpose="next-page" if sweep.name is None else f"next-page/{sweep.name}",
            )
        logger.info(
            "sweep page", extra={"consumer": ctx.consumer, "sweep": sweep.name, "items": len(page), "continues": full}
        )
