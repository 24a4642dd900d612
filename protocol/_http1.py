"""HTTP/1.1 for the connection, on h11: the upgrade request out, responses in.

`Http1` wraps one ``h11.Connection`` (client side). It sends one request at a
time (h11 does not pipeline) and turns what the server answers into Gun's
messages for that request's stream: ``gun_inform`` for a 1xx, ``gun_response``
with every header (duplicates kept, in order), ``gun_data`` for the body
(Content-Length, chunked or until close), ``gun_trailers``. A 101 is handed
back to the caller, with the bytes that followed it, to become a WebSocket.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import h11

from gunpy.protocol._messages import Headers, Message

MAX_HEADER_BLOCK_SIZE: Final = 100_000  # Gun's http_opts max_header_block_size


class Switched(NamedTuple):
    """The server answered 101: the connection now speaks another protocol."""

    headers: Headers
    trailing: bytes


class HttpFault(Exception):
    """The server broke HTTP/1.1; ``reason`` is Gun's ``gun_down`` reason."""

    def __init__(self, reason: object) -> None:
        super().__init__(reason[1] if isinstance(reason, tuple) else str(reason))
        self.reason = reason


def _headers(items: Any) -> Headers:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in items]


class Http1:
    """One client HTTP/1.1 connection's parser and serializer (see the module doc)."""

    def __init__(self) -> None:
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BLOCK_SIZE)
        self.in_flight = False  # a request was sent and its response is not complete
        self._fin_sent = False  # that head said there is no body: gun_response was "fin"

    @property
    def must_close(self) -> bool:
        """The last exchange ends the connection (``connection: close``, HTTP/1.0)."""
        return self._h11.our_state is h11.MUST_CLOSE or self._h11.their_state is h11.MUST_CLOSE

    def request(self, method: str, target: str, headers: Headers) -> bytes:
        """The bytes of a request without a body (the caller checked the input)."""
        self.in_flight = True
        request = h11.Request(method=method, target=target, headers=headers)
        head = self._h11.send(request) or b""
        return head + (self._h11.send(h11.EndOfMessage()) or b"")

    def receive(
        self, data: bytes, conn: object, ref: object, out: list[Message]
    ) -> Switched | bool:
        """Feed ``data`` (b"" at EOF); append the stream's messages to ``out``.

        Returns a `Switched` on a 101, True once the response is complete (the
        connection is ready for the next request), False if more is needed.
        Raises `HttpFault` when the server breaks HTTP/1.1 or sends a
        response nobody asked for.
        """
        h = self._h11
        h.receive_data(data)
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise HttpFault(("error", str(exc))) from None
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return False
            if not self.in_flight:
                if isinstance(event, h11.ConnectionClosed):
                    raise HttpFault("closed")
                raise HttpFault(("error", "unexpected data on an idle HTTP connection"))
            if isinstance(event, h11.InformationalResponse):
                headers = _headers(event.headers)
                if event.status_code == 101:
                    trailing, _ = h.trailing_data
                    self.in_flight = False
                    return Switched(headers, bytes(trailing))
                out.append(("gun_inform", conn, ref, event.status_code, headers))
            elif isinstance(event, h11.Response):
                self._fin_sent = _has_no_body(event)
                fin = "fin" if self._fin_sent else "nofin"
                headers = _headers(event.headers)
                out.append(("gun_response", conn, ref, fin, event.status_code, headers))
            elif isinstance(event, h11.Data):
                out.append(("gun_data", conn, ref, "nofin", bytes(event.data)))
            elif isinstance(event, h11.EndOfMessage):
                self._end_of_message(event, conn, ref, out)
                return True
            elif isinstance(event, h11.ConnectionClosed):
                raise HttpFault("closed")

    def _end_of_message(
        self, event: h11.EndOfMessage, conn: object, ref: object, out: list[Message]
    ) -> None:
        last = out[-1] if out else None
        if event.headers:
            out.append(("gun_trailers", conn, ref, _headers(event.headers)))
        elif last is not None and last[0] == "gun_data" and last[2] is ref:
            out[-1] = ("gun_data", conn, ref, "fin", last[4])
        elif not self._fin_sent:
            out.append(("gun_data", conn, ref, "fin", b""))
        self.in_flight = False
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()


def _has_no_body(response: h11.Response) -> bool:
    if response.status_code in (204, 304):
        return True
    for name, value in response.headers:
        if name == b"content-length":
            return value.strip() == b"0"
    return False
