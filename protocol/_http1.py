"""HTTP/1.1 on the wire for a pipelining client: requests written, responses read.

Requests are written here, as Gun's ``send_request`` writes them (request
line, headers in the caller's order, then the body framing): see
`encode_request` and `encode_chunk`.

Responses are read by h11, which does not pipeline: it reads a response only
once its own client side has sent the request. So, for each response in
turn, `ResponseReader.expect` hands h11 a stand-in for the request answered
next: its method, host, ``connection`` and ``upgrade`` headers, which is all
that decides how a response is framed (HEAD, 101) and whether the connection
stays open. The real request went out earlier, written by `encode_request`.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Final, NamedTuple

import h11

from gunpy.protocol._messages import Headers

MAX_HEADER_BLOCK_SIZE: Final = 100_000  # Gun's http_opts max_header_block_size

_END: Final = h11.EndOfMessage()


HEAD_TOO_LARGE: Final = ("connection_error", "limit_reached",
                         "The response header block is too large.")


class HttpFault(Exception):
    """The server broke HTTP/1.1; ``reason`` is Gun's ``gun_down`` reason.

    ``limit``: a Gun limit was reached; the stream's reply_to hears of it too.
    """

    def __init__(self, reason: object, limit: bool = False) -> None:
        super().__init__(reason[1] if isinstance(reason, tuple) else str(reason))
        self.reason = reason
        self.limit = limit


class Inform(NamedTuple):
    """A 1xx answer other than a switch (100 Continue, 103 Early Hints)."""

    status: int
    headers: Headers


class Switched(NamedTuple):
    """A 101 (or a 2xx to a CONNECT): the connection now speaks another protocol,
    or is a tunnel; ``trailing`` followed the head."""

    headers: Headers
    trailing: bytes
    status: int = 101


class Head(NamedTuple):
    """A final answer's status line and headers; ``fin`` if no body follows."""

    status: int
    headers: Headers
    http_version: str
    fin: bool


class Body(NamedTuple):
    """Some bytes of the answer's body (de-chunked)."""

    data: bytes


class End(NamedTuple):
    """The answer is complete; ``trailers`` are its trailer fields (often none)."""

    trailers: Headers


ResponseEvent = Inform | Switched | Head | Body | End


def _headers(items: Any) -> Headers:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in items]


def has_token(headers: Headers, name: str, token: str) -> bool:
    """Does a ``name`` header list ``token`` (``connection: keep-alive, close``)?"""
    return any(
        token in (t.strip().lower() for t in value.split(","))
        for key, value in headers
        if key == name
    )


def request_headers(
    headers: Headers, body: bytes | None, version: str
) -> tuple[Headers, int | None]:
    """Gun's body framing of a request: its headers, and the body length still to send.

    A whole ``body`` sets ``content-length``. Without one (a body to follow
    with ``gun.data``) a ``content-length`` the caller gave is kept and counted
    down (the int); else HTTP/1.1 sends it chunked (None), HTTP/1.0 until close.
    """
    out = [(n, v) for n, v in headers if n != "transfer-encoding"]
    if body is not None:
        out = [(n, v) for n, v in out if n != "content-length"]
        out.append(("content-length", str(len(body))))
        return out, None
    lengths = [v for n, v in out if n == "content-length"]
    if lengths:
        return out, int(lengths[0])
    if version == "HTTP/1.1":
        out.append(("transfer-encoding", "chunked"))
    return out, None


def upgrade_headers(
    headers: Headers, protocols: tuple[str, ...], extensions: str | None = None
) -> tuple[Headers, str]:
    """The headers of a WebSocket upgrade request (RFC 6455 4.1) and its fresh key.

    ``extensions`` is the ``sec-websocket-extensions`` offer, if any (Gun's order).
    """
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    out = [
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", key),
    ]
    if protocols:
        out.append(("sec-websocket-protocol", ", ".join(protocols)))
    if extensions is not None:
        out.append(("sec-websocket-extensions", extensions))
    out.extend(headers)
    return out, key


