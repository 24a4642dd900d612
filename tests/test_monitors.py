"""gunpy.actors._monitors: one DOWN per monitor, and removing a monitor as it fires.

Threads are synchronised with events; no test asserts a duration.
"""

from __future__ import annotations

import threading
from typing import Any

from gunpy.actors._monitors import MonitorSet, remove_monitor
from gunpy.protocol import Ref

WAIT = 10.0


def test_each_watcher_gets_one_down_with_the_reason() -> None:
    got: list[Any] = []
    monitors = MonitorSet("target")
    first, second = Ref(), Ref()
    monitors.add(first, got.append)
    monitors.add(second, got.append)
    assert monitors.fire("shutdown")
    assert not monitors.fire("again")  # only the first counts
    assert got == [("DOWN", first, "process", "target", "shutdown"),
                   ("DOWN", second, "process", "target", "shutdown")]


def test_a_monitor_removed_before_the_fire_gets_nothing() -> None:
    got: list[Any] = []
    monitors = MonitorSet("target")
    mref = Ref()
    monitors.add(mref, got.append)
    assert remove_monitor(mref)
    monitors.fire("normal")
    assert got == []


def test_removing_a_monitor_while_it_fires_returns_once_its_down_has_landed() -> None:
    """A caller told "not active" flushes the DOWN next: it must be there by then."""
    delivering, release = threading.Event(), threading.Event()
    got: list[Any] = []

    def slow_send(message: Any) -> None:
        delivering.set()
        assert release.wait(WAIT)  # the fire is under way, its DOWN not yet delivered
        got.append(message)

    monitors = MonitorSet("target")
    mref = Ref()
    monitors.add(mref, slow_send)
    firing = threading.Thread(target=monitors.fire, args=("shutdown",))
    firing.start()
    assert delivering.wait(WAIT)
    removed: list[tuple[bool, list[Any]]] = []
    remover = threading.Thread(
        target=lambda: removed.append((remove_monitor(mref), list(got))))
    remover.start()
    remover.join(0.2)  # a remove that does not wait is over by now, having seen no DOWN
    release.set()
    remover.join(WAIT)
    firing.join(WAIT)
    down = ("DOWN", mref, "process", "target", "shutdown")
    assert removed == [(False, [down])]  # not active, and its DOWN already delivered
    assert got == [down]
