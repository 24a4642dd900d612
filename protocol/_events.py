"""The states of a live connection and the events `ClientConnection` returns."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from gunpy.protocol._messages import Headers, Message
from gunpy.protocol._options import WsOptions
from gunpy.protocol._refs import Ref
from gunpy.protocol._tunnel_options import TunnelDestination


class StateName(enum.StrEnum):
    """Gun's ``state_name`` values, all of them, as ``gun.info`` reports them."""

    NOT_CONNECTED = "not_connected"
    DOMAIN_LOOKUP = "domain_lookup"
    CONNECTING = "connecting"
    INITIAL_TLS_HANDSHAKE = "initial_tls_handshake"
    CONNECTED = "connected"
    CONNECTED_WS_ONLY = "connected_ws_only"
    CLOSING = "closing"


class ConnState(enum.Enum):
    """Where a live connection is; `state_name` is how Gun names it."""

    CONNECTED = "connected"
    CONNECTED_WS_ONLY = "connected_ws_only"
    CLOSING = "closing"
    CLOSED = "closed"

    @property
    def state_name(self) -> StateName:
        """Gun's name: a CLOSED connection is still closing until its socket is gone."""
        return StateName.CLOSING if self is ConnState.CLOSED else StateName(self.value)


class Deliver(NamedTuple):
    """Event: send ``messages`` (Gun tuples, in order) to ``to``, a stream's reply_to."""

    to: object
    messages: list[Message]


class Upgraded(NamedTuple):
    """Event: stream ``ref`` is a WebSocket now (arm keepalive timers)."""

    ref: Ref


class CloseSent(NamedTuple):
    """Event: our close frame is queued; the peer has ``closing_timeout`` ms to answer."""

    closing_timeout: object


class Refused(NamedTuple):
    """Event: the connection is closing, so ``command`` (a request) was not taken.

    Gun postpones it to the next connection, or with ``retry`` 0 answers
    ``("gun_error", conn, ref, "closing")``: the actor decides.
    """

    command: object


class TunnelUp(NamedTuple):
    """Event: the tunnel to the origin is up (Gun's ``gun_tunnel_up`` to ``reply_to``,
    the owner when None; ``ref`` is the CONNECT's stream, None for SOCKS)."""

    ref: Ref | None
    reply_to: object
    protocol: str


class Notify(NamedTuple):
    """Event: Gun's event handler callback ``name`` with Gun's ``event`` map.

    Only made when the connection was asked for them (``notify``): an
    ``event_handler`` is set, so a connection without one pays nothing.
    """

    name: str
    event: dict[str, Any]


Event = Deliver | Upgraded | CloseSent | Refused | TunnelUp | Notify


class SendOutcome(enum.Enum):
    """What `ClientConnection.send_frames` did with the frames."""

    SENT = "sent"
    CLOSE_SENT = "close_sent"  # sent, ending with our close: arm closing_timeout
    NOT_WEBSOCKET = "not_websocket"  # plain HTTP: Gun's badstate error
    NOT_OPEN = "not_open"  # closing or closed: Gun postpones to the next connection


class UpgradeRequest(NamedTuple):
    """A ``ws_upgrade`` waiting for its turn on the connection."""

    ref: Ref
    path: str
    headers: Headers
    ws_opts: WsOptions
    reply_to: object


class HttpRequest(NamedTuple):
    """A request (``gun.get``, ``gun.request``, ``gun.headers``...) for the pipeline.

    ``body`` None means the body follows with ``gun.data`` (Gun's ``headers``);
    ``flow`` None means ``http_opts.flow`` (unset: no flow control).
    """

    ref: Ref
    method: str
    path: str
    headers: Headers
    body: bytes | None
    reply_to: object
    flow: int | None


class ConnectRequest(NamedTuple):
    """``gun.connect``: a CONNECT to the proxy for a tunnel to ``destination``."""

    ref: Ref
    destination: TunnelDestination
    headers: Headers
    reply_to: object


class DataPart(NamedTuple):
    """``gun.data``: the next part of the body of request ``ref``; ``fin`` ends it."""

    ref: Ref
    fin: bool
    data: bytes
    reply_to: object
