"""`ConnectionActor`: one Gun connection as an explicit state machine.

The states are Gun's, and ``gun.info(conn)["state_name"]`` shows them:

    domain_lookup -> connecting -> initial_tls_handshake -> connected
        connected          HTTP/1.1; ws_upgrade goes to the socket worker
        connected_ws_only  upgraded; frames flow worker -> reply_to directly
        closing            we sent a close frame; closing_timeout runs
        not_connected      waiting for the next attempt (retry_fun's timeout)

Every transition happens in this actor's thread, in `handle_message`'s
handlers below, read top to bottom in the order a connection lives. The
blocking work (connect, TLS, upgrade, reading) happens in a `SocketWorker`,
which reports back with events; the actor itself never blocks.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import pykka

from gunpy.actors._connection_ref import ConnectionRef, owner_down_reason
from gunpy.actors._events import (
    AttemptFailed,
    Closed,
    Connected,
    Info,
    Phase,
    ProtocolFault,
    SetOwner,
    Shutdown,
    StreamError,
    Upgrade,
    Upgraded,
    WsSend,
    WsUpgrade,
)
from gunpy.actors._mailbox import sender_for
from gunpy.actors._process import ProcessActor, demonitor, monitor
from gunpy.actors._scheduler import Timer, scheduler
from gunpy.actors._session import CloseSent, WebSocketSession
from gunpy.actors._socket_worker import SocketWorker
from gunpy.protocol import (
    BADSTATE_NOT_WS,
    BADSTATE_SET_OWNER_CLOSING,
    BADSTATE_WS_ONLY,
    OpenOptions,
    Ref,
    gun_conn_error,
    gun_down,
    gun_stream_error,
    gun_up,
)
from gunpy.supervision._retry import RetryFunError, RetryPolicy

BADSTATE_HTTP10: Final = "Websocket cannot be used over an HTTP/1.0 connection."
trace: Final = logging.getLogger("gunpy.trace")


class _Timeout(NamedTuple):
    kind: str  # "retry" | "lookup" | "closing" | "keepalive" | "dead_peer"
    token: object


class ConnectionActor(ProcessActor):
    """A Gun connection. Start it with ``gun.open``; talk to it through ``gun``."""

    def __init__(
        self, conn: ConnectionRef, host: str, port: int, opts: OpenOptions, owner: object
    ) -> None:
        super().__init__()
        self.conn = conn
        conn.actor_ref = self.actor_ref
        self.monitors.target = conn  # DOWN messages name the conn, as they name the pid in Gun
        self.host = host
        self.port = port
        self.opts = opts
        self.owner = owner
        self.send_owner: Callable[[Any], None] = sender_for(owner)
        self.owner_monitor: Ref | None = None
        self.state_name = "domain_lookup"
        self.retry = RetryPolicy(opts.retry, opts.raw, opts.retry_fun)
        self.worker: SocketWorker | None = None
        self.sockname: tuple[Any, ...] | None = None
        self.session: WebSocketSession | None = None
        self.upgrades: dict[Ref, object] = {}  # ws stream ref -> reply_to
        self.postponed: list[object] = []
        self.stop_reason: object = None  # set by shutdown / owner death
        self.timers: dict[str, tuple[object, Timer]] = {}
        self.event_state: Any = opts.event_handler[1] if opts.event_handler else None
        self._handlers: dict[type, Callable[[Any], Any]] = {
            Phase: self._on_phase,
            Connected: self._on_connected,
            AttemptFailed: self._on_attempt_failed,
            Upgraded: self._on_upgraded,
            Closed: self._on_closed,
            CloseSent: self._on_close_sent,
            ProtocolFault: self._on_protocol_fault,
            WsUpgrade: self._on_ws_upgrade,
            WsSend: self._on_ws_send,
            StreamError: self._on_stream_error,
            Shutdown: self._on_shutdown,
            SetOwner: self._on_set_owner,
            Info: self._on_info,
            _Timeout: self._on_timeout,
        }

    def __repr__(self) -> str:
        return f"<ConnectionActor {self.conn!r} {self.state_name}>"

    # -- life ------------------------------------------------------------------

    def init(self) -> None:
        self.owner_monitor = monitor(self.owner, watcher=self.actor_ref)
        self._event("init", owner=self.owner, transport=self.opts.transport,
                    origin_host=self.host, origin_port=self.port, opts=self.opts.raw)
        self._start_attempt()

    def handle_message(self, message: Any) -> Any:
        if self.opts.trace:
            trace.info("%r %s <- %r", self.conn, self.state_name, message)
        handler = self._handlers.get(type(message))
        if handler is not None:
            return handler(message)
        if isinstance(message, tuple) and message[:1] == ("DOWN",):
            return self._on_down(message)
        return None

    def terminate(self, reason: object) -> None:
        self._event("terminate", state=self.state_name, reason=reason)
        if self.owner_monitor is not None:
            demonitor(self.owner_monitor)  # else the owner's monitor set keeps us forever
        for kind in list(self.timers):
            self._disarm(kind)
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.abort()
            if worker.is_alive():
                worker.join(10)

    # -- connecting ------------------------------------------------------------

    def _start_attempt(self) -> None:
        self.state_name = "domain_lookup"
        self.worker = SocketWorker(self.actor_ref, self.conn, self.host, self.port, self.opts)
        self._event("domain_lookup_start", host=self.host, port=self.port)
        timeout = self.opts.domain_lookup_timeout
        if timeout != "infinity":
            # getaddrinfo cannot be interrupted: past the timeout the attempt is abandoned.
            self._arm("lookup", timeout / 1000)
        self.worker.start()

    def _current(self, event: Any) -> bool:
        """Events from a worker we already gave up on are stale."""
        return event.worker is self.worker and self.worker is not None

    def _on_phase(self, event: Phase) -> None:
        if self._current(event):
            self.state_name = event.state_name
            if event.state_name == "connecting":
                self._disarm("lookup")
                self._event("connect_start", host=self.host, port=self.port)
            elif event.state_name == "initial_tls_handshake":
                self._event("tls_handshake_start", server_name=self.host)

    def _on_connected(self, event: Connected) -> None:
        if not self._current(event):
            return
        self.state_name = "connected"
        self.sockname = event.sockname
        self.conn._worker = event.worker
        self._event("connect_end", sockname=event.sockname, protocol="http")
        self.send_owner(gun_up(self.conn, "http"))
        postponed, self.postponed = self.postponed, []
        for command in postponed:
            self.handle_message(command)

    def _on_attempt_failed(self, event: AttemptFailed) -> None:
        if self._current(event):
            self.worker = None
            self._retry_or_exit(event.reason)

    def _retry_or_exit(self, reason: object) -> None:
        """Gun's not_connected state: wait for the next attempt, or stop."""
        if self.stop_reason is not None:
            self.exit(self.stop_reason)
            return
        try:
            delay = self.retry.next_delay()
        except RetryFunError as exc:
            self.exit(("shutdown", ("retry_fun", str(exc))))
            return
        if delay is None:
            self.exit("normal" if reason == "normal" else ("shutdown", reason))
            return
        self.state_name = "not_connected"
        self._arm("retry", delay)

    # -- HTTP and the upgrade ---------------------------------------------------

    def _connected(self) -> bool:
        return self.state_name in ("connected", "connected_ws_only")

    def _on_ws_upgrade(self, command: WsUpgrade) -> None:
        if command.reply_to is None:
            command = command._replace(reply_to=self.owner)
        reply = sender_for(command.reply_to)
        if self.state_name == "connected_ws_only":
            reply(gun_conn_error(self.conn, ("badstate", BADSTATE_WS_ONLY)))
        elif self.state_name != "connected":
            self.postponed.append(command)
        elif self.opts.http_opts.version == "HTTP/1.0":
            reply(gun_stream_error(self.conn, command.ref, ("badstate", BADSTATE_HTTP10)))
        else:
            assert self.worker is not None
            self.upgrades[command.ref] = command.reply_to
            self._event("ws_upgrade", stream_ref=command.ref, reply_to=command.reply_to)
            self.worker.upgrade(Upgrade(*command))

    def _on_upgraded(self, event: Upgraded) -> None:
        if not self._current(event):
            return
        self.state_name = "connected_ws_only"
        self.session = event.session
        self._event("protocol_changed", stream_ref=event.session.ref, protocol="ws")
        keepalive = self.opts.ws_opts.keepalive  # Gun reads it from gun:open's ws_opts only
        if keepalive != "infinity":
            self._arm("keepalive", keepalive / 1000)
        timeout = self.opts.ws_opts.keepalive_timeout
        if timeout != "infinity":
            self._arm("dead_peer", timeout / 1000)

    def _on_ws_send(self, command: WsSend) -> None:
        session = self.conn._session
        if session is not None and session.send_encoded(command.encoded):
            return
        if self.state_name == "connected":
            reply = sender_for(command.reply_to or self.owner)
            reply(gun_conn_error(self.conn, ("badstate", BADSTATE_NOT_WS)))
        else:
            # Not connected, or closing: Gun postpones until the next connection.
            self.postponed.append(command)

    def _on_stream_error(self, command: StreamError) -> None:
        reply_to = self.upgrades.get(command.ref) or command.reply_to or self.owner
        sender_for(reply_to)(gun_stream_error(self.conn, command.ref, command.reason))

    # -- closing ---------------------------------------------------------------

    def _on_close_sent(self, event: CloseSent) -> None:
        if event.session is not self.session:
            return
        self.state_name = "closing"
        timeout = event.session.closing_timeout
        if timeout != "infinity":
            self._arm("closing", timeout / 1000)  # type: ignore[operator]

    def _on_protocol_fault(self, event: ProtocolFault) -> None:
        """The close waits for the owner's next look at its mailbox; bound that wait."""
        if self._current(event) and event.session is self.session:
            timeout = event.session.closing_timeout
            if timeout != "infinity":
                self._arm("closing", timeout / 1000)  # type: ignore[operator]

    def _on_closed(self, event: Closed) -> None:
        if not self._current(event):
            return
        self.worker = None
        self.session = None
        self.conn._worker = None
        self.upgrades.clear()
        self._disarm("closing")
        self._disarm("keepalive")
        self._disarm("dead_peer")
        self._event("disconnect", reason=event.reason)
        if self.stop_reason is not None:
            self.exit(self.stop_reason)
            return
        self.send_owner(gun_down(self.conn, event.protocol, event.reason, event.killed))
        self.retry.reset()
        self._retry_or_exit(event.reason)

    def _stop_gracefully(self, reason: object) -> None:
        """shutdown and owner death: close with 1001, then exit with ``reason``; no gun_down."""
        if self.stop_reason is None:
            self.stop_reason = reason
        session = self.session
        if session is not None and session.state != "closed":
            if not session.close(1001):
                return  # a close is already under way: its end ends us
            self.state_name = "closing"
            timeout = session.closing_timeout
            if timeout != "infinity":
                self._arm("closing", timeout / 1000)  # type: ignore[operator]
            return
        self.exit(self.stop_reason)

    def _on_shutdown(self, _: Shutdown) -> None:
        self._stop_gracefully("shutdown")

    def _on_down(self, message: tuple[Any, ...]) -> None:
        if message[1] is self.owner_monitor:
            self._stop_gracefully(owner_down_reason(message[4]))

    # -- event handler -----------------------------------------------------------

    def _event(self, name: str, **event: Any) -> None:
        """Gun's event handler: ``handler.name(event_dict, state) -> state``, if defined."""
        if self.opts.event_handler is None:
            return
        handler, _ = self.opts.event_handler
        callback = getattr(handler, name, None)
        if callback is not None:
            self.event_state = callback(event, self.event_state)

    # -- timers ----------------------------------------------------------------

    def _arm(self, kind: str, delay: float) -> None:
        self._disarm(kind)
        # The token tells a live timer from one cancelled after its message was queued.
        token = object()
        timer = scheduler.call_later(delay, self._tell_self, _Timeout(kind, token))
        self.timers[kind] = (token, timer)

    def _disarm(self, kind: str) -> None:
        armed = self.timers.pop(kind, None)
        if armed is not None:
            armed[1].cancel()

    def _tell_self(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(message)

    def _on_timeout(self, event: _Timeout) -> None:
        armed = self.timers.get(event.kind)
        if armed is None or armed[0] is not event.token:
            return  # cancelled or re-armed after this one fired
        del self.timers[event.kind]
        if event.kind == "retry":
            self._start_attempt()
        elif event.kind == "lookup":
            if self.worker is not None and self.state_name == "domain_lookup":
                self.worker.abort()  # it ends when getaddrinfo returns; its events are stale
                self.worker = None
                self._retry_or_exit("timeout")
        elif event.kind == "closing":
            if self.worker is not None:
                self.worker.abort()
        elif event.kind == "dead_peer" and self.session is not None:
            # gunpy's dead-peer detection: nothing at all (not even the pong to our
            # keepalive ping) arrived within keepalive_timeout.
            timeout = self.opts.ws_opts.keepalive_timeout
            assert timeout != "infinity"
            silent = time.monotonic() - self.session.last_received
            if silent >= timeout / 1000:
                self.session.declare_dead("timeout")
            else:
                self._arm("dead_peer", timeout / 1000 - silent)
        elif event.kind == "keepalive" and self.session is not None:
            self.session.ping()
            keepalive = self.opts.ws_opts.keepalive
            assert keepalive != "infinity"
            self._arm("keepalive", keepalive / 1000)

    # -- owner and info --------------------------------------------------------

    def _on_set_owner(self, command: SetOwner) -> None:
        if self.stop_reason is not None:
            self.send_owner(gun_conn_error(self.conn, ("badstate", BADSTATE_SET_OWNER_CLOSING)))
            return
        if self.owner_monitor is not None:
            demonitor(self.owner_monitor)
        self.owner = command.owner
        self.send_owner = sender_for(command.owner)
        self.owner_monitor = monitor(command.owner, watcher=self.actor_ref)

    def _on_info(self, _: Info) -> dict[str, Any]:
        info: dict[str, Any] = {
            "owner": self.owner,
            "socket": self.worker.sock if self.worker is not None else None,
            "transport": self.opts.transport,
            "state_name": self.state_name,
            "origin_scheme": "https" if self.opts.transport == "tls" else "http",
            "origin_host": self.host,
            "origin_port": self.port,
            "intermediaries": [],
            "cookie_store": self.opts.cookie_store,
            "event_handler": self.opts.event_handler[0] if self.opts.event_handler else None,
            "event_handler_state": self.event_state,
            "retries_left": self.retry.retries_left,
        }
        if self._connected() or self.state_name == "closing":
            info["protocol"] = "ws" if self.session is not None else "http"
            if self.sockname is not None:
                info["sock_ip"], info["sock_port"] = self.sockname[0], self.sockname[1]
        return info
