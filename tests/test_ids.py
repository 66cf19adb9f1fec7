"""Request, run and token ids: random hex, pooled per thread, optionally ordered."""

from __future__ import annotations

import re
import threading
import time

from auth.secrets import new_id, new_ordered_id

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_ids_are_32_hex_digits_and_distinct() -> None:
    ids = [new_id() for _ in range(2000)]

    assert all(HEX32.fullmatch(value) for value in ids)
    # 2,000 ids span several 4 KiB pools of random bytes.
    assert len(set(ids)) == len(ids)


def test_threads_do_not_share_pool_bytes() -> None:
    batches: list[list[str]] = [[] for _ in range(4)]

    def make(into: list[str]) -> None:
        into.extend(new_id() for _ in range(500))

    threads = [threading.Thread(target=make, args=(into,)) for into in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [value for into in batches for value in into]
    assert len(set(every)) == len(every) == 2000


def test_ordered_ids_sort_by_creation_time() -> None:
    first = new_ordered_id()
    time.sleep(0.002)
    second = new_ordered_id()

    assert HEX32.fullmatch(first)
    assert HEX32.fullmatch(second)
    assert first < second
    assert abs(int(second[:12], 16) - time.time_ns() // 1_000_000) < 5_000
    # Ids of the same millisecond still differ in their random part.
    assert len({new_ordered_id() for _ in range(1000)}) == 1000
