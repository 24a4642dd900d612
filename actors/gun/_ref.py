"""`ConnectionRef`: the ``conn`` value of every message, and Gun's owner-down rule."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

import pykka

from gunpy.protocol import OpenOptions, Ref

if TYPE_CHECKING:
    from gunpy.actors.gun._io import SocketIO


class Channel:
    """The direct path from callers to the live socket of a connection.

    ``io`` is the `SocketIO` of the current attempt while it is connected,
    else None; only the connection actor changes it. ``ws_send`` and
    ``update_flow`` read it from any thread (one attribute read: atomic).
    ``owner`` is the actor's owner (a request's default reply_to), and
    ``pending`` counts the commands callers told the actor that it has not
    applied yet: while any is pending, later ones go through the actor too.
    """

    __slots__ = ("_lock", "io", "owner", "pending")

    def __init__(self) -> None:
        self.io: SocketIO | None = None
        self.owner: object = None
        self.pending = 0
        self._lock = threading.Lock()

    def told(self) -> None:
        """A caller is telling the actor a counted command."""
        with self._lock:
            self.pending += 1

    def applied(self) -> None:
        """The actor has applied (or postponed) one counted command."""
        with self._lock:
            self.pending -= 1


class ConnectionRef:
    """The handle of one connection: the ``conn`` that appears in every message.

    Immutable once started: hashable, compared by identity. ``actor_ref`` is
    the pykka ref of its connection actor; monitor the conn
    (``gunpy.actors.monitor(conn)``) to learn its exit reason.
    """

    __slots__ = ("__weakref__", "_channel", "actor_ref", "host", "number", "opts", "port")

    host: str
    port: int
    opts: OpenOptions
    number: int
    actor_ref: pykka.ActorRef[Any] | None
    _channel: Channel

    def __init__(self, host: str, port: int, opts: OpenOptions) -> None:
        set_ = object.__setattr__
        set_(self, "host", host)
        set_(self, "port", port)
        set_(self, "opts", opts)
        set_(self, "number", Ref().number)
        set_(self, "actor_ref", None)
        set_(self, "_channel", Channel())

    def bind(self, actor_ref: pykka.ActorRef[Any]) -> None:
        """Record the connection's actor (once, when it starts)."""
        if self.actor_ref is not None:
            raise AttributeError(f"{self!r} is already bound to {self.actor_ref!r}")
        object.__setattr__(self, "actor_ref", actor_ref)

    def tell(self, message: object) -> None:
        """Cast to the connection; like an Erlang cast, a dead connection drops it."""
        ref = self.actor_ref
        if ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(message)

    def ask(self, message: object, timeout: float) -> Any:
        """Call the connection; raises pykka's ActorDeadError if it is gone."""
        ref = self.actor_ref
        if ref is None:
            raise pykka.ActorDeadError(f"{self!r} never started")
        return ref.ask(message, block=True, timeout=timeout)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ConnectionRef is immutable (tried to set {name})")

    def __repr__(self) -> str:
        return f"<gun conn {self.host}:{self.port} #{self.number}>"


def owner_down_reason(reason: object) -> object:
    """Gun's exit reason when the owner dies: its own, or ``("shutdown", ("owner_down", r))``."""
    if reason in ("normal", "shutdown") or (
        isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown"
    ):
        return reason
    return ("shutdown", ("owner_down", reason))
