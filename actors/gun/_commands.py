"""The messages a connection actor handles: commands from ``gun`` and events from its I/O.

Commands come from ``gun`` functions (any thread); events come from the
`SocketIO` of the current attempt and carry it, so that the actor can tell
a stale event (from an attempt it gave up on) from a live one. All are
NamedTuples, matched by the actor's state functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from gunpy.protocol import (
    ConnectRequest,
    DataPart,
    EncodedFrame,
    HttpRequest,
    Ref,
    UpgradeRequest,
)

if TYPE_CHECKING:
    from gunpy.actors.gun._io import SocketIO

# Events from the I/O of an attempt ------------------------------------------------


class Phase(NamedTuple):
    """I/O event: the attempt moved on to ``state_name`` (connecting, initial_tls_handshake)."""

    io: SocketIO
    state_name: str


class Connected(NamedTuple):
    """I/O event: TCP (and TLS) is up; the connection speaks HTTP/1.1."""

    io: SocketIO
    sockname: tuple[Any, ...]


class AttemptFailed(NamedTuple):
    """I/O event: lookup, connect or TLS failed with Gun's ``reason``."""

    io: SocketIO
    reason: object


class WsUp(NamedTuple):
    """I/O event: stream ``ref`` became a WebSocket."""

    io: SocketIO
    ref: Ref


class TunnelIsUp(NamedTuple):
    """I/O event: a tunnel (CONNECT or SOCKS) reached the origin: Gun's ``gun_tunnel_up``."""

    io: SocketIO
    ref: Ref | None
    reply_to: object
    protocol: str


class ClosingStarted(NamedTuple):
    """I/O event: a close frame went out; the peer has ``closing_timeout`` ms."""

    io: SocketIO
    closing_timeout: object


class Closed(NamedTuple):
    """I/O event: the connection ended and its socket is closed; the last event of an I/O."""

    io: SocketIO
    protocol: str
    reason: object
    killed: list[Ref]


class NotTaken(NamedTuple):
    """I/O event: the connection is closing and did not take ``command`` (a request)."""

    io: SocketIO
    command: object


# Commands from the gun facade ----------------------------------------------------


class Request(NamedTuple):
    request: HttpRequest | ConnectRequest


class Data(NamedTuple):
    part: DataPart


class Cancel(NamedTuple):
    ref: Ref
    reply_to: object


class StreamInfo(NamedTuple):
    ref: Ref



class WsUpgrade(NamedTuple):
    request: UpgradeRequest


class WsSend(NamedTuple):
    ref: Ref
    encoded: list[EncodedFrame]
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


class Timeout(NamedTuple):
    """A timer of the actor fired: retry, lookup, closing, keepalive, http_keepalive, dead_peer."""

    kind: str
    token: object
