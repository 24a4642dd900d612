"""`WebSocketSession`: the write side of one upgraded connection, shared by threads.

Frames are written by whichever thread has them: the caller of
``gun.ws_send`` (no hop through the actor's inbox, which is where a naive
actor design loses its time), the socket worker (pongs, close replies) and
the connection actor (keepalive pings, the close of a shutdown). One lock
orders the writes and guards the close state, so nothing follows a close.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from typing import Any, Final, Literal

import pykka

from gunpy.protocol import Ref, encode_frame
from gunpy.protocol._frames import OP_CLOSE, OP_PING, OP_PONG, masked_frame

State = Literal["open", "closing", "closed"]


class CloseSent:
    """Event for the connection actor: a close frame went out (arm ``closing_timeout``)."""

    __slots__ = ("session",)

    def __init__(self, session: WebSocketSession) -> None:
        self.session = session


def encode_frames(frames: object) -> list[tuple[bytes, bool]]:
    """Encode a frame or a list of frames; a close ends the list, as in Gun.

    Raises FrameError, before anything is sent, if any frame is not valid.
    """
    items = frames if isinstance(frames, list) else [frames]
    encoded = []
    for frame in items:
        wire, is_close = encode_frame(frame)
        encoded.append((wire, is_close))
        if is_close:
            break
    return encoded


def socket_error_reason(exc: BaseException) -> object:
    """Gun's reason for a socket failure: ``("error", "econnreset")`` and the like."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return ("error", "timeout")
    number = getattr(exc, "errno", None)
    if isinstance(number, int) and number in errno.errorcode:
        if number in (errno.EAGAIN, errno.EWOULDBLOCK):
            return ("error", "timeout")  # SO_SNDTIMEO expired: Gun's send_timeout
        return ("error", errno.errorcode[number].lower())
    return ("error", str(exc) or type(exc).__name__)


class WebSocketSession:
    """The live WebSocket stream ``ref`` on ``sock``; its state is open, closing, closed."""

    def __init__(
        self,
        conn: object,
        ref: Ref,
        sock: socket.socket,
        actor_ref: pykka.ActorRef[Any],
        closing_timeout: object,
    ) -> None:
        self.conn = conn
        self.ref = ref
        self.sock = sock
        self.actor_ref = actor_ref
        self.closing_timeout = closing_timeout
        self.lock: Final = threading.Lock()
        self.state: State = "open"
        self.close_received = False
        self.loss_reason: object = None  # why we cut the connection, for the reader to report
        self.last_received = time.monotonic()  # for ws_opts.keepalive_timeout

    def send_encoded(self, encoded: list[tuple[bytes, bool]]) -> bool:
        """Write frames encoded by `encode_frames`; False if the session is not open."""
        with self.lock:
            if self.state != "open":
                return False
            for wire, is_close in encoded:
                if not self._write(wire):
                    break
                if is_close:
                    self.state = "closing" if not self.close_received else "closed"
                    break
            else:
                return True
        if self.state != "open":
            self._tell(CloseSent(self))
        return True

    def send_control(self, opcode: int, payload: bytes) -> None:
        """Write a ping or pong if the session is open (no frame may follow our close)."""
        with self.lock:
            if self.state == "open":
                self._write(masked_frame(payload, opcode))

    def close(self, code: int | None, tell_actor: bool = True) -> bool:
        """Send a close frame with ``code`` (empty if None) unless one was sent already.

        Returns True if this call sent it. Answering the peer's close uses this
        too: then the session is closed at once and nobody waits for a reply.
        """
        payload = b"" if code is None else code.to_bytes(2, "big")
        with self.lock:
            if self.state != "open":
                return False
            self.state = "closed" if self.close_received else "closing"
            self._write(masked_frame(payload, OP_CLOSE))
        if tell_actor and self.state == "closing":
            self._tell(CloseSent(self))
        return True

    def ping(self) -> None:
        """Send an empty ping (``ws_opts.keepalive``)."""
        self.send_control(OP_PING, b"")

    def pong(self, payload: bytes) -> None:
        """Answer a ping with the same payload."""
        self.send_control(OP_PONG, payload)

    def _write(self, wire: bytes) -> bool:
        if self.loss_reason is not None:
            return False
        try:
            self.sock.sendall(wire)
        except OSError as exc:
            # The socket worker reports the loss: wake it with the reason recorded.
            self.loss_reason = socket_error_reason(exc)
            self.abort()
            return False
        return True

    def declare_dead(self, reason: object) -> None:
        """Cut the connection and have the worker report ``reason`` (keepalive_timeout)."""
        if self.loss_reason is None:
            self.loss_reason = reason
        self.abort()

    def abort(self) -> None:
        """Cut the TCP connection; the socket worker wakes up and reports it."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def _tell(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(message)
