"""Small helpers shared by the behaviour tests: open, upgrade and wait for messages."""

from __future__ import annotations

from typing import Any

from gunpy.actors import ConnectionRef, Mailbox, gun, monitor
from gunpy.protocol import Ref

WAIT = 10.0
"""Seconds to wait for an event that should come: generous, never a speed assertion."""


def tagged(tag: str, conn: object = None) -> Any:
    """A match function for messages with ``tag`` (about ``conn``, if given)."""

    def match(m: Any) -> bool:
        return (
            type(m) is tuple
            and len(m) > 1
            and m[0] == tag
            and (conn is None or m[1] is conn or (tag == "DOWN" and m[3] is conn))
        )

    return match


def receive(tag: str | None = None, conn: object = None, box: Mailbox | None = None) -> Any:
    """The next message (with ``tag``) in ``box`` (default: this thread's mailbox)."""
    box = Mailbox.current() if box is None else box
    return box.receive(None if tag is None else tagged(tag, conn), timeout=WAIT)


def open_ws(
    port: int,
    path: str = "/",
    opts: dict[str, Any] | None = None,
    ws_opts: dict[str, Any] | None = None,
    headers: Any = None,
) -> tuple[ConnectionRef, Ref, Ref]:
    """Open with retry 0, upgrade, and monitor; return (conn, stream ref, monitor ref)."""
    conn = gun.open("127.0.0.1", port, {"retry": 0, **(opts or {})})
    mref = monitor(conn)
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    ref = gun.ws_upgrade(conn, path, headers, ws_opts)
    result = gun.await_(conn, ref, WAIT)
    assert result[:2] == ("upgrade", ["websocket"]), result
    return conn, ref, mref


def exit_reason(conn: object) -> Any:
    """Wait for the DOWN of a connection monitored by this thread; return its reason."""
    return receive("DOWN", conn)[4]


def no_message_about(conn: object, box: Mailbox | None = None) -> bool:
    """True if nothing about ``conn`` is queued (call once the connection is dead)."""
    box = Mailbox.current() if box is None else box
    return not any(type(m) is tuple and conn in m for m in box.messages())


def open_for_pipeline(port: int, opts: dict[str, Any] | None = None) -> ConnectionRef:
    """``gun.open`` with retry 0 and a monitor, not awaited: requests made next wait for
    the connection and are all taken at once when it is up.

    For tests of requests behind one that ends the connection: on a connection
    already up, the server could answer the first (and the connection end)
    before the actor took the next, which then nobody answers (in Gun too).
    """
    conn = gun.open("127.0.0.1", port, {"retry": 0, **(opts or {})})
    monitor(conn)
    return conn

