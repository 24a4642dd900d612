"""`SocketIOPart`: what the parts of `SocketIO` (its mixin modules) may use of each other.

Declarations for the type checker only: at run time the class is empty, and
every name below is `SocketIO`'s own (``_io``).
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gunpy.actors._io_loop import IOLoop
    from gunpy.actors.gun._attempt import Stage
    from gunpy.actors.gun._event_sink import EventSink
    from gunpy.protocol import ClientConnection, Event


class SocketIOPart:
    """The state and steps every part of `SocketIO` shares (see the module doc)."""

    if TYPE_CHECKING:
        stage: Stage
        sock: socket.socket | None
        proto: ClientConnection
        loop: IOLoop
        lock: threading.Lock
        events: EventSink
        _abort_reason: object

        def _kick(self, force: bool = False) -> None: ...
        def _settle(self) -> None: ...
        def _dispatch(self, events: list[Event]) -> None: ...
        def _tell(self, event: object) -> None: ...
        def _wanted_interest(self) -> int: ...
        def _set_interest(self, mask: int) -> None: ...
