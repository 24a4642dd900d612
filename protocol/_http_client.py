"""`Http1Client`: Gun's HTTP/1.1 streams on one connection (``gun_http``), sans-I/O.

Requests are pipelined: each is written at once and its answer comes in
order, to its own stream ref. What is not written at once waits, in order:

- anything behind a request whose body is still being sent (``gun.headers``
  then ``gun.data``): HTTP/1.1 cannot interleave bodies;
- anything behind a ``ws_upgrade``: after a 101 the bytes are frames;
- a ``ws_upgrade`` until every answer before it is in (Gun pipelines it;
  waiting lets an earlier ``connection: close`` cancel it cleanly);
- anything behind a request that said ``connection: close`` (or on HTTP/1.0).

A response with ``connection: close`` (or to such a request) starts Gun's
closing: the streams behind it get ``("gun_error", conn, ref, "closing")``
at once, the connection ends ("normal") when that answer is complete, and
new requests are `Refused`. `closing` does the same for ``gun.shutdown``,
with ``("closing", reason)``. When the connection ends, `close_streams`
gives Gun's ``closed`` / ``("closed", reason)`` to what was still unanswered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from http.cookiejar import CookieJar
from typing import Any

from gunpy.protocol._connect import encode_connect
from gunpy.protocol._content import gun_data_h
from gunpy.protocol._cookies import cookie_header, request_url
from gunpy.protocol._deflate import offer as deflate_offer
from gunpy.protocol._events import (
    CloseSent,
    ConnectRequest,
    DataPart,
    Event,
    HttpRequest,
    Notify,
    Refused,
    UpgradeRequest,
)
from gunpy.protocol._http1 import (
    ResponseEvent,
    ResponseReader,
    Switched,
    encode_chunk,
    encode_request,
    has_token,
    request_headers,
    upgrade_headers,
)
from gunpy.protocol._http_answers import AnswerSteps
from gunpy.protocol._http_streams import Outbox, Stream
from gunpy.protocol._messages import Headers
from gunpy.protocol._options import HttpOptions
from gunpy.protocol._refs import Ref

STREAM_CLOSED = "The stream has already been closed."
STREAM_NOT_FOUND = "The stream cannot be found."
CONNECT_BUSY = "CONNECT can only be used with HTTP/1.1 when no other streams are active."

Waiting = HttpRequest | UpgradeRequest | DataPart


def _proxy_authorization_cased(name: str) -> str:
    return "Proxy-Authorization" if name == "proxy-authorization" else name


class Http1Client(AnswerSteps):
    """The HTTP/1.1 side of a connection (see the module doc)."""

    def __init__(
        self,
        conn: object,
        opts: HttpOptions,
        authority: str,
        origin: tuple[str, str, int],
        jar: CookieJar | None,
        write: Callable[[bytes], None],
        notify: bool = False,
    ) -> None:
        self.conn = conn
        self.notify = notify  # Gun's request_* / response_* events (an event handler is set)
        self.opts = opts
        self._authority = authority
        self._origin = origin
        self._jar = jar
        self._write = write
        self._version = opts.version
        self._reader = ResponseReader(opts.max_header_block_size)
        self.streams: deque[Stream] = deque()  # written, answered in this order
        self.waiting: deque[Waiting] = deque()  # not written yet, in order
        self._body: tuple[Stream, int | None] | None = None  # a body being sent: (stream, left)
        self.closing = False  # Gun's closing: no new streams
        self._eof = False  # the server closed its side
        self._read_any = False  # bytes came: no more checking whether they look like TLS
        self._held: ResponseEvent | None = None  # body bytes read while out of credit
        self.end_reason: object = None  # set when the connection must end now
        self.switched: tuple[Stream, Switched] | None = None  # a 101 to our upgrade
        self._out = Outbox(conn)
        self._default_content = opts.content_handlers == ((gun_data_h, {}),)

    # -- what the connection asks -----------------------------------------------------

    @property
    def paused(self) -> bool:
        """The stream being answered has no flow credit left: stop reading."""
        streams = self.streams
        return bool(streams) and streams[0].flow is not None and streams[0].flow <= 0

    def killed(self) -> list[Ref]:
        """Every stream not answered yet, in order (``gun_down``'s killed streams)."""
        waiting = [w.ref for w in self.waiting if not isinstance(w, DataPart)]
        return [s.ref for s in self.streams] + waiting

    def stream_info(self, ref: Ref) -> dict[str, Any] | None:
        """Gun's ``stream_info`` map for ``ref``, or None if it is not a stream here."""
        for stream in self.streams:
            if stream.ref is ref:
                state = "running" if stream.alive else "stopping"
                return {"ref": ref, "reply_to": stream.reply_to, "state": state}
        for item in self.waiting:
            if item.ref is ref and not isinstance(item, DataPart):
                return {"ref": ref, "reply_to": item.reply_to, "state": "running"}
        return None

    # -- commands ---------------------------------------------------------------------

    def prepare_reading(self) -> None:
        """See `ClientConnection.prepare_reading`."""
        self._reader.prepare()

    def request(self, request: HttpRequest | ConnectRequest) -> list[Event]:
        """Write a request now, or queue it behind what it must wait for.

        A CONNECT (``gun.connect``) is written only on an idle connection, as
        Gun does; else its reply_to gets ``("badstate", CONNECT_BUSY)``.
        """
        if self.closing:
            return [Refused(request)]
        if isinstance(request, ConnectRequest):
            if self.streams or self.waiting or self._body is not None:
                self._out.error(request.reply_to, request.ref, ("badstate", CONNECT_BUSY))
            else:
                self._send_connect(request)
            return self._out.take()
        if self._blocked():
            self.waiting.append(request)
        else:
            self._send_request(request)
        return self._out.take()

    def ws_upgrade(self, request: UpgradeRequest) -> list[Event]:
        """Queue an upgrade: it is written once every answer before it is in."""
        if self.closing:
            return [Refused(request)]
        if self._blocked() or self.streams:
            self.waiting.append(request)
        else:
            self._send_upgrade(request)
        return self._out.take()

    def data(self, part: DataPart) -> list[Event]:
        """The next part of a request body (Gun's ``gun:data``)."""
        if any(item.ref is part.ref for item in self.waiting):
            self.waiting.append(part)  # its request is not written yet
        elif self._body is not None and self._body[0].ref is part.ref:
            self._send_data(part)
            self._drain()
        else:  # Gun answers by what is being sent: no body, or another stream's
            why = STREAM_CLOSED if self._body is None else STREAM_NOT_FOUND
            self._out.error(part.reply_to, part.ref, ("badstate", why))
        return self._out.take()

    def cancel(self, ref: Ref, reply_to: object) -> list[Event]:
        """Stop delivering a stream's answer (it is still read); unwritten ones are dropped."""
        for stream in self.streams:
            if stream.ref is ref:
                if self.notify:
                    self._note("cancel", stream, endpoint="local", reason="cancel")
                stream.alive = False
                stream.flow = None  # a cancelled stream must not stall the connection
                return self.receive(None)  # what was held back for its credit goes on
        if any(item.ref is ref for item in self.waiting):
            self.waiting = deque(item for item in self.waiting if item.ref is not ref)
            self._drain()
            return self._out.take()
        self._out.error(reply_to, ref, ("badstate", STREAM_NOT_FOUND))
        return self._out.take()

    def update_flow(self, ref: Ref, increment: int) -> list[Event]:
        """Add flow credit to stream ``ref``; what was read and held back goes on."""
        for stream in self.streams:
            if stream.ref is ref and stream.flow is not None:
                stream.flow += increment
        return self.receive(None)

    def keepalive(self) -> None:
        """``http_opts.keepalive``: an empty line between requests, as Gun sends."""
        if self._body is None and not self.closing:
            self._write(b"\r\n")

    def closing_down(self, reason: object) -> list[Event]:
        """Gun's graceful close: the answer being read completes, the rest get ``closing``."""
        if not self.streams:
            self._cut(self._all_waiting(), ("closing", reason))
            self.end_reason = "normal"
            return self._out.take()
        self._start_closing(("closing", reason))
        return self._out.take()

    def close_streams(self, reason: object) -> list[Event]:
        """The connection is gone: each unanswered stream gets Gun's ``closed`` error."""
        why = "closed" if reason == "closed" else ("closed", reason)
        self._cut([s for s in self.streams if s.alive], why)
        self._cut(self._all_waiting(), why)
        return self._out.take()

    # -- writing ----------------------------------------------------------------------

    def _note(self, name: str, stream: Stream, **event: Any) -> None:
        """Gun's event ``name`` about ``stream``, if an event handler wants events."""
        self._out.add(Notify(name, {"stream_ref": stream.ref, "reply_to": stream.reply_to,
                                    **event}))

    def _note_request(self, stream: Stream, function: str, headers: Headers,
                      done: bool) -> None:
        event = {"function": function, "method": stream.method, "authority": self._authority,
                 "path": stream.path, "headers": headers}
        self._note("request_start", stream, **event)
        self._note("request_headers", stream, **event)
        if done:
            self._note("request_end", stream)

    def _blocked(self, queued: bool = True) -> bool:
        """Must a request wait rather than be written now (``queued``: behind others)?"""
        if (queued and self.waiting) or self._body is not None:
            return True
        last = self.streams[-1] if self.streams else None
        return last is not None and (
            last.upgrade is not None or last.connect is not None or last.closes
        )

    def _send_request(self, request: HttpRequest) -> None:
        headers, left = request_headers(request.headers, request.body, self._version)
        flow = request.flow if request.flow is not None else self.opts.flow
        stream = self._new_stream(request.ref, request.reply_to, request.method, request.path,
                                  flow, headers)
        self._write_head(stream, request.method, request.path, headers)
        if request.body:
            self._write(request.body)
        if request.body is None:
            self._body = (stream, left)
        if self.notify:
            function = "headers" if request.body is None else "request"
            self._note_request(stream, function, headers, request.body is not None)

    def _send_upgrade(self, request: UpgradeRequest) -> None:
        ws_opts = request.ws_opts
        offer = deflate_offer(ws_opts.deflate_opts) if ws_opts.compress else None
        headers, key = upgrade_headers(request.headers, ws_opts.protocols, offer)
        stream = self._new_stream(request.ref, request.reply_to, "GET", request.path,
                                  None, headers)
        stream.upgrade, stream.key = request, key
        self._write_head(stream, "GET", request.path, headers)
        if self.notify:
            self._note_request(stream, "ws_upgrade", headers, True)

    def _send_connect(self, request: ConnectRequest) -> None:
        dest = request.destination
        # Proxy-Authorization, not Gun's lower case: some proxies (pproxy) match it by case.
        rename = self.opts.transform_header_name or _proxy_authorization_cased
        wire = encode_connect(dest.host, dest.port, request.headers, dest.username,
                              dest.password, rename)
        authority = wire.split(b" ", 2)[1].decode("latin-1")
        stream = self._new_stream(request.ref, request.reply_to, "CONNECT", authority,
                                  None, request.headers)
        stream.connect = dest
        self._write(wire)
        if self.notify:
            self._note_request(stream, "connect", request.headers, True)

    def _new_stream(self, ref: Ref, reply_to: object, method: str, path: str,
                    flow: int | None, headers: Headers) -> Stream:
        closes = self._version == "HTTP/1.0" or has_token(headers, "connection", "close")
        stream = Stream(ref, reply_to, method, path, flow, closes)
        if not self.streams:
            self._reader.expect(method, self._authority, headers)
        self.streams.append(stream)
        return stream

    def _write_head(self, stream: Stream, method: str, path: str, headers: Headers) -> None:
        if not any(name == "host" for name, _ in headers):
            headers.insert(0, ("host", self._authority))
        if self._jar is not None:
            cookie = cookie_header(self._jar, request_url(*self._origin, path))
            if cookie:
                headers.append(("cookie", cookie))
        rename = self.opts.transform_header_name
        if rename is not None:
            headers = [(rename(name), value) for name, value in headers]
        self._write(encode_request(method, path, self._version, headers))

    def _send_data(self, part: DataPart) -> None:
        assert self._body is not None
        stream, left = self._body
        if left is not None:
            if len(part.data) > left or (part.fin and len(part.data) != left):
                why = f"the body does not match its content-length ({left} bytes left)"
                self._out.error(part.reply_to, part.ref, ("badarg", why))
                return
            self._write(part.data)
            left -= len(part.data)
        elif self._version == "HTTP/1.1":
            self._write(encode_chunk(part.data, part.fin))
        else:
            self._write(part.data)  # HTTP/1.0: the body ends with the connection
        self._body = None if part.fin else (stream, left)
        if part.fin and self.notify:
            self._note("request_end", stream)

    def _drain(self) -> None:
        """Write what waited, in order, as far as the rules allow."""
        waiting = self.waiting
        while waiting and not self.closing:
            item = waiting[0]
            if isinstance(item, DataPart):
                waiting.popleft()
                if self._body is not None and self._body[0].ref is item.ref:
                    self._send_data(item)
                continue  # else its request was refused: the part goes with it
            if self._blocked(queued=False) or (
                isinstance(item, UpgradeRequest) and self.streams
            ):
                return
            waiting.popleft()
            if isinstance(item, UpgradeRequest):
                self._send_upgrade(item)
            else:
                self._send_request(item)

    # -- closing ----------------------------------------------------------------------

    def _start_closing(self, why: object) -> None:
        if self.closing:
            return
        self.closing = True
        behind = list(self.streams)[1:]
        for stream in behind:
            self.streams.remove(stream)
        self._cut([s for s in behind if s.alive] + self._all_waiting(), why)
        self._out.add(CloseSent(self.opts.closing_timeout))

    def _all_waiting(self) -> list[Any]:
        items = [item for item in self.waiting if not isinstance(item, DataPart)]
        self.waiting.clear()
        return items

    def _cut(self, streams: list[Any], why: object) -> None:
        for stream in streams:
            if isinstance(stream, Stream):
                stream.alive = False
            self._out.error(stream.reply_to, stream.ref, why)
