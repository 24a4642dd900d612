"""How `Http1Client` reads its answers, in order: the reading half of ``gun_http``.

`AnswerSteps` is a part of `Http1Client` (its base class), kept apart so each
module reads as one thing: this one turns h11's pieces of each answer into
Gun's messages (``gun_inform``, ``gun_response``, ``gun_data`` through the
content handlers, ``gun_trailers``), flow credit, cookies, the end of an
answer and what it starts (the next answer, Gun's closing); ``_http_client``
writes the requests and queues what must wait.
"""

from __future__ import annotations

from collections import deque
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING, Any

from gunpy.protocol._content import StreamReply, run_chain, start_chain
from gunpy.protocol._cookies import request_url, store_cookies
from gunpy.protocol._events import Event
from gunpy.protocol._http1 import (
    Body,
    End,
    Head,
    HttpFault,
    Inform,
    ResponseEvent,
    ResponseReader,
    Switched,
    has_token,
)
from gunpy.protocol._http_streams import Outbox, Stream
from gunpy.protocol._messages import Headers
from gunpy.protocol._options import HttpOptions

TLS_ON_PLAIN = ("the server answered with a TLS record: it expects TLS "
                "(open with \"transport\": \"tls\")")

UNEXPECTED_101 = (
    "connection_error", "protocol_error", "Unexpected 101 Switching Protocols response."
)


