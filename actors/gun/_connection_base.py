"""`ConnectionBase`: what every state of `ConnectionActor` uses alike.

Its fields (the connection's whole state besides the live `ClientConnection`),
its timers (one per kind, on the process-wide scheduler), Gun's event
handler callbacks, and ``info`` / ``stream_info``, which tell the truth
about the state at the moment they are asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunpy.actors._mailbox import sender_for
from gunpy.actors._process import ProcessActor
from gunpy.actors._scheduler import ActorTimers
from gunpy.actors.gun._commands import Timeout
from gunpy.actors.gun._event_sink import EventSink
from gunpy.actors.gun._io import SocketIO
from gunpy.actors.gun._ref import ConnectionRef
from gunpy.protocol import OpenOptions, Ref, StateName
from gunpy.supervision._retry import RetryPolicy


class ConnectionBase(ProcessActor):
    """The state and the helpers of a Gun connection actor (see the module doc)."""

    def __init__(
        self, conn: ConnectionRef, host: str, port: int, opts: OpenOptions, owner: object
    ) -> None:
        super().__init__()
        self.conn = conn
        conn.bind(self.actor_ref)
        self.monitors.target = conn  # DOWN messages name the conn, as they name the pid in Gun
        self.host = host
        self.port = port
        self.opts = opts
        self.owner = conn._channel.owner = owner
        self.send_owner: Callable[[Any], None] = sender_for(owner)
        self.owner_monitor: Ref | None = None
        self.state = StateName.DOMAIN_LOOKUP
        self.retry = RetryPolicy(opts.retry, opts.raw, opts.retry_fun)
        self.io: SocketIO | None = None
        self.sockname: tuple[Any, ...] | None = None
        self.postponed: list[object] = []
        self.stop_reason: object = None  # set by shutdown / owner death
        self.timers = ActorTimers(self.actor_ref.tell, Timeout)
        self.events = EventSink(opts.event_handler)  # shared with each attempt's I/O
        self.last_failure: object = None  # the last failed attempt's reason

    # -- event handler -----------------------------------------------------------------

    def _event(self, name: str, **event: Any) -> None:
        """Gun's event handler: ``handler.name(event_dict, state) -> state``, if defined."""
        if self.events.active:
            self.events.emit(name, event)

    # -- timers ------------------------------------------------------------------------

    def _arm(self, kind: str, delay: float) -> None:
        self.timers.arm(kind, delay)

    def _disarm(self, kind: str) -> None:
        self.timers.disarm(kind)

    # -- info --------------------------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        io = self.io
        state_name, protocol = self.state.value, None
        if self.state is StateName.CONNECTED and io is not None:
            state_name, protocol = io.describe()  # the live connection's own view, read now
        info: dict[str, Any] = {
            "owner": self.owner,
            "socket": io.sock if io is not None else None,
            "transport": self.opts.transport,
            "state_name": state_name,
            "origin_scheme": "https" if self.opts.transport == "tls" else "http",
            "origin_host": self.host,
            "origin_port": self.port,
            "intermediaries": [],
            "cookie_store": self.opts.cookie_store,
            "event_handler": self.opts.event_handler[0] if self.opts.event_handler else None,
            "event_handler_state": self.events.state,
            "retries_left": self.retry.retries_left,
            "last_failure": self.last_failure,
        }
        if protocol is not None:
            info["protocol"] = protocol
            if isinstance(self.sockname, tuple):  # not for a Unix domain socket
                info["sock_ip"], info["sock_port"] = self.sockname[0], self.sockname[1]
        return info


    def _stream_info(self, ref: Ref) -> tuple[str, object]:
        """Gun's ``stream_info``: ``("ok", info | None)``, ``("error", "not_connected")``."""
        io = self.io
        if self.state is not StateName.CONNECTED or io is None:
            return ("error", "not_connected")
        return ("ok", io.stream_info(ref))
