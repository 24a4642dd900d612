"""``actors/_futex_hash.py``: the process's futex hash grows with its threads (Linux 6.16+)."""

from __future__ import annotations

import threading

import pytest

import gunpy.actors._futex_hash as futex_hash
from gunpy.actors import ProcessActor


def test_starting_actors_grows_the_futex_hash_to_two_slots_per_thread() -> None:
    started = threading.Event()
    keep = threading.Thread(target=started.wait, daemon=True)  # a threaded process
    keep.start()
    before = futex_hash.slots()
    if before == 0:
        started.set()
        pytest.skip("no private futex hash here (not Linux 6.16+, or the global hash in use)")
    actors = [ProcessActor.start() for _ in range(40)]
    try:
        threads = threading.active_count()
        assert futex_hash.slots() >= min(threads, futex_hash.MAX_SLOTS), (before, threads)
        assert futex_hash.slots() >= before  # never shrunk
    finally:
        for ref in actors:
            ref.stop()
        started.set()


def test_fit_is_a_no_op_once_large_enough() -> None:
    now = futex_hash.slots()
    futex_hash.fit(1)
    assert futex_hash.slots() == now
