"""Gun's HTTP request functions: ``gun.get``, ``gun.post``, ``gun.request``, ``gun.data``...

Each mirrors Gun 2.x's function of the same name and returns the stream ref
at once; the answer arrives as messages to the stream's reply_to (the
connection's owner unless ``req_opts["reply_to"]``)::

    ("gun_inform", conn, ref, status, headers)           # 1xx
    ("gun_response", conn, ref, "fin" | "nofin", status, headers)
    ("gun_data", conn, ref, "fin" | "nofin", data)
    ("gun_trailers", conn, ref, headers)
    ("gun_error", conn, ref, reason)

Requests are pipelined on the connection and answered in order (see
``gunpy.protocol._http_client``). Bad input raises in the caller before
anything is sent: `InvalidRequestTarget`, `InvalidRequestHeader`,
`OptionsError` (``req_opts``), ``ValueError`` (a method that is not a token).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from gunpy.actors._mailbox import sender_for
from gunpy.actors.gun._commands import Cancel, Data, Request, StreamInfo
from gunpy.actors.gun._live import submit
from gunpy.actors.gun._ref import ConnectionRef
from gunpy.protocol import (
    ConnectRequest,
    DataPart,
    HttpRequest,
    InvalidRequestHeader,
    OptionsError,
    Ref,
    check_destination,
)
from gunpy.protocol._handshake import HeadersIn, check_path, normalize_headers

Body = bytes | bytearray | memoryview | str
_METHOD: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def _req_opts(req_opts: Mapping[str, Any] | None) -> tuple[object, int | None]:
    """Gun's ``req_opts``: ``reply_to`` and ``flow`` (``tunnel`` comes with proxies)."""
    if req_opts is None:
        return None, None
    if not isinstance(req_opts, Mapping):
        raise OptionsError("req_opts", req_opts, "must be a dict")
    reply_to, flow = None, None
    for key, value in req_opts.items():
        if key == "reply_to":
            reply_to = checked_reply_to("req_opts.reply_to", value)
        elif key == "flow":
            if value != "infinity" and not (
                isinstance(value, int) and not isinstance(value, bool) and value >= 1
            ):
                raise OptionsError("req_opts.flow", value, 'must be an integer >= 1 or "infinity"')
            flow = None if value == "infinity" else value
        else:
            raise OptionsError(f"req_opts.{key}", value, "unknown option")
    return reply_to, flow


def checked_reply_to(key: str, value: object) -> object:
    """``value`` if it can be a reply_to (None: the owner), else `OptionsError` naming ``key``."""
    if value is not None:
        try:
            sender_for(value)
        except TypeError as exc:
            raise OptionsError(key, value, str(exc)) from None
    return value


def _bytes(body: Body) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    raise TypeError(f"a body is bytes or str, not {type(body).__name__}")


def _send(
    conn: ConnectionRef,
    method: str,
    path: str,
    headers: HeadersIn | None,
    body: Body | None,
    req_opts: Mapping[str, Any] | None,
) -> Ref:
    if not isinstance(method, str) or not _METHOD.match(method):
        raise ValueError(f"invalid request method {method!r}")
    reply_to, flow = _req_opts(req_opts)
    checked = normalize_headers(headers)
    for name, value in checked:
        if name == "content-length" and not value.isdigit():
            raise InvalidRequestHeader(name, value)
    request = HttpRequest(
        Ref(),
        method,
        check_path(path),
        checked,
        None if body is None else _bytes(body),
        reply_to,
        flow,
    )
    submit(conn, Request(request))
    return request.ref


def request(
    conn: ConnectionRef,
    method: str,
    path: str,
    headers: HeadersIn | None = None,
    body: Body = b"",
    req_opts: Mapping[str, Any] | None = None,
) -> Ref:
    """Send a request with its whole ``body`` (``content-length`` is set from it)."""
    return _send(conn, method, path, headers, body, req_opts)


def headers(
    conn: ConnectionRef,
    method: str,
    path: str,
    headers: HeadersIn | None = None,
    req_opts: Mapping[str, Any] | None = None,
) -> Ref:
    """Send a request's head; its body follows with `data`.

    With a ``content-length`` header the body is exactly that long; without
    one it is sent chunked (HTTP/1.0: until the connection closes). Requests
    made meanwhile wait until the body's ``fin``.
    """
    return _send(conn, method, path, headers, None, req_opts)


def data(conn: ConnectionRef, ref: Ref, is_fin: str, data: Body) -> None:
    """Send the next part of the body of stream ``ref``; ``"fin"`` ends it.

    An empty ``"nofin"`` part is ignored, as in Gun. A stream that takes no
    body (any more) answers ``("gun_error", conn, ref, ("badstate", why))``.
    """
    if is_fin not in ("fin", "nofin"):
        raise ValueError('is_fin must be "fin" or "nofin"')
    payload = _bytes(data)
    if not payload and is_fin == "nofin":
        return
    submit(conn, Data(DataPart(ref, is_fin == "fin", payload, None)))


