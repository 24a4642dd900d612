"""`SocketIO`: one connection attempt's socket, served by the process-wide I/O loop.

It is a loop handler, not a thread (the steps before the connection is up
are its base, `AttemptSteps` in ``_attempt``): the loop (``gunpy.actors._io_loop``)
calls it when its socket is ready, and it resolves (off the loop), connects,
does the TLS handshake, then for each read feeds the sans-I/O
`ClientConnection` and writes what that has to send. It decides nothing:
every rule is in the connection, which it only touches under `lock`.

    LOOKUP -> CONNECTING -> TLS -> OPEN -> DRAINING -> DONE

Frames go straight from the loop to the stream's reply_to, all frames of
one read in one delivery, with no actor hop; phases and state changes
(connected, upgraded, closing, closed) go to the actor as events.

Its parts are mixins, each a module: `AttemptSteps` (``_attempt``: lookup,
connect, TLS), `WriteSteps` (``_writes``: writing without blocking, the
out-buffer, ``send_timeout``), `TunnelIO` (``_tunnel_io``: TLS inside a
proxy tunnel) and `OwnerReads` (``_owner_reads``: a Mailbox owner's thread
reads the socket itself while it waits).
"""

from __future__ import annotations

import contextlib
import errno
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

from gunpy.actors._io_loop import READ, WRITE, AddrInfo, LoopTimer, io_loop, numeric_address
from gunpy.actors._mailbox import sender_for
from gunpy.actors.gun._attempt import AttemptSteps, Stage, tls_recv
from gunpy.actors.gun._commands import Closed, ClosingStarted, NotTaken, TunnelIsUp, WsUp
from gunpy.actors.gun._event_sink import EventSink
from gunpy.actors.gun._out_buffer import OutBuffer
from gunpy.actors.gun._owner_reads import OwnerReads
from gunpy.actors.gun._transport import (
    send_timeout_of,
    traced,
    traced_batch,
)
from gunpy.actors.gun._tunnel_io import TunnelIO
from gunpy.actors.gun._writes import WriteSteps
from gunpy.protocol import (
    ClientConnection,
    CloseSent,
    ConnState,
    Deliver,
    Event,
    Notify,
    OpenOptions,
    Refused,
    TunnelUp,
    Upgraded,
)
from gunpy.protocol._handshake import host_header
from gunpy.protocol._tls_layer import TlsLayer

RECV_SIZE = 262144  # one read per turn: bounded work per socket, few reads per large frame
# The loop thread's reads share one buffer (an owner's thread has its own): a
# small read costs a copy of what came, not a RECV_SIZE allocation.
_RECV_BUFFER = memoryview(bytearray(RECV_SIZE))


