"""The messages between the gun facade, a ConnectionActor and its SocketWorker.

Commands come from ``gun`` functions (any thread) to the actor; events come
from the socket worker to the actor. All are NamedTuples, matched by type in
`ConnectionActor.handle_message`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from gunpy.protocol import Headers, Ref, WsOptions

if TYPE_CHECKING:
    from gunpy.actors._session import WebSocketSession
    from gunpy.actors._socket_worker import SocketWorker

# Events from the socket worker --------------------------------------------------


class Phase(NamedTuple):
    """Worker event: the attempt entered Gun state ``state_name``."""

    worker: SocketWorker
    state_name: str


class Connected(NamedTuple):
    """Worker event: TCP (and TLS) is up; the connection speaks HTTP."""

    worker: SocketWorker
    sockname: tuple[Any, ...]


class AttemptFailed(NamedTuple):
    """Worker event: lookup, connect or TLS failed with ``reason``."""

    worker: SocketWorker
    reason: object


class Upgraded(NamedTuple):
    """Worker event: the upgrade succeeded; the reader delivers frames from now on."""

    worker: SocketWorker
    session: WebSocketSession


class ProtocolFault(NamedTuple):
    """Worker event: the server broke RFC 6455; the close waits for the owner (a barrier)."""

    worker: SocketWorker
    session: WebSocketSession


class Closed(NamedTuple):
    """Worker event: the connection ended; last event of a worker. ``reason`` is Gun's."""

    worker: SocketWorker
    protocol: str
    reason: object
    killed: list[Ref]


class Upgrade(NamedTuple):
    """Command for the worker: upgrade to WebSocket."""

    ref: Ref
    path: str
    headers: Headers
    ws_opts: WsOptions
    reply_to: object


# Commands from the gun facade ---------------------------------------------------


class WsUpgrade(NamedTuple):
    ref: Ref
    path: str
    headers: Headers
    ws_opts: WsOptions
    reply_to: object


class WsSend(NamedTuple):
    ref: Ref
    encoded: list[tuple[bytes, bool]]
    reply_to: object


class StreamError(NamedTuple):
    ref: Ref
    reason: object
    reply_to: object


class Shutdown(NamedTuple):
    pass


class SetOwner(NamedTuple):
    owner: object


class Info(NamedTuple):
    pass
