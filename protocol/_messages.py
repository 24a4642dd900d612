"""The shapes of every message gunpy sends to an owner, as plain tuples.

Messages are tuples whose first element is the tag, exactly as Gun sends them,
so a ``match`` statement on the plain tuple works::

    match msg:
        case ("gun_ws", conn, ref, ("text", text)): ...
        case ("gun_down", conn, protocol, reason, killed): ...

Builders below are the one place where each shape is written down.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from gunpy.protocol._refs import Ref

Headers: TypeAlias = list[tuple[str, str]]
"""HTTP headers: ``(name, value)`` pairs, names lower-case, order kept."""

Frame: TypeAlias = (
    tuple[Literal["text"], str]
    | tuple[Literal["binary"], bytes]
    | Literal["close", "ping", "pong"]
    | tuple[Literal["close"], int, str]
    | tuple[Literal["ping", "pong"], bytes]
)
"""A WebSocket frame as Gun shows it (``("close", payload)`` is also accepted to send)."""

FrameKind: TypeAlias = Literal["text", "binary", "close", "ping", "pong"]


def frame_kind(frame: object) -> FrameKind:
    """A frame's kind, whatever its shape: ``"ping"`` for both ``"ping"`` and
    ``("ping", payload)`` (``frame[0]`` of the bare string ``"ping"`` is ``"p"``).

    Raises ValueError for anything that is not a frame.
    """
    kind = frame if isinstance(frame, str) else (
        frame[0] if isinstance(frame, tuple) and frame else None)
    if kind not in ("text", "binary", "close", "ping", "pong"):
        raise ValueError(f"not a frame: {frame!r}")
    return kind  # type: ignore[return-value]


Fin: TypeAlias = Literal["fin", "nofin"]
Message: TypeAlias = tuple[Any, ...]


def gun_up(conn: object, protocol: str) -> Message:
    """``("gun_up", conn, protocol)``: the connection is up (``protocol`` is ``"http"``)."""
    return ("gun_up", conn, protocol)


def gun_down(conn: object, protocol: str, reason: object, killed: list[Ref]) -> Message:
    """``("gun_down", conn, protocol, reason, killed_streams)``: the connection was lost."""
    return ("gun_down", conn, protocol, reason, killed)


def gun_upgrade(conn: object, ref: Ref, headers: Headers) -> Message:
    """``("gun_upgrade", conn, ref, ["websocket"], headers)``: the upgrade succeeded."""
    return ("gun_upgrade", conn, ref, ["websocket"], headers)


def gun_response(conn: object, ref: Ref, fin: Fin, status: int, headers: Headers) -> Message:
    """``("gun_response", conn, ref, fin, status, headers)``: a non-101 answer."""
    return ("gun_response", conn, ref, fin, status, headers)


def gun_data(conn: object, ref: Ref, fin: Fin, data: bytes) -> Message:
    """``("gun_data", conn, ref, fin, data)``: response body."""
    return ("gun_data", conn, ref, fin, data)


def gun_ws(conn: object, ref: Ref, frame: Frame) -> Message:
    """``("gun_ws", conn, ref, frame)``: a WebSocket frame from the server."""
    return ("gun_ws", conn, ref, frame)


def gun_stream_error(conn: object, ref: Ref, reason: object) -> Message:
    """``("gun_error", conn, ref, reason)``: an error on one stream."""
    return ("gun_error", conn, ref, reason)


def gun_conn_error(conn: object, reason: object) -> Message:
    """``("gun_error", conn, reason)``: a connection-wide error; the connection may live on."""
    return ("gun_error", conn, reason)


def down(mref: Ref, target: object, reason: object) -> Message:
    """``("DOWN", mref, "process", target, reason)``: a monitored process stopped."""
    return ("DOWN", mref, "process", target, reason)


def exit_signal(source: object, reason: object) -> Message:
    """``("EXIT", source, reason)``: a linked process stopped (seen when trapping exits)."""
    return ("EXIT", source, reason)


BADSTATE_WS_ONLY: str = "This connection only accepts Websocket frames."
BADSTATE_NOT_WS: str = (
    "This connection does not currently accept Websocket frames. "
    "The Websocket upgrade was not performed. "
    "This may happen as a result of automatic reconnect."
)
BADSTATE_SET_OWNER_CLOSING: str = (
    "The owner of the connection cannot be changed when the connection is shutting down."
)
