"""What a function process costs, counted as it happens: Firestore reads, writes, deletes and commits, Pub/Sub
messages published, and requests served. Off unless METER_DIR_VARIABLE names a directory (the bench sets it).

The Firestore counts come from the client's API calls themselves (what Firestore bills): a read per document a
lookup or query returns, a write per write of a commit, a delete per delete of a commit, a transaction commit
per commit that carries a transaction. Each process writes its totals, as JSON, to `<dir>/<function>-<pid>.json`
a few times a second; the bench sums the files before and after a path runs (infra/cost.py).
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METER_DIR_VARIABLE = "VAS_METER_DIR"
FUNCTION_VARIABLE = "VAS_FUNCTION"  # infra/functions.py names each function process
FLUSH_SECONDS = 0.2


@dataclass
class Counts:
    """One process's totals (or a sum, or a difference of two)."""

    reads: int = 0
    writes: int = 0
    deletes: int = 0
    commits: int = 0  # transaction commits
    published: int = 0  # Pub/Sub messages
    published_bytes: int = 0
    invocations: int = 0  # requests the function served

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))

    def __sub__(self, other: Counts) -> Counts:
        return Counts(*(a - b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Counts:
        return cls(**{f.name: int(data.get(f.name, 0)) for f in dataclasses.fields(cls)})


class Meter:
    """Thread-safe totals of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = Counts()

    def add(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self._counts, name, getattr(self._counts, name) + value)

    def restart(self) -> Meter:
        """From zero, with a fresh lock (in a forked child: the parent's counts are the parent's)."""
        self._lock = threading.Lock()
        self._counts = Counts()
        return self

    def snapshot(self) -> Counts:
        with self._lock:
            return dataclasses.replace(self._counts)


class MeteredFirestoreApi:
    """The Firestore client's API (the GAPIC client) with every billed operation counted on its way."""

    def __init__(self, api: Any, meter: Meter):
        self._api, self._meter = api, meter

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def batch_get_documents(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for response in self._api.batch_get_documents(*args, **kwargs):
            if response.found.name or response.missing:
                self._meter.add(reads=1)  # a document asked for is billed whether it exists or not
            yield response

    def run_query(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        returned = 0
        for response in self._api.run_query(*args, **kwargs):
            if response.document and response.document.name:
                returned += 1
            yield response
        self._meter.add(reads=max(returned, 1))  # a query that returns nothing is billed one read

    def run_aggregation_query(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._meter.add(reads=1)  # one read per up to 1000 index entries: a lower bound
        yield from self._api.run_aggregation_query(*args, **kwargs)

    def get_document(self, *args: Any, **kwargs: Any) -> Any:
        self._meter.add(reads=1)
        return self._api.get_document(*args, **kwargs)

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        request = kwargs.get("request") or (args[0] if args else {})
        writes, in_transaction = _writes_of(request)
        deletes = sum(1 for write in writes if _is_delete(write))
        response = self._api.commit(*args, **kwargs)
        self._meter.add(writes=len(writes) - deletes, deletes=deletes, commits=1 if in_transaction else 0)
        return response


def _writes_of(request: Any) -> tuple[list[Any], bool]:
    """A commit request's writes and whether it ends a transaction (a dict or a CommitRequest)."""
    if isinstance(request, dict):
        return list(request.get("writes") or []), bool(request.get("transaction"))
    return list(request.writes), bool(request.transaction)


def _is_delete(write: Any) -> bool:
    if isinstance(write, dict):
        return bool(write.get("delete"))
    return bool(write.delete)


def metered_client(client: Any, meter: Meter) -> Any:
    """`client` with its API calls counted on `meter` (the client builds its API lazily: wrap it once built)."""
    api = client._firestore_api
    client._firestore_api_internal = MeteredFirestoreApi(api, meter)
    return client


def count_published(messages: Iterable[bytes]) -> None:
    """Count Pub/Sub messages this process publishes (a no-op unless metering is on)."""
    meter = process_meter()
    if meter is not None:
        sizes = [len(data) for data in messages]
        meter.add(published=len(sizes), published_bytes=sum(sizes))


@functools.cache
def process_meter() -> Meter | None:
    """This function process's meter, flushed to its file; None unless the bench asked for metering."""
    directory = os.environ.get(METER_DIR_VARIABLE)
    function = os.environ.get(FUNCTION_VARIABLE)
    if not directory or not function:
        return None  # not a function process of a metered stack (the bench itself, a test, the cloud)
    meter = Meter()
    _count_requests(meter)
    _flush_from_this_process(meter, Path(directory) / function)
    # functions-framework serves through gunicorn, which forks its worker from the process that loaded the
    # function: the worker counts from zero into its own file, with its own flusher (threads do not survive fork).
    os.register_at_fork(after_in_child=lambda: _flush_from_this_process(meter.restart(), Path(directory) / function))
    return meter


def _flush_from_this_process(meter: Meter, prefix: Path) -> None:
    path = prefix.with_name(f"{prefix.name}-{os.getpid()}.json")
    threading.Thread(target=_flush_forever, args=(meter, path), name="metering", daemon=True).start()
    atexit.register(lambda: write(meter.snapshot(), path))


def _count_requests(meter: Meter) -> None:
    """Count every request the process's Flask app (functions-framework's) starts."""
    import flask

    def started(*_: Any, **__: Any) -> None:
        meter.add(invocations=1)

    flask.request_started.connect(started, weak=False)


def _flush_forever(meter: Meter, path: Path) -> None:
    last: Counts | None = None
    while True:
        current = meter.snapshot()
        if current != last:
            write(current, path)
            last = current
        threading.Event().wait(FLUSH_SECONDS)


def write(counts: Counts, path: Path) -> None:
    """Replace the file at once (a reader never sees half of it)."""
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(dataclasses.asdict(counts)))
    partial.replace(path)


def read_all(directory: Path) -> dict[str, Counts]:
    """Every process's latest totals in `directory`, by file name (`<function>-<pid>`)."""
    found = {}
    for path in sorted(directory.glob("*.json")):
        try:
            found[path.stem] = Counts.from_json(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # replaced while read: the next reading has it
    return found
