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
reason, so a supervisor restarts it from `child_spec`.
"""

from __future__ import annotations

import functools
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from gunpy.actors import gun
from gunpy.actors._process import ProcessActor
from gunpy.actors.gun._ref import ConnectionRef
from gunpy.protocol import Frame, Headers, OptionsError, Ref, encode_frames

_CLIENT_ONLY = ("headers", "state", "send_queue_limit")


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
    frames, or ``("stop", state)`` to close and stop (exit reason ``"normal"``).
    ``url`` is ws:// or wss://; the keyword options are Gun's ``gun.open``
    options, plus ``headers`` for the upgrade, ``state`` (the initial state)
    and ``send_queue_limit`` (frames kept while down, default 1000).
    """

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__()
        self.host, self.port, self.path, transport = parse_ws_url(url)
        self.state: Any = options.get("state")
        self.headers: Any = options.get("headers")
        self.queue_limit: int = options.get("send_queue_limit", 1000)
        self.open_opts = {k: v for k, v in options.items() if k not in _CLIENT_ONLY}
        self.open_opts.setdefault("transport", transport)
        # Linked to its connection: when the connection gives up (retries spent),
        # the client exits with the same reason and its supervisor decides.
        self.open_opts.setdefault("supervise", False)
        self.conn: ConnectionRef | None = None
        self.ref: Ref | None = None
        self.upgraded = False
        self.pending: deque[list[tuple[bytes, bool]]] = deque()

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
        """The upgrade was refused or failed, or the stream reported an error."""
        return state

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

        Call it through the actor: ``client.proxy().send(frame).get()``.
        """
        encoded = encode_frames(frames)
        if self.upgraded and self.conn is not None and gun.send_encoded(self.conn, encoded):
            return
        if len(self.pending) >= self.queue_limit:
            raise SendQueueFull(f"{self.queue_limit} frames already wait for the connection")
        self.pending.append(encoded)

    def close(self) -> None:
        """Close gracefully (close 1001) and stop with ``"normal"``."""
        if self.conn is not None:
            gun.shutdown(self.conn)
        self.exit("normal")

    # -- the actor ---------------------------------------------------------------

    def init(self) -> None:
        self.conn = gun.open(self.host, self.port, self.open_opts, owner=self.actor_ref)

    def terminate(self, reason: object) -> None:
        if self.conn is not None and reason != "normal":
            gun.close(self.conn)

    def handle_message(self, message: Any) -> Any:
        if type(message) is not tuple or not message or message[0][:4] != "gun_":
            return None
        tag, conn = message[0], self.conn
        if conn is None or message[1] is not conn:
            return None
        if tag == "gun_ws":
            frame = message[3]
            kind = frame if isinstance(frame, str) else frame[0]
            if kind == "close":
                code, text = (None, "") if frame == "close" else (frame[1], frame[2])
                self._answer(self.on_close(code, text, conn, self.state))
            else:
                self._answer(self.on_message(frame, conn, self.state))
        elif tag == "gun_up":
            self.ref = gun.ws_upgrade(conn, self.path, self.headers)
        elif tag == "gun_upgrade":
            self.upgraded = True
            self._answer(self.on_connect(message[4], conn, self.state))
            self._flush()
        elif tag == "gun_down":
            self.upgraded = False
            self._answer(self.on_disconnect(conn, self.state))
        elif tag == "gun_response":
            refused = ("upgrade_refused", message[4], message[5])
            self._answer(self.on_error(refused, conn, self.state))
        elif tag == "gun_error":
            self._answer(self.on_error(message[-1], conn, self.state))
        return None

    def _flush(self) -> None:
        while self.pending and self.conn is not None:
            if not gun.send_encoded(self.conn, self.pending[0]):
                return
            self.pending.popleft()

    def _answer(self, result: Any) -> None:
        """Apply a callback's answer: a state, ("reply", frames, state) or ("stop", state)."""
        if isinstance(result, tuple) and len(result) == 3 and result[0] == "reply":
            self.state = result[2]
            self.send(result[1])
        elif isinstance(result, tuple) and len(result) == 2 and result[0] == "stop":
            self.state = result[1]
            self.close()
        else:
            self.state = result
