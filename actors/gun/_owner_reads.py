"""The owner's thread reads its connection itself, as a part of `SocketIO` (its base class).

The I/O loop reads every socket and hands what it read to the owner's
`Mailbox`, whose thread, asleep there, is then woken: a message costs two
thread wake-ups (the loop's, then the owner's) where a client that blocks
in ``recv`` has one, and on a VM a wake-up is tens of microseconds. So
while a Mailbox owns one connection (`Mailbox.attach`), its thread,
waiting in ``receive``, reads the socket itself:

- `engage`: the loop stops watching the socket for reading;
- `serve`: the thread polls the socket and the mailbox's eventfd (other
  senders), reads what came, feeds the connection and delivers the
  messages just as the loop would, in its own thread;
- `disengage`: ``receive`` has what it waited for. The thread keeps the
  socket `RELEASE_AFTER` (5 ms) longer, so a loop of receives costs no
  change of the loop's interest and no loop wake-up per message; then the
  loop reads it again for as long as the thread does something else.

Only a plain socket is read so, while the connection is open, reading
(not paused by flow control) and without an event handler or trace, whose
callbacks stay in the loop thread; TLS stays with the loop (one SSL object,
one reader). Writing, timers and the end of the connection stay the loop's
as before: after its read the thread only asks the loop to catch up.

Order: a read (recv, feed, delivery) is done whole under `read_lock`, by
the loop or by the owner, and a loop read of a connection whose owner may
read next hands over its delivery before letting go of the lock: what was
read first arrives first. The socket is closed under the same lock, so the
owner never reads a descriptor that was closed (and perhaps reused).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from gunpy.actors._io_loop import LoopTimer
from gunpy.actors._mailbox import SELF_SERVE, Mailbox
from gunpy.actors.gun._attempt import Stage
from gunpy.actors.gun._part import SocketIOPart
from gunpy.actors.gun._transport import plain_recv, socket_error_reason
from gunpy.protocol import Event

logger: Final = logging.getLogger("gunpy")

OWNER_RECV_SIZE: Final = 262144  # as the loop's reads
RELEASE_AFTER: Final = 0.005
"""Seconds the owner's thread keeps the socket after its receive returned: data that
comes meanwhile waits that long at most before the loop reads it."""
_POLLIN: Final = getattr(select, "POLLIN", 1)  # no poll() on Windows: SELF_SERVE is off there


class _OwnerBuffer(threading.local):
    """Each owner thread's read buffer (pages are only resident once used)."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(OWNER_RECV_SIZE))


_buffers: Final = _OwnerBuffer()