class AnswerSteps:
    """Reading the answers, as a part of `Http1Client` (see the module doc)."""

    if TYPE_CHECKING:  # what Http1Client has, and these steps use
        conn: object
        opts: HttpOptions
        notify: bool
        streams: deque[Stream]
        end_reason: object
        switched: tuple[Stream, Switched] | None
        closing: bool

        @property
        def paused(self) -> bool: ...
        _authority: str
        _origin: tuple[str, str, int]
        _jar: CookieJar | None
        _reader: ResponseReader
        _eof: bool
        _read_any: bool
        _held: ResponseEvent | None
        _out: Outbox
        _default_content: bool

        def _note(self, name: str, stream: Stream, **event: Any) -> None: ...
        def _start_closing(self, why: object) -> None: ...
        def _drain(self) -> None: ...

    # -- reading ----------------------------------------------------------------------

    def receive(self, data: bytes | None) -> list[Event]:
        """Feed bytes (b"" at EOF, None: go on with what is buffered); return the events.

        Then ``end_reason`` says whether the connection must end, ``switched``
        whether an upgrade succeeded (the bytes after the 101 are its frames).
        """
        if self.end_reason is not None or self.switched is not None:
            return []
        if data and data[0] in (0x15, 0x16) and data[1:2] == b"\x03" and not self._read_any:
            # An alert or a handshake record (TLS 1.x) where an HTTP answer should be.
            fault = HttpFault(("error", TLS_ON_PLAIN))
            if self.streams:
                self._fault(fault)
            else:
                self.end_reason = fault.reason
            return self._out.take()
        if data and not self.streams:
            self.end_reason = ("error", "unexpected data on an idle HTTP connection")
            return []
        if data:
            self._read_any = True
        if data is not None:
            self._reader.feed(data)
            self._eof = data == b""
        try:
            self._read()
        except HttpFault as fault:
            self._fault(fault)
        if data == b"" and self.end_reason is None and self.switched is None:
            self.end_reason = "closed"
        return self._out.take()

    def _read(self) -> None:
        reader = self._reader
        while self.end_reason is None and self.switched is None:
            event, self._held = self._held or reader.next_event(), None
            if event is None:
                return
            if event.__class__ is Body and self.paused:
                self._held = event  # out of credit: it waits for update_flow (the end need not)
                return
            stream = self.streams[0]
            if self.notify:
                self._note_response(stream, event)
            if event.__class__ is Body:
                self._body_part(stream, "nofin", event.data)
            elif isinstance(event, Head):
                self._head(stream, event)
            elif isinstance(event, End):
                self._end_of_answer(stream, event)
            elif isinstance(event, Inform):
                self._store_cookies(stream, event.headers, informational=True)
                if stream.alive:
                    message = ("gun_inform", self.conn, stream.ref, event.status, event.headers)
                    self._out.emit(stream.reply_to, message)
            elif isinstance(event, Switched):
                self._store_cookies(stream, event.headers, informational=event.status == 101)
                wanted = stream.connect if event.status != 101 else stream.upgrade
                if wanted is None:
                    self._out.emit(stream.reply_to, ("gun_error", self.conn, UNEXPECTED_101))
                    self.end_reason = "normal"
                    return
                self.streams.popleft()
                self.switched = (stream, event)

    def _note_response(self, stream: Stream, event: ResponseEvent) -> None:
        """Gun's response_start / _inform / _headers / _trailers / _end for ``event``."""
        if not stream.started:
            stream.started = True
            self._note("response_start", stream)
        if isinstance(event, Inform) or (isinstance(event, Switched) and event.status == 101):
            self._note("response_inform", stream, status=event.status, headers=event.headers)
        elif isinstance(event, Head | Switched):
            self._note("response_headers", stream, status=event.status, headers=event.headers)
            if isinstance(event, Switched):  # a CONNECT's 2xx: no End follows
                self._note("response_end", stream)
        elif isinstance(event, End):
            if event.trailers:
                self._note("response_trailers", stream, headers=event.trailers)
            self._note("response_end", stream)

    def _fault(self, fault: HttpFault) -> None:
        """The server broke HTTP/1.1 (or closed mid-answer): the connection ends."""
        stream = self.streams[0] if self.streams else None
        if stream is not None and stream.upgrade is not None and fault.reason != "closed":
            # Not HTTP/1.1 in answer to our upgrade: a failed handshake, as a bad 101.
            why = ("handshake_error", f"bad HTTP response: {fault}")
            self._out.error(stream.reply_to, stream.ref, why)
            stream.alive = False
            self.end_reason = "normal"
        else:
            if fault.limit and stream is not None:  # Gun tells the stream's reply_to
                assert isinstance(fault.reason, tuple)
                self._out.emit(stream.reply_to, ("gun_error", self.conn, fault.reason[1]))
            self.end_reason = fault.reason

    def _head(self, stream: Stream, head: Head) -> None:
        self._store_cookies(stream, head.headers, informational=False)
        fin = "fin" if head.fin else "nofin"
        if stream.alive:
            message = ("gun_response", self.conn, stream.ref, fin, head.status, head.headers)
            self._out.emit(stream.reply_to, message)
            if not head.fin and not self._default_content:
                reply = StreamReply(self.conn, stream.reply_to, self._out.emit)
                stream.chain = start_chain(self.opts.content_handlers, reply, stream.ref,
                                           head.status, head.headers)
        closes = (stream.closes or head.http_version == "1.0"
                  or has_token(head.headers, "connection", "close"))
        if closes:
            self._start_closing("closing")
        stream.head_fin = head.fin

    def _body_part(self, stream: Stream, fin: str, data: bytes) -> None:
        if not stream.alive:
            return
        if stream.chain is not None:
            used = run_chain(stream.chain, fin, data)
        else:
            self._out.emit(stream.reply_to, ("gun_data", self.conn, stream.ref, fin, data))
            used = 1
        if stream.flow is not None:
            stream.flow -= used

    def _end_of_answer(self, stream: Stream, end: End) -> None:
        self.streams.popleft()
        if end.trailers:
            if stream.alive:
                message = ("gun_trailers", self.conn, stream.ref, end.trailers)
                self._out.emit(stream.reply_to, message)
        elif not stream.head_fin:
            self._finish_body(stream)
        if self.closing and not self.streams:
            # Gun: the answer to connection: close is complete; but a body that
            # ended with the server's close is the server's doing: "closed".
            self.end_reason = "closed" if self._eof else "normal"
            return
        if self.streams:
            head = self.streams[0]
            self._reader.expect(head.method, self._authority, self._stand_in(head))
        self._drain()

    def _finish_body(self, stream: Stream) -> None:
        """``fin`` on the last ``gun_data`` delivered, else an empty one (as Gun)."""
        if stream.chain is not None or not self._out.mark_last_data_fin(stream):
            self._body_part(stream, "fin", b"")

    def _stand_in(self, stream: Stream) -> Headers:
        return [("connection", "close")] if stream.closes else []

    def _store_cookies(self, stream: Stream, headers: Headers, informational: bool) -> None:
        if self._jar is None or (informational and self.opts.cookie_ignore_informational):
            return
        values = [value for name, value in headers if name == "set-cookie"]
        if values:
            store_cookies(self._jar, request_url(*self._origin, stream.path), values)

