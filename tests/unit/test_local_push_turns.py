"""The local push's turn per ordering key (infra/push.py KeyTurns): one push of a key at a time, keys in parallel."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from infra.push import KeyTurns


@contextmanager
def turn(turns: KeyTurns, key: tuple[str, str]) -> Iterator[None]:
    """Hold `key`'s turn in this thread, as LocalPush does across a push: take it (waiting), give it back after."""
    mine = threading.Event()
    if not turns.take(key, mine.set):
        mine.wait()
    try:
        yield
    finally:
        following = turns.give_back(key)
        if following is not None:
            following()


def test_one_key_takes_turns_while_other_keys_run_at_once_and_no_key_is_kept_after():
    turns, lock = KeyTurns(), threading.Lock()
    running, most = Counter[str](), Counter[str]()
    together = 0

    def push(key: str) -> None:
        nonlocal together
        with turn(turns, ("transfers-execute", key)):
            with lock:
                running[key] += 1
                most[key] = max(most[key], running[key])
                together = max(together, sum(running.values()))
            time.sleep(0.02)
            with lock:
                running[key] -= 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(push, ["+998901000001", "+998901000002"] * 8))
    assert most == {"+998901000001": 1, "+998901000002": 1}, "two pushes of one key at once"
    assert together == 2, "the other key waited too"
    assert len(turns) == 0, "a key nothing pushes is still kept"