class OwnerReads(SocketIOPart):
    """`SocketIO` as a `gunpy.actors.Source` of its owner's Mailbox (see the module doc)."""

    if TYPE_CHECKING:  # what else of SocketIO these steps use
        last_received: float
        _traced: bool
        _watch_activity: bool

        def _receive(self, data: bytes) -> list[Event]: ...
        def _reading(self) -> bool: ...
        def _write(self) -> None: ...
        def abort(self, reason: object = "normal", silent: bool = False) -> None: ...

    def _init_owner_reads(self) -> None:
        self.read_lock = threading.Lock()
        """Held for one whole read: recv, feed, delivery (and for the socket's close)."""
        self.owner_box: Mailbox | None = None  # the owner, when a Mailbox may read us
        self.engaged = False  # the owner's thread reads; the loop does not watch READ
        self._serving: Mailbox | None = None  # a thread polls our socket for this mailbox
        self._poller: tuple[int, int, Any] | None = None  # (fd, wake_fd, poll object)
        self.bulk = False  # the last read filled half the buffer: see plain_recv
        self._released_at: float | None = None  # when `disengage` was called
        self._release_timer: LoopTimer | None = None

    def read_for(self, owner: object) -> None:
        """Let ``owner``'s thread read this connection while it waits, if it is a Mailbox.

        The connection actor calls it once the connection is up and again on
        every ``set_owner``.
        """
        box = owner if isinstance(owner, Mailbox) else None
        if self.events.active or self._traced or not SELF_SERVE:
            box = None
        with self.lock:
            old, self.owner_box = self.owner_box, None
            if old is not None:
                old.detach(self)
                if old is not box:  # the old owner's thread no longer reads: the loop does
                    self._give_back()
                    self._wake_server()
            if box is not None and self.stage is not Stage.DONE:
                self.owner_box = box
                box.attach(self)

    def _owner_may_read_next(self) -> bool:
        """Whether the owner's thread could read this socket next (the loop then hands
        over each read's messages before anyone else reads)."""
        box = self.owner_box
        return box is not None and box.self_served

    def _servable(self) -> bool:
        # Under lock.
        return (self.stage is Stage.OPEN and self.sock.__class__ is socket.socket
                and self._abort_reason is None and self.owner_box is not None
                and self._reading())

    # -- the Source protocol, called by the owner's thread -----------------------------

    def engage(self) -> bool:
        """Take the reading over from the loop (or keep it, if the thread still has it);
        False if this connection cannot be read here now."""
        with self.lock:
            if not self._servable():
                self._give_back()
                return False
            self._released_at = None
            if not self.engaged:
                self.engaged = True
                self._set_interest(self._wanted_interest())
        return True

    def serve(self, mailbox: Mailbox, wake_fd: int, timeout: float | None) -> bool:
        """Wait for the socket or ``wake_fd``, at most ``timeout`` seconds; read what came."""
        with self.lock:
            if not (self.engaged and self._servable()):
                self._give_back()
                return False
            sock = self.sock
            assert sock is not None
            fd = sock.fileno()
            self._serving = mailbox  # `_finish` wakes us before it closes the socket
        try:
            poller = self._poller
            if poller is None or poller[0] != fd or poller[1] != wake_fd:
                poll = select.poll()
                poll.register(fd, _POLLIN)
                poll.register(wake_fd, _POLLIN)
                poller = self._poller = (fd, wake_fd, poll)
            ready = poller[2].poll(None if timeout is None else timeout * 1000)
        finally:
            with self.lock:
                self._serving = None
        for ready_fd, _ in ready:
            if ready_fd == fd:
                self._read_as_owner(sock)
                break
        return True

    def disengage(self) -> None:
        """The thread has what it waited for: the loop reads again `RELEASE_AFTER` from
        now, unless the thread waits again before (a loop of receives then costs no
        change of the loop's interest, nor a loop wake-up, per message)."""
        with self.lock:
            if not self.engaged:
                return
            self._released_at = time.monotonic()
            if self._release_timer is None:
                self._release_timer = self.loop.call_later(RELEASE_AFTER, self._release_check)

    def _release_check(self) -> None:
        """In the loop: give the socket back to the loop if the thread has not come back."""
        with self.lock:
            self._release_timer = None
            released = self._released_at
            if not self.engaged or released is None:
                return  # given back already, or the thread waits again (it will call again)
            left = released + RELEASE_AFTER - time.monotonic()
            if left > 0:
                self._release_timer = self.loop.call_later(left, self._release_check)
                return
            self._give_back()

    def _give_back(self) -> None:
        # Under lock.
        self._released_at = None
        if self.engaged:
            self.engaged = False
            if self.stage is Stage.OPEN:
                self._set_interest(self._wanted_interest())

    def _wake_server(self) -> None:
        """Under lock, before the socket closes: a thread polling it looks again."""
        if self._serving is not None:
            self._serving.wake()

    # -- reading ---------------------------------------------------------------------

    def _read_as_owner(self, sock: socket.socket) -> None:
        try:
            with self.read_lock:
                with self.lock:
                    if self.sock is not sock or self.stage is not Stage.OPEN or not self._reading():
                        return  # ended meanwhile (the loop closed it), paused, or over
                self._read_plain(sock, _buffers.view)
        except Exception as exc:  # a bug: it ends the connection, not the owner's receive
            logger.exception("gunpy: reading in the owner's thread failed")
            self.abort(("error", f"{type(exc).__name__}: {exc}"))
            return
        self._kick()  # the loop writes what is left, and ends a connection that ended

    def _read_plain(self, sock: socket.socket, buffer: memoryview) -> None:
        """One read of a plain socket into ``buffer`` (or, after a large one, a bytes
        object of its own), fed to the connection (under `read_lock`)."""
        data, error = plain_recv(sock, buffer, self.bulk)
        if data is not None:
            self.bulk = len(data) >= len(buffer) // 2
            self._take(data, error)

    def _take(self, data: bytes, error: OSError | None) -> None:
        """Feed one read (b"": the peer's EOF, or ``error``) to the connection, write
        its answers and deliver its messages (under `read_lock`)."""
        if self._watch_activity:
            self.last_received = time.monotonic()
        proto = self.proto
        with self.lock:
            if self._abort_reason is not None:
                return  # _settle ends it
            if data:
                events = self._receive(data)
            elif error is not None:
                proto.terminate(socket_error_reason(error))
                events = []
            else:
                events = proto.receive_eof()
            self._write()  # pongs, close replies
        if events:
            self._dispatch(events)