def encode_request(method: str, target: str, version: str, headers: Headers) -> bytes:
    """A request's head: the request line and the headers, names as given."""
    lines = [f"{method} {target} {version}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def encode_chunk(data: bytes, fin: bool) -> bytes:
    """``data`` as one chunk of a chunked body; with ``fin`` the last chunk follows."""
    chunk = b"%x\r\n%s\r\n" % (len(data), data) if data else b""
    return chunk + b"0\r\n\r\n" if fin else chunk


# Shared by every connection of the process (h11 events are immutable, building
# one costs h11's header validation): opening thousands of connections to one
# origin builds one.
_STAND_INS: dict[tuple[str, str, bool], h11.Request] = {}


class ResponseReader:
    """The answers of one connection, read in order (see the module doc)."""

    def __init__(self, max_header_block_size: int = MAX_HEADER_BLOCK_SIZE) -> None:
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_header_block_size)
        self._expecting = False
        self._method = ""
        self._pending: tuple[str, str, bool] | None = None  # a stand-in h11 has yet to see

    @property
    def expecting(self) -> bool:
        """True from `expect` until that answer's `End` (or `Switched`)."""
        return self._expecting

    def expect(self, method: str, authority: str, headers: Headers) -> None:
        """The next answer is to a request with this method and these headers.

        The stand-in always proposes an upgrade, so that any 101 comes back as
        `Switched` and the caller decides whether it asked for one (Gun's
        "Unexpected 101"); it says ``close`` if the request did. h11 is told
        of it by `prepare` (or the next `feed`): a caller can do that after
        its request went out, while the server works on the answer.
        """
        closes = has_token(headers, "connection", "close")
        self._pending = (method, authority, closes)
        self._expecting = True
        self._method = method

    def prepare(self) -> None:
        """Hand h11 the stand-in of the expected answer now, if not done yet."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        stand_in = _STAND_INS.get(pending)
        if stand_in is None:  # events are immutable: one per kind of request serves them all
            method, authority, closes = pending
            connection = "upgrade, close" if closes else "upgrade"
            stand_in = h11.Request(method=method, target="/", headers=[
                ("host", authority), ("connection", connection), ("upgrade", "websocket")])
            if len(_STAND_INS) < 1024:  # bounded: a process may talk to many origins
                _STAND_INS[pending] = stand_in
        self._h11.send(stand_in)
        self._h11.send(_END)

    def feed(self, data: bytes) -> None:
        """Buffer bytes from the server; b"" means it closed its side."""
        self.prepare()
        self._h11.receive_data(data)

    @property
    def buffered(self) -> bool:
        """Bytes wait that no answer was expected for (or not yet parsed)."""
        return bool(self._h11.trailing_data[0])

    def next_event(self) -> ResponseEvent | None:
        """The next piece of the expected answer, or None until more bytes arrive.

        Raises `HttpFault`: ``"closed"`` if the server closed before the
        answer was complete, ``("error", why)`` if it broke HTTP/1.1.
        """
        if not self._expecting:
            return None
        self.prepare()
        h = self._h11
        try:
            event = h.next_event()
        except h11.RemoteProtocolError as exc:
            if h.trailing_data[1]:  # EOF mid-answer: h11 calls it a protocol error
                raise HttpFault("closed") from None
            if exc.error_status_hint == 431:  # the head outgrew max_header_block_size
                raise HttpFault(("error", HEAD_TOO_LARGE), limit=True) from None
            raise HttpFault(("error", str(exc))) from None
        if event is h11.NEED_DATA or event is h11.PAUSED:
            return None
        if isinstance(event, h11.Data):
            return Body(bytes(event.data))
        if isinstance(event, h11.Response):
            if self._method == "CONNECT" and 200 <= event.status_code < 300:
                self._expecting = False  # RFC 9110 9.3.6: the tunnel starts after the head
                return Switched(_headers(event.headers), bytes(h.trailing_data[0]),
                                event.status_code)
            fin = self._method == "HEAD" or _has_no_body(event)
            version = event.http_version.decode("ascii")
            return Head(event.status_code, _headers(event.headers), version, fin)
        if isinstance(event, h11.InformationalResponse):
            headers = _headers(event.headers)
            if event.status_code == 101:
                self._expecting = False
                return Switched(headers, bytes(h.trailing_data[0]))
            return Inform(event.status_code, headers)
        if isinstance(event, h11.EndOfMessage):
            self._expecting = False
            if h.our_state is h11.DONE and h.their_state is h11.DONE:
                h.start_next_cycle()
            return End(_headers(event.headers))
        raise HttpFault("closed")  # ConnectionClosed before the answer


def _has_no_body(response: h11.Response) -> bool:
    """Gun's ``fin`` on the head (besides HEAD): 204, 304, or ``content-length: 0``."""
    if response.status_code in (204, 304):
        return True
    for name, value in response.headers:
        if name == b"content-length":
            return value.strip() == b"0"
    return False
