"""Gun's ``event_handler`` for one connection: callbacks from any thread, one at a time.

Gun calls its event handler from the connection process only. Here events
happen in the connection actor (lookup, connect, TLS, disconnect), on the I/O
loop (responses, frames received) and in a ``ws_send`` caller (frames sent),
so `EventSink` serialises the callbacks with a lock and keeps the handler's
state across them and across reconnects, as Gun's process does. An
exception in a callback propagates: it ends the connection, as a crashing
event handler crashes Gun's.
"""

from __future__ import annotations

import threading
from typing import Any


class EventSink:
    """``(handler, initial_state)`` (Gun's option), or None: then `active` is False."""

    def __init__(self, event_handler: tuple[Any, Any] | None) -> None:
        self.handler: Any = event_handler[0] if event_handler else None
        self.state: Any = event_handler[1] if event_handler else None
        self.active = event_handler is not None
        self._lock = threading.Lock()

    def emit(self, name: str, event: dict[str, Any]) -> None:
        """Call ``handler.name(event, state)`` if it has one; keep what it returns."""
        callback = getattr(self.handler, name, None) if self.active else None
        if callback is not None:
            with self._lock:
                self.state = callback(event, self.state)
