"""One selector loop thread for every socket in the process.

A thread per socket costs a thread stack and a scheduler slot each: 10,000
connections cannot live that way. Here one daemon thread,
``gunpy-runtime-io``, waits on every registered socket at once (stdlib
`selectors`: epoll on Linux) and calls the socket's `Handler` when it is
ready. Sockets are non-blocking, so a handler never waits; it does a bounded
amount of work (one read, one flush) and returns, which keeps the loop fair:
a connection that floods gets one turn like every other.

Other threads talk to the loop with `call_soon` (run a function in the loop
thread) and `call_later` (a timer on the loop's clock). One socketpair wakes
the loop for them, whatever the number of sockets. Name lookups block, so
`resolve` runs ``getaddrinfo`` in a small pool and hands the answer back to
the loop; numeric addresses are answered at once.

Messages for mailboxes and actors that handlers produce in the loop are
queued with `deliver` and handed over at the end of the turn, each
destination's messages in order and in one delivery: a thread that owns
1,000 connections is woken once per turn, not once per socket. A handler
calls `flush_deliveries` before it reports anything by another path, so
nothing overtakes what it delivered first.

This module knows nothing of HTTP or WebSocket: the Gun connection's
handler (``gunpy.actors.gun._io``) is built on it.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, Protocol

from gunpy.actors._mailbox import batch_sender_for

logger: Final = logging.getLogger("gunpy")

READ: Final = selectors.EVENT_READ
WRITE: Final = selectors.EVENT_WRITE
LOOKUP_THREADS: Final = 8  # getaddrinfo calls at once; more lookups wait their turn

AddrInfo = tuple[Any, ...]


class Handler(Protocol):
    """What the loop calls for a registered socket."""

    def on_ready(self, mask: int) -> None:
        """The socket is readable (``READ``) and/or writable (``WRITE``)."""

    def on_again(self) -> None:
        """Another turn asked for with `IOLoop.again` (buffered TLS data)."""

    def on_crash(self, exc: BaseException) -> None:
        """A call of this handler raised: end what it serves (the loop goes on)."""


class LoopTimer:
    """A pending `IOLoop.call_later`; `cancel` stops it if it has not run yet."""

    __slots__ = ("args", "callback", "cancelled")

    def __init__(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Drop the timer (from any thread); a callback already running goes on."""
        self.cancelled = True
        self.callback, self.args = _nothing, ()  # the heap keeps us until the deadline


def _nothing(*args: Any) -> None:
    pass


def numeric_address(host: str, port: int) -> list[AddrInfo] | None:
    """``getaddrinfo``'s answer for an IP literal, without a lookup; None for a name."""
    if "%" in host:
        return None  # a scoped IPv6 address: getaddrinfo knows the interface
    # inet_pton/inet_ntop: the canonical text without ipaddress's cost (one open each).
    families: tuple[socket.AddressFamily, ...]
    if host.startswith("[") and host.endswith("]"):
        families = (socket.AF_INET6,)  # only IPv6 is written in brackets
        host = host[1:-1]
    else:
        families = (socket.AF_INET, socket.AF_INET6)
    for family in families:
        try:
            ip = socket.inet_ntop(family, socket.inet_pton(family, host))
        except (OSError, ValueError):
            continue
        if family == socket.AF_INET:
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))]
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port, 0, 0))]
    return None


