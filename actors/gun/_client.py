"""`WebsocketClient`: callbacks instead of tuples, and a connection that stays up.

Gun leaves recovery to its user, and its guide advises ``retry => 0`` for
WebSocket because Gun never upgrades again after a reconnect. This client
does: on every ``gun_up`` it upgrades again and calls `on_connect`; frames
sent while it is down wait in a bounded queue. Its shape is the Elixir
"Gundam" wrapper's, with Cowboy-style answers::

    class Echo(WebsocketClient):
        def on_message(self, message, conn, state):
            return ("reply", message, state)      # send a frame back

    client = Echo.start(url="ws://127.0.0.1:8080/echo", retry=100)
    client.proxy().send(("text", "hi")).get()     # SendQueueFull if the queue is full

An exception in a callback stops the client with that exception as its exit
reason, so a supervisor restarts it from `child_spec`. A refused or
short-lived upgrade is retried with exponential backoff and jitter
(`Backoff`), never at the rate Gun reconnects.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from typing import Any, Final
from urllib.parse import urlsplit

from gunpy.actors import gun
from gunpy.actors._process import ProcessActor, monitor
from gunpy.actors._scheduler import ActorTimers, TimerFired
from gunpy.actors.gun._client_backoff import Backoff, UpgradeRefused
from gunpy.actors.gun._client_proxy import destination, open_through, proxy_route
from gunpy.actors.gun._ref import ConnectionRef
from gunpy.protocol import EncodedFrame, Frame, Headers, OptionsError, Ref, encode_frames

__all__ = ["SendQueueFull", "UpgradeRefused", "WebsocketClient", "parse_ws_url"]

logger: Final = logging.getLogger("gunpy")

_CLIENT_ONLY = (
    "headers", "state", "send_queue_limit", "backoff_min", "backoff_max", "backoff_reset",
    "idle_timeout", "retry_fun", "proxy", "proxy_tls_opts",
)


class SendQueueFull(RuntimeError):
    """`WebsocketClient.send` while down, with ``send_queue_limit`` frames already waiting."""


def parse_ws_url(url: str) -> tuple[str, int, str, str]:
    """``(host, port, path, transport)`` of a ws:// or wss:// URL (default ports 80/443)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise OptionsError("url", url, "must be ws://host[:port]/path or wss://...")
    transport = "tls" if parts.scheme == "wss" else "tcp"
    port = parts.port or (443 if transport == "tls" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, path, transport


class WebsocketClient(ProcessActor):
    """A WebSocket client actor: override the ``on_*`` callbacks; each returns the new state.

    A callback may also return ``("reply", frame_or_frames, state)`` to send
    frames (a list is sent in order; a close ends it, as in ``gun.ws_send``,
    and stops the client), or ``("stop", state)`` to close and stop (exit
    reason ``"normal"``). ``url`` is ws:// or wss://; the keyword options are
    Gun's ``gun.open`` options, plus:

    - ``headers`` for the upgrade, ``state`` (the initial state),
      ``send_queue_limit`` (frames kept while down, default 1000);
    - ``backoff_min`` (100), ``backoff_max`` (30000), ``backoff_reset``
      (1000), in ms: after a refused upgrade, or a connection lost before its
      upgrade or within ``backoff_reset`` ms of it, the next upgrade (and
      reconnect) waits ``backoff_min`` doubling at each failure in a row, plus
      up to ``backoff_min`` of jitter, at most ``backoff_max``. A connection
      that stayed upgraded ``backoff_reset`` ms starts the count again.
      Gun's ``retry``/``retry_timeout``/``retry_fun`` still decide when the
      connection gives up; the backoff only ever lengthens Gun's waits;
    - ``idle_timeout`` (ms, or ``"infinity"``, the default): no frame received
      for that long while upgraded stops the client (Cowboy's idle_timeout);
    - ``proxy``: a proxy URL (``http://user:pass@host:port``, ``https://``,
      ``socks5://``, ``socks5h://``) or ``"env"`` (``https_proxy``,
      ``http_proxy``, ``all_proxy``, ``no_proxy``), and ``proxy_tls_opts``
      for an ``https://`` proxy's own TLS. After every reconnect the tunnel
      is set up again (a CONNECT, or the SOCKS5 handshake), then the upgrade;
      a proxy's refusal of a CONNECT goes to `on_error` as an
      `UpgradeRefused` and is retried with the backoff.

    Callbacks, Cowboy's websocket handler contract: `on_connect`,
    `on_message`, `on_close`, `on_disconnect`, `on_error`, `on_info` (any
    message told to the actor that is not Gun's) and `on_terminate`
    (called once, however the client stops).
    """

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__()
        self.host, self.port, self.path, transport = parse_ws_url(url)
        self.state: Any = options.get("state")
        self.headers: Any = options.get("headers")
        self.queue_limit: int = options.get("send_queue_limit", 1000)
        self.backoff = Backoff(options)
        idle = options.get("idle_timeout", "infinity")
        if idle != "infinity" and (type(idle) is not int or idle <= 0):
            raise OptionsError("idle_timeout", idle, "must be an integer > 0 (ms) or 'infinity'")
        self.idle_timeout: int | str = idle
        self.open_opts = {k: v for k, v in options.items() if k not in _CLIENT_ONLY}
        self.open_opts["retry_fun"] = self.backoff.retry_fun(options.get("retry_fun"))
        self.open_opts.setdefault("transport", transport)
        self.via = proxy_route(url, options.get("proxy"))
        self.tunnel: dict[str, Any] | None = None  # gun.connect's destination
        if self.via is not None:
            origin = (self.host, self.port, self.open_opts.pop("transport"))
            if self.via.kind == "connect":
                self.tunnel = destination(*origin, self.open_opts, self.via)
            self.open_opts = open_through(self.via, *origin, self.open_opts,
                                          options.get("proxy_tls_opts"))
        self._tunnel_ref: Ref | None = None
        self._tunnel_up = self.via is None
        # Linked to its connection: when the connection gives up (retries spent),
        # the client exits with the same reason and its supervisor decides.
        self.open_opts.setdefault("supervise", False)
        self.conn: ConnectionRef | None = None
        self.ref: Ref | None = None
        self.connected = False
        self.upgraded = False
        self.pending: deque[list[EncodedFrame]] = deque()
        self._conn_mref: Ref | None = None
        self._upgraded_at = 0.0
        self._last_frame_at = 0.0
        self._refusal: tuple[int, Headers, list[bytes]] | None = None
        self._remote: Any = None  # the server's close, for on_terminate
        self._why: Any = None  # the Cowboy reason when the client itself decided to stop
        self._timers = ActorTimers(self.actor_ref.tell)
        self._stopping = False

    # -- callbacks (override) --------------------------------------------------

    def on_connect(self, headers: Headers, conn: ConnectionRef, state: Any) -> Any:
        """The upgrade succeeded (after every reconnect too)."""
        return state

    def on_message(self, message: Frame, conn: ConnectionRef, state: Any) -> Any:
        """A text or binary message (or a ping/pong with ``silence_pings`` false)."""
        return state

    def on_disconnect(self, conn: ConnectionRef, state: Any) -> Any:
        """The connection was lost; a reconnect follows while retries are left."""
        return state

    def on_close(self, code: int | None, reason: str, conn: ConnectionRef, state: Any) -> Any:
        """The server sent a close frame (``code`` None for an empty one)."""
        return state

    def on_error(self, reason: Any, conn: ConnectionRef, state: Any) -> Any:
        """The upgrade was refused or failed, or the stream reported an error.

        A refusal is an `UpgradeRefused`: ``("upgrade_refused", status,
        headers)`` with ``.body``; the next upgrade follows after the backoff.
        """
        return state

    def on_info(self, info: Any, conn: ConnectionRef, state: Any) -> Any:
        """Any other message told to the actor (Cowboy's websocket_info)."""
        return state

    def on_terminate(self, reason: Any, state: Any) -> None:
        """Called once when the client stops; ``reason`` is Cowboy's.

        ``"normal"`` (stopped from outside, or the connection ended without a
        close frame in a way Gun calls normal), ``"stop"`` (a ``("stop",
        state)`` answer or a close frame the client sent), ``"remote"`` or
        ``("remote", code, reason)`` (the server closed, and the connection
        then gave up), ``"timeout"`` (``idle_timeout``), ``("crash",
        class_name, exception)``, ``("error", "closed" | reason)`` (the
        connection gave up). An exception here is logged.
        """

    # -- API ---------------------------------------------------------------------

    @classmethod
    def child_spec(cls, url: str, **options: Any) -> dict[str, Any]:
        """A supervisor child spec; ``id``, ``restart``, ``shutdown`` are taken from options."""
        spec = {"id": options.pop("id", cls.__name__), "type": "worker"}
        for key in ("restart", "shutdown"):
            if key in options:
                spec[key] = options.pop(key)
        spec["start"] = (functools.partial(cls.start, url, **options), ())
        return spec

    def send(self, frames: Frame | list[Frame]) -> None:
        """Send now if upgraded, else queue; raises `SendQueueFull` or FrameError.

        A close frame ends the list (what follows is dropped, as Gun does) and,
        once sent, stops the client (`on_terminate` reason ``"stop"``).
        Call it through the actor: ``client.proxy().send(frame).get()``.
        """
        encoded = encode_frames(frames)
        if self._stopping:
            return
        if self.upgraded and self.conn is not None and gun.send_encoded(self.conn, encoded):
            self._sent(encoded)
            return
        if len(self.pending) >= self.queue_limit:
            raise SendQueueFull(f"{self.queue_limit} frames already wait for the connection")
        self.pending.append(encoded)

    def close(self) -> None:
        """Close gracefully (close 1001) and stop with ``"normal"``."""
        if self.conn is not None:
            gun.shutdown(self.conn)
        self._finish("normal", "normal")

    # -- the actor ---------------------------------------------------------------

    def init(self) -> None:
        host, port = (self.host, self.port) if self.via is None else (self.via.host, self.via.port)
        self.conn = gun.open(host, port, self.open_opts, owner=self.actor_ref)
        # The link stops the client on an abnormal exit; the monitor on any, and
        # stands in for the link when the connection is supervised.
        self._conn_mref = monitor(self.conn, self.actor_ref)

    def terminate(self, reason: object) -> None:
        self._stopping = True
        self._timers.disarm_all()
        if self.conn is not None and reason != "normal":
            gun.close(self.conn)
        try:
            self.on_terminate(self._cowboy_reason(reason), self.state)
        except Exception:
            logger.exception("%s.on_terminate failed", type(self).__name__)

    def _cowboy_reason(self, reason: object) -> Any:
        if self._why is not None:
            return self._why
        if isinstance(reason, BaseException):
            return ("crash", type(reason).__name__, reason)
        if reason in ("normal", "shutdown"):
            return "normal"  # stopped from outside
        return self._lost(reason)  # the linked connection's exit

    def handle_message(self, message: Any) -> Any:
        if self._stopping:
            return None
        if isinstance(message, TimerFired):
            self._tick(message)
            return None
        conn = self.conn
        assert conn is not None
        if (
            type(message) is tuple and len(message) == 5 and message[0] == "DOWN"
            and message[1] is self._conn_mref
        ):
            self._connection_ended(message[4])
            return None
        if not (
            type(message) is tuple and message and isinstance(message[0], str)
            and message[0][:4] == "gun_"
        ):
            self._answer(self.on_info(message, conn, self.state))
            return None
        if message[1] is not conn:
            return None
        getattr(self, "_" + message[0], self._ignore)(message, conn)
        return None

    # -- Gun's messages ----------------------------------------------------------

    def _ignore(self, message: Any, conn: ConnectionRef) -> None:
        pass

    def _gun_up(self, message: Any, conn: ConnectionRef) -> None:
        self.connected = True
        self.ref = self._tunnel_ref = None
        self._tunnel_up = self.via is None  # through a proxy: the tunnel first, every time
        self._upgrade_when_allowed()

    def _gun_tunnel_up(self, message: Any, conn: ConnectionRef) -> None:
        if message[2] is self._tunnel_ref:  # the CONNECT's, or None for SOCKS
            self._tunnel_up, self._tunnel_ref = True, None
            self._upgrade_when_allowed()

    def _gun_upgrade(self, message: Any, conn: ConnectionRef) -> None:
        if message[2] is not self.ref:
            return
        self.upgraded = True
        self._upgraded_at = self._last_frame_at = time.monotonic()
        self._remote = None
        if self.idle_timeout != "infinity":
            self._arm("idle", int(self.idle_timeout) / 1000)
        self._answer(self.on_connect(message[4], conn, self.state))
        self._flush()

    def _gun_ws(self, message: Any, conn: ConnectionRef) -> None:
        self._last_frame_at = time.monotonic()
        frame = message[3]
        kind = frame if isinstance(frame, str) else frame[0]
        if kind == "close":
            code, text = (None, "") if frame == "close" else (frame[1], frame[2])
            self._remote = "remote" if code is None else ("remote", code, text)
            self._answer(self.on_close(code, text, conn, self.state))
        else:
            self._answer(self.on_message(frame, conn, self.state))

    def _gun_response(self, message: Any, conn: ConnectionRef) -> None:
        if message[2] is self._tunnel_ref and self._tunnel_ref is not None:
            if not 200 <= message[4] < 300:  # the proxy refused the CONNECT
                self.ref, self._tunnel_ref = self._tunnel_ref, None
            else:
                return  # gun_tunnel_up follows
        if message[2] is not self.ref or self.upgraded:
            return
        self._refusal = (message[4], message[5], [])
        if message[3] == "fin":
            self._refused(conn)

    def _gun_data(self, message: Any, conn: ConnectionRef) -> None:
        if self._refusal is not None and message[2] is self.ref:
            self._refusal[2].append(message[4])
            if message[3] == "fin":
                self._refused(conn)

    def _gun_trailers(self, message: Any, conn: ConnectionRef) -> None:
        if self._refusal is not None and message[2] is self.ref:
            self._refused(conn)

    def _gun_down(self, message: Any, conn: ConnectionRef) -> None:
        was_upgraded, in_flight = self.upgraded, self.ref is not None
        self.connected = self.upgraded = False
        self._disarm("idle")
        self._disarm("upgrade")
        if self._refusal is not None:
            self._refused(conn)  # what came of the body
        elif was_upgraded and time.monotonic() - self._upgraded_at >= self.backoff.reset_ms / 1000:
            self.backoff.reset()
        elif was_upgraded or in_flight:
            self.backoff.failed()  # lost before its upgrade, or soon after
        self.ref = self._tunnel_ref = None
        self._tunnel_up = self.via is None
        if not self._stopping:
            self._answer(self.on_disconnect(conn, self.state))

    def _gun_error(self, message: Any, conn: ConnectionRef) -> None:
        if len(message) == 4 and message[2] is self.ref and not self.upgraded:
            self.ref = None  # the handshake failed: the connection ends, gun_down follows
            self._refusal = None
            self.backoff.failed()
        self._answer(self.on_error(message[-1], conn, self.state))

    def _refused(self, conn: ConnectionRef) -> None:
        assert self._refusal is not None
        status, headers, body = self._refusal
        self._refusal = None
        self.ref = None
        self.backoff.failed()
        refused = UpgradeRefused(status, headers, b"".join(body))
        self._answer(self.on_error(refused, conn, self.state))
        self._upgrade_when_allowed()

    def _connection_ended(self, reason: object) -> None:
        """The connection stopped (retries spent): so does the client, with its reason."""
        normal = reason in ("normal", "shutdown")
        self._finish(self._lost(reason), "normal" if normal else reason)

    def _lost(self, reason: object) -> Any:
        """Cowboy's reason for a connection that gave up with ``reason``."""
        if self._remote is not None:
            return self._remote
        cause = reason[1] if isinstance(reason, tuple) and len(reason) == 2 else reason
        return ("error", "closed" if cause in ("normal", "shutdown", "closed") else cause)

    # -- upgrades, timers ----------------------------------------------------------

    def _upgrade_when_allowed(self) -> None:
        if (self._stopping or not self.connected or self.upgraded or self.ref is not None
                or self._tunnel_ref is not None):
            return
        if not self._tunnel_up and self.tunnel is None:
            return  # SOCKS5: its handshake runs, gun_tunnel_up follows
        wait = self.backoff.remaining()
        if wait > 0:
            self._arm("upgrade", wait)
        elif self.conn is not None:
            self._disarm("upgrade")
            if self._tunnel_up:
                self.ref = gun.ws_upgrade(self.conn, self.path, self.headers)
            else:
                assert self.tunnel is not None
                self._tunnel_ref = gun.connect(self.conn, self.tunnel)

    def _arm(self, kind: str, delay: float) -> None:
        self._timers.arm(kind, delay)

    def _disarm(self, kind: str) -> None:
        self._timers.disarm(kind)

    def _tick(self, tick: TimerFired) -> None:
        """The client's timers: ``upgrade`` (a backoff is over) and ``idle``."""
        if not self._timers.fired(tick.kind, tick.token):
            return
        if tick.kind == "upgrade":
            self._upgrade_when_allowed()
        elif tick.kind == "idle" and self.upgraded:
            left = self._last_frame_at + int(self.idle_timeout) / 1000 - time.monotonic()
            if left > 0:
                self._arm("idle", left)
            else:
                self._finish("timeout", ("shutdown", "timeout"))

    # -- answers -------------------------------------------------------------------

    def _finish(self, why: Any, exit_reason: object) -> None:
        if self._why is None:
            self._why = why
        self._stopping = True
        self.exit(exit_reason)

    def _sent(self, encoded: list[EncodedFrame]) -> None:
        if encoded and encoded[-1][1]:  # a close frame went out: Cowboy's "stop"
            self._finish("stop", "normal")

    def _flush(self) -> None:
        while self.pending and self.conn is not None and not self._stopping:
            if not gun.send_encoded(self.conn, self.pending[0]):
                return
            self._sent(self.pending.popleft())

    def _answer(self, result: Any) -> None:
        """Apply a callback's answer: a state, ("reply", frames, state) or ("stop", state)."""
        if isinstance(result, tuple) and len(result) == 3 and result[0] == "reply":
            self.state = result[2]
            self.send(result[1])
        elif isinstance(result, tuple) and len(result) == 2 and result[0] == "stop":
            self.state = result[1]
            self._why = self._why or "stop"
            self.close()
        else:
            self.state = result
