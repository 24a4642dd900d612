"""`Mailbox`: an Erlang process mailbox for a plain Python thread."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar, Final, Protocol, TypeAlias

import pykka

from gunpy.actors._monitors import MonitorSet

logger = logging.getLogger("gunpy")

Match: TypeAlias = Callable[[Any], bool]

SELF_SERVE: Final = hasattr(os, "eventfd")
"""Whether a waiting `Mailbox` may read its one `Source` itself (Linux: it needs eventfd)."""


class Source(Protocol):
    """Something that fills a mailbox and that the mailbox's waiting thread may
    read itself instead of sleeping: a connection's socket, served otherwise by
    the I/O loop (see `Mailbox.attach`).

    Each call comes from the waiting thread, never under the mailbox's lock.
    """

    def engage(self) -> bool:
        """Take the reading over from whoever does it now; False if it cannot be now."""

    def serve(self, mailbox: Mailbox, wake_fd: int, timeout: float | None) -> bool:
        """Wait until the source is readable, ``wake_fd`` is readable or ``timeout``
        passes; read what came and deliver it. False once the source can no
        longer be served here (it has then disengaged itself)."""

    def disengage(self) -> None:
        """Give the reading back (the waiting thread has what it waited for)."""


class Mailbox:
    """A thread-safe mailbox with Erlang's selective receive.

    Any thread may `send`; one reader normally calls `receive`, which takes
    the first queued message that ``match`` accepts and leaves the others
    queued, in order. A mailbox can be an owner (``gun.open(..., owner=mb)``)
    and can be monitored: it counts as dead once `close` is called or, for a
    thread's own mailbox (`current`), once that thread has ended. A mailbox
    that owns one connection is read by its waiting thread itself (`attach`).
    """

    _local: ClassVar = threading.local()

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"mailbox-{id(self):x}"
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[Any] = deque()
        self._waiting = 0
        self._removals = 0  # bumped by every removal: a waiting selective receive rescans
        # Self-serving (see `attach`): the sources, and the eventfd that wakes a
        # thread waiting in a source's poll rather than on `_cond`.
        self._sources: dict[Source, None] = {}  # a set in attach order: thousands are cheap
        self._wake_fd: int | None = None
        self._server: int | None = None  # the thread id serving a source now
        self._wake_pending = False
        self.thread: threading.Thread | None = None
        """The thread whose mailbox this is, for mailboxes made by `current`."""
        self.monitors = MonitorSet(self)

    def __repr__(self) -> str:
        return f"<Mailbox {self.name} ({len(self._queue)} queued)>"

    @classmethod
    def current(cls) -> Mailbox:
        """The calling thread's own mailbox, created on first use."""
        mailbox: Mailbox | None = getattr(cls._local, "mailbox", None)
        if mailbox is None:
            thread = threading.current_thread()
            mailbox = cls(f"thread-{thread.name}")
            mailbox.thread = thread
            cls._local.mailbox = mailbox
        return mailbox

    def send(self, message: Any) -> None:
        """Queue ``message``; never blocks (the mailbox is unbounded, as in Erlang)."""
        with self._cond:
            self._queue.append(message)
            if self._waiting:
                self._cond.notify()
            if self._server is not None:
                self._wake_server()

    def send_all(self, messages: list[Any]) -> None:
        """Queue several messages at once, in order: one lock and one wake-up."""
        with self._cond:
            self._queue.extend(messages)
            if self._waiting:
                self._cond.notify()
            if self._server is not None:
                self._wake_server()

    def wake(self) -> None:
        """Wake a thread that is serving a source of this mailbox (it looks again)."""
        with self._cond:
            if self._server is not None:
                self._wake_server()

    def _wake_server(self) -> None:
        # Under _cond. The serving thread's own deliveries need no wake-up.
        if not self._wake_pending and self._server != threading.get_ident():
            self._wake_pending = True
            assert self._wake_fd is not None
            os.eventfd_write(self._wake_fd, 1)

    # -- self-serving ------------------------------------------------------------------

    def attach(self, source: Source) -> None:
        """Let a thread waiting in `receive` read ``source`` itself.

        A thread blocked on a condition variable costs one more wake-up per
        message than one blocked in the socket's own ``poll``: while this
        mailbox has exactly one source, `receive` engages it and waits in its
        `Source.serve` (with an eventfd for other senders) instead of sleeping,
        and gives it back when it returns. With several sources, or none, or
        where the platform has no eventfd, it sleeps as usual.
        """
        with self._cond:
            self._sources[source] = None

    @property
    def self_served(self) -> bool:
        """True while exactly one source is attached: its reads may happen in the
        thread waiting in `receive`."""
        return len(self._sources) == 1

    def detach(self, source: Source) -> None:
        """Undo `attach` (the source is gone); the eventfd goes with the last one."""
        with self._cond:
            self._sources.pop(source, None)
            self._close_wake_fd()

    def _close_wake_fd(self) -> None:
        # Under _cond: only while nobody serves, so no poll is left on a closed fd.
        if not self._sources and self._server is None and self._wake_fd is not None:
            os.close(self._wake_fd)
            self._wake_fd, self._wake_pending = None, False

    def _serve(self, source: Source, engaged: list[Source], remaining: float | None) -> bool:
        """Under _cond: wait in ``source`` instead of on _cond; False if it cannot serve."""
        if self._wake_fd is None:
            self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        wake_fd = self._wake_fd
        self._server = threading.get_ident()
        self._cond.release()
        try:
            if engaged and engaged[0] is not source:  # the one engaged is gone since
                engaged.pop().disengage()
            if not engaged:
                if not source.engage():
                    return False
                engaged.append(source)
            if not source.serve(self, wake_fd, remaining):
                engaged.clear()  # it disengaged itself
                return False
            return True
        finally:
            self._cond.acquire()
            self._server = None
            if self._waiting:  # another receiver sleeps: the source is its to serve now
                self._cond.notify()
            if self._wake_pending:
                with contextlib.suppress(BlockingIOError):
                    os.eventfd_read(wake_fd)
                self._wake_pending = False
            self._close_wake_fd()

    def receive(self, match: Match | None = None, timeout: float | None = None) -> Any:
        """Remove and return the first queued message that ``match`` accepts.

        With no ``match``, the oldest message. Waits up to ``timeout`` seconds
        (forever if None) and raises `TimeoutError` if nothing matched.
        Messages that do not match stay queued in their order. While the
        mailbox has exactly one attached `Source` (a connection it owns), the
        waiting thread reads that source itself instead of sleeping (`attach`).
        """
        engaged: list[Source] = []  # the source this call serves, given back at the end
        try:
            return self._receive(match, timeout, engaged)
        finally:
            if engaged:
                engaged[0].disengage()

    def _receive(self, match: Match | None, timeout: float | None,
                 engaged: list[Source]) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        scanned = 0
        may_serve = SELF_SERVE
        with self._cond:
            removals = self._removals
            while True:
                queue = self._queue
                if self._removals != removals:  # someone took messages: positions moved
                    removals, scanned = self._removals, 0
                if match is None:
                    if queue:
                        self._removals += 1
                        return queue.popleft()
                else:
                    # Messages before `scanned` were already refused by `match`.
                    for index in range(scanned, len(queue)):
                        message = queue[index]
                        if match(message):
                            del queue[index]
                            self._removals += 1
                            return message
                    scanned = len(queue)
                if deadline is None:
                    remaining = None
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"no matching message within {timeout} s")
                sources = self._sources
                if may_serve and len(sources) == 1 and self._server is None:
                    # Served or not, look again first: what came while _cond was released
                    # woke nobody. A source that could not be served is not asked again
                    # before the next wake-up.
                    may_serve = self._serve(next(iter(sources)), engaged, remaining)
                    continue
                may_serve = SELF_SERVE
                self._waiting += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self._waiting -= 1

    def flush(self, match: Match | None = None) -> list[Any]:
        """Remove, without waiting, every queued message ``match`` accepts (all if None)."""
        with self._cond:
            kept: deque[Any] = deque()
            removed = []
            for message in self._queue:
                if match is None or match(message):
                    removed.append(message)
                else:
                    kept.append(message)
            self._queue = kept
            self._removals += 1
            return removed

    def messages(self) -> list[Any]:
        """A snapshot of the queued messages, oldest first (for inspection)."""
        with self._cond:
            return list(self._queue)

    def __len__(self) -> int:
        return len(self._queue)

    def close(self, reason: object = "normal") -> None:
        """Declare the mailbox's owner dead: monitors get ``("DOWN", ..., reason)``.

        Connections owned by this mailbox then close as for a dead owner.
        Messages may still be sent and read; nothing else changes.
        """
        self.monitors.fire(reason)

    def is_alive(self) -> bool:
        """False once `close` was called or the owning thread has ended."""
        if self.monitors.is_down():
            return False
        return self.thread is None or self.thread.is_alive()


