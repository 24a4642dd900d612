"""`SocketWorker`: the one thread that blocks on a connection's socket.

Each connection attempt gets a worker. It resolves, connects, does the TLS
handshake, then waits (HTTP, idle) until an upgrade is asked for or the
server goes away; websocket-client performs the upgrade over the worker's
socket. Once upgraded it reads frames and hands them straight to the
stream's ``reply_to``: the frame path is socket -> parser -> mailbox, with
no actor hop. Everything else goes to the connection actor as events, so
the actor's thread never blocks and answers ``info``, ``shutdown`` and
``close`` at any time. A worker ends by reporting `Closed` (or
`AttemptFailed`), after it has closed its socket.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import queue
import select
import socket
import threading
import time
from typing import Any

import pykka
import websocket

from gunpy.actors._events import (
    AttemptFailed,
    Closed,
    Connected,
    Phase,
    ProtocolFault,
    Upgrade,
    Upgraded,
)
from gunpy.actors._mailbox import Mailbox, batch_sender_for, sender_for
from gunpy.actors._session import WebSocketSession, socket_error_reason
from gunpy.actors._transport import (
    WORKER_THREAD_PREFIX,
    Aborted,
    apply_tcp_opts,
    attempt_reason,
    connect_abortably,
    deliver_refusal,
    idle_read,
    isolate_from_websocket_client_cookie_jar,
    seconds,
    tls_context,
    traced,
    traced_batch,
)
from gunpy.protocol import (
    FrameParser,
    HandshakeError,
    OpenOptions,
    Ref,
    WsOptions,
    check_upgrade_response,
    gun_stream_error,
    gun_upgrade,
    gun_ws,
    host_header,
)
from gunpy.protocol._cookies import cookie_header, request_url, store_cookies

isolate_from_websocket_client_cookie_jar()

RECV_SIZE = 262144  # few reads per large frame; malloc soon serves this size from its heap


class SocketWorker(threading.Thread):
    """Connects, upgrades and reads for one connection attempt (see the module doc)."""

    def __init__(
        self,
        actor_ref: pykka.ActorRef[Any],
        conn: Any,
        host: str,
        port: int,
        opts: OpenOptions,
    ) -> None:
        super().__init__(name=f"{WORKER_THREAD_PREFIX}{conn.number}", daemon=True)
        self.actor_ref = actor_ref
        self.conn = conn
        self.host = host
        self.port = port
        self.opts = opts
        self.commands: queue.SimpleQueue[Upgrade] = queue.SimpleQueue()
        self.session: WebSocketSession | None = None
        self.sock: socket.socket | None = None
        self.upgrading: Ref | None = None
        self._aborted = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._flow_cond = threading.Condition(threading.Lock())
        self._credit: int | None = None

    # -- called from other threads ----------------------------------------------

    def upgrade(self, command: Upgrade) -> None:
        """Queue an upgrade (from the connection actor)."""
        self.commands.put(command)
        self._wake()

    def abort(self) -> None:
        """Stop the worker: cut the socket and wake whatever it is blocked on."""
        self._aborted = True
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._wake()
        with self._flow_cond:
            self._flow_cond.notify_all()

    def update_flow(self, increment: int) -> None:
        """Add flow credit (``gun.update_flow``); a no-op without ``ws_opts.flow``."""
        with self._flow_cond:
            if self._credit is not None:
                self._credit += increment
                if self._credit > 0:
                    self._flow_cond.notify_all()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # -- the thread -----------------------------------------------------------

    def run(self) -> None:
        connected = False
        protocol: str = "http"
        reason: object = "normal"
        try:
            try:
                sock = self._connect()
            except Aborted:
                return
            except Exception as exc:
                self._tell(AttemptFailed(self, attempt_reason(exc)))
                return
            connected = True
            self._tell(Connected(self, sock.getsockname()))
            protocol, reason = self._serve(sock)
        finally:
            session = self.session
            if session is not None:
                # No writer may touch the socket once it is closed (its fd may be reused).
                with session.lock:
                    session.state = "closed"
                if self.conn._session is session:
                    self.conn._session = None
            self._close_all()
            if connected:
                self._tell(Closed(self, protocol, reason, self._killed()))

    def _killed(self) -> list[Ref]:
        killed = [self.session.ref] if self.session is not None else []
        if self.upgrading is not None:
            killed.append(self.upgrading)
        while True:
            try:
                killed.append(self.commands.get_nowait().ref)
            except queue.Empty:
                return killed

    def _close_all(self) -> None:
        for sock in (self.sock, self._wake_r, self._wake_w):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    def _tell(self, event: object) -> None:
        try:
            self.actor_ref.tell(event)
        except pykka.ActorDeadError:
            self._aborted = True

    # -- connecting -----------------------------------------------------------

    def _connect(self) -> socket.socket:
        opts = self.opts
        self._tell(Phase(self, "domain_lookup"))
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        if self._aborted:
            raise Aborted
        self._tell(Phase(self, "connecting"))
        timeout = seconds(opts.connect_timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        error: Exception = OSError(errno.EHOSTUNREACH, "no address")
        for family, type_, proto, _, address in infos:
            sock = socket.socket(family, type_, proto)
            self.sock = sock
            try:
                connect_abortably(sock, address, deadline, self._wake_r, lambda: self._aborted)
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
        return tls

    # -- connected ------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> tuple[str, object]:
        """Wait for upgrades as HTTP; then read frames. Returns (protocol, reason)."""
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            events = dict(poller.poll())  # abort() writes to _wake_w: this returns
            if self._wake_r.fileno() in events:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
            if self._aborted:
                return "http", "normal"
            if sock.fileno() in events:
                lost = idle_read(sock)
                if lost is not None:
                    return "http", lost
            while not self._aborted:
                try:
                    command = self.commands.get_nowait()
                except queue.Empty:
                    break
                outcome = self._upgrade(sock, command)
                if outcome is not None:
                    return outcome

    def _upgrade(self, sock: socket.socket, command: Upgrade) -> tuple[str, object] | None:
        """Run one upgrade; None if the connection stays HTTP, else how it ended."""
        ref = command.ref
        self.upgrading = ref
        reply = sender_for(command.reply_to)
        conn = self.conn
        client = websocket.WebSocket(skip_utf8_validation=True, enable_multithread=False)
        url_host = f"[{self.host}]" if ":" in self.host else self.host
        jar = self.opts.cookie_store
        cookie_url = request_url(self.opts.transport, self.host, self.port, command.path)
        headers_out = [f"{name}: {value}" for name, value in command.headers]
        if jar is not None and (cookie := cookie_header(jar, cookie_url)):
            headers_out.append(f"cookie: {cookie}")
        try:
            client.connect(  # type: ignore[no-untyped-call]
                f"ws://{url_host}:{self.port}{command.path}",
                socket=sock,
                header=headers_out,
                subprotocols=list(command.ws_opts.protocols) or None,
                host=host_header(self.host, self.port, self.opts.transport),
                suppress_origin=True,
                redirect_limit=0,
            )
            headers = [(name, str(value)) for name, value in client.headers.items()]
            if jar is not None:
                store_cookies(jar, cookie_url, client.headers.get("set-cookie"))
            check_upgrade_response(headers, command.ws_opts.protocols)
        except websocket.WebSocketBadStatusException as exc:
            if jar is not None and exc.resp_headers:
                store_cookies(jar, cookie_url, exc.resp_headers.get("set-cookie"))
            # websocket-client closed the socket: the connection ends here.
            deliver_refusal(reply, conn, ref, exc.status_code, exc.resp_headers, exc.resp_body)
            self.upgrading = None
            return "http", "normal"
        except (websocket.WebSocketException, HandshakeError) as exc:
            response = client.handshake_response
            if response is not None and 300 <= response.status < 400:
                deliver_refusal(reply, conn, ref, response.status, response.headers, None)
                self.upgrading = None  # a complete response: the stream is not killed
            else:
                reply(gun_stream_error(conn, ref, ("handshake_error", str(exc))))
            return "http", "normal"
        except OSError as exc:
            return "http", socket_error_reason(exc) if not self._aborted else "normal"
        self.upgrading = None
        session = WebSocketSession(conn, ref, sock, self.actor_ref, command.ws_opts.closing_timeout)
        self.session = session
        # Publish the session before the owner can learn of it, so that a ws_send
        # made on receipt of gun_upgrade takes the direct path; the actor hears of
        # it before anything the owner does next. gun_upgrade goes out before the
        # first frame can: both leave from this thread.
        conn._session = session
        self._tell(Upgraded(self, session))
        reply(gun_upgrade(conn, ref, headers))
        with contextlib.suppress(OSError):
            self._wake_r.close()
            self._wake_w.close()
        return "ws", self._read_frames(sock, session, command.ws_opts, command.reply_to)

    # -- WebSocket --------------------------------------------------------------

    def _read_frames(
        self,
        sock: socket.socket,
        session: WebSocketSession,
        ws_opts: WsOptions,
        reply_to: object,
    ) -> object:
        """Read until the connection ends; return Gun's ``gun_down`` reason."""
        reply = sender_for(reply_to)
        deliver = batch_sender_for(reply_to)  # all the frames of one read, one wake-up
        if self.opts.trace:
            reply = traced(reply)
            deliver = traced_batch(reply)
        parser = FrameParser(ws_opts.max_frame_size)
        feed = parser.feed
        recv = sock.recv
        conn, ref = self.conn, session.ref
        silence_pings = ws_opts.silence_pings
        flow = ws_opts.flow
        watch_activity = self.opts.ws_opts.keepalive_timeout != "infinity"
        failing = False
        monotonic = time.monotonic
        if flow is not None:
            with self._flow_cond:
                self._credit = flow
        while True:
            try:
                data = recv(RECV_SIZE)
            except OSError as exc:
                if session.loss_reason is not None:
                    return session.loss_reason
                if self._aborted or session.state != "open":
                    return "normal"
                return socket_error_reason(exc)
            if watch_activity:
                session.last_received = monotonic()
            if not data:
                if session.loss_reason is not None:
                    return session.loss_reason
                return "normal" if session.state != "open" or self._aborted else "closed"
            messages = []
            close_frame = None
            for frame in feed(data):
                kind = frame if frame.__class__ is str else frame[0]
                if kind == "text" or kind == "binary":
                    messages.append(("gun_ws", conn, ref, frame))
                elif kind == "close":
                    messages.append(gun_ws(conn, ref, frame))
                    close_frame = frame
                    break
                else:
                    if kind == "ping":
                        session.pong(b"" if frame == "ping" else frame[1])  # type: ignore[arg-type]
                    if not silence_pings:
                        messages.append(gun_ws(conn, ref, frame))
            if messages:
                deliver(messages)
            if close_frame is not None:
                session.close_received = True
                code: int | None = (
                    close_frame[1] if close_frame.__class__ is tuple else None  # type: ignore[assignment]
                )
                # RFC 6455 5.5.1: the reply echoes the peer's code.
                session.close(code, tell_actor=False)
                return "normal"
            delivered = len(messages)
            if parser.error is not None and not failing:
                failing = True
                error = parser.error
                reply(gun_stream_error(conn, ref, ("protocol_error", error.code, error.message)))
                fail = functools.partial(session.close, error.code)
                if isinstance(reply_to, Mailbox):
                    # Close once the owner has handled what came before the fault, so its
                    # replies to those frames go out first; closing_timeout bounds the wait.
                    reply_to.send_barrier(fail)
                    self._tell(ProtocolFault(self, session))
                else:
                    fail()
            if flow is not None and delivered:
                self._wait_for_credit(delivered)
                if self._aborted:
                    return "normal"

    def _wait_for_credit(self, used: int) -> None:
        """Gun's flow control: stop reading the socket until the owner grants credit."""
        with self._flow_cond:
            assert self._credit is not None
            self._credit -= used
            while self._credit <= 0 and not self._aborted:
                self._flow_cond.wait()