class IOLoop:
    """The selector, its thread, its timers and its lookup pool (see the module doc)."""

    def __init__(self, name: str = "gunpy-runtime-io") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._calls: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._woken = False
        self._timers: list[tuple[float, int, LoopTimer]] = []
        self._seq = itertools.count()
        self._again: set[Handler] = set()
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lookups: ThreadPoolExecutor | None = None
        # Messages for each destination this turn, in order (the loop thread's own).
        self._deliveries: dict[int, tuple[object, list[Any]]] = {}

    # -- from any thread ---------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread if it is not running (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            self._selector = selectors.DefaultSelector()
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            self._selector.register(self._wake_r, READ, None)
            self._lookups = ThreadPoolExecutor(LOOKUP_THREADS, f"{self.name}-lookup")
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def in_loop(self) -> bool:
        """True in the loop thread itself."""
        return threading.current_thread() is self._thread

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Run ``callback(*args)`` in the loop thread, after what is already queued."""
        with self._lock:
            self._calls.append((callback, args))
            if self._woken:
                return
            self._woken = True
        self._wake()

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> LoopTimer:
        """Run ``callback(*args)`` in the loop thread after ``delay`` seconds."""
        timer = LoopTimer(callback, args)
        deadline = time.monotonic() + max(delay, 0.0)
        with self._lock:
            heapq.heappush(self._timers, (deadline, next(self._seq), timer))
            first = self._timers[0][2] is timer
        if first and not self.in_loop():
            self._wake()  # the loop may be sleeping past this deadline
        return timer

    def resolve(self, host: str, port: int, callback: Callable[[object], object]) -> None:
        """``getaddrinfo`` for a stream socket, off the loop; ``callback`` gets the
        address list or the exception, in the loop thread."""
        infos = numeric_address(host, port)
        if infos is None:
            pool = self._lookups
            assert pool is not None, "start() the loop first"
            pool.submit(self._lookup, host, port, callback)
            return
        self.call_soon(callback, infos)

    def _lookup(self, host: str, port: int, callback: Callable[[object], object]) -> None:
        try:
            infos: object = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except Exception as exc:
            infos = exc
        self.call_soon(callback, infos)

    def _wake(self) -> None:
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
                wake.send(b"\0")

    # -- from the loop thread only -----------------------------------------------------

    def set_interest(self, sock: socket.socket, handler: Handler, old: int, new: int) -> None:
        """Watch ``sock`` for ``new`` (READ|WRITE, 0: not at all) instead of ``old``.

        The handler keeps its socket's mask (``old``), so no lookup is needed here.
        """
        selector = self._selector
        assert selector is not None
        if not old:
            selector.register(sock, new, handler)
        elif not new:
            selector.unregister(sock)
        else:
            selector.modify(sock, new, handler)

    def forget(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (before it is closed), whatever its interest."""
        selector = self._selector
        assert selector is not None
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(sock)

    def again(self, handler: Handler) -> None:
        """Give ``handler`` another turn (``on_again``) without waiting for its socket."""
        self._again.add(handler)

    def deliver(self, destination: object, messages: list[Any]) -> None:
        """Queue ``messages`` for a Mailbox or ActorRef, handed over at the end of the turn.

        In the loop thread only; elsewhere they go at once.
        """
        if not self.in_loop():
            batch_sender_for(destination)(messages)
            return
        queued = self._deliveries.get(id(destination))
        if queued is None:
            self._deliveries[id(destination)] = (destination, list(messages))
        else:
            queued[1].extend(messages)

    def flush_deliveries(self) -> None:
        """Hand over what `deliver` queued this turn (the loop thread only)."""
        if not self._deliveries:
            return
        deliveries, self._deliveries = self._deliveries, {}
        for destination, messages in deliveries.values():
            try:
                batch_sender_for(destination)(messages)
            except Exception:
                logger.exception("gunpy I/O loop: delivery to %r failed", destination)

    def _run(self) -> None:
        selector = self._selector
        assert selector is not None
        while True:
            try:
                events = selector.select(self._wait())
            except InterruptedError:
                continue
            for key, mask in events:
                handler = key.data
                if handler is None:
                    self._drain_wake()
                else:
                    self._guarded(handler, handler.on_ready, mask)
            if self._again:
                again, self._again = self._again, set()
                for handler in again:
                    self._guarded(handler, handler.on_again)
            with self._lock:
                calls, self._calls = self._calls, deque()
                self._woken = False
            for callback, args in calls:
                self._guarded(None, callback, *args)
            self._run_due_timers()
            self.flush_deliveries()

    def _wait(self) -> float | None:
        """How long select may sleep: not at all with work queued, else to the next timer."""
        if self._again or self._calls:
            return 0
        with self._lock:
            if not self._timers:
                return None
            return max(self._timers[0][0] - time.monotonic(), 0)

    def _drain_wake(self) -> None:
        wake = self._wake_r
        assert wake is not None
        with contextlib.suppress(BlockingIOError):
            while wake.recv(4096):
                pass

    def _run_due_timers(self) -> None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._timers or self._timers[0][0] > now:
                    return
                _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._guarded(None, timer.callback, *timer.args)

    @staticmethod
    def _guarded(handler: Handler | None, callback: Callable[..., object], *args: Any) -> None:
        """One call on the loop; its failure ends its handler's work, never the loop."""
        try:
            callback(*args)
        except Exception as exc:
            logger.exception("gunpy I/O loop: %r failed", callback)
            owner = handler if handler is not None else getattr(callback, "__self__", None)
            on_crash = getattr(owner, "on_crash", None)
            if on_crash is not None:
                with contextlib.suppress(Exception):
                    on_crash(exc)


io_loop: Final = IOLoop()
"""The process-wide loop every gunpy connection uses (started by its first connection)."""
