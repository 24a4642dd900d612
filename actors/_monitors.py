"""Monitors: Erlang's ``'DOWN'`` message, for pykka actors, gunpy actors and mailboxes.

gunpy's own actors and mailboxes fire their monitors themselves, the moment
they stop. A plain pykka actor cannot tell anyone (pykka has no hook for it),
nor can a thread that simply ends, so those are polled by the timer thread
every `POLL_INTERVAL` seconds while someone watches them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, Final

from gunpy.actors._scheduler import scheduler
from gunpy.protocol import Ref
from gunpy.protocol._messages import down

POLL_INTERVAL: Final = 0.05
_DELIVERY_WAIT: Final = 10.0  # bound on `remove` waiting for a firing set's deliveries


class MonitorSet:
    """The monitors on one target. `fire` sends each watcher one DOWN, once.

    A monitor added after the target died gets its DOWN at once, with the
    real exit reason (Erlang would say ``noproc``; knowing why is better).
    """

    def __init__(self, target: object) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._watchers: dict[Ref, Callable[[Any], None]] = {}
        self._fired = False
        self._done = threading.Event()
        self.reason: object = None

    def add(self, mref: Ref, send: Callable[[Any], None]) -> None:
        """Start a monitor; ``send`` delivers the DOWN message to the watcher."""
        with self._lock:
            if not self._fired:
                self._watchers[mref] = send
                _index[mref] = self
                return
            reason = self.reason
        _deliver(send, down(mref, self.target, reason))

    def remove(self, mref: Ref) -> bool:
        """Stop a monitor; True if it was still active (no DOWN comes). False if
        it had fired: its DOWN has then been delivered when this returns, so a
        caller can flush it (Erlang's ``demonitor(Ref, [flush])``)."""
        with self._lock:
            active = self._watchers.pop(mref, None) is not None
            if active or not self._fired:
                _index.pop(mref, None)
                return active
        # `fire` took it and delivers outside the lock: wait for the DOWN to land.
        self._done.wait(_DELIVERY_WAIT)
        _index.pop(mref, None)
        return False

    def fire(self, reason: object) -> bool:
        """Tell every watcher the target is down; only the first call counts."""
        with self._lock:
            if self._fired:
                return False
            self._fired = True
            self.reason = reason
            watchers, self._watchers = self._watchers, {}
        for mref, send in watchers.items():
            _deliver(send, down(mref, self.target, reason))
        for mref in watchers:  # only now: `remove` finds the set to wait on until here
            _index.pop(mref, None)
        self._done.set()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until `fire` has told every watcher; False on timeout."""
        return self._done.wait(timeout)

    def is_down(self) -> bool:
        """True once `fire` has run."""
        return self._fired

    def watched(self) -> bool:
        """True while at least one monitor is active."""
        return bool(self._watchers)


def _deliver(send: Callable[[Any], None], message: object) -> None:
    with contextlib.suppress(Exception):
        send(message)


_index: dict[Ref, MonitorSet] = {}


def remove_monitor(mref: Ref) -> bool:
    """Stop the monitor ``mref`` wherever it is; True if it was active."""
    monitors = _index.get(mref)
    return monitors.remove(mref) if monitors is not None else False


class _Poller:
    """Fires the MonitorSets of targets that cannot report their own death."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[Callable[[], bool], MonitorSet]] = {}
        self._armed = False

    def watch(self, is_alive: Callable[[], bool], monitors: MonitorSet) -> None:
        with self._lock:
            self._watched[id(monitors)] = (is_alive, monitors)
            if not self._armed:
                self._armed = True
                scheduler.call_later(POLL_INTERVAL, self._poll)

    def _poll(self) -> None:
        with self._lock:
            watched = list(self._watched.items())
        dead = []
        for key, (is_alive, monitors) in watched:
            if not monitors.watched():
                dead.append(key)  # nobody watches any more: stop polling (watch() resumes)
            elif monitors.is_down() or not is_alive():
                dead.append(key)
                monitors.fire("normal")
        with self._lock:
            for key in dead:
                self._watched.pop(key, None)
            self._armed = bool(self._watched)
            if self._armed:
                scheduler.call_later(POLL_INTERVAL, self._poll)


poller: Final = _Poller()
