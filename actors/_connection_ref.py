"""`ConnectionRef`: the ``conn`` value of every message, and Gun's owner-down rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pykka

from gunpy.protocol import OpenOptions, Ref

if TYPE_CHECKING:
    from gunpy.actors._session import WebSocketSession
    from gunpy.actors._socket_worker import SocketWorker


class ConnectionRef:
    """The handle of one connection: the ``conn`` that appears in every message.

    Hashable, compared by identity. ``actor_ref`` is the pykka ref of its
    `ConnectionActor`; monitor it (``gunpy.actors.monitor(conn)``) to learn
    its exit reason.
    """

    __slots__ = (
        "__weakref__",
        "_session",
        "_worker",
        "actor_ref",
        "host",
        "number",
        "opts",
        "port",
    )

    def __init__(self, host: str, port: int, opts: OpenOptions) -> None:
        self.host = host
        self.port = port
        self.opts = opts
        self.number = Ref().number
        self.actor_ref: pykka.ActorRef[Any] | None = None
        # Set by the socket worker while a WebSocket session is open: the direct
        # path of ws_send and update_flow.
        self._session: WebSocketSession | None = None
        self._worker: SocketWorker | None = None

    def __repr__(self) -> str:
        return f"<gun conn {self.host}:{self.port} #{self.number}>"


def owner_down_reason(reason: object) -> object:
    """Gun's exit reason when the owner dies: its own, or ``("shutdown", ("owner_down", r))``."""
    if reason in ("normal", "shutdown") or (
        isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown"
    ):
        return reason
    return ("shutdown", ("owner_down", reason))