class SocketIO(AttemptSteps, TunnelIO, OwnerReads, WriteSteps):
    """The I/O of one connection attempt (see the module doc)."""

    def __init__(
        self, actor_ref: pykka.ActorRef[Any], conn: Any, host: str, port: int, opts: OpenOptions,
        events: EventSink | None = None,
    ) -> None:
        self.actor_ref = actor_ref
        self.events = events or EventSink(None)
        self.conn = conn
        self.host = host
        self.port = port
        self.opts = opts
        self.loop = io_loop
        self.lock = threading.Lock()
        self._room = threading.Condition(self.lock)  # ws_send waits here for buffer room
        self.room_waiters = 0  # ... this many of them
        origin = (opts.transport, host, port)
        if opts.socks is not None:  # requests go to the SOCKS5 destination
            dest = opts.socks.destination
            origin = (dest.transport, dest.host, dest.port)
        self.proto = ClientConnection(
            conn,
            "localhost" if opts.unix_path else host_header(origin[1], origin[2], origin[0]),
            origin,
            opts.cookie_store,
            opts.http_opts,
            opts.socks,
            notify=self.events.active,
        )
        self.tunnel_tls: TlsLayer | None = None  # the origin's TLS inside a tunnel
        self._tunnel_timer: LoopTimer | None = None
        self.sock: socket.socket | None = None
        self.stage = Stage.LOOKUP
        self.out = OutBuffer()
        self.last_received = time.monotonic()  # for ws_opts.keepalive_timeout
        self._watch_activity = opts.ws_opts.keepalive_timeout != "infinity"
        self._send_timeout = send_timeout_of(opts.tcp_opts)
        self._last_progress = 0.0
        self._abort_reason: object = None
        self._silent = False
        self._settling = False  # a _settle is queued on the loop
        self._interest = 0
        self._tls_interest = READ  # what the TLS handshake waits for
        self._phase_timer: LoopTimer | None = None  # connect_timeout, tls_handshake_timeout
        self._send_timer: LoopTimer | None = None
        self._addresses: list[tuple[Any, ...]] = []
        self._error: BaseException = OSError(errno.EHOSTUNREACH, "no address")
        self._done = threading.Event()
        self._traced = opts.trace
        self._init_owner_reads()
        self._known_address: list[AddrInfo] | None = (
            [(socket.AF_UNIX, socket.SOCK_STREAM, 0, "", opts.unix_path)]
            if opts.unix_path is not None else numeric_address(host, port))

    # -- called from other threads ---------------------------------------------------

    @property
    def needs_lookup(self) -> bool:
        """False when the address is known without ``getaddrinfo`` (an IP, a Unix path).

        Only an attempt that needs a lookup tells the actor `Phase`
        ``"connecting"`` when it is done; the others start in connecting.
        """
        return self._known_address is None

    def start(self) -> None:
        """Begin the attempt: resolve, then connect on the loop."""
        self.loop.start()
        if self._known_address is not None:
            self.loop.call_soon(self._resolved, self._known_address)
        else:
            self.loop.resolve(self.host, self.port, self._resolved)

    def call(self, action: Callable[[ClientConnection], list[Event] | None]) -> None:
        """Run ``action`` on the connection under the lock, then write and report."""
        with self.lock:
            events = action(self.proto)
            self._write()
            self.proto.prepare_reading()  # after the write: while the server answers
        if events:
            self._dispatch(events)  # before the loop may read on: they come first
        self._kick()

    def update_flow(self, ref: Any, increment: int) -> None:
        """Add flow credit to stream ``ref``; the loop reads again once it is positive."""
        self.call(lambda proto: proto.update_flow(ref, increment))

    def stream_info(self, ref: Any) -> dict[str, Any] | None:
        """Gun's ``stream_info`` of ``ref`` on this connection, read now."""
        with self.lock:
            return self.proto.stream_info(ref)

    def describe(self) -> tuple[str, str]:
        """Gun's ``state_name`` and ``protocol`` of this connection, read now."""
        with self.lock:
            return self.proto.state.state_name.value, self.proto.protocol

    def abort(self, reason: object = "normal", silent: bool = False) -> None:
        """End the connection now with ``reason``: unwritten bytes are dropped.

        ``silent`` (``gun.close``, the actor's end): no stream hears of it,
        as when Gun's process is killed.
        """
        with self.lock:
            if self._abort_reason is None:
                self._abort_reason = reason
            self._silent = self._silent or silent
            self._wake_writers()
        self._kick(force=True)

    def wait_closed(self, timeout: float) -> bool:
        """Wait until the socket is closed and the attempt is over; False on timeout."""
        return self._done.wait(timeout)

    def _kick(self, force: bool = False) -> None:
        """Have the loop catch up with a change made outside it (interest, the end)."""
        if self.loop.in_loop():
            return  # the loop settles after every turn
        with self.lock:
            wanted = self._wanted_interest()
            if not force and wanted == self._interest and not self._ending():
                return
            if self._settling:
                return
            self._settling = True
        self.loop.call_soon(self._settle)

    # -- the loop side ---------------------------------------------------------------

    def on_ready(self, mask: int) -> None:
        if self._abort_reason is not None:
            self._settle()  # cut: no more reading or writing
            return
        stage = self.stage
        if stage is Stage.OPEN or stage is Stage.DRAINING:
            if mask & WRITE:
                with self.lock:
                    self._flush()
            if mask & READ and stage is Stage.OPEN:
                self._read()
        elif stage is Stage.CONNECTING:
            self._connect_done()
        elif stage is Stage.TLS:
            self._handshake()
        self._settle()

    def on_again(self) -> None:
        if self.stage is Stage.OPEN and not self.proto.reading_paused:
            self._read()
        self._settle()

    def on_crash(self, exc: BaseException) -> None:
        """A bug in the handler: end the connection rather than hang it."""
        with self.lock:
            self.proto.terminate(("error", f"{type(exc).__name__}: {exc}"))
            self.out.clear()
        if self.stage in (Stage.LOOKUP, Stage.CONNECTING, Stage.TLS):
            self._fail(exc)
        else:
            self._finish()

    def _read(self) -> None:
        """One read (at most `RECV_SIZE`), fed to the connection; then write, deliver."""
        if not self.read_lock.acquire(blocking=False):
            return  # the owner's thread is reading (see _owner_reads)
        try:
            if not self._reading():
                return  # paused or over since this turn's select (a read of the owner's)
            sock = self.sock
            assert sock is not None
            if isinstance(sock, ssl.SSLSocket):
                with self.lock:  # one SSL call at a time: writers use the same SSL object
                    data, error, more = tls_recv(sock, RECV_SIZE)
                if more:
                    self.loop.again(self)
                if data is not None:
                    self._take(data, error)
            else:
                self._read_plain(sock, _RECV_BUFFER)
            if self._owner_may_read_next():
                self.loop.flush_deliveries()  # before the owner's own read delivers
        finally:
            self.read_lock.release()

    def _settle(self) -> None:
        """After any change: end the connection if it is over, else watch what it needs."""
        with self.lock:
            self._settling = False
            ending = self._ending()
            if ending and self._abort_reason is not None:
                self.proto.terminate(self._abort_reason)
                self.out.clear()
            if self.stage is Stage.OPEN and self.proto.state is ConnState.CLOSED:
                self.stage = Stage.DRAINING
                self._wake_writers()
            stage, pending = self.stage, bool(self.out)
        if ending and (stage in (Stage.LOOKUP, Stage.CONNECTING, Stage.TLS)):
            self._finish()  # the actor gave up on the attempt: no event
            return
        if stage is Stage.DRAINING and not pending:
            self._finish()
            return
        if pending:
            self._watch_send()
        with self.lock:  # the owner's thread may change it too (engage)
            mask = self._wanted_interest()
            self._set_interest(mask)
        sock = self.sock
        if mask & READ and isinstance(sock, ssl.SSLSocket):
            with self.lock:
                buffered = sock.pending()
            if buffered:
                self.loop.again(self)  # decrypted bytes the socket will not signal

    def _ending(self) -> bool:
        return self._abort_reason is not None or (
            self.stage is Stage.OPEN and self.proto.state is ConnState.CLOSED
        )

    def _wanted_interest(self) -> int:
        stage = self.stage
        if self.sock is None or stage is Stage.LOOKUP or stage is Stage.DONE:
            return 0
        if stage is Stage.CONNECTING:
            return WRITE
        if stage is Stage.TLS:
            return self._tls_interest
        mask = WRITE if self.out else 0
        if stage is Stage.OPEN and self._reading() and not self.engaged:  # engaged: the owner reads
            mask |= READ
        return mask

    def _reading(self) -> bool:
        """Whether the connection reads its socket now (loop or owner): not paused by
        flow control (Gun's ``{active, false}`` until update_flow), and not over (the
        peer's EOF or a fault closed it: the socket stays readable until `_settle`
        ends the connection, and reading it again would only read the EOF again)."""
        proto = self.proto
        return not proto.reading_paused and proto.state is not ConnState.CLOSED

    def _set_interest(self, mask: int) -> None:
        if mask != self._interest and self.sock is not None:
            self.loop.set_interest(self.sock, self, self._interest, mask)
            self._interest = mask

    # -- the end ---------------------------------------------------------------------

    def _finish(self, tell: bool = True) -> None:
        """Close the socket, stop the timers; a connection that was up reports `Closed`
        unless it ended silently (then its actor is ending and hears nothing)."""
        if self.stage is Stage.DONE:
            return
        was_up = self.stage is Stage.OPEN or self.stage is Stage.DRAINING
        self._cancel_phase_timer()
        self._cancel_tunnel_timer()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        with self.lock:  # from here on no writer touches the socket: its fd may be reused
            self.stage = Stage.DONE
            self.out.clear()
            self._wake_writers()
            self._wake_server()  # an owner's thread polling the socket looks again
            if self.owner_box is not None:
                self.owner_box.detach(self)
                self.owner_box = None
            self.proto.terminate(self._abort_reason or "normal")  # no-op once CLOSED
            # Silent: the actor is ending (gun.close, terminate) and hears of nothing.
            tell = tell and was_up and not self._silent
            if tell:
                proto = self.proto
                closed = Closed(self, proto.protocol, proto.close_reason,
                                proto.killed_streams())
                last_words = proto.close_streams()
        self._release_socket()
        self._done.set()
        if tell:
            self._dispatch(last_words)  # Gun's closed errors, before gun_down
            self._tell(closed)

    def _release_socket(self, close: bool = True) -> None:
        # Under read_lock: no owner's thread is in recv on this descriptor.
        with self.read_lock, self.lock:
            sock, self.sock = self.sock, None
            if sock is None:
                return
            if self._interest:
                self.loop.forget(sock)
                self._interest = 0
            if close:
                with contextlib.suppress(OSError):
                    sock.close()

    def _cancel_phase_timer(self) -> None:
        if self._phase_timer is not None:
            self._phase_timer.cancel()
            self._phase_timer = None

    # -- delivering ------------------------------------------------------------------

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if event.__class__ is Deliver:
                to, messages = event
                if self._traced:
                    traced_batch(traced(sender_for(to)))(messages)
                else:  # from the loop: with the turn's others, in one wake-up
                    self.loop.deliver(to, messages)
            elif event.__class__ is Notify:
                self.events.emit(event.name, event.event)
            elif isinstance(event, Upgraded):
                self._tell(WsUp(self, event.ref))
            elif isinstance(event, CloseSent):
                self._tell(ClosingStarted(self, event.closing_timeout))
            elif isinstance(event, Refused):
                self._tell(NotTaken(self, event.command))
            elif isinstance(event, TunnelUp):
                if event.ref is None:  # SOCKS: connect_timeout bounded the handshake
                    self.loop.call_soon(self._cancel_phase_timer)
                self._tell(TunnelIsUp(self, event.ref, event.reply_to, event.protocol))

    def _tell(self, event: object) -> None:
        if self.loop.in_loop():
            self.loop.flush_deliveries()  # what was delivered first arrives first
        try:
            self.actor_ref.tell(event)
        except pykka.ActorDeadError:
            self.abort()  # nobody is left to hear of this connection
