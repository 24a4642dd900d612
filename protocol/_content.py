"""Content handlers: what becomes of a response body (Gun's ``content_handlers``).

Gun passes each piece of a body through a chain of handlers
(``gun_content_handler``); the default, ``gun_data_h``, sends it to the
stream's reply_to as ``gun_data``. gunpy keeps the chain and its callbacks
with one change: a handler sends with the ``reply`` it is given (a
`StreamReply`: call it with a message; ``reply.conn`` is the connection),
because the connection's rules run sans-I/O and hand every message over in
order. A handler is any object (a module, a class, an instance) with::

    init(reply, stream_ref, status, headers, opts) -> ("ok", state) | "disable"
    handle(fin, data, state) -> ("ok", data, flow_dec, state)   # to the next handler
                              | ("done", flow_dec, state)       # the chain stops here

``flow_dec`` is how much of the stream's ``flow`` credit this piece used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from gunpy.protocol._messages import Headers, Message


class StreamReply:
    """How a content handler sends a message to the stream's reply_to."""

    __slots__ = ("_emit", "conn", "to")

    def __init__(self, conn: object, to: object, emit: Callable[[object, Message], None]) -> None:
        self.conn = conn
        self.to = to
        self._emit = emit

    def __call__(self, message: Message) -> None:
        self._emit(self.to, message)


class _DataHandler:
    """``gun_data_h``: every piece as ``("gun_data", conn, ref, fin, data)``, 1 credit each."""

    def __repr__(self) -> str:
        return "gun_data_h"

    def init(
        self, reply: StreamReply, stream_ref: object, status: int, headers: Headers, opts: Any
    ) -> tuple[str, Any]:
        return ("ok", (reply, stream_ref))

    def handle(self, fin: str, data: bytes, state: Any) -> tuple[Any, ...]:
        reply, ref = state
        reply(("gun_data", reply.conn, ref, fin, data))
        return ("done", 1, state)


gun_data_h = _DataHandler()
"""The default content handler, Gun's ``gun_data_h``."""


class Handler(NamedTuple):
    """One link of a stream's chain: the handler and its state."""

    handler: Any
    state: Any


def start_chain(
    handlers: tuple[tuple[Any, Any], ...],
    reply: StreamReply,
    stream_ref: object,
    status: int,
    headers: Headers,
) -> list[Handler]:
    """Gun's ``gun_content_handler:init``: each handler's state; ``disable`` skips one."""
    chain: list[Handler] = []
    for handler, opts in handlers:
        result = handler.init(reply, stream_ref, status, headers, opts)
        if result != "disable":
            chain.append(Handler(handler, result[1]))
    return chain


def run_chain(chain: list[Handler], fin: str, data: bytes) -> int:
    """Gun's ``gun_content_handler:handle``: pass ``data`` along; return the flow used."""
    used = 0
    for index, (handler, state) in enumerate(chain):
        result = handler.handle(fin, data, state)
        if result[0] == "done":
            chain[index] = Handler(handler, result[2])
            return used + int(result[1])
        _, data, step, new_state = result
        chain[index] = Handler(handler, new_state)
        used += int(step)
    return used


def check_content_handlers(value: object) -> tuple[tuple[Any, Any], ...] | None:
    """``[handler | (handler, opts)]`` as pairs; None if not a valid chain."""
    if not isinstance(value, list | tuple) or not value:
        return None
    pairs: list[tuple[Any, Any]] = []
    for item in value:
        handler, opts = item if isinstance(item, tuple) and len(item) == 2 else (item, {})
        if not (callable(getattr(handler, "init", None)) and callable(
                getattr(handler, "handle", None))):
            return None
        pairs.append((handler, opts))
    return tuple(pairs)
