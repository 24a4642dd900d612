"""Writing a connection's bytes, as a part of `SocketIO` (its base class).

Whoever has bytes for the socket (a ``ws_send`` caller, the loop's pongs and
close replies, the actor's pings) queues them in the connection under
`lock` and writes them at once if nothing waits before them; what the socket
does not take waits in the `OutBuffer` for the loop to see it writable. So
frames are never reordered and nobody blocks on a peer that does not read,
except a ``ws_send`` caller while the buffer holds `OUT_BUFFER_LIMIT` bytes;
and ``send_timeout`` ends a connection whose peer takes nothing for that long.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Final

from gunpy.actors._io_loop import LoopTimer
from gunpy.actors.gun._attempt import Stage
from gunpy.actors.gun._commands import ClosingStarted
from gunpy.actors.gun._out_buffer import OUT_BUFFER_LIMIT, SEND_CHUNK, OutBuffer
from gunpy.actors.gun._part import SocketIOPart
from gunpy.actors.gun._transport import socket_error_reason
from gunpy.protocol import EncodedFrame, SendOutcome
from gunpy.protocol._tls_layer import TlsLayer

if TYPE_CHECKING:
    from gunpy.actors.gun._io import SocketIO

DRAIN_TIMEOUT: Final = 5.0
"""Seconds to write the last bytes (a close reply) when send_timeout is infinity."""


class WriteSteps(SocketIOPart):
    """The writing side of `SocketIO` (see the module doc)."""

    if TYPE_CHECKING:  # what else of SocketIO these steps use
        out: OutBuffer
        tunnel_tls: TlsLayer | None
        _room: threading.Condition
        room_waiters: int
        _last_progress: float
        _send_timer: LoopTimer | None
        _send_timeout: float | None

        @property
        def _me(self) -> SocketIO: ...

    def send_frames(self, encoded: list[EncodedFrame]) -> SendOutcome:
        """``ws_send``'s direct path: queue frames and write them from the calling thread.

        While `OUT_BUFFER_LIMIT` bytes wait unwritten the caller waits for room
        (the loop writes them as the peer reads), at most until ``send_timeout``
        ends the connection; then the frames are refused (NOT_OPEN).
        """
        with self.lock:
            if self.out.size >= OUT_BUFFER_LIMIT and not self.loop.in_loop():
                while (self.out.size >= OUT_BUFFER_LIMIT and self.stage is Stage.OPEN
                       and self._abort_reason is None):
                    self.room_waiters += 1
                    try:
                        self._room.wait()
                    finally:
                        self.room_waiters -= 1
            outcome = self.proto.send_frames(encoded)
            sent = outcome is SendOutcome.SENT or outcome is SendOutcome.CLOSE_SENT
            if sent:
                self._write()
                # The common case, all written at once, leaves nothing for the loop to do.
                behind = self.out.size > 0 or self._abort_reason is not None
            else:
                behind = False
            if outcome is SendOutcome.CLOSE_SENT:
                closing_timeout = self.proto.closing_timeout
        if behind:
            self._kick()
        if self.events.active and sent:  # outside the lock: a callback may call gun
            self._dispatch(self.proto.sent_frame_events(encoded))
        if outcome is SendOutcome.CLOSE_SENT:
            self._tell(ClosingStarted(self._me, closing_timeout))
        return outcome


    def _write(self) -> None:
        """Queue what the connection has to send; write now if nothing waits before it."""
        data = self.proto.data_to_send()
        layer = self.tunnel_tls
        if layer is not None:  # through the tunnel's TLS (its handshake records too)
            if data:
                layer.send(data)
            data = layer.data_to_send()
        if not data or (self.stage is not Stage.OPEN and self.stage is not Stage.DRAINING):
            return  # not connected yet (nothing to send) or gone (nothing to send to)
        sock = self.sock
        if self.out.size == 0 and len(data) <= SEND_CHUNK and sock.__class__ is socket.socket:
            # The common case: nothing waits and the socket takes it all in one call
            # (TLS sockets go through the OutBuffer, which retries them as OpenSSL asks).
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                if self._abort_reason is None:
                    self._abort_reason = socket_error_reason(exc)
                return
            if sent == len(data):
                return
            data = data[sent:]
        was_empty = not self.out
        self.out.append(data)
        if was_empty:
            self._flush()
            if self.out:  # the socket is full: send_timeout counts from now
                self._last_progress = time.monotonic()

    def _flush(self) -> None:
        """Write from the out-buffer as far as the socket takes it (under lock)."""
        try:
            if self.out.write(self.sock) and self.out:
                self._last_progress = time.monotonic()  # for send_timeout: some went out
        except OSError as exc:
            self.out.clear()
            if self._abort_reason is None:
                self._abort_reason = socket_error_reason(exc)
        if self.out.size < OUT_BUFFER_LIMIT:
            self._wake_writers()


    def _watch_send(self) -> None:
        """send_timeout: end the connection once the peer took nothing for that long."""
        if self._send_timer is not None:
            return
        limit = self._send_timeout
        if limit is None:
            limit = DRAIN_TIMEOUT if self.stage is Stage.DRAINING else None
        if limit is None:
            return
        wait = max(self._last_progress + limit - time.monotonic(), 0.0)
        self._send_timer = self.loop.call_later(wait, self._send_check, limit)

    def _send_check(self, limit: float) -> None:
        self._send_timer = None
        with self.lock:
            if not self.out:
                return
            stalled = time.monotonic() - self._last_progress >= limit
            if stalled and self._abort_reason is None:
                self._abort_reason = ("error", "timeout")  # Gun: send_timeout, then close
        self._settle()

    def _wake_writers(self) -> None:
        """Under lock: ``ws_send`` callers waiting for room look again (if any wait;
        a Python Condition's notify costs a microsecond even with nobody to wake)."""
        if self.room_waiters:
            self._room.notify_all()
