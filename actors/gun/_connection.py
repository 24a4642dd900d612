"""`ConnectionActor`: one Gun connection as a state machine, one function per state.

The states are Gun's (`StateName`), and ``gun.info(conn)["state_name"]`` shows
them::

    domain_lookup -> connecting -> initial_tls_handshake -> connected
    connected            the live connection; its `ClientConnection` refines
                         the name: connected (HTTP/1.1), connected_ws_only,
                         closing
    not_connected        waiting for the next attempt (retry_fun's timeout)

Like ``gun.erl``, each state has one method below, in the order a
connection lives, and what every state does alike is in `_common`. The
actor owns the attempt's `SocketIO`; the rules of a live connection are in
its sans-I/O `ClientConnection`, which the actor drives through
``io.call`` and which tells it of upgrades, closes and the end as events.
There is one way out of a live connection: the I/O's `Closed` event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final

from gunpy.actors._mailbox import sender_for
from gunpy.actors._process import demonitor, monitor
from gunpy.actors.gun._commands import (
    AttemptFailed,
    Cancel,
    Closed,
    ClosingStarted,
    Connected,
    Data,
    Info,
    NotTaken,
    Phase,
    Request,
    SetOwner,
    Shutdown,
    StreamError,
    StreamInfo,
    Timeout,
    TunnelIsUp,
    WsSend,
    WsUp,
    WsUpgrade,
)
from gunpy.actors.gun._connection_base import ConnectionBase
from gunpy.actors.gun._io import SocketIO
from gunpy.actors.gun._live import COUNTED, apply_live
from gunpy.actors.gun._ref import ConnectionRef, owner_down_reason
from gunpy.protocol import (
    BADSTATE_NOT_WS,
    ConnectRequest,
    DataPart,
    HttpRequest,
    OpenOptions,
    Ref,
    StateName,
    UpgradeRequest,
)
from gunpy.protocol._messages import (
    BADSTATE_SET_OWNER_CLOSING,
    gun_conn_error,
    gun_down,
    gun_stream_error,
    gun_up,
)
from gunpy.supervision._retry import RetryFunError

trace: Final = logging.getLogger("gunpy.trace")
logger: Final = logging.getLogger("gunpy")
_UNHANDLED: Final = object()


class ConnectionActor(ConnectionBase):
    """A Gun connection. Start it with ``gun.open``; talk to it through ``gun``."""

    def __init__(
        self, conn: ConnectionRef, host: str, port: int, opts: OpenOptions, owner: object
    ) -> None:
        super().__init__(conn, host, port, opts, owner)
        self._states: dict[StateName, Callable[[Any], object]] = {
            StateName.NOT_CONNECTED: self.not_connected,
            StateName.DOMAIN_LOOKUP: self.domain_lookup,
            StateName.CONNECTING: self.connecting,
            StateName.INITIAL_TLS_HANDSHAKE: self.initial_tls_handshake,
            StateName.CONNECTED: self.connected,
        }

    def __repr__(self) -> str:
        return f"<ConnectionActor {self.conn!r} {self.state}>"

    # -- life --------------------------------------------------------------------------

    def init(self) -> None:
        self.owner_monitor = monitor(self.owner, watcher=self.actor_ref)
        self._event("init", owner=self.owner, transport=self.opts.transport,
                    origin_host=self.host, origin_port=self.port, opts=self.opts.raw)
        self._start_attempt()

    def handle_message(self, message: Any) -> Any:
        if self.opts.trace:
            trace.info("%r %s <- %r", self.conn, self.state, message)
        if isinstance(message, Info):
            return self._info()
        if isinstance(message, StreamInfo):
            return self._stream_info(message.ref)
        if isinstance(message, Timeout) and not self.timers.fired(message.kind, message.token):
            return None  # cancelled or re-armed after this one fired
        try:
            return self._handle(message)
        finally:
            if isinstance(message, COUNTED):  # told by a caller: see `submit`
                self.conn._channel.applied()

    def _handle(self, message: Any) -> Any:
        result = self._states[self.state](message)
        return self._common(message) if result is _UNHANDLED else result

    def terminate(self, reason: object) -> None:
        self._event("terminate", state=self.state.value, reason=reason)
        if self.owner_monitor is not None:
            demonitor(self.owner_monitor)  # else the owner's monitor set keeps us forever
        self.timers.disarm_all()
        io, self.io = self.io, None
        self.conn._channel.io = None
        if io is not None:
            io.abort(silent=True)
            io.wait_closed(10)  # its socket is closed when we are gone

    # -- the states --------------------------------------------------------------------

    def not_connected(self, message: Any) -> object:
        """Waiting for retry_fun's timeout; commands wait for the next connection."""
        match message:
            case Timeout("retry"):
                self._start_attempt()
            case _:
                return self._not_live(message)
        return None

    def domain_lookup(self, message: Any) -> object:
        """getaddrinfo runs in the I/O loop's lookup pool."""
        match message:
            case Phase(io, "connecting") if io is self.io:
                self._disarm("lookup")
                self._connect_started()
            case Timeout("lookup"):
                # getaddrinfo cannot be interrupted: the attempt is abandoned, its events stale.
                self._abandon_attempt("timeout")
            case _:
                return self._attempting(message)
        return None

    def connecting(self, message: Any) -> object:
        """TCP connect, bounded by connect_timeout (a timer of the I/O loop)."""
        match message:
            case Phase(io, "initial_tls_handshake") if io is self.io:
                self.state = StateName.INITIAL_TLS_HANDSHAKE
                self._event("connect_end", host=self.host, port=self.port)
                self._event("tls_handshake_start", server_name=self.host,
                            tls_opts=self.opts.tls_opts)
            case _:
                return self._attempting(message)
        return None

    def initial_tls_handshake(self, message: Any) -> object:
        """TLS handshake, bounded by tls_handshake_timeout (a timer of the I/O loop)."""
        return self._attempting(message)

    def _attempting(self, message: Any) -> object:
        """What the three attempt states do alike: the attempt ends, commands wait."""
        match message:
            case Connected(io, sockname) if io is self.io:
                tls = self.state is StateName.INITIAL_TLS_HANDSHAKE
                self.state = StateName.CONNECTED
                self.sockname = sockname
                protocol = "socks" if self.opts.socks is not None else "http"
                self._event("tls_handshake_end" if tls else "connect_end",
                            host=self.host, port=self.port, sockname=sockname, protocol=protocol)
                self.send_owner(gun_up(self.conn, protocol))
                self._arm_http_keepalive()
                postponed, self.postponed = self.postponed, []
                for command in postponed:
                    self._handle(command)
                # Only now may callers go direct: the postponed commands come first.
                self.conn._channel.io = io
                io.read_for(self.owner)  # a Mailbox owner's thread may read it while waiting
            case AttemptFailed(io, reason) if io is self.io:
                self.io = None
                failed = {StateName.DOMAIN_LOOKUP: "domain_lookup_end",
                          StateName.CONNECTING: "connect_end"}.get(self.state, "tls_handshake_end")
                self._event(failed, host=self.host, port=self.port, error=reason)
                self._retry_or_exit(reason, attempt=True)
            case _:
                return self._not_live(message)
        return None

    def _not_live(self, message: Any) -> object:
        """What every state without a live connection does: commands wait, shutdown stops."""
        match message:
            case WsUpgrade() | WsSend() | Request() | Data() | Cancel():
                self.postponed.append(message)  # Gun postpones them to the next connection
            case NotTaken(_, command):  # refused by a connection that has ended since
                self._not_taken(command)
            case Shutdown():
                self.exit("shutdown")
            case _:
                return _UNHANDLED
        return None

    def connected(self, message: Any) -> object:
        """The live connection: HTTP/1.1, then perhaps a WebSocket, until `Closed`."""
        io = self.io
        assert io is not None
        match message:
            case WsUpgrade() | Request() | Data() | Cancel():
                apply_live(io, message, self.owner)
            case NotTaken(_, command):  # from this I/O or an earlier one
                self._not_taken(command)
            case WsSend(_, _, reply_to):
                # ws_send writes directly while the WebSocket is open; a send that
                # lands here found none. As in Gun it is never written late: it
                # waits for the next connection while closing, else it is refused.
                if io.describe()[0] == StateName.CLOSING:
                    self.postponed.append(message)
                else:
                    reply = sender_for(reply_to or self.owner)
                    reply(gun_conn_error(self.conn, ("badstate", BADSTATE_NOT_WS)))
            case WsUp(from_io, ref) if from_io is io:
                self._disarm("http_keepalive")
                self._event("protocol_changed", stream_ref=ref, protocol="ws")
                keepalive = self.opts.ws_opts.keepalive  # Gun reads it from gun:open's ws_opts
                if keepalive != "infinity":
                    self._arm("keepalive", keepalive / 1000)
                timeout = self.opts.ws_opts.keepalive_timeout
                if timeout != "infinity":
                    self._arm("dead_peer", timeout / 1000)
                if self.stop_reason is not None:  # shut down while the upgrade was in flight
                    self._stop_gracefully(self.stop_reason)
            case TunnelIsUp(from_io, tunnel_ref, tunnel_to, protocol) if from_io is io:
                up = ("gun_tunnel_up", self.conn, tunnel_ref, protocol)
                sender_for(tunnel_to or self.owner)(up)
            case ClosingStarted(from_io, closing_timeout) if from_io is io:
                if closing_timeout != "infinity" and closing_timeout is not None:
                    self._arm("closing", closing_timeout / 1000)  # type: ignore[operator]
            case Closed(from_io, protocol, reason, killed) if from_io is io:
                self._disconnected(protocol, reason, killed)
            case Timeout("closing"):
                # Gun's reason names who started the closing: shutdown, a dead owner, else normal.
                stop = self.stop_reason
                io.abort("normal" if stop is None else "shutdown" if stop == "shutdown"
                         else "owner_down")
            case Timeout("http_keepalive"):
                io.call(lambda proto: proto.http_keepalive())
                self._arm_http_keepalive()
            case Timeout("keepalive"):
                io.call(lambda proto: proto.ping())
                keepalive = self.opts.ws_opts.keepalive
                assert keepalive != "infinity"
                self._arm("keepalive", keepalive / 1000)
            case Timeout("dead_peer"):
                # gunpy's dead-peer detection: nothing at all (not even the pong to our
                # keepalive ping) arrived within keepalive_timeout.
                timeout = self.opts.ws_opts.keepalive_timeout
                assert timeout != "infinity"
                silent = time.monotonic() - io.last_received
                if silent >= timeout / 1000:
                    io.abort("timeout")
                else:
                    self._arm("dead_peer", timeout / 1000 - silent)
            case Shutdown():
                self._stop_gracefully("shutdown")
            case _:
                return _UNHANDLED
        return None

    def _common(self, message: Any) -> object:
        """What every state does alike (Gun's handle_common)."""
        match message:
            case StreamError(ref, reason, reply_to):
                sender_for(reply_to or self.owner)(gun_stream_error(self.conn, ref, reason))
            case SetOwner(owner):
                if self.stop_reason is not None:
                    error = ("badstate", BADSTATE_SET_OWNER_CLOSING)
                    self.send_owner(gun_conn_error(self.conn, error))
                    return None
                if self.owner_monitor is not None:
                    demonitor(self.owner_monitor)
                self.owner = self.conn._channel.owner = owner
                self.send_owner = sender_for(owner)
                self.owner_monitor = monitor(owner, watcher=self.actor_ref)
                if self.io is not None and self.state is StateName.CONNECTED:
                    self.io.read_for(owner)
            case ("DOWN", mref, _, _, reason) if mref is self.owner_monitor:
                self._stop_gracefully(owner_down_reason(reason))
        return None  # anything else (stale events, stale timers) is dropped

    # -- transitions -------------------------------------------------------------------

    def _start_attempt(self) -> None:
        self.state = StateName.DOMAIN_LOOKUP
        self.io = SocketIO(self.actor_ref, self.conn, self.host, self.port, self.opts,
                           self.events)
        self._event("domain_lookup_start", host=self.host, port=self.port)
        if self.io.needs_lookup:
            timeout = self.opts.domain_lookup_timeout
            if timeout != "infinity":
                self._arm("lookup", timeout / 1000)
        else:  # an IP literal or a Unix socket: the lookup is over before it starts
            self._connect_started()
        self.io.start()

    def _connect_started(self) -> None:
        self.state = StateName.CONNECTING
        self._event("domain_lookup_end", host=self.host, port=self.port)
        self._event("connect_start", host=self.host, port=self.port)

    def _abandon_attempt(self, reason: object) -> None:
        io, self.io = self.io, None
        if io is not None:
            io.abort()  # it ends when getaddrinfo returns
        self._retry_or_exit(reason, attempt=True)

    def _retry_or_exit(self, reason: object, attempt: bool = False) -> None:
        """Into Gun's not_connected state: wait for the next attempt, or stop.

        A failed ``attempt`` (lookup, connect, TLS) is logged at WARNING on the
        ``gunpy`` logger, and kept for `gun.await_up`'s timeout answer.
        """
        if attempt:
            self.last_failure = reason
        if self.stop_reason is not None:
            self.exit(self.stop_reason)
            return
        try:
            delay = self.retry.next_delay()
        except RetryFunError as exc:
            self.exit(("shutdown", ("retry_fun", str(exc))))
            return
        if attempt:
            then = "giving up" if delay is None else f"next attempt in {delay:.3f} s"
            logger.warning("gun %s:%s: connection attempt failed: %r; %s, %d retries left",
                           self.host, self.port, reason, then, self.retry.retries_left)
        if delay is None:
            self.exit("normal" if reason == "normal" else ("shutdown", reason))
            return
        self.state = StateName.NOT_CONNECTED
        self._arm("retry", delay)

    def _disconnected(self, protocol: str, reason: object, killed: list[Ref]) -> None:
        """The one exit of a live connection: its socket is gone."""
        self.io = None
        self.conn._channel.io = None
        for kind in ("closing", "keepalive", "http_keepalive", "dead_peer"):
            self._disarm(kind)
        self._event("disconnect", reason=reason)
        if self.stop_reason is not None:
            self.exit(self.stop_reason)
            return
        self.send_owner(gun_down(self.conn, protocol, reason, killed))
        self.retry.reset()
        self._retry_or_exit(reason)

    def _stop_gracefully(self, reason: object) -> None:
        """shutdown and owner death: close with 1001, then exit with ``reason``; no gun_down."""
        if self.stop_reason is None:
            self.stop_reason = reason
        io = self.io
        if self.state is StateName.CONNECTED and io is not None:
            why = "owner_down" if reason != "shutdown" else "shutdown"
            io.call(lambda proto: proto.close(1001, why))  # its Closed event ends us
            return
        self.exit(self.stop_reason)

    def _not_taken(self, command: object) -> None:
        """A request made while closing: with ``retry`` 0 Gun answers closing, else postpones."""
        if isinstance(command, DataPart):
            self.postponed.append(Data(command))
            return
        assert isinstance(command, HttpRequest | ConnectRequest | UpgradeRequest)
        if self.opts.raw.get("retry") == 0:
            sender_for(command.reply_to)(gun_stream_error(self.conn, command.ref, "closing"))
        elif isinstance(command, HttpRequest | ConnectRequest):
            self.postponed.append(Request(command))
        else:
            self.postponed.append(WsUpgrade(command))

    def _arm_http_keepalive(self) -> None:
        keepalive = self.opts.http_opts.keepalive
        if keepalive != "infinity":
            self._arm("http_keepalive", keepalive / 1000)
