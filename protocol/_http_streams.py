"""The pieces `Http1Client` is made of: its `Stream` records and its `Outbox`."""

from __future__ import annotations

from dataclasses import dataclass

from gunpy.protocol._content import Handler
from gunpy.protocol._events import Deliver, Event, UpgradeRequest
from gunpy.protocol._messages import Message
from gunpy.protocol._refs import Ref
from gunpy.protocol._tunnel_options import TunnelDestination


@dataclass(eq=False, slots=True)
class Stream:
    """A request written to the server whose answer is not complete yet."""

    ref: Ref
    reply_to: object
    method: str
    path: str
    flow: int | None  # credit left (None: no flow control)
    closes: bool  # the request said connection: close (or HTTP/1.0)
    upgrade: UpgradeRequest | None = None
    key: str = ""  # sec-websocket-key of an upgrade
    connect: TunnelDestination | None = None  # a CONNECT: where its tunnel goes
    alive: bool = True  # False once cancelled or answered with an error
    head_fin: bool = False  # its gun_response said fin: no body follows
    chain: list[Handler] | None = None  # content handlers, from the head on
    started: bool = False  # something of its answer was read (Gun's response_start)


class Outbox:
    """The events of one call, in order; consecutive messages to one reply_to in one `Deliver`."""

    __slots__ = ("conn", "events")

    def __init__(self, conn: object) -> None:
        self.conn = conn
        self.events: list[Event] = []

    def emit(self, to: object, message: Message) -> None:
        """Queue ``message`` for ``to``."""
        events = self.events
        last = events[-1] if events else None
        if last.__class__ is Deliver and last.to is to:
            last.messages.append(message)
        else:
            events.append(Deliver(to, [message]))

    def error(self, to: object, ref: Ref, reason: object) -> None:
        """Queue ``("gun_error", conn, ref, reason)`` for ``to``."""
        self.emit(to, ("gun_error", self.conn, ref, reason))

    def mark_last_data_fin(self, stream: Stream) -> bool:
        """Turn the last queued ``gun_data`` of ``stream`` into its ``fin``; False if none."""
        last = self.events[-1] if self.events else None
        if isinstance(last, Deliver) and last.to is stream.reply_to and last.messages:
            message = last.messages[-1]
            if message[0] == "gun_data" and message[2] is stream.ref:
                last.messages[-1] = ("gun_data", self.conn, stream.ref, "fin", message[4])
                return True
        return False

    def add(self, event: Event) -> None:
        """Queue an event other than a delivery."""
        self.events.append(event)

    def take(self) -> list[Event]:
        """Every event queued so far (and forget them)."""
        events, self.events = self.events, []
        return events