Destination: TypeAlias = "pykka.ActorRef[Any] | Mailbox"
"""Where messages can be sent: a pykka actor (its ``on_receive``) or a `Mailbox`."""


def batch_sender_for(destination: object) -> Callable[[list[Any]], None]:
    """Like `sender_for`, for a list of messages delivered in order (one wake-up for a Mailbox)."""
    if isinstance(destination, Mailbox):
        return destination.send_all
    send = sender_for(destination)

    def send_each(messages: list[Any]) -> None:
        for message in messages:
            send(message)

    return send_each


def sender_for(destination: object) -> Callable[[Any], None]:
    """The function that delivers a message to ``destination``, looked up once.

    A destination is a `Mailbox`, a pykka ActorRef, or one of Gun's function
    forms of ``reply_to``: ``fun`` (``fun(message)``), ``(fun, args)``
    (``fun(message, *args)``) or ``(module, "name", args)``. A function is
    called in the thread that delivers (gunpy's I/O loop, as Gun calls it
    inside the connection process, or the owner's thread while it reads its
    connection in ``receive``): it must not block; what it raises is logged
    (``gunpy`` logger) and the connection goes on. Raises TypeError for
    anything else.
    """
    if isinstance(destination, Mailbox):
        return destination.send
    if isinstance(destination, pykka.ActorRef):
        tell = destination.tell

        def send_to_actor(message: Any) -> None:
            # A dead actor takes no mail, as a dead Erlang process; its monitor says why.
            with contextlib.suppress(pykka.ActorDeadError):
                tell(message)

        return send_to_actor
    function, args = _function_form(destination)
    if function is None:
        raise TypeError(
            f"{destination!r} is neither a Mailbox, a pykka ActorRef, a function, "
            "(function, args) nor (module, name, args)"
        )

    def call(message: Any) -> None:
        try:
            function(message, *args)
        except Exception:
            logger.exception("gunpy: reply_to %r failed on %r", destination, message)

    return call


def _function_form(value: object) -> tuple[Callable[..., Any] | None, tuple[Any, ...]]:
    """Gun's reply_to functions: ``fun``, ``{Fun, Args}``, ``{M, F, A}``."""
    if callable(value) and not isinstance(value, type):
        return value, ()
    if (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], list | tuple)
            and callable(value[0])):
        return value[0], tuple(value[1])
    if (isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], str)
            and isinstance(value[2], list | tuple)):
        function = getattr(value[0], value[1], None)
        if callable(function):
            return function, tuple(value[2])
    return None, ()
