"""One timer thread for the whole process: Erlang's ``send_after`` for pykka.

pykka has no timers (its issue #53 is closed without one), and a
``threading.Timer`` per timer costs a thread per pending timer. Here a single
daemon thread, ``gunpy-runtime-timers``, keeps a heap of deadlines and runs
each callback when it is due. Callbacks run in that thread, so they must be
short and must not block: typically a ``tell`` to an actor, which then does
the work in its own thread.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import pykka

logger: Final = logging.getLogger("gunpy")


def _nothing(*args: Any) -> None:
    pass


class Timer:
    """A pending callback; `cancel` prevents it from running if it has not started."""

    __slots__ = ("args", "callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[..., object], args: tuple[Any, ...]):
        self.deadline = deadline
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Drop the timer. A callback already running is not interrupted."""
        self.cancelled = True
        # The heap keeps the Timer until its deadline: let go of what it would call.
        self.callback = _nothing
        self.args = ()


class Scheduler:
    """A heap of timers served by one lazily started daemon thread."""

    def __init__(self, name: str = "gunpy-runtime-timers") -> None:
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        """Run ``callback(*args)`` in the timer thread after ``delay`` seconds."""
        timer = Timer(time.monotonic() + max(delay, 0.0), callback, args)
        with self._cond:
            heapq.heappush(self._heap, (timer.deadline, next(self._seq), timer))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif self._heap[0][2] is timer:
                self._cond.notify()
        return timer

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    deadline, _, timer = self._heap[0]
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._heap)
                        break
                    self._cond.wait(wait)
            if timer.cancelled:
                continue
            try:
                timer.callback(*timer.args)
            except Exception:
                logger.exception("timer callback %r failed", timer.callback)


scheduler: Final = Scheduler()
"""The process-wide scheduler used by every gunpy actor."""


class TimerFired(NamedTuple):
    """The message an `ActorTimers` timer sends its actor: ``kind`` and a token."""

    kind: str
    token: object


class ActorTimers:
    """An actor's timers, at most one per kind, each firing as a message to the actor.

    ``tell`` sends to the actor (its ``actor_ref.tell``; a dead actor's is
    dropped). The message is ``make(kind, token)`` (default `TimerFired`);
    the actor passes what it receives to `fired`, which says whether that
    timer is still the armed one: a timer cancelled or re-armed after its
    message was queued is stale, as Erlang's ``cancel_timer`` race requires.
    """

    def __init__(
        self,
        tell: Callable[[Any], None],
        make: Callable[[str, object], Any] = TimerFired,
    ) -> None:
        self._tell = tell
        self._make = make
        self._armed: dict[str, tuple[object, Timer]] = {}

    def arm(self, kind: str, delay: float) -> None:
        """(Re)start the ``kind`` timer: it fires in ``delay`` seconds."""
        self.disarm(kind)
        token = object()
        self._armed[kind] = (token, scheduler.call_later(delay, self._send, kind, token))

    def disarm(self, kind: str) -> None:
        """Cancel the ``kind`` timer, if armed."""
        armed = self._armed.pop(kind, None)
        if armed is not None:
            armed[1].cancel()

    def disarm_all(self) -> None:
        """Cancel every timer (the actor is stopping)."""
        for kind in list(self._armed):
            self.disarm(kind)

    def fired(self, kind: str, token: object) -> bool:
        """True if this is the armed ``kind`` timer's message (it is then disarmed)."""
        armed = self._armed.get(kind)
        if armed is None or armed[0] is not token:
            return False
        del self._armed[kind]
        return True

    def __contains__(self, kind: str) -> bool:
        return kind in self._armed

    def _send(self, kind: str, token: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self._tell(self._make(kind, token))
