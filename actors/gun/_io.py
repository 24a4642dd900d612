"""`SocketIO`: the thread that moves one connection attempt's bytes.

It resolves, connects and does the TLS handshake (reporting each phase to
the connection actor), then loops: recv -> feed the `ClientConnection` ->
write what it has to send -> deliver its events. It decides nothing: every
rule is in the sans-I/O connection, which it only touches under `lock`.

Frames go straight from this thread to the stream's reply_to, all frames
of one read in one delivery, with no actor hop; state changes (upgraded,
closing, closed) go to the actor as events.

One write path per socket: whoever has bytes for the socket (a caller of
``ws_send``, this thread's pongs and close replies, the actor's pings and
closes) queues them in the connection under `lock`, in order, then calls
`_flush`: one writer at a time drains the queue, and a thread that finds
another one writing leaves its bytes to it. So frames are never reordered,
and this thread never blocks on a peer that does not read.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

from gunpy.actors._mailbox import batch_sender_for, sender_for
from gunpy.actors.gun._commands import (
    AttemptFailed,
    Closed,
    ClosingStarted,
    Connected,
    Phase,
    WsUp,
)
from gunpy.actors.gun._transport import (
    Aborted,
    TlsStream,
    apply_tcp_opts,
    attempt_reason,
    connect_abortably,
    seconds,
    send_timeout_of,
    socket_error_reason,
    tls_context,
    traced,
    traced_batch,
)
from gunpy.protocol import (
    ClientConnection,
    CloseSent,
    ConnState,
    Deliver,
    Event,
    OpenOptions,
    SendOutcome,
    Upgraded,
)
from gunpy.protocol._handshake import host_header

RECV_SIZE = 262144  # few reads per large frame; malloc soon serves this size from its heap
THREAD_PREFIX = "gunpy-io-"


_NOBODY = object()


def _drop(messages: list[Any]) -> None:
    """The sender before the first delivery (never called)."""


class SocketIO(threading.Thread):
    """The I/O of one connection attempt (see the module doc)."""

    def __init__(
        self, actor_ref: pykka.ActorRef[Any], conn: Any, host: str, port: int, opts: OpenOptions
    ) -> None:
        super().__init__(name=f"{THREAD_PREFIX}{conn.number}", daemon=True)
        self.actor_ref = actor_ref
        self.conn = conn
        self.host = host
        self.port = port
        self.opts = opts
        self.lock = threading.Lock()
        self._credit = threading.Condition(self.lock)  # flow control waits here
        self._write_lock = threading.Lock()
        self.proto = ClientConnection(
            conn,
            host_header(host, port, opts.transport),
            (opts.transport, host, port),
            opts.cookie_store,
        )
        self.sock: socket.socket | None = None
        self._stream: TlsStream | None = None  # TLS: one SSL call at a time
        self.last_received = time.monotonic()  # for ws_opts.keepalive_timeout
        self._abort_reason: object = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        # The reply_to of the last delivery and its sender, looked up once per stream.
        self._last: tuple[object, Callable[[list[Any]], None]] = (_NOBODY, _drop)

    # -- called from other threads ---------------------------------------------------

    def call(self, action: Callable[[ClientConnection], list[Event] | None]) -> None:
        """Run ``action`` on the connection under the lock, then write and report."""
        with self.lock:
            events = action(self.proto)
            ended = self.proto.state is ConnState.CLOSED
            to_send = self.proto.has_data_to_send
        if to_send:
            self._flush()
        if ended:
            self.abort(self.proto.close_reason)  # wake the reader: it reports the end
        if events:
            self._dispatch(events)

    def send_frames(self, encoded: list[tuple[bytes, bool]]) -> SendOutcome:
        """``ws_send``'s direct path: queue frames and write them from the calling thread."""
        with self.lock:
            outcome = self.proto.send_frames(encoded)
            closing_timeout = self.proto.closing_timeout
        if outcome is SendOutcome.SENT or outcome is SendOutcome.CLOSE_SENT:
            self._flush()
            if outcome is SendOutcome.CLOSE_SENT:
                self._tell(ClosingStarted(self, closing_timeout))
        return outcome

    def update_flow(self, increment: int) -> None:
        """Add flow credit; reading resumes once it is positive."""
        with self.lock:
            if self.proto.update_flow(increment):
                self._credit.notify_all()

    def describe(self) -> tuple[str, str]:
        """Gun's ``state_name`` and ``protocol`` of this connection, read now."""
        with self.lock:
            return self.proto.state.state_name.value, self.proto.protocol

    def abort(self, reason: object = "normal") -> None:
        """End the connection with ``reason``: cut the socket and wake this thread."""
        with self.lock:
            if self._abort_reason is None:
                self._abort_reason = reason
            self._credit.notify_all()
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(OSError):
                wake.send(b"\0")

    # -- the thread -------------------------------------------------------------------

    def run(self) -> None:
        try:
            sock = self._connect()
        except Aborted:
            self._close_socket()
            return
        except Exception as exc:
            self._close_socket()
            self._tell(AttemptFailed(self, attempt_reason(exc)))
            return
        self._tell(Connected(self, sock.getsockname()))
        try:
            self._serve(sock)
        except Exception as exc:  # a bug: end the connection rather than hang it
            with self.lock:
                self.proto.terminate(("error", f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            with self.lock:
                self.proto.terminate("normal")  # no-op unless the loop broke off
                proto = self.proto
                closed = Closed(self, proto.protocol, proto.close_reason, proto.killed_streams())
            self._close_socket()
            self._tell(closed)

    def _connect(self) -> socket.socket:
        opts = self.opts
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        if self._abort_reason is not None:
            raise Aborted
        self._tell(Phase(self, "connecting"))
        timeout = seconds(opts.connect_timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        error: Exception = OSError(errno.EHOSTUNREACH, "no address")
        self._wake_r, self._wake_w = socket.socketpair()
        try:
            for family, type_, proto, _, address in infos:
                sock = socket.socket(family, type_, proto)
                self.sock = sock
                try:
                    connect_abortably(sock, address, deadline, self._wake_r, self._aborting)
                except Aborted:
                    raise
                except Exception as exc:
                    error = exc
                    self.sock = None
                    sock.close()
                    continue
                apply_tcp_opts(sock, opts.tcp_opts)
                if opts.transport == "tls":
                    self._tell(Phase(self, "initial_tls_handshake"))
                    sock = self._tls_handshake(sock)
                return sock
            raise error
        finally:
            wake_r, wake_w = self._wake_r, self._wake_w
            self._wake_r = self._wake_w = None
            wake_r.close()
            wake_w.close()

    def _aborting(self) -> bool:
        return self._abort_reason is not None

    def _tls_handshake(self, sock: socket.socket) -> socket.socket:
        ctx = tls_context(self.opts)
        server_name = self.opts.tls_opts.get("server_name_indication", self.host)
        tls = ctx.wrap_socket(
            sock,
            server_hostname=None if server_name == "disable" else server_name,
            do_handshake_on_connect=False,
        )
        self.sock = tls
        tls.settimeout(seconds(self.opts.tls_handshake_timeout))
        tls.do_handshake()
        tls.settimeout(None)
        self._stream = TlsStream(tls, send_timeout_of(self.opts.tcp_opts))
        if self._abort_reason is not None:
            raise Aborted
        return tls

    def _serve(self, sock: socket.socket) -> None:
        """recv -> feed -> write -> deliver, until the connection is CLOSED."""
        recv = self._stream.recv if self._stream is not None else sock.recv
        proto = self.proto
        receive_data = proto.receive_data
        watch_activity = self.opts.ws_opts.keepalive_timeout != "infinity"
        closed = ConnState.CLOSED
        while True:
            error: OSError | None = None
            try:
                data = recv(RECV_SIZE)
            except OSError as exc:
                data, error = b"", exc
            if watch_activity:
                self.last_received = time.monotonic()
            with self.lock:
                if self._abort_reason is not None:
                    proto.terminate(self._abort_reason)
                    events: list[Event] = []
                elif data:
                    events = receive_data(data)
                elif error is not None:
                    proto.terminate(socket_error_reason(error))
                    events = []
                else:
                    events = proto.receive_eof()
                to_send = proto.has_data_to_send
            if to_send:  # pongs, close replies
                self._flush()
            if events:
                self._dispatch(events)
            if proto.state is closed:
                return
            if proto.reading_paused:
                with self.lock:  # Gun's {active, false}: the owner has no credit left
                    while proto.reading_paused and self._abort_reason is None:
                        self._credit.wait()

    # -- writing and delivering ------------------------------------------------------

    def _flush(self) -> None:
        """Write what the connection has queued; leave it to a writer already at work.

        The writer gives the write lock back while it holds `lock` and has
        found nothing more to write, so bytes queued by another thread are
        either seen by it or find the write lock free.
        """
        if not self._write_lock.acquire(blocking=False):
            return  # the writer at work writes ours too
        proto = self.proto
        while True:
            with self.lock:
                data = proto.data_to_send()
                sock = self.sock
                if not data or sock is None or self._abort_reason is not None:
                    self._write_lock.release()
                    return
            try:
                self._sendall(sock, data)
            except OSError as exc:
                self._write_lock.release()
                self.abort(socket_error_reason(exc))
                return

    def _sendall(self, sock: socket.socket, data: bytes) -> None:
        stream = self._stream
        if stream is not None:
            stream.sendall(data)
        else:
            sock.sendall(data)

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if event.__class__ is Deliver:
                to, messages = event
                last = self._last  # one attribute: other threads may deliver too
                if last[0] is not to:
                    last = self._last = (to, self._sender(to))
                last[1](messages)
            elif isinstance(event, Upgraded):
                self._tell(WsUp(self, event.ref))
            elif isinstance(event, CloseSent):
                self._tell(ClosingStarted(self, event.closing_timeout))

    def _sender(self, to: object) -> Callable[[list[Any]], None]:
        if self.opts.trace:
            return traced_batch(traced(sender_for(to)))
        return batch_sender_for(to)  # all the messages of one read, one wake-up

    def _close_socket(self) -> None:
        """Close the socket once the last bytes are written (an abort cuts them short)."""
        sock = self.sock
        if sock is None:
            return
        if self._abort_reason is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # a writer blocked in sendall wakes up
        # No writer may touch the fd once closed (it may be reused at once), and
        # a writer at work still has our last frames (a close reply) to write.
        with self._write_lock:
            with self.lock:
                data = self.proto.data_to_send()
            with contextlib.suppress(OSError):
                if data and self._abort_reason is None:
                    self._sendall(sock, data)
                sock.close()
            self.sock = None

    def _tell(self, event: object) -> None:
        try:
            self.actor_ref.tell(event)
        except pykka.ActorDeadError:
            self.abort()  # nobody is left to hear of this connection
