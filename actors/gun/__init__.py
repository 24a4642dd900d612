"""Gun's API, for Python threads and pykka actors.

Every function mirrors the Erlang function of the same name in Gun 2.x (``await``
is a Python keyword, hence `await_`). Options are Gun's, times in
milliseconds; ``timeout`` arguments of the ``await`` functions are seconds,
as everywhere in Python. Messages arrive in the owner's mailbox as tuples::

    conn = gun.open("example.com", 443)
    assert gun.await_up(conn) == ("ok", "http")
    ref = gun.ws_upgrade(conn, "/chat")
    match gun.await_(conn, ref):
        case ("upgrade", ["websocket"], headers):
            gun.ws_send(conn, ref, ("text", "hello"))

Where Gun sends stream messages to the calling process, gunpy sends them to
the connection's owner (or ``ws_opts["reply_to"]``): a plain Python thread
has no mailbox unless it owns one.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pykka

from gunpy.actors._mailbox import Mailbox, sender_for
from gunpy.actors._process import Exit, demonitor, link, monitor, process_of
from gunpy.actors.gun._commands import Info, SetOwner, Shutdown, StreamError, WsSend, WsUpgrade
from gunpy.actors.gun._connection import ConnectionActor
from gunpy.actors.gun._live import submit
from gunpy.actors.gun._ref import ConnectionRef
from gunpy.actors.gun._requests import (
    cancel,
    checked_reply_to,
    connect,
    data,
    delete,
    get,
    head,
    headers,
    options,
    patch,
    post,
    put,
    request,
    stream_info,
)
from gunpy.protocol import (
    EncodedFrame,
    Frame,
    FrameError,
    InvalidRequest,
    InvalidRequestHeader,
    InvalidRequestTarget,
    OpenOptions,
    OptionsError,
    Ref,
    SendOutcome,
    UpgradeRequest,
    check_open_options,
    check_ws_options,
    encode_frames,
)
from gunpy.protocol._handshake import HeadersIn, check_path, normalize_headers
from gunpy.supervision._gun_sup import gun_conns_sup
from gunpy.supervision._supervisor import start_child, terminate_child

__all__ = [
    "AwaitTimeout",
    "ConnectionRef",
    "InvalidRequest",
    "InvalidRequestHeader",
    "InvalidRequestTarget",
    "OptionsError",
    "await_",
    "await_body",
    "await_up",
    "cancel",
    "close",
    "connect",
    "data",
    "delete",
    "flush",
    "get",
    "head",
    "headers",
    "info",
    "open",
    "open_unix",
    "options",
    "patch",
    "post",
    "put",
    "request",
    "set_owner",
    "shutdown",
    "stream_info",
    "update_flow",
    "ws_send",
    "ws_upgrade",
]


def open(
    host: str,
    port: int,
    opts: Mapping[str, Any] | None = None,
    *,
    owner: object = None,
) -> ConnectionRef:
    """Start a connection to ``host:port``; return its ``conn`` at once.

    ``opts`` takes Gun's keys; a bad one raises `OptionsError` before anything
    starts. The owner (default: the calling thread's `Mailbox.current`) gets
    ``("gun_up", conn, "http")`` once connected and ``gun_down`` if the
    connection is lost; the connection closes when the owner dies.
    """
    return _start(host, port, check_open_options(port, opts), owner)


def open_unix(
    path: str, opts: Mapping[str, Any] | None = None, *, owner: object = None
) -> ConnectionRef:
    """Gun's ``open_unix``: a connection over the Unix domain socket at ``path``.

    As in Gun, its origin is ``localhost`` (the ``host`` header, ``info``'s
    ``origin_host``) and port 0; everything else is `open`'s.
    """
    if not isinstance(path, str) or not path:
        raise OptionsError("path", path, "must be the path of a Unix domain socket")
    options = dataclasses.replace(check_open_options(0, opts), unix_path=path)
    return _start("localhost", 0, options, owner)


def _start(host: str, port: int, options: OpenOptions, owner: object) -> ConnectionRef:
    checked_reply_to("ws_opts.reply_to", options.ws_opts.reply_to)
    owner = Mailbox.current() if owner is None else owner
    sender_for(owner)  # TypeError now rather than in the actor
    conn = ConnectionRef(host, port, options)
    if options.supervise:
        # Gun's tree: a temporary child of gun_conns_sup; the owner is only monitored.
        args = (ConnectionActor.start, conn, host, port, options, owner)
        result = start_child(gun_conns_sup(), args)
        if result[0] != "ok":
            raise RuntimeError(f"gun_conns_sup could not start the connection: {result[1]!r}")
    else:
        ConnectionActor.start(conn, host, port, options, owner)
        if process_of(owner) is not None:
            link(conn, owner)  # Gun: an unsupervised connection is linked to its owner
    return conn


def ws_upgrade(
    conn: ConnectionRef,
    path: str,
    headers: HeadersIn | None = None,
    ws_opts: Mapping[str, Any] | None = None,
) -> Ref:
    """Ask to upgrade to WebSocket; return the stream ref at once.

    The stream's reply_to (the owner unless ``ws_opts["reply_to"]``) then gets
    ``gun_upgrade``, or ``gun_response`` (and ``gun_data`` for a body) if the
    server refused; the connection then stays up for the next request, as in
    Gun. A failed handshake is ``gun_error`` and ends the connection.
    ``ws_opts`` replaces the connection's ``ws_opts``, as in Gun. Raises,
    before anything is sent, `InvalidRequestTarget` (a path HTTP/1.1 does not
    allow), `InvalidRequestHeader` (a bad name, CR, LF or NUL) or `OptionsError`.
    """
    options = conn.opts.ws_opts if ws_opts is None else check_ws_options(ws_opts)
    checked_reply_to("ws_opts.reply_to", options.reply_to)
    request = UpgradeRequest(
        Ref(), check_path(path), normalize_headers(headers), options, options.reply_to
    )
    submit(conn, WsUpgrade(request))
    return request.ref


def ws_send(conn: ConnectionRef, ref: Ref, frames: Frame | list[Frame]) -> None:
    """Send a frame or a list of frames, in order; a close ends the list.

    While the stream is open the frames are written from the calling thread,
    at once. A frame RFC 6455 forbids (a control payload over 125 bytes, a
    bad close code) is refused whole with ``("gun_error", conn, ref,
    ("badframe", why))``. While not connected the frames wait for the next
    connection, as in Gun.
    """
    io = conn._channel.io
    try:
        # A compressing connection masks after compressing: no point masking twice.
        encoded = encode_frames(frames, mask=io is None or not io.proto.compresses)
    except FrameError as exc:
        conn.tell(StreamError(ref, ("badframe", str(exc)), None))
        return
    if not send_encoded(conn, encoded):
        conn.tell(WsSend(ref, encoded, None))


def send_encoded(conn: ConnectionRef, encoded: list[EncodedFrame]) -> bool:
    """Write frames from `encode_frames` if the WebSocket is open now; False if not.

    False means nothing was or ever will be written: the caller tells the
    connection, which refuses or postpones them as Gun does.
    """
    io = conn._channel.io
    if io is None:
        return False
    outcome = io.send_frames(encoded)
    return outcome is SendOutcome.SENT or outcome is SendOutcome.CLOSE_SENT


def update_flow(conn: ConnectionRef, ref: Ref, increment: int) -> None:
    """Give stream ``ref`` ``increment`` more messages of flow credit.

    A no-op unless the stream has flow control (``ws_opts["flow"]`` for a
    WebSocket; ``req_opts["flow"]`` or ``http_opts["flow"]`` for a request).
    Raises ValueError unless ``increment`` is a positive int.
    """
    if not isinstance(increment, int) or increment <= 0:
        raise ValueError("update_flow needs a positive integer")
    io = conn._channel.io
    if io is not None:
        io.update_flow(ref, increment)


def shutdown(conn: ConnectionRef) -> None:
    """Close gracefully (WebSocket close 1001, wait for the peer); no ``gun_down``.

    The connection exits with reason ``"shutdown"``.
    """
    submit(conn, Shutdown())


def close(conn: ConnectionRef, timeout: float = 10.0) -> None:
    """Stop the connection now: no close frame, no more messages.

    Returns once the connection's threads and socket are gone (or after
    ``timeout`` seconds). Messages already queued stay queued; see `flush`.
    """
    ref = conn.actor_ref
    if ref is None:
        return
    if conn.opts.supervise:
        terminate_child(gun_conns_sup(), ref, timeout=timeout)  # Gun's gun:close
    else:
        # Gun cannot close an unsupervised connection; gunpy stops it all the same.
        with contextlib.suppress(pykka.ActorDeadError):
            ref.tell(Exit("shutdown"))
        # Stop the frames now rather than when the actor reads its inbox; a
        # silent end tells the actor nothing, so no gun_down is sent.
        io = conn._channel.io
        if io is not None:
            io.abort(silent=True)
    process = process_of(conn)
    if process is not None:
        process.monitors.wait(timeout)  # fired after the worker thread was joined


def info(conn: ConnectionRef, timeout: float = 5.0) -> dict[str, Any]:
    """Gun's ``info``: ``state_name``, ``owner``, ``transport``, ``origin_host``, ...

    Raises pykka's ActorDeadError if the connection is gone.
    """
    result: dict[str, Any] = conn.ask(Info(), timeout)
    return result


def set_owner(conn: ConnectionRef, new_owner: object) -> None:
    """Make ``new_owner`` (an ActorRef or a Mailbox) the owner: it gets gun_up/gun_down."""
    sender_for(new_owner)
    submit(conn, SetOwner(new_owner))


def _is(message: object, tag: str, size: int) -> bool:
    return type(message) is tuple and len(message) == size and message[0] == tag


class AwaitTimeout(str):
    """The ``"timeout"`` of ``("error", "timeout")``, knowing why the connection is not up.

    It is the string ``"timeout"`` (so Gun's pattern ``("error", "timeout")``
    matches it) with ``last_failure``: the reason the last connection attempt
    failed (``"econnrefused"``, ``("tls_error", why)``...), None if none failed.
    """

    last_failure: object = None

    def __new__(cls, last_failure: object = None) -> AwaitTimeout:
        self = super().__new__(cls, "timeout")
        self.last_failure = last_failure
        return self

    def __repr__(self) -> str:
        return f"AwaitTimeout(last_failure={self.last_failure!r})"


def await_up(
    conn: ConnectionRef, timeout: float = 5.0, mailbox: Mailbox | None = None
) -> tuple[Any, ...]:
    """Wait for ``gun_up``: ``("ok", protocol)``, ``("error", ("down", reason))`` or
    ``("error", "timeout")``. Other messages stay queued.

    The ``"timeout"`` is an `AwaitTimeout`: equal to ``"timeout"``, with the
    last failed attempt's reason in ``.last_failure`` (Gun's retries may hide
    it for a while: every failed attempt is also logged on the ``gunpy`` logger).
    """
    box = Mailbox.current() if mailbox is None else mailbox
    mref = monitor(conn, box)

    def match(m: Any) -> bool:
        return (_is(m, "gun_up", 3) and m[1] is conn) or (_is(m, "DOWN", 5) and m[1] is mref)

    try:
        message = box.receive(match, timeout)
    except TimeoutError:
        message = None
    finally:
        demonitor(mref)
        box.flush(lambda m: _is(m, "DOWN", 5) and m[1] is mref)
    if message is None:
        try:
            last_failure = info(conn, 1.0).get("last_failure")
        except Exception:  # gone meanwhile, or too busy to answer: no reason to add
            last_failure = None
        return ("error", AwaitTimeout(last_failure))
    if message[0] == "gun_up":
        return ("ok", message[2])
    return ("error", ("down", message[4]))


def _await_result(conn: ConnectionRef, ref: Ref | None, m: Any) -> tuple[Any, ...] | None:
    """The await result for message ``m``, or None if it is not about (conn, ref)."""
    if type(m) is not tuple or len(m) < 3 or m[1] is not conn:
        return None
    tag = m[0]
    if tag == "gun_error" and len(m) == 3:
        return ("error", ("connection_error", m[2]))
    if len(m) < 4 or m[2] is not ref:
        return None
    if tag == "gun_ws":
        return ("ws", m[3])
    if tag == "gun_upgrade":
        return ("upgrade", m[3], m[4])
    if tag == "gun_response":
        return ("response", m[3], m[4], m[5])
    if tag == "gun_data":
        return ("data", m[3], m[4])
    if tag == "gun_inform":
        return ("inform", m[3], m[4])
    if tag == "gun_trailers":
        return ("trailers", m[3])
    if tag == "gun_tunnel_up":
        return ("up", m[3])
    if tag == "gun_error":
        return ("error", ("stream_error", m[3]))
    return None


def await_(
    conn: ConnectionRef, ref: Ref | None, timeout: float = 5.0, mailbox: Mailbox | None = None
) -> tuple[Any, ...]:
    """Wait for the next message of stream ``ref``, as Gun's ``await`` returns it:

    ``("upgrade", ["websocket"], headers)``, ``("ws", frame)``,
    ``("inform", status, headers)``, ``("response", fin, status, headers)``,
    ``("data", fin, data)``, ``("trailers", headers)``, ``("up", protocol)``
    (``gun_tunnel_up``: a CONNECT's ref, or None for SOCKS),
    ``("error", ("stream_error" | "connection_error", reason))``,
    ``("error", ("down", reason))`` if the connection stopped, or
    ``("error", "timeout")``. Unrelated messages stay queued.
    """
    box = Mailbox.current() if mailbox is None else mailbox
    found: list[tuple[Any, ...]] = []

    def queued(m: Any) -> bool:
        result = _await_result(conn, ref, m)
        if result is not None:
            found.append(result)
        return result is not None

    # The answer is often queued already (a body arrives with its head): then
    # the result is the same as Gun's, without a monitor to set up and remove.
    with contextlib.suppress(TimeoutError):
        box.receive(queued, 0)
        return found[-1]
    mref = monitor(conn, box)

    def match(m: Any) -> bool:
        if _is(m, "DOWN", 5) and m[1] is mref:
            found.append(("error", ("down", m[4])))
            return True
        result = _await_result(conn, ref, m)
        if result is not None:
            found.append(result)
            return True
        return False

    try:
        box.receive(match, timeout)
    except TimeoutError:
        return ("error", "timeout")
    finally:
        # Still active when removed: its DOWN was never sent, so there is none to flush.
        if not demonitor(mref):
            box.flush(lambda m: _is(m, "DOWN", 5) and m[1] is mref)
    return found[-1]


def await_body(
    conn: ConnectionRef, ref: Ref, timeout: float = 5.0, mailbox: Mailbox | None = None
) -> tuple[Any, ...]:
    """Collect ``gun_data`` until ``fin``: ``("ok", body)``, ``("ok", body, trailers)``
    or an await error."""
    body = b""
    while True:
        result = await_(conn, ref, timeout, mailbox)
        if result[0] == "trailers":
            return ("ok", body, result[1])
        if result[0] != "data":
            return result
        body += result[2]
        if result[1] == "fin":
            return ("ok", body)


def flush(conn_or_ref: ConnectionRef | Ref, mailbox: Mailbox | None = None) -> int:
    """Drop the queued messages of a connection (or of one stream); return how many."""
    box = Mailbox.current() if mailbox is None else mailbox
    match: Callable[[Any], bool]
    if isinstance(conn_or_ref, Ref):

        def match(m: Any) -> bool:
            return (
                type(m) is tuple and len(m) >= 4 and m[0][:4] == "gun_" and m[2] is conn_or_ref
            )
    else:

        def match(m: Any) -> bool:
            if type(m) is not tuple or len(m) < 2:
                return False
            if m[0] == "DOWN":
                return len(m) == 5 and m[3] is conn_or_ref
            return isinstance(m[0], str) and m[0][:4] == "gun_" and m[1] is conn_or_ref

    return len(box.flush(match))
