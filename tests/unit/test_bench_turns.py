"""The transaction ceiling runs one sender's transactions in turn, as the path's ordering keys do."""

import threading
import time

from infra.bench_common import in_turns


def test_one_item_of_a_key_at_a_time_in_order_and_keys_in_parallel():
    running: dict[str, int] = {}
    most_at_once, most_keys_at_once = [0], [0]
    order: dict[str, list[int]] = {}
    lock = threading.Lock()

    def key(i: int) -> str:
        return f"sender-{i % 3}"

    def work(i: int) -> int:
        with lock:
            running[key(i)] = running.get(key(i), 0) + 1
            most_at_once[0] = max(most_at_once[0], running[key(i)])
            most_keys_at_once[0] = max(most_keys_at_once[0], sum(1 for n in running.values() if n))
            order.setdefault(key(i), []).append(i)
        time.sleep(0.005)
        with lock:
            running[key(i)] -= 1
        return i * 10

    results = in_turns(range(30), key, work, concurrency=8)

    assert results == [i * 10 for i in range(30)]
    assert most_at_once[0] == 1  # never two of one sender at once
    assert most_keys_at_once[0] == 3  # but the three senders side by side
    assert order == {f"sender-{k}": list(range(k, 30, 3)) for k in range(3)}