def get(conn: ConnectionRef, path: str, headers: HeadersIn | None = None,
        req_opts: Mapping[str, Any] | None = None) -> Ref:
    """``GET path``; the answer comes as ``gun_response`` and ``gun_data``."""
    return _send(conn, "GET", path, headers, b"", req_opts)


def head(conn: ConnectionRef, path: str, headers: HeadersIn | None = None,
         req_opts: Mapping[str, Any] | None = None) -> Ref:
    """``HEAD path``: ``gun_response`` is always ``"fin"``."""
    return _send(conn, "HEAD", path, headers, b"", req_opts)


def options(conn: ConnectionRef, path: str, headers: HeadersIn | None = None,
            req_opts: Mapping[str, Any] | None = None) -> Ref:
    """``OPTIONS path`` (``"*"`` asks about the server)."""
    return _send(conn, "OPTIONS", path, headers, b"", req_opts)


def delete(conn: ConnectionRef, path: str, headers: HeadersIn | None = None,
           req_opts: Mapping[str, Any] | None = None) -> Ref:
    """``DELETE path``."""
    return _send(conn, "DELETE", path, headers, b"", req_opts)


def post(conn: ConnectionRef, path: str, headers: HeadersIn | None = None,
         body: Body | None = None, req_opts: Mapping[str, Any] | None = None) -> Ref:
    """``POST path`` with ``body``; without one (Gun's ``post/3``) the body follows with `data`."""
    return _send(conn, "POST", path, headers, body, req_opts)


def put(conn: ConnectionRef, path: str, headers: HeadersIn | None = None,
        body: Body | None = None, req_opts: Mapping[str, Any] | None = None) -> Ref:
    """``PUT path`` with ``body``; without one the body follows with `data`."""
    return _send(conn, "PUT", path, headers, body, req_opts)


def patch(conn: ConnectionRef, path: str, headers: HeadersIn | None = None,
          body: Body | None = None, req_opts: Mapping[str, Any] | None = None) -> Ref:
    """``PATCH path`` with ``body``; without one the body follows with `data`."""
    return _send(conn, "PATCH", path, headers, body, req_opts)


def connect(conn: ConnectionRef, destination: Mapping[str, Any],
            headers: HeadersIn | None = None,
            req_opts: Mapping[str, Any] | None = None) -> Ref:
    """Gun's ``connect``: a CONNECT to the proxy for a tunnel to ``destination``.

    ``destination`` is Gun's map: ``host``, ``port`` (1080), ``username`` and
    ``password`` (Basic ``proxy-authorization``), ``transport`` (``"tls"``:
    TLS to the origin inside the tunnel, verified against ``host``, with its
    own ``tls_opts`` and ``tls_handshake_timeout``), ``protocols``
    (``["http"]``). Only on an idle connection (else ``("gun_error", conn,
    ref, ("badstate", ...))``, as Gun). A 2xx answers ``("gun_response",
    conn, ref, "fin", status, headers)``, then ``("gun_tunnel_up", conn, ref,
    "http")`` once the tunnel (and its TLS) is up: every later request and
    ``ws_upgrade`` goes to the origin; those made meanwhile wait for it. A
    407 or any other refusal is an ordinary response. As in Gun the tunnel
    is not set up again after a reconnect: ``gun_up`` says when to.
    Raises `OptionsError` for a bad destination, before anything is sent.
    """
    reply_to, _ = _req_opts(req_opts)
    request = ConnectRequest(Ref(), check_destination(destination),
                             normalize_headers(headers), reply_to)
    submit(conn, Request(request))
    return request.ref


def cancel(conn: ConnectionRef, ref: Ref) -> None:
    """Stop delivering stream ``ref``'s answer (Gun cannot unsend a request).

    A request not written yet (queued behind others) is dropped instead.
    An unknown ref answers ``("gun_error", conn, ref, ("badstate", why))``.
    """
    submit(conn, Cancel(ref, None))


def stream_info(conn: ConnectionRef, ref: Ref, timeout: float = 5.0) -> tuple[str, Any]:
    """Gun's ``stream_info``: ``("ok", {"ref", "reply_to", "state"})`` (state
    ``"running"`` or ``"stopping"`` once cancelled), ``("ok", None)`` for a
    stream the connection does not have, ``("error", "not_connected")``.
    Raises pykka's ActorDeadError if the connection is gone.
    """
    result: tuple[str, Any] = conn.ask(StreamInfo(ref), timeout)
    return result
